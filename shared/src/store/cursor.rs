//! The cursor of an account's session list: the position of the last session returned,
//! as `<login_at>#<hsid>` (the index sort key), base64url so that it is opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::StoreError;
use crate::clock::UnixTime;
use crate::ids::{Hsid, b64url};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionCursor {
    pub login_at: UnixTime,
    pub hsid: Hsid,
}

impl SessionCursor {
    /// The index sort key: fixed-width time, so that text order is time order.
    pub fn sort_key(login_at: UnixTime, hsid: &Hsid) -> String {
        format!("{login_at:012}#{hsid}")
    }

    pub fn encode(&self) -> String {
        b64url(Self::sort_key(self.login_at, &self.hsid).as_bytes())
    }

    /// `ConditionFailed` is not right for a bad cursor; callers validate with
    /// [`SessionCursor::decode`] before they reach the store, which treats a bad one as corrupt.
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() > 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
        let text = std::str::from_utf8(&raw).ok()?;
        let (t, h) = text.split_once('#')?;
        if t.len() != 12 || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(SessionCursor {
            login_at: t.parse().ok()?,
            hsid: Hsid::parse(h)?,
        })
    }

    pub fn parse_or_corrupt(s: &str) -> Result<Self, StoreError> {
        Self::decode(s).ok_or_else(|| StoreError::Corrupt("bad cursor".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let c = SessionCursor {
            login_at: 1_800_000_000,
            hsid: Hsid::parse("5KvIv6Y0y8IgLQULP8ZR_Q").unwrap(),
        };
        assert_eq!(SessionCursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "!!",
            &b64url(b"123#x"),
            &b64url(b"abcdefghijkl#5KvIv6Y0y8IgLQULP8ZR_Q"),
        ] {
            assert_eq!(SessionCursor::decode(bad), None, "{bad}");
        }
    }
}
