//! Roles, as the v2.2 management API has them: an API key belongs to a role; a role holds
//! permissions per server (a [`Grant`], stored beside the server) and global ones (on the
//! [`Role`] itself). A key made before roles existed is a grant that holds the key's hash
//! itself and has no role item: it keeps working as a role of its own server only (see
//! docs/integration.md, "Management").
//!
//! Which permissions a role has on a server is decided here, from the items the store read,
//! without I/O: [`Acting::on_server`], and [`switch`] for the `X-su` header.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apikey::{ApiKey, Permission};
use crate::clock::UnixTime;
use crate::error::ApiError;
use crate::ids::{ServerId, b64url};

/// The longest role id taken from a path or header (ours are 11 characters).
pub const MAX_ROLEID_LEN: usize = 64;

/// A role id from a path or the `X-su` header: base64 or base64url characters, bounded.
pub fn parse_roleid(field: &str, v: &str) -> Result<String, ApiError> {
    let ok = !v.is_empty()
        && v.len() <= MAX_ROLEID_LEN
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_+/=".contains(&c));
    if ok {
        Ok(v.to_string())
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("a role id is 1 to {MAX_ROLEID_LEN} base64 characters"),
        ))
    }
}

/// The user a role was made for (getOrCreateUserRole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleUser {
    pub serverid: ServerId,
    pub userid: String,
}

/// A role item. A role made by createApiKey has a key (its hash) and its id is the key's
/// id; a user's role has none and is used through `X-su`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub roleid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub created: UnixTime,
    /// The role whose key created this one (getApiKeys lists a role's creations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Permissions on every server and the global calls (root, setrid, servers,
    /// createserver).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global: Vec<Permission>,
    /// SHA-256 of the role's API key, base64url; empty for a role without a key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<RoleUser>,
}

impl Role {
    /// The role of a new key (its id is the key's).
    pub fn for_key(
        key: &ApiKey,
        description: String,
        creator: Option<String>,
        global: Vec<Permission>,
        now: UnixTime,
    ) -> Role {
        Role {
            roleid: key.keyid().to_string(),
            description,
            created: now,
            creator,
            global,
            hash: key.hash(),
            revoked: None,
            user: None,
        }
    }

    /// The role of a website's user: its id is derived from server and userid, so that
    /// getUserRole is one read and two concurrent getOrCreateUserRole calls make one role.
    pub fn for_user(serverid: &ServerId, userid: &str, now: UnixTime) -> Role {
        Role {
            roleid: user_roleid(serverid, userid),
            description: format!("user {userid}"),
            created: now,
            creator: None,
            global: Vec::new(),
            hash: String::new(),
            revoked: None,
            user: Some(RoleUser {
                serverid: serverid.clone(),
                userid: userid.to_string(),
            }),
        }
    }

    pub fn has_key(&self) -> bool {
        !self.hash.is_empty()
    }
}

/// The id of a user's role: base64url of the first 12 bytes of
/// SHA-256("nsauth-user-role-v1" 0x00 serverid 0x00 userid) (16 characters: never the
/// 11 of a key's role).
pub fn user_roleid(serverid: &ServerId, userid: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"nsauth-user-role-v1\0");
    h.update(serverid.as_str().as_bytes());
    h.update(b"\0");
    h.update(userid.as_bytes());
    b64url(&h.finalize()[..12])
}

/// A role's permissions on one server, stored beside the server (`APIKEY#<roleid>`, where
/// keys were stored before roles). A key made before roles is a grant with the key's hash
/// (and `label`) and no role item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub serverid: ServerId,
    /// The role's id; the attribute keeps its old name, so that keys made before roles
    /// read as grants.
    #[serde(rename = "keyid")]
    pub roleid: String,
    /// The key's hash, on a grant made before roles only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    pub permissions: Vec<Permission>,
    pub created: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
}

impl Grant {
    pub fn new(
        serverid: ServerId,
        roleid: String,
        permissions: Vec<Permission>,
        now: UnixTime,
    ) -> Grant {
        Grant {
            serverid,
            roleid,
            hash: String::new(),
            permissions,
            created: now,
            revoked: None,
            label: String::new(),
        }
    }

