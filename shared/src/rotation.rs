//! Rotating login QR codes (setting `qr_rotation`; docs/security.md, "Rotating QR code").
//!
//! A relayed screenshot of a login page's QR code is the cheapest cross-device phish. With
//! rotation, the code's link carries a time step and a MAC of (hsid, step) under a key of
//! the login attempt: `{link}?t=<unix seconds>&m=<base64url of 16 bytes>`. The key reaches
//! only the page the website rendered (the HTML block), whose script makes the next code
//! every second; the phone's show call is refused once a code is older than
//! [`MAX_AGE_SECONDS`].
//!
//! - attempt key = HMAC-SHA256(server secret, "nsauth-qr-key-v1" 0 serverid 0 hsid 0 attempt)
//! - m = first 16 bytes of HMAC-SHA256(attempt key, "nsauth-qr-v1" 0 hsid 0 t), base64url
//!
//! The server's secret never leaves the server, and a key is good for one attempt of one
//! session only.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::clock::UnixTime;
use crate::ids::{Hsid, b64url, b64url_decode};
use crate::server::Server;

/// How old a code may be when the phone shows it: scanning, the phone's network and a page
/// clock that lags the server's by a second.
pub const MAX_AGE_SECONDS: i64 = 5;
/// How far ahead of the server's clock a code may be (the page's clock counts from the
/// server's time at rendering, so only rounding puts it ahead).
pub const MAX_AHEAD_SECONDS: i64 = 2;

/// The key of one login attempt's codes.
#[derive(Clone, PartialEq, Eq)]
pub struct QrKey([u8; 32]);

impl std::fmt::Debug for QrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QrKey(<secret>)")
    }
}

impl QrKey {
    /// The key of attempt `attempt` of session `hsid`; `None` while the server has no
    /// secret (the block makes one before it renders codes).
    pub fn of(server: &Server, hsid: &Hsid, attempt: u64) -> Option<QrKey> {
        server
            .attempt_mac(b"nsauth-qr-key-v1", hsid, attempt)
            .map(QrKey)
    }

    /// base64url, for the page's script.
    pub fn expose(&self) -> String {
        b64url(&self.0)
    }

    /// The MAC of one step.
    pub fn code(&self, hsid: &Hsid, step: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(b"nsauth-qr-v1\0");
        mac.update(hsid.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(step.to_string().as_bytes());
        b64url(&mac.finalize().into_bytes()[..16])
    }

    /// The login link of one step: `link` (the static login link) with `t` and `m`.
    pub fn link(&self, link: &str, hsid: &Hsid, step: i64) -> String {
        format!("{link}?t={step}&m={}", self.code(hsid, step))
    }

    /// Whether a show call's `t` and `m` are a live code of this attempt at `now`.
    pub fn check(
        &self,
        hsid: &Hsid,
        t: Option<&str>,
        m: Option<&str>,
        now: UnixTime,
    ) -> Result<(), CodeRefused> {
        let (Some(t), Some(m)) = (t, m) else {
            return Err(CodeRefused::Missing);
        };
        let step: i64 = t.parse().map_err(|_| CodeRefused::Forged)?;
        let given = b64url_decode(m).filter(|g| g.len() == 16);
        let want = b64url_decode(&self.code(hsid, step)).unwrap_or_default();
        if !given.is_some_and(|g| bool::from(g.ct_eq(&want))) {
            return Err(CodeRefused::Forged);
        }
        let age = now - step;
        if age > MAX_AGE_SECONDS {
            return Err(CodeRefused::Stale(age));
        }
        if age < -MAX_AHEAD_SECONDS {
            return Err(CodeRefused::Forged);
        }
        Ok(())
    }
}

/// Why a show call's code is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefused {
    /// The link had no `t` and `m` (a static link, or one the phone cut short).
    Missing,
    /// Not a code of this attempt (or from the future).
    Forged,
    /// A real code, this many seconds old.
    Stale(i64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ServerSettings;

    fn setup() -> (Server, Hsid) {
        let server = Server::new(ServerSettings::default(), 1_000);
        (server, Hsid::parse("AAECAwQFBgcICQoLDA0ODw").unwrap())
    }

    #[test]
    fn a_code_is_taken_for_a_few_seconds() {
        let (server, hsid) = setup();
        let key = QrKey::of(&server, &hsid, 1).unwrap();
        let now = 1_800_000_000;
        let m = key.code(&hsid, now);
        let t = now.to_string();
        for at in [now - 2, now, now + MAX_AGE_SECONDS] {
            assert_eq!(key.check(&hsid, Some(&t), Some(&m), at), Ok(()), "at {at}");
        }
        assert_eq!(
            key.check(&hsid, Some(&t), Some(&m), now + 10),
            Err(CodeRefused::Stale(10))
        );
        assert_eq!(
            key.check(&hsid, Some(&t), Some(&m), now - 3),
            Err(CodeRefused::Forged)
        );
        assert_eq!(key.check(&hsid, None, None, now), Err(CodeRefused::Missing));
        // Another step, session, attempt or server: not this code.
        let other_t = (now - 1).to_string();
        assert_eq!(
            key.check(&hsid, Some(&other_t), Some(&m), now),
            Err(CodeRefused::Forged)
        );
        let other = Hsid::parse("BAECAwQFBgcICQoLDA0ODw").unwrap();
        assert_eq!(
            key.check(&other, Some(&t), Some(&m), now),
            Err(CodeRefused::Forged)
        );
        assert_ne!(QrKey::of(&server, &hsid, 2).unwrap(), key);
        let (other_server, _) = setup();
        assert_ne!(QrKey::of(&other_server, &hsid, 1).unwrap(), key);
        assert_eq!(
            key.check(&hsid, Some("x"), Some(&m), now),
            Err(CodeRefused::Forged)
        );
        assert_eq!(
            key.check(&hsid, Some(&t), Some("short"), now),
            Err(CodeRefused::Forged)
        );
    }

    #[test]
    fn the_link_carries_step_and_mac() {
        let (server, hsid) = setup();
        let key = QrKey::of(&server, &hsid, 1).unwrap();
        let link = key.link("nsauth://login/S/H", &hsid, 42);
        assert_eq!(
            link,
            format!("nsauth://login/S/H?t=42&m={}", key.code(&hsid, 42))
        );
        assert_eq!(key.code(&hsid, 42).len(), 22);
        assert!(!format!("{key:?}").contains(&key.expose()));
    }

    /// The page's script computes the same codes (docs/phone-protocol.md states this
    /// vector): key bytes 0..32, hsid AAECAwQFBgcICQoLDA0ODw, step 1800000000.
    #[test]
    fn test_vector() {
        let key = QrKey(core::array::from_fn(|i| i as u8));
        let hsid = Hsid::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        // Computed independently (Python's hmac) from the steps in the module comment.
        assert_eq!(key.code(&hsid, 1_800_000_000), "YPftQoZwsP9XA9fzFqQi_g");
    }
}
