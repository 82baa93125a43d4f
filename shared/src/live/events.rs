//! Website events: each login, logout, cancel and fraud report as a CloudEvents 1.0 JSON
//! message on the stack's SNS topic, so a website backend can react without polling. The
//! message attribute `serverid` lets each website subscribe with a filter policy.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::{Value, json};

use crate::clock::{UnixTime, rfc3339};
use crate::session::{EndReason, Session, SessionEvent, SessionState};
use crate::transaction::TransactionState;

#[async_trait]
pub trait EventSink: Send + Sync {
    async fn publish(&self, serverid: &str, event: &Value) -> Result<(), String>;
}

/// The CloudEvents a session change raises (none for most changes).
pub fn for_change(old: Option<&Session>, new: &Session, at: UnixTime) -> Vec<Value> {
    let mut kinds = Vec::new();
    if old.map(|o| o.state) != Some(new.state) {
        match new.state {
            SessionState::LoggedIn => kinds.push("login"),
            SessionState::LoggedOut => kinds.push("logout"),
            SessionState::Cancelled => kinds.push("cancel"),
            _ => {}
        }
    }
    if new.event == Some(SessionEvent::Fraud) && old.and_then(|o| o.event) != new.event {
        kinds.push("fraud");
    }
    let mut out: Vec<Value> = kinds
        .into_iter()
        .map(|kind| {
            let login = new.login.as_ref().filter(|_| kind == "login");
            let mut event = json!({
                "specversion": "1.0",
                "type": format!("org.nsauth.session.{kind}"),
                "source": format!("nsauth/servers/{}", new.serverid),
                "id": format!("{}-{}-{kind}", new.hsid, new.version),
                "time": rfc3339(at),
                "subject": new.hsid.to_string(),
                "datacontenttype": "application/json",
                "data": {
                    "serverid": new.serverid.to_string(),
                    "hsid": new.hsid.to_string(),
                    "state": new.state,
                    "accountid": login.map(|l| l.accountid).or(new.last_accountid),
                    "userid": login.and_then(|l| l.userid.clone()),
                },
            });
            if kind == "logout" {
                // Why the login ended: `logout` unless the session records otherwise
                // (`lifetime`, `blocked`, `removed`).
                event["data"]["reason"] = json!(new.ended.unwrap_or(EndReason::Logout).as_str());
            }
            event
        })
        .collect();
    out.extend(account_login(old, new, at));
    out.extend(transaction_events(old, new, at));
    out
}

/// `org.nsauth.account.login`: an account logged in, with what a user needs to tell a
/// login they made from one they did not (the channel, how the phone verified its user,
/// the phone's network against the browser's, the browser's address and user agent as the
/// website gave them). A website can notify the user (an e-mail, a message in its app).
fn account_login(old: Option<&Session>, new: &Session, at: UnixTime) -> Option<Value> {
    if new.state != SessionState::LoggedIn || old.map(|o| o.state) == Some(new.state) {
        return None;
    }
    let login = new.login.as_ref()?;
    let announce = &new.context.announceinfo;
    let mut data = json!({
        "serverid": new.serverid.to_string(),
        "accountid": login.accountid,
        "hsid": new.hsid.to_string(),
    });
    let fields = [
        ("userid", login.userid.clone()),
        ("channel", login.channel.map(|c| c.as_str().to_string())),
        (
            "verification",
            login.verification.map(|v| v.as_str().to_string()),
        ),
        ("proximity", login.proximity.map(|p| p.as_str().to_string())),
        ("browserip", new.context.browserip.clone()),
        (
            "useragent",
            Some(announce.useragent.clone()).filter(|u| !u.is_empty()),
        ),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            data[name] = json!(v);
        }
    }
    Some(json!({
        "specversion": "1.0",
        "type": "org.nsauth.account.login",
        "source": format!("nsauth/servers/{}", new.serverid),
        "id": format!("{}-{}-account-login", new.hsid, new.version),
        "time": rfc3339(at),
        "subject": login.accountid.to_string(),
        "datacontenttype": "application/json",
        "data": data,
    }))
}

/// A transaction answered (approved, declined), replaced by a newer one or closed with its
/// login (expired): the website can fetch the result (and the proof) with
/// getTransactionResult. Expiry by time writes nothing, so it raises no event.
fn transaction_events(old: Option<&Session>, new: &Session, at: UnixTime) -> Vec<Value> {
    new.transactions
        .iter()
        .map(|t| (t, t.state_at(new, at)))
        .filter(|(_, state)| *state != TransactionState::New)
        .filter(|(t, state)| {
            old.and_then(|o| o.transaction(&t.tid).map(|ot| ot.state_at(o, at))) != Some(*state)
        })
        .map(|(t, state)| {
            let kind = state.as_str();
            json!({
                "specversion": "1.0",
                "type": format!("org.nsauth.transaction.{kind}"),
                "source": format!("nsauth/servers/{}", new.serverid),
                "id": format!("{}-{kind}", t.tid),
                "time": rfc3339(at),
                "subject": t.tid.to_string(),
                "datacontenttype": "application/json",
                "data": {
                    "serverid": new.serverid.to_string(),
                    "hsid": new.hsid.to_string(),
                    "tid": t.tid.to_string(),
                    "tstatus": state.tstatus(),
                    "accountid": t.accountid,
                },
            })
        })
        .collect()
}

pub struct SnsEvents {
    pub client: Client,
    pub topic_arn: String,
}

