//! The v2.2 management API's use cases (issue 15): API keys, permissions, user roles and
//! attributes. Calls on a server authorise through [`authorise_fresh`] (a
//! consistent read, with `X-su`); calls on no server (`/apikeys/`, `/attributes/`,
//! `/servers/` listing and creation) through [`authorise_global`]. The server calls
//! themselves are in `service::servers`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::apikey::{ApiKey, Credentials, KeyCredentials, Permission};
use crate::attributes::{AttributeChange, AttributeScope, Attributes};
use crate::deps::Deps;
use crate::error::ApiError;
use crate::role::{self, Acting, Grant, Role};
use crate::service::provisioning;
use crate::service::website::{WebsiteCall, authorise_fresh};
use crate::store::StoreError;

/// The role a call on no server acts as (after `X-su`).
pub async fn authorise_global(deps: &Deps, creds: &KeyCredentials) -> Result<Acting, ApiError> {
    let items = deps.roles.get_role_items(None, creds.key.keyid()).await?;
    let acting = creds.verify(items)?;
    match &creds.su {
        None => Ok(acting),
        Some(to) if !acting.may_switch() => role::switch(&acting, to, None, Default::default()),
        Some(to) => {
            let items = deps.roles.get_role_items(None, to).await?;
            role::switch(&acting, to, None, items)
        }
    }
}

/// v2.2's ApiKey: the key itself only in createApiKey's answer.
#[derive(Debug, Serialize)]
pub struct ApiKeyView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apikey: Option<String>,
    pub description: String,
    pub role: String,
    /// Our addition: when the key was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ApiKeys {
    pub apikeys: Vec<ApiKeyView>,
}

/// createApiKey: a new role with a key, created by the caller's role; global `servers`.
pub async fn create_api_key(
    deps: &Deps,
    creds: &KeyCredentials,
    description: String,
) -> Result<ApiKeyView, ApiError> {
    let acting = authorise_global(deps, creds).await?;
    acting.require_global(Permission::Servers)?;
    let key = ApiKey::generate();
    let role = provisioning::issue_key(
        &*deps.roles,
        &key,
        description,
        Some(acting.roleid.clone()),
        Vec::new(),
        deps.clock.now(),
    )
    .await?;
    Ok(ApiKeyView {
        apikey: Some(key.expose().to_string()),
        description: role.description,
        role: role.roleid,
        revoked: None,
    })
}

/// getApiKeys: the keys the caller's role created; global `servers`.
pub async fn api_keys(deps: &Deps, creds: &KeyCredentials) -> Result<ApiKeys, ApiError> {
    let acting = authorise_global(deps, creds).await?;
    acting.require_global(Permission::Servers)?;
    let roles = deps.roles.roles_created_by(&acting.roleid).await?;
    Ok(ApiKeys {
        apikeys: roles
            .into_iter()
            .filter(Role::has_key)
            .map(|r| ApiKeyView {
                apikey: None,
                description: r.description,
                role: r.roleid,
                revoked: r.revoked.map(crate::clock::rfc3339),
            })
            .collect(),
    })
}

/// Our extension `DELETE /apikeys/{roleid}`: revokes a key the caller's role created (or
/// any, for global `root`).
pub async fn revoke_api_key(
    deps: &Deps,
    creds: &KeyCredentials,
    roleid: &str,
) -> Result<(), ApiError> {
    let acting = authorise_global(deps, creds).await?;
    acting.require_global(Permission::Servers)?;
    let target = deps
        .roles
        .get_role_items(None, roleid)
        .await?
        .role
        .filter(|r| r.has_key())
        .filter(|r| {
            acting.has_global(Permission::Root) || r.creator.as_deref() == Some(&acting.roleid)
        })
        .ok_or_else(|| {
            ApiError::not_found(format!("no API key of role {roleid} that you created"))
        })?;
    provisioning::revoke_key(&*deps.roles, &target.roleid, deps.clock.now()).await?;
    Ok(())
}

/// v2.2's Permission: a role's permissions on a server, comma-separated.
#[derive(Debug, Serialize)]
pub struct PermissionView {
    pub acl: String,
    pub role: String,
    pub server: String,
}

#[derive(Debug, Serialize)]
pub struct Permissions {
    pub permissions: Vec<PermissionView>,
}

