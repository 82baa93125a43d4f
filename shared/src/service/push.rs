//! Push login (SPEC sections 4 and 6): provokeLogin, provokeLoginOnUser and
//! provokeLoginOnAccount, with the per-account rate limit, the fraud block and number
//! matching. The WebSocket's PROVOKE frame pushes through [`provoke`] too.

use futures_util::future::join_all;
use serde::Serialize;

use crate::account::{Account, PushEndpoint};
use crate::apikey::Permission;
use crate::clock::UnixTime;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::pull::PendingPull;
use crate::push::{PushError, PushMessage};
use crate::server::Server;
use crate::service::Checked;
use crate::service::accounts::update_account;
use crate::service::limits::{self, Window};
use crate::service::versioned;
use crate::service::website::{self, SessionCall};
use crate::session::Session;
use crate::settings::{PushDelivery, ServerSettings};
use crate::store::Counted;
use crate::usercontext::UserContext;

/// The answer of a push call: how many accounts were reached, and the number the website
/// shows when number matching is on.
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub pushed: usize,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_number: Option<String>,
}

/// provokeLogin: push to the session's last account.
pub async fn provoke_login(
    deps: &Deps,
    call: &SessionCall,
    context: Checked<Option<UserContext>>,
) -> Result<Pushed, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let context = context?;
    let account = last_account(deps, &ws.server, ws.session.as_ref()).await?;
    let session = ws.ensure(deps, None).await?;
    provoke(deps, &ws.server, session, vec![account], context).await
}

/// provokeLoginOnUser: push to every account of the user that can be pushed.
pub async fn provoke_login_on_user(
    deps: &Deps,
    call: &SessionCall,
    userid: Checked<String>,
    context: Checked<Option<UserContext>>,
) -> Result<Pushed, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions, Permission::Users]).await?;
    let userid = userid?;
    let context = context?;
    let accounts = deps
        .accounts
        .user_accounts(&ws.server.serverid, &userid)
        .await?;
    if accounts.is_empty() {
        return Err(ApiError::conflict(
            "cannot_provoke",
            "this user has no accounts",
        ));
    }
    let session = ws.ensure(deps, None).await?;
    provoke(deps, &ws.server, session, accounts, context).await
}

/// provokeLoginOnAccount: push to one account.
pub async fn provoke_login_on_account(
    deps: &Deps,
    call: &SessionCall,
    accountid: Checked<u64>,
    context: Checked<Option<UserContext>>,
) -> Result<Pushed, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions, Permission::Accounts]).await?;
    let id = accountid?;
    let context = context?;
    let account = deps
        .accounts
        .get_account(&ws.server.serverid, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account {id} on this server")))?;
    let session = ws.ensure(deps, None).await?;
    provoke(deps, &ws.server, session, vec![account], context).await
}

/// The account a session's provokeLogin pushes to: its last account, while the session
/// can provoke (SPEC section 3).
pub async fn last_account(
    deps: &Deps,
    server: &Server,
    session: Option<&Session>,
) -> Result<Account, ApiError> {
    let cannot = || {
        ApiError::conflict(
            "cannot_provoke",
            "this session has no account to push to: log in once with the QR code first",
        )
    };
    let session = session.filter(|s| s.canprovoke).ok_or_else(cannot)?;
    let accountid = session.last_accountid.ok_or_else(cannot)?;
    deps.accounts
        .get_account(&server.serverid, accountid)
        .await?
        .ok_or_else(cannot)
}

/// The push rate window a time falls in.
pub fn push_window(settings: &ServerSettings, t: UnixTime) -> Window {
    Window::at(settings.push_window, t)
}

/// Why an account cannot be pushed, if it cannot.
pub(crate) fn unpushable(a: &Account, settings: &ServerSettings) -> Option<&'static str> {
    if a.blocked {
        Some("the account is blocked")
    } else if a.fraud_reports >= settings.fraud_block_after {
        Some("pushes to the account are blocked after fraud reports; an admin must unblock it")
    } else {
        // With pull delivery the phone fetches its pushes itself: no endpoint needed.
        match (&a.push, settings.push_delivery) {
            (_, PushDelivery::SnsAndPull | PushDelivery::Pull) => None,
            (None, PushDelivery::Sns) => Some("the account has no push endpoint"),
            (Some(p), PushDelivery::Sns) if p.disabled => {
                Some("the account's push endpoint is disabled")
            }
            (Some(_), PushDelivery::Sns) => None,
        }
    }
}

