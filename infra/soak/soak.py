#!/usr/bin/env python3
"""A soak test with faults: the local stack over dynalite, a fault-injecting proxy between
them, the store killed and restarted twice, and concurrent clients that keep a ledger of
what the server acknowledged and check it against the store at the end (docs/operations.md,
"Soak test"). Run it through infra/soak/soak.sh (`make soak`, `make soak-short`).

    soak.py proxy --listen PORT --upstream PORT --stats FILE [rates]   the fault injector
    soak.py run --clients N --duration S ...                            everything else

The proxy speaks HTTP/1.1 to both sides and decides per DynamoDB request (one with an
X-Amz-Target header) whether to pass it, drop the connection before or after forwarding it,
hold it past the SDK's 2 s attempt timeout before or after forwarding it, or answer a
ProvisionedThroughputExceededException itself. Faults are on only between SIGUSR1 and
SIGUSR2, so that the stack starts and the final check reads without them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from typing import Any

FAULT_KINDS = ("drop_before", "drop_after", "delay_before", "delay_after", "throttle")
THROTTLE_BODY = json.dumps({
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded (soak fault)",
}).encode()


# ---------------------------------------------------------------------------------------------
# The fault-injecting proxy
# ---------------------------------------------------------------------------------------------

async def read_message(reader: asyncio.StreamReader, response: bool) -> tuple[bytes, dict[bytes, bytes], bool]:
    """Reads one HTTP/1.1 message; returns its raw bytes, its headers and whether the
    connection must close after it (a response delimited by the end of the stream)."""
    head = await reader.readuntil(b"\r\n\r\n")
    headers: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    if b"content-length" in headers:
        return head + await reader.readexactly(int(headers[b"content-length"])), headers, False
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        raw = bytearray(head)
        while True:
            size_line = await reader.readuntil(b"\r\n")
            raw += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    line = await reader.readuntil(b"\r\n")
                    raw += line
                    if line == b"\r\n":
                        return bytes(raw), headers, False
            raw += await reader.readexactly(size + 2)
    status = head.split(b" ", 2)[1] if response else b""
    if response and status not in (b"204", b"304"):
        return head + await reader.read(), headers, True
    return head, headers, False


class Proxy:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.upstream = ("127.0.0.1", args.upstream)
        self.on = False
        self.rng = random.Random(args.seed)
        self.stats: dict[str, Any] = {
            "requests": 0, "requests_while_on": 0, "faults": {k: 0 for k in FAULT_KINDS},
            "faults_by_operation": {}, "upstream_unreachable": 0, "upstream_lost": 0, "connections": 0,
        }
        self.rates = [(k, getattr(args, k)) for k in FAULT_KINDS]
        # --lose-first-answer OP: every request of that operation is forwarded, and the answer
        # of its first copy dropped; a copy sent again (the SDK's retry) passes. A
        # deterministic form of drop_after, for reproducing what the soak finds.
        self.lose_first = set(filter(None, (args.lose_first_answer or "").split(",")))
        self.seen: set[str] = set()
        # --throttle-writes-to TEXT: every write whose body holds TEXT (a key prefix such as
        # SESSION#) is answered with a throttling error: that item cannot be written.
        self.throttle_writes_to = (args.throttle_writes_to or "").encode()

    def decide(self) -> str:
        if not self.on:
            return "pass"
        x = self.rng.random()
        for kind, rate in self.rates:
            if x < rate:
                return kind
            x -= rate
        return "pass"

    def delay(self) -> float:
        # Past the SDK's 2 s attempt timeout, sometimes past its 3.5 s operation timeout.
        return self.rng.uniform(2.2, 4.2)

    def write_stats(self) -> None:
        tmp = self.args.stats + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.stats, f)
        os.replace(tmp, self.args.stats)

    async def handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        ureader = uwriter = None
        try:
            while True:
                try:
                    request, headers, _ = await read_message(creader, False)
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    return
                target = headers.get(b"x-amz-target", b"").decode(errors="replace").rsplit(".", 1)[-1]
                self.stats["requests"] += 1
                kind = self.decide() if target else "pass"
                if self.on and target in self.lose_first:
                    digest = hashlib.sha256(request.split(b"\r\n\r\n", 1)[1]).hexdigest()
                    kind = "pass" if digest in self.seen else "drop_after"
                    self.seen.add(digest)
                if (self.on and self.throttle_writes_to and target in ("PutItem", "UpdateItem", "DeleteItem",
                                                                       "TransactWriteItems")
                        and self.throttle_writes_to in request):
                    kind = "throttle"
                if self.on:
                    self.stats["requests_while_on"] += 1
                if kind != "pass":
                    self.stats["faults"][kind] += 1
                    per = self.stats["faults_by_operation"].setdefault(target, {})
                    per[kind] = per.get(kind, 0) + 1
                    print(f"{stamp()} {kind} {target}", flush=True)
                if kind == "throttle":
                    cwriter.write(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\n"
                        b"x-amzn-RequestId: soak-throttle\r\nContent-Length: "
                        + str(len(THROTTLE_BODY)).encode() + b"\r\n\r\n" + THROTTLE_BODY)
                    await cwriter.drain()
                    continue
                if kind == "drop_before":
                    return
                if kind == "delay_before":
                    await asyncio.sleep(self.delay())
                if uwriter is None:
                    try:
                        ureader, uwriter = await asyncio.open_connection(*self.upstream)
                    except OSError:
                        self.stats["upstream_unreachable"] += 1
                        return
                try:
                    uwriter.write(request)
                    await uwriter.drain()
                    response, _, close = await read_message(ureader, True)
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
                    self.stats["upstream_lost"] += 1
                    return
                if kind == "drop_after":
                    return
                if kind == "delay_after":
                    await asyncio.sleep(self.delay())
                cwriter.write(response)
                await cwriter.drain()
                if close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    try:
                        w.close()
                    except Exception:  # noqa: BLE001
                        pass

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def set_on(v: bool) -> None:
            self.on = v
            print(f"[proxy] faults {'on' if v else 'off'}", flush=True)

        self.on = self.args.on
        loop.add_signal_handler(signal.SIGUSR1, set_on, True)
        loop.add_signal_handler(signal.SIGUSR2, set_on, False)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        server = await asyncio.start_server(self.handle, "127.0.0.1", self.args.listen, limit=1 << 22)
        print(f"[proxy] 127.0.0.1:{self.args.listen} -> 127.0.0.1:{self.args.upstream}", flush=True)

        async def flush() -> None:
            while True:
                self.write_stats()
                await asyncio.sleep(0.5)

        flusher = asyncio.create_task(flush())
        await stop.wait()
        flusher.cancel()
        server.close()
        self.write_stats()


def cmd_proxy(args: argparse.Namespace) -> int:
    asyncio.run(Proxy(args).main())
    return 0


# ---------------------------------------------------------------------------------------------
# Processes: dynalite (killed and restarted), the proxy, the local stack
# ---------------------------------------------------------------------------------------------

class Procs:
    """Children in process groups of their own; their pids go to a file the wrapper reads to
    stop them whatever happens to this script."""

    def __init__(self, out: str):
        self.out = out
        self.pidfile = os.path.join(out, "pids")
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None, log: str | None = None) -> subprocess.Popen:
        f = open(os.path.join(self.out, log or f"{name}.log"), "ab")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, start_new_session=True)
        self.procs[name] = p
        with open(self.pidfile, "a", encoding="utf-8") as pf:
            pf.write(f"{p.pid}\n")
        return p

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.get(name)
        if p is None:
            return
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)


def wait_answering(url: str, proc: subprocess.Popen, what: str, method: str = "GET",
                   headers: dict[str, str] | None = None, want: int | None = None, limit: float = 60) -> None:
    import requests

    end = time.time() + limit
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"[soak] {what} exited (code {proc.returncode}) before answering")
        try:
            r = requests.request(method, url, headers=headers, timeout=2)
            if want is None or r.status_code == want:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"[soak] {what} did not answer at {url} within {limit} s")


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------

def stamp() -> str:
    t = time.time()
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_nonce() -> str:
    return b64url(secrets.token_bytes(16))


class Phone:
    def __init__(self, base: str, serverid: str):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.base = base
        self.host = urllib.parse.urlsplit(base).netloc.lower()
        self.serverid = serverid
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.publickey = b64url(self.spki)
        self.accountid: int | None = None
        self.push_token = "soak-" + secrets.token_hex(12)
        self.last_ts = 0
        self.logins = 0
        self.pushes = 0

    def next_ts(self) -> int:
        self.last_ts = max(int(time.time()), self.last_ts + 1)
        return self.last_ts

    def sign(self, method: str, path: str, body: bytes, account: str | None = None) -> dict[str, str]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        ts = self.next_ts()
        account = account or str(self.accountid)
        canonical = "\n".join(["NSAUTH-P256-V2", method, self.host, path, self.serverid, account, str(ts),
                               hashlib.sha256(body).hexdigest()]).encode()
        r, s = decode_dss_signature(self.key.sign(canonical, ec.ECDSA(hashes.SHA256())))
        sig = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        h = {"Authorization": f"NSAuth-P256 server={self.serverid},account={account},ts={ts},sig={sig}"}
        if body:
            h["Content-Type"] = "application/json"
        return h


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_status: collections.Counter = collections.Counter()
        self.by_call: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.requests = 0
        self.bad_5xx: list[str] = []
        self.unexpected: list[str] = []
        self.retried_replays = 0
        self.lost: list[str] = []
        self.applied_failed: list[str] = []
        self.duplicates: list[str] = []
        self.flows: collections.Counter = collections.Counter()
        self.gave_up: collections.Counter = collections.Counter()
        self.conflicts: collections.Counter = collections.Counter()
        self.keys: set[tuple[str, str]] = set()
        self.fresh_replays: collections.Counter = collections.Counter()

    def answer(self, call: str, status: str) -> None:
        with self.lock:
            self.requests += 1
            self.by_status[status] += 1
            self.by_call[call][status] += 1

    def note(self, field: str, text: str, key: str | None = None) -> None:
        """Records a discrepancy once per `key` (a session or account: seen on a poll during
        the run and again by the final check, it is one)."""
        with self.lock:
            if key is not None:
                if (field, key) in self.keys:
                    return
                self.keys.add((field, key))
            lst = getattr(self, field)
            lst.append(text)
        if len(getattr(self, field)) <= 20:
            print(f"[soak] {field}: {text}", flush=True)


class GaveUp(Exception):
    """A call still failing after its retries (or not retried by the contract)."""

    def __init__(self, call: str, last: str, resp: Any = None):
        super().__init__(f"{call}: {last}")
        self.call, self.last, self.resp = call, last, resp


RETRY_STATUS = {503}
# 409 `conflict`: "the item changed under a concurrent request too often; retry" (integration.md).
MAX_TRIES = 10  # with Retry-After: 1 plus the call's own time, past a store restart


class Ledger:
    """What the server acknowledged, per browser session (nonce) and per enrolment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # nonce -> {"hsid", "states": set, "accountid", "failed": (call, state, accountid) | None, "client"}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.accounts: dict[int, dict[str, Any]] = {}  # acknowledged: accountid -> {"pk", "nonce"}
        self.failed_enrol_pks: dict[str, str] = {}  # pk (std base64) -> what happened
        self.all_pks: set[str] = set()
        self.history: dict[str, list[str]] = collections.defaultdict(list)
        self.t0 = time.time()

    def hist(self, nonce: str, text: str) -> None:
        with self.lock:
            self.history[nonce].append(f"{stamp()} {text}")

    def session(self, nonce: str, hsid: str, client: int) -> None:
        with self.lock:
            self.sessions[nonce] = {"hsid": hsid, "states": {"pending", "scanned", "expired"},
                                    "accountid": None, "failed": None, "client": client}
        self.hist(nonce, f"acknowledged: created, hsid {hsid}")

    def expect(self, nonce: str, states: set[str], accountid: int | None = None) -> None:
        with self.lock:
            s = self.sessions[nonce]
            s["states"] = set(states)
            s["accountid"] = accountid
        self.hist(nonce, f"acknowledged: {sorted(states)} account {accountid}")

    def failed(self, nonce: str, call: str, state: str, accountid: int | None) -> None:
        with self.lock:
            self.sessions[nonce]["failed"] = (call, state, accountid)
        self.hist(nonce, f"failed: {call} (would make it {state})")