fn view(g: &Grant) -> PermissionView {
    PermissionView {
        acl: g.acl(),
        role: g.roleid.clone(),
        server: g.serverid.to_string(),
    }
}

/// getAllPermissions (`roleid` None) and getPermissions: `servers` on the server.
pub async fn permissions(
    deps: &Deps,
    call: &WebsiteCall,
    roleid: Option<&str>,
) -> Result<Permissions, ApiError> {
    let auth = authorise_fresh(deps, &call.credentials, &[Permission::Servers]).await?;
    let grants = deps.servers.list_grants(&auth.server.serverid).await?;
    let grants: Vec<PermissionView> = grants
        .iter()
        .filter(|g| roleid.is_none_or(|r| g.roleid == r))
        .map(view)
        .collect();
    if let Some(r) = roleid
        && grants.is_empty()
    {
        return Err(ApiError::not_found(format!(
            "role {r} has no permissions on this server"
        )));
    }
    Ok(Permissions {
        permissions: grants,
    })
}

/// grantPermissions: the role's permissions on the server become `acl`; `root` there.
pub async fn grant_permissions(
    deps: &Deps,
    call: &WebsiteCall,
    roleid: &str,
    acl: Vec<Permission>,
) -> Result<PermissionView, ApiError> {
    let auth = authorise_fresh(deps, &call.credentials, &[Permission::Root]).await?;
    let serverid = &auth.server.serverid;
    let items = deps.roles.get_role_items(Some(serverid), roleid).await?;
    if items.role.is_none() && !items.grant.as_ref().is_some_and(Grant::is_legacy_key) {
        return Err(ApiError::not_found(format!("there is no role {roleid}")));
    }
    let grant =
        provisioning::set_permissions(&*deps.servers, serverid, roleid, acl, "", deps.clock.now())
            .await?;
    Ok(match grant {
        Some(g) => view(&g),
        None => PermissionView {
            acl: String::new(),
            role: roleid.to_string(),
            server: serverid.to_string(),
        },
    })
}

/// revokePermissions: removes the role's grant on the server; `root` there.
pub async fn revoke_permissions(
    deps: &Deps,
    call: &WebsiteCall,
    roleid: &str,
) -> Result<(), ApiError> {
    let auth = authorise_fresh(deps, &call.credentials, &[Permission::Root]).await?;
    if deps
        .servers
        .delete_grant(&auth.server.serverid, roleid)
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "role {roleid} has no permissions on this server"
        )))
    }
}

/// getUserRole (`create` false) and getOrCreateUserRole: `users`. The role is made only
/// for a user that exists.
pub async fn user_role(
    deps: &Deps,
    call: &WebsiteCall,
    userid: &str,
    create: bool,
) -> Result<String, ApiError> {
    let auth = authorise_fresh(deps, &call.credentials, &[Permission::Users]).await?;
    let role = Role::for_user(&auth.server.serverid, userid, deps.clock.now());
    let stored = deps.roles.get_role_items(None, &role.roleid).await?.role;
    match (stored, create) {
        (Some(r), _) => Ok(r.roleid),
        (None, false) => Err(ApiError::not_found(format!("user {userid} has no role"))),
        // A role is made only for a user that exists (accounts or attributes), as v2.2
        // answers 404 "user not found" here.
        (None, true)
            if !user_exists(
                deps,
                &AttributeScope::User(auth.server.serverid.clone(), userid.to_string()),
            )
            .await? =>
        {
            Err(ApiError::not_found(format!(
                "there is no user {userid} on this server"
            )))
        }
        (None, true) => match deps.roles.create_role(&role).await {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(role.roleid),
            Err(e) => Err(e.into()),
        },
    }
}