    /// A grant that is a key of its own (made before roles, or by the admin tool's
    /// `create-key`, which keeps that shape for servers used without roles).
    pub fn is_legacy_key(&self) -> bool {
        !self.hash.is_empty()
    }

    /// Its permissions as v2.2 writes them: comma-separated.
    pub fn acl(&self) -> String {
        acl(&self.permissions)
    }
}

/// Permissions as v2.2 writes them: comma-separated names.
pub fn acl(permissions: &[Permission]) -> String {
    permissions
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// What the store holds for a role id on a server: its grant there and its role item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleItems {
    pub grant: Option<Grant>,
    pub role: Option<Role>,
}

/// A role whose key checked out (or that a key switched to with `X-su`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    pub roleid: String,
    pub global: Vec<Permission>,
    /// Its grant's permissions on the server of the call (empty for a call on no server).
    pub granted: Vec<Permission>,
}

impl Acting {
    /// What it may do on the call's server: its grant, and what its global permissions
    /// bring to every server (`root` all, `servers` and `createserver` themselves).
    pub fn on_server(&self) -> Vec<Permission> {
        let mut out = self.granted.clone();
        let mut add = |p: Permission| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        for g in &self.global {
            match g {
                Permission::Root => Permission::SERVER.into_iter().for_each(&mut add),
                Permission::Servers | Permission::CreateServer => add(*g),
                _ => {}
            }
        }
        out
    }

    pub fn has_global(&self, p: Permission) -> bool {
        self.global.contains(&p) || self.global.contains(&Permission::Root)
    }

    /// 403 unless the role holds global `p` (global `root` holds every one).
    pub fn require_global(&self, p: Permission) -> Result<(), ApiError> {
        if self.has_global(p) {
            Ok(())
        } else {
            Err(ApiError::MissingPermission(global_name(p)))
        }
    }

    /// Whether it may use `X-su`.
    pub fn may_switch(&self) -> bool {
        self.global.contains(&Permission::Root) || self.global.contains(&Permission::SetRid)
    }
}

/// A global permission by name, as the 403 message quotes it.
fn global_name(p: Permission) -> &'static str {
    match p {
        Permission::Root => "global root",
        Permission::SetRid => "global setrid",
        Permission::Servers => "global servers",
        Permission::CreateServer => "global createserver",
        Permission::Sessions => "global sessions",
        Permission::Accounts => "global accounts",
        Permission::Users => "global users",
    }
}

/// The role a key acts as on a server (`serverid`; `None` for a call on no server), from
/// the items read for the key's id: its role item (which holds the hash) or, for a key made
/// before roles, its grant there. `None` when the key is not valid for the call: unknown,
/// wrong secret, revoked (with the reason), or a key of another server.
pub fn verify_key(
    key: &ApiKey,
    serverid: Option<&ServerId>,
    items: RoleItems,
) -> Result<Acting, KeyRefusal> {
    let RoleItems { grant, role } = items;
    let grant = grant.filter(|g| Some(&g.serverid) == serverid);
    match role {
        Some(role) => {
            if !role.has_key() || !key.matches(&role.hash) {
                return Err(KeyRefusal::Wrong);
            }
            if role.revoked.is_some() {
                return Err(KeyRefusal::Revoked);
            }
            let granted = grant
                .filter(|g| g.revoked.is_none())
                .map(|g| g.permissions)
                .unwrap_or_default();
            Ok(Acting {
                roleid: role.roleid,
                global: role.global,
                granted,
            })
        }
        None => {
            let grant = grant.ok_or(KeyRefusal::Wrong)?;
            if !grant.is_legacy_key() || !key.matches(&grant.hash) {
                return Err(KeyRefusal::Wrong);
            }
            if grant.revoked.is_some() {
                return Err(KeyRefusal::Revoked);
            }
            Ok(Acting {
                roleid: grant.roleid,
                global: Vec::new(),
                granted: grant.permissions,
            })
        }
    }
}