/// Refunds (-1) the push of an attempt to this account, in the window it was counted in
/// (`pushed_at`), or penalises (+1) it in the current window.
pub async fn adjust_for_attempt(
    deps: &Deps,
    server: &Server,
    session: &Session,
    accountid: u64,
    delta: i32,
) {
    let Some(at) = session
        .pushed_at
        .filter(|_| session.pushed.contains(&accountid))
    else {
        return;
    };
    let window = push_window(
        &server.settings,
        if delta < 0 { at } else { deps.clock.now() },
    );
    limits::adjust(
        deps,
        &server.serverid,
        Counted::Account(accountid),
        window,
        delta,
    )
    .await;
}

/// Publishes at most this many pushes of one call at once.
const PUBLISH_CONCURRENCY: usize = 8;

/// Publishes one account's push. On failure its count is refunded, and an endpoint SNS
/// reports disabled is marked on the account; one failing account does not stop the others.
pub(crate) async fn deliver(
    deps: &Deps,
    (account, endpoint): (&Account, &PushEndpoint),
    message: &PushMessage,
    window: Window,
    now: UnixTime,
    pulled: bool,
) -> Result<(), PushError> {
    let accountid = account.accountid;
    let result = deps.push.publish(&endpoint.endpoint_arn, message).await;
    match &result {
        Ok(()) => {
            let _ = update_account(deps, account.clone(), |x| x.lastprovoke = Some(now)).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, accountid, "push not sent");
            if *e == PushError::Disabled {
                let _ = update_account(deps, account.clone(), |x| {
                    if let Some(p) = x.push.as_mut() {
                        p.disabled = true;
                    }
                })
                .await;
            }
            // A push the phone can still fetch was delivered all the same.
            if !pulled {
                let counted = Counted::Account(accountid);
                limits::adjust(deps, &account.serverid, counted, window, -1).await;
            }
        }
    }
    result
}

/// The push message of a session's login attempt: the same on SNS and when fetched.
pub(crate) fn login_message(server: &Server, session: &Session, now: UnixTime) -> PushMessage {
    PushMessage {
        notice: false,
        new_network: false,
        serverid: server.serverid.to_string(),
        hsid: session.hsid.to_string(),
        servername: server.settings.name.clone(),
        announceinfo: session.context.announceinfo.clone(),
        choices: session.matching.as_ref().map(|m| m.choices.clone()),
        expires_in: session.expires_at - now,
        tid: None,
    }
}

/// Records the push of `session`'s attempt for `account`'s phone to fetch; whether it was.
async fn record_pull(deps: &Deps, account: &Account, session: &Session, now: UnixTime) -> bool {
    let pull = PendingPull {
        serverid: account.serverid.clone(),
        accountid: account.accountid,
        hsid: session.hsid.clone(),
        attempt: session.attempt,
        pushed_at: now,
        until: session.expires_at,
    };
    match deps.push_counters.put_pull(&pull).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, accountid = account.accountid, "push not recorded for pull");
            false
        }
    }
}

