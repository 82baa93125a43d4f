#!/usr/bin/env python3
"""Cold start of Lambda function binaries, side by side, against a Lambda Runtime API
emulated here and DynamoDB on moto (started by infra/scripts/with-services.sh).

usage: coldstart.py [--runs N] --admin NSAUTH_ADMIN_BIN [--fixture COLDSTART_FIXTURE_BIN]
                    NAME=BINARY[@VAR=VALUE] ...

Each run starts every binary once, in turn (so that the machine's state affects them
alike), hands it one event of its own routes (EVENTS below, by the binary's file name;
getSession for a binary not listed there: an API Gateway HTTP API request with a valid key
and a nonce whose session exists), and kills it after the answer. The phone API's event is
a phone request signed just before it is handed over, and push login's a push to an
account with a push endpoint on moto's SNS, with a new nonce each time: both need accounts
enrolled by the reference authenticator, which `--fixture` (infra/bench/src/bin/
coldstart_fixture.rs) enrols and signs with. It prints, per binary, the median, lowest and
90th percentile of:

  init   from exec to the function's first GET /runtime/invocation/next: process start,
         SDK clients, configuration (what Lambda bills as the init phase)
  first  from handing over the event to the posted answer: the first request, with its
         connection set-up (TCP to moto here; TCP and TLS in AWS)
  rss    peak resident memory (VmHWM) after the first answer, in MB

and, when a binary named `hello` is in the run, the median of each figure over the hello
world's (init/hello, first/hello, rss/hello); then the size of each binary. A function
must answer 2xx (the hello world answers its text; push login must also have reached the
account); anything else is reported as a failure. Figures depend on the machine: compare
binaries measured in the same run, never across runs.
"""

import argparse
import io
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Invocation:
    """The one invocation of the process being measured."""

    def __init__(self, event: bytes):
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.started = 0.0
        self.first_next = None
        self.delivered = None
        self.answered = None
        self.answer = None
        self.error = None
        self.done = threading.Event()
        self.finished = threading.Event()


LOCK = threading.Lock()


class RuntimeApi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != f"{PREFIX}/invocation/next":
            return self.reply(404)
        now = time.monotonic()
        inv = self.server.invocation
        with LOCK:
            first = inv.first_next is None
            if first:
                inv.first_next = now
                inv.delivered = time.monotonic()
        if not first:
            # A second poll (after the answer): hold it until the process is killed.
            inv.finished.wait()
            return
        deadline = int(time.time() * 1000) + 10_000
        self.reply(
            200,
            inv.event,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:bench",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
            },
        )

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        now = time.monotonic()
        inv = self.server.invocation
        m = re.fullmatch(rf"{PREFIX}/invocation/([^/]+)/(response|error)", self.path)
        if m and m.group(1) == inv.request_id:
            inv.answered = now
            if m.group(2) == "response":
                inv.answer = body
            else:
                inv.error = body.decode(errors="replace")
            inv.done.set()
            return self.reply(202, b"{}", {"Content-Type": "application/json"})
        if self.path == f"{PREFIX}/init/error":
            inv.error = "init error: " + body.decode(errors="replace")
            inv.done.set()
            return self.reply(202, b"{}", {"Content-Type": "application/json"})
        self.reply(404)


class QuietServer(ThreadingHTTPServer):
    """The Runtime API of one process: a server of its own, so that a request of an earlier
    (dying) process can never be taken for this one's."""

    daemon_threads = True

    def __init__(self, invocation):
        super().__init__(("127.0.0.1", 0), RuntimeApi)
        self.invocation = invocation

    def handle_error(self, request, client_address):
        # A killed function drops its connection (the poll held after its answer): expected.
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