class Client(threading.Thread):
    def __init__(self, idx: int, ctx: "Run"):
        super().__init__(name=f"client-{idx}", daemon=True)
        import requests

        self.idx = idx
        self.ctx = ctx
        self.rng = random.Random(ctx.seed * 1000 + idx)
        self.http = requests.Session()
        self.phone: Phone | None = None
        self.pushable: list[str] = []  # nonces logged out by the website after this phone's login
        self.n = 0

    # ---- one HTTP call, with the answer's bookkeeping ----
    def send(self, call: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> Any:
        import requests

        url = self.ctx.base + path
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = dict(headers or {})
        if data is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        try:
            r = self.http.request(method, url, data=data, headers=h, timeout=self.ctx.timeout)
        except requests.RequestException as e:
            self.ctx.stats.answer(call, "timeout/conn")
            self.http.close()
            return e
        self.ctx.stats.answer(call, str(r.status_code))
        if r.status_code >= 500:
            ok = (r.status_code == 503 and r.headers.get("Retry-After")
                  and r.headers.get("Content-Type", "").startswith("application/json"))
            try:
                ok = ok and r.json().get("error") == "service_unavailable"
            except ValueError:
                ok = False
            if not ok:
                self.ctx.stats.note("bad_5xx", f"{call} {method} {path}: {r.status_code} "
                                    f"Retry-After={r.headers.get('Retry-After')} {r.text[:200]!r}")
        return r

    def website(self, call: str, method: str, path: str, nonce: str | None = None, body: Any = None) -> Any:
        h = {"X-apikey": self.ctx.apikey}
        if nonce:
            h["X-nonce"] = nonce
        return self.send(call, method, f"/servers/{self.ctx.serverid}{path}", body, h)

    def retrying(self, call: str, attempt, ok: set[int], retry: bool = True, tries: int = MAX_TRIES) -> Any:
        """attempt(i) sends try i; retried on 503 and timeouts (when `retry`), sleeping
        Retry-After. Returns the answer with a status in `ok`, else raises GaveUp."""
        last = ""
        for i in range(tries if retry else 1):
            r = attempt(i)
            if not isinstance(r, Exception) and r.status_code in ok:
                return r
            if isinstance(r, Exception):
                last = f"{type(r).__name__}"
            else:
                last = f"{r.status_code} {r.text[:160]}"
                if r.status_code == 409 and '"conflict"' in r.text:
                    with self.ctx.stats.lock:
                        self.ctx.stats.conflicts[call] += 1
                elif r.status_code not in RETRY_STATUS:
                    raise GaveUp(call, last, r)
            if not self.ctx.running_or_checking():
                break
            wait = 1.0
            if not isinstance(r, Exception):
                try:
                    wait = float(r.headers.get("Retry-After", "1"))
                except ValueError:
                    pass
            time.sleep(min(wait, 2.0) * self.rng.uniform(0.8, 1.3))
        if retry:
            self.ctx.stats.gave_up[call] += 1
        raise GaveUp(call, "gave up after retries: " + last)

    def phone_call(self, call: str, method: str, path: str, body: Any, ok: set[int], mode: str,
                   account: str | None = None) -> Any:
        """A signed phone call. mode: 'same' resends the same signed request, 'resign' signs
        each try anew, 'mixed' chooses per try, 'once' does not retry (in-app login)."""
        phone = self.phone
        assert phone is not None
        raw = json.dumps(body).encode() if body is not None else b""
        first = phone.sign(method, path, raw, account)
        resigned = [0]

        def attempt(i: int) -> Any:
            h = first
            if i > 0 and (mode == "resign" or (mode == "mixed" and self.rng.random() < 0.5)):
                h = phone.sign(method, path, raw, account)
            r = self.send(call, method, path, headers=h, raw=raw if raw else None)
            while (not isinstance(r, Exception) and r.status_code == 401 and "replayed_request" in r.text
                   and resigned[0] < 2):
                # "this signed request was already taken; sign the call again": a same-request
                # retry whose first had no effect, or (a server fault, counted) a request sent
                # once whose replay record the SDK wrote twice. Sign anew, as the error says;
                # the ledger judges the outcome.
                with self.ctx.stats.lock:
                    if i == 0 and resigned[0] == 0:
                        self.ctx.stats.fresh_replays[call] += 1
                    else:
                        self.ctx.stats.retried_replays += 1
                resigned[0] += 1
                time.sleep(1.0)  # a new ts
                r = self.send(call, method, path, headers=phone.sign(method, path, raw, account),
                              raw=raw if raw else None)
            return r

        return self.retrying(call, attempt, ok, retry=(mode != "once"))

    # ---- flows ----
    def create_session(self) -> tuple[str, str]:
        r = self.retrying("createSession", lambda i: self.website(
            "createSession", "POST", "/sessions", body={"announceinfo": {"info": {"action": "soak"}, "ip": "198.51.100.7"}}),
            {201})
        j = r.json()
        self.ctx.ledger.session(j["nonce"], j["hsid"], self.idx)
        return j["nonce"], j["hsid"]

    def poll(self, nonce: str) -> dict[str, Any]:
        r = self.retrying("getSession", lambda i: self.website("getSession", "GET", "/sessions", nonce), {200})
        j = r.json()
        s = self.ctx.ledger.sessions.get(nonce)
        self.ctx.ledger.hist(nonce, f"getSession: {j.get('state')} account {j.get('accountid')}")
        if s and j.get("hsid") != s["hsid"]:
            self.ctx.stats.note("lost", f"session {nonce} (client {self.idx}): getSession hsid {j.get('hsid')} "
                                f"!= acknowledged {s['hsid']} (state {j.get('state')})", key=nonce)
        elif s and not s["failed"] and j.get("state") not in s["states"] | {"expired"}:
            self.ctx.stats.note("lost", f"session {nonce} (client {self.idx}): state {j.get('state')} "
                                f"not in acknowledged {sorted(s['states'])}", key=nonce)
        return j

    def enrol(self) -> None:
        nonce = new_nonce()
        userid = f"soak-{self.idx}-{self.n}"
        r = self.retrying("getQrEnrol", lambda i: self.website(
            "getQrEnrol", "GET", f"/sessions/qr/enrol?userid={userid}", nonce), {200})
        m = re.search(r"enrol/[A-Za-z0-9_-]{22}/([A-Za-z0-9_-]{22})\?api=", r.text)
        if not m:
            self.ctx.stats.note("unexpected", f"getQrEnrol without a link: {r.text[:200]}")
            return
        j = self.poll(nonce)
        self.ctx.ledger.session(nonce, j["hsid"], self.idx)
        phone = Phone(self.ctx.base, self.ctx.serverid)
        pk_std = base64.b64encode(phone.spki).decode()
        self.ctx.ledger.all_pks.add(pk_std)
        old, self.phone = self.phone, phone
        body = {"token": m.group(1), "publickey": phone.publickey, "description": f"soak {self.idx}",
                "clientversion": "soak/1", "push": {"platform": "fcm", "token": phone.push_token}}
        try:
            r = self.phone_call("enrol", "POST", "/app/v1/enrol", body, {201}, "resign", account="new")
        except GaveUp as e:
            self.phone = old
            self.ctx.ledger.failed_enrol_pks[pk_std] = f"client {self.idx} nonce {nonce}: {e}"
            self.ctx.ledger.failed(nonce, "enrol", "loggedin", None)
            self.ctx.stats.flows["enrol failed"] += 1
            if e.resp is not None:
                self.ctx.stats.note("unexpected", f"enrol (client {self.idx}): {e.last}")
            return
        phone.accountid = int(r.json()["accountid"])
        with self.ctx.ledger.lock:
            if phone.accountid in self.ctx.ledger.accounts:
                self.ctx.stats.note("duplicates", f"account {phone.accountid} answered to two enrolments")
            self.ctx.ledger.accounts[phone.accountid] = {"pk": pk_std, "nonce": nonce, "userid": userid}
        self.ctx.ledger.expect(nonce, {"loggedin"}, phone.accountid)
        self.ctx.stats.flows["enrol"] += 1
        self.poll(nonce)

    def approve(self, nonce: str, hsid: str, match: str | None) -> bool:
        body = {"match": match} if match else {}
        try:
            self.phone_call("approve", "POST", f"/app/v1/sessions/{hsid}/approve", body, {200}, "mixed")
        except GaveUp as e:
            self.ctx.ledger.failed(nonce, "approve", "loggedin", self.phone.accountid)
            if e.resp is not None:
                self.ctx.stats.note("unexpected", f"approve (client {self.idx}) {hsid}: {e.last}")
            return False
        self.phone.logins += 1
        self.ctx.ledger.expect(nonce, {"loggedin"}, self.phone.accountid)
        return True

    def show(self, nonce: str, hsid: str) -> dict[str, Any] | None:
        try:
            r = self.phone_call("show", "GET", f"/app/v1/sessions/{hsid}", None, {200}, "resign")
        except GaveUp as e:
            if e.resp is not None:
                self.ctx.stats.note("unexpected", f"show (client {self.idx}) {hsid}: {e.last}")
            return None
        self.ctx.ledger.expect(nonce, {"scanned", "expired"})
        return r.json()

    def logout(self, nonce: str, hsid: str, by_phone: bool) -> bool:
        call = "phoneLogout" if by_phone else "logout"
        try:
            if by_phone:
                self.phone_call(call, "POST", f"/app/v1/sessions/{hsid}/logout", None, {200}, "mixed")
            else:
                self.retrying(call, lambda i: self.website(call, "POST", "/sessions/logout", nonce), {200})
        except GaveUp as e:
            self.ctx.ledger.failed(nonce, call, "loggedout", None)
            if e.resp is not None:
                self.ctx.stats.note("unexpected", f"{call} (client {self.idx}) {hsid}: {e.last}")
            return False
        self.ctx.ledger.expect(nonce, {"loggedout"})
        return True

    def qr_login(self) -> None:
        nonce, hsid = self.create_session()
        self.poll(nonce)
        shown = self.show(nonce, hsid)
        if shown is None:
            return
        polled = self.poll(nonce)
        if self.rng.random() < 0.15:
            try:
                self.phone_call("deny", "POST", f"/app/v1/sessions/{hsid}/deny", {"reason": "user"}, {200}, "mixed")
            except GaveUp as e:
                self.ctx.ledger.failed(nonce, "deny", "cancelled", None)
                if e.resp is not None:
                    self.ctx.stats.note("unexpected", f"deny (client {self.idx}) {hsid}: {e.last}")
                return
            self.ctx.ledger.expect(nonce, {"cancelled"})
            self.ctx.stats.flows["qr deny"] += 1
            self.poll(nonce)
            return
        # A QR login needs the number only under number_match=always; the page shows it.
        match = polled.get("match") if shown.get("choices") else None
        if not self.approve(nonce, hsid, match):
            return
        self.ctx.stats.flows["qr login"] += 1
        self.poll(nonce)
        x = self.rng.random()
        if x < 0.45:
            if self.logout(nonce, hsid, by_phone=False):
                self.pushable.append(nonce)
                self.poll(nonce)
        elif x < 0.7:
            if self.logout(nonce, hsid, by_phone=True):
                self.poll(nonce)

    def push_login(self) -> None:
        nonce = self.pushable.pop(0)
        hsid = self.ctx.ledger.sessions[nonce]["hsid"]
        try:
            r = self.retrying("provokeLogin", lambda i: self.website(
                "provokeLogin", "POST", "/sessions/provokelogin", nonce), {200, 201})
        except GaveUp as e:
            if e.resp is not None:
                self.ctx.stats.note("unexpected", f"provokeLogin (client {self.idx}) {nonce}: {e.last}")
            self.ctx.ledger.expect(nonce, {"loggedout", "pending", "scanned", "expired"})
            return
        self.phone.pushes += 1
        j = r.json()
        self.ctx.ledger.expect(nonce, {"pending", "scanned", "expired"})
        if j.get("pushed", 0) < 1:
            self.ctx.stats.note("unexpected", f"provokeLogin pushed nothing: {j}")
            return
        shown = self.show(nonce, hsid)
        if shown is None:
            return
        match = j.get("match")
        if match and match not in (shown.get("choices") or []):
            self.ctx.stats.note("unexpected", f"push match {match} not among the choices {shown.get('choices')}")
        if not self.approve(nonce, hsid, match):
            return
        self.ctx.stats.flows["push login"] += 1
        self.poll(nonce)
        if self.logout(nonce, hsid, by_phone=False):
            self.pushable.append(nonce)

    def inapp(self) -> None:
        try:
            r = self.phone_call("inapp", "POST", "/app/v1/inapp", {}, {201}, "once")
        except GaveUp as e:
            if e.resp is not None and e.resp.status_code not in RETRY_STATUS:
                self.ctx.stats.note("unexpected", f"inapp (client {self.idx}): {e.last}")
            self.ctx.stats.flows["inapp failed (not retried)"] += 1
            return
        j = r.json()
        self.phone.logins += 1
        self.ctx.ledger.session(j["nonce"], j["hsid"], self.idx)
        self.ctx.ledger.expect(j["nonce"], {"loggedin"}, self.phone.accountid)
        self.ctx.stats.flows["inapp login"] += 1
        self.poll(j["nonce"])
        if self.rng.random() < 0.4:
            self.logout(j["nonce"], j["hsid"], by_phone=self.rng.random() < 0.5)

    def pending_polls(self) -> None:
        nonce, _ = self.create_session()
        for _ in range(self.rng.randint(1, 4)):
            self.poll(nonce)
            time.sleep(self.rng.uniform(0.05, 0.2))
        self.ctx.stats.flows["create+polls"] += 1

    def step(self) -> None:
        self.n += 1
        p = self.phone
        if p is None or p.logins >= 20 or p.pushes >= 3 or self.rng.random() < 0.06:
            self.enrol()
            if self.phone is not p:
                self.pushable = []  # sessions of the previous phone
            return
        x = self.rng.random()
        if x < 0.3:
            self.qr_login()
        elif x < 0.5 and self.pushable:
            self.push_login()
        elif x < 0.7:
            self.inapp()
        else:
            self.pending_polls()

    def run(self) -> None:
        time.sleep(self.rng.uniform(0, 1.0))
        while self.ctx.running():
            try:
                self.step()
            except GaveUp as e:
                self.ctx.stats.flows["flow abandoned"] += 1
                if e.resp is not None:
                    self.ctx.stats.note("unexpected", f"client {self.idx}: {e}")
            except Exception as e:  # noqa: BLE001
                self.ctx.stats.note("unexpected", f"client {self.idx} raised {type(e).__name__}: {e}")
            time.sleep(self.rng.uniform(0.05, 0.25))


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

class Run:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.seed = args.seed
        self.base = f"http://127.0.0.1:{args.stack_port}"
        self.serverid = args.serverid
        self.apikey = args.apikey
        self.timeout = 15
        self.stats = Stats()
        self.ledger = Ledger()
        self.stop_at = 0.0
        self.phase = "starting"

    def running(self) -> bool:
        return self.phase == "running" and time.time() < self.stop_at

    def running_or_checking(self) -> bool:
        return self.phase in ("running", "checking")


def check_ledger(ctx: Run) -> None:
    """Reads every acknowledged session and enrolment back through the API."""
    import concurrent.futures

    ledger, stats = ctx.ledger, ctx.stats
    local = threading.local()

    def client() -> Client:
        if not hasattr(local, "c"):
            local.c = Client(10_000 + threading.get_ident() % 1000, ctx)
        return local.c

    def check_session(nonce: str, s: dict[str, Any]) -> None:
        c = client()
        try:
            j = c.retrying("check getSession", lambda i: c.website("check getSession", "GET", "/sessions", nonce), {200}).json()
        except GaveUp as e:
            stats.note("unexpected", f"check getSession {nonce}: {e}")
            return
        state, acct = j.get("state"), j.get("accountid")
        ledger.hist(nonce, f"check getSession: {state} account {acct}")
        if j.get("hsid") != s["hsid"]:
            stats.note("lost", f"session {nonce} (client {s['client']}): hsid {j.get('hsid')} != acknowledged {s['hsid']}",
                       key=nonce)
            return
        if s["failed"]:
            call, target, target_acct = s["failed"]
            if call in ("approve", "deny", "logout", "phoneLogout", "enrol") and state == target and (
                    target_acct is None or acct == target_acct) and target not in s["states"]:
                stats.note("applied_failed", f"{call} on session {nonce} (client {s['client']}) answered as failed "
                           f"but the session is {state}")
            return
        if state not in s["states"] and not (state == "expired" and "pending" in s["states"]):
            stats.note("lost", f"session {nonce} (client {s['client']}): state {state}, acknowledged {sorted(s['states'])}",
                       key=nonce)
        elif state == "loggedin" and s["accountid"] is not None and acct != s["accountid"]:
            stats.note("lost", f"session {nonce}: logged in as account {acct}, acknowledged {s['accountid']}", key=nonce)

    def check_account(accountid: int, a: dict[str, Any]) -> None:
        c = client()
        try:
            r = c.retrying("check getAccount", lambda i: c.website(
                "check getAccount", "GET", f"/accounts/{accountid}"), {200, 404})
        except GaveUp as e:
            stats.note("unexpected", f"check getAccount {accountid}: {e}")
            return
        if r.status_code == 404:
            stats.note("lost", f"account {accountid} (enrolment acknowledged 201) not found")
        elif r.json().get("pk") != a["pk"]:
            stats.note("lost", f"account {accountid}: pk {r.json().get('pk')} != the enrolled key")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(check_session, n, s) for n, s in list(ledger.sessions.items())]
        jobs += [pool.submit(check_account, i, a) for i, a in list(ledger.accounts.items())]
        for j in jobs:
            j.result()
    c = Client(10_000, ctx)
    # Every account of the server: one per enrolled key; none for an enrolment answered as failed.
    by_pk: dict[str, list[int]] = collections.defaultdict(list)
    marker, listed = 0, 0
    while True:
        try:
            r = c.retrying("check getAllAccounts", lambda i: c.website(
                "check getAllAccounts", "GET", f"/accounts/?limit=500&marker={marker}"), {200})
        except GaveUp as e:
            stats.note("unexpected", f"check getAllAccounts: {e}")
            break
        page = r.json().get("accounts", [])
        for acc in page:
            by_pk[acc.get("pk")].append(int(acc.get("accountid")))
        listed += len(page)
        if len(page) < 500:
            break
        marker += 500
    for pk, ids in by_pk.items():
        if pk in ledger.all_pks and len(ids) > 1:
            stats.note("duplicates", f"{len(ids)} accounts {sorted(ids)} for one enrolled key")
        if pk in ledger.failed_enrol_pks:
            stats.note("applied_failed", f"enrolment answered as failed made account(s) {ids}: "
                       f"{ledger.failed_enrol_pks[pk]}")
    for accountid, a in ledger.accounts.items():
        if accountid not in by_pk.get(a["pk"], []):
            stats.note("lost", f"account {accountid} missing from getAllAccounts")
    ctx.listed_accounts = listed


