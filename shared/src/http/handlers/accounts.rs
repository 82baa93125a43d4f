//! The website's account and user calls (SPEC section 4), and the account changes they
//! share with the phone API: every change of an account is carried to the sessions it
//! logged in to, so that getSession stays one read.

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};
use serde::Serialize;

use super::common::{self, for_account_sessions, list_entry, paging};
use crate::account::{Account, AccountView, parse_accountid, validate_userid};
use crate::apikey::Permission;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::auth;
use crate::http::request::{query, query_param};
use crate::http::response::json;
use crate::http::routes::PathParams;
use crate::server::Server;
use crate::session::SessionState;
use crate::store::StoreError;

async fn authorised(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
    needs: Permission,
) -> Result<Server, ApiError> {
    let presented = auth::presented(req, params.get("serverid"))?;
    let (server, record) = deps
        .store
        .get_server_and_key(&presented.serverid, presented.key.keyid())
        .await?;
    auth::verify(&presented, server, record, needs)
}

fn unknown_account(id: u64) -> ApiError {
    ApiError::NotFound(format!("no account {id} on this server"))
}

async fn load(deps: &Deps, server: &Server, accountid: u64) -> Result<Account, ApiError> {
    deps.store
        .get_account(&server.serverid, accountid)
        .await?
        .ok_or_else(|| unknown_account(accountid))
}

