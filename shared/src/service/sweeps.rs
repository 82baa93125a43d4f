//! Bringing an account's sessions in line with the account, off the request path. Blocking,
//! unblocking, removing or moving an account changes the account item at once (the phone
//! is refused, pushes stop) and stores a pass over its sessions ([`AccountSweep`]); the pass
//! runs a page of sessions at a time, each page ending with the pass's progress stored, so
//! that a pass cut off resumes where it stopped, and runs again harmlessly (every change is
//! [`Session::reconciled`], which writes nothing for a session already in line).
//!
//! Who runs a pass is the deployment's ([`SweepRunner`]): in AWS the table's stream does
//! (each write of the pass item wakes the notifier for the next page), the local stack
//! spawns a task, and tests run it inline or step by step.
//!
//! [`Session::reconciled`]: crate::session::Session::reconciled

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream;
use tokio::task::AbortHandle;

use crate::account::AccountSweep;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::ids::ServerId;
use crate::service::versioned;
use crate::store::StoreError;

/// Sessions a step of a pass handles: small enough for one short invocation.
pub const PAGE: u32 = 100;
/// Sessions of a page written at once: in AWS a step runs in the notifier, whose live
/// frames wait for it.
const WRITES_AT_ONCE: usize = 10;

/// Who runs a pass once it is stored.
#[async_trait]
pub trait SweepRunner: Send + Sync {
    async fn started(&self, deps: &Deps, sweep: AccountSweep);
}

/// AWS: the table's stream hands each write of the pass to the notifier, which runs the
/// next step ([`step`]); nothing to do here.
pub struct ByStream;

#[async_trait]
impl SweepRunner for ByStream {
    async fn started(&self, _deps: &Deps, _sweep: AccountSweep) {}
}

/// The whole pass before the request answers (tests, where what a request changes is
/// checked right after it).
pub struct Inline;

#[async_trait]
impl SweepRunner for Inline {
    async fn started(&self, deps: &Deps, sweep: AccountSweep) {
        if let Err(e) = run(deps, sweep).await {
            tracing::warn!(error = %e, "account sweep stopped");
        }
    }
}

/// The local stack: the pass on a task of its own. A newer pass of the same account stops
/// the task of the older one, which could otherwise write what it decided on the account's
/// older state after the newer pass went by (in AWS the stream hands one item's changes
/// over in order, one at a time).
#[derive(Default)]
pub struct Spawned {
    running: Mutex<HashMap<(ServerId, u64), AbortHandle>>,
}

#[async_trait]
impl SweepRunner for Spawned {
    async fn started(&self, deps: &Deps, sweep: AccountSweep) {
        let key = (sweep.serverid.clone(), sweep.accountid);
        let deps = deps.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = run(&deps, sweep).await {
                tracing::warn!(error = %e, "account sweep stopped");
            }
        });
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|_, t| !t.is_finished());
        if let Some(older) = running.insert(key, task.abort_handle()) {
            older.abort();
        }
    }
}

/// Stores a new pass over the account's sessions (replacing one under way, which then
/// yields) and hands it to the runner.
pub async fn start(deps: &Deps, serverid: &ServerId, accountid: u64) -> Result<(), ApiError> {
    let sweep = AccountSweep::new(serverid.clone(), accountid, deps.clock.now());
    deps.accounts.put_sweep(&sweep).await?;
    tracing::info!(accountid, "account sweep started");
    deps.sweeps.started(deps, sweep).await;
    Ok(())
}

/// One page of a pass. `Some`: the pass as stored for its next page; `None`: done (the pass
/// item is gone) or replaced by a newer pass.
pub async fn step(deps: &Deps, sweep: &AccountSweep) -> Result<Option<AccountSweep>, ApiError> {
    let (server, account) = deps
        .accounts
        .get_server_and_account(&sweep.serverid, sweep.accountid)
        .await?;
    let Some(server) = server else {
        finish(deps, sweep).await?;
        return Ok(None);
    };
    let settings = &server.settings;
    let page = deps
        .sessions
        .account_sessions(
            &sweep.serverid,
            sweep.accountid,
            PAGE,
            sweep.cursor.as_deref(),
        )
        .await?;
    let seen = page.items.len() as u64;
    let account = account.as_ref();
    let mut writes = stream::iter(page.items)
        .map(|session| {
            versioned::update(
                deps.sessions.as_ref(),
                deps.clock.as_ref(),
                session,
                |s, now| Ok(s.reconciled(sweep.accountid, account, settings, now)),
            )
        })
        .buffer_unordered(WRITES_AT_ONCE);
    while let Some(written) = writes.next().await {
        match written {
            // Gone since the index listed it (its TTL): nothing left to bring in line.
            Ok(_) | Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    drop(writes);
    match page.next {
        Some(cursor) => {
            let next = AccountSweep {
                cursor: Some(cursor),
                seen: sweep.seen + seen,
                ..sweep.clone()
            };
            match deps.accounts.advance_sweep(&next, sweep.seen).await {
                Ok(()) => Ok(Some(next)),
                // A newer pass took over (it goes over every session again), or this step
                // was run twice and the other run advanced the pass first.
                Err(StoreError::ConditionFailed) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        None => {
            tracing::info!(
                accountid = sweep.accountid,
                sessions = sweep.seen + seen,
                "account sweep done"
            );
            finish(deps, sweep).await?;
            Ok(None)
        }
    }
}

async fn finish(deps: &Deps, sweep: &AccountSweep) -> Result<(), ApiError> {
    match deps.accounts.finish_sweep(sweep).await {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Runs a pass to its end, step by step.
pub async fn run(deps: &Deps, sweep: AccountSweep) -> Result<(), ApiError> {
    let mut next = Some(sweep);
    while let Some(s) = next {
        next = step(deps, &s).await?;
    }
    Ok(())
}

/// Runs the stored pass of an account from where it stopped, if there is one.
pub async fn resume(deps: &Deps, serverid: &ServerId, accountid: u64) -> Result<(), ApiError> {
    match deps.accounts.get_sweep(serverid, accountid).await? {
        Some(s) => run(deps, s).await,
        None => Ok(()),
    }
}
