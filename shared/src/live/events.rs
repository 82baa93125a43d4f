//! Website events: each login, logout, cancel and fraud report as a CloudEvents 1.0 JSON
//! message on the stack's SNS topic, so a website backend can react without polling. The
//! message attribute `serverid` lets each website subscribe with a filter policy.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::{Value, json};

use crate::clock::{UnixTime, rfc3339};
use crate::session::{Session, SessionEvent, SessionState};

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
    kinds
        .into_iter()
        .map(|kind| {
            let login = new.login.as_ref().filter(|_| kind == "login");
            json!({
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
