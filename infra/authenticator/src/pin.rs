//! The app's PIN: how this authenticator verifies its user before an approval. The key
//! file keeps only a slow hash of it (PBKDF2-HMAC-SHA256 with a random salt), so a copy
//! of the file does not give the PIN away to a quick search.

use nsauth_protocol::ids::{b64url, b64url_decode};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const ROUNDS: u32 = 600_000;
pub const MIN_PIN_CHARS: usize = 4;
pub const MAX_PIN_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinHash {
    /// base64url of 16 random bytes.
    pub salt: String,
    pub rounds: u32,
    /// base64url of the 32-byte derived key.
    pub hash: String,
}

fn derive(pin: &str, salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), salt, rounds, &mut out);
    out
}

/// A PIN the authenticator accepts: 4 to 64 characters, no control characters.
pub fn validate(pin: &str) -> Result<(), String> {
    let n = pin.chars().count();
    if !(MIN_PIN_CHARS..=MAX_PIN_CHARS).contains(&n) || pin.chars().any(char::is_control) {
        return Err(format!(
            "a PIN is {MIN_PIN_CHARS} to {MAX_PIN_CHARS} characters without control characters"
        ));
    }
    Ok(())
}

impl PinHash {
    pub fn new(pin: &str) -> Result<PinHash, String> {
        validate(pin)?;
        let salt: [u8; 16] = rand::random();
        Ok(PinHash {
            salt: b64url(&salt),
            rounds: ROUNDS,
            hash: b64url(&derive(pin, &salt, ROUNDS)),
        })
    }

    /// Whether `pin` is the PIN; compared in constant time.
    pub fn matches(&self, pin: &str) -> bool {
        let (Some(salt), Some(want)) = (b64url_decode(&self.salt), b64url_decode(&self.hash))
        else {
            return false;
        };
        let got = derive(pin, &salt, self.rounds);
        want.len() == got.len() && want.iter().zip(got).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
    }

    /// A stored hash that can be checked at all (loaded files are checked with this).
    pub fn well_formed(&self) -> bool {
        b64url_decode(&self.salt).is_some_and(|s| s.len() >= 16)
            && b64url_decode(&self.hash).is_some_and(|h| h.len() == 32)
            && self.rounds >= 10_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_matches_only_itself_and_is_not_stored() {
        let h = PinHash::new("2468").unwrap();
        assert!(h.well_formed());
        assert!(h.matches("2468"));
        assert!(!h.matches("2469"));
        assert!(!h.matches(""));
        let text = serde_json::to_string(&h).unwrap();
        assert!(!text.contains("2468"));
        // A fresh salt each time: the same PIN hashes differently.
        assert_ne!(PinHash::new("2468").unwrap().hash, h.hash);
        assert!(PinHash::new("12").is_err());
        assert!(PinHash::new("12\n34").is_err());
    }

    #[test]
    fn the_derivation_is_pbkdf2_hmac_sha256() {
        // RFC 7914 section 11's PBKDF2-HMAC-SHA256 vector (P="passwd", S="salt", c=1).
        let out = derive("passwd", b"salt", 1);
        assert_eq!(out[..8], [0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f]);
    }
}
