//! Request signing (SPEC 5.1, docs/phone-protocol.md): ECDSA P-256 with SHA-256 over
//! canonical bytes.
//!
//! `Authorization: NSAuth-P256 server=<serverid>,account=<accountid|new>,ts=<unix s>,sig=<b64url r||s>`
//! over the lines (joined by `\n`) `NSAUTH-P256-V2`, METHOD, HOST, PATH_WITH_QUERY, serverid,
//! account, ts, hex(SHA-256(body)). The server, the account and the API host are signed, so
//! a signature made for one account, server or deployment is worth nothing for another,
//! even where the same key is enrolled twice.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// A phone's P-256 private key, as [`sign`] takes it.
pub use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::ids::{ServerId, b64url};

pub const SCHEME: &str = "NSAuth-P256";
pub const CONTEXT: &str = "NSAUTH-P256-V2";
/// The most a request's timestamp may differ from the server clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 120;
/// A P-256 SPKI is 91 bytes; anything much longer is not one.
const MAX_PUBLIC_KEY_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRef {
    /// Enrolment: the request is signed by the key it enrols.
    New,
    Id(u64),
}

impl std::fmt::Display for AccountRef {
    /// As the header and the canonical bytes write it: `new` or the decimal id.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountRef::New => f.write_str("new"),
            AccountRef::Id(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub serverid: ServerId,
    pub account: AccountRef,
    pub ts: i64,
    pub sig: [u8; 64],
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::unauthorized("bad_signature", message)
}

impl AuthHeader {
    /// Parses the header; every malformation is `bad_signature`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        let v = value.ok_or_else(|| {
            bad("the Authorization header is missing; sign the request (NSAuth-P256)")
        })?;
        let params = v
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad("the Authorization scheme must be NSAuth-P256"))?;
        let (mut server, mut account, mut ts, mut sig) = (None, None, None, None);
        for part in params.split(',') {
            let (k, val) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| bad("Authorization parameters are key=value pairs"))?;
            let slot = match k {
                "server" => &mut server,
                "account" => &mut account,
                "ts" => &mut ts,
                "sig" => &mut sig,
                _ => return Err(bad(format!("unknown Authorization parameter {k:?}"))),
            };
            if slot.replace(val).is_some() {
                return Err(bad(format!("Authorization parameter {k} given twice")));
            }
        }
        let (Some(server), Some(account), Some(ts), Some(sig)) = (server, account, ts, sig) else {
            return Err(bad("Authorization needs server, account, ts and sig"));
        };
        let serverid = ServerId::parse(server).ok_or_else(|| bad("server is not a server id"))?;
        let account = match account {
            "new" => AccountRef::New,
            n => AccountRef::Id(
                crate::ids::parse_accountid(n).map_err(|_| bad("account is not an account id"))?,
            ),
        };
        if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("ts must be Unix seconds"));
        }
        let ts: i64 = ts.parse().map_err(|_| bad("ts must be Unix seconds"))?;
        let sig: [u8; 64] = URL_SAFE_NO_PAD
            .decode(sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("sig must be 64 bytes (r||s) in base64url"))?;
        Ok(AuthHeader {
            serverid,
            account,
            ts,
            sig,
        })
    }

    pub fn format(&self) -> String {
        format!(
            "{SCHEME} server={},account={},ts={},sig={}",
            self.serverid,
            self.account,
            self.ts,
            b64url(&self.sig)
        )
    }

    /// `stale_timestamp` outside the clock window (`now` in Unix seconds).
    pub fn check_time(&self, now: i64) -> Result<(), ApiError> {
        if (self.ts - now).abs() > MAX_SKEW_SECONDS {
            return Err(ApiError::unauthorized(
                "stale_timestamp",
                format!(
                    "ts is more than {MAX_SKEW_SECONDS} s from the server clock ({now}); check the phone's clock"
                ),
            ));
        }
        Ok(())
    }
}

/// What a request's signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Canonical<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// The API's host as the request's `Host` header carries it: the host of the API base
    /// URL, with `:port` only when the port is not the scheme's default. Compared without
    /// regard to case.
    pub host: &'a str,
    /// The path and query exactly as on the request line.
    pub path_with_query: &'a str,
    pub serverid: &'a ServerId,
    pub account: AccountRef,
    /// Unix seconds, as in the header.
    pub ts: i64,
    pub body: &'a [u8],
}

