//! Accounts (one app instance's key for one server) and users (SPEC section 2).

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::error::ApiError;
use crate::ids::ServerId;

pub use crate::ids::parse_accountid;
pub use crate::wire::Platform;

/// The account's SNS platform endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEndpoint {
    pub platform: Platform,
    pub endpoint_arn: String,
    /// SNS reported the endpoint disabled; skipped until a new push token arrives.
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub serverid: ServerId,
    pub accountid: u64,
    /// base64url SPKI DER of the P-256 public key.
    pub publickey: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub clientversion: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    #[serde(default)]
    pub blocked: bool,
    pub created: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastlogin: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastprovoke: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushEndpoint>,
    #[serde(default)]
    pub fraud_reports: u32,
    /// Set while the enrolment that made the account is unfinished (written, but its
    /// website session's login not yet): such an account is in no index and no read but
    /// the enrolment's own returns it, so an enrolment cut off and never retried leaves
    /// nothing a website can see. The time is when it is dropped then (its TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolling: Option<UnixTime>,
    /// Bumped by every write; the condition of the next one.
    pub version: u64,
}

/// What the website sees of an account (getAccount, getUser, getAllAccounts): v2.2's
/// Account (`id`, `description`, `userid`, `blocked`, `clientVersion`, and the times as
/// int64 milliseconds since the epoch) with our `accountid`, `pk` and `push` beside it. A
/// field without a value is left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    pub id: u64,
    pub accountid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// base64 (standard) SPKI, as LoginStatus's `pk`.
    pub pk: String,
    pub description: String,
    pub blocked: bool,
    #[serde(rename = "clientVersion")]
    pub client_version: String,
    pub created: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastlogin: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastprovoke: Option<i64>,
    pub push: bool,
}

/// v2.2's timestamps: milliseconds since the epoch (our times are kept in seconds).
pub fn millis(t: UnixTime) -> i64 {
    t.saturating_mul(1000)
}

impl Account {
    /// The public key as the v2.2 API writes it: standard base64 of the SPKI.
    pub fn pk_std(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.publickey)
            .map(|der| crate::ids::b64std(&der))
            .unwrap_or_default()
    }

    pub fn view(&self) -> AccountView {
        AccountView {
            id: self.accountid,
            accountid: self.accountid,
            userid: self.userid.clone(),
            pk: self.pk_std(),
            description: self.description.clone(),
            blocked: self.blocked,
            client_version: self.clientversion.clone(),
            created: millis(self.created),
            lastlogin: self.lastlogin.map(millis),
            lastprovoke: self.lastprovoke.map(millis),
            push: self.push.as_ref().is_some_and(|p| !p.disabled),
        }
    }

    /// Whether its enrolment is finished: only such an account is read as an account
    /// (see [`Account::enrolling`]).
    pub fn is_finished(&self) -> bool {
        self.enrolling.is_none()
    }

    pub fn next_version(&self) -> Account {
        let mut a = self.clone();
        a.version += 1;
        a
    }
}

/// A pass over an account's sessions that brings them in line with the account: when it
/// is blocked or removed their logins end and they can no longer push; unblocked, they can
/// push again; moved to another user, their logins carry the new userid. Stored while it
/// runs (a page of sessions at a time), so a pass cut off resumes where it stopped, and a
/// new change of the account starts a new pass (`run`) that the old one yields to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSweep {
    pub serverid: ServerId,
    pub accountid: u64,
    /// Random: which pass this is.
    pub run: u64,
    /// Where the next page starts (the session list's cursor); none for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub started: UnixTime,
    /// Sessions looked at so far.
    #[serde(default)]
    pub seen: u64,
    /// DynamoDB TTL: a pass that stalls is cleaned up after a day.
    pub ttl: UnixTime,
}

impl AccountSweep {
    pub fn new(serverid: ServerId, accountid: u64, now: UnixTime) -> Self {
        AccountSweep {
            serverid,
            accountid,
            run: rand::random(),
            cursor: None,
            started: now,
            seen: 0,
            ttl: now + 86_400,
        }
    }
}

pub const MAX_USERID_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 100;

/// A short free text (a description, a client version, a user's input): at most `max`
/// characters, none of them control characters (they would reach terminals and logs).
pub fn validate_text(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(())
}

/// A userid chosen by the website: 1 to 256 characters, no control characters.
pub fn validate_userid(field: &str, v: &str) -> Result<String, ApiError> {
    if v.is_empty() || v.chars().count() > MAX_USERID_CHARS {
        return Err(ApiError::invalid_field(
            field,
            format!("a userid is 1 to {MAX_USERID_CHARS} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userids() {
        assert!(validate_userid("userid", "alice@example.com").is_ok());
        assert!(validate_userid("userid", "").is_err());
        assert!(validate_userid("userid", &"x".repeat(257)).is_err());
        assert!(validate_userid("userid", "a\nb").is_err());
    }
}
