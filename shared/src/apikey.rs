//! API keys: `nsk_<keyid>_<secret>`. The key id is public (it names the key in the admin
//! tool and is the store's lookup key); only a SHA-256 hash of the whole key is stored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::UnixTime;
use crate::error::ApiError;
use crate::ids::{ServerId, b64url, random_bytes};
use crate::server::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Session calls: createSession, getSession, logout, push, QR and HTML.
    Sessions,
    /// Account administration.
    Accounts,
    /// User administration.
    Users,
}

impl Permission {
    pub const ALL: [Permission; 3] = [
        Permission::Sessions,
        Permission::Accounts,
        Permission::Users,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Sessions => "sessions",
            Permission::Accounts => "accounts",
            Permission::Users => "users",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown permission {s:?}; use sessions, accounts or users"))
    }
}

const PREFIX: &str = "nsk_";
/// 8 random bytes, base64url.
const KEYID_LEN: usize = 11;
/// 32 random bytes, base64url.
const SECRET_LEN: usize = 43;

/// A presented or freshly made key. Not `Debug`: the secret must not reach a log.
pub struct ApiKey {
    keyid: String,
    full: String,
}

impl ApiKey {
    pub fn generate() -> Self {
        let keyid = b64url(&random_bytes::<8>());
        let full = format!("{PREFIX}{keyid}_{}", b64url(&random_bytes::<32>()));
        ApiKey { keyid, full }
    }

    /// Splits a presented `X-apikey` value; `None` when it cannot be one of our keys.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(PREFIX)?;
        let (keyid, secret) = rest.split_at_checked(KEYID_LEN)?;
        let secret = secret.strip_prefix('_')?;
        let ok = |p: &str| {
            p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        };
        (secret.len() == SECRET_LEN && ok(keyid) && ok(secret)).then(|| ApiKey {
            keyid: keyid.to_string(),
            full: s.to_string(),
        })
    }

    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The whole key, for the one moment it is shown to the admin.
    pub fn expose(&self) -> &str {
        &self.full
    }

    pub fn hash(&self) -> String {
        b64url(&Sha256::digest(self.full.as_bytes()))
    }

    /// Compares with a stored hash in constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        self.hash().as_bytes().ct_eq(stored_hash.as_bytes()).into()
    }
}

/// What the store keeps of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub serverid: ServerId,
    pub keyid: String,
    pub hash: String,
    pub permissions: Vec<Permission>,
    pub created: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
}

impl ApiKeyRecord {
    pub fn new(
        serverid: ServerId,
        key: &ApiKey,
        permissions: Vec<Permission>,
        label: String,
        now: UnixTime,
    ) -> Self {
        ApiKeyRecord {
            serverid,
            keyid: key.keyid().to_string(),
            hash: key.hash(),
            permissions,
            created: now,
            revoked: None,
            label,
        }
    }

    pub fn allows(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

/// What a website backend call presents (SPEC section 4): a key that is syntactically ours,
/// for a server id that is syntactically valid. Nothing is read to parse one.
pub struct Credentials {
    pub serverid: ServerId,
    pub key: ApiKey,
}

const WRONG: &str = "the X-apikey is not valid for this server; check the key and the server id";

impl Credentials {
    /// Checks the shapes of the `X-apikey` value (`None`: the header is missing; a value
    /// that is not visible ASCII arrives as an empty one) and of the path's server id. A
    /// malformed one gets the same 401 as an unknown one.
    pub fn parse(apikey: Option<&str>, serverid: &str) -> Result<Credentials, ApiError> {
        let apikey = apikey.ok_or(ApiError::InvalidApiKey(
            "the X-apikey header is missing; send the server's API key in it",
        ))?;
        let key = ApiKey::parse(apikey).ok_or(ApiError::InvalidApiKey(WRONG))?;
        let serverid = ServerId::parse(serverid).ok_or(ApiError::InvalidApiKey(WRONG))?;
        Ok(Credentials { serverid, key })
    }

    /// Decides on what the store holds for these credentials: the server and the key's
    /// permissions, when the key is the server's own, unrevoked, and carries `needs`.
    pub fn verify(
        &self,
        server: Option<Server>,
        record: Option<ApiKeyRecord>,
        needs: &[Permission],
    ) -> Result<Authorised, ApiError> {
        let (Some(server), Some(record)) = (server, record) else {
            return Err(ApiError::InvalidApiKey(WRONG));
        };
        if !self.key.matches(&record.hash) || record.serverid != self.serverid {
            return Err(ApiError::InvalidApiKey(WRONG));
        }
        if record.revoked.is_some() {
            return Err(ApiError::InvalidApiKey(
                "this API key has been revoked; ask the server's admin for a new one",
            ));
        }
        let authorised = Authorised {
            server,
            permissions: record.permissions,
        };
        require_any(&authorised.permissions, needs)?;
        Ok(authorised)
    }
}

/// A website call whose key checked out: the server, and what else the key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorised {
    pub server: Server,
    pub permissions: Vec<Permission>,
}

impl Authorised {
    /// 403 `missing_permission` unless the key carries `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        require(&self.permissions, p)
    }
}

