#!/usr/bin/env bash
# Usage: infra/scripts/openapi-check.sh
#
# Checks docs/openapi.yaml against the running local stack, then fuzzes the stack from it:
#   1. infra/scripts/tools.sh (the pinned .tools/st venv: schemathesis, openapi-spec-validator,
#      jsonschema, cryptography; a no-op when up to date);
#   2. starts target/debug/nsauth-local (memory store) on a free loopback port with a fixed
#      demo server, and waits until it answers;
#   3. infra/scripts/openapi_check.py check: the document is valid OpenAPI 3.1, documents
#      exactly the routes of `nsauth-admin routes`, every documented operation answers a real
#      request as documented (status, content type, headers, JSON schema), and undocumented
#      paths answer 404 JSON (methods 405);
#   4. schemathesis against the stack (examples, coverage, fuzzing and stateful phases; a
#      bounded number of cases per operation) with every check that applies (the list and
#      why three are off are in the config that `openapi_check.py fixtures` writes): no
#      server error; status codes, content types, headers and bodies as documented; invalid
#      input refused, valid input accepted; auth enforced; 405 with Allow for other methods.
#      Phone API calls are signed by an account the hooks in openapi_check.py enrol (again
#      when the fuzzer deletes or blocks it); path parameters and nonces are bound in part to
#      real accounts, users, sessions and assets (openapi_check.py fixtures);
#   5. fails when the stack logged a panic or died.
# Builds nothing: expects target/debug/nsauth-local and target/debug/nsauth-admin
# (cargo build -p nsauth-local -p nsauth-admin). Always stops the stack. Logs, the stack's
# log and schemathesis' JUnit report go to artifacts/openapi/. Exits non-zero on any failure.
#
# Environment: NSAUTH_OPENAPI_EXAMPLES (cases per operation and phase, default 100; the
# whole script then takes about two and a half minutes on 2 cores),
# NSAUTH_OPENAPI_SEED (default 20261127; `random` for a new one each run),
# NSAUTH_OPENAPI_TIMEOUT (a hard limit on the schemathesis run in s, default 300).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

OUT="$ROOT/artifacts/openapi"
PY="$ROOT/.tools/st/bin/python"
ST="$ROOT/.tools/st/bin/schemathesis"
LOCAL_BIN="$ROOT/target/debug/nsauth-local"
ADMIN_BIN="${NSAUTH_ADMIN_BIN:-$ROOT/target/debug/nsauth-admin}"
DOC="$ROOT/docs/openapi.yaml"
SERVERID=AAECAwQFBgcICQoLDA0ODw
APIKEY=nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
ROOTKEY=nsk_BBBBBBBBBBB_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
EXAMPLES="${NSAUTH_OPENAPI_EXAMPLES:-100}"
SEED="${NSAUTH_OPENAPI_SEED:-20261127}"
TIMEOUT="${NSAUTH_OPENAPI_TIMEOUT:-300}"

log() { printf '[openapi-check] %s\n' "$*"; }
start=$SECONDS

# ---- tools ------------------------------------------------------------------------------
infra/scripts/tools.sh
for f in "$PY" "$ST"; do
  [[ -x "$f" ]] || { echo "openapi-check.sh: $f missing after tools.sh" >&2; exit 1; }
done
for f in "$LOCAL_BIN" "$ADMIN_BIN"; do
  [[ -x "$f" ]] || {
    echo "openapi-check.sh: $f missing; run: cargo build -p nsauth-local -p nsauth-admin" >&2
    exit 1
  }
done
mkdir -p "$OUT"
rm -rf "$OUT"/junit.xml "$OUT"/*.log "$OUT"/schemathesis.toml

# ---- the local stack ----------------------------------------------------------------------
LIB_TAG=openapi-check
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

# ---- the document against the stack ----------------------------------------------------------
log "openapi_check.py check: the document, the routes, a real request per operation, undocumented paths"
set +e
"$PY" infra/scripts/openapi_check.py check --base "$BASE" --serverid "$SERVERID" --apikey "$APIKEY" \
  --rootkey "$ROOTKEY" --doc "$DOC" --admin-bin "$ADMIN_BIN" 2>&1 | tee "$OUT/check.log"
check_rc=${PIPESTATUS[0]}
set -e
[[ $check_rc == 0 ]] || rc=1

# ---- schemathesis ----------------------------------------------------------------------------
"$PY" infra/scripts/openapi_check.py fixtures --base "$BASE" --serverid "$SERVERID" --apikey "$APIKEY" \
  --out "$OUT/schemathesis.toml"
seed_args=(--seed "$SEED")
[[ "$SEED" == random ]] && seed_args=()
log "schemathesis $("$ST" --version 2>/dev/null | awk '{print $NF}'): $EXAMPLES cases per operation and phase, seed $SEED, checks as in ${OUT#"$ROOT"/}/schemathesis.toml"
set +e
# Run from artifacts/openapi/: schemathesis and hypothesis keep caches (.schemathesis/,
# .hypothesis/) in the working directory, which must not be the repository's root.
(cd "$OUT" && NSAUTH_CHECK_BASE="$BASE" NSAUTH_CHECK_SERVERID="$SERVERID" NSAUTH_CHECK_APIKEY="$APIKEY" \
SCHEMATHESIS_HOOKS="$ROOT/infra/scripts/openapi_check.py" \
  timeout --signal=INT --kill-after=10 "$TIMEOUT" "$ST" --config-file "$OUT/schemathesis.toml" run "$DOC" \
  --url "$BASE" \
  -H "X-apikey: $APIKEY" \
  --max-examples "$EXAMPLES" \
  "${seed_args[@]}" \
  --workers 2 \
  --request-timeout 10 \
  --generation-database none \
  --suppress-health-check all \
  --report junit --report-junit-path "$OUT/junit.xml" \
  --no-color 2>&1 | tee "$OUT/schemathesis.log"
exit "${PIPESTATUS[0]}")
st_rc=$?
set -e
[[ $st_rc == 0 ]] || rc=1

# A server error the fuzzer did not pin on the API (a crash, a panic) shows in the stack's log.
if grep -qiE 'panicked|handler task failed' "$OUT/stack.log"; then
  echo "[openapi-check] the stack logged a panic (artifacts/openapi/stack.log):" >&2
  grep -iE -m 5 'panicked|handler task failed' "$OUT/stack.log" >&2
  rc=1
fi
if ! kill -0 "$STACK_PID" 2>/dev/null; then
  echo "[openapi-check] the local stack died during the run (artifacts/openapi/stack.log)" >&2
  rc=1
fi

log "check: $(tail -n1 "$OUT/check.log"); schemathesis: exit $st_rc; $((SECONDS - start)) s; logs in ${OUT#"$ROOT"/}/"
exit "$rc"
