//! Identifiers: server ids, nonces and the hsid derived from them (SPEC section 2).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// base64url without padding, as the phone API and every id use.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` for anything else.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Standard base64 with padding, as the v2.2 API uses for `loginqrdata`, `pk` and `logo`.
pub fn b64std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `n` bytes from the thread's cryptographically secure generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::fill(&mut buf[..]);
    buf
}

fn is_b64url_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// A server id: 16 random bytes as 22 base64url characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerId(String);

impl ServerId {
    pub fn generate() -> Self {
        ServerId(b64url(&random_bytes::<16>()))
    }

    /// Checks the shape only; whether the server exists is the store's business.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 22 && s.bytes().all(is_b64url_char)).then(|| ServerId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ServerId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ServerId::parse(&s).ok_or_else(|| format!("not a server id: {s:?}"))
    }
}

impl From<ServerId> for String {
    fn from(s: ServerId) -> String {
        s.0
    }
}

/// A validated nonce. Deliberately not `Debug`, `Display` or `Serialize`: the raw nonce is
/// never stored and never logged, only turned into an [`Hsid`].
pub struct Nonce(String);

pub const NONCE_MIN_LEN: usize = 22;
pub const NONCE_MAX_LEN: usize = 128;
/// A nonce of hex digits only carries 4 bits a character: 32 of them make 128 bits.
pub const HEX_NONCE_MIN_LEN: usize = 32;

impl Nonce {
    /// Validates the `X-nonce` header value (SPEC section 2). `None` is a missing header.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        let invalid = |m: String| ApiError::bad_request("invalid_nonce", m);
        let s = value.ok_or_else(|| {
            invalid("the X-nonce header is missing; send the session's nonce in it".into())
        })?;
        if s.len() < NONCE_MIN_LEN || s.len() > NONCE_MAX_LEN {
            return Err(invalid(format!(
                "X-nonce must be {NONCE_MIN_LEN} to {NONCE_MAX_LEN} characters long, got {}",
                s.len()
            )));
        }
        if !s
            .bytes()
            .all(|c| is_b64url_char(c) || matches!(c, b'+' | b'/' | b'=' | b',' | b'.'))
        {
            // `,` and `-` are PHP's session id alphabet, `.` appears in other frameworks'.
            return Err(invalid(
                "X-nonce may only hold the characters A-Z a-z 0-9 + / = _ - , .".into(),
            ));
        }
        if s.len() < HEX_NONCE_MIN_LEN && s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "a nonce of hex digits only must be at least {HEX_NONCE_MIN_LEN} characters (128 bits)"
            )));
        }
        Ok(Nonce(s.to_string()))
    }

    /// A fresh server-chosen nonce: 128 random bits as 22 base64url characters.
    pub fn generate() -> Self {
        Nonce(b64url(&random_bytes::<16>()))
    }

    /// The raw value, for the one place that hands it out: createSession's answer.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hsid(&self, server: &ServerId) -> Hsid {
        Hsid::derive(server, self)
    }
}

/// An account id in a path or a signature header: a positive integer of at most 15 digits.
pub fn parse_accountid(v: &str) -> Result<u64, ApiError> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 && v.len() <= 15 && v.bytes().all(|c| c.is_ascii_digit()) => Ok(n),
        _ => Err(ApiError::invalid_field(
            "accountid",
            "must be a positive integer",
        )),
    }
}

/// The public handle of a session: base64url of the first 16 bytes of
/// SHA-256("nsauth-hsid-v1" 0x00 serverid 0x00 nonce).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hsid(String);

impl Hsid {
    pub fn derive(server: &ServerId, nonce: &Nonce) -> Self {
        let mut h = Sha256::new();
        h.update(b"nsauth-hsid-v1\0");
        h.update(server.as_str().as_bytes());
        h.update(b"\0");
        h.update(nonce.0.as_bytes());
        let digest = h.finalize();
        Hsid(b64url(&digest[..16]))
    }

    /// Checks the shape of an hsid that a phone or browser names (22 base64url characters).
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 22 && s.bytes().all(is_b64url_char)).then(|| Hsid(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hsid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Hsid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Hsid::parse(&s).ok_or_else(|| format!("not an hsid: {s:?}"))
    }
}

impl From<Hsid> for String {
    fn from(s: Hsid) -> String {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Nonce, ApiError>) -> (&'static str, String) {
        match r {
            Err(e) => (e.code(), e.to_string()),
            Ok(_) => ("accepted", String::new()),
        }
    }

