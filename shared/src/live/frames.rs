//! The WebSocket text protocol: `TYPE HSID SERVERID` frames, and which frames a change of a
//! session (old and new image) or a REGISTER produces. The notifier (from DynamoDB Streams)
//! and the local stack (from its store's change feed) use the same functions.

use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};
use crate::session::{Session, SessionEvent, SessionState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Login,
    Logout,
    CanProvoke,
    ConfirmScan,
    ConfirmProvoke,
    Cancel,
    NoAccounts,
    /// A phone enrolled through the session's enrolment link.
    Enrolled,
    /// The attempt timed out (answer to REGISTER; expiry itself writes nothing).
    Expired,
    Match(String),
    /// A transaction of the session was created or answered: its id and v2.2 `tstatus`.
    TxStatus(String, &'static str),
}

impl Frame {
    pub fn text(&self, hsid: &Hsid, serverid: &ServerId) -> String {
        let kind = match self {
            Frame::Login => "LOGIN",
            Frame::Logout => "LOGOUT",
            Frame::CanProvoke => "CANPROVOKE",
            Frame::ConfirmScan => "CONFIRMSCAN",
            Frame::ConfirmProvoke => "CONFIRMPROVOKE",
            Frame::Cancel => "CANCEL",
            Frame::NoAccounts => "NOACCOUNTS",
            Frame::Enrolled => "ENROLLED",
            Frame::Expired => "EXPIRED",
            Frame::Match(n) => return format!("MATCH {hsid} {serverid} {n}"),
            Frame::TxStatus(tid, tstatus) => {
                return format!("TXSTATUS {hsid} {serverid} {tid} {tstatus}");
            }
        };
        format!("{kind} {hsid} {serverid}")
    }
}

/// An error frame: `ERROR <code> <message>`.
pub fn error_text(code: &str, message: &str) -> String {
    format!("ERROR {code} {}", message.replace(['\n', '\r'], " "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Register,
    Provoke,
    Logout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    pub kind: ClientKind,
    pub hsid: Hsid,
    pub serverid: ServerId,
    /// The page's live token (`data-token`), an optional fourth field: PROVOKE and LOGOUT
    /// need it, REGISTER takes none.
    pub token: Option<String>,
}

/// The longest frame a client may send (four short fields).
pub const MAX_CLIENT_FRAME: usize = 160;
/// The longest live token a frame may carry (ours are 22 characters).
const MAX_TOKEN: usize = 64;

/// Parses a client frame; the error is an `ERROR` frame's code and message.
pub fn parse_client(text: &str) -> Result<ClientFrame, (&'static str, String)> {
    if text.len() > MAX_CLIENT_FRAME {
        return Err((
            "bad_frame",
            format!("frames are at most {MAX_CLIENT_FRAME} bytes"),
        ));
    }
    let parts: Vec<&str> = text.trim().split(' ').collect();
    let (kind, hsid, serverid, token) = match parts.as_slice() {
        [kind, hsid, serverid] => (kind, hsid, serverid, None),
        [kind, hsid, serverid, token] => (kind, hsid, serverid, Some(*token)),
        _ => {
            return Err((
                "bad_frame",
                "expected: REGISTER|PROVOKE|LOGOUT HSID SERVERID [TOKEN]".into(),
            ));
        }
    };
    let kind = match *kind {
        "REGISTER" => ClientKind::Register,
        "PROVOKE" => ClientKind::Provoke,
        "LOGOUT" => ClientKind::Logout,
        _ => {
            return Err((
                "bad_frame",
                "unknown frame type; use REGISTER, PROVOKE or LOGOUT".into(),
            ));
        }
    };
    let hsid = Hsid::parse(hsid).ok_or(("bad_frame", "not an hsid".to_string()))?;
    let serverid = ServerId::parse(serverid).ok_or(("bad_frame", "not a server id".to_string()))?;
    let token = match token {
        None => None,
        Some(t)
            if !t.is_empty()
                && t.len() <= MAX_TOKEN
                && t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') =>
        {
            Some(t.to_string())
        }
        Some(_) => return Err(("bad_frame", "not a live token".to_string())),
    };
    Ok(ClientFrame {
        kind,
        hsid,
        serverid,
        token,
    })
}

/// What REGISTER answers: the state, then CANPROVOKE when true, then MATCH when open.
pub fn register_answer(s: &Session, now: UnixTime) -> Vec<Frame> {
    // As nextAuth documents it: LOGIN or LOGOUT first, always (LOGOUT for any session
    // nobody is logged in to), then CANPROVOKE, then what else the state says.
    let state = s.state_at(now);
    let mut out = vec![if state == SessionState::LoggedIn {
        Frame::Login
    } else {
        Frame::Logout
    }];
    if s.canprovoke {
        out.push(Frame::CanProvoke);
    }
    match state {
        SessionState::Expired => out.push(Frame::Expired),
        SessionState::Cancelled => out.push(Frame::Cancel),
        SessionState::Scanned => out.push(Frame::ConfirmScan),
        SessionState::LoggedIn | SessionState::LoggedOut | SessionState::Pending => {}
    }
    if let Some(m) = s.open_match(now) {
        out.push(Frame::Match(m.to_string()));
    }
    out
}

/// The frames a write of a session produces for its watchers.
pub fn for_change(old: Option<&Session>, new: &Session, now: UnixTime) -> Vec<Frame> {
    let mut out = Vec::new();
    let old_state = old.map(|o| o.state);
    if old_state != Some(new.state) {
        match new.state {
            SessionState::LoggedIn => out.push(Frame::Login),
            SessionState::LoggedOut => out.push(Frame::Logout),
            SessionState::Cancelled => out.push(Frame::Cancel),
            SessionState::Scanned => out.push(Frame::ConfirmScan),
            SessionState::Pending | SessionState::Expired => {}
        }
    }
    let old_event = old.and_then(|o| o.event);
    if new.event == Some(SessionEvent::NoAccounts) && old_event != new.event {
        out.push(Frame::NoAccounts);
    }
    if new.enrolled.is_some() && old.and_then(|o| o.enrolled) != new.enrolled {
        out.push(Frame::Enrolled);
    }
    if new.pushed_at.is_some() && old.and_then(|o| o.pushed_at) != new.pushed_at {
        out.push(Frame::ConfirmProvoke);
    }
    let old_match = old
        .and_then(|o| o.matching.as_ref())
        .map(|m| m.number.as_str());
    if let Some(m) = new.open_match(now)
        && old_match != Some(m)
    {
        out.push(Frame::Match(m.to_string()));
    }
    if new.canprovoke && !old.is_some_and(|o| o.canprovoke) {
        out.push(Frame::CanProvoke);
    }
    // By the state callers see: a logout (or a block's sweep) that ends the login also
    // closes its open transaction, and the page hears of it.
    for t in &new.transactions {
        let now_state = t.state_at(new, now);
        let before = old.and_then(|o| o.transaction(&t.tid).map(|ot| ot.state_at(o, now)));
        if before != Some(now_state) {
            out.push(Frame::TxStatus(t.tid.to_string(), now_state.tstatus()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoginInfo;
    use crate::settings::ServerSettings;
    use crate::usercontext::UserContext;

    fn pending() -> (Session, ServerSettings) {
        let settings = ServerSettings::default();
        let sid = ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let hsid = Hsid::parse("5KvIv6Y0y8IgLQULP8ZR_Q").unwrap();
        (
            Session::new_pending(sid, hsid, &settings, UserContext::default(), 100),
            settings,
        )
    }

    fn login() -> LoginInfo {
        LoginInfo {
            verification: None,
            channel: None,
            proximity: None,
            accountid: 1,
            userid: None,
            pk: "cGs=".into(),
        }
    }

    #[test]
    fn frames_of_each_transition() {
        let (s, st) = pending();
        assert_eq!(for_change(None, &s, 100), vec![]);
        let scanned = s.scan(&st, 101).unwrap();
        assert_eq!(
            for_change(Some(&s), &scanned, 101),
            vec![Frame::ConfirmScan]
        );
        let inn = scanned.approve(login(), &st, 102).unwrap();
        assert_eq!(
            for_change(Some(&scanned), &inn, 102),
            vec![Frame::Login, Frame::CanProvoke]
        );
        let out = inn.logout(&st, 103).unwrap();
        assert_eq!(for_change(Some(&inn), &out, 103), vec![Frame::Logout]);
        let pushed = out.pushed_to(&[1], None, &st, 104);
        let m = pushed.matching.clone().unwrap().number;
        assert_eq!(
            for_change(Some(&out), &pushed, 104),
            vec![Frame::ConfirmProvoke, Frame::Match(m)]
        );
        let denied = pushed.cancel(&st, 105).unwrap();
        assert_eq!(for_change(Some(&pushed), &denied, 105), vec![Frame::Cancel]);
        let noacc = s.noted(SessionEvent::NoAccounts, &st, 106);
        assert_eq!(for_change(Some(&s), &noacc, 106), vec![Frame::NoAccounts]);
        let mut enrolled = inn.clone();
        enrolled.enrolled = Some(7);
        assert_eq!(
            for_change(Some(&inn), &enrolled, 107),
            vec![Frame::Enrolled]
        );
    }

    #[test]
    fn transactions_reach_the_page() {
        use crate::server::Server;
        use crate::transaction::{
            Transaction, TransactionContent, TransactionId, TransactionState,
        };
        let (s, st) = pending();
        let inn = s.approve(login(), &st, 101).unwrap();
        let server = Server::with_id(inn.serverid.clone(), st.clone(), 100);
        let tid = TransactionId::generate(&inn.hsid);
        let content = TransactionContent {
            amount: "1".into(),
            ..Default::default()
        };
        let tx = Transaction::new(tid.clone(), &content, &server, &inn, 1, 102);
        let with = inn.with_transaction(tx, &st, 102).unwrap();
        assert_eq!(
            for_change(Some(&inn), &with, 102),
            vec![Frame::TxStatus(tid.to_string(), "0")]
        );
        let ok = with
            .answered_transaction(&tid, TransactionState::Approved, None, &st, 103)
            .unwrap();
        let frames = for_change(Some(&with), &ok, 103);
        assert_eq!(frames, vec![Frame::TxStatus(tid.to_string(), "1")]);
        assert_eq!(
            frames[0].text(&ok.hsid, &ok.serverid),
            format!("TXSTATUS {} {} {tid} 1", ok.hsid, ok.serverid)
        );
        // A logout closes an open transaction, and the page hears of it.
        let tid2 = TransactionId::generate(&ok.hsid);
        let tx2 = Transaction::new(tid2.clone(), &content, &server, &ok, 1, 104);
        let open = ok.with_transaction(tx2, &st, 104).unwrap();
        let out = open.logout(&st, 105).unwrap();
        let frames = for_change(Some(&open), &out, 105);
        assert!(
            frames.contains(&Frame::TxStatus(tid2.to_string(), "2")),
            "{frames:?}"
        );
        assert!(!frames.contains(&Frame::TxStatus(tid.to_string(), "1")));
    }

    #[test]
    fn register_answers_each_state() {
        let (s, st) = pending();
        // LOGIN or LOGOUT first, always (nextAuth's REGISTER), then the rest.
        assert_eq!(register_answer(&s, 100), vec![Frame::Logout]);
        assert_eq!(
            register_answer(&s, 400),
            vec![Frame::Logout, Frame::Expired]
        );
        let scanned = s.scan(&st, 101).unwrap();
        assert_eq!(
            register_answer(&scanned, 101),
            vec![Frame::Logout, Frame::ConfirmScan]
        );
        let inn = scanned.approve(login(), &st, 102).unwrap();
        assert_eq!(
            register_answer(&inn, 102),
            vec![Frame::Login, Frame::CanProvoke]
        );
        let out = inn.logout(&st, 103).unwrap();
        assert_eq!(
            register_answer(&out, 103),
            vec![Frame::Logout, Frame::CanProvoke]
        );
        let cancelled = s.cancel(&st, 101).unwrap();
        assert_eq!(
            register_answer(&cancelled, 101),
            vec![Frame::Logout, Frame::Cancel]
        );
        let pushed = out.pushed_to(&[1], None, &st, 104);
        let m = pushed.matching.clone().unwrap().number;
        assert_eq!(
            register_answer(&pushed, 104),
            vec![Frame::Logout, Frame::CanProvoke, Frame::Match(m)]
        );
    }

    #[test]
    fn client_frames() {
        let f = parse_client("REGISTER 5KvIv6Y0y8IgLQULP8ZR_Q AAECAwQFBgcICQoLDA0ODw").unwrap();
        assert_eq!(f.kind, ClientKind::Register);
        assert_eq!(f.token, None);
        let p = parse_client(
            "PROVOKE 5KvIv6Y0y8IgLQULP8ZR_Q AAECAwQFBgcICQoLDA0ODw abcdefghijklmnopqrstuv",
        )
        .unwrap();
        assert_eq!(
            (p.kind, p.token.as_deref()),
            (ClientKind::Provoke, Some("abcdefghijklmnopqrstuv"))
        );
        for bad in [
            "",
            "REGISTER",
            "HELLO 5KvIv6Y0y8IgLQULP8ZR_Q AAECAwQFBgcICQoLDA0ODw",
            "REGISTER x AAECAwQFBgcICQoLDA0ODw",
            "REGISTER 5KvIv6Y0y8IgLQULP8ZR_Q x",
            "REGISTER  5KvIv6Y0y8IgLQULP8ZR_Q AAECAwQFBgcICQoLDA0ODw",
            "LOGOUT 5KvIv6Y0y8IgLQULP8ZR_Q AAECAwQFBgcICQoLDA0ODw tok en",
            "LOGOUT 5KvIv6Y0y8IgLQULP8ZR_Q AAECAwQFBgcICQoLDA0ODw t<k>",
            &format!(
                "LOGOUT 5KvIv6Y0y8IgLQULP8ZR_Q AAECAwQFBgcICQoLDA0ODw {}",
                "t".repeat(65)
            ),
            &"A".repeat(500),
        ] {
            assert_eq!(parse_client(bad).unwrap_err().0, "bad_frame", "{bad:?}");
        }
        let s = Frame::Match("42".into()).text(&f.hsid, &f.serverid);
        assert_eq!(s, "MATCH 5KvIv6Y0y8IgLQULP8ZR_Q AAECAwQFBgcICQoLDA0ODw 42");
        assert_eq!(error_text("x", "a\nb"), "ERROR x a b");
    }
}
