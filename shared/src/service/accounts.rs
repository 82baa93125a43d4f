//! The website's account and user calls (SPEC section 4), and the account changes they
//! share with the phone API: every change of an account is carried to the sessions it
//! logged in to, so that getSession stays one read.

use serde::Serialize;

use crate::account::{Account, AccountView};
use crate::apikey::Permission;
use crate::attributes::AttributeScope;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::server::Server;
use crate::service::Checked;
use crate::service::website::{self, WebsiteCall};
use crate::service::{sweeps, versioned};
use crate::signing;
use crate::store::{SessionCursor, StoreError};
use crate::wire::SessionList;

/// The answer of deleteAccount and deleteUser: how many accounts went.
#[derive(Debug, Serialize)]
pub struct Deleted {
    pub deleted: usize,
}

/// A user and its accounts (getUser).
#[derive(Debug, Serialize)]
pub struct UserView {
    pub userid: String,
    pub accounts: Vec<AccountView>,
}

/// A page of a listing: at most `limit` items after `cursor`.
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    /// `limit` (1 to 100, default 20) and `cursor` (one this API handed out) of a listing.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=Self::MAX_LIMIT).contains(&n) => n,
                _ => return Err(ApiError::invalid_field("limit", "must be 1 to 100")),
            },
        };
        let cursor = match cursor {
            None | Some("") => None,
            Some(c) if SessionCursor::decode(c).is_some() => Some(c.to_string()),
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "cursor",
                    "not a cursor this API handed out",
                ));
            }
        };
        Ok(PageRequest { limit, cursor })
    }
}

fn unknown_account(id: u64) -> ApiError {
    ApiError::NotFound(format!("no account {id} on this server"))
}

async fn load(deps: &Deps, server: &Server, accountid: u64) -> Result<Account, ApiError> {
    deps.accounts
        .get_account(&server.serverid, accountid)
        .await?
        .ok_or_else(|| unknown_account(accountid))
}

/// getAccount.
pub async fn get(
    deps: &Deps,
    call: &WebsiteCall,
    accountid: Checked<u64>,
) -> Result<AccountView, ApiError> {
    let server = website::authorise(
        deps,
        &call.credentials,
        &[Permission::Sessions, Permission::Accounts],
    )
    .await?
    .server;
    Ok(load(deps, &server, accountid?).await?.view())
}

/// updateAccount (`?blocked=`): blocks or unblocks the account.
pub async fn update_blocked(
    deps: &Deps,
    call: &WebsiteCall,
    accountid: Checked<u64>,
    blocked: Checked<bool>,
) -> Result<AccountView, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Accounts])
        .await?
        .server;
    let id = accountid?;
    let blocked = blocked?;
    Ok(set_blocked(deps, &server, id, blocked).await?.view())
}

/// deleteAccount.
pub async fn delete(
    deps: &Deps,
    call: &WebsiteCall,
    accountid: Checked<u64>,
) -> Result<Deleted, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Accounts])
        .await?
        .server;
    let account = load(deps, &server, accountid?).await?;
    remove_account(deps, &account).await?;
    Ok(Deleted { deleted: 1 })
}

/// updateAccountUser: moves the account to a user.
pub async fn update_user(
    deps: &Deps,
    call: &WebsiteCall,
    accountid: Checked<u64>,
    userid: Checked<String>,
) -> Result<AccountView, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Accounts])
        .await?
        .server;
    let id = accountid?;
    let userid = userid?;
    Ok(set_userid(deps, &server, id, Some(userid)).await?.view())
}

/// getAccountSessions: the account's sessions, newest login first.
pub async fn sessions(
    deps: &Deps,
    call: &WebsiteCall,
    accountid: Checked<u64>,
    page: Checked<PageRequest>,
) -> Result<SessionList, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Accounts])
        .await?
        .server;
    let id = accountid?;
    let page = page?;
    load(deps, &server, id).await?;
    session_list(deps, &server, id, &page).await
}

/// A page of the sessions an account logged in to, as the lists show them.
pub async fn session_list(
    deps: &Deps,
    server: &Server,
    accountid: u64,
    page: &PageRequest,
) -> Result<SessionList, ApiError> {
    let found = deps
        .sessions
        .account_sessions(
            &server.serverid,
            accountid,
            page.limit,
            page.cursor.as_deref(),
        )
        .await?;
    let now = deps.clock.now();
    Ok(SessionList {
        sessions: found
            .items
            .iter()
            .map(|s| s.list_entry(&server.settings, now))
            .collect(),
        next: found.next,
    })
}