def cmd_run(args: argparse.Namespace) -> int:
    import requests  # noqa: F401  (the venv's)

    out = args.out
    os.makedirs(out, exist_ok=True)
    procs = Procs(out)
    ctx = Run(args)
    here = os.path.abspath(__file__)
    datadir = os.path.join(out, "dynalite-data")
    dyn_cmd = ["node", args.dynalite_js, "--host", "127.0.0.1", "--port", str(args.dynalite_port),
               "--path", datadir, "--createTableMs", "50", "--deleteTableMs", "50", "--updateTableMs", "50"]
    kills: list[str] = []
    rc = 1
    try:
        def start_dynalite() -> None:
            p = procs.start("dynalite", dyn_cmd, log="dynalite.log")
            wait_answering(f"http://127.0.0.1:{args.dynalite_port}/", p, "dynalite")

        start_dynalite()
        proxy = procs.start("proxy", [sys.executable, here, "proxy", "--listen", str(args.proxy_port),
                                      "--upstream", str(args.dynalite_port), "--stats", os.path.join(out, "faults.json"),
                                      "--seed", str(args.seed)]
                            + [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in FAULT_KINDS])
        env = dict(os.environ, PORT=str(args.stack_port), NSAUTH_STORE="dynamodb", NSAUTH_TABLE="nsauth-soak",
                   AWS_ENDPOINT_URL=f"http://127.0.0.1:{args.proxy_port}", AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                   NSAUTH_DEMO_SERVERID=args.serverid, NSAUTH_DEMO_APIKEY=args.apikey)
        env.setdefault("RUST_LOG", "info")
        for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.pop(k, None)
        stack = procs.start("stack", [args.stack_bin], env=env)
        wait_answering(f"{ctx.base}/servers/{args.serverid}/sessions", stack, "local stack", method="POST",
                       headers={"X-apikey": args.apikey}, want=201)
        print(f"[soak] dynalite :{args.dynalite_port} (data {os.path.relpath(datadir)}), fault proxy "
              f":{args.proxy_port}, local stack {ctx.base}; {args.clients} clients for {args.duration} s", flush=True)

        os.kill(proxy.pid, signal.SIGUSR1)
        clients = [Client(i, ctx) for i in range(args.clients)]
        t0 = time.time()
        ctx.stop_at = t0 + args.duration
        ctx.phase = "running"
        for c in clients:
            c.start()
        kill_at = [t0 + args.duration * f for f in (0.3, 0.65)]
        last_report = t0
        while time.time() < ctx.stop_at:
            time.sleep(0.2)
            now = time.time()
            if kill_at and now >= kill_at[0]:
                kill_at.pop(0)
                procs.kill("dynalite")
                down = 2.0
                time.sleep(down)
                ts = time.time()
                start_dynalite()
                kills.append(f"at {ts - down - t0:.0f} s, down {time.time() - ts + down:.1f} s")
                print(f"[soak] killed dynalite (SIGKILL) {kills[-1]}", flush=True)
            if now - last_report >= 15:
                last_report = now
                print(f"[soak] {now - t0:4.0f} s: {ctx.stats.requests} requests, "
                      f"{dict(ctx.stats.by_status.most_common())}", flush=True)
            if stack.poll() is not None:
                ctx.stats.note("unexpected", f"the local stack exited with {stack.returncode}")
                break
        ctx.phase = "checking"
        for c in clients:
            c.join(timeout=60)
        elapsed = time.time() - t0
        requests_run = ctx.stats.requests
        os.kill(proxy.pid, signal.SIGUSR2)
        time.sleep(0.6)
        with open(os.path.join(out, "faults.json"), encoding="utf-8") as f:
            faults = json.load(f)
        check_ledger(ctx)
        ctx.phase = "done"
        stack_log = open(os.path.join(out, "stack.log"), encoding="utf-8", errors="replace").read()
        panics = len(re.findall(r"panicked|handler task failed", stack_log))
        if panics:
            ctx.stats.note("unexpected", f"the stack logged {panics} panic(s) (stack.log)")

        s = ctx.stats
        n_fault = sum(faults["faults"].values())
        print()
        print(f"==> soak: {args.clients} clients, {elapsed:.0f} s, seed {args.seed}")
        print(f"requests: {requests_run} in {elapsed:.0f} s = {requests_run / elapsed:.1f} per second "
              f"(then {s.requests - requests_run} to check the ledger)")
        print(f"flows: {dict(sorted(s.flows.items()))}")
        print(f"store: DynamoDB requests through the proxy {faults['requests']} "
              f"({faults['requests_while_on']} with faults on); dynalite killed and restarted {len(kills)} times "
              f"({'; '.join(kills)}); connections refused while down {faults['upstream_unreachable']}, "
              f"cut by the kill {faults['upstream_lost']}")
        print(f"faults injected: {n_fault} ({', '.join(f'{k} {v}' for k, v in faults['faults'].items())})")
        print(f"answers by status: {dict(sorted(s.by_status.items()))}")
        for call, counter in sorted(s.by_call.items()):
            print(f"  {call:20} {dict(sorted(counter.items()))}")
        print(f"gave up after retries: {dict(s.gave_up) or 0}; 409 conflict (retried): {dict(s.conflicts) or 0}; "
              f"same-request retries refused as replays (signed anew): {s.retried_replays}")
        print(f"requests sent once refused as replays (signed anew; see docs/operations.md): "
              f"{dict(s.fresh_replays) or 0}")
        print(f"ledger: {len(ctx.ledger.sessions)} sessions, {len(ctx.ledger.accounts)} enrolments acknowledged, "
              f"{len(ctx.ledger.failed_enrol_pks)} enrolments answered as failed, "
              f"{getattr(ctx, 'listed_accounts', '?')} accounts listed")
        print(f"discrepancies: lost {len(s.lost)}, applied but answered as failed {len(s.applied_failed)}, "
              f"duplicated {len(s.duplicates)}, 5xx other than JSON 503 with Retry-After {len(s.bad_5xx)}, "
              f"unexpected answers {len(s.unexpected)}")
        for field in ("lost", "applied_failed", "duplicates", "bad_5xx", "unexpected"):
            for line in getattr(s, field)[:10]:
                print(f"  {field}: {line}")
                m = re.search(r"session (\S+) ", line)
                if m and field in ("lost", "applied_failed"):
                    for h in ctx.ledger.history.get(m.group(1), []):
                        print(f"      {h}")
        report = {"clients": args.clients, "seconds": elapsed, "requests": requests_run,
                  "rps": requests_run / elapsed, "faults": faults, "kills": kills,
                  "by_status": dict(s.by_status), "by_call": {k: dict(v) for k, v in s.by_call.items()},
                  "flows": dict(s.flows), "lost": s.lost, "applied_failed": s.applied_failed,
                  "duplicates": s.duplicates, "conflicts": dict(s.conflicts),
                  "fresh_replays": dict(s.fresh_replays), "retried_replays": s.retried_replays,
                  "lost_history": {n: ctx.ledger.history[n] for n in ctx.ledger.history
                                   if any(n in x for x in s.lost + s.applied_failed)}, "bad_5xx": s.bad_5xx, "unexpected": s.unexpected}
        with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
        bad = s.lost or s.applied_failed or s.duplicates or s.bad_5xx or s.unexpected
        print(f"==> soak: {'FAILED' if bad else 'passed'} (report: {os.path.relpath(out)}/report.json)")
        rc = 1 if bad else 0
    finally:
        ctx.phase = "done"
        procs.stop_all()
    return rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    px = sub.add_parser("proxy")
    px.add_argument("--listen", type=int, required=True)
    px.add_argument("--upstream", type=int, required=True)
    px.add_argument("--stats", required=True)
    px.add_argument("--seed", type=int, default=1)
    px.add_argument("--lose-first-answer", default="", help="operations (PutItem,UpdateItem) whose first "
                    "answer is always dropped, a re-sent copy passed; with --on, faults start on")
    px.add_argument("--throttle-writes-to", default="", help="throttle every write whose body holds this text")
    px.add_argument("--on", action="store_true", help="faults on from the start")
    rn = sub.add_parser("run")
    for p in (px, rn):
        p.add_argument("--drop-before", type=float, default=0.01, help="share of requests dropped unsent")
        p.add_argument("--drop-after", type=float, default=0.01, help="share dropped after the store answered")
        p.add_argument("--delay-before", type=float, default=0.005, help="share held 2.2-4.2 s before sending")
        p.add_argument("--delay-after", type=float, default=0.005, help="share held 2.2-4.2 s after the answer")
        p.add_argument("--throttle", type=float, default=0.03, help="share answered with a throttling error")
    rn.add_argument("--clients", type=int, default=32)
    rn.add_argument("--duration", type=float, default=600)
    rn.add_argument("--seed", type=int, default=int(time.time()))
    rn.add_argument("--out", required=True)
    rn.add_argument("--stack-bin", required=True)
    rn.add_argument("--dynalite-js", required=True)
    rn.add_argument("--dynalite-port", type=int, required=True)
    rn.add_argument("--proxy-port", type=int, required=True)
    rn.add_argument("--stack-port", type=int, required=True)
    rn.add_argument("--serverid", default="AAECAwQFBgcICQoLDA0ODw")
    rn.add_argument("--apikey", default="nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
    args = ap.parse_args()
    return cmd_proxy(args) if args.cmd == "proxy" else cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
