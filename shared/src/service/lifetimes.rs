//! Logins that `session_lifetime` ends. The state callers see turns to logged out at
//! `expires_at` by itself ([`Session::state_at`]), with no write; so that the page gets its
//! LOGOUT frame and the website its logout event (`data.reason` `lifetime`), a scheduled run
//! writes the end down. A logged-in session is listed in the store's index of logins by the
//! minute they end ([`Session::ending_minute`], gsi2 `ENDS#<minute>` in DynamoDB); each run
//! queries the minutes from [`CATCH_UP_MINUTES`] before now up to now's, reads each session
//! listed, and ends those whose end is reached through [`versioned::update`]: the write is
//! conditional on the version read, so a login is ended at most once, and one logged out
//! or logged in again meanwhile is left alone. The stream then carries the write to the
//! watchers and the events topic like any logout.
//!
//! Who runs it: in AWS an EventBridge schedule, every minute, invokes the notifier
//! (`lambda::run_notifier` tells a scheduled event from a stream batch); the local stack
//! runs it on a task every few seconds; tests call [`end_due`].
//!
//! [`Session::state_at`]: crate::session::Session::state_at
//! [`Session::ending_minute`]: crate::session::Session::ending_minute

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use futures_util::stream;

use crate::clock::UnixTime;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::service::versioned;
use crate::session::minute_of;

/// Minutes before now's that a run looks at too: a run missed or failed (a deployment, an
/// outage of up to this long) is caught up by the next. A login whose end was missed for
/// longer still reads as logged out, but raises no frame or event.
pub const CATCH_UP_MINUTES: i64 = 10;

/// Sessions read and written at once.
const AT_ONCE: usize = 10;

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    /// Sessions the index listed in the minutes looked at.
    pub listed: usize,
    /// Logins this run ended (written).
    pub ended: usize,
    /// Sessions that could not be read or written (the next run tries them again).
    pub failed: usize,
}

/// Ends the logins whose `session_lifetime` is over at `now` and whose end fell in the
/// last [`CATCH_UP_MINUTES`] minutes (or earlier in now's minute). One index query per
/// minute, then one read per listed session and one write per ended login. `Err` only when
/// the index cannot be queried; a session that fails is counted and left to the next run.
pub async fn end_due(deps: &Deps, now: UnixTime) -> Result<Ended, ApiError> {
    let mut out = Ended::default();
    let last = minute_of(now);
    for minute in last - CATCH_UP_MINUTES..=last {
        let listed = deps.sessions.sessions_ending(minute).await?;
        out.listed += listed.len();
        let mut runs = stream::iter(listed)
            .map(|hsid| async move {
                // The index is eventually consistent and keys only: the session as it is.
                let Some(session) = deps.sessions.get_session(&hsid).await? else {
                    return Ok(false); // gone (its TTL)
                };
                if session.ended_by_lifetime(now).is_none() {
                    return Ok(false); // not due yet, or no longer logged in
                }
                // Whether the last decision wrote: after a lost race to another run, the
                // change finds nothing to do and the login was not ended by this one.
                let wrote = AtomicBool::new(false);
                versioned::update(
                    deps.sessions.as_ref(),
                    deps.clock.as_ref(),
                    session,
                    |s, _| {
                        let next = s.ended_by_lifetime(now);
                        wrote.store(next.is_some(), Ordering::Relaxed);
                        Ok(next)
                    },
                )
                .await?;
                Ok::<bool, ApiError>(wrote.load(Ordering::Relaxed))
            })
            .buffer_unordered(AT_ONCE);
        while let Some(done) = runs.next().await {
            match done {
                Ok(true) => out.ended += 1,
                Ok(false) | Err(ApiError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a login's end not written; the next run retries");
                    out.failed += 1;
                }
            }
        }
    }
    if out.ended > 0 || out.failed > 0 {
        tracing::info!(
            listed = out.listed,
            ended = out.ended,
            failed = out.failed,
            "logins ended by their lifetime"
        );
    }
    Ok(out)
}