/// The bytes a request's signature covers (NSAUTH-P256-V2).
pub fn canonical_bytes(r: &Canonical) -> Vec<u8> {
    let body_hash = Sha256::digest(r.body);
    let mut hex = String::with_capacity(64);
    for b in body_hash {
        hex.push_str(&format!("{b:02x}"));
    }
    format!(
        "{CONTEXT}\n{}\n{}\n{}\n{}\n{}\n{}\n{hex}",
        r.method,
        r.host.to_ascii_lowercase(),
        r.path_with_query,
        r.serverid,
        r.account,
        r.ts
    )
    .into_bytes()
}

/// Decodes a base64url SPKI into a P-256 key: 400 for the enrol body's field, since a
/// malformed key there is bad input rather than a failed signature.
pub fn decode_public_key(field: &str, b64: &str) -> Result<VerifyingKey, ApiError> {
    if b64.len() > MAX_PUBLIC_KEY_CHARS {
        return Err(ApiError::invalid_field(field, "not a P-256 public key"));
    }
    let der = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| ApiError::invalid_field(field, "must be base64url (no padding) of an SPKI"))?;
    VerifyingKey::from_public_key_der(&der)
        .map_err(|_| ApiError::invalid_field(field, "not a P-256 public key in SPKI form"))
}

/// The fingerprint of a public key: base64url of SHA-256 of its SPKI DER. One key has one
/// fingerprint, whatever text carried it; `None` for text that is not base64url.
pub fn key_fingerprint(publickey_b64url: &str) -> Option<String> {
    let der = URL_SAFE_NO_PAD.decode(publickey_b64url).ok()?;
    Some(b64url(&Sha256::digest(der)))
}

/// Verifies `sig` over `canonical` with a stored (already validated) key.
pub fn verify(publickey_b64url: &str, canonical: &[u8], sig: &[u8; 64]) -> Result<(), ApiError> {
    let key = decode_public_key("publickey", publickey_b64url)
        .map_err(|_| bad("the account's stored key cannot be read"))?;
    let sig = Signature::from_slice(sig).map_err(|_| bad("sig is not a P-256 signature"))?;
    key.verify(canonical, &sig)
        .map_err(|_| bad("the signature does not match the request and the account key"))
}

/// Signs canonical bytes (the reference authenticator and tests; the server never signs).
pub fn sign(key: &SigningKey, canonical: &[u8]) -> [u8; 64] {
    let sig: Signature = key.sign(canonical);
    sig.to_bytes().into()
}

/// base64url SPKI of a signing key's public key.
pub fn public_key_b64url(key: &SigningKey) -> String {
    key.verifying_key()
        .to_public_key_der()
        .map(|d| b64url(d.as_bytes()))
        .unwrap_or_default()
}

