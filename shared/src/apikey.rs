//! API keys: `nsk_<keyid>_<secret>`. The key id is public (it names the key in the admin
//! tool and is the store's lookup key); only a SHA-256 hash of the whole key is stored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::ids::{ServerId, b64url, random_bytes};
use crate::role::{Acting, KeyRefusal, RoleItems, verify_key};
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
    /// A server's configuration, attributes and permissions listing; global: every
    /// server's, the global and privileged attributes, API keys.
    Servers,
    /// Changing a server's configuration; global: creating servers.
    CreateServer,
    /// Granting and revoking permissions on a server; global: everything everywhere.
    Root,
    /// Global only: acting as another role (`X-su`).
    SetRid,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::Sessions,
        Permission::Accounts,
        Permission::Users,
        Permission::Servers,
        Permission::CreateServer,
        Permission::Root,
        Permission::SetRid,
    ];

    /// What a website backend needs: a server's first key carries these.
    pub const WEBSITE: [Permission; 3] = [
        Permission::Sessions,
        Permission::Accounts,
        Permission::Users,
    ];

    /// What a role can hold on one server.
    pub const SERVER: [Permission; 6] = [
        Permission::Sessions,
        Permission::Accounts,
        Permission::Users,
        Permission::Servers,
        Permission::CreateServer,
        Permission::Root,
    ];

    /// What a role can hold globally.
    pub const GLOBAL: [Permission; 4] = [
        Permission::Root,
        Permission::SetRid,
        Permission::Servers,
        Permission::CreateServer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Sessions => "sessions",
            Permission::Accounts => "accounts",
            Permission::Users => "users",
            Permission::Servers => "servers",
            Permission::CreateServer => "createserver",
            Permission::Root => "root",
            Permission::SetRid => "setrid",
        }
    }

    /// A list of permission names (a JSON array's strings, or a comma-separated text),
    /// each once, each among `allowed`.
    pub fn parse_list<'a>(
        field: &str,
        names: impl IntoIterator<Item = &'a str>,
        allowed: &[Permission],
    ) -> Result<Vec<Permission>, ApiError> {
        let mut out = Vec::new();
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let p: Permission = name
                .parse()
                .map_err(|e: String| ApiError::invalid_field(field, e))?;
            if !allowed.contains(&p) {
                return Err(ApiError::invalid_field(
                    field,
                    format!("'{p}' cannot be granted here; use {}", list(allowed)),
                ));
            }
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(out)
    }
}

fn list(ps: &[Permission]) -> String {
    ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
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
            .ok_or_else(|| format!("unknown permission {s:?}; use {}", list(&Permission::ALL)))
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

/// What a call on a server presents (SPEC section 4): a key that is syntactically ours,
/// for a server id that is syntactically valid, and the role `X-su` names, if any. Nothing
/// is read to parse one.
pub struct Credentials {
    pub serverid: ServerId,
    pub key: ApiKey,
    pub su: Option<String>,
}

/// What a management call on no server presents (`/apikeys/`, `/servers/`, `/attributes/`).
pub struct KeyCredentials {
    pub key: ApiKey,
    pub su: Option<String>,
}

const WRONG: &str = "the X-apikey is not valid for this server; check the key and the server id";
const WRONG_GLOBAL: &str = "the X-apikey is not valid; check the key";
const REVOKED: &str = "this API key has been revoked; ask the server's admin for a new one";

/// The key of an `X-apikey` value (`None`: the header is missing; a value that is not
/// visible ASCII arrives as an empty one). A malformed one gets the same 401 as an unknown
/// one.
fn parse_key(apikey: Option<&str>, wrong: &'static str) -> Result<ApiKey, ApiError> {
    let apikey = apikey.ok_or(ApiError::InvalidApiKey(
        "the X-apikey header is missing; send the server's API key in it",
    ))?;
    ApiKey::parse(apikey).ok_or(ApiError::InvalidApiKey(wrong))
}

/// The `X-su` header's role id, if sent.
fn parse_su(su: Option<&str>) -> Result<Option<String>, ApiError> {
    su.map(|v| crate::role::parse_roleid("X-su", v)).transpose()
}

impl Credentials {
    /// Checks the shapes of the `X-apikey` value, of the path's server id and of `X-su`.
    pub fn parse(
        apikey: Option<&str>,
        serverid: &str,
        su: Option<&str>,
    ) -> Result<Credentials, ApiError> {
        let key = parse_key(apikey, WRONG)?;
        let serverid = ServerId::parse(serverid).ok_or(ApiError::InvalidApiKey(WRONG))?;
        Ok(Credentials {
            serverid,
            key,
            su: parse_su(su)?,
        })
    }

    /// Decides on what the store holds for the key's id (before any `X-su`): the server
    /// and the role the key acts as there, which must hold some permission on it.
    pub fn verify(
        &self,
        server: Option<Server>,
        items: RoleItems,
    ) -> Result<(Server, Acting), ApiError> {
        let server = server.ok_or(ApiError::InvalidApiKey(WRONG))?;
        let acting = verify_key(&self.key, Some(&self.serverid), items).map_err(refusal)?;
        // A key with nothing on this server is not a key of this server.
        if acting.on_server().is_empty() && !acting.may_switch() {
            return Err(ApiError::InvalidApiKey(WRONG));
        }
        Ok((server, acting))
    }
}

impl KeyCredentials {
    pub fn parse(apikey: Option<&str>, su: Option<&str>) -> Result<KeyCredentials, ApiError> {
        Ok(KeyCredentials {
            key: parse_key(apikey, WRONG_GLOBAL)?,
            su: parse_su(su)?,
        })
    }

    /// Decides on the key's role item (a key made before roles has none, and no global
    /// call to make).
    pub fn verify(&self, items: RoleItems) -> Result<Acting, ApiError> {
        verify_key(&self.key, None, items).map_err(|r| match r {
            KeyRefusal::Wrong => ApiError::InvalidApiKey(WRONG_GLOBAL),
            KeyRefusal::Revoked => ApiError::InvalidApiKey(REVOKED),
        })
    }
}

fn refusal(r: KeyRefusal) -> ApiError {
    match r {
        KeyRefusal::Wrong => ApiError::InvalidApiKey(WRONG),
        KeyRefusal::Revoked => ApiError::InvalidApiKey(REVOKED),
    }
}

/// A call on a server whose key checked out: the server, the role it acts as (after
/// `X-su`), and what that role may do there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorised {
    pub server: Server,
    pub acting: Acting,
    pub permissions: Vec<Permission>,
}