/// Pushes the session to `targets`: filters those that cannot be pushed, counts each
/// against its rate limit, begins or joins the login attempt, publishes, and marks
/// endpoints SNS reports disabled.
pub async fn provoke(
    deps: &Deps,
    server: &Server,
    session: Session,
    targets: Vec<Account>,
    context: Option<UserContext>,
) -> Result<Pushed, ApiError> {
    let settings = &server.settings;
    let now = deps.clock.now();
    // Checked again in the write below; here it spares a refused push the count writes.
    if let Some(why) = session.push_refusal(context.as_ref(), now) {
        return Err(ApiError::conflict("session_state", why));
    }
    let mut reasons = Vec::new();
    let candidates: Vec<Account> = targets
        .into_iter()
        .filter(|a| match unpushable(a, settings) {
            Some(r) => {
                reasons.push(r);
                false
            }
            None => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(ApiError::conflict(
            "cannot_provoke",
            match reasons.first() {
                Some(r) if reasons.len() == 1 => format!("cannot push: {r}"),
                _ => "cannot push: no account that can be pushed".to_string(),
            },
        ));
    }
    // The rate limit: one conditional counter per account and window.
    let window = push_window(settings, now);
    let give_back = |counted: &[Account]| {
        let ids: Vec<u64> = counted.iter().map(|a| a.accountid).collect();
        async move {
            for id in ids {
                limits::adjust(deps, &server.serverid, Counted::Account(id), window, -1).await;
            }
        }
    };
    // All at once: a user's many devices cost one round trip, not one each.
    let takes = join_all(candidates.iter().map(|a| {
        limits::take(
            deps,
            &server.serverid,
            Counted::Account(a.accountid),
            window,
            settings.push_limit,
        )
    }))
    .await;
    let mut counted = Vec::new();
    let mut failed = None;
    for (a, taken) in candidates.into_iter().zip(takes) {
        match taken {
            Ok(true) => counted.push(a),
            Ok(false) => tracing::info!(accountid = a.accountid, "push rate limited"),
            Err(e) => failed = Some(e),
        }
    }
    if let Some(e) = failed {
        give_back(&counted).await;
        return Err(e);
    }
    if counted.is_empty() {
        let limits = format!(
            "at most {} pushes per {} s to an account",
            settings.push_limit, settings.push_window
        );
        return Err(limits::refused("push_rate_limited", limits, window, now));
    }
    let ids: Vec<u64> = counted.iter().map(|a| a.accountid).collect();
    let attempt = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| {
            // The session may have changed since it was read (logged in, scanned).
            if let Some(why) = s.push_refusal(context.as_ref(), now) {
                return Err(ApiError::conflict("session_state", why));
            }
            Ok(Some(s.pushed_to(&ids, context.clone(), settings, now)))
        },
    )
    .await;
    let session = match attempt {
        Ok(s) => s,
        Err(e) => {
            // Nothing was pushed: give the counted slots back.
            give_back(&counted).await;
            return Err(e);
        }
    };
    let message = login_message(server, &session, now);
    // Pull first: recorded for the phones to fetch (one write each, all at once). An
    // account that pull reaches and SNS does not still counts as reached.
    let pulled: Vec<bool> = if settings.push_delivery == PushDelivery::Sns {
        vec![false; counted.len()]
    } else {
        join_all(counted.iter().map(|a| record_pull(deps, a, &session, now))).await
    };
    // In parallel, so that a user's devices do not wait for each other and an SNS outage
    // costs one timeout, not one per device.
    let mut results = Vec::with_capacity(counted.len());
    let endpoints: Vec<(&Account, &PushEndpoint)> = if settings.push_delivery == PushDelivery::Pull
    {
        Vec::new()
    } else {
        counted
            .iter()
            .filter_map(|a| a.push.as_ref().filter(|p| !p.disabled).map(|p| (a, p)))
            .collect()
    };
    let pulled_ids: Vec<u64> = counted
        .iter()
        .zip(&pulled)
        .filter(|(_, p)| **p)
        .map(|(a, _)| a.accountid)
        .collect();
    let (message, pulled_ids) = (&message, &pulled_ids);
    for batch in endpoints.chunks(PUBLISH_CONCURRENCY) {
        let sends: Vec<_> = batch
            .iter()
            .map(|&(a, p)| async move {
                let by_pull = pulled_ids.contains(&a.accountid);
                (
                    a.accountid,
                    deliver(deps, (a, p), message, window, now, by_pull).await,
                )
            })
            .collect();
        results.extend(join_all(sends).await);
    }
    let by_sns: Vec<u64> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(a, _)| *a)
        .collect();
    let mut pushed = 0;
    for (a, by_pull) in counted.iter().zip(&pulled) {
        let reached = *by_pull || by_sns.contains(&a.accountid);
        if reached {
            pushed += 1;
            if !by_sns.contains(&a.accountid) {
                let _ = update_account(deps, a.clone(), |x| x.lastprovoke = Some(now)).await;
            }
        } else if !results.iter().any(|(id, _)| *id == a.accountid) {
            // Neither path took it (a pull write failed, and no endpoint): give it back.
            limits::adjust(deps, &a.serverid, Counted::Account(a.accountid), window, -1).await;
        }
    }
    if pushed == 0
        && results
            .iter()
            .any(|(_, r)| matches!(r, Err(PushError::Unavailable(_))))
    {
        // Nothing went out because SNS failed: a transient error the caller retries, not
        // an answer of "pushed 0".
        return Err(ApiError::Unavailable);
    }
    tracing::info!(hsid = %session.hsid, pushed, "login pushed");
    Ok(Pushed {
        pushed,
        match_number: session.matching.as_ref().map(|m| m.number.clone()),
    })
}
