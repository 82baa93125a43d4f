//! Transactions kept on their session: a website asks the account logged in to a session
//! to sign a transaction; the record lives in the session item, so the phone's answer is one
//! conditional write of the session (no double answer), and the change reaches the page's
//! WebSocket as any other change of the session does.

use serde::{Deserialize, Serialize};

use crate::clock::{UnixTime, rfc3339};
use crate::server::Server;
use crate::session::{Session, SessionState, TransitionRefused};
use crate::settings::ServerSettings;
use crate::wire::Verification;

pub use nsauth_protocol::transaction::{
    SIGNED_TYPE, SignedTransaction, TransactionAnswer, TransactionApproval, TransactionContent,
    TransactionId, TransactionShown, TransactionState, parse_signed, signed_content,
};

/// How many transactions a session keeps (the open one and the latest answered ones).
pub const MAX_KEPT: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub tid: TransactionId,
    /// The account that must sign: the one logged in when the website asked.
    pub accountid: u64,
    /// The login it was asked in (`login_at` of the session): it closes when that ends.
    pub login_at: UnixTime,
    pub created: UnixTime,
    pub expires_at: UnixTime,
    /// The stored state; [`Transaction::state_at`] is what callers see.
    pub state: TransactionState,
    /// The exact text to sign, written once at creation.
    pub signed: String,
    /// base64url `r || s`, once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// base64 SPKI of the key that signed, kept so the proof outlives the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<UnixTime>,
    /// How the phone verified its user for the approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// What an approval adds to a transaction: the signature, the key that made it, and how
/// the phone verified its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// base64url `r || s`.
    pub signature: String,
    /// base64 SPKI.
    pub pk: String,
    pub verification: Verification,
}

impl Transaction {
    /// A new transaction for the account logged in to `session` (the caller checked that
    /// one is).
    pub fn new(
        tid: TransactionId,
        content: &TransactionContent,
        server: &Server,
        session: &Session,
        accountid: u64,
        now: UnixTime,
    ) -> Transaction {
        let signed = signed_content(&SignedTransaction {
            kind: SIGNED_TYPE.into(),
            serverid: server.serverid.to_string(),
            servername: server.settings.name.clone(),
            tid: tid.to_string(),
            accountid,
            amount: content.amount.clone(),
            benificiary: content.benificiary.clone(),
            description: content.description.clone(),
            created: rfc3339(now),
        });
        Transaction {
            tid,
            accountid,
            login_at: session.login_at.unwrap_or(now),
            created: now,
            expires_at: now + i64::from(server.settings.login_timeout),
            state: TransactionState::New,
            signed,
            signature: None,
            pk: None,
            answered_at: None,
            verification: None,
        }
    }

    /// What was asked, read back from the signed text.
    pub fn content(&self) -> TransactionContent {
        parse_signed(&self.signed)
            .map(|t| TransactionContent {
                amount: t.amount,
                benificiary: t.benificiary,
                description: t.description,
            })
            .unwrap_or_default()
    }

    /// The state at `now`: an unanswered one expires at its time, and when the login it
    /// was asked in has ended (logout, another login, `session_lifetime`).
    pub fn state_at(&self, session: &Session, now: UnixTime) -> TransactionState {
        if self.state != TransactionState::New {
            return self.state;
        }
        let same_login = session.state_at(now) == SessionState::LoggedIn
            && session.login_at == Some(self.login_at)
            && session
                .login
                .as_ref()
                .is_some_and(|l| l.accountid == self.accountid);
        if now >= self.expires_at || !same_login {
            TransactionState::Expired
        } else {
            TransactionState::New
        }
    }
}

impl Session {
    pub fn transaction(&self, tid: &TransactionId) -> Option<&Transaction> {
        self.transactions.iter().find(|t| &t.tid == tid)
    }

