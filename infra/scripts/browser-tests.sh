#!/usr/bin/env bash
# Usage: infra/scripts/browser-tests.sh [extra node --test arguments]
#
# Browser tests of the login block (tests/browser, node's test runner with playwright-core
# driving Debian's chromium) against the local stack.
#
# Installs what is missing: the chromium and chromium-driver Debian packages (apt-get) and
# the pinned playwright-core into .tools/node (npm; it never downloads a browser). Builds
# nothing: expects target/debug/nsauth-local and target/debug/nsauth-authenticator
# (cargo build -p nsauth-local -p nsauth-authenticator). Starts two local stacks on free
# loopback ports with a fixed demo server (the second with login_timeout 30 s, for the
# expiry test), runs `node --test tests/browser/`, always stops the stacks, and exits with
# the tests' exit code. Screenshots, stack logs and the measured latencies go to
# artifacts/browser/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

PLAYWRIGHT_CORE_PIN=1.65.1
CHROMIUM=/usr/bin/chromium
NODE_DIR="$ROOT/.tools/node"
OUT="$ROOT/artifacts/browser"
LOCAL_BIN="$ROOT/target/debug/nsauth-local"
AUTH_BIN="$ROOT/target/debug/nsauth-authenticator"
SERVERID=AAECAwQFBgcICQoLDA0ODw
APIKEY=nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
# The root key of the login-safety stack, whose settings safety.test.js changes.
ROOTKEY=nsk_c2FmZXR5cm9_c2FmZXR5LXRlc3Qtcm9vdC1rZXktMDEyMzQ1Njc4OSE

log() { printf '[browser-tests] %s\n' "$*"; }

# ---- tools --------------------------------------------------------------------
if [[ ! -x "$CHROMIUM" ]]; then
  log "installing chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q chromium chromium-driver >/dev/null
fi
command -v node >/dev/null || { echo "browser-tests.sh: node not found" >&2; exit 1; }
have_pw=$(node -p "try { require('$NODE_DIR/node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [[ "$have_pw" != "$PLAYWRIGHT_CORE_PIN" ]]; then
  log "installing playwright-core@$PLAYWRIGHT_CORE_PIN into .tools/node"
  mkdir -p "$NODE_DIR"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$NODE_DIR" --save-exact --no-audit \
    --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_CORE_PIN" >/dev/null
fi
for f in "$LOCAL_BIN" "$AUTH_BIN"; do
  [[ -x "$f" ]] || {
    echo "browser-tests.sh: $f missing; run: cargo build -p nsauth-local -p nsauth-authenticator" >&2
    exit 1
  }
done
log "$("$CHROMIUM" --version 2>/dev/null | head -n1), playwright-core $PLAYWRIGHT_CORE_PIN, node $(node --version)"

# ---- the local stacks -----------------------------------------------------------
mkdir -p "$OUT"
rm -f "$OUT"/*.png "$OUT"/measure.txt

LIB_TAG=browser-tests
# shellcheck source=infra/scripts/lib.sh
source "$ROOT/infra/scripts/lib.sh"
# A Chromium that outlived its test file (killed or force-exited) would keep a core busy.
kill_stray_browsers() { pkill -KILL -f 'playwright_chromiumdev_profile-' 2>/dev/null || true; }
services_trap kill_stray_browsers

read -r PORT PORT_EXPIRY PORT_SAFETY < <(free_ports 3)

# start_stack NAME PORT [VAR=VALUE...]: a local stack with the fixed demo server.
start_stack() {
  local name=$1 port=$2
  shift 2
  start_service "$OUT/$name.log" env PORT="$port" NSAUTH_STORE=memory NSAUTH_DEMO_SERVERID="$SERVERID" \
    NSAUTH_DEMO_APIKEY="$APIKEY" "$@" "$LOCAL_BIN"
}

start_stack stack "$PORT"
STACK_PID=${SERVICE_PIDS[-1]}
start_stack stack-expiry "$PORT_EXPIRY" NSAUTH_DEMO_LOGIN_TIMEOUT=30
EXPIRY_PID=${SERVICE_PIDS[-1]}
start_stack stack-safety "$PORT_SAFETY" NSAUTH_DEMO_ROOT_KEY="$ROOTKEY"
SAFETY_PID=${SERVICE_PIDS[-1]}
wait_http stack "$STACK_PID" "$OUT/stack.log" "http://127.0.0.1:$PORT/demo" 200
wait_http stack-expiry "$EXPIRY_PID" "$OUT/stack-expiry.log" "http://127.0.0.1:$PORT_EXPIRY/demo" 200
wait_http stack-safety "$SAFETY_PID" "$OUT/stack-safety.log" "http://127.0.0.1:$PORT_SAFETY/demo" 200

# ---- the tests ------------------------------------------------------------------
export NSAUTH_BASE="http://127.0.0.1:$PORT"
export NSAUTH_BASE_EXPIRY="http://127.0.0.1:$PORT_EXPIRY"
export NSAUTH_BASE_SAFETY="http://127.0.0.1:$PORT_SAFETY"
export NSAUTH_ROOTKEY="$ROOTKEY"
export NSAUTH_SERVERID="$SERVERID"
export NSAUTH_APIKEY="$APIKEY"
export NSAUTH_AUTHENTICATOR="$AUTH_BIN"
export NSAUTH_CHROMIUM="$CHROMIUM"
export NSAUTH_ARTIFACTS="$OUT"
export NSAUTH_PLAYWRIGHT_CORE="$NODE_DIR/node_modules/playwright-core"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

set +e
# One file at a time: the measurement should not share the 2 cores with another browser.
# --test-force-exit: a file ends when its tests have, even if a browser or socket is left
# open (with the hooks' timeouts and helpers.js's watchdog, nothing here can hang `make
# test`); --test-timeout bounds a test that sets no timeout of its own.
node --test --test-concurrency=1 --test-force-exit --test-timeout=180000 "$@" tests/browser/
rc=$?
set -e
if [[ -f "$OUT/measure.txt" ]]; then
  log "$(head -n1 "$OUT/measure.txt")"
fi
log "screenshots and stack logs in ${OUT#"$ROOT"/}/"
exit "$rc"
