#!/usr/bin/env bash
# One end-to-end login through `cargo lambda watch`: the real Lambda binaries behind the
# Lambda runtime API, routed on the API Gateway paths ([workspace.metadata.lambda.watch.router]
# in Cargo.toml), over DynamoDB on moto. Run inside with-services.sh (needs
# NSAUTH_TEST_MOTO_URL); the reference authenticator is the phone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${NSAUTH_TEST_MOTO_URL:?run through infra/scripts/with-services.sh}"

export PATH="$PWD/.tools/lambda/bin:$PATH"
if ! command -v cargo-lambda >/dev/null; then
  echo "[lambda-watch] cargo-lambda is missing; run infra/scripts/build.sh --help or make tools-lambda" >&2
  exit 1
fi
mkdir -p artifacts
log=artifacts/lambda-watch.log
table="nsauth-watch-$RANDOM$RANDOM"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export AWS_ENDPOINT_URL="$NSAUTH_TEST_MOTO_URL" NSAUTH_TABLE="$table"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
admin=target/debug/nsauth-admin
phone=target/debug/nsauth-authenticator
$admin create-table --no-stream >/dev/null
out=$($admin create-server --name "Watch E2E")
sid=$(awk '/^serverid:/ {print $2}' <<<"$out")
key=$(awk '/^apikey:/ {print $2}' <<<"$out")

# The functions build enrolment links from the API base; behind API Gateway it comes from the
# request (https), here it is plain http on loopback.
export NSAUTH_API_BASE="http://127.0.0.1:$port/"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes >"$log" 2>&1 &
watch_pid=$!
# Stop the watcher and the function processes it started (their parent first, so pkill
# runs before they are reparented). No command here may fail the script under `set -e`.
stop_watch() {
  pkill -P "$watch_pid" 2>/dev/null || true
  kill "$watch_pid" 2>/dev/null || true
  wait "$watch_pid" 2>/dev/null || true
}
trap stop_watch EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
  curl -s -o /dev/null --max-time 300 "$base/status/x/y" && break
  sleep 1
done

passed=0; failed=0
check() { # name, expected, actual
  if [[ "$2" == "$3" ]]; then passed=$((passed + 1)); echo "ok   $1";
  else failed=$((failed + 1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# Every call is bounded: the first request to each function waits for cargo lambda watch to
# compile it, later ones answer in milliseconds.
curl() { command curl --max-time 300 "$@"; }

# Enrol a phone through a website session (getQrEnrol -> website_sessions, enrol -> phone_api).
nonce1=$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')
link=$(curl -s -H "X-apikey: $key" -H "X-nonce: $nonce1" "$base/servers/$sid/sessions/qr/enrol?userid=watcher")
check "getQrEnrol gives an enrolment link" yes "$([[ $link == "nsauth://enrol/$sid/"* ]] && echo yes || echo "$link")"
keyfile=$(mktemp -u /tmp/nsauth-watch-phone.XXXXXX.json)
$phone --file "$keyfile" enrol "$link" >/dev/null
# createSession -> create_session; the phone approves; getSession -> get_session.
created=$(curl -s -X POST -H "X-apikey: $key" "$base/servers/$sid/sessions" -d '{"announceinfo":{"info":{"action":"Watch login"}}}')
nonce=$(json 'd["nonce"]' <<<"$created")
login=$(json 'd["loginurl"]' <<<"$created")
shown=$($phone --file "$keyfile" show "$login")
check "the phone sees the announceinfo" "Watch login" "$(json 'd["announceinfo"]["info"]["action"]' <<<"$shown")"
$phone --file "$keyfile" approve "$login" >/dev/null
status=$(curl -s -H "X-apikey: $key" -H "X-nonce: $nonce" "$base/servers/$sid/sessions")
check "getSession reports the login" "True watcher loggedin" "$(json 'd["loggedin"], d["userid"], d["state"]' <<<"$status" | tr -d "(),'")"
wrong=$(curl -s -o /dev/null -w '%{http_code}' -H "X-apikey: nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" -H "X-nonce: $nonce" "$base/servers/$sid/sessions")
check "a wrong key is refused through the runtime" "401" "$wrong"
rm -f "$keyfile"
echo "lambda-watch: $passed passed, $failed failed"
[[ $failed == 0 ]] || { echo "[lambda-watch] see $log" >&2; exit 1; }
