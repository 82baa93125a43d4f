//! The JSON of the phone API (SPEC 5.2, 5.3; docs/phone-protocol.md): what a phone sends
//! and what the server answers, and the session states both sides name. The server reads
//! requests into these types and writes answers from them, so a client that uses them
//! speaks exactly what the server speaks.
//!
//! Request types are lenient where the server checks a field itself (an absent `token` is
//! an empty string, an absent `platform` is `None`), so that the server can name the field
//! in its 400 answer rather than fail on the shape.

use serde::{Deserialize, Serialize};

use crate::usercontext::SessionInfo;

/// The state of a session (SPEC section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Pending,
    Scanned,
    LoggedIn,
    LoggedOut,
    Cancelled,
    Expired,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Pending => "pending",
            SessionState::Scanned => "scanned",
            SessionState::LoggedIn => "loggedin",
            SessionState::LoggedOut => "loggedout",
            SessionState::Cancelled => "cancelled",
            SessionState::Expired => "expired",
        }
    }

    /// A login attempt is under way: the phone may still scan or approve.
    pub fn is_open_attempt(self) -> bool {
        matches!(self, SessionState::Pending | SessionState::Scanned)
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The push service an account's app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Apns,
    ApnsSandbox,
    Fcm,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Apns => "apns",
            Platform::ApnsSandbox => "apns_sandbox",
            Platform::Fcm => "fcm",
        }
    }
}

/// A device's push token: enrol's `push` and the body of `PUT /app/v1/push`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRegistration {
    pub platform: Option<Platform>,
    #[serde(default)]
    pub token: String,
}

/// `POST /app/v1/enrol`, signed with `account=new` by the key being enrolled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The single-use token of the enrolment link.
    #[serde(default)]
    pub token: String,
    /// base64url (no padding) SPKI of the new P-256 public key.
    #[serde(default)]
    pub publickey: String,
    /// The device's name; empty takes the `name` the website gave the link.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub clientversion: String,
    #[serde(default)]
    pub push: Option<PushRegistration>,
}

/// The answer of enrol (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    pub serverid: String,
    pub servername: String,
    pub accountid: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// Whether pushes can reach this account (false when the deployment has no platform
    /// application for the app's platform, or SNS refused the token).
    pub push: bool,
}

/// The answer of `GET /app/v1/sessions/{hsid}`: what the phone shows before the user
/// decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shown {
    pub serverid: String,
    pub servername: String,
    pub logo: String,
    pub announceinfo: SessionInfo,
    pub state: SessionState,
    /// The three numbers to offer while number matching is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// Where an app-to-app login may return: the app follows a link's `return` only when it
    /// is on this list (exact, or under an entry ending in `/`).
    pub return_urls: Vec<String>,
    /// The server's user verification policy: whether the phone should (or must) verify its
    /// user before approving.
    pub user_verification: UserVerification,
    /// Whether this phone is on the browser's network (absent when the server's
    /// `proximity` setting is off): the app warns before approving on `different_network`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proximity: Option<crate::proximity::Proximity>,
    /// Whether an approval from another network is refused (`proximity` is `require` and
    /// this is not a push to this phone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proximity_required: bool,
    /// Where the browser is, coarsely, when the server has a GeoIP database and it knows
    /// the address the website gave (absent otherwise, and when `proximity` is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_location: Option<crate::proximity::Location>,
    /// Where this phone's request came from, by the same database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_location: Option<crate::proximity::Location>,
}

/// How the phone verified its user before approving: part of the signed body of approve
/// and of a transaction's approval, so it cannot be changed on the way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verification {
    /// The user only tapped approve (or the app did not say).
    #[default]
    None,
    /// The user entered the app's PIN.
    Pin,
    /// The platform's biometric check (Face ID, fingerprint) passed.
    Biometric,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::None => "none",
            Verification::Pin => "pin",
            Verification::Biometric => "biometric",
        }
    }

    /// Whether the user proved to the phone who they are (not only that they hold it).
    pub fn is_verified(self) -> bool {
        self != Verification::None
    }
}

