#!/usr/bin/env bash
# Usage: infra/soak/repro.sh
#
# Reproduces, deterministically, what the soak test found (docs/operations.md, "Soak test"),
# with the soak's proxy in front of an in-memory dynalite and target/debug/nsauth-local:
#   1. --lose-first-answer PutItem (every PutItem done, the answer of its first copy lost, the
#      SDK's re-sent copy passed): createSession answers 500 internal_error, getQrEnrol 409
#      conflict, an in-app login and an approve sent once 401 replayed_request (nothing done);
#   2. --throttle-writes-to SESSION# (the session item cannot be written): an enrolment
#      answers 201 while its website session stays pending (the login not recorded).
# Prints each answer; exits 0 (it shows, it does not judge). Logs in artifacts/soak-repro/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="$ROOT/.tools/st/bin/python"
OUT="$ROOT/artifacts/soak-repro"
SID=AAECAwQFBgcICQoLDA0ODw
KEY=nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
rm -rf "$OUT"; mkdir -p "$OUT"
LIB_TAG=soak-repro
# shellcheck source=infra/scripts/lib.sh
source "$ROOT/infra/scripts/lib.sh"
services_trap

# stack_over_proxy NAME PROXY_ARGS...: dynalite, the proxy (faults off) and the stack; sets
# BASE and PROXY_PID.
stack_over_proxy() {
  local name=$1 d p s
  shift
  read -r d p s < <(free_ports 3)
  start_service "$OUT/$name-dynalite.log" node .tools/node/node_modules/dynalite/cli.js --host 127.0.0.1 \
    --port "$d" --createTableMs 50
  start_service "$OUT/$name-proxy.log" "$PY" -u infra/soak/soak.py proxy --listen "$p" --upstream "$d" \
    --stats "$OUT/$name-faults.json" --drop-before 0 --drop-after 0 --delay-before 0 --delay-after 0 \
    --throttle 0 "$@"
  PROXY_PID=${SERVICE_PIDS[-1]}
  start_service "$OUT/$name-stack.log" env PORT="$s" NSAUTH_STORE=dynamodb AWS_ENDPOINT_URL="http://127.0.0.1:$p" \
    AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 NSAUTH_DEMO_SERVERID=$SID \
    NSAUTH_DEMO_APIKEY=$KEY target/debug/nsauth-local
  BASE=http://127.0.0.1:$s
  wait_http stack "${SERVICE_PIDS[-1]}" "$OUT/$name-stack.log" "$BASE/servers/$SID/sessions" 201 -X POST -H "X-apikey: $KEY"
}

echo "== 1. every PutItem's first answer lost (the write done), the SDK's re-sent copy passed"
stack_over_proxy lost-answer --lose-first-answer PutItem
"$PY" - "$BASE" "$SID" "$KEY" "$PROXY_PID" <<'PYEOF'
import os, re, signal, sys, time
import requests
sys.path.insert(0, "infra/soak")
import soak
base, sid, key, proxy = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def faults(on):
    os.kill(proxy, signal.SIGUSR1 if on else signal.SIGUSR2); time.sleep(0.3)
W = {"X-apikey": key}
# Set-up without faults: an enrolled phone and a session for it to approve.
nonce = soak.new_nonce()
r = requests.get(f"{base}/servers/{sid}/sessions/qr/enrol", headers={**W, "X-nonce": nonce})
token = re.search(r"enrol/[A-Za-z0-9_-]{22}/([A-Za-z0-9_-]{22})\?api=", r.text).group(1)
phone = soak.Phone(base, sid)
body = soak.json.dumps({"token": token, "publickey": phone.publickey}).encode()
phone.accountid = requests.post(base + "/app/v1/enrol", data=body,
                                headers=phone.sign("POST", "/app/v1/enrol", body, "new")).json()["accountid"]
created = requests.post(f"{base}/servers/{sid}/sessions", headers=W).json()
faults(True)
r = requests.post(f"{base}/servers/{sid}/sessions", headers=W)
print(f"createSession: {r.status_code} {r.text}")
r = requests.get(f"{base}/servers/{sid}/sessions/qr/enrol", headers={**W, "X-nonce": soak.new_nonce()})
print(f"getQrEnrol: {r.status_code} {r.text}")
for path in ["/app/v1/inapp", f"/app/v1/sessions/{created['hsid']}/approve"]:
    r = requests.post(base + path, data=b"{}", headers=phone.sign("POST", path, b"{}"))
    print(f"POST {path} (sent once): {r.status_code} {r.text}")
faults(False)
st = requests.get(f"{base}/servers/{sid}/sessions", headers={**W, "X-nonce": created["nonce"]}).json()
print(f"the approved session afterwards: {st.get('state')}")
PYEOF
stop_services

echo
echo "== 2. enrolment while the session item cannot be written (every write to SESSION# throttled)"
stack_over_proxy enrol-login --throttle-writes-to 'SESSION#'
"$PY" - "$BASE" "$SID" "$KEY" "$PROXY_PID" <<'PYEOF'
import os, re, signal, sys, time
import requests
sys.path.insert(0, "infra/soak")
import soak
base, sid, key, proxy = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def faults(on):
    os.kill(proxy, signal.SIGUSR1 if on else signal.SIGUSR2); time.sleep(0.3)
W = {"X-apikey": key}
nonce = soak.new_nonce()
r = requests.get(f"{base}/servers/{sid}/sessions/qr/enrol", headers={**W, "X-nonce": nonce})
token = re.search(r"enrol/[A-Za-z0-9_-]{22}/([A-Za-z0-9_-]{22})\?api=", r.text).group(1)
phone = soak.Phone(base, sid)
body = soak.json.dumps({"token": token, "publickey": phone.publickey}).encode()
faults(True)
r = requests.post(base + "/app/v1/enrol", data=body, headers=phone.sign("POST", "/app/v1/enrol", body, "new"))
print(f"enrol: {r.status_code} {r.text}")
faults(False)
time.sleep(1)
st = requests.get(f"{base}/servers/{sid}/sessions", headers={**W, "X-nonce": nonce}).json()
print(f"the enrolling session afterwards (faults off): state {st.get('state')}, account {st.get('accountid')}")
PYEOF
grep -h "enrolment login not recorded" "$OUT"/enrol-login-stack.log | cut -c1-160 || true
