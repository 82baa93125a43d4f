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
    pub ttl: UnixTime,
}
