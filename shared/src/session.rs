//! The session life cycle (SPEC section 3): states, transitions and LoginStatus.
//!
//! A [`Session`] is the stored record; its `state` is what was last written. The state a
//! caller sees is [`Session::state_at`] a given time: expiry is decided when the item is
//! read, never left to DynamoDB TTL. Every transition returns a new record with `version`
//! one higher; the store writes it on condition that the stored version is still the old
//! one, so of two concurrent transitions exactly one wins.

use serde::{Deserialize, Serialize};

use crate::clock::{UnixTime, rfc3339};
use crate::error::ApiError;
use crate::ids::{Hsid, ServerId};
use crate::links;
use crate::proximity::Proximity;
use crate::settings::{NumberMatch, QrRotation, ServerSettings};
use crate::usercontext::UserContext;
use crate::wire::{SessionListEntry, Verification};

pub use crate::wire::SessionState;

/// Who is logged in; copied into the session at login so that getSession is one read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginInfo {
    pub accountid: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// base64 SPKI of the account key.
    pub pk: String,
    /// How the phone verified its user for this login (absent for in-app logins and
    /// enrolments, and for logins stored before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// How the login came about (for the `account.login` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<LoginChannel>,
    /// The phone's network against the browser's at the approval (when `proximity` is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proximity: Option<Proximity>,
}

/// How a login came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginChannel {
    /// The phone opened the login link: a QR code, or app-to-app.
    Link,
    /// A push to the phone (through SNS or fetched).
    Push,
    /// In-app login (the website's own app).
    InApp,
    /// The enrolment of a new phone logged the page in.
    Enrol,
}

impl LoginChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginChannel::Link => "link",
            LoginChannel::Push => "push",
            LoginChannel::InApp => "inapp",
            LoginChannel::Enrol => "enrol",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub serverid: ServerId,
    pub hsid: Hsid,
    pub state: SessionState,
    /// Bumped by every write; the condition of the next one.
    pub version: u64,
    pub created: UnixTime,
    pub updated: UnixTime,
    /// When the current login attempt began.
    pub attempt_started: UnixTime,
    /// The number of the current login attempt (1 for the first): what a page's live token
    /// is bound to. Sessions stored before it existed read as 0.
    #[serde(default)]
    pub attempt: u64,
    /// When the stored state ends by itself: the attempt's timeout while pending or
    /// scanned, the end of the session lifetime while logged in.
    pub expires_at: UnixTime,
    /// DynamoDB TTL: `remember_seconds` after the last activity (clean-up only).
    pub ttl: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<LoginInfo>,
    /// The time of the last login (kept after logout: the account's session list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_at: Option<UnixTime>,
    /// The account of the last login, kept after logout for provokeLogin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accountid: Option<u64>,
    /// True after a login while the last account exists and is not blocked; account
    /// changes update it so that reading it needs no second item.
    #[serde(default)]
    pub canprovoke: bool,
    #[serde(default)]
    pub context: UserContext,
    /// The last notable thing that happened to the session besides its state (for the
    /// website's live view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<SessionEvent>,
    /// What the user typed on the phone when approving, if the app asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinput: Option<String>,
    /// Number matching of the current attempt: the number the website shows and the three
    /// the phone offers (SPEC section 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<Matching>,
    /// Accounts pushed in the current attempt, and when (for the rate limit's accounting).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushed: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<UnixTime>,
    /// The account last enrolled through this session's enrolment link (the enrolment
    /// block's cue, also when the session was logged in already).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled: Option<u64>,
    /// Transactions the website asked the logged-in account to sign (the latest few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<crate::transaction::Transaction>,
    /// The HTML block was rendered for the current attempt: with `qr_rotation` `block`, the
    /// phone then takes only the block's rotating codes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub qr_rotating: bool,
    /// Why the last login ended, once it has (the logout event's `data.reason`). Sessions
    /// stored before it existed read as `None`, which the event reports as `logout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<EndReason>,
}

/// Why a login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// Logged out: by the website, the phone or the page.
    Logout,
    /// `session_lifetime` ran out (written afterwards by `service::lifetimes`).
    Lifetime,
    /// The account was blocked.
    Blocked,
    /// The account was removed.
    Removed,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::Lifetime => "lifetime",
            EndReason::Blocked => "blocked",
            EndReason::Removed => "removed",
        }
    }
}

