//! The Rust signing code against the vector made by an independent implementation (Python's
//! `cryptography`, shared/testdata/signing_vector.py): same canonical bytes, the Python
//! signatures verify, and the same scalar gives the same public key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nsauth_protocol::signing::{
    AccountRef, AuthHeader, canonical_bytes, public_key_b64url, sign, verify,
};
use p256::ecdsa::SigningKey;
use serde_json::Value;

const VECTOR: &str = include_str!("../../../shared/testdata/signing_vector.json");

fn vector() -> Value {
    serde_json::from_str(VECTOR).expect("signing_vector.json is JSON")
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} is a string"))
}

fn scalar_key(v: &Value) -> SigningKey {
    let scalar = URL_SAFE_NO_PAD
        .decode(text(v, "private_scalar_b64url"))
        .unwrap();
    assert_eq!(scalar.len(), 32);
    let hex: String = scalar.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, text(v, "private_scalar_hex"));
    SigningKey::from_slice(&scalar).unwrap()
}

#[test]
fn same_public_key_from_the_scalar() {
    let v = vector();
    let spki = text(&v, "publickey_spki_b64url");
    assert_eq!(URL_SAFE_NO_PAD.decode(spki).unwrap().len(), 91);
    assert_eq!(public_key_b64url(&scalar_key(&v)), spki);
}

#[test]
fn canonical_bytes_and_python_signatures() {
    let v = vector();
    let spki = text(&v, "publickey_spki_b64url");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    assert!(
        cases
            .iter()
            .any(|c| c["method"] == "GET" && text(c, "path_with_query").contains('?'))
    );
    assert!(cases.iter().any(|c| c["body"] == ""));
    for c in cases {
        let name = text(c, "name");
        let ts = c["ts"].as_i64().unwrap();
        let body = text(c, "body").as_bytes();
        let canonical = canonical_bytes(text(c, "method"), text(c, "path_with_query"), ts, body);
        assert_eq!(
            String::from_utf8(canonical.clone()).unwrap(),
            text(c, "canonical"),
            "{name}"
        );
        assert!(
            text(c, "canonical").ends_with(text(c, "body_sha256_hex")),
            "{name}"
        );

        let sig: [u8; 64] = URL_SAFE_NO_PAD
            .decode(text(c, "signature_b64url"))
            .unwrap()
            .try_into()
            .expect("a raw r||s signature is 64 bytes");
        verify(spki, &canonical, &sig).unwrap_or_else(|e| panic!("{name}: {e}"));
        // ... and only over these bytes.
        let tampered = canonical_bytes(text(c, "method"), text(c, "path_with_query"), ts + 1, body);
        assert!(verify(spki, &tampered, &sig).is_err(), "{name}");

        // The Python header parses as the server parses it, and formats back identically.
        let header = AuthHeader::parse(Some(text(c, "authorization")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(header.serverid.as_str(), text(&v, "serverid"));
        assert_eq!(
            header.account,
            AccountRef::Id(text(&v, "account").parse().unwrap())
        );
        assert_eq!(header.ts, ts);
        assert_eq!(header.sig, sig);
        assert_eq!(header.format(), text(c, "authorization"));

        // A Rust signature with the same scalar verifies with the Python public key.
        let ours = sign(&scalar_key(&v), &canonical);
        verify(spki, &canonical, &ours).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_doc_example_matches_the_vector() {
    let doc = include_str!("../../../docs/phone-protocol.md");
    let v = vector();
    let first = &v["cases"][0];
    assert_eq!(text(first, "body"), r#"{"match":"42"}"#);
    let indented: String = text(first, "canonical")
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    assert!(
        doc.contains(&indented),
        "docs/phone-protocol.md's example differs from the vector:\n{indented}"
    );
}
