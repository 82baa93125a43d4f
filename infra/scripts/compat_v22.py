#!/usr/bin/env python3
"""The nextAuth v2.2 compatibility test: every call of the v2.2 API (the website's, and the
management calls made with a root key; all 55 operations), made over HTTP against a running local stack exactly as a v2.2 client makes it
(the description's paths with their trailing slashes, query parameters, X-apikey, X-nonce,
JSON bodies on the GET calls that take one), each answer checked against our own statement
of the v2.2 types and operations (infra/scripts/v22_types.json, JSON Schema: a field without
a value is left out, never null).

    compat_v22.py --base URL --serverid S --apikey K --rootkey R [--types infra/scripts/v22_types.json]

Run by infra/scripts/compat-check.sh (which starts the stack) with the pinned .tools/st venv
(requests, jsonschema, cryptography, PyYAML). A phone (openapi_check.Phone: NSAuth-P256-V2
signed calls) enrols through getQrEnrol and getHtmlEnrol links, approves logins and approves
or declines transactions; the signature of an approved transaction is verified here with
`cryptography`, independently of the server.

Prints one line per check (`ok` / `FAIL`; `note` lines report answers the plan leaves open
and count for nothing) and last `compat: N passed, M failed`; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import time
import traceback
import urllib.parse
from typing import Any, Callable

import requests
from jsonschema import Draft202012Validator

sys.dont_write_bytecode = True  # importing openapi_check must leave no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openapi_check import TIMEOUT, Checks, Phone, b64url, enrol_token, new_nonce  # noqa: E402

CLIENT_VERSION = "compat-v22/1"
USER_CONTEXT = {
    "announceinfo": {"info": {"action": "Log in to the v2.2 compatibility test"}, "ip": "198.51.100.22"},
    "sessioninfo": {"info": {"browser": "compat"}, "useragent": "compat-v22"},
}
SIGNED_FIELDS = ["type", "serverid", "servername", "tid", "accountid", "amount", "benificiary", "description",
                 "created"]


class Skip(Exception):
    """A step the rest of a section needs failed; the section stops (counted as one failure)."""


# ---- small helpers -----------------------------------------------------------------------


def hsid_of(serverid: str, nonce: str) -> str:
    """The session's public handle (docs/integration.md, section 1)."""
    d = hashlib.sha256(b"nsauth-hsid-v1\0" + serverid.encode() + b"\0" + nonce.encode()).digest()
    return b64url(d[:16])


def b64any(s: str) -> bytes:
    """Decodes standard or url-safe base64, with or without padding."""
    s = s.strip()
    return base64.b64decode(s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4))


def spki(phone: Phone) -> bytes:
    return b64any(phone.publickey)


