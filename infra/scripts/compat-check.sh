#!/usr/bin/env bash
# Usage: infra/scripts/compat-check.sh [compat_v22.py options, e.g. --only bulk,transactions]
#
# The nextAuth v2.2 compatibility test against the real local stack:
#   1. infra/scripts/tools.sh (the pinned .tools/st venv: requests, jsonschema, cryptography;
#      a no-op when up to date);
#   2. starts target/debug/nsauth-local (memory store) on a free loopback port with a demo
#      server, key and root key of its own, and waits until it answers;
#   3. infra/scripts/compat_v22.py: every v2.2 call (the website's and, with a root key,
#      the management ones) as the v2.2 description writes it
#      (paths with their trailing slashes, query parameters, GET bodies, X-apikey, X-nonce),
#      each answer checked against infra/scripts/v22_types.json (statuses, content types,
#      JSON types, no nulls), with a phone that enrols, approves logins and signs
#      transactions (their signatures verified in Python); one line per check and
#      `compat: N passed, M failed`;
#   4. fails when the stack logged a panic or died.
# Builds nothing: expects target/debug/nsauth-local
# (cargo build --locked -p nsauth-local -p nsauth-admin -p nsauth-authenticator). Always stops
# the stack. The check's log and the stack's log go to artifacts/compat/. Exits non-zero on
# any failure. Takes well under a minute.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

OUT="$ROOT/artifacts/compat"
PY="$ROOT/.tools/st/bin/python"
LOCAL_BIN="$ROOT/target/debug/nsauth-local"
# Not the openapi check's server and key: a run of each leaves no trace in the other.
SERVERID=Y29tcGF0LXYyMi10ZXN0IQ
APIKEY=nsk_Y29tcGF0djI_Y29tcGF0LXYyMi1jaGVjay1rZXktMDEyMzQ1Njc4OSE
ROOTKEY=nsk_Y29tcGF0cm9_Y29tcGF0LXYyMi1yb290LWtleS0wMTIzNDU2Nzg5ISE

log() { printf '[compat-check] %s\n' "$*"; }
start=$SECONDS

# ---- tools ------------------------------------------------------------------------------
infra/scripts/tools.sh
[[ -x "$PY" ]] || { echo "compat-check.sh: $PY missing after tools.sh" >&2; exit 1; }
[[ -x "$LOCAL_BIN" ]] || {
  echo "compat-check.sh: $LOCAL_BIN missing; run: cargo build --locked -p nsauth-local" >&2
  exit 1
}
mkdir -p "$OUT"
rm -f "$OUT"/*.log

# ---- the local stack ----------------------------------------------------------------------
LIB_TAG=compat-check
# shellcheck source=infra/scripts/lib.sh
source "$ROOT/infra/scripts/lib.sh"
services_trap

PORT=$(free_ports 1)
BASE="http://127.0.0.1:$PORT"
start_service "$OUT/stack.log" env PORT="$PORT" NSAUTH_STORE=memory NSAUTH_DEMO_SERVERID="$SERVERID" \
  NSAUTH_DEMO_APIKEY="$APIKEY" NSAUTH_DEMO_ROOT_KEY="$ROOTKEY" "$LOCAL_BIN"
STACK_PID=${SERVICE_PIDS[-1]}
# Ready when createSession works (the demo server exists), not merely when the port is open.
wait_http "local stack" "$STACK_PID" "$OUT/stack.log" "$BASE/servers/$SERVERID/sessions" 201 \
  -X POST -H "X-apikey: $APIKEY"
log "local stack at $BASE (pid $STACK_PID), demo server $SERVERID"

rc=0
set +e
"$PY" infra/scripts/compat_v22.py --base "$BASE" --serverid "$SERVERID" --apikey "$APIKEY" --rootkey "$ROOTKEY" "$@" 2>&1 \
  | tee "$OUT/check.log"
check_rc=${PIPESTATUS[0]}
set -e
[[ $check_rc == 0 ]] || rc=1

if grep -qiE 'panicked|handler task failed' "$OUT/stack.log"; then
  echo "[compat-check] the stack logged a panic (artifacts/compat/stack.log):" >&2
  grep -iE -m 5 'panicked|handler task failed' "$OUT/stack.log" >&2
  rc=1
fi
if ! kill -0 "$STACK_PID" 2>/dev/null; then
  echo "[compat-check] the local stack died during the run (artifacts/compat/stack.log)" >&2
  rc=1
fi

log "$(tail -n1 "$OUT/check.log"); $((SECONDS - start)) s; logs in ${OUT#"$ROOT"/}/"
exit "$rc"