    /// The session with a new transaction for its logged-in account: an older one still
    /// open expires (one open transaction per session), and only the latest [`MAX_KEPT`]
    /// are kept.
    pub fn with_transaction(
        &self,
        tx: Transaction,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Result<Session, TransitionRefused> {
        let state = self.state_at(now);
        if state != SessionState::LoggedIn {
            return Err(TransitionRefused {
                action: "create a transaction on",
                state,
            });
        }
        let mut s = self.next_same_state(settings, now);
        for t in s.transactions.iter_mut() {
            if t.state == TransactionState::New {
                t.state = TransactionState::Expired;
                t.answered_at = Some(now);
            }
        }
        s.transactions.push(tx);
        let excess = s.transactions.len().saturating_sub(MAX_KEPT);
        s.transactions.drain(..excess);
        Ok(s)
    }

    /// The session with the phone's answer to an open transaction (approved with its
    /// signature, or declined). `None` when `tid` is not one of its transactions.
    pub fn answered_transaction(
        &self,
        tid: &TransactionId,
        state: TransactionState,
        proof: Option<&Proof>,
        settings: &ServerSettings,
        now: UnixTime,
    ) -> Option<Session> {
        let mut s = self.next_same_state(settings, now);
        let t = s.transactions.iter_mut().find(|t| &t.tid == tid)?;
        let proof = proof.filter(|_| state == TransactionState::Approved);
        t.state = state;
        t.signature = proof.map(|p| p.signature.clone());
        t.pk = proof.map(|p| p.pk.clone());
        t.verification = proof.map(|p| p.verification);
        t.answered_at = Some(now);
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hsid;
    use crate::session::LoginInfo;
    use crate::usercontext::UserContext;

    fn logged_in(now: UnixTime) -> (Server, Session) {
        let server = Server::new(ServerSettings::default(), now);
        let session = Session::new_pending(
            server.serverid.clone(),
            Hsid::parse("AAECAwQFBgcICQoLDA0ODw").unwrap(),
            &server.settings,
            UserContext::default(),
            now,
        );
        let login = LoginInfo {
            verification: None,
            channel: None,
            proximity: None,
            accountid: 3,
            userid: None,
            pk: "pk".into(),
        };
        let session = session.approve(login, &server.settings, now).unwrap();
        (server, session)
    }

    fn content(amount: &str) -> TransactionContent {
        TransactionContent {
            amount: amount.into(),
            benificiary: "Bob".into(),
            description: String::new(),
        }
    }

    #[test]
    fn one_open_transaction_and_the_latest_kept() {
        let now = 1_000;
        let (server, mut s) = logged_in(now);
        let mut tids = Vec::new();
        for i in 0..12 {
            let tid = TransactionId::generate(&s.hsid);
            let tx = Transaction::new(tid.clone(), &content(&i.to_string()), &server, &s, 3, now);
            s = s.with_transaction(tx, &server.settings, now).unwrap();
            tids.push(tid);
        }
        assert_eq!(s.transactions.len(), MAX_KEPT);
        assert!(s.transaction(&tids[0]).is_none());
        let open: Vec<_> = s
            .transactions
            .iter()
            .filter(|t| t.state_at(&s, now) == TransactionState::New)
            .collect();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].tid, tids[11]);
        assert_eq!(open[0].content().amount, "11");
        let signed = parse_signed(&open[0].signed).unwrap();
        assert_eq!(signed.accountid, 3);
        assert_eq!(signed.tid, tids[11].to_string());
    }

    #[test]
    fn closes_with_its_login_and_its_time() {
        let now = 1_000;
        let (server, s) = logged_in(now);
        let tid = TransactionId::generate(&s.hsid);
        let tx = Transaction::new(tid.clone(), &content("5"), &server, &s, 3, now);
        let s = s.with_transaction(tx, &server.settings, now).unwrap();
        let t = s.transaction(&tid).unwrap();
        assert_eq!(t.state_at(&s, now + 1), TransactionState::New);
        let timeout = i64::from(server.settings.login_timeout);
        assert_eq!(t.state_at(&s, now + timeout), TransactionState::Expired);
        let out = s.logout(&server.settings, now + 1).unwrap();
        assert_eq!(
            out.transaction(&tid).unwrap().state_at(&out, now + 1),
            TransactionState::Expired
        );
        // Not on a session nobody is logged in to.
        assert!(
            out.with_transaction(t.clone(), &server.settings, now + 2)
                .is_err()
        );
        let answered = s
            .answered_transaction(
                &tid,
                TransactionState::Approved,
                Some(&Proof {
                    signature: "sig".into(),
                    pk: "pk".into(),
                    verification: Verification::Pin,
                }),
                &server.settings,
                now + 2,
            )
            .unwrap();
        let t = answered.transaction(&tid).unwrap();
        assert_eq!(
            t.state_at(&answered, now + timeout),
            TransactionState::Approved
        );
        assert_eq!(t.signature.as_deref(), Some("sig"));
        assert_eq!(t.verification, Some(Verification::Pin));
    }
}
