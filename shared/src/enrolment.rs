//! The stored enrolment token (SPEC 5.2): which website session asked for the link, the
//! userid and name to give the new account, and whether the token was used. The token
//! itself (shape, hash, link) is the protocol's ([`crate::enrol`]).

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolToken {
    pub serverid: ServerId,
    pub token_hash: String,
    /// The website session that asked for the link; the new account is logged in to it.
    pub hsid: Hsid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// The `name` given to getQrEnrol: the new account's default description.
    #[serde(default)]
    pub name: String,
    pub created: UnixTime,
    pub expires_at: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<UnixTime>,
    /// The fingerprint of the key that used it: the same key may use it again (a retry
    /// after a lost answer), no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
    /// The account id the enrolment took, recorded with the first use so that a retry
    /// makes the same account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accountid: Option<u64>,
    /// A transfer link made by an enrolled phone (moving to a new phone): the account that
    /// made it. The new account takes its user; `hsid` is then no website session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_from: Option<u64>,
    /// With `transfer_from`: the old account is removed once the new one is enrolled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove_after: bool,
    pub ttl: UnixTime,
}

/// How long a transfer link may be used: it is shown on one phone to be scanned by the
/// other, right away.
pub const TRANSFER_LIFETIME_SECONDS: UnixTime = 300;

/// Who uses an enrolment token: the new key (by fingerprint) and the account id allocated
/// for it (kept only by the first use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUse<'a> {
    pub fingerprint: &'a str,
    pub accountid: u64,
}