/// A server's policy on user verification (setting `user_verification`): whether an
/// approval must say the phone verified its user. Transactions always need it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerification {
    /// The phone should not ask (fastest login); a verified approval is still taken.
    Discouraged,
    /// The phone asks when it can; an approval without it is taken.
    #[default]
    Preferred,
    /// An approval without verification is refused (403 `user_verification_required`).
    Required,
}

impl UserVerification {
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Discouraged => "discouraged",
            UserVerification::Preferred => "preferred",
            UserVerification::Required => "required",
        }
    }
}

/// `POST /app/v1/sessions/{hsid}/approve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproveRequest {
    /// What the user typed, if the app asked.
    #[serde(default)]
    pub userinput: Option<String>,
    /// The number the user picked (two digits) when number matching is on.
    #[serde(default, rename = "match")]
    pub match_number: Option<String>,
    /// How the phone verified its user; absent is `none`.
    #[serde(default)]
    pub verification: Verification,
}

/// Why the user denied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyReason {
    #[default]
    User,
    Fraud,
}

/// `POST /app/v1/sessions/{hsid}/deny`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyRequest {
    #[serde(default)]
    pub reason: DenyReason,
}

/// The answer of approve, deny and the phone's logout: the session's state after the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateAnswer {
    pub state: SessionState,
}

/// A session in the phone's list (`GET /app/v1/sessions`) and in the website's
/// getAccountSessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionListEntry {
    pub hsid: String,
    pub state: SessionState,
    pub loggedin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accountid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub sessioninfo: SessionInfo,
    /// How the phone verified its user for the session's last login, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// One page of sessions, newest login first, and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<SessionListEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The answer of in-app login: the nonce for the app to hand to its own backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InAppLogin {
    pub nonce: String,
    pub hsid: String,
}

/// The answer of `GET /app/v1/pushes`: the login requests pushed to this account whose
/// attempt is still open, newest first, each exactly the data of the FCM message (strings:
/// `type`, `v`, `serverid`, `hsid`, `servername`, `title`, `body`, `announceinfo` as JSON
/// text, `choices` comma-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPushes {
    pub pushes: Vec<serde_json::Value>,
    /// Whether the website keeps pushes for its phones to fetch (`push_delivery`
    /// `sns_and_pull` or `pull`); false: the list is always empty and the app may stop
    /// asking.
    pub pull: bool,
}

/// `POST /app/v1/transfer`: an enrolled phone asks for a link to enrol a new phone to the
/// same user (moving to a new phone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    /// Remove this phone's account once the new phone has enrolled.
    #[serde(default)]
    pub remove_after: bool,
}

/// The answer of `POST /app/v1/transfer`: an enrolment link (single use, short-lived) for
/// the new phone to scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLink {
    pub link: String,
    /// RFC 3339 UTC.
    pub expires: String,
    pub userid: String,
    pub remove_after: bool,
}

/// The answer of `PUT /app/v1/push`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAnswer {
    pub push: bool,
}

/// The answer of `DELETE /app/v1/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_on_the_wire() {
        assert_eq!(
            serde_json::to_value(SessionState::LoggedIn).unwrap(),
            "loggedin"
        );
        assert_eq!(
            serde_json::to_value(Platform::ApnsSandbox).unwrap(),
            "apns_sandbox"
        );
        let a: ApproveRequest = serde_json::from_value(json!({"match": "42"})).unwrap();
        assert_eq!(a.match_number.as_deref(), Some("42"));
        let d: DenyRequest = serde_json::from_value(json!({})).unwrap();
        assert_eq!(d.reason, DenyReason::User);
        let e: EnrolRequest = serde_json::from_value(json!({"push": {"platform": "fcm"}})).unwrap();
        assert_eq!(e.push.unwrap().platform, Some(Platform::Fcm));
        // An answer without a userid still names the field (the phone API's own shape).
        let enrolled = Enrolled {
            serverid: "s".into(),
            servername: "n".into(),
            accountid: 1,
            userid: None,
            push: false,
        };
        assert_eq!(
            serde_json::to_value(&enrolled).unwrap()["userid"],
            json!(null)
        );
    }
}