/// One change of a scope's attributes (the attributes after it), as one versioned write
/// (a concurrent change is read again and the change applied to it).
pub async fn change_attributes(
    deps: &Deps,
    scope: &AttributeScope,
    change: &AttributeChange,
) -> Result<BTreeMap<String, Value>, ApiError> {
    for _ in 0..5 {
        let stored = deps
            .attributes
            .get_attributes(scope)
            .await?
            .unwrap_or_default();
        let Some(values) = stored.apply(change)? else {
            return Ok(stored.values);
        };
        let next = Attributes {
            values,
            version: stored.version + 1,
        };
        match deps
            .attributes
            .put_attributes(scope, &next, stored.version)
            .await
        {
            Ok(()) => return Ok(next.values),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(
        "conflict",
        "the attributes changed concurrently; retry the call",
    ))
}

/// A scope's attributes (an empty object when none are stored).
pub async fn attributes(
    deps: &Deps,
    scope: &AttributeScope,
) -> Result<BTreeMap<String, Value>, ApiError> {
    Ok(deps
        .attributes
        .get_attributes(scope)
        .await?
        .map(|a| a.values)
        .unwrap_or_default())
}

/// Which attributes a call names, with its key.
#[derive(Clone, Copy)]
pub enum AttributeCall<'a> {
    Global(&'a KeyCredentials),
    Server(&'a Credentials),
    Privileged(&'a Credentials),
    User(&'a Credentials, &'a str),
}

/// What an attribute call does.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeOp {
    Read,
    Change(AttributeChange),
    /// delete…Attributes: all of them.
    Clear,
}

/// An attribute call: the scope's attributes after it (read, changed or cleared), once
/// the key may make it.
pub async fn attribute_call(
    deps: &Deps,
    call: AttributeCall<'_>,
    op: AttributeOp,
) -> Result<BTreeMap<String, Value>, ApiError> {
    let access = match (&op, &call) {
        (AttributeOp::Read, _) => AttributeAccess::Read,
        (AttributeOp::Change(AttributeChange::Set(_)), AttributeCall::User(..)) => {
            AttributeAccess::Create
        }
        _ => AttributeAccess::Write,
    };
    let scope = attribute_scope(deps, call, access).await?;
    match op {
        AttributeOp::Read => attributes(deps, &scope).await,
        AttributeOp::Change(change) => change_attributes(deps, &scope, &change).await,
        AttributeOp::Clear => {
            deps.attributes.delete_attributes(&scope).await?;
            Ok(BTreeMap::new())
        }
    }
}

/// Whether a call reads or changes attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttributeAccess {
    Read,
    Write,
    /// setUserAttributes: a write that creates the user.
    Create,
}

/// The scope of an attribute call whose key may make it, with the permissions v2.2 names:
/// global and privileged attributes global `servers`; a server's `servers`; a user's
/// `sessions` or `users` to read, `users` to change. A user must exist (have an account
/// or attributes) except to set its attributes, which creates it.
async fn attribute_scope(
    deps: &Deps,
    call: AttributeCall<'_>,
    access: AttributeAccess,
) -> Result<AttributeScope, ApiError> {
    match call {
        AttributeCall::Global(key) => {
            let acting = authorise_global(deps, key).await?;
            acting.require_global(Permission::Servers)?;
            Ok(AttributeScope::Global)
        }
        AttributeCall::Server(creds) => {
            authorise_fresh(deps, creds, &[Permission::Servers]).await?;
            Ok(AttributeScope::Server(creds.serverid.clone()))
        }
        AttributeCall::Privileged(creds) => {
            let auth = authorise_fresh(deps, creds, &[]).await?;
            auth.acting.require_global(Permission::Servers)?;
            Ok(AttributeScope::Privileged(creds.serverid.clone()))
        }
        AttributeCall::User(creds, userid) => {
            let needs: &[Permission] = match access {
                AttributeAccess::Read => &[Permission::Sessions, Permission::Users],
                AttributeAccess::Write | AttributeAccess::Create => &[Permission::Users],
            };
            authorise_fresh(deps, creds, needs).await?;
            let scope = AttributeScope::User(creds.serverid.clone(), userid.to_string());
            if access != AttributeAccess::Create && !user_exists(deps, &scope).await? {
                return Err(ApiError::not_found(format!(
                    "there is no user {userid} on this server"
                )));
            }
            Ok(scope)
        }
    }
}

/// A user exists while it has attributes or an account.
async fn user_exists(deps: &Deps, scope: &AttributeScope) -> Result<bool, ApiError> {
    let AttributeScope::User(serverid, userid) = scope else {
        return Ok(true);
    };
    if deps.attributes.get_attributes(scope).await?.is_some() {
        return Ok(true);
    }
    Ok(!deps
        .accounts
        .user_accounts(serverid, userid)
        .await?
        .is_empty())
}