/// Why a key was refused (one answer to the caller for all but revocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Wrong,
    Revoked,
}

/// The role `X-su` names, as `by` acting on the call's server: `by` must hold global `root`
/// or `setrid`; a `setrid` role may not become one that holds global `root` or `setrid`
/// (no way up); the role must exist and not be revoked.
pub fn switch(
    by: &Acting,
    to: &str,
    serverid: Option<&ServerId>,
    items: RoleItems,
) -> Result<Acting, ApiError> {
    if !by.may_switch() {
        return Err(ApiError::forbidden(
            "su_not_allowed",
            "X-su needs a key whose role holds global 'root' or 'setrid'",
        ));
    }
    let RoleItems { grant, role } = items;
    let grant = grant.filter(|g| Some(&g.serverid) == serverid && g.revoked.is_none());
    let (global, revoked) = match (&role, &grant) {
        (Some(r), _) => (r.global.clone(), r.revoked.is_some()),
        // A key made before roles is a role of its own server.
        (None, Some(g)) if g.is_legacy_key() => (Vec::new(), false),
        _ => {
            return Err(ApiError::forbidden(
                "unknown_role",
                format!("X-su: there is no role {to}"),
            ));
        }
    };
    if revoked {
        return Err(ApiError::forbidden(
            "unknown_role",
            format!("X-su: role {to} has been revoked"),
        ));
    }
    let escalates = global.contains(&Permission::Root) || global.contains(&Permission::SetRid);
    if escalates && !by.global.contains(&Permission::Root) {
        return Err(ApiError::forbidden(
            "su_not_allowed",
            "X-su: a 'setrid' role cannot act as a role that holds global 'root' or 'setrid'",
        ));
    }
    Ok(Acting {
        roleid: to.to_string(),
        global,
        granted: grant.map(|g| g.permissions).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    fn sid(n: u8) -> ServerId {
        ServerId::parse(&b64url(&[n; 16])).unwrap()
    }

    fn role_with(key: &ApiKey, global: Vec<Permission>) -> Role {
        Role::for_key(key, "test".into(), None, global, 1)
    }

    #[test]
    fn a_role_key_is_checked_against_its_role_and_takes_its_grant_on_the_server() {
        let key = ApiKey::generate();
        let role = role_with(&key, vec![]);
        let grant = Grant::new(sid(1), role.roleid.clone(), vec![Sessions], 1);
        let acting = verify_key(
            &key,
            Some(&sid(1)),
            RoleItems {
                grant: Some(grant.clone()),
                role: Some(role.clone()),
            },
        )
        .unwrap();
        assert_eq!(acting.on_server(), vec![Sessions]);
        // The same grant read for another server gives nothing there.
        let elsewhere = verify_key(
            &key,
            Some(&sid(2)),
            RoleItems {
                grant: Some(grant),
                role: Some(role.clone()),
            },
        )
        .unwrap();
        assert!(elsewhere.on_server().is_empty());
        // Another key with the same id is refused.
        let other = ApiKey::generate();
        assert_eq!(
            verify_key(
                &other,
                None,
                RoleItems {
                    grant: None,
                    role: Some(role.clone())
                }
            ),
            Err(KeyRefusal::Wrong)
        );
        let mut revoked = role;
        revoked.revoked = Some(5);
        assert_eq!(
            verify_key(
                &key,
                None,
                RoleItems {
                    grant: None,
                    role: Some(revoked)
                }
            ),
            Err(KeyRefusal::Revoked)
        );
    }

    #[test]
    fn a_key_made_before_roles_is_a_role_of_its_own_server() {
        let key = ApiKey::generate();
        let mut legacy = Grant::new(sid(1), key.keyid().into(), vec![Sessions, Users], 1);
        legacy.hash = key.hash();
        let items = || RoleItems {
            grant: Some(legacy.clone()),
            role: None,
        };
        let acting = verify_key(&key, Some(&sid(1)), items()).unwrap();
        assert_eq!(acting.on_server(), vec![Sessions, Users]);
        assert!(acting.global.is_empty());
        assert_eq!(
            verify_key(&key, Some(&sid(2)), items()),
            Err(KeyRefusal::Wrong)
        );
        assert_eq!(verify_key(&key, None, items()), Err(KeyRefusal::Wrong));
        assert_eq!(
            verify_key(&ApiKey::generate(), Some(&sid(1)), items()),
            Err(KeyRefusal::Wrong)
        );
        // A role's grant without a hash is no key.
        let mut plain = legacy.clone();
        plain.hash.clear();
        assert_eq!(
            verify_key(
                &key,
                Some(&sid(1)),
                RoleItems {
                    grant: Some(plain),
                    role: None
                }
            ),
            Err(KeyRefusal::Wrong)
        );
    }

    #[test]
    fn global_permissions_reach_every_server() {
        let acting = |global| Acting {
            roleid: "r".into(),
            global,
            granted: vec![Sessions],
        };
        let root = acting(vec![Root]).on_server();
        for p in Permission::SERVER {
            assert!(root.contains(&p), "{p}");
        }
        assert_eq!(acting(vec![Servers]).on_server(), vec![Sessions, Servers]);
        assert_eq!(acting(vec![SetRid]).on_server(), vec![Sessions]);
        assert!(acting(vec![Root]).has_global(CreateServer));
        assert_eq!(
            acting(vec![Servers]).require_global(CreateServer),
            Err(ApiError::MissingPermission("global createserver"))
        );
    }

    #[test]
    fn su_needs_root_or_setrid_and_never_goes_up() {
        let by = |global| Acting {
            roleid: "me".into(),
            global,
            granted: vec![],
        };
        let target = |global| RoleItems {
            grant: Some(Grant::new(sid(1), "t".into(), vec![Users], 1)),
            role: Some(Role {
                roleid: "t".into(),
                global,
                ..Role::for_user(&sid(1), "alice", 1)
            }),
        };
        let e = switch(&by(vec![Servers]), "t", Some(&sid(1)), target(vec![])).unwrap_err();
        assert_eq!(e.code(), "su_not_allowed");
        let as_t = switch(&by(vec![SetRid]), "t", Some(&sid(1)), target(vec![])).unwrap();
        assert_eq!((as_t.roleid.as_str(), as_t.on_server()), ("t", vec![Users]));
        let up = switch(&by(vec![SetRid]), "t", Some(&sid(1)), target(vec![Root])).unwrap_err();
        assert_eq!(up.code(), "su_not_allowed");
        assert!(switch(&by(vec![Root]), "t", Some(&sid(1)), target(vec![SetRid])).is_ok());
        let none = switch(&by(vec![Root]), "t", Some(&sid(1)), RoleItems::default()).unwrap_err();
        assert_eq!(none.code(), "unknown_role");
        // The grant of another server counts for nothing here.
        let other = switch(&by(vec![Root]), "t", Some(&sid(2)), target(vec![])).unwrap();
        assert!(other.on_server().is_empty());
    }

    #[test]
    fn user_role_ids_are_stable_and_distinct() {
        let a = user_roleid(&sid(1), "alice");
        assert_eq!(a, user_roleid(&sid(1), "alice"));
        assert_ne!(a, user_roleid(&sid(2), "alice"));
        assert_ne!(a, user_roleid(&sid(1), "bob"));
        assert_eq!(a.len(), 16);
        assert!(parse_roleid("role", &a).is_ok());
        assert!(parse_roleid("role", "").is_err());
        assert!(parse_roleid("role", "a b").is_err());
        assert!(parse_roleid("role", &"a".repeat(65)).is_err());
    }

    #[test]
    fn stored_grants_read_keys_made_before_roles() {
        let old = serde_json::json!({
            "serverid": sid(1).as_str(), "keyid": "AAAAAAAAAAA", "hash": "h",
            "permissions": ["sessions", "accounts"], "created": 7, "label": "first key"
        });
        let g: Grant = serde_json::from_value(old).unwrap();
        assert_eq!(g.roleid, "AAAAAAAAAAA");
        assert!(g.is_legacy_key());
        assert_eq!(g.acl(), "sessions,accounts");
    }
}
