//! A virtual server: one website's configuration, and the secret its pages' live tokens
//! are made with.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId, b64url, random_bytes};
use crate::settings::ServerSettings;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub serverid: ServerId,
    pub created: UnixTime,
    pub settings: ServerSettings,
    /// Bumped by every change of the settings; the condition of the next one. Servers
    /// stored before it existed read as 0.
    #[serde(default)]
    pub version: u64,
    /// 32 random bytes (base64url) that only this server's functions know: the key of the
    /// live tokens in the pages the website renders (see [`Server::live_token`]). Empty on
    /// servers stored before it existed, until a page needs one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret: String,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the secret: a Debug line may reach a log.
        f.debug_struct("Server")
            .field("serverid", &self.serverid)
            .field("created", &self.created)
            .field("settings", &self.settings)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Server {
    pub fn new(settings: ServerSettings, now: UnixTime) -> Self {
        Server::with_id(ServerId::generate(), settings, now)
    }

    pub fn with_id(serverid: ServerId, settings: ServerSettings, now: UnixTime) -> Self {
        Server {
            serverid,
            created: now,
            settings,
            version: 1,
            secret: new_secret(),
        }
    }

    /// The server with a secret, one version on (for a server stored without one).
    pub fn with_new_secret(&self) -> Server {
        Server {
            secret: new_secret(),
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The live token of a session's login attempt (`attempt` is its number): what the
    /// website's page must show to send PROVOKE or LOGOUT for that session over the
    /// WebSocket. An HMAC-SHA256 under the server's secret, 128 bits, base64url. `None`
    /// while the server has no secret.
    pub fn live_token(&self, hsid: &Hsid, attempt: u64) -> Option<String> {
        let mac = self.attempt_mac(b"nsauth-live-v1", hsid, attempt)?;
        Some(b64url(&mac[..16]))
    }

    /// HMAC-SHA256 under the server's secret of `label` 0 serverid 0 hsid 0 attempt: what
    /// the live token and the rotating QR code's key of a login attempt are derived from
    /// (one label each). `None` while the server has no secret.
    pub fn attempt_mac(&self, label: &[u8], hsid: &Hsid, attempt: u64) -> Option<[u8; 32]> {
        if self.secret.is_empty() {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).ok()?;
        mac.update(label);
        mac.update(b"\0");
        mac.update(self.serverid.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(hsid.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(attempt.to_string().as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    /// The digest under which a user's login network is remembered (login notices on a
    /// new network): HMAC-SHA256 under the server's secret of `nsauth-network-v1` 0
    /// serverid 0 userid 0 network, base64url. Keyed, because a /24 prefix alone is few
    /// enough to try them all. `None` while the server has no secret.
    pub fn network_digest(&self, userid: &str, network: &str) -> Option<String> {
        use base64::Engine;
        if self.secret.is_empty() {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).ok()?;
        for (i, part) in [
            b"nsauth-network-v1".as_slice(),
            self.serverid.as_str().as_bytes(),
            userid.as_bytes(),
            network.as_bytes(),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                mac.update(b"\0");
            }
            mac.update(part);
        }
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]))
    }

    /// Whether `token` is the live token of that attempt (compared in constant time).
    pub fn is_live_token(&self, hsid: &Hsid, attempt: u64, token: &str) -> bool {
        self.live_token(hsid, attempt)
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())))
    }

    /// The server with other settings, one version on.
    pub fn with_settings(&self, settings: ServerSettings) -> Server {
        Server {
            settings,
            version: self.version + 1,
            ..self.clone()
        }
    }
}

fn new_secret() -> String {
    b64url(&random_bytes::<32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_tokens_are_per_server_session_and_attempt() {
        let a = Server::new(ServerSettings::default(), 1);
        let b = Server::new(ServerSettings::default(), 1);
        let h = Hsid::parse("5KvIv6Y0y8IgLQULP8ZR_Q").unwrap();
        let other = Hsid::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let t = a.live_token(&h, 100).unwrap();
        assert_eq!(t.len(), 22);
        assert_eq!(a.live_token(&h, 100).as_deref(), Some(t.as_str()));
        assert!(a.is_live_token(&h, 100, &t));
        assert!(!a.is_live_token(&h, 101, &t), "another attempt");
        assert!(!a.is_live_token(&other, 100, &t), "another session");
        assert!(!b.is_live_token(&h, 100, &t), "another server's secret");
        let same_secret = Server {
            serverid: ServerId::generate(),
            ..a.clone()
        };
        assert!(
            !same_secret.is_live_token(&h, 100, &t),
            "the server id is in the token too"
        );
        assert!(!a.is_live_token(&h, 100, ""));
        let legacy = Server {
            secret: String::new(),
            ..a.clone()
        };
        assert_eq!(legacy.live_token(&h, 100), None);
        assert!(!legacy.is_live_token(&h, 100, &t));
        let renewed = legacy.with_new_secret();
        assert_eq!(renewed.version, legacy.version + 1);
        assert!(renewed.live_token(&h, 100).is_some());
        assert!(!format!("{a:?}").contains(&a.secret), "no secret in Debug");
    }
}