def rfc3339_seconds(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (NaN when it is not one)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return float("nan")


def png_size(data: bytes) -> tuple[int, int] | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def svg_width(text: str) -> int | None:
    m = re.search(r"<svg[^>]*\swidth=\"([0-9]+)", text)
    return int(m.group(1)) if m else None


def ctype_of(r: requests.Response) -> str:
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


def nulls_and_floats(value: Any, path: str = "") -> list[str]:
    """Paths of every null (and of every non-integer number: v2.2 has none) in a JSON value."""
    found = []
    if value is None:
        found.append(f"{path or '(body)'}: null")
    elif isinstance(value, float):
        found.append(f"{path or '(body)'}: a float ({value})")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += nulls_and_floats(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += nulls_and_floats(v, f"{path}/{i}")
    return found


def sign_rs(phone: Phone, text: bytes) -> str:
    """ECDSA P-256 SHA-256 over `text` with the phone's key, as base64url of r || s."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(phone.key.sign(text, ec.ECDSA(hashes.SHA256())))
    return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def verify_rs(pk_b64: str, text: bytes, signature_b64url: str) -> tuple[bool, str]:
    """Checks a base64url r || s signature over `text` with a base64 SPKI public key, using
    nothing of the server's: (valid, why not)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        key = serialization.load_der_public_key(b64any(pk_b64))
        raw = b64any(signature_b64url)
    except Exception as e:  # noqa: BLE001 - a key or signature that does not load is invalid
        return False, f"{type(e).__name__}: {e}"
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return False, "not a P-256 key"
    if len(raw) != 64:
        return False, f"signature is {len(raw)} bytes, not 64 (r || s)"
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, text, ec.ECDSA(hashes.SHA256()))
        return True, ""
    except InvalidSignature:
        return False, "InvalidSignature"


# ---- the API, checked call by call ---------------------------------------------------------


class Types:
    def __init__(self, path: str):
        with open(path, encoding="utf-8") as f:
            self.raw = json.load(f)
        self.defs = self.raw["$defs"]
        self.ops = {k: v for k, v in self.raw["operations"].items() if not k.startswith("$")}
        self.generic = set(self.raw["generic_statuses"])
        self._validators: dict[str, Draft202012Validator] = {}

    def validate(self, name: str, instance: Any) -> list[str]:
        if name not in self._validators:
            self._validators[name] = Draft202012Validator({"$defs": self.defs, "$ref": f"#/$defs/{name}"})
        errors = sorted(self._validators[name].iter_errors(instance), key=lambda e: list(map(str, e.path)))
        return [f"{name} {'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:160]}" for e in errors]


class Api:
    def __init__(self, base: str, serverid: str, apikey: str, types: Types, checks: Checks):
        self.base, self.serverid, self.apikey = base.rstrip("/"), serverid, apikey
        self.types, self.checks = types, checks
        self.http = requests.Session()
        self.section = ""
        self.called: set[str] = set()
        # What the server should hold: accountid -> userid ("" for none), kept by the test.
        self.known: dict[int, str] = {}
        self.phones: dict[int, Phone] = {}
        self.notes = 0
        self.login_timeout = 300
        # A key whose role holds global root (the management calls).
        self.rootkey = ""

    # -- reporting --
    def ok(self, cond: bool, name: str, detail: str = "") -> bool:
        return self.checks.result(bool(cond), f"[{self.section}] {name}", detail)

    def note(self, text: str) -> None:
        self.notes += 1
        print(f"note  [{self.section}] {text}", flush=True)

    def need(self, cond: Any, what: str) -> None:
        if not cond:
            raise Skip(what)

    # -- the website calls --
    def url(self, template: str, **path: Any) -> str:
        quoted = {k: urllib.parse.quote(str(v), safe="") for k, v in path.items()}
        return self.base + template.format(**{"serverid": self.serverid, **quoted})

    def call(
        self, op: str, label: str, *, expect: int | None = None, nonce: str | None = None,
        params: dict | None = None, body: Any = None, raw: bytes | None = None, path: str | None = None,
        content: str | None = None, key: str | None = None, su: str | None = None, **pp: Any,
    ) -> tuple[requests.Response, Any]:
        """Makes the call as v2.2 writes it and checks the answer: a status v2.2 lists for the
        operation (or a generic one), `expect` when given, the content type, the schema of a
        JSON 200 (and no null anywhere), and the error shape of an error answer. Returns the
        response and its JSON (or None)."""
        spec = self.types.ops[op]
        self.called.add(op)
        headers = {"X-apikey": key or self.apikey}
        if su is not None:
            headers["X-su"] = su
        if nonce is not None:
            headers["X-nonce"] = nonce
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        r = self.http.request(spec["method"], self.url(path or spec["path"], **pp), params=params, headers=headers,
                              data=data, timeout=TIMEOUT)
        problems: list[str] = []
        listed = sorted(spec["statuses"])
        if r.status_code not in set(listed) | self.types.generic:
            problems.append(f"status {r.status_code} is not one v2.2 lists for {op} ({listed}, or generic "
                            f"{sorted(self.types.generic)})")
        if expect is not None and r.status_code != expect:
            problems.append(f"expected {expect}")
        ctype = ctype_of(r)
        parsed = None
        if ctype == "application/json":
            try:
                parsed = r.json()
            except ValueError:
                problems.append("not JSON")
        if r.status_code == 200:
            if ctype not in spec["content"]:
                problems.append(f"content type {ctype or '(none)'}, not {' or '.join(spec['content'])}")
            elif content and ctype != content:
                problems.append(f"content type {ctype}, not {content}")
            if ctype == "application/json" and parsed is not None:
                problems += self.types.validate(spec["schema"], parsed)
                problems += nulls_and_floats(parsed)
        elif r.status_code >= 400:
            if ctype != "application/json":
                problems.append(f"error answer of type {ctype or '(none)'}, not JSON")
            elif parsed is not None:
                problems += self.types.validate("Error", parsed)
        if problems and r.status_code != 200:
            problems.append(f"body: {r.text[:240]}")
        where = spec["method"] + " " + (path or spec["path"])
        self.ok(not problems, f"{op} {label} -> {r.status_code}", "; ".join(problems) if problems else where)
        return r, parsed

    def probe(self, op: str, label: str, **kw: Any) -> requests.Response:
        """A call whose answer the plan leaves open: reported as a note when its status is not one
        v2.2 lists, counted for nothing."""
        spec = self.types.ops[op]
        headers = {"X-apikey": self.apikey}
        if kw.get("nonce"):
            headers["X-nonce"] = kw["nonce"]
        pp = {k: v for k, v in kw.items() if k not in ("nonce", "params", "body")}
        data = json.dumps(kw["body"]).encode() if kw.get("body") is not None else None
        if data:
            headers["Content-Type"] = "application/json"
        r = self.http.request(spec["method"], self.url(spec["path"], **pp), params=kw.get("params"), headers=headers,
                              data=data, timeout=TIMEOUT)
        listed = set(spec["statuses"]) | self.types.generic
        verdict = "a status v2.2 lists" if r.status_code in listed else "NOT a status v2.2 lists for it"
        self.note(f"{op} {label} -> {r.status_code} ({verdict}): {r.text[:160]}")
        return r

    # -- the phone --
    def enrol(self, nonce: str, userid: str = "", name: str = "", push: str = "", token: str = "") -> Phone:
        """Enrols a new phone through a getQrEnrol link (or `token`); the account is logged in to
        `nonce`'s session."""
        if not token:
            query = {k: v for k, v in (("userid", userid), ("name", name)) if v}
            token, r = enrol_token(self.base, self.serverid, self.apikey, nonce, **query)
            self.need(token, f"getQrEnrol gave no enrolment link ({r.status_code}: {r.text[:160]})")
        phone = Phone(self.base, self.serverid)
        body = {"token": token, "publickey": phone.publickey, "description": "", "clientversion": CLIENT_VERSION,
                "push": {"platform": "fcm", "token": push} if push else None}
        r = phone.request("POST", "/app/v1/enrol", body, account="new")
        self.need(r.status_code == 201, f"enrol answered {r.status_code}: {r.text[:160]}")
        phone.accountid = r.json()["accountid"]
        self.known[phone.accountid] = userid
        self.phones[phone.accountid] = phone
        return phone

    def approve_login(self, phone: Phone, hsid: str, match: str | None = None) -> requests.Response:
        shown = phone.request("GET", f"/app/v1/sessions/{hsid}")
        self.need(shown.status_code == 200, f"phone show answered {shown.status_code}: {shown.text[:160]}")
        return phone.request("POST", f"/app/v1/sessions/{hsid}/approve", {"match": match} if match else {})


# ---- the sections --------------------------------------------------------------------------


def s_types(api: Api) -> None:
    """The statement itself: every type compiles, every property is stated as v2.2's or ours,
    every operation names a stated schema."""
    t = api.types
    try:
        Draft202012Validator.check_schema({"$defs": t.defs})
        api.ok(True, "v22_types.json: every type is valid JSON Schema 2020-12")
    except Exception as e:  # noqa: BLE001
        api.ok(False, "v22_types.json: every type is valid JSON Schema 2020-12", str(e)[:300])
    unstated = []
    for name, d in t.defs.items():
        if "properties" in d:
            stated = set(d.get("x-v22", [])) | set(d.get("x-ours", []))
            unstated += [f"{name}.{p}" for p in d["properties"] if p not in stated]
            unstated += [f"{name}.{p} (stated, no type)" for p in stated if p not in d["properties"]]
    api.ok(not unstated, "v22_types.json: every property is a v2.2 one or a stated addition", ", ".join(unstated))
    bad = [op for op, s in t.ops.items()
           if ("application/json" in s["content"]) != ("schema" in s) or s.get("schema", "NoNull") not in t.defs]
    api.ok(not bad, "v22_types.json: every JSON operation names a stated schema", ", ".join(bad))
    # The statement rejects a null where v2.2 has a plain type, and a type change of an addition.
    probes = [("LoginStatus", {"loggedin": False, "canprovoke": False, "hsid": "A" * 22, "loginqrdata": "QUFB",
                               "state": "loggedout", "userid": None}),
              ("Account", {"id": 1, "accountid": "1", "description": "", "blocked": False, "clientVersion": "",
                           "created": 1700000000000, "pk": "QUFB", "push": True}),
              ("TransactionResult", {"tstatus": 1, "state": "approved"})]
    wrong = [n for n, v in probes if not t.validate(n, v)]
    api.ok(not wrong, "v22_types.json: a null and a changed type are refused", ", ".join(wrong))


def s_session(api: Api) -> None:
    S = api.serverid
    n = new_nonce()
    _, st = api.call("getSession", "of a nonce never seen", expect=200, nonce=n)
    st = st or {}
    api.ok(not {"userid", "accountid", "pk"} & set(st),
           "a fresh session leaves userid, accountid and pk out (not null)", json.dumps(st)[:200])
    api.ok(st.get("state") == "pending" and st.get("loggedin") is False and "expires" in st and "match" not in st,
           "a fresh session is pending, with expires and no match", json.dumps(st)[:200])
    hsid = hsid_of(S, n)
    api.ok(st.get("hsid") == hsid, "LoginStatus hsid is the hash of serverid and nonce", f"{st.get('hsid')} vs {hsid}")
    api.call("getSession", "without the trailing slash", expect=200, nonce=n, path="/servers/{serverid}/sessions")
    api.call("getSession", "without X-nonce", expect=400)
    api.call("getSession", "with a short hex nonce", expect=400, nonce="0123456789abcdef0123456789")
    api.call("getSession", "with a nonce of the full alphabet (+ / = _ - , .)", expect=200,
             nonce=new_nonce()[:16] + "+/=_-,.")

    # getQrLogin: raw, png, svg; s without img; s clamped; s not a number.
    r, _ = api.call("getQrLogin", "without img (the raw link)", expect=200, nonce=n, content="text/plain")
    link = r.text
    api.ok(r.content == b64any(st.get("loginqrdata", "")), "getQrLogin's raw answer is the bytes of loginqrdata",
           link[:80])
    api.ok(link.endswith(f"login/{S}/{hsid}"), "the login link names the server and the hsid", link[:80])
    r, _ = api.call("getQrLogin", "img=png s=300", expect=200, nonce=n, params={"img": "png", "s": "300"},
                    content="image/png")
    size300 = png_size(r.content)
    api.ok(size300 is not None and 250 <= size300[0] <= 350, "getQrLogin img=png is a PNG of about s pixels",
           str(size300))
    r, _ = api.call("getQrLogin", "img=svg", expect=200, nonce=n, params={"img": "svg"}, content="image/svg+xml")
    api.ok("<svg" in r.text, "getQrLogin img=svg is an SVG")
    r, _ = api.call("getQrLogin", "s=300 without img (s ignored)", expect=200, nonce=n, params={"s": "300"},
                    content="text/plain")
    api.ok(r.text == link, "getQrLogin with s and no img answers the raw link", r.text[:80])
    sizes = {}
    for s in ("5000", "2000", "10", "100"):
        r, _ = api.call("getQrLogin", f"img=png s={s}", expect=200, nonce=n, params={"img": "png", "s": s},
                        content="image/png")
        sizes[s] = png_size(r.content)
    api.ok(sizes["5000"] is not None and sizes["5000"] == sizes["2000"], "s=5000 is clamped to 2000",
           f"{sizes['5000']} vs {sizes['2000']}")
    api.ok(sizes["10"] is not None and sizes["10"] == sizes["100"], "s=10 is clamped to 100",
           f"{sizes['10']} vs {sizes['100']}")
    r, _ = api.call("getQrLogin", "img=svg s=9999", expect=200, nonce=n, params={"img": "svg", "s": "9999"},
                    content="image/svg+xml")
    w = svg_width(r.text)
    api.ok(w is not None and w <= 2000, "an SVG with s=9999 is at most 2000 wide", str(w))
    api.call("getQrLogin", "img=png s=abc", expect=400, nonce=n, params={"img": "png", "s": "abc"})
    n2 = new_nonce()
    r, _ = api.call("getQrLogin", "as a GET with a UserContext body", expect=200, nonce=n2, body=USER_CONTEXT,
                    content="text/plain")
    api.ok(r.text.endswith(f"login/{S}/{hsid_of(S, n2)}"), "getQrLogin with a body names that session's hsid")

    # getHtmlLogin: a GET with a UserContext body.
    r, _ = api.call("getHtmlLogin", "as a GET with a UserContext body", expect=200, nonce=n2, body=USER_CONTEXT)
    api.ok('class="nsauth-block"' in r.text and hsid_of(S, n2) in r.text and n2 not in r.text,
           "getHtmlLogin is the login block of the session (and never shows the nonce)")
    api.call("getHtmlLogin", "without a body", expect=200, nonce=n)
    api.call("getHtmlLogin", "with the JSON body null (no body)", expect=200, nonce=n, raw=b"null")
    api.call("getHtmlFooter", "with the JSON body null (no body)", expect=200, nonce=n, raw=b"null")
    r, _ = api.call("getHtmlFooter", "without a body", expect=200, nonce=n)
    api.ok("<script" in r.text and n not in r.text, "getHtmlFooter carries the script (and never the nonce)")

    # logout on a pending session: the LoginStatus after it.
    _, out = api.call("logout", "of a pending session", expect=200, nonce=n)
    out = out or {}
    api.ok(out.get("state") == "pending" and not {"userid", "accountid", "pk"} & set(out),
           "logout of a pending session answers it pending, fields left out", json.dumps(out)[:200])


def s_enrol(api: Api) -> None:
    S = api.serverid
    n = new_nonce()
    r, _ = api.call("getQrEnrol", "with name and userid (the raw link)", expect=200, nonce=n, content="text/plain",
                    params={"name": "Compat phone", "userid": "compat-alice"})
    m = re.search(rf"enrol/{S}/([A-Za-z0-9_-]{{22}})\?api=", r.text)
    api.ok(m, "getQrEnrol's raw answer is an enrolment link", r.text[:100])
    r2, _ = api.call("getQrEnrol", "img=png", expect=200, nonce=new_nonce(), content="image/png",
                     params={"name": "x", "img": "png"})
    api.ok(png_size(r2.content) is not None, "getQrEnrol img=png is a PNG")
    r2, _ = api.call("getQrEnrol", "img=svg s=300", expect=200, nonce=new_nonce(), content="image/svg+xml",
                     params={"name": "x", "img": "svg", "s": "300"})
    api.ok("<svg" in r2.text, "getQrEnrol img=svg is an SVG")
    api.need(m, "no enrolment link")
    alice = api.enrol(n, userid="compat-alice", push="compat-alice-device", token=m.group(1))
    _, st = api.call("getSession", "after the enrolment", expect=200, nonce=n)
    st = st or {}
    api.ok(st.get("loggedin") is True and st.get("state") == "loggedin" and st.get("userid") == "compat-alice"
           and st.get("accountid") == alice.accountid and "expires" in st,
           "the enrolment logged the account in with its userid", json.dumps(st)[:200])
    api.ok(b64any(st.get("pk", "")) == spki(alice) and "-" not in st.get("pk", "") and "_" not in st.get("pk", ""),
           "LoginStatus pk is the account's SPKI in standard base64")

    # Phone-first: no userid; logged in without a userid key; then registerUser.
    n3 = new_nonce()
    bob = api.enrol(n3, name="Bob's phone", push="compat-bob-device")
    _, st = api.call("getSession", "logged in to an account without a userid", expect=200, nonce=n3)
    st = st or {}
    api.ok(st.get("loggedin") is True and "userid" not in st and st.get("accountid") == bob.accountid and "pk" in st,
           "a login without a user leaves userid out", json.dumps(st)[:200])
    _, st = api.call("registerUser", "on the logged-in session", expect=200, nonce=n3, params={"userid": "compat-bob"})
    api.ok((st or {}).get("userid") == "compat-bob" and (st or {}).get("accountid") == bob.accountid,
           "registerUser answers the LoginStatus with the userid", json.dumps(st)[:200])
    api.known[bob.accountid] = "compat-bob"
    api.probe("registerUser", "on a session nobody is logged in to", nonce=new_nonce(), params={"userid": "x"})

    # getHtmlEnrol: the block, its QR code and its link; enrol with the link in the HTML.
    n2 = new_nonce()
    r, _ = api.call("getHtmlEnrol", "with name and userid", expect=200, nonce=n2,
                    params={"name": "Carol's phone", "userid": "compat-carol"})
    html = r.text
    m = re.search(rf"enrol/{S}/([A-Za-z0-9_-]{{22}})\?api=", html)
    api.ok('class="nsauth-enrol"' in html, "getHtmlEnrol is a nsauth-enrol block")
    api.ok("<svg" in html, "getHtmlEnrol carries the QR code as inline SVG")
    api.ok(m and re.search(r"<a [^>]*href=\"[^\"]*enrol/", html), "getHtmlEnrol has an open-the-app enrolment link")
    api.ok(r.status_code == 200 and n2 not in html, "getHtmlEnrol never shows the nonce")
    api.need(m, "no enrolment link in getHtmlEnrol")
    carol = api.enrol(n2, userid="compat-carol", push="compat-carol-device", token=m.group(1))
    _, st = api.call("getSession", "after enrolling with getHtmlEnrol's link", expect=200, nonce=n2)
    api.ok((st or {}).get("loggedin") is True and (st or {}).get("accountid") == carol.accountid
           and (st or {}).get("userid") == "compat-carol", "getHtmlEnrol's link enrolled and logged in",
           json.dumps(st)[:200])


def s_accounts(api: Api) -> None:
    n = new_nonce()
    dave = api.enrol(n, userid="compat-dave", name="Dave's phone", push="compat-dave-device")
    acc = dave.accountid
    now_ms = int(time.time() * 1000)
    _, a = api.call("getAccount", "of an enrolled account", expect=200, accountid=acc)
    a = a or {}
    api.ok(a.get("id") == acc and a.get("accountid") == acc, "Account id and accountid are the account id",
           json.dumps(a)[:200])
    api.ok(a.get("userid") == "compat-dave" and a.get("description") == "Dave's phone"
           and a.get("clientVersion") == CLIENT_VERSION and a.get("push") is True and a.get("blocked") is False,
           "Account carries userid, description (the name), clientVersion, push, blocked", json.dumps(a)[:240])
    api.ok(isinstance(a.get("created"), int) and abs(a["created"] - now_ms) < 600_000,
           "Account created is now, in milliseconds", str(a.get("created")))
    api.ok(b64any(a.get("pk", "")) == spki(dave), "Account pk is the account's SPKI")
    api.ok("lastprovoke" not in a, "an account never pushed has no lastprovoke key")
    api.ok(isinstance(a.get("lastlogin"), int), "the enrolment's login is the account's lastlogin (ms)",
           str(a.get("lastlogin")))
    api.call("getAccount", "of an unknown account", expect=404, accountid=999999)
    api.call("getAccount", "of a malformed account id", expect=400, accountid="x1")

    for value, want in (("true", True), ("false", False), ("1", True), ("0", False)):
        _, a = api.call("updateAccount", f"blocked={value}", expect=200, accountid=acc, params={"blocked": value})
        api.ok((a or {}).get("blocked") is want and (a or {}).get("id") == acc,
               f"updateAccount blocked={value} answers the account with blocked {str(want).lower()}")
    _, a = api.call("getAccount", "after unblocking", expect=200, accountid=acc)
    api.ok((a or {}).get("blocked") is False, "getAccount shows the account unblocked")
    api.call("updateAccount", "blocked=maybe", expect=400, accountid=acc, params={"blocked": "maybe"})
    api.call("updateAccount", "of an unknown account", expect=404, accountid=999999, params={"blocked": "true"})

    _, a = api.call("updateAccountUser", "to another user", expect=200, accountid=acc, params={"userid": "compat-dave2"})
    api.ok((a or {}).get("userid") == "compat-dave2", "updateAccountUser answers the account with the new userid")
    api.known[acc] = "compat-dave2"
    _, a = api.call("getAccount", "after the move", expect=200, accountid=acc)
    api.ok((a or {}).get("userid") == "compat-dave2", "getAccount shows the new userid")
    api.call("updateAccountUser", "with an invalid userid (a control character)", expect=403, accountid=acc,
             params={"userid": "bad\tname"})
    api.call("updateAccountUser", "of an unknown account", expect=404, accountid=999999, params={"userid": "x"})


def s_logins(api: Api) -> None:
    S = api.serverid
    erin = api.enrol(new_nonce(), userid="compat-erin", name="Erin's phone", push="compat-erin-device")
    frank = api.enrol(new_nonce(), userid="compat-frank", name="Frank's phone", push="compat-frank-device")

    # A QR login approved on the phone.
    n = new_nonce()
    r, _ = api.call("getQrLogin", "for a QR login", expect=200, nonce=n, content="text/plain")
    hsid = r.text.rsplit("/", 1)[-1]
    api.need(hsid == hsid_of(S, n), f"getQrLogin gave no login link: {r.text[:100]}")
    shown = erin.request("GET", f"/app/v1/sessions/{hsid}")
    _, st = api.call("getSession", "once the phone has scanned", expect=200, nonce=n)
    api.ok(shown.status_code == 200 and (st or {}).get("state") == "scanned" and "userid" not in (st or {}),
           "a scanned session is scanned, fields left out", json.dumps(st)[:200])
    ap = erin.request("POST", f"/app/v1/sessions/{hsid}/approve", {})
    api.ok(ap.status_code == 200, "the phone approves the QR login", f"{ap.status_code} {ap.text[:120]}")
    _, st = api.call("getSession", "after the approval", expect=200, nonce=n)
    st = st or {}
    api.ok(st.get("loggedin") is True and st.get("accountid") == erin.accountid and st.get("userid") == "compat-erin"
           and b64any(st.get("pk", "")) == spki(erin) and st.get("canprovoke") is True,
           "the QR login is logged in as the phone's account", json.dumps(st)[:200])

    # logout, twice; the LoginStatus after it.
    for label in ("of the logged-in session", "again (idempotent)"):
        _, out = api.call("logout", label, expect=200, nonce=n)
        out = out or {}
        api.ok(out.get("loggedin") is False and out.get("state") == "loggedout" and out.get("canprovoke") is True
               and not {"userid", "accountid", "pk", "expires"} & set(out),
               f"logout {label}: loggedout, can provoke, userid/accountid/pk/expires left out", json.dumps(out)[:200])

    # provokeLogin: the session's last account; number matching.
    _, p = api.call("provokeLogin", "with a UserContext body", expect=200, nonce=n, body=USER_CONTEXT)
    p = p or {}
    match = p.get("match")
    api.ok(p.get("pushed") == 1 and match, "provokeLogin pushed to the account, with a number to match", json.dumps(p))
    _, st = api.call("getSession", "with a push open", expect=200, nonce=n)
    api.ok((st or {}).get("match") == match and (st or {}).get("state") == "pending",
           "LoginStatus carries the push's match", json.dumps(st)[:200])
    ap = api.approve_login(erin, hsid, match)
    api.ok(ap.status_code == 200, "the phone approves the push with the number", f"{ap.status_code} {ap.text[:120]}")
    _, st = api.call("getSession", "after the pushed login", expect=200, nonce=n)
    api.ok((st or {}).get("loggedin") is True and "match" not in (st or {}), "the pushed login is logged in, no match",
           json.dumps(st)[:200])
    _, a = api.call("getAccount", "after a push", expect=200, accountid=erin.accountid)
    a = a or {}
    api.ok(isinstance(a.get("lastprovoke"), int) and isinstance(a.get("lastlogin"), int)
           and a["lastprovoke"] >= a.get("created", 0), "getAccount has lastprovoke and lastlogin in ms",
           json.dumps(a)[:200])
    api.probe("provokeLogin", "on a session that never had a login", nonce=new_nonce())

    # provokeLoginOnUser and provokeLoginOnAccount, on new browser sessions.
    n2 = new_nonce()
    _, p = api.call("provokeLoginOnUser", "with a UserContext body", expect=200, nonce=n2, userid="compat-frank",
                    body=USER_CONTEXT)
    p = p or {}
    api.ok(p.get("pushed") == 1, "provokeLoginOnUser pushed to the user's account", json.dumps(p))
    ap = api.approve_login(frank, hsid_of(S, n2), p.get("match"))
    _, st = api.call("getSession", "after approving provokeLoginOnUser", expect=200, nonce=n2)
    api.ok(ap.status_code == 200 and (st or {}).get("userid") == "compat-frank",
           "provokeLoginOnUser's push logs the user in", json.dumps(st)[:200])
    n3 = new_nonce()
    _, p = api.call("provokeLoginOnAccount", "without a body", expect=200, nonce=n3, accountid=frank.accountid)
    p = p or {}
    api.ok(p.get("pushed") == 1, "provokeLoginOnAccount pushed to the account", json.dumps(p))
    ap = api.approve_login(frank, hsid_of(S, n3), p.get("match"))
    _, st = api.call("getSession", "after approving provokeLoginOnAccount", expect=200, nonce=n3)
    api.ok(ap.status_code == 200 and (st or {}).get("accountid") == frank.accountid,
           "provokeLoginOnAccount's push logs the account in", json.dumps(st)[:200])
    api.probe("provokeLoginOnUser", "of a user without accounts", nonce=new_nonce(), userid="compat-nobody")
    api.probe("provokeLoginOnAccount", "of an unknown account", nonce=new_nonce(), accountid=999999)

    # getHtmlFooter with the `sessions` body: it watches those sessions as well.
    other = {"serverid": S, "sessionid": n2}
    foreign = {"serverid": "AAAAAAAAAAAAAAAAAAAAAA", "sessionid": new_nonce()}
    r, _ = api.call("getHtmlFooter", "of a logged-in session", expect=200, nonce=n)
    plain = r.text
    r, _ = api.call("getHtmlFooter", "as a GET with a sessions body", expect=200, nonce=n,
                    body={"sessions": [other, foreign]})
    html = r.text
    api.ok(hsid_of(S, n) in html, "the footer watches its own session")
    api.ok(hsid_of(S, n2) in html and hsid_of(S, n2) not in plain, "the footer watches the sessions of its body too")
    api.ok(r.status_code == 200 and not any(x in html for x in (n, n2, foreign["sessionid"])),
           "the footer never shows a nonce")


def s_bulk(api: Api) -> None:
    """25 accounts over 5 users: paging, sorting, searching, then the user deletions."""
    users = {f"compat-User-{i}": i + 2 for i in range(1, 6)}  # 3, 4, 5, 6, 7 accounts
    started = time.time()
    for u, count in users.items():
        for j in range(count):
            api.enrol(new_nonce(), userid=u, name=f"{u} phone {j}")
    api.ok(sum(users.values()) == 25, "25 accounts enrolled over 5 users", f"{time.time() - started:.1f} s")
    known = dict(api.known)

    # getAllAccounts
    _, all_ = api.call("getAllAccounts", "without parameters", expect=200)
    all_ = all_ or {}
    ids = [a.get("id") for a in all_.get("accounts", [])]
    api.ok(all_.get("totalnumber") == len(known), "getAllAccounts totalnumber counts every account",
           f"{all_.get('totalnumber')} vs {len(known)}")
    api.ok(sorted(ids) == sorted(known), "getAllAccounts lists every account once (default limit 100)",
           f"{len(ids)} listed, {len(known)} known")
    accounts = {a.get("id"): a for a in all_.get("accounts", [])}
    api.ok(all(a.get("userid", "") == known.get(i) for i, a in accounts.items()),
           "getAllAccounts shows each account's userid")

    def pages(op: str, label: str, limit: int, key: str, **kw: Any) -> tuple[list, set]:
        seen, totals = [], set()
        for marker in range(0, 200, limit):
            params = {"limit": str(limit), "marker": str(marker), **kw.get("params", {})}
            _, page = api.call(op, f"{label} marker={marker}", expect=200, params=params,
                               **{k: v for k, v in kw.items() if k != "params"})
            page = page or {}
            items = page.get(key, [])
            totals.add(page.get("totalnumber"))
            seen += items
            if len(items) > limit:
                api.ok(False, f"{op} {label}: a page holds at most limit items", f"{len(items)} items")
                break
            if len(items) < limit:
                break
        return seen, totals

    seen, totals = pages("getAllAccounts", "limit=7", 7, "accounts")
    got = [a.get("id") for a in seen]
    api.ok(sorted(got) == sorted(known) and len(got) == len(set(got)),
           "paging with limit and marker returns each account exactly once", f"{len(got)} of {len(known)}")
    api.ok(totals == {len(known)}, "every page has the same totalnumber", str(totals))
    seen, _ = pages("getAllAccounts", "limit=10 sort=id:desc", 10, "accounts", params={"sort": "id:desc"})
    got = [a.get("id") for a in seen]
    api.ok(got == sorted(known, reverse=True), "pages sorted id:desc run from the newest account down",
           str(got[:8]))
    _, page = api.call("getAllAccounts", "sort=created:desc", expect=200, params={"sort": "created:desc"})
    api.ok([a.get("id") for a in (page or {}).get("accounts", [])] == sorted(known, reverse=True),
           "sort=created:desc is the order of id:desc")
    _, page = api.call("getAllAccounts", "sort=userid", expect=200, params={"sort": "userid"})
    uids = [a.get("userid", "") for a in (page or {}).get("accounts", [])]
    api.ok(len(uids) == len(known) and uids == sorted(uids), "sort=userid orders by userid ascending")
    _, page = api.call("getAllAccounts", "sort=userid:desc,id:asc", expect=200, params={"sort": "userid:desc,id:asc"})
    got = [(a.get("userid", ""), a.get("id")) for a in (page or {}).get("accounts", [])]
    want = sorted(sorted(got, key=lambda t: t[1]), key=lambda t: t[0], reverse=True)
    api.ok(len(got) == len(known) and got == want, "sort=userid:desc,id:asc sorts by two columns", str(got[:4]))
    _, page = api.call("getAllAccounts", "marker past the end", expect=200, params={"marker": "1000"})
    api.ok((page or {}).get("accounts") == [] and (page or {}).get("totalnumber") == len(known),
           "a marker past the end is an empty page with the totalnumber")
    api.call("getAllAccounts", "sort=nope", expect=400, params={"sort": "nope"})
    api.call("getAllAccounts", "marker=abc", expect=400, params={"marker": "abc"})
    for f in ("group=admins", "group=in:a,b"):
        _, page = api.call("getAllAccounts", f"filter={f} (well-formed)", expect=200, params={"filter": f})
        api.ok((page or {}).get("accounts") == [], f"filter={f} matches nothing (no attributes stored yet)")
    api.call("getAllAccounts", "filter=nonsense (malformed)", expect=400, params={"filter": "nonsense"})

    # getUsers
    per_user: dict[str, list[int]] = {}
    for i, u in known.items():
        if u:
            per_user.setdefault(u, []).append(i)
    _, us = api.call("getUsers", "without parameters", expect=200)
    us = us or {}
    listed = {u.get("userid"): u for u in us.get("users", [])}
    api.ok(us.get("totalnumber") == len(per_user) and set(listed) == set(per_user),
           "getUsers lists every user once, totalnumber right", f"{us.get('totalnumber')} vs {len(per_user)}")
    api.ok(all(listed.get(u, {}).get("numberaccounts") == len(a) for u, a in per_user.items()),
           "getUsers numberaccounts counts each user's accounts")
    bad = []
    for u, a in per_user.items():
        logins = [accounts[i]["lastlogin"] for i in a if "lastlogin" in accounts.get(i, {})]
        if logins and listed.get(u, {}).get("lastlogin") != max(logins):
            bad.append(u)
    api.ok(not bad, "getUsers lastlogin is the latest login over the user's accounts", ", ".join(bad[:5]))
    seen, totals = pages("getUsers", "limit=2", 2, "users")
    got = [u.get("userid") for u in seen]
    api.ok(sorted(got) == sorted(per_user) and len(got) == len(set(got)), "paging users returns each user once",
           f"{len(got)} of {len(per_user)}")
    api.ok(totals == {len(per_user)}, "every page of users has the same totalnumber", str(totals))
    _, page = api.call("getUsers", "sort=userid:desc", expect=200, params={"sort": "userid:desc"})
    got = [u.get("userid") for u in (page or {}).get("users", [])]
    api.ok(got == sorted(per_user, reverse=True), "sort=userid:desc orders users by name descending", str(got[:4]))
    _, page = api.call("getUsers", "sort=numberaccounts:desc", expect=200, params={"sort": "numberaccounts:desc"})
    counts = [u.get("numberaccounts") for u in (page or {}).get("users", [])]
    api.ok(len(counts) == len(per_user) and counts == sorted(counts, reverse=True),
           "sort=numberaccounts:desc orders users by their number of accounts", str(counts))
    _, page = api.call("getUsers", "search=user-3 (another case)", expect=200, params={"search": "user-3"})
    api.ok([u.get("userid") for u in (page or {}).get("users", [])] == ["compat-User-3"]
           and (page or {}).get("totalnumber") == 1, "search matches a part of the userid, case-insensitively",
           json.dumps(page)[:160])
    _, page = api.call("getUsers", "search=COMPAT-USER limit=2", expect=200,
                       params={"search": "COMPAT-USER", "limit": "2"})
    api.ok(len((page or {}).get("users", [])) == 2 and (page or {}).get("totalnumber") == 5,
           "a search's totalnumber counts its matches, not the page", json.dumps(page)[:160])
    _, page = api.call("getUsers", "search without a match", expect=200, params={"search": "no-such-user"})
    api.ok((page or {}).get("users") == [] and (page or {}).get("totalnumber") == 0,
           "a search without a match is empty, totalnumber 0")
    api.call("getUsers", "filter=nonsense (malformed)", expect=400, params={"filter": "nonsense"})
    api.call("getUsers", "sort=nope", expect=400, params={"sort": "nope"})

    # getUser at /users/{userid}/accounts
    u5 = sorted(per_user["compat-User-5"])
    _, ua = api.call("getUser", "of a user with 7 accounts", expect=200, userid="compat-User-5")
    ua = ua or {}
    api.ok(ua.get("userid") == "compat-User-5" and ua.get("totalnumber") == 7
           and sorted(a.get("id") for a in ua.get("accounts", [])) == u5
           and all(a.get("userid") == "compat-User-5" for a in ua.get("accounts", [])),
           "getUser lists the user's accounts and their number", json.dumps(ua)[:160])
    seen, totals = pages("getUser", "limit=3 sort=id:desc", 3, "accounts", userid="compat-User-5",
                         params={"sort": "id:desc"})
    api.ok([a.get("id") for a in seen] == u5[::-1] and totals == {7},
           "getUser pages sorted id:desc give each account once", str([a.get("id") for a in seen]))
    _, ua = api.call("getUser", "of an unknown user", expect=200, userid="compat-nobody")
    api.ok((ua or {}).get("accounts") == [] and (ua or {}).get("totalnumber") == 0,
           "getUser of an unknown user has no accounts")
    _, ua = api.call("getUser", "at the alias /users/{userid}", expect=200, userid="compat-User-5",
                     path="/servers/{serverid}/users/{userid}")
    api.ok((ua or {}).get("totalnumber") == 7, "the alias answers the same")

    # Deletions
    u1 = per_user["compat-User-1"]
    _, d = api.call("deleteUserAccounts", "of a user with 3 accounts", expect=200, userid="compat-User-1")
    api.ok(d == {"deleted": 3}, "deleteUserAccounts deleted the user's 3 accounts", json.dumps(d))
    for i in u1:
        api.known.pop(i, None)
    _, d = api.call("deleteUserAccounts", "again", expect=200, userid="compat-User-1")
    api.ok(d == {"deleted": 0}, "deleteUserAccounts again deletes nothing", json.dumps(d))
    gone = api.phones[u1[0]].request("GET", "/app/v1/sessions")
    api.ok(gone.status_code == 401, "a deleted account's phone is refused", str(gone.status_code))
    _, d = api.call("deleteUser", "of a user with 4 accounts", expect=200, userid="compat-User-2")
    api.ok(d == {"deleted": 4}, "deleteUser deleted the user's 4 accounts", json.dumps(d))
    for i in per_user["compat-User-2"]:
        api.known.pop(i, None)
    api.call("deleteUser", "again (the user has no account)", expect=404, userid="compat-User-2")
    api.call("deleteUser", "of an unknown user", expect=404, userid="compat-nobody")
    victim = per_user["compat-User-3"][0]
    _, d = api.call("deleteAccount", "of an account", expect=200, accountid=victim)
    api.ok(d == {"deleted": 1}, "deleteAccount answers deleted 1", json.dumps(d))
    api.known.pop(victim, None)
    api.call("deleteAccount", "again", expect=404, accountid=victim)
    api.call("getAccount", "of the deleted account", expect=404, accountid=victim)
    _, all_ = api.call("getAllAccounts", "after the deletions", expect=200)
    api.ok((all_ or {}).get("totalnumber") == len(api.known)
           and sorted(a.get("id") for a in (all_ or {}).get("accounts", [])) == sorted(api.known),
           "getAllAccounts no longer lists the deleted accounts", f"{(all_ or {}).get('totalnumber')} vs {len(api.known)}")


def s_transactions(api: Api) -> None:
    S = api.serverid
    n = new_nonce()
    tina = api.enrol(n, userid="compat-tina", name="Tina's phone", push="compat-tina-device")
    stranger = api.enrol(new_nonce(), userid="compat-tom", name="Tom's phone")
    r, _ = api.call("getQrLogin", "(the link base for transaction links)", expect=200, nonce=n, content="text/plain")
    link_base = r.text.split("login/", 1)[0]
    asked = {"amount": "EUR 12.50", "benificiary": "Bakery \"Zoë\" Ltd", "description": "Invoice 2026-17"}

    api.call("createTransaction", "with an empty body", expect=400, nonce=n, body={})
    api.call("createTransaction", "with a 65-character amount", expect=400, nonce=n, body={"amount": "9" * 65})
    _, t = api.call("createTransaction", "on a logged-in session", expect=200, nonce=n, body=asked)
    t = t or {}
    tid = t.get("tid", "")
    api.need(tid, "createTransaction gave no tid")
    api.ok(t.get("txlink") == f"{link_base}tx/{S}/{tid}", "txlink is {link_base}tx/{serverid}/{tid}",
           str(t.get("txlink"))[:100])
    api.ok(b64any(t.get("txqrdata", "")) == str(t.get("txlink")).encode(), "txqrdata is the base64 of the link")
    api.ok(t.get("pushed") == 1, "the transaction was pushed to the session's account", str(t.get("pushed")))
    api.ok(abs(rfc3339_seconds(t.get("expires", "")) - time.time() - api.login_timeout) < 30,
           "the transaction expires login_timeout after its creation", str(t.get("expires")))
    _, res = api.call("getTransactionResult", "of a new transaction", expect=200, transactionid=tid)
    res = res or {}
    api.ok(res.get("tstatus") == "0" and res.get("state") == "new" and res.get("tid") == tid
           and res.get("hsid") == hsid_of(S, n) and all(res.get(k) == v for k, v in asked.items()),
           "a new transaction is tstatus \"0\" with what was asked", json.dumps(res)[:240])
    api.ok(rfc3339_seconds(res.get("expires", "")) - rfc3339_seconds(res.get("created", "")) == api.login_timeout
           and res.get("expires") == t.get("expires"),
           "the result's expires is created + login_timeout", f"{res.get('created')} .. {res.get('expires')}")

    # The phone: shown, refused to another account, a wrong signature refused, approved.
    other = stranger.request("GET", f"/app/v1/transactions/{tid}")
    api.ok(other.status_code == 403 and "not_your_transaction" in other.text,
           "another account may not see the transaction", f"{other.status_code} {other.text[:100]}")
    shown_r = tina.request("GET", f"/app/v1/transactions/{tid}")
    api.ok(shown_r.status_code == 200, "the phone gets the transaction", f"{shown_r.status_code} {shown_r.text[:100]}")
    api.need(shown_r.status_code == 200, "the phone cannot read the transaction")
    shown = shown_r.json()
    signed = shown.get("signed", "")
    try:
        content = json.loads(signed, object_pairs_hook=list)
    except ValueError:
        content = []
    api.ok([k for k, _ in content] == SIGNED_FIELDS, "the signed text has the fields in their order",
           signed[:160])
    content = dict(content)
    api.ok(signed == json.dumps(content, separators=(",", ":"), ensure_ascii=False),
           "the signed text is compact JSON")
    api.ok(content.get("type") == "nsauth-transaction-v1" and content.get("serverid") == S and content.get("tid") == tid
           and content.get("accountid") == tina.accountid and all(content.get(k) == v for k, v in asked.items()),
           "the signed text names the server, the transaction, the account and what was asked", signed[:200])
    api.ok(all(shown.get(k) == v for k, v in asked.items()) and shown.get("state") == "new",
           "the phone is shown what was asked")
    tampered = signed.replace(asked["amount"], "EUR 1250.00").encode()
    bad = tina.request("POST", f"/app/v1/transactions/{tid}/approve", {"signature": sign_rs(tina, tampered)})
    api.ok(bad.status_code == 400 and "bad_transaction_signature" in bad.text,
           "a signature over another text is refused", f"{bad.status_code} {bad.text[:100]}")
    _, res = api.call("getTransactionResult", "after a refused signature", expect=200, transactionid=tid)
    api.ok((res or {}).get("tstatus") == "0", "a refused signature leaves the transaction new")
    signature = sign_rs(tina, signed.encode())
    unverified = tina.request("POST", f"/app/v1/transactions/{tid}/approve", {"signature": signature})
    api.ok(unverified.status_code == 403 and "user_verification_required" in unverified.text,
           "an approval without the user verified on the phone is refused",
           f"{unverified.status_code} {unverified.text[:100]}")
    ok = tina.request("POST", f"/app/v1/transactions/{tid}/approve", {"signature": signature, "verification": "pin"})
    api.ok(ok.status_code == 200 and ok.json().get("state") == "approved", "the phone approves with its signature",
           f"{ok.status_code} {ok.text[:100]}")
    again = tina.request("POST", f"/app/v1/transactions/{tid}/approve", {"signature": signature, "verification": "pin"})
    api.ok(again.status_code == 200, "the same approval again answers 200", str(again.status_code))
    no = tina.request("POST", f"/app/v1/transactions/{tid}/decline", {})
    api.ok(no.status_code == 409, "an approved transaction cannot be declined", str(no.status_code))

    # The proof, checked here and not by the server.
    _, res = api.call("getTransactionResult", "of the approved transaction", expect=200, transactionid=tid)
    res = res or {}
    api.ok(res.get("tstatus") == "1" and res.get("state") == "approved" and res.get("accountid") == tina.accountid
           and res.get("userid") == "compat-tina", "the approved transaction is tstatus \"1\" with the account",
           json.dumps({k: v for k, v in res.items() if k not in ("signed", "pk", "signature")})[:200])
    api.ok(res.get("signed") == signed, "the result's signed text is the one the phone signed")
    api.ok(b64any(res.get("pk", "")) == spki(tina), "the result's pk is the account's SPKI")
    valid, why = verify_rs(res.get("pk", ""), str(res.get("signed", "")).encode(), res.get("signature", ""))
    api.ok(valid, "the signature verifies with pk over signed (Python cryptography)", why)
    try:
        proven = json.loads(res.get("signed", ""))
    except ValueError:
        proven = {}
    api.ok(proven.get("amount") == asked["amount"] and proven.get("tid") == tid and proven.get("serverid") == S,
           "the verified text holds the amount asked", str(proven.get("amount")))
    forged = str(res.get("signed", "")).replace(asked["amount"], "EUR 1250.00")
    valid, _ = verify_rs(res.get("pk", ""), forged.encode(), res.get("signature", ""))
    api.ok(forged != res.get("signed") and not valid, "a signed text with another amount fails verification")
    sig = b64any(res.get("signature", "")) or bytes(64)
    flipped = b64url(sig[:10] + bytes([sig[10] ^ 1]) + sig[11:])
    valid, _ = verify_rs(res.get("pk", ""), str(res.get("signed", "")).encode(), flipped)
    api.ok(not valid, "a changed signature fails verification")

    # Declined (the other spelling of the beneficiary is read too).
    _, t2 = api.call("createTransaction", "with \"beneficiary\"", expect=200, nonce=n,
                     body={"amount": "EUR 1.00", "beneficiary": "Carol"})
    tid2 = (t2 or {}).get("tid", "")
    api.need(tid2, "no second transaction")
    no = tina.request("POST", f"/app/v1/transactions/{tid2}/decline", {})
    api.ok(no.status_code == 200 and no.json().get("state") == "declined", "the phone declines",
           f"{no.status_code} {no.text[:100]}")
    _, res = api.call("getTransactionResult", "of the declined transaction", expect=200, transactionid=tid2)
    res = res or {}
    api.ok(res.get("tstatus") == "2" and res.get("state") == "declined" and res.get("benificiary") == "Carol"
           and "signed" not in res and "pk" not in res, "a declined transaction is tstatus \"2\" without a proof",
           json.dumps(res)[:200])
    again = tina.request("GET", f"/app/v1/transactions/{tid2}")
    signed2 = again.json().get("signed", "") if again.status_code == 200 else ""
    api.ok(again.status_code == 200 and (again.json() or {}).get("state") == "declined",
           "the phone sees the transaction declined", f"{again.status_code} {again.text[:100]}")
    late = tina.request("POST", f"/app/v1/transactions/{tid2}/approve",
                        {"signature": sign_rs(tina, signed2.encode()), "verification": "pin"})
    api.ok(late.status_code == 409 and "transaction_closed" in late.text,
           "a declined transaction cannot be approved (even with a good signature)",
           f"{late.status_code} {late.text[:100]}")
    unknown = tina.request("GET", f"/app/v1/transactions/{'A' * 43}")
    api.ok(unknown.status_code == 404, "the phone gets 404 for an unknown transaction", str(unknown.status_code))

    # One open transaction per session; a transaction ends with its login.
    _, t3 = api.call("createTransaction", "while none is open", expect=200, nonce=n, body={"description": "first"})
    _, t4 = api.call("createTransaction", "while one is open", expect=200, nonce=n, body={"description": "second"})
    tid3, tid4 = (t3 or {}).get("tid", ""), (t4 or {}).get("tid", "")
    api.need(tid3 and tid4, "no third and fourth transaction")
    _, res = api.call("getTransactionResult", "of a replaced transaction", expect=200, transactionid=tid3)
    api.ok((res or {}).get("tstatus") == "2" and (res or {}).get("state") == "expired",
           "a new transaction expires the open one", json.dumps(res)[:160])
    api.call("logout", "of the transaction's session", expect=200, nonce=n)
    _, res = api.call("getTransactionResult", "after the login ended", expect=200, transactionid=tid4)
    api.ok((res or {}).get("tstatus") == "2" and (res or {}).get("state") == "expired",
           "a transaction expires when its login ends", json.dumps(res)[:160])
    _, e = api.call("createTransaction", "on a logged-out session", expect=403, nonce=n, body=asked)
    api.ok((e or {}).get("error") == "not_logged_in", "the refusal is not_logged_in", json.dumps(e)[:120])
    _, e = api.call("createTransaction", "on a session never logged in", expect=403, nonce=new_nonce(), body=asked)
    api.ok((e or {}).get("error") == "not_logged_in", "the refusal is not_logged_in", json.dumps(e)[:120])
    api.call("getTransactionResult", "of an unknown transaction", expect=404, transactionid="A" * 43)


def s_management(api: Api) -> None:
    """The v2.2 management calls as the description writes them: servers, API keys, permissions,
    user roles, the four kinds of attributes and the visual hash; with the permission each
    needs (a website key is refused where v2.2 names another permission)."""
    root, site = api.rootkey, api.apikey

    # Servers.
    _, servers = api.call("getServers", "with the root key", expect=200, key=root)
    api.need(servers, "getServers gave no list")
    api.ok(any(s.get("serverid") == api.serverid for s in servers["servers"]), "getServers lists the demo server")
    api.call("getServers", "a page of one", expect=200, key=root, params={"limit": 1, "marker": 0})
    api.call("getServers", "with a website key", expect=403)
    _, made = api.call("createServer", "with serverName and app fields", expect=200, key=root,
                       body={"serverName": "v2.2 compat", "appname": "Compat", "pinTimeout": 10,
                             "pinTransTimeout": 0, "pingTime": 0, "serverFlags": [], "logo": "",
                             "appurl": "nsauth://", "siteurl": "https://compat.example/"})
    api.need(made and made.get("serverid"), "createServer gave no server")
    new = made["serverid"]
    api.ok(made.get("serverName") == "v2.2 compat" and made.get("pinTimeout") == 10,
           "createServer answers what it was given", json.dumps(made)[:200])
    api.call("createServer", "with a website key", expect=403, body={"serverName": "x"})
    _, got = api.call("getServer", "the new server", expect=200, key=root, serverid=new)
    got = dict(got or {})
    got["serverName"] = "v2.2 compat renamed"
    _, upd = api.call("updateServer", "with getServer's answer sent back changed", expect=200, key=root,
                      serverid=new, body=got)
    api.ok((upd or {}).get("serverName") == "v2.2 compat renamed", "updateServer changes the name")
    api.call("updateServer", "with a website key", expect=403, body={"serverName": "x"})
    api.call("getServer", "of a server that does not exist, with the root key", expect=404, key=root,
             serverid="AAAAAAAAAAAAAAAAAAAAAA")
    r, _ = api.call("getServerVash", "with a sessions key", expect=200)
    api.ok(r.content[:8] == b"\x89PNG\r\n\x1a\n" and png_size(r.content) == (160, 160),
           "getServerVash is a 160 x 160 PNG", repr(r.content[:16]))
    r2, _ = api.call("getServerVash", "of another server", expect=200, key=root, serverid=new)
    api.ok(r2.content != r.content, "two servers have different visual hashes")

    # API keys and permissions.
    _, key = api.call("createApiKey", "with a description", expect=200, key=root, params={"description": "compat"})
    api.need(key and key.get("apikey") and key.get("role"), "createApiKey gave no key")
    role = key["role"]
    _, keys = api.call("getApiKeys", "with the root key", expect=200, key=root)
    mine = [k for k in (keys or {}).get("apikeys", []) if k.get("role") == role]
    api.ok(mine and "apikey" not in mine[0], "getApiKeys lists the key without the key itself", json.dumps(mine)[:200])
    api.call("getApiKeys", "with a website key", expect=403)
    api.call("grantPermissions", "sessions and users", expect=200, key=root, serverid=new, roleid=role,
             body=["sessions", "users"])
    _, perms = api.call("getPermissions", "of the new role", expect=200, key=root, serverid=new, roleid=role)
    api.ok((perms or {}).get("permissions") == [{"acl": "sessions,users", "role": role, "server": new}],
           "getPermissions answers the grant", json.dumps(perms)[:200])
    _, allp = api.call("getAllPermissions", "of the new server", expect=200, key=root, serverid=new)
    api.ok(len((allp or {}).get("permissions", [])) == 2, "getAllPermissions: the creator's and the new role's",
           json.dumps(allp)[:300])
    sessions = api.http.get(api.url("/servers/{serverid}/sessions/", serverid=new),
                            headers={"X-apikey": key["apikey"], "X-nonce": new_nonce()}, timeout=TIMEOUT)
    api.ok(sessions.status_code == 200, "the new key works where it was granted", str(sessions.status_code))
    api.call("grantPermissions", "with a website key", expect=403, roleid=role, body=["sessions"])
    api.call("revokePermissions", "the grant", expect=200, key=root, serverid=new, roleid=role)
    api.call("getPermissions", "after revokePermissions", expect=404, key=root, serverid=new, roleid=role)
    sessions = api.http.get(api.url("/servers/{serverid}/sessions/", serverid=new),
                            headers={"X-apikey": key["apikey"], "X-nonce": new_nonce()}, timeout=TIMEOUT)
    api.ok(sessions.status_code == 401, "a revoked grant takes effect at once", str(sessions.status_code))
    r, v = api.call("getServers", "X-su from a key without root or setrid", expect=403, su=role)
    api.ok((v or {}).get("error") == "su_not_allowed", "X-su without root or setrid is su_not_allowed")
    _, v = api.call("getServers", "as another role through X-su from the root key", expect=403, key=root, su=role)

    # User roles.
    api.call("getUserRole", "of a user without one", expect=404, userid="compat-role")
    api.call("getOrCreateUserRole", "of a user that does not exist", expect=404, userid="compat-role")
    api.call("setUserAttributes", "creates the user", expect=200, body={"k": "v"}, userid="compat-role")
    _, made_role = api.call("getOrCreateUserRole", "creates it", expect=200, userid="compat-role")
    _, again = api.call("getUserRole", "then", expect=200, userid="compat-role")
    api.ok(made_role and again and made_role["role"] == again["role"], "the user's role is stable")

    # Attributes, each kind: set (replaces), update (merges), delete one, get, delete all.
    kinds = [("Global", root, {}), ("Server", root, {}), ("ServerPrivileged", root, {}),
             ("User", site, {"userid": "compat-attrs"})]
    for kind, k, pp in kinds:
        api.call(f"set{kind}Attributes", "two values", expect=200, key=k, body={"a": "x", "n": 1}, **pp)
        _, v = api.call(f"update{kind}Attributes", "one more", expect=200, key=k, body={"b": True}, **pp)
        api.ok(v == {"a": "x", "n": 1, "b": True}, f"update{kind}Attributes merges", json.dumps(v))
        _, v = api.call(f"delete{kind}Attribute", "one", expect=200, key=k, attributekey="a", **pp)
        r, _ = api.call(f"get{kind}Attributes", "as text", expect=200, key=k, **pp)
        try:
            got = json.loads(r.text)
        except ValueError:
            got = None
        api.ok(got == {"n": 1, "b": True}, f"get{kind}Attributes answers the object as text/plain", r.text[:200])
        api.call(f"update{kind}Attributes", "over the limits", expect=413, key=k,
                 body={f"k{i}": i for i in range(101)}, **pp)
        api.call(f"delete{kind}Attributes", "all", expect=200, key=k, **pp)
    api.call("getUserAttributes", "of a user that does not exist", expect=404, userid="compat-nobody")
    for kind in ("Global", "ServerPrivileged"):
        api.call(f"get{kind}Attributes", "with a website key", expect=403)


SECTIONS: list[tuple[str, Callable[[Api], None]]] = [
    ("types", s_types),
    ("session", s_session),
    ("enrol", s_enrol),
    ("accounts", s_accounts),
    ("logins", s_logins),
    ("bulk", s_bulk),
    ("transactions", s_transactions),
    ("management", s_management),
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="the local stack, e.g. http://127.0.0.1:8080")
    p.add_argument("--serverid", required=True)
    p.add_argument("--apikey", required=True)
    p.add_argument("--rootkey", required=True, help="a key whose role holds global root")
    p.add_argument("--types", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "v22_types.json"))
    p.add_argument("--only", help="comma-separated sections to run (default: all)")
    p.add_argument("--login-timeout", type=int, default=300, help="the demo server's login_timeout (s)")
    args = p.parse_args()

    checks = Checks()
    started = time.time()
    try:
        types = Types(args.types)
    except Exception as e:  # noqa: BLE001
        checks.result(False, "v22_types.json loads", f"{type(e).__name__}: {e}")
        print(f"compat: {checks.passed} passed, {checks.failed} failed", flush=True)
        return 1
    api = Api(args.base, args.serverid, args.apikey, types, checks)
    api.login_timeout = args.login_timeout
    api.rootkey = args.rootkey
    only = set(args.only.split(",")) if args.only else None
    for name, fn in SECTIONS:
        if only and name not in only:
            continue
        api.section = name
        try:
            fn(api)
        except Skip as e:
            api.ok(False, "the rest of the section was skipped", str(e))
        except Exception as e:  # noqa: BLE001 - a crash of a section is a failure, not a traceback
            where = traceback.extract_tb(e.__traceback__)[-1]
            api.ok(False, "the section ran to the end", f"{type(e).__name__}: {e} (line {where.lineno})")
    if not only:
        api.section = "all"
        missing = sorted(set(types.ops) - api.called)
        api.ok(not missing, "every v2.2 operation of the plan was called",
               ", ".join(missing) if missing else f"{len(api.called)} operations")
    print(f"[compat] {time.time() - started:.1f} s, {api.notes} notes", flush=True)
    print(f"compat: {checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
