#!/usr/bin/env bash
# Usage: infra/scripts/with-services.sh CMD [ARGS...]
#
# Starts moto_server (from .tools/py) and dynalite (from .tools/node, in memory) on
# free loopback ports, waits until both answer, exports
#   NSAUTH_TEST_MOTO_URL, NSAUTH_TEST_DYNALITE_URL, NSAUTH_TEST_REQUIRE_SERVICES=1,
#   NSAUTH_TEST_PYTHON (the tools' Python, with `cryptography`: an independent signature check)
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

LIB_TAG=services
# shellcheck source=infra/scripts/lib.sh
source "$ROOT/infra/scripts/lib.sh"
services_trap

read -r MOTO_PORT DYNALITE_PORT < <(free_ports 2)

start_service "$LOGS/moto.log" "$MOTO_BIN" -H 127.0.0.1 -p "$MOTO_PORT"
MOTO_PID=${SERVICE_PIDS[-1]}
# Tables leave CREATING/DELETING/UPDATING after 50 ms (default 500): fast, but code
# that does not wait for ACTIVE still fails as it would on real DynamoDB.
start_service "$LOGS/dynalite.log" node "$DYNALITE_JS" --host 127.0.0.1 --port "$DYNALITE_PORT" \
  --createTableMs 50 --deleteTableMs 50 --updateTableMs 50
DYNALITE_PID=${SERVICE_PIDS[-1]}

export NSAUTH_TEST_MOTO_URL="http://127.0.0.1:$MOTO_PORT"
export NSAUTH_TEST_DYNALITE_URL="http://127.0.0.1:$DYNALITE_PORT"
export NSAUTH_TEST_REQUIRE_SERVICES=1
export NSAUTH_TEST_PYTHON="$TOOLS/st/bin/python"
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_ENDPOINT_URL || true

wait_http moto "$MOTO_PID" "$LOGS/moto.log" "$NSAUTH_TEST_MOTO_URL/moto-api/"
wait_http dynalite "$DYNALITE_PID" "$LOGS/dynalite.log" "$NSAUTH_TEST_DYNALITE_URL/"

set +e
"$@"
rc=$?
set -e
exit "$rc"