/// The minute (unix time / 60) a time falls in: the bucket of the index of logins by their
/// end (`Session::ending_minute`).
pub fn minute_of(t: UnixTime) -> i64 {
    t.div_euclid(60)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matching {
    /// Two digits, "10" to "99".
    pub number: String,
    /// Three distinct numbers, the right one among them at a random position.
    pub choices: Vec<String>,
}

impl Matching {
    pub fn generate() -> Matching {
        use rand::seq::SliceRandom;
        let number: u8 = rand::random_range(10..100);
        let mut choices = vec![number];
        while choices.len() < 3 {
            let c: u8 = rand::random_range(10..100);
            if !choices.contains(&c) {
                choices.push(c);
            }
        }
        choices.shuffle(&mut rand::rng());
        Matching {
            number: number.to_string(),
            choices: choices.iter().map(u8::to_string).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionEvent {
    /// A phone without an account for this server opened the login link.
    NoAccounts,
    /// The phone reported the request as fraud.
    Fraud,
}

/// The answer of getSession (SPEC section 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginStatus {
    pub loggedin: bool,
    // A field without a value is left out, never null: v2.2 types are plain strings and
    // integers, and typed clients generated from them refuse a null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accountid: Option<u64>,
    pub canprovoke: bool,
    pub hsid: String,
    pub loginqrdata: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pk: Option<String>,
    pub state: SessionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The number to show while a login attempt with number matching is open.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_number: Option<String>,
    /// While logged in after a phone's approval: how the phone verified its user (`none`,
    /// `pin`, `biometric`); our addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// The answer of the polling fallback (`GET /status/{serverid}/{hsid}`): nothing about the
/// user.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PollStatus {
    pub state: SessionState,
    pub canprovoke: bool,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_number: Option<String>,
}

/// A transition the session's state does not allow (409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a session that is {state}")]
pub struct TransitionRefused {
    pub action: &'static str,
    pub state: SessionState,
}

impl From<TransitionRefused> for ApiError {
    /// 409 `session_state`, naming the state.
    fn from(e: TransitionRefused) -> Self {
        ApiError::conflict("session_state", e.to_string())
    }
}

impl Session {
    /// A new session at the start of its first login attempt.
    pub fn new_pending(
        serverid: ServerId,
        hsid: Hsid,
        settings: &ServerSettings,
        context: UserContext,
        now: UnixTime,
    ) -> Self {
        let expires_at = now + i64::from(settings.login_timeout);
        Session {
            serverid,
            hsid,
            state: SessionState::Pending,
            version: 1,
            created: now,
            updated: now,
            attempt_started: now,
            attempt: 1,
            expires_at,
            ttl: expires_at + i64::from(settings.remember_seconds),
            login: None,
            login_at: None,
            last_accountid: None,
            canprovoke: false,
            context,
            event: None,
            userinput: None,
            matching: (settings.number_match == NumberMatch::Always).then(Matching::generate),
            pushed: Vec::new(),
            pushed_at: None,
            enrolled: None,
            transactions: Vec::new(),
            qr_rotating: false,
            ended: None,
        }
    }

    /// The minute a stored login ends in, while the stored state is logged in: the bucket
    /// under which the store lists the session for [`Session::ended_by_lifetime`] (`None`
    /// in every other state, so the entry goes with the write that ends the login).
    pub fn ending_minute(&self) -> Option<i64> {
        (self.state == SessionState::LoggedIn).then(|| minute_of(self.expires_at))
    }

    /// The state as of `now`, with expiry applied.
    pub fn state_at(&self, now: UnixTime) -> SessionState {
        match self.state {
            SessionState::Pending | SessionState::Scanned if now >= self.expires_at => {
                SessionState::Expired
            }
            SessionState::LoggedIn if now >= self.expires_at => SessionState::LoggedOut,
            s => s,
        }
    }

    pub fn login_link(&self, settings: &ServerSettings) -> String {
        links::login_link(&settings.link_base, &self.serverid, &self.hsid)
    }

    pub fn status(&self, settings: &ServerSettings, now: UnixTime) -> LoginStatus {
        let state = self.state_at(now);
        let loggedin = state == SessionState::LoggedIn;
        let login = self.login.as_ref().filter(|_| loggedin);
        let expires = match state {
            SessionState::Pending | SessionState::Scanned | SessionState::LoggedIn => {
                Some(rfc3339(self.expires_at))
            }
            _ => None,
        };
        LoginStatus {
            loggedin,
            userid: login.and_then(|l| l.userid.clone()),
            accountid: login.map(|l| l.accountid),
            canprovoke: self.canprovoke,
            hsid: self.hsid.to_string(),
            loginqrdata: links::login_qr_data(&self.login_link(settings)),
            pk: login.map(|l| l.pk.clone()),
            state,
            expires,
            match_number: self.open_match(now).map(String::from),
            verification: login.and_then(|l| l.verification),
        }
    }

    pub fn poll_status(&self, now: UnixTime) -> PollStatus {
        PollStatus {
            state: self.state_at(now),
            canprovoke: self.canprovoke,
            match_number: self.open_match(now).map(String::from),
        }
    }

    /// The session as the phone's and the website's session lists show it.
    pub fn list_entry(&self, settings: &ServerSettings, now: UnixTime) -> SessionListEntry {
        let st = self.status(settings, now);
        SessionListEntry {
            hsid: self.hsid.to_string(),
            state: st.state,
            loggedin: st.loggedin,
            accountid: st.accountid,
            login_at: self.login_at.map(rfc3339),
            expires: st.expires,
            sessioninfo: self.context.sessioninfo.clone(),
            verification: self.login.as_ref().and_then(|l| l.verification),
        }
    }

    /// The number to match while the attempt is open.
    pub fn open_match(&self, now: UnixTime) -> Option<&str> {
        self.matching
            .as_ref()
            .filter(|_| self.state_at(now).is_open_attempt())
            .map(|m| m.number.as_str())
    }

    /// Why a push with `context` (None: keep the session's) may not go out now, if it may
    /// not: a logged-in session must be logged out first; a scanned one has shown its
    /// announceinfo on a phone whose user is deciding on it, so another context would make
    /// that approval stand for something the user never saw.
    pub fn push_refusal(
        &self,
        context: Option<&UserContext>,
        now: UnixTime,
    ) -> Option<&'static str> {
        match self.state_at(now) {
            SessionState::LoggedIn => {
                Some("the session is logged in; log it out before pushing a new login")
            }
            SessionState::Scanned if context.is_some_and(|c| *c != self.context) => Some(
                "a phone is showing this login request; push another UserContext after it is \
                 answered or expires, or push without one",
            ),
            _ => None,
        }
    }

    /// A push in this attempt: records the accounts and sets up number matching when the
    /// server asks for it (keeping an existing number, so every push of one attempt shows
    /// the same). Begins a new attempt if none is open; the caller checks [`Session::push_refusal`]
    /// first.
    pub fn pushed_to(
        &self,
        accounts: &[u64],
        context: Option<UserContext>,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Session {
        let mut s = self
            .begin_attempt(settings, None, now)
            .unwrap_or_else(|| self.next(self.state, settings, now));
        if let Some(c) = context {
            s.context = c;
        }
        if settings.number_match != NumberMatch::Off && s.matching.is_none() {
            s.matching = Some(Matching::generate());
        }
        for a in accounts {
            if !s.pushed.contains(a) {
                s.pushed.push(*a);
            }
        }
        s.pushed_at = Some(now);
        s
    }

    fn next(&self, state: SessionState, settings: &ServerSettings, now: UnixTime) -> Session {
        let mut s = self.clone();
        s.state = state;
        s.version = self.version + 1;
        s.updated = now;
        s.ttl = now.max(s.expires_at) + i64::from(settings.remember_seconds);
        s
    }

    /// The next version of the session in the same state (a change beside the life cycle).
    pub(crate) fn next_same_state(&self, settings: &ServerSettings, now: UnixTime) -> Session {
        self.next(self.state, settings, now)
    }

    /// A new login attempt (QR or HTML block asked for, or a push) unless one is under
    /// way or the session is logged in; `None` means the session stays as it is.
    pub fn begin_attempt(
        &self,
        settings: &ServerSettings,
        context: Option<UserContext>,
        now: UnixTime,
    ) -> Option<Session> {
        match self.state_at(now) {
            SessionState::Pending | SessionState::Scanned | SessionState::LoggedIn => None,
            _ => {
                let mut s = self.next(SessionState::Pending, settings, now);
                s.attempt_started = now;
                s.attempt = self.attempt + 1;
                s.expires_at = now + i64::from(settings.login_timeout);
                s.ttl = s.expires_at + i64::from(settings.remember_seconds);
                s.login = None;
                s.event = None;
                s.userinput = None;
                s.pushed = Vec::new();
                s.pushed_at = None;
                s.qr_rotating = false;
                s.matching =
                    (settings.number_match == NumberMatch::Always).then(Matching::generate);
                if let Some(c) = context {
                    s.context = c;
                }
                Some(s)
            }
        }
    }

    /// The website shows the QR or the block (getQrLogin, getHtmlLogin), with the optional
    /// UserContext of the call: a new attempt, with that context, unless one is under way
    /// or the session is logged in; a pending session takes a new context. A scanned
    /// session keeps its own (the phone has shown the announceinfo and the user decides on
    /// that), a logged-in one the sessioninfo of its login. `None`: nothing changes (no
    /// write).
    pub fn shown(
        &self,
        settings: &ServerSettings,
        context: Option<&UserContext>,
        now: UnixTime,
    ) -> Option<Session> {
        if let Some(s) = self.begin_attempt(settings, context.cloned(), now) {
            return Some(s);
        }
        let context = context.filter(|c| *c != &self.context)?;
        if self.state_at(now) != SessionState::Pending {
            return None;
        }
        let mut s = self.next(SessionState::Pending, settings, now);
        s.context = context.clone();
        Some(s)
    }

    /// Whether the current attempt takes only rotating QR codes (docs/security.md).
    pub fn rotating(&self, settings: &ServerSettings) -> bool {
        match settings.qr_rotation {
            QrRotation::Off => false,
            QrRotation::Block => self.qr_rotating,
            QrRotation::Always => true,
        }
    }

    /// The HTML block is shown for the current attempt (see [`Session::rotating`]); `None`
    /// when that is known already.
    pub fn block_shown(&self, settings: &ServerSettings, now: UnixTime) -> Option<Session> {
        if self.qr_rotating || settings.qr_rotation != QrRotation::Block {
            return None;
        }
        let mut s = self.next_same_state(settings, now);
        s.qr_rotating = true;
        Some(s)
    }

    /// A phone opened the login link.
    pub fn scan(
        &self,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Result<Session, TransitionRefused> {
        match self.state_at(now) {
            SessionState::Pending => Ok(self.next(SessionState::Scanned, settings, now)),
            state => Err(TransitionRefused {
                action: "scan",
                state,
            }),
        }
    }

    /// A phone approved: the account is logged in until logout or `session_lifetime`.
    pub fn approve(
        &self,
        login: LoginInfo,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Result<Session, TransitionRefused> {
        let state = self.state_at(now);
        if !state.is_open_attempt() {
            return Err(TransitionRefused {
                action: "approve",
                state,
            });
        }
        let mut s = self.next(SessionState::LoggedIn, settings, now);
        s.expires_at = now + i64::from(settings.session_lifetime);
        s.ttl = s.expires_at + i64::from(settings.remember_seconds);
        s.last_accountid = Some(login.accountid);
        s.canprovoke = true;
        s.login = Some(login);
        s.login_at = Some(now);
        s.ended = None;
        Ok(s)
    }

    /// The phone denied (or picked the wrong number).
    pub fn cancel(
        &self,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Result<Session, TransitionRefused> {
        let state = self.state_at(now);
        if !state.is_open_attempt() {
            return Err(TransitionRefused {
                action: "cancel",
                state,
            });
        }
        Ok(self.next(SessionState::Cancelled, settings, now))
    }

    /// Records an event without changing the state.
    pub fn noted(&self, event: SessionEvent, settings: &ServerSettings, now: UnixTime) -> Session {
        let mut s = self.next(self.state, settings, now);
        s.event = Some(event);
        s
    }

    /// The logged-in account moved to another user (updateAccountUser, registerUser).
    pub fn noted_login_user(
        &self,
        userid: Option<String>,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Session {
        let mut s = self.next(self.state, settings, now);
        if let Some(l) = s.login.as_mut() {
            l.userid = userid;
        }
        s
    }

    /// The last account was blocked, unblocked or removed.
    pub fn with_canprovoke(
        &self,
        canprovoke: bool,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Session {
        let mut s = self.next(self.state, settings, now);
        s.canprovoke = canprovoke;
        s
    }

    /// The session brought in line with its account `accountid` (`None`: removed): a login
    /// of a removed or blocked account ends, a login's userid follows the account's, and
    /// `canprovoke` is true while the session's last account exists and is not blocked
    /// (SPEC section 3). `None` when nothing changes (or the session is another account's).
    pub fn reconciled(
        &self,
        accountid: u64,
        account: Option<&crate::account::Account>,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Option<Session> {
        let active = account.is_some_and(|a| !a.blocked);
        let mut next: Option<Session> = None;
        let logged_in_here = self.state_at(now) == SessionState::LoggedIn
            && self
                .login
                .as_ref()
                .is_some_and(|l| l.accountid == accountid);
        if logged_in_here {
            if !active {
                next = self.logout(settings, now).map(|mut n| {
                    n.ended = Some(if account.is_some() {
                        EndReason::Blocked
                    } else {
                        EndReason::Removed
                    });
                    n
                });
            } else if let Some(a) = account
                && self.login.as_ref().is_some_and(|l| l.userid != a.userid)
            {
                next = Some(self.noted_login_user(a.userid.clone(), settings, now));
            }
        }
        if self.last_accountid == Some(accountid) {
            let current = next.as_ref().unwrap_or(self);
            if current.canprovoke != active {
                next = Some(match next {
                    Some(mut n) => {
                        n.canprovoke = active;
                        n
                    }
                    None => self.with_canprovoke(active, settings, now),
                });
            }
        }
        next
    }

    /// Ends a login; `None` when there is none to end (logout is idempotent).
    pub fn logout(&self, settings: &ServerSettings, now: UnixTime) -> Option<Session> {
        (self.state_at(now) == SessionState::LoggedIn).then(|| {
            let mut s = self.next(SessionState::LoggedOut, settings, now);
            s.expires_at = now;
            s.login = None;
            s.ended = Some(EndReason::Logout);
            s
        })
    }

    /// Writes down the end of a login that `session_lifetime` ended (the state callers
    /// see is logged out from `expires_at` on; this makes the stored state say so, for the
    /// LOGOUT frame and the logout event). `None` unless the stored state is logged in and
    /// its end is reached at `now`: a login logged out meanwhile, or a new one, is left
    /// alone. `expires_at` keeps the end, and `ttl` is unchanged (no activity).
    pub fn ended_by_lifetime(&self, now: UnixTime) -> Option<Session> {
        (self.state == SessionState::LoggedIn && now >= self.expires_at).then(|| {
            let mut s = self.clone();
            s.state = SessionState::LoggedOut;
            s.version = self.version + 1;
            s.updated = now;
            s.login = None;
            s.ended = Some(EndReason::Lifetime);
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(now: UnixTime) -> (Session, ServerSettings) {
        let settings = ServerSettings::default();
        let s = Session::new_pending(
            ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap(),
            Hsid::parse("5KvIv6Y0y8IgLQULP8ZR_Q").unwrap(),
            &settings,
            UserContext::default(),
            now,
        );
        (s, settings)
    }

    fn login() -> LoginInfo {
        LoginInfo {
            verification: None,
            channel: None,
            proximity: None,
            accountid: 7,
            userid: Some("alice".into()),
            pk: "cGs=".into(),
        }
    }

    fn context(action: &str) -> UserContext {
        let mut c = UserContext::default();
        c.announceinfo.info.insert("action".into(), action.into());
        c
    }

    #[test]
    fn a_push_keeps_what_a_phone_has_shown() {
        let (s, settings) = fixture(1000);
        let pay = context("Pay");
        let other = context("Other");
        // Pending: any context may be pushed; nobody has seen the request yet.
        assert_eq!(s.push_refusal(Some(&pay), 1010), None);
        let pushed = s.pushed_to(&[7], Some(pay.clone()), &settings, 1010);
        // Scanned: the same context or none, not another.
        let scanned = pushed.scan(&settings, 1020).unwrap();
        assert_eq!(scanned.push_refusal(None, 1030), None);
        assert_eq!(scanned.push_refusal(Some(&pay), 1030), None);
        assert!(scanned.push_refusal(Some(&other), 1030).is_some());
        // Once the attempt is over, a push begins a new one with any context.
        let later = scanned.expires_at + 1;
        assert_eq!(scanned.push_refusal(Some(&other), later), None);
        // Logged in: never.
        let loggedin = scanned.approve(login(), &settings, 1040).unwrap();
        assert!(loggedin.push_refusal(None, 1050).is_some());
    }

    #[test]
    fn shown_takes_a_context_only_for_a_new_attempt_or_while_pending() {
        let (s, settings) = fixture(1000);
        let pay = context("Pay");
        // Pending: a new context is one change, the same one again none, no body none.
        let taken = s.shown(&settings, Some(&pay), 1010).expect("a change");
        assert_eq!(
            (taken.context.clone(), taken.version, taken.expires_at),
            (pay.clone(), s.version + 1, s.expires_at),
            "the attempt goes on"
        );
        assert!(taken.shown(&settings, Some(&pay), 1020).is_none());
        assert!(taken.shown(&settings, None, 1020).is_none());
        // Scanned and logged in keep theirs.
        let scanned = taken.scan(&settings, 1030).unwrap();
        assert!(
            scanned
                .shown(&settings, Some(&context("Other")), 1040)
                .is_none()
        );
        let loggedin = scanned.approve(login(), &settings, 1050).unwrap();
        assert!(
            loggedin
                .shown(&settings, Some(&context("Other")), 1060)
                .is_none()
        );
        // Expired: a new attempt, with the context given (or the old one without).
        let later = taken.expires_at + 1;
        let again = taken
            .shown(&settings, Some(&context("Again")), later)
            .unwrap();
        assert_eq!(again.state_at(later), SessionState::Pending);
        assert_eq!(again.context, context("Again"));
        assert_eq!(again.expires_at, later + i64::from(settings.login_timeout));
        let kept = taken.shown(&settings, None, later).unwrap();
        assert_eq!(kept.context, pay);
    }

    #[test]
    fn pending_expires_at_login_timeout_without_a_write() {
        let (s, settings) = fixture(1000);
        assert_eq!(s.state_at(1299), SessionState::Pending);
        assert_eq!(s.state_at(1300), SessionState::Expired);
        let st = s.status(&settings, 1300);
        assert_eq!(st.state, SessionState::Expired);
        assert_eq!(st.expires, None);
        assert_eq!(
            s.status(&settings, 1000).expires.as_deref(),
            Some("1970-01-01T00:21:40Z")
        );
    }

    #[test]
    fn approve_then_logout_then_new_attempt() {
        let (s, settings) = fixture(1000);
        let scanned = s.scan(&settings, 1010).unwrap();
        assert_eq!(scanned.version, 2);
        let inn = scanned.approve(login(), &settings, 1020).unwrap();
        let st = inn.status(&settings, 1030);
        assert!(st.loggedin);
        assert_eq!(st.userid.as_deref(), Some("alice"));
        assert_eq!(st.accountid, Some(7));
        assert_eq!(st.pk.as_deref(), Some("cGs="));
        assert!(st.canprovoke);
        assert!(inn.begin_attempt(&settings, None, 1030).is_none());
        let out = inn.logout(&settings, 1040).unwrap();
        let st = out.status(&settings, 1041);
        assert!(!st.loggedin);
        assert_eq!((st.userid, st.accountid, st.pk), (None, None, None));
        assert!(st.canprovoke, "canprovoke survives logout");
        assert!(
            out.logout(&settings, 1042).is_none(),
            "logout is idempotent"
        );
        let again = out.begin_attempt(&settings, None, 1050).unwrap();
        assert_eq!(again.state_at(1050), SessionState::Pending);
        assert_eq!((s.attempt, again.attempt), (1, 2), "attempts are numbered");
        assert_eq!(again.expires_at, 1350);
        assert_eq!(again.last_accountid, Some(7));
    }

    #[test]
    fn login_ends_after_session_lifetime() {
        let (s, settings) = fixture(0);
        let inn = s.approve(login(), &settings, 10).unwrap();
        assert_eq!(inn.state_at(10 + 43_199), SessionState::LoggedIn);
        assert_eq!(inn.state_at(10 + 43_200), SessionState::LoggedOut);
        assert!(!inn.status(&settings, 10 + 43_200).loggedin);
    }

    #[test]
    fn a_lifetime_end_is_written_once_and_only_when_due() {
        let (s, settings) = fixture(0);
        let inn = s.approve(login(), &settings, 10).unwrap();
        let end = 10 + 43_200;
        assert_eq!(inn.ending_minute(), Some(end / 60));
        assert_eq!(s.ending_minute(), None, "not logged in: not listed");
        assert!(inn.ended_by_lifetime(end - 1).is_none(), "not due yet");
        let out = inn.ended_by_lifetime(end + 5).unwrap();
        assert_eq!(out.state, SessionState::LoggedOut);
        assert_eq!(out.ended, Some(EndReason::Lifetime));
        assert_eq!(
            (out.version, out.expires_at, out.ttl),
            (inn.version + 1, end, inn.ttl)
        );
        assert_eq!(out.login, None);
        assert_eq!(out.ending_minute(), None);
        assert!(out.ended_by_lifetime(end + 6).is_none(), "once");
        assert_eq!(
            out.status(&settings, end + 6),
            inn.status(&settings, end + 6)
        );
        // Logged out by hand first: nothing to end.
        let by_hand = inn.logout(&settings, 20).unwrap();
        assert_eq!(by_hand.ended, Some(EndReason::Logout));
        assert!(by_hand.ended_by_lifetime(end + 5).is_none());
        // A new login clears the reason of the last end.
        let again = out
            .begin_attempt(&settings, None, end + 10)
            .unwrap()
            .approve(login(), &settings, end + 11)
            .unwrap();
        assert_eq!(again.ended, None);
    }

    #[test]
    fn refused_transitions() {
        let (s, settings) = fixture(1000);
        let err = s.approve(login(), &settings, 1300).unwrap_err();
        assert_eq!(err.state, SessionState::Expired);
        let denied = s.cancel(&settings, 1001).unwrap();
        assert!(denied.approve(login(), &settings, 1002).is_err());
        assert!(denied.scan(&settings, 1002).is_err());
        let inn = s.approve(login(), &settings, 1001).unwrap();
        assert!(inn.approve(login(), &settings, 1002).is_err());
        let out = inn.logout(&settings, 1003).unwrap();
        assert_eq!(
            out.approve(login(), &settings, 1004).unwrap_err().state,
            SessionState::LoggedOut
        );
    }

    #[test]
    fn sessions_follow_their_account() {
        use crate::account::Account;
        let (s, settings) = fixture(1000);
        let inn = s.approve(login(), &settings, 1010).unwrap();
        let mut account = Account {
            serverid: inn.serverid.clone(),
            accountid: 7,
            publickey: String::new(),
            description: String::new(),
            clientversion: String::new(),
            userid: Some("alice".into()),
            blocked: false,
            created: 0,
            lastlogin: None,
            lastprovoke: None,
            push: None,
            fraud_reports: 0,
            enrolling: None,
            version: 1,
        };
        // In line already: nothing to write.
        assert_eq!(inn.reconciled(7, Some(&account), &settings, 1020), None);
        // Another account's session is left alone.
        assert_eq!(inn.reconciled(8, None, &settings, 1020), None);
        // Moved to another user: the login says so.
        account.userid = Some("bob".into());
        let moved = inn.reconciled(7, Some(&account), &settings, 1020).unwrap();
        assert_eq!(moved.status(&settings, 1021).userid.as_deref(), Some("bob"));
        assert!(moved.canprovoke);
        // Blocked: the login ends and pushes stop, in one write.
        account.blocked = true;
        let blocked = moved
            .reconciled(7, Some(&account), &settings, 1030)
            .unwrap();
        assert_eq!(blocked.state_at(1031), SessionState::LoggedOut);
        assert!(!blocked.canprovoke);
        assert_eq!(blocked.version, moved.version + 1);
        assert_eq!(
            blocked.reconciled(7, Some(&account), &settings, 1040),
            None,
            "idempotent"
        );
        // Unblocked: pushes again (the ended login stays ended).
        account.blocked = false;
        let unblocked = blocked
            .reconciled(7, Some(&account), &settings, 1050)
            .unwrap();
        assert!(unblocked.canprovoke);
        assert_eq!(unblocked.state_at(1051), SessionState::LoggedOut);
        // Removed: no pushes.
        let removed = unblocked.reconciled(7, None, &settings, 1060).unwrap();
        assert!(!removed.canprovoke);
    }

    #[test]
    fn ttl_outlives_expiry_by_remember_seconds() {
        let (s, settings) = fixture(1000);
        assert_eq!(s.ttl, 1300 + 2_592_000);
        let inn = s.approve(login(), &settings, 1100).unwrap();
        assert_eq!(inn.ttl, 1100 + 43_200 + 2_592_000);
    }
}
