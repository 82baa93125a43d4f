#!/usr/bin/env bash
# Usage: infra/soak/soak.sh [--short] [soak.py run options...]
#
# The soak test with faults (docs/operations.md, "Soak test"): the local stack
# (target/debug/nsauth-local, NSAUTH_STORE=dynamodb) over dynalite (a LevelDB data directory,
# so that it keeps its data when killed), a fault-injecting proxy between them
# (infra/soak/soak.py proxy: dropped connections, answers held past the SDK's timeouts,
# throttling errors), dynalite killed (SIGKILL) and restarted twice, and concurrent clients
# (createSession, polls, QR, push and in-app logins, logouts, enrolments) that keep a ledger
# of what the server acknowledged and check it against the store at the end.
#   default: 32 clients for 600 s (`make soak`); --short: 8 clients for 60 s (`make soak-short`)
# Builds nothing: expects target/debug/nsauth-local (the Makefile targets build it).
# Free loopback ports; stops everything it started, whatever happens; logs, dynalite's data
# and report.json in artifacts/soak/. Exits non-zero on any ledger discrepancy.
# Environment: NSAUTH_SOAK_SEED (default: the time), NSAUTH_SOAK_CLIENTS, NSAUTH_SOAK_SECONDS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="$ROOT/artifacts/soak"
PY="$ROOT/.tools/st/bin/python"
DYNALITE_JS="$ROOT/.tools/node/node_modules/dynalite/cli.js"
LOCAL_BIN="${NSAUTH_LOCAL_BIN:-$ROOT/target/debug/nsauth-local}"

clients=32 seconds=600
if [[ "${1:-}" == --short ]]; then
  clients=8 seconds=60
  shift
fi
clients=${NSAUTH_SOAK_CLIENTS:-$clients}
seconds=${NSAUTH_SOAK_SECONDS:-$seconds}
seed=${NSAUTH_SOAK_SEED:-$(date +%s)}

for f in "$PY" "$DYNALITE_JS"; do
  [[ -e "$f" ]] || { echo "soak.sh: $f missing; run infra/scripts/tools.sh" >&2; exit 1; }
done
[[ -x "$LOCAL_BIN" ]] || { echo "soak.sh: $LOCAL_BIN missing; run: cargo build -p nsauth-local" >&2; exit 1; }
command -v node >/dev/null || export PATH="$ROOT/.tools/node/bin:$PATH"

rm -rf "$OUT"
mkdir -p "$OUT"

LIB_TAG=soak
# shellcheck source=infra/scripts/lib.sh
source "$ROOT/infra/scripts/lib.sh"
# soak.py starts dynalite, the proxy and the stack in process groups of their own and lists
# their pids in $OUT/pids: stop those too, whatever happens to soak.py.
stop_children() {
  local pid
  [[ -f "$OUT/pids" ]] || return 0
  while read -r pid; do
    kill -KILL -- "-$pid" 2>/dev/null || true
  done <"$OUT/pids"
}
services_trap stop_children

read -r DYN_PORT PROXY_PORT STACK_PORT < <(free_ports 3)
echo "[soak] $clients clients for $seconds s, seed $seed; logs in ${OUT#"$ROOT"/}/"
start_service "$OUT/soak.log" "$PY" -u infra/soak/soak.py run --clients "$clients" --duration "$seconds" \
  --seed "$seed" --out "$OUT" --stack-bin "$LOCAL_BIN" --dynalite-js "$DYNALITE_JS" \
  --dynalite-port "$DYN_PORT" --proxy-port "$PROXY_PORT" --stack-port "$STACK_PORT" "$@"
SOAK_PID=${SERVICE_PIDS[-1]}
tail -n +1 -f --pid "$SOAK_PID" "$OUT/soak.log" &
TAIL_PID=$!
set +e
wait "$SOAK_PID"
rc=$?
set -e
wait "$TAIL_PID" 2>/dev/null || true
SERVICE_PIDS=()
exit "$rc"