/// deleteUser: removes every account of the user; 404 for a user with none (v2.2).
pub async fn delete_user(
    deps: &Deps,
    call: &WebsiteCall,
    userid: Checked<String>,
) -> Result<Deleted, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Users])
        .await?
        .server;
    let userid = userid?;
    let deleted = remove_user_accounts(deps, &server, &userid).await?;
    // The user's attributes go with it (a user is one with accounts or attributes).
    let scope = AttributeScope::User(server.serverid.clone(), userid.clone());
    let had_attributes = deps.attributes.get_attributes(&scope).await?.is_some();
    if had_attributes {
        deps.attributes.delete_attributes(&scope).await?;
    }
    if deleted == 0 && !had_attributes {
        return Err(ApiError::NotFound(format!(
            "no user {userid:?} on this server"
        )));
    }
    Ok(Deleted { deleted })
}

/// deleteUserAccounts: removes every account of the user; none is no error.
pub async fn delete_user_accounts(
    deps: &Deps,
    call: &WebsiteCall,
    userid: Checked<String>,
) -> Result<Deleted, ApiError> {
    let server = website::authorise(
        deps,
        &call.credentials,
        &[Permission::Accounts, Permission::Users],
    )
    .await?
    .server;
    let userid = userid?;
    let deleted = remove_user_accounts(deps, &server, &userid).await?;
    Ok(Deleted { deleted })
}

async fn remove_user_accounts(
    deps: &Deps,
    server: &Server,
    userid: &str,
) -> Result<usize, ApiError> {
    let accounts = deps
        .accounts
        .user_accounts(&server.serverid, userid)
        .await?;
    for a in &accounts {
        remove_account(deps, a).await?;
    }
    Ok(accounts.len())
}

/// Applies `change` to an account as the caller read it, written conditionally (read again
/// and applied again after a lost race; 404 once it is gone).
pub async fn update_account<F>(
    deps: &Deps,
    account: Account,
    change: F,
) -> Result<Account, ApiError>
where
    F: Fn(&mut Account),
{
    versioned::update(
        deps.accounts.as_ref(),
        deps.clock.as_ref(),
        account,
        |a, _| {
            let mut next = a.next_version();
            change(&mut next);
            Ok(Some(next))
        },
    )
    .await
}

/// Moves an account to a user (or to none); its logged-in sessions follow off the request
/// path (a sweep).
pub async fn set_userid(
    deps: &Deps,
    server: &Server,
    accountid: u64,
    userid: Option<String>,
) -> Result<Account, ApiError> {
    let account = load(deps, server, accountid).await?;
    let account = update_account(deps, account, |a| a.userid = userid.clone()).await?;
    sweeps::start(deps, &server.serverid, accountid).await?;
    Ok(account)
}

/// Blocks or unblocks an account. The account item says so at once (its phone is refused,
/// it is not pushed); its sessions follow off the request path (a sweep): a block ends its
/// logins and their `canprovoke`, an unblock gives `canprovoke` back (SPEC section 3).
pub async fn set_blocked(
    deps: &Deps,
    server: &Server,
    accountid: u64,
    blocked: bool,
) -> Result<Account, ApiError> {
    let account = load(deps, server, accountid).await?;
    let account = update_account(deps, account, |a| {
        a.blocked = blocked;
        // An admin's unblock also lifts the push block that fraud reports set.
        if !blocked {
            a.fraud_reports = 0;
        }
    })
    .await?;
    sweeps::start(deps, &server.serverid, accountid).await?;
    tracing::info!(accountid, blocked, "account block changed");
    Ok(account)
}

/// Removes an account: the account item goes at once (with its push endpoint and its claim
/// on the key); its logins end and its sessions can no longer provoke off the request path
/// (a sweep).
pub async fn remove_account(deps: &Deps, account: &Account) -> Result<(), ApiError> {
    let (serverid, accountid) = (&account.serverid, account.accountid);
    if let Some(p) = &account.push
        && let Err(e) = deps.push.delete_endpoint(&p.endpoint_arn).await
    {
        // The account goes anyway: a stale endpoint only costs a failed publish later.
        tracing::warn!(error = %e, accountid, "push endpoint not deleted");
    }
    match deps.accounts.delete_account(serverid, accountid).await {
        Ok(()) | Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    // Before the key's release: once the account item is gone a retry of this call finds
    // nothing to remove, so the sweep that ends its logins must not wait on anything else.
    sweeps::start(deps, serverid, accountid).await?;
    // The key may be enrolled again (on a new account) once its account is gone. Best
    // effort: a claim left behind only means that key pair cannot enrol here again.
    if let Some(fingerprint) = signing::key_fingerprint(&account.publickey)
        && let Err(e) = deps
            .accounts
            .release_public_key(serverid, &fingerprint)
            .await
    {
        tracing::warn!(error = %e, accountid, "key claim not released");
    }
    tracing::info!(accountid, "account removed");
    Ok(())
}
