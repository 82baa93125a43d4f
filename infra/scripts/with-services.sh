#!/usr/bin/env bash
# Usage: infra/scripts/with-services.sh CMD [ARGS...]
#
# Starts moto_server (from .tools/py) and dynalite (from .tools/node, in memory) on
# free loopback ports, waits until both answer, exports
#   NSAUTH_TEST_MOTO_URL, NSAUTH_TEST_DYNALITE_URL, NSAUTH_TEST_REQUIRE_SERVICES=1
# and dummy AWS credentials/region, runs CMD, then always stops both services
# (whole process groups) and exits with CMD's exit code.
# Service logs: artifacts/services/{moto,dynalite}.log. Run infra/scripts/tools.sh first.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/.tools"
LOGS="$ROOT/artifacts/services"
MOTO_BIN="$TOOLS/py/bin/moto_server"
DYNALITE_JS="$TOOLS/node/node_modules/dynalite/cli.js"

for f in "$MOTO_BIN" "$DYNALITE_JS"; do
  [[ -e "$f" ]] || { echo "with-services.sh: $f missing; run infra/scripts/tools.sh" >&2; exit 1; }
done
mkdir -p "$LOGS"

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    # Each service is a process-group leader (setsid): end the whole group.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two distinct free loopback ports (bound together, so they differ).
read -r MOTO_PORT DYNALITE_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
')

# start NAME CMD...: runs CMD in its own session/process group, logging to $LOGS/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  PIDS+=("$!")
}

# wait_ready NAME PID URL: polls URL until it gives any HTTP answer (up to ~30 s).
wait_ready() {
  local name=$1 pid=$2 url=$3 i
  for i in $(seq 300); do
    if curl -s -o /dev/null --max-time 1 "$url"; then
      echo "[services] $name ready at $url (pid $pid)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "[services] $name exited before answering; last log lines ($LOGS/$name.log):" >&2
      tail -n 30 "$LOGS/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  echo "[services] $name did not answer at $url within 30 s; last log lines ($LOGS/$name.log):" >&2
  tail -n 30 "$LOGS/$name.log" >&2 || true
  exit 1
}

start moto "$MOTO_BIN" -H 127.0.0.1 -p "$MOTO_PORT"
MOTO_PID=${PIDS[-1]}
# Tables leave CREATING/DELETING/UPDATING after 50 ms (default 500): fast, but code
# that does not wait for ACTIVE still fails as it would on real DynamoDB.
start dynalite node "$DYNALITE_JS" --host 127.0.0.1 --port "$DYNALITE_PORT" \
  --createTableMs 50 --deleteTableMs 50 --updateTableMs 50
DYNALITE_PID=${PIDS[-1]}

export NSAUTH_TEST_MOTO_URL="http://127.0.0.1:$MOTO_PORT"
export NSAUTH_TEST_DYNALITE_URL="http://127.0.0.1:$DYNALITE_PORT"
export NSAUTH_TEST_REQUIRE_SERVICES=1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_ENDPOINT_URL || true

wait_ready moto "$MOTO_PID" "$NSAUTH_TEST_MOTO_URL/moto-api/"
wait_ready dynalite "$DYNALITE_PID" "$NSAUTH_TEST_DYNALITE_URL/"

set +e
"$@"
rc=$?
set -e
exit "$rc"