/// Applies `change` to the account and writes it conditionally, re-reading on a lost race.
pub async fn update_account<F>(
    deps: &Deps,
    server: &Server,
    accountid: u64,
    change: F,
) -> Result<Account, ApiError>
where
    F: Fn(&mut Account),
{
    for _ in 0..4 {
        let current = load(deps, server, accountid).await?;
        let mut next = current.next_version();
        change(&mut next);
        match deps.store.update_account(&next, current.version).await {
            Ok(()) => return Ok(next),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(
        "conflict",
        "the account is changing too fast; retry the call",
    ))
}

/// Moves an account to a user (or to none) and its logged-in sessions with it.
pub async fn set_userid(
    deps: &Deps,
    server: &Server,
    accountid: u64,
    userid: Option<String>,
) -> Result<Account, ApiError> {
    let account = update_account(deps, server, accountid, |a| a.userid = userid.clone()).await?;
    let settings = &server.settings;
    for_account_sessions(deps, &server.serverid, accountid, |s, now| {
        let login = s.login.as_ref().filter(|l| l.accountid == accountid)?;
        if s.state_at(now) != SessionState::LoggedIn || login.userid == userid {
            return None;
        }
        Some(s.noted_login_user(userid.clone(), settings, now))
    })
    .await?;
    Ok(account)
}

/// Blocks or unblocks an account; `canprovoke` of its sessions follows (SPEC section 3).
pub async fn set_blocked(
    deps: &Deps,
    server: &Server,
    accountid: u64,
    blocked: bool,
) -> Result<Account, ApiError> {
    let account = update_account(deps, server, accountid, |a| {
        a.blocked = blocked;
        // An admin's unblock also lifts the push block that fraud reports set.
        if !blocked {
            a.fraud_reports = 0;
        }
    })
    .await?;
    let settings = &server.settings;
    for_account_sessions(deps, &server.serverid, accountid, |s, now| {
        (s.last_accountid == Some(accountid) && s.canprovoke == blocked)
            .then(|| s.with_canprovoke(!blocked, settings, now))
    })
    .await?;
    tracing::info!(accountid, blocked, "account block changed");
    Ok(account)
}

/// Removes an account: its logins end, its sessions can no longer provoke, its push
/// endpoint is deleted, then the account item.
pub async fn remove_account(deps: &Deps, server: &Server, accountid: u64) -> Result<(), ApiError> {
    let account = load(deps, server, accountid).await?;
    let settings = &server.settings;
    for_account_sessions(deps, &server.serverid, accountid, |s, now| {
        if s.last_accountid != Some(accountid) {
            return None;
        }
        let logged_in_here = s.login.as_ref().is_some_and(|l| l.accountid == accountid);
        let ended = if logged_in_here {
            s.logout(settings, now)
        } else {
            None
        };
        if ended.is_none() && !s.canprovoke {
            return None;
        }
        let mut next = ended.unwrap_or_else(|| s.with_canprovoke(false, settings, now));
        next.canprovoke = false;
        Some(next)
    })
    .await?;
    if let Some(p) = &account.push
        && let Err(e) = deps.push.delete_endpoint(&p.endpoint_arn).await
    {
        // The account goes anyway: a stale endpoint only costs a failed publish later.
        tracing::warn!(error = %e, accountid, "push endpoint not deleted");
    }
    match deps.store.delete_account(&server.serverid, accountid).await {
        Ok(()) | Err(StoreError::ConditionFailed) => {
            tracing::info!(accountid, "account removed");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /servers/{serverid}/accounts/{accountid}`
pub async fn get_account(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let server = authorised(deps, params, req, Permission::Accounts).await?;
    let id = parse_accountid(params.get("accountid"))?;
    json(StatusCode::OK, &load(deps, &server, id).await?.view())
}

/// `PUT /servers/{serverid}/accounts/{accountid}?blocked=true|false`
pub async fn update_account_blocked(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let server = authorised(deps, params, req, Permission::Accounts).await?;
    let id = parse_accountid(params.get("accountid"))?;
    let q = query(req)?;
    let blocked = match query_param(&q, "blocked") {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(ApiError::invalid_field("blocked", "must be true or false")),
    };
    json(
        StatusCode::OK,
        &set_blocked(deps, &server, id, blocked).await?.view(),
    )
}

#[derive(Serialize)]
struct Deleted {
    deleted: usize,
}

/// `DELETE /servers/{serverid}/accounts/{accountid}`
pub async fn delete_account(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let server = authorised(deps, params, req, Permission::Accounts).await?;
    let id = parse_accountid(params.get("accountid"))?;
    remove_account(deps, &server, id).await?;
    json(StatusCode::OK, &Deleted { deleted: 1 })
}

/// `PUT /servers/{serverid}/accounts/{accountid}/user?userid=`
pub async fn update_account_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let server = authorised(deps, params, req, Permission::Users).await?;
    let id = parse_accountid(params.get("accountid"))?;
    let q = query(req)?;
    let userid = validate_userid(
        "userid",
        query_param(&q, "userid")
            .ok_or_else(|| ApiError::invalid_field("userid", "is required"))?,
    )?;
    json(
        StatusCode::OK,
        &set_userid(deps, &server, id, Some(userid)).await?.view(),
    )
}

#[derive(Serialize)]
struct UserView {
    userid: String,
    accounts: Vec<AccountView>,
}

/// `GET /servers/{serverid}/users/{userid}`
pub async fn get_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let server = authorised(deps, params, req, Permission::Users).await?;
    let userid = validate_userid("userid", params.get("userid"))?;
    let mut accounts = deps.store.user_accounts(&server.serverid, &userid).await?;
    accounts.sort_by_key(|a| a.accountid);
    json(
        StatusCode::OK,
        &UserView {
            userid,
            accounts: accounts.iter().map(Account::view).collect(),
        },
    )
}

/// `DELETE /servers/{serverid}/users/{userid}`: removes every account of the user.
pub async fn delete_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let server = authorised(deps, params, req, Permission::Users).await?;
    let userid = validate_userid("userid", params.get("userid"))?;
    let accounts = deps.store.user_accounts(&server.serverid, &userid).await?;
    for a in &accounts {
        remove_account(deps, &server, a.accountid).await?;
    }
    json(
        StatusCode::OK,
        &Deleted {
            deleted: accounts.len(),
        },
    )
}

#[derive(Serialize)]
pub struct SessionList {
    pub sessions: Vec<common::SessionListEntry>,
    pub next: Option<String>,
}

/// `GET /servers/{serverid}/accounts/{accountid}/sessions?limit=&cursor=`
pub async fn account_sessions(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let server = authorised(deps, params, req, Permission::Accounts).await?;
    let id = parse_accountid(params.get("accountid"))?;
    let (limit, cursor) = paging(&query(req)?)?;
    load(deps, &server, id).await?;
    let page = deps
        .store
        .account_sessions(&server.serverid, id, limit, cursor.as_deref())
        .await?;
    let now = deps.clock.now();
    json(
        StatusCode::OK,
        &SessionList {
            sessions: page
                .items
                .iter()
                .map(|s| list_entry(s, &server.settings, now))
                .collect(),
            next: page.next,
        },
    )
}