# What each function is handed, by the binary's file name: (method, route); every one
# answers 2xx. Website routes are under /servers/{serverid}, with the bench's server, key
# and one nonce whose session exists (made by the warm-up). Two need enrolled accounts (the
# fixture's, see `Accounts`), and each run gets an event of its own:
#   phone_api   the phone's list of its sessions, signed by the phone's key just before it
#               is handed over (a signed request is good for 120 s of its `ts`; its host is
#               the one the event carries)
#   push_login  provokeLoginOnUser of a user whose one account has a push endpoint on
#               moto's SNS (platform application NSAUTH_FCM_APP_ARN), with a new nonce (a new
#               pending session) each run; the users take turns so that none is pushed more
#               than the server's push_limit (raised to its maximum for the bench)
EVENTS = {
    "get_session": ("GET", "/sessions"),
    "create_session": ("POST", "/sessions"),
    "website_sessions": ("POST", "/sessions/logout"),
    "login_block": ("GET", "/sessions/qr/login"),
    "account_admin": ("GET", "/accounts"),
    "push_login": ("POST", "/users/{userid}/provokelogin"),
    "phone_api": ("GET", "/app/v1/sessions"),
    # getServer (`/servers/{serverid}`) with a root key: the management function.
    "management": ("GET", ""),
}
# The functions whose events need the fixture's accounts.
NEEDS_ACCOUNTS = ("phone_api", "push_login")
# The host the events are sent to (and the phone requests signed for).
HOST = "bench.execute-api.us-east-1.amazonaws.com"
# The server's push limits during the bench: push_limit's maximum, push_window's minimum.
PUSH_LIMIT = 100
PUSH_WINDOW = 60


def api_event(method: str, path: str, route_key: str, headers: dict, path_params=None,
              query: str = "", body: str = "") -> bytes:
    """An API Gateway HTTP API (payload 2.0) event on the `$default` stage."""
    event = {
        "version": "2.0",
        "routeKey": f"{method} {route_key}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": dict(headers, host=HOST, **{"user-agent": "coldstart/1"}),
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": HOST,
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "coldstart/1",
            },
            "requestId": "bench",
            "routeKey": f"{method} {route_key}",
            "stage": "$default",
            "time": "02/Dec/2026:10:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if path_params:
        event["pathParameters"] = path_params
    if body:
        event["body"] = body
    return json.dumps(event).encode()


def website_event(serverid: str, apikey: str, nonce: str, method: str, route: str,
                  params=None, body: str = "") -> bytes:
    """A website backend call: `route` under /servers/{serverid}, its {name}s from params."""
    params = params or {}
    headers = {"x-apikey": apikey, "x-nonce": nonce}
    if body:
        headers["content-type"] = "application/json"
    return api_event(method, f"/servers/{serverid}" + route.format(**params),
                     f"/servers/{{serverid}}{route}", headers,
                     dict(params, serverid=serverid), body=body)


class FixtureError(Exception):
    pass


