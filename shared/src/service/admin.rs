//! Server and API key administration, shared by the admin tool, the local stack's demo
//! server and the tests. These work on the store directly (no API key: whoever runs them
//! has the table).

use crate::apikey::{ApiKey, ApiKeyRecord, Permission};
use crate::clock::{SystemClock, UnixTime};
use crate::error::ApiError;
use crate::ids::ServerId;
use crate::server::Server;
use crate::service::versioned;
use crate::settings::ServerSettings;
use crate::store::{ServerStore, StoreError};

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

/// Creates a server with a first key holding every permission. With `fixed`, the id and
/// key are the caller's (the local stack's `NSAUTH_DEMO_*`); otherwise both are random.
pub async fn create_server(
    store: &dyn ServerStore,
    settings: ServerSettings,
    fixed: Option<(ServerId, ApiKey)>,
    now: UnixTime,
) -> Result<(Server, ApiKey), AdminError> {
    let (server, key) = match fixed {
        Some((id, key)) => (Server::with_id(id, settings, now), key),
        None => (Server::new(settings, now), ApiKey::generate()),
    };
    store.create_server(&server).await?;
    let record = ApiKeyRecord::new(
        server.serverid.clone(),
        &key,
        Permission::ALL.to_vec(),
        "first key".into(),
        now,
    );
    store.put_api_key(&record).await?;
    Ok((server, key))
}

pub async fn create_key(
    store: &dyn ServerStore,
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
    if store.get_server(serverid).await?.is_none() {
        return Err(AdminError::NoServer(serverid.clone()));
    }
    let key = ApiKey::generate();
    store
        .put_api_key(&ApiKeyRecord::new(
            serverid.clone(),
            &key,
            permissions,
            label,
            now,
        ))
        .await?;
    Ok(key)
}

pub async fn revoke_key(
    store: &dyn ServerStore,
    serverid: &ServerId,
    keyid: &str,
    now: UnixTime,
) -> Result<(), AdminError> {
    match store.revoke_api_key(serverid, keyid, now).await {
        Err(StoreError::ConditionFailed) => Err(AdminError::Invalid(format!(
            "server {serverid} has no unrevoked key {keyid}"
        ))),
        other => Ok(other?),
    }
}

/// Applies `name=value` changes to a server's settings, all or none, as one versioned
/// write (a concurrent change is read again and the changes applied to it).
pub async fn update_settings(
    store: &dyn ServerStore,
    serverid: &ServerId,
    changes: &[(String, String)],
) -> Result<ServerSettings, AdminError> {
    let server = store
        .get_server(serverid)
        .await?
        .ok_or_else(|| AdminError::NoServer(serverid.clone()))?;
    let apply = |s: &Server| {
        let mut settings = s.settings.clone();
        for (k, v) in changes {
            settings.set(k, v)?;
        }
        Ok::<_, String>(s.with_settings(settings))
    };
    // Checked here so that a bad value is reported as such; the values do not depend on
    // the server, so applying them again after a lost race cannot fail.
    apply(&server).map_err(AdminError::Invalid)?;
    let updated = versioned::update(store, &SystemClock, server, |s, _| {
        apply(s)
            .map(Some)
            .map_err(|e| ApiError::bad_request("invalid_setting", e))
    })
    .await
    .map_err(|e| match e {
        ApiError::NotFound(_) => AdminError::NoServer(serverid.clone()),
        e => AdminError::Api(e),
    })?;
    Ok(updated.settings)
}