/// A fresh key from the OS generator.
pub fn generate_key() -> SigningKey {
    loop {
        // A uniformly random 32-byte string is a valid scalar except with negligible
        // probability (zero or at least the group order); draw again then.
        if let Ok(k) = SigningKey::from_slice(&crate::ids::random_bytes::<32>()) {
            return k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(sig: &[u8; 64]) -> String {
        format!(
            "NSAuth-P256 server=AAECAwQFBgcICQoLDA0ODw,account=7,ts=1800000000,sig={}",
            b64url(sig)
        )
    }

    #[test]
    fn parses_and_formats() {
        let h = AuthHeader::parse(Some(&header(&[1; 64]))).unwrap();
        assert_eq!(h.account, AccountRef::Id(7));
        assert_eq!(h.ts, 1_800_000_000);
        assert_eq!(h.format(), header(&[1; 64]));
        let n = AuthHeader::parse(Some(&header(&[1; 64]).replace("account=7", "account=new")));
        assert_eq!(n.unwrap().account, AccountRef::New);
    }

    #[test]
    fn refuses_malformed_headers() {
        let good = header(&[1; 64]);
        for bad in [
            String::new(),
            good.replace("NSAuth-P256 ", "Bearer "),
            good.replace("NSAuth-P256 ", "NSAuth-P256"),
            good.replace("account=7", "account=0"),
            good.replace("account=7", "account=x"),
            good.replace("ts=1800000000", "ts=-5"),
            good.replace("ts=1800000000", "ts=1e9"),
            good.replace("server=AAECAwQFBgcICQoLDA0ODw", "server=short"),
            format!("{good},ts=1"),
            format!("{good},extra=1"),
            good.replace(",sig=", ",sog="),
            good[..good.len() - 2].to_string(),
        ] {
            let e = AuthHeader::parse(Some(&bad)).unwrap_err();
            assert_eq!(e.code(), "bad_signature", "{bad}");
            assert!(matches!(e, ApiError::Unauthorized { .. }), "{bad}");
        }
        assert_eq!(AuthHeader::parse(None).unwrap_err().code(), "bad_signature");
    }

    #[test]
    fn time_window() {
        let mut h = AuthHeader::parse(Some(&header(&[1; 64]))).unwrap();
        assert!(h.check_time(h.ts + 120).is_ok());
        assert!(h.check_time(h.ts - 120).is_ok());
        assert_eq!(
            h.check_time(h.ts + 121).unwrap_err().code(),
            "stale_timestamp"
        );
        h.ts -= 121;
        assert_eq!(
            h.check_time(h.ts + 242).unwrap_err().code(),
            "stale_timestamp"
        );
    }

    fn approve<'a>(serverid: &'a ServerId, body: &'a [u8]) -> Canonical<'a> {
        Canonical {
            method: "POST",
            host: "api.example.com",
            path_with_query: "/app/v1/sessions/x/approve",
            serverid,
            account: AccountRef::Id(6),
            ts: 1_800_000_000,
            body,
        }
    }

    #[test]
    fn sign_and_verify_round_trip_and_tamper() {
        let key = generate_key();
        let pk = public_key_b64url(&key);
        let sid = ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let other_sid = ServerId::parse("BBECAwQFBgcICQoLDA0ODw").unwrap();
        let r = approve(&sid, b"{}");
        let c = canonical_bytes(&r);
        let sig = sign(&key, &c);
        assert!(verify(&pk, &c, &sig).is_ok());
        // Every part is bound: body, server, account, host, method, path, time.
        let changed = [
            Canonical { body: b"{ }", ..r },
            Canonical {
                serverid: &other_sid,
                ..r
            },
            Canonical {
                account: AccountRef::Id(3),
                ..r
            },
            Canonical {
                account: AccountRef::New,
                ..r
            },
            Canonical {
                host: "staging.example.com",
                ..r
            },
            Canonical { method: "PUT", ..r },
            Canonical {
                path_with_query: "/app/v1/sessions/y/approve",
                ..r
            },
            Canonical { ts: r.ts + 1, ..r },
        ];
        for c2 in changed {
            let e = verify(&pk, &canonical_bytes(&c2), &sig).unwrap_err();
            assert_eq!(e.code(), "bad_signature", "{c2:?}");
        }
        // The host is compared without regard to case.
        let upper = Canonical {
            host: "API.Example.COM",
            ..r
        };
        assert!(verify(&pk, &canonical_bytes(&upper), &sig).is_ok());
        let other = public_key_b64url(&generate_key());
        assert_eq!(
            verify(&other, &c, &sig).unwrap_err().code(),
            "bad_signature"
        );
        assert!(decode_public_key("publickey", "AAAA").is_err());
    }

    #[test]
    fn canonical_bytes_layout() {
        let sid = ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let c = canonical_bytes(&Canonical {
            method: "GET",
            host: "127.0.0.1:8080",
            path_with_query: "/app/v1/sessions?limit=5",
            serverid: &sid,
            account: AccountRef::Id(7),
            ts: 12,
            body: b"",
        });
        assert_eq!(
            String::from_utf8(c).unwrap(),
            "NSAUTH-P256-V2\nGET\n127.0.0.1:8080\n/app/v1/sessions?limit=5\n\
             AAECAwQFBgcICQoLDA0ODw\n7\n12\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
