//! The demo server the local stack makes on start.

use nsauth::apikey::{ApiKey, Permission};
use nsauth::clock::UnixTime;
use nsauth::ids::ServerId;
use nsauth::service::admin::{self, AdminError};
use nsauth::settings::ServerSettings;
use nsauth::store::{Store, StoreError};

pub struct Demo {
    pub serverid: ServerId,
    pub apikey: ApiKey,
    /// A key whose role holds global `root`: the management API's (`NSAUTH_DEMO_ROOT_KEY`).
    pub root_key: ApiKey,
}

/// Makes the demo server, with the id and key from `NSAUTH_DEMO_SERVERID` /
/// `NSAUTH_DEMO_APIKEY` when given. On a persistent store the same fixed server may exist
/// from an earlier run: then it is reused, and its key added if missing.
pub async fn ensure(
    store: &dyn Store,
    serverid: Option<&str>,
    apikey: Option<&str>,
    root_key: Option<&str>,
    now: UnixTime,
) -> Result<Demo, String> {
    let root_key = match root_key {
        Some(k) => Some(ApiKey::parse(k).ok_or_else(|| {
            "NSAUTH_DEMO_ROOT_KEY is not an API key of the form nsk_<11 chars>_<43 chars>"
                .to_string()
        })?),
        None => None,
    };
    let root_key = admin::ensure_root_key(store, root_key, "demo root key", now)
        .await
        .map_err(|e| format!("NSAUTH_DEMO_ROOT_KEY: {e}"))?;
    let serverid = match serverid {
        Some(s) => Some(ServerId::parse(s).ok_or_else(|| {
            format!("NSAUTH_DEMO_SERVERID {s:?} is not a server id (22 base64url characters)")
        })?),
        None => None,
    };
    let apikey = match apikey {
        Some(k) => Some(ApiKey::parse(k).ok_or_else(|| {
            "NSAUTH_DEMO_APIKEY is not an API key of the form nsk_<11 chars>_<43 chars>".to_string()
        })?),
        None => None,
    };
    let settings = ServerSettings::named("Demo website").map_err(|e| e.to_string())?;
    let serverid = serverid.unwrap_or_else(ServerId::generate);
    let apikey = apikey.unwrap_or_else(ApiKey::generate);
    let fixed = Some((
        serverid.clone(),
        ApiKey::parse(apikey.expose()).ok_or("bad key")?,
    ));
    match admin::create_server(store, settings, fixed, now).await {
        Ok(_) => {}
        Err(AdminError::Store(StoreError::ConditionFailed)) => {
            let items = store
                .get_role_items(Some(&serverid), apikey.keyid())
                .await
                .map_err(|e| e.to_string())?;
            let held = match (&items.role, &items.grant) {
                (Some(r), Some(_)) => Some(apikey.matches(&r.hash) && r.revoked.is_none()),
                (None, Some(g)) => Some(apikey.matches(&g.hash) && g.revoked.is_none()),
                (None, None) => None,
                (Some(_), None) => Some(false),
            };
            match held {
                Some(true) => {}
                Some(false) => {
                    return Err(format!(
                        "the store already holds server {serverid} with a different or revoked key {}",
                        apikey.keyid()
                    ));
                }
                None => admin::add_key(
                    store,
                    &serverid,
                    &apikey,
                    Permission::WEBSITE.to_vec(),
                    "demo key".into(),
                    now,
                )
                .await
                .map_err(|e| e.to_string())?,
            }
        }
        Err(e) => return Err(e.to_string()),
    }
    Ok(Demo {
        serverid,
        apikey,
        root_key,
    })
}
