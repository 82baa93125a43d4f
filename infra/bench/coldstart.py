#!/usr/bin/env python3
"""Cold start of Lambda function binaries, side by side, against a Lambda Runtime API
emulated here and DynamoDB on moto (started by infra/scripts/with-services.sh).

usage: coldstart.py [--runs N] --admin NSAUTH_ADMIN_BIN NAME=BINARY[@VAR=VALUE] ...

Each run starts every binary once, in turn (so that the machine's state affects them
alike), hands it one event of its own routes (EVENTS below; getSession for a binary not
listed there: an API Gateway HTTP API request with a valid key and a nonce whose session
exists), and kills it after the answer. It prints, per binary, the
median, lowest and 90th percentile of:

  init   from exec to the function's first GET /runtime/invocation/next: process start,
         SDK clients, configuration (what Lambda bills as the init phase)
  first  from handing over the event to the posted answer: the first request, with its
         connection set-up (TCP to moto here; TCP and TLS in AWS)
  rss    peak resident memory (VmHWM) after the first answer, in MB

and the size of each binary. A function must answer 2xx (the hello world answers its
text); anything else is reported as a failure. Figures depend on the machine: compare
binaries measured in the same run, never across runs.
"""

import argparse
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
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


# What each function is handed: (method, route path under /servers/{serverid}); every one
# answers 2xx for the bench's server, key and session. The phone API and push login need a
# signed request or an enrolled account and are measured for size only.
EVENTS = {
    "get_session": ("GET", "/sessions"),
    "create_session": ("POST", "/sessions"),
    "website_sessions": ("POST", "/sessions/logout"),
    "login_block": ("GET", "/sessions/qr/login"),
    "account_admin": ("GET", "/accounts"),
}


def api_event(serverid: str, apikey: str, nonce: str, method: str = "GET", route: str = "/sessions") -> bytes:
    path = f"/servers/{serverid}{route}"
    return json.dumps(
        {
            "version": "2.0",
            "routeKey": f"{method} /servers/{{serverid}}{route}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {
                "x-apikey": apikey,
                "x-nonce": nonce,
                "host": "bench.execute-api.us-east-1.amazonaws.com",
                "user-agent": "coldstart/1",
            },
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "bench",
                "domainName": "bench.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "bench",
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.9",
                    "userAgent": "coldstart/1",
                },
                "requestId": "bench",
                "routeKey": f"{method} /servers/{{serverid}}{route}",
                "stage": "$default",
                "time": "02/Dec/2026:10:00:00 +0000",
                "timeEpoch": int(time.time() * 1000),
            },
            "pathParameters": {"serverid": serverid},
            "isBase64Encoded": False,
        }
    ).encode()


def peak_rss_mb(pid: int):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(binary: str, env: dict, event: bytes):
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
        status = json.loads(inv.answer).get("statusCode")
    except (ValueError, AttributeError):
        status = None
    if status is not None and not 200 <= status < 300:
        return {"error": f"answered {status}: {inv.answer[:300]!r}"}
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
    p.add_argument("--size", action="append", default=[], metavar="NAME=BINARY",
                   help="also report this binary's size and zipped size (not started)")
    p.add_argument("binaries", nargs="+", metavar="NAME=BINARY")
    a = p.parse_args()
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
    event = api_event(serverid, apikey, nonce)

    def event_of(name: str, path: str) -> bytes:
        """The event of the function the binary is (by file name), else getSession's."""
        method, route = EVENTS.get(os.path.basename(path), EVENTS["get_session"])
        return api_event(serverid, apikey, nonce, method, route)

    # Not measured: the session of the nonce is created once, so every measured request
    # does the same work (the key check and one session read).
    warm = measure(pairs[0][1], env, event)
    if "error" in warm:
        sys.exit(f"{pairs[0][0]}: {warm['error']}")

    results = {name: [] for name, _ in pairs}
    failures = {name: [] for name, _ in pairs}
    for _ in range(a.runs):
        for name, path in pairs:
            r = measure(path, dict(env, **extra_env.get(name, {})), event_of(name, path))
            (failures if "error" in r else results)[name].append(r.get("error", r))

    def stats(xs):
        xs = sorted(x for x in xs if x is not None)
        if not xs:
            return "-"
        p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
        return f"{statistics.median(xs):7.2f} ({xs[0]:.2f}..{p90:.2f})"

    print(f"cold start, {a.runs} runs each, interleaved; median (lowest..p90)")
    print(f"{'binary':<22} {'size MB':>8}  {'init ms':>22}  {'first ms':>22}  {'peak RSS MB':>22}")
    for name, path in pairs:
        rs = results[name]
        size = os.path.getsize(path) / 1e6
        print(
            f"{name:<22} {size:8.2f}  {stats([r['init'] for r in rs]):>22}  "
            f"{stats([r['first'] for r in rs]):>22}  {stats([r['rss'] for r in rs]):>22}"
        )
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