    #[test]
    fn nonce_missing_header() {
        let (c, m) = code(Nonce::parse(None));
        assert_eq!(c, "invalid_nonce");
        assert!(m.contains("missing"), "{m}");
    }

    #[test]
    fn nonce_length_bounds() {
        assert_eq!(code(Nonce::parse(Some(&"a".repeat(21)))).0, "invalid_nonce");
        assert!(Nonce::parse(Some(&"g".repeat(22))).is_ok());
        assert!(Nonce::parse(Some(&"g".repeat(128))).is_ok());
        let (c, m) = code(Nonce::parse(Some(&"g".repeat(129))));
        assert_eq!(c, "invalid_nonce");
        assert!(m.contains("129"), "{m}");
        assert_eq!(code(Nonce::parse(Some(""))).0, "invalid_nonce");
    }

    #[test]
    fn nonce_characters() {
        assert!(Nonce::parse(Some("Abc+/=_-0123456789xyzQ")).is_ok());
        // PHP's session ids (`-` and `,` alphabet) and dotted ids of other frameworks.
        assert!(Nonce::parse(Some("a-b,c-d,e-f,g-h,i-j,k-l,mn")).is_ok());
        assert!(Nonce::parse(Some("s3ss10n.1d3nt1f13r.x9ZqW2")).is_ok());
        for bad in [
            "abcdefghijklmnopqrstu v",
            "abcdefghijklmnopqrstu:v",
            "abcdefghijklmnopqrstu\nv",
            "abcdefghijklmnopqrstuä",
            "abcdefghijklmnopqrstu%20",
        ] {
            assert_eq!(code(Nonce::parse(Some(bad))).0, "invalid_nonce", "{bad:?}");
        }
    }

    #[test]
    fn hex_nonce_needs_128_bits() {
        let (c, m) = code(Nonce::parse(Some(&"0123456789abcdef"[..].repeat(2)[..31])));
        assert_eq!(c, "invalid_nonce");
        assert!(m.contains("hex"), "{m}");
        assert!(Nonce::parse(Some(&"0123456789abcdef".repeat(2))).is_ok());
        // 31 characters that are not all hex are fine: they carry more than 4 bits each.
        assert!(Nonce::parse(Some(&format!("{}g", &"0123456789abcdef".repeat(2)[..30]))).is_ok());
    }

    #[test]
    fn hsid_matches_independent_vector() {
        // Computed with Python's hashlib, independently of this code:
        // base64.urlsafe_b64encode(hashlib.sha256(b"nsauth-hsid-v1\0" + sid + b"\0" + nonce)
        //     .digest()[:16]).rstrip(b"=")
        let sid = ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let nonce = Nonce::parse(Some("the-quick-brown-fox-jumps-over")).unwrap();
        assert_eq!(nonce.hsid(&sid).as_str(), HSID_VECTOR);
        let other = ServerId::parse("AAECAwQFBgcICQoLDA0OEA").unwrap();
        assert_ne!(nonce.hsid(&other).as_str(), HSID_VECTOR);
    }

    const HSID_VECTOR: &str = "5KvIv6Y0y8IgLQULP8ZR_Q";

    #[test]
    fn generated_ids_have_the_right_shape() {
        let s = ServerId::generate();
        assert!(ServerId::parse(s.as_str()).is_some());
        let n = Nonce::generate();
        assert_eq!(n.expose().len(), 22);
        assert!(Nonce::parse(Some(n.expose())).is_ok());
        assert_ne!(Nonce::generate().expose(), n.expose());
        assert!(Hsid::parse(n.hsid(&s).as_str()).is_some());
    }

    #[test]
    fn accountids() {
        assert_eq!(parse_accountid("42").unwrap(), 42);
        for bad in ["0", "-1", "+1", "1.0", "abc", "1234567890123456", ""] {
            assert!(parse_accountid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_id_and_hsid_shapes() {
        assert!(ServerId::parse("AAECAwQFBgcICQoLDA0ODw").is_some());
        assert!(ServerId::parse("AAECAwQFBgcICQoLDA0OD").is_none());
        assert!(ServerId::parse("AAECAwQFBgcICQoLDA0OD/").is_none());
        assert!(Hsid::parse("AAECAwQFBgcICQoLDA0OD=").is_none());
    }
}
