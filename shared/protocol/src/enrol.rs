//! Enrolment tokens (SPEC 5.2): 128 random bits, single use, 10 minutes; the server stores
//! only a hash. The token reaches the phone in the enrolment link.

use sha2::{Digest, Sha256};

use crate::ids::{ServerId, b64url, random_bytes};

/// How long an enrolment link may be used, in seconds.
pub const TOKEN_LIFETIME_SECONDS: i64 = 600;

/// A fresh token: 128 random bits, base64url (22 characters).
pub fn generate_token() -> String {
    b64url(&random_bytes::<16>())
}

/// What the store keys a token by: SHA-256 of the token, base64url.
pub fn token_hash(token: &str) -> String {
    b64url(&Sha256::digest(token.as_bytes()))
}

pub fn valid_token_shape(token: &str) -> bool {
    token.len() == 22
        && token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// `{link_base}enrol/{serverid}/{token}?api=<url-encoded API base>`.
pub fn enrol_link(link_base: &str, server: &ServerId, token: &str, api_base: &str) -> String {
    let api = percent_encoding::utf8_percent_encode(api_base, percent_encoding::NON_ALPHANUMERIC);
    format!("{link_base}enrol/{server}/{token}?api={api}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_links() {
        let t = generate_token();
        assert!(valid_token_shape(&t));
        assert_ne!(token_hash(&t), t);
        assert!(!valid_token_shape("short"));
        let s = ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        assert_eq!(
            enrol_link("nsauth://", &s, "tok", "http://127.0.0.1:8080/"),
            "nsauth://enrol/AAECAwQFBgcICQoLDA0ODw/tok?api=http%3A%2F%2F127%2E0%2E0%2E1%3A8080%2F"
        );
    }
}
