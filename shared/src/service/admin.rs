//! Server and API key administration for the admin tool, the local stack's demo server and
//! the tests: the bootstrap (the first root key) and the management API's changes
//! (`service::provisioning`, the same functions the API calls after its key check) on the
//! store directly (no API key: whoever runs them has the table).

use crate::apikey::{ApiKey, Permission};
use crate::clock::{SystemClock, UnixTime};
use crate::error::ApiError;
use crate::ids::ServerId;
use crate::role::Grant;
use crate::server::Server;
use crate::service::provisioning;
use crate::service::servers::ServerChanges;
use crate::settings::ServerSettings;
use crate::store::{ServerStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("no server {0}")]
    NoServer(ServerId),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Api(ApiError),
}

/// Creates a server with a first key holding the website's permissions (sessions,
/// accounts, users). With `fixed`, the id and key are the caller's (the local stack's
/// `NSAUTH_DEMO_*`); otherwise both are random.
pub async fn create_server(
    store: &dyn Store,
    settings: ServerSettings,
    fixed: Option<(ServerId, ApiKey)>,
    now: UnixTime,
) -> Result<(Server, ApiKey), AdminError> {
    let (server, key) = match fixed {
        Some((id, key)) => (Server::with_id(id, settings, now), key),
        None => (Server::new(settings, now), ApiKey::generate()),
    };
    provisioning::store_server(store, &server, None, now).await?;
    add_key(
        store,
        &server.serverid,
        &key,
        Permission::WEBSITE.to_vec(),
        "first key".into(),
        now,
    )
    .await?;
    Ok((server, key))
}

/// A new key of its own role, with `permissions` on one server.
pub async fn create_key(
    store: &dyn Store,
    serverid: &ServerId,
    permissions: Vec<Permission>,
    label: String,
    now: UnixTime,
) -> Result<ApiKey, AdminError> {
    if permissions.is_empty() {
        return Err(AdminError::Invalid(
            "a key needs at least one permission".into(),
        ));
    }
    if let Some(p) = permissions.iter().find(|p| !Permission::SERVER.contains(p)) {
        return Err(AdminError::Invalid(format!(
            "'{p}' is a global permission; a server's key takes sessions, accounts, users, servers, createserver or root"
        )));
    }
    if store.get_server(serverid).await?.is_none() {
        return Err(AdminError::NoServer(serverid.clone()));
    }
    let key = ApiKey::generate();
    add_key(store, serverid, &key, permissions, label, now).await?;
    Ok(key)
}

/// Stores `key` as a role of its own with a grant on one server.
pub async fn add_key(
    store: &dyn Store,
    serverid: &ServerId,
    key: &ApiKey,
    permissions: Vec<Permission>,
    label: String,
    now: UnixTime,
) -> Result<(), AdminError> {
    provisioning::issue_key(store, key, label.clone(), None, Vec::new(), now).await?;
    provisioning::set_permissions(store, serverid, key.keyid(), permissions, &label, now).await?;
    Ok(())
}

/// Revokes a key of a server: its role (everywhere), or a key made before roles.
pub async fn revoke_key(
    store: &dyn Store,
    serverid: &ServerId,
    keyid: &str,
    now: UnixTime,
) -> Result<(), AdminError> {
    let items = store.get_role_items(Some(serverid), keyid).await?;
    let revoked = match (&items.role, &items.grant) {
        (Some(_), Some(_)) => match provisioning::revoke_key(store, keyid, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::ConditionFailed),
            Err(e) => Err(e),
        },
        (None, Some(g)) if g.is_legacy_key() => store.revoke_legacy_key(serverid, keyid, now).await,
        _ => Err(StoreError::ConditionFailed),
    };
    match revoked {
        Err(StoreError::ConditionFailed) => Err(AdminError::Invalid(format!(
            "server {serverid} has no unrevoked key {keyid}"
        ))),
        other => Ok(other?),
    }
}

/// A server's keys as the admin tool lists them: each grant, and whether its key is
/// revocation time (on the role, or on a key made before roles).
pub async fn list_keys(
    store: &dyn Store,
    serverid: &ServerId,
) -> Result<Vec<(Grant, Option<UnixTime>)>, AdminError> {
    let mut out = Vec::new();
    for g in store.list_grants(serverid).await? {
        let revoked = if g.is_legacy_key() {
            g.revoked
        } else {
            // A grant whose role is gone counts as revoked since the grant was made.
            match store.get_role_items(None, &g.roleid).await?.role {
                Some(r) => r.revoked,
                None => Some(g.created),
            }
        };
        out.push((g, revoked));
    }
    Ok(out)
}

/// Applies `name=value` changes to a server's settings, all or none, as updateServer
/// applies a body's `settings` (one versioned write).
pub async fn update_settings(
    store: &dyn ServerStore,
    serverid: &ServerId,
    changes: &[(String, String)],
) -> Result<ServerSettings, AdminError> {
    let server = store
        .get_server(serverid)
        .await?
        .ok_or_else(|| AdminError::NoServer(serverid.clone()))?;
    let changes = ServerChanges(changes.to_vec());
    let updated = provisioning::change_server(store, &SystemClock, server, &changes)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => AdminError::NoServer(serverid.clone()),
            ApiError::BadRequest { message, .. } => AdminError::Invalid(message),
            e => AdminError::Api(e),
        })?;
    Ok(updated.settings)
}

/// Makes a key whose role holds global `root` (the bootstrap: the management API's first
/// key, which creates servers and the other keys). With `fixed`, the key is the caller's
/// and may exist from an earlier run: it is kept if it is that root key, refused otherwise.
pub async fn ensure_root_key(
    store: &dyn Store,
    fixed: Option<ApiKey>,
    label: &str,
    now: UnixTime,
) -> Result<ApiKey, AdminError> {
    let key = fixed.unwrap_or_else(ApiKey::generate);
    match provisioning::issue_key(store, &key, label.into(), None, vec![Permission::Root], now)
        .await
    {
        Ok(_) => Ok(key),
        Err(StoreError::ConditionFailed) => {
            let stored = store.get_role_items(None, key.keyid()).await?.role;
            match stored {
                Some(r)
                    if r.has_key()
                        && key.matches(&r.hash)
                        && r.revoked.is_none()
                        && r.global.contains(&Permission::Root) =>
                {
                    Ok(key)
                }
                _ => Err(AdminError::Invalid(format!(
                    "the store already holds a role {} that is not this root key (another key, revoked, or without root)",
                    key.keyid()
                ))),
            }
        }
        Err(e) => Err(e.into()),
    }
}
