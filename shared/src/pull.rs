//! Pushes without a push service (setting `push_delivery`): a login request pushed to an
//! account is also recorded for the account's phone to fetch itself (`GET
//! /app/v1/pushes`), so push login works for apps without Google services, during an
//! FCM or APNs outage, or with no platform application at all.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};

/// A login attempt pushed to an account, kept for its phone to fetch until `until` (the
/// attempt's end). Stored beside nothing else: one item per account and session, found
/// by a query on the account (never a Scan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPull {
    pub serverid: ServerId,
    pub accountid: u64,
    pub hsid: Hsid,
    /// The login attempt pushed: a later attempt of the session is not this push.
    pub attempt: u64,
    pub pushed_at: UnixTime,
    pub until: UnixTime,
}

/// The most pushes one fetch answers (a phone's rate limit keeps it far below).
pub const MAX_PULLS: usize = 100;