/// 403 `missing_permission` unless `p` is among `permissions`.
pub fn require(permissions: &[Permission], p: Permission) -> Result<(), ApiError> {
    require_any(permissions, &[p])
}

/// 403 `missing_permission` unless one of `needs` is among `permissions` (v2.2 names some
/// calls' permission as "'sessions' or 'users'").
pub fn require_any(permissions: &[Permission], needs: &[Permission]) -> Result<(), ApiError> {
    if needs.iter().any(|p| permissions.contains(p)) {
        Ok(())
    } else {
        Err(ApiError::MissingPermission(names(needs)))
    }
}

/// The permissions of a call by name, as the 403 message quotes them.
fn names(needs: &[Permission]) -> &'static str {
    use Permission::*;
    match needs {
        [p] => p.as_str(),
        [Sessions, Accounts] => "sessions' or 'accounts",
        [Sessions, Users] => "sessions' or 'users",
        [Accounts, Users] => "accounts' or 'users",
        _ => "sessions', 'accounts' or 'users",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_parses_and_matches_its_hash() {
        let k = ApiKey::generate();
        let parsed = ApiKey::parse(k.expose()).expect("parses");
        assert_eq!(parsed.keyid(), k.keyid());
        assert!(parsed.matches(&k.hash()));
        assert!(!ApiKey::generate().matches(&k.hash()));
    }

    #[test]
    fn same_keyid_other_secret_does_not_match() {
        let k = ApiKey::generate();
        let mut forged = k.expose().to_string();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        let f = ApiKey::parse(&forged).unwrap();
        assert_eq!(f.keyid(), k.keyid());
        assert!(!f.matches(&k.hash()));
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let k = ApiKey::generate();
        for bad in [
            "",
            "nsk_",
            &k.expose()[1..],
            &k.expose()[..k.expose().len() - 1],
            &format!("{}x", k.expose()),
            &k.expose().replacen('_', "-", 2),
            "nsk_ääääääääää_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(ApiKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn credentials_shapes_and_verdicts() {
        let sid = "AAECAwQFBgcICQoLDA0ODw";
        let missing = Credentials::parse(None, sid).err().unwrap();
        assert!(missing.to_string().contains("missing"), "{missing}");
        for (key, server) in [("", sid), ("nsk_x", sid)] {
            let e = Credentials::parse(Some(key), server).err().unwrap();
            assert_eq!(e.code(), "invalid_api_key");
        }
        let k = ApiKey::generate();
        assert!(Credentials::parse(Some(k.expose()), "short").is_err());
        let creds = Credentials::parse(Some(k.expose()), sid).unwrap();
        let server = Server::with_id(
            creds.serverid.clone(),
            crate::settings::ServerSettings::default(),
            1,
        );
        let mut record = ApiKeyRecord::new(
            creds.serverid.clone(),
            &k,
            vec![Permission::Sessions],
            "".into(),
            1,
        );
        let ok = creds.verify(
            Some(server.clone()),
            Some(record.clone()),
            &[Permission::Sessions],
        );
        let ok = ok.unwrap();
        assert_eq!(ok.server, server);
        assert_eq!(
            ok.require(Permission::Users),
            Err(ApiError::MissingPermission("users"))
        );
        let e = creds
            .verify(
                Some(server.clone()),
                Some(record.clone()),
                &[Permission::Users],
            )
            .unwrap_err();
        assert_eq!(e, ApiError::MissingPermission("users"));
        assert!(
            creds
                .verify(None, Some(record.clone()), &[Permission::Sessions])
                .is_err()
        );
        record.revoked = Some(2);
        let e = creds
            .verify(Some(server), Some(record), &[Permission::Sessions])
            .unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
    }

    #[test]
    fn permissions_parse() {
        assert_eq!(
            "sessions".parse::<Permission>().unwrap(),
            Permission::Sessions
        );
        assert!("admin".parse::<Permission>().is_err());
    }
}
