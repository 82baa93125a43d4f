//! The fixed-window counters behind every rate limit: the website's pushes per account
//! (`push_limit` per `push_window`), a page's PROVOKE frames per session and per connection,
//! and an account's logins (`login_limit` per `login_window`). One conditional counter item
//! per counted thing and window; DynamoDB's TTL removes it an hour after its window.

use crate::clock::UnixTime;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::ids::ServerId;
use crate::store::{Counted, StoreError};

/// A window of a rate limit: the `index`-th window of its length since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub index: i64,
    pub end: UnixTime,
}

impl Window {
    /// The window of `length` seconds that `t` falls in.
    pub fn at(length: u32, t: UnixTime) -> Window {
        let length = i64::from(length.max(1));
        let index = t.div_euclid(length);
        Window {
            index,
            end: (index + 1) * length,
        }
    }

    /// A counter lives an hour past its window.
    fn ttl(&self) -> UnixTime {
        self.end + 3_600
    }

    /// Seconds until the window ends, at least 1 (the `Retry-After` of a refusal).
    pub fn retry_after(&self, now: UnixTime) -> u64 {
        (self.end - now).max(1) as u64
    }
}

/// Counts one event in `window` if fewer than `limit` are counted there: `false`, and
/// nothing counted, when the window is full.
pub async fn take(
    deps: &Deps,
    serverid: &ServerId,
    counted: Counted<'_>,
    window: Window,
    limit: u32,
) -> Result<bool, ApiError> {
    match deps
        .push_counters
        .count_push(serverid, counted, window.index, limit, window.ttl())
        .await
    {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Adds `delta` to a window's count: -1 gives back an event that did not happen, +1
/// counts a denied push twice. Best effort: a lost adjustment only makes one window's
/// limit a little looser or stricter.
pub async fn adjust(
    deps: &Deps,
    serverid: &ServerId,
    counted: Counted<'_>,
    window: Window,
    delta: i32,
) {
    if let Err(e) = deps
        .push_counters
        .adjust_push_count(serverid, counted, window.index, delta, window.ttl())
        .await
    {
        tracing::warn!(error = %e, delta, "rate count not adjusted");
    }
}

/// The 429 answer for a full window: `limits` says what they are, then when to retry.
pub fn refused(code: &'static str, limits: String, window: Window, now: UnixTime) -> ApiError {
    let retry_after = window.retry_after(now);
    ApiError::TooManyRequests {
        code,
        message: format!("{limits}; retry after {retry_after} s"),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_end_where_the_next_begins() {
        let w = Window::at(60, 119);
        assert_eq!(w, Window { index: 1, end: 120 });
        assert_eq!(Window::at(60, 120).index, 2);
        assert_eq!(w.retry_after(119), 1);
        assert_eq!(w.retry_after(100), 20);
        // Never 0, even at the end (the clock may be ahead of the window's reader).
        assert_eq!(w.retry_after(120), 1);
        // A length of 0 (not accepted by the settings, but never a division by zero).
        assert_eq!(Window::at(0, 5), Window { index: 5, end: 6 });
        // Before the epoch the window still contains the time.
        assert_eq!(Window::at(60, -1), Window { index: -1, end: 0 });
    }

    #[test]
    fn a_refusal_says_the_limits_and_when_to_retry() {
        let e = refused("x_limited", "at most 3".into(), Window::at(60, 30), 30);
        assert_eq!(e.code(), "x_limited");
        assert_eq!(e.to_string(), "at most 3; retry after 30 s");
        assert!(matches!(
            e,
            ApiError::TooManyRequests {
                retry_after: 30,
                ..
            }
        ));
    }
}