impl Authorised {
    pub fn new(
        server: Server,
        acting: Acting,
        needs: &[Permission],
    ) -> Result<Authorised, ApiError> {
        let permissions = acting.on_server();
        require_any(&permissions, needs)?;
        Ok(Authorised {
            server,
            acting,
            permissions,
        })
    }

    /// 403 `missing_permission` unless the role holds `p` on the server.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        require(&self.permissions, p)
    }
}

/// 403 `missing_permission` unless `p` is among `permissions`.
pub fn require(permissions: &[Permission], p: Permission) -> Result<(), ApiError> {
    require_any(permissions, &[p])
}

/// 403 `missing_permission` unless one of `needs` is among `permissions` (v2.2 names some
/// calls' permission as "'sessions' or 'users'"); no `needs` needs nothing.
pub fn require_any(permissions: &[Permission], needs: &[Permission]) -> Result<(), ApiError> {
    if needs.is_empty() || needs.iter().any(|p| permissions.contains(p)) {
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
        [Sessions, Servers] => "sessions' or 'servers",
        [Servers, CreateServer] => "servers' or 'createserver",
        _ => "sessions', 'accounts' or 'users",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Grant;

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
        let missing = Credentials::parse(None, sid, None).err().unwrap();
        assert!(missing.to_string().contains("missing"), "{missing}");
        for (key, server) in [("", sid), ("nsk_x", sid)] {
            let e = Credentials::parse(Some(key), server, None).err().unwrap();
            assert_eq!(e.code(), "invalid_api_key");
        }
        let k = ApiKey::generate();
        assert!(Credentials::parse(Some(k.expose()), "short", None).is_err());
        let bad_su = Credentials::parse(Some(k.expose()), sid, Some("a b"))
            .err()
            .unwrap();
        assert_eq!(bad_su.code(), "invalid_field");
        let creds = Credentials::parse(Some(k.expose()), sid, None).unwrap();
        let server = Server::with_id(
            creds.serverid.clone(),
            crate::settings::ServerSettings::default(),
            1,
        );
        let mut grant = Grant::new(
            creds.serverid.clone(),
            k.keyid().to_string(),
            vec![Permission::Sessions],
            1,
        );
        grant.hash = k.hash();
        let items = |g: &Grant| RoleItems {
            grant: Some(g.clone()),
            role: None,
        };
        let (s, acting) = creds.verify(Some(server.clone()), items(&grant)).unwrap();
        assert_eq!(s, server);
        let ok = Authorised::new(s, acting.clone(), &[Permission::Sessions]).unwrap();
        assert_eq!(
            ok.require(Permission::Users),
            Err(ApiError::MissingPermission("users"))
        );
        let e = Authorised::new(server.clone(), acting, &[Permission::Users]).unwrap_err();
        assert_eq!(e, ApiError::MissingPermission("users"));
        assert!(creds.verify(None, items(&grant)).is_err());
        grant.revoked = Some(2);
        let e = creds
            .verify(Some(server.clone()), items(&grant))
            .unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
        // A role key with no permission on this server is no key of it.
        let role = crate::role::Role::for_key(&k, "x".into(), None, vec![], 1);
        let e = creds
            .verify(
                Some(server),
                RoleItems {
                    grant: None,
                    role: Some(role),
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "invalid_api_key");
    }

    #[test]
    fn permission_lists() {
        let all = Permission::parse_list(
            "acl",
            "users, sessions,users".split(','),
            &Permission::SERVER,
        );
        assert_eq!(all.unwrap(), vec![Permission::Users, Permission::Sessions]);
        let e = Permission::parse_list("acl", ["setrid"], &Permission::SERVER).unwrap_err();
        assert!(e.to_string().contains("cannot be granted here"), "{e}");
        let e = Permission::parse_list("acl", ["admin"], &Permission::SERVER).unwrap_err();
        assert_eq!(e.code(), "invalid_field");
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
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
