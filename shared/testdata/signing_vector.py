#!/usr/bin/env python3
"""Independent test vector of the phone request signing (docs/phone-protocol.md).

Uses Python's `cryptography` package only (no nsauth code), so that the Rust signing code
is checked against a second implementation of the same bytes:

    .tools/py/bin/python shared/testdata/signing_vector.py          # writes signing_vector.json
    .tools/py/bin/python shared/testdata/signing_vector.py --check  # checks the committed file

    .tools/py/bin/python shared/testdata/signing_vector.py --verify  # checks signatures on stdin

Everything is deterministic except the ECDSA signatures (random k), so the JSON is written
once and committed; `--check` recomputes the rest and verifies the committed signatures.
`--verify` reads JSON lines `{"publickey_spki_b64url", "canonical", "signature_b64url"}`
(signatures another implementation made) and says `ok N` or names the first that fails.
The Rust side is infra/authenticator/tests/signing_vector.rs (both directions).
"""

import base64
import hashlib
import json
import pathlib
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

OUT = pathlib.Path(__file__).with_name("signing_vector.json")

# A fixed private scalar (the P-256 key of RFC 6979 appendix A.2.5). Test use only.
PRIVATE_SCALAR_HEX = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
SERVERID = "AAECAwQFBgcICQoLDA0ODw"

CASES = [
    {
        "name": "approve with a match",
        "method": "POST",
        "host": "api.example.com",
        "path_with_query": "/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/approve",
        "account": "7",
        "ts": 1800000000,
        "body": '{"match":"42"}',
    },
    {
        "name": "logout with an empty body",
        "method": "POST",
        "host": "api.example.com",
        "path_with_query": "/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/logout",
        "account": "7",
        "ts": 1800000000,
        "body": "",
    },
    {
        "name": "session list: GET with a query, a port in the host and an empty body",
        "method": "GET",
        "host": "127.0.0.1:8080",
        "path_with_query": "/app/v1/sessions?limit=5",
        "account": "7",
        "ts": 1800000001,
        "body": "",
    },
    {
        "name": "enrolment: account=new, an API base with a path, a host in capitals",
        "method": "POST",
        "host": "Login.Example.COM",
        "path_with_query": "/prod/app/v1/enrol",
        "account": "new",
        "ts": 1800000002,
        "body": '{"token":"q-_0123456789abcdefABC"}',
    },
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(c: dict, body: bytes) -> bytes:
    """NSAUTH-P256-V2: method, host (lower case), path and query, server, account, ts and
    the body's SHA-256, one to a line."""
    lines = [
        "NSAUTH-P256-V2",
        c["method"],
        c["host"].lower(),
        c["path_with_query"],
        SERVERID,
        c["account"],
        str(c["ts"]),
        hashlib.sha256(body).hexdigest(),
    ]
    return "\n".join(lines).encode("utf-8")


def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(PRIVATE_SCALAR_HEX, 16), ec.SECP256R1())


def spki_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def raw_signature(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_raw(key: ec.EllipticCurvePrivateKey, message: bytes, raw: bytes) -> None:
    assert len(raw) == 64, "a raw signature is 64 bytes"
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.public_key().verify(der, message, ec.ECDSA(hashes.SHA256()))  # raises if invalid


def header(account: str, ts: int, sig: bytes) -> str:
    return f"NSAuth-P256 server={SERVERID},account={account},ts={ts},sig={b64url(sig)}"


def build() -> dict:
    key = private_key()
    spki = spki_der(key)
    assert len(spki) == 91
    cases = []
    for c in CASES:
        body = c["body"].encode("utf-8")
        msg = canonical(c, body)
        sig = raw_signature(key, msg)
        verify_raw(key, msg, sig)
        cases.append(
            {
                **c,
                "body_sha256_hex": hashlib.sha256(body).hexdigest(),
                "canonical": msg.decode("utf-8"),
                "signature_b64url": b64url(sig),
                "authorization": header(c["account"], c["ts"], sig),
            }
        )
    return {
        "about": "Phone request signing vector made with Python cryptography by "
        "shared/testdata/signing_vector.py; see docs/phone-protocol.md",
        "curve": "P-256",
        "private_scalar_hex": PRIVATE_SCALAR_HEX,
        "private_scalar_b64url": b64url(bytes.fromhex(PRIVATE_SCALAR_HEX)),
        "publickey_spki_b64url": b64url(spki),
        "serverid": SERVERID,
        "cases": cases,
    }


def check() -> None:
    committed = json.loads(OUT.read_text(encoding="utf-8"))
    fresh = build()
    key = private_key()
    for k in ("curve", "private_scalar_hex", "private_scalar_b64url", "publickey_spki_b64url"):
        assert committed[k] == fresh[k], f"{k} differs"
    assert len(committed["cases"]) == len(fresh["cases"]), "number of cases differs"
    for old, new in zip(committed["cases"], fresh["cases"]):
        for k in ("method", "host", "path_with_query", "account", "ts", "body",
                  "body_sha256_hex", "canonical"):
            assert old[k] == new[k], f"{old['name']}: {k} differs"
        sig = b64url_decode(old["signature_b64url"])
        verify_raw(key, old["canonical"].encode("utf-8"), sig)
        assert old["authorization"] == header(old["account"], old["ts"], sig), \
            f"{old['name']}: header differs"
    print(f"{OUT.name}: OK ({len(committed['cases'])} cases)")


def verify_stdin() -> None:
    """Verifies signatures another implementation made, one JSON object a line."""
    n = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        spki = b64url_decode(item["publickey_spki_b64url"])
        public = serialization.load_der_public_key(spki)
        raw = b64url_decode(item["signature_b64url"])
        der = encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )
        try:
            public.verify(der, item["canonical"].encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        except Exception:  # cryptography raises InvalidSignature
            sys.exit(f"signature {n + 1} does not verify: {item['canonical']!r}")
        n += 1
    print(f"ok {n}")


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        check()
    elif sys.argv[1:] == ["--verify"]:
        verify_stdin()
    elif sys.argv[1:]:
        sys.exit("usage: signing_vector.py [--check | --verify]")
    else:
        OUT.write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