#[async_trait]
impl EventSink for SnsEvents {
    async fn publish(&self, serverid: &str, event: &Value) -> Result<(), String> {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(serverid)
            .build()
            .map_err(|e| e.to_string())?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(event.to_string())
            .message_attributes("serverid", attr)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
        Ok(())
    }
}

/// Where events go when the deployment has no topic (and in the local stack): the log.
pub struct LogEvents;

#[async_trait]
impl EventSink for LogEvents {
    async fn publish(&self, _serverid: &str, event: &Value) -> Result<(), String> {
        tracing::info!(kind = %event["type"], subject = %event["subject"], "website event");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Hsid, ServerId};
    use crate::server::Server;
    use crate::session::LoginInfo;
    use crate::settings::ServerSettings;
    use crate::transaction::{Transaction, TransactionContent, TransactionId};
    use crate::usercontext::UserContext;

    #[test]
    fn a_logout_event_says_why_the_login_ended() {
        let st = ServerSettings::default();
        let sid = ServerId::generate();
        let hsid = Hsid::parse("5KvIv6Y0y8IgLQULP8ZR_Q").unwrap();
        let s = Session::new_pending(sid, hsid, &st, UserContext::default(), 100);
        let login = LoginInfo {
            verification: None,
            channel: None,
            proximity: None,
            accountid: 4,
            userid: None,
            pk: "cGs=".into(),
        };
        let inn = s.approve(login, &st, 101).unwrap();
        let reason = |old: &Session, new: &Session| {
            let events = for_change(Some(old), new, 200_000);
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(events[0]["type"], "org.nsauth.session.logout");
            events[0]["data"]["reason"].clone()
        };
        assert_eq!(reason(&inn, &inn.logout(&st, 102).unwrap()), "logout");
        let end = inn.expires_at;
        assert_eq!(
            reason(&inn, &inn.ended_by_lifetime(end).unwrap()),
            "lifetime"
        );
        // A session stored before the reason existed.
        let mut old_style = inn.logout(&st, 102).unwrap();
        old_style.ended = None;
        assert_eq!(reason(&inn, &old_style), "logout");
        // Only logout events carry one.
        let login_event = &for_change(Some(&s), &inn, 101)[0];
        assert!(login_event["data"].get("reason").is_none());
    }

    #[test]
    fn a_login_raises_the_account_login_event_with_its_context() {
        let st = ServerSettings::default();
        let sid = ServerId::generate();
        let hsid = Hsid::parse("5KvIv6Y0y8IgLQULP8ZR_Q").unwrap();
        let mut ctx = UserContext::from_body(
            br#"{"announceinfo": {"ip": "203.0.113.7", "useragent": "Firefox"}}"#,
        )
        .unwrap();
        ctx.fill_from(&Default::default());
        let s = Session::new_pending(sid, hsid, &st, ctx, 100);
        let login = LoginInfo {
            accountid: 4,
            userid: Some("alice".into()),
            pk: "cGs=".into(),
            verification: Some(crate::wire::Verification::Pin),
            channel: Some(crate::session::LoginChannel::Push),
            proximity: Some(crate::proximity::Proximity::DifferentNetwork),
        };
        let inn = s.approve(login, &st, 101).unwrap();
        let events = for_change(Some(&s), &inn, 101);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["org.nsauth.session.login", "org.nsauth.account.login"]
        );
        let data = &events[1]["data"];
        assert_eq!(events[1]["subject"], "4");
        assert_eq!(
            (
                data["userid"].clone(),
                data["channel"].clone(),
                data["verification"].clone(),
                data["proximity"].clone(),
                data["browserip"].clone(),
                data["useragent"].clone()
            ),
            (
                json!("alice"),
                json!("push"),
                json!("pin"),
                json!("different_network"),
                json!("203.0.113.7"),
                json!("Firefox")
            )
        );
        // Once: a later change of the logged-in session raises none.
        let again = inn.next_same_state(&st, 102);
        assert!(for_change(Some(&inn), &again, 102).is_empty());
    }

    #[test]
    fn transaction_answers_raise_one_event_each() {
        let st = ServerSettings::default();
        let sid = ServerId::generate();
        let hsid = Hsid::parse("5KvIv6Y0y8IgLQULP8ZR_Q").unwrap();
        let s = Session::new_pending(sid.clone(), hsid, &st, UserContext::default(), 100);
        let login = LoginInfo {
            verification: None,
            channel: None,
            proximity: None,
            accountid: 4,
            userid: None,
            pk: "cGs=".into(),
        };
        let inn = s.approve(login, &st, 101).unwrap();
        let server = Server::with_id(sid, st.clone(), 100);
        let tid = TransactionId::generate(&inn.hsid);
        let content = TransactionContent {
            amount: "7".into(),
            ..Default::default()
        };
        let tx = Transaction::new(tid.clone(), &content, &server, &inn, 4, 102);
        let with = inn.with_transaction(tx, &st, 102).unwrap();
        assert!(
            for_change(Some(&inn), &with, 102).is_empty(),
            "a new one: no event"
        );
        let ok = with
            .answered_transaction(&tid, TransactionState::Approved, None, &st, 103)
            .unwrap();
        let events = for_change(Some(&with), &ok, 103);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "org.nsauth.transaction.approved");
        assert_eq!(events[0]["data"]["tid"], tid.to_string());
        assert_eq!(events[0]["data"]["tstatus"], "1");
        assert_eq!(events[0]["data"]["accountid"], 4);
        // The same record again (a later write of the session) raises nothing more.
        let later = ok.noted(SessionEvent::NoAccounts, &st, 104);
        assert!(for_change(Some(&ok), &later, 104).is_empty());
    }
}