def run_fixture(fixture: str, *args: str) -> dict:
    try:
        out = subprocess.run([fixture, *args], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise FixtureError(f"coldstart_fixture {args[0]}: no answer in 120 s")
    if out.returncode != 0:
        raise FixtureError(f"coldstart_fixture {args[0]} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)


class Accounts:
    """The fixture's enrolled accounts: one phone, and push users to take turns."""

    def __init__(self, fixture: str, serverid: str, apikey: str, enrolled: dict):
        self.fixture = fixture
        self.serverid = serverid
        self.apikey = apikey
        self.phone = enrolled["phone"]
        self.push_users = [a["userid"] for a in enrolled["push"]]
        self.pushes = 0

    def phone_event(self, method: str, route: str) -> bytes:
        """A request of the phone signed now (the binaries run with the system clock too)."""
        r = run_fixture(self.fixture, "sign", "--keyfile", self.phone["keyfile"],
                        "--serverid", self.serverid, "--host", HOST, method, route)
        return api_event(r["method"], r["path"], route, r["headers"], query=r["query"],
                         body=r["body"])

    def push_event(self, method: str, route: str) -> bytes:
        userid = self.push_users[self.pushes % len(self.push_users)]
        self.pushes += 1
        body = json.dumps({"announceinfo": {"info": {"action": "Log in to Bench"},
                                            "ip": "198.51.100.4"}})
        return website_event(self.serverid, self.apikey, "bench-" + uuid.uuid4().hex, method,
                             route, {"userid": userid}, body)


def check_pushed(answer: dict):
    """Push login's 200 must also say the push went out."""
    try:
        pushed = json.loads(answer.get("body") or "{}").get("pushed")
    except (ValueError, AttributeError):
        pushed = None
    if not pushed:
        return f"pushed to nobody: {json.dumps(answer)[:300]}"
    return None


def peak_rss_mb(pid: int):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(binary: str, env: dict, event: bytes, check=None):
    inv = Invocation(event)
    server = QuietServer(inv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    inv.started = time.monotonic()
    proc = subprocess.Popen(
        [binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    ok = inv.done.wait(30)
    rss = peak_rss_mb(proc.pid)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    inv.finished.set()
    server.shutdown()
    server.server_close()
    if not ok:
        where = "after the event" if inv.first_next is not None else "before polling"
        return {
            "error": f"no answer in 30 s ({where}): "
            + stderr.decode(errors="replace")[-500:]
        }
    if inv.error:
        return {"error": inv.error[:500]}
    try:
        answer = json.loads(inv.answer)
        status = answer.get("statusCode")
    except (ValueError, AttributeError):
        answer, status = None, None
    if status is not None and not 200 <= status < 300:
        return {"error": f"answered {status}: {inv.answer[:300]!r}"}
    if check and (problem := check(answer if isinstance(answer, dict) else {})):
        return {"error": problem}
    return {
        "init": (inv.first_next - inv.started) * 1000,
        "first": (inv.answered - inv.delivered) * 1000,
        "rss": rss,
    }


def zipped_mb(path: str) -> float:
    """The size of a Lambda deployment package holding the binary as `bootstrap`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    return len(buf.getvalue()) / 1e6


def admin(args, bin_, env):
    out = subprocess.run([bin_, *args], env=env, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        sys.exit(f"nsauth-admin {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--admin", required=True, help="the nsauth-admin binary")
    p.add_argument("--fixture", help="the coldstart_fixture binary (needed for "
                   + " and ".join(NEEDS_ACCOUNTS) + ")")
    p.add_argument("--size", action="append", default=[], metavar="NAME=BINARY",
                   help="also report this binary's size and zipped size (not started)")
    p.add_argument("binaries", nargs="+", metavar="NAME=BINARY")
    a = p.parse_args()
    if a.runs < 1:
        sys.exit("--runs must be at least 1")
    pairs = []
    extra_env = {}
    for item in a.binaries:
        name, _, rest = item.partition("=")
        # NAME=BINARY@VAR=VALUE runs BINARY with VAR set (e.g. NSAUTH_PREWARM=off).
        path, _, setting = rest.partition("@")
        if not path or not os.access(path, os.X_OK):
            sys.exit(f"{item}: expected NAME=BINARY[@VAR=VALUE] with an executable binary")
        pairs.append((name, path))
        if setting:
            var, _, value = setting.partition("=")
            extra_env[name] = {var: value}
    kinds = {name: os.path.basename(path) for name, path in pairs}
    needs_accounts = any(k in NEEDS_ACCOUNTS for k in kinds.values())
    if needs_accounts and not (a.fixture and os.access(a.fixture, os.X_OK)):
        sys.exit(f"{' and '.join(NEEDS_ACCOUNTS)} need --fixture COLDSTART_FIXTURE_BIN "
                 "(target/<profile>/coldstart_fixture, of nsauth-bench)")
    moto = os.environ.get("NSAUTH_TEST_MOTO_URL")
    if not moto:
        sys.exit("NSAUTH_TEST_MOTO_URL is not set: run through infra/scripts/with-services.sh")

    table = f"bench-{uuid.uuid4().hex[:8]}"
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto,
        "NSAUTH_TABLE": table,
    }
    admin(["create-table"], a.admin, base_env)
    out = admin(["create-server", "--name", "Bench"], a.admin, base_env)
    serverid = re.search(r"^serverid:\s+(\S+)", out, re.M).group(1)
    apikey = re.search(r"^apikey:\s+(\S+)", out, re.M).group(1)
    rootkey = re.search(r"^apikey:\s+(\S+)", admin(["create-root-key"], a.admin, base_env), re.M).group(1)
    nonce = "bench-" + uuid.uuid4().hex

    env = dict(
        base_env,
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/bench",
        AWS_LAMBDA_LOG_STREAM_NAME="bench",
        AWS_LAMBDA_LOG_FORMAT="JSON",
        AWS_LAMBDA_LOG_LEVEL="INFO",
    )

    accounts = None
    if needs_accounts:
        # Each push counts against the pushed account's push_limit in its window: the
        # limit at its maximum, and enough users taking turns that no account is pushed
        # more than the limit over the whole bench (warm-up included), whatever the window.
        admin(["set", serverid, f"push_limit={PUSH_LIMIT}", f"push_window={PUSH_WINDOW}"],
              a.admin, base_env)
        pushes = (a.runs + 1) * sum(1 for k in kinds.values() if k == "push_login")
        # The phones' key files, deleted at exit.
        keys = tempfile.TemporaryDirectory(prefix="coldstart-keys-")
        try:
            enrolled = run_fixture(
                a.fixture, "enrol", "--moto", moto, "--table", table, "--serverid", serverid,
                "--apikey", apikey, "--dir", keys.name,
                "--push-users", str(max(1, math.ceil(pushes / PUSH_LIMIT))))
        except FixtureError as e:
            sys.exit(str(e))
        accounts = Accounts(a.fixture, serverid, apikey, enrolled)
        # As the template gives every function. The functions that push read it: push login
        # publishes through it, and their init (account admin's too) opens SNS's connection
        # with a read of it, as in AWS; without it they skip that warm-up.
        env["NSAUTH_FCM_APP_ARN"] = enrolled["fcm_app_arn"]

    def event_of(name: str):
        """A new event of the function the binary is (by file name), else getSession's;
        and the check of its answer beyond the 2xx."""
        kind = kinds[name]
        method, route = EVENTS.get(kind, EVENTS["get_session"])
        if kind == "phone_api":
            return accounts.phone_event(method, route), None
        if kind == "push_login":
            return accounts.push_event(method, route), check_pushed
        if kind == "management":
            return website_event(serverid, rootkey, nonce, method, route), None
        return website_event(serverid, apikey, nonce, method, route), None

    # Not measured: the session of the nonce is created once (by getSession), so every
    # measured request does the same work (the key check and one session read).
    first = next((name for name, path in pairs if kinds[name] == "get_session"), pairs[0][0])
    try:
        warm = measure(dict(pairs)[first], dict(env, **extra_env.get(first, {})),
                       *event_of(first))
    except FixtureError as e:
        warm = {"error": str(e)}
    if "error" in warm:
        sys.exit(f"{first}: {warm['error']}")

    results = {name: [] for name, _ in pairs}
    failures = {name: [] for name, _ in pairs}
    for _ in range(a.runs):
        for name, path in pairs:
            # The event is made before the process starts: its signing is not timed.
            try:
                event, check = event_of(name)
            except FixtureError as e:
                failures[name].append(str(e))
                continue
            r = measure(path, dict(env, **extra_env.get(name, {})), event, check)
            (failures if "error" in r else results)[name].append(r.get("error", r))

    def figures(name, key):
        return sorted(r[key] for r in results[name] if r[key] is not None)

    def stats(xs):
        if not xs:
            return "-"
        p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
        return f"{statistics.median(xs):7.2f} ({xs[0]:.2f}..{p90:.2f})"

    # Ratios of medians to the hello world's, when it is in the run.
    hello = {}
    if "hello" in results:
        for key in ("init", "first", "rss"):
            xs = figures("hello", key)
            if xs and statistics.median(xs) > 0:
                hello[key] = statistics.median(xs)

    def ratio(name, key):
        xs = figures(name, key)
        if not xs or key not in hello:
            return "-"
        return f"{statistics.median(xs) / hello[key]:.2f}"

    print(f"cold start, {a.runs} runs each, interleaved; median (lowest..p90)"
          + ("; ratios: medians over the hello world's" if "hello" in results else ""))
    header = f"{'binary':<22} {'size MB':>8}  {'init ms':>22}  {'first ms':>22}  {'peak RSS MB':>22}"
    if "hello" in results:
        header += f"  {'init/hello':>10} {'first/hello':>11} {'rss/hello':>9}"
    print(header)
    for name, path in pairs:
        size = os.path.getsize(path) / 1e6
        line = (
            f"{name:<22} {size:8.2f}  {stats(figures(name, 'init')):>22}  "
            f"{stats(figures(name, 'first')):>22}  {stats(figures(name, 'rss')):>22}"
        )
        if "hello" in results:
            line += (f"  {ratio(name, 'init'):>10} {ratio(name, 'first'):>11} "
                     f"{ratio(name, 'rss'):>9}")
        print(line)
    for name, errs in failures.items():
        for e in errs[:3]:
            print(f"FAILED {name}: {e}", file=sys.stderr)
    sizes = [(name, path) for name, path in pairs if name not in extra_env]
    for item in a.size:
        name, _, path = item.partition("=")
        if not os.path.isfile(path):
            sys.exit(f"--size {item}: expected NAME=BINARY")
        sizes.append((name, path))
    print()
    print("deployment package: the binary as `bootstrap` in a zip (deflate, as cargo lambda builds it)")
    print(f"{'binary':<22} {'size MB':>8}  {'zip MB':>8}")
    for name, path in sorted(set(sizes)):
        print(f"{name:<22} {os.path.getsize(path) / 1e6:8.2f}  {zipped_mb(path):8.2f}")
    failed = sum(1 for errs in failures.values() if errs)
    # One line for `make test`'s summary: a binary passes when every run answered.
    print(f"bench: {len(pairs) - failed} passed, {failed} failed")
    if any(failures.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
