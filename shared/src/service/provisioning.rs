//! What the management calls change, without their key check: one function per change,
//! used by the management API (after `servers`/`management` have authorised the call) and
//! by the admin tool and the local stack's demo (whoever holds the table is trusted). So
//! the admin tool can do nothing the API cannot.

use crate::apikey::{ApiKey, Permission};
use crate::clock::{Clock, UnixTime};
use crate::error::ApiError;
use crate::ids::ServerId;
use crate::role::{Grant, Role};
use crate::server::Server;
use crate::service::servers::ServerChanges;
use crate::service::versioned;
use crate::store::{RoleStore, ServerStore, StoreError};

/// createServer's effect: stores the server and, with `manager`, that role's grant on it.
pub async fn store_server(
    servers: &dyn ServerStore,
    server: &Server,
    manager: Option<(&str, Vec<Permission>)>,
    now: UnixTime,
) -> Result<(), StoreError> {
    servers.create_server(server).await?;
    if let Some((roleid, permissions)) = manager
        && let Err(e) =
            set_permissions(servers, &server.serverid, roleid, permissions, "", now).await
    {
        // A server nobody can manage is worth nothing: say so, with its id.
        tracing::error!(serverid = %server.serverid, error = %e, "created a server but not its manager's grant");
        return Err(e);
    }
    Ok(())
}

/// createApiKey's effect: a new role holding `key` (its hash), created by `creator`.
pub async fn issue_key(
    roles: &dyn RoleStore,
    key: &ApiKey,
    description: String,
    creator: Option<String>,
    global: Vec<Permission>,
    now: UnixTime,
) -> Result<Role, StoreError> {
    let role = Role::for_key(key, description, creator, global, now);
    roles.create_role(&role).await?;
    Ok(role)
}

/// grantPermissions' effect: the role's permissions on the server become `permissions`
/// (none removes its grant). The grant's label is kept when it has one and `label` is empty.
pub async fn set_permissions(
    servers: &dyn ServerStore,
    serverid: &ServerId,
    roleid: &str,
    permissions: Vec<Permission>,
    label: &str,
    now: UnixTime,
) -> Result<Option<Grant>, StoreError> {
    if permissions.is_empty() {
        servers.delete_grant(serverid, roleid).await?;
        return Ok(None);
    }
    let mut grant = Grant::new(serverid.clone(), roleid.to_string(), permissions, now);
    grant.label = label.to_string();
    servers.set_grant(&grant).await?;
    Ok(Some(grant))
}

/// revokeApiKey's effect: the role's key is refused from now on; false when it was revoked
/// already or there is no such role.
pub async fn revoke_key(
    roles: &dyn RoleStore,
    roleid: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    match roles.revoke_role(roleid, now).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// updateServer's effect: the changes applied all or none, as one versioned write (a
/// concurrent change is read again and the changes applied to it).
pub async fn change_server(
    servers: &dyn ServerStore,
    clock: &dyn Clock,
    server: Server,
    changes: &ServerChanges,
) -> Result<Server, ApiError> {
    // Checked before writing, so that a bad value is reported even when nothing changes.
    changes.apply(&server.settings)?;
    versioned::update(servers, clock, server, |s, _| {
        let settings = changes.apply(&s.settings)?;
        Ok((settings != s.settings).then(|| s.with_settings(settings)))
    })
    .await
}
