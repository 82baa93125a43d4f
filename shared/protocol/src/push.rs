//! The push message (SPEC section 6): one SNS `MessageStructure=json` message with a
//! payload per platform. It carries the server id, hsid, server name, announceinfo and the
//! match choices; never a nonce, a key or a userid.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::usercontext::SessionInfo;
use crate::wire::Platform;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    pub serverid: String,
    pub hsid: String,
    pub servername: String,
    pub announceinfo: SessionInfo,
    pub choices: Option<Vec<String>>,
    /// Seconds until the login attempt expires: the push is useless after that.
    pub expires_in: i64,
    /// Set for a transaction to confirm (then `announceinfo` is empty: the amount and
    /// beneficiary do not travel through Apple or Google; the app fetches them).
    pub tid: Option<String>,
    /// A login notice, nothing to decide: a login of the same user was approved on another
    /// device (setting `login_notify`). `hsid` is that login's session.
    pub notice: bool,
    /// A notice of a login from a network the user had not logged in from (setting
    /// `login_notify` `new_network`): the text says so, and the app may stress it.
    pub new_network: bool,
}

impl PushMessage {
    /// The notification text: what is asking. The website's `action` info when it gave
    /// one, otherwise a generic question.
    pub fn body_text(&self) -> String {
        if self.notice {
            let from = match self.announceinfo.ip.as_str() {
                "" => String::new(),
                ip => format!(" (browser at {ip})"),
            };
            let how = match self.new_network {
                true => "from a new network",
                false => "on another of your devices",
            };
            return format!(
                "A login to {} was approved {how}{from}. Not you? Tell {}.",
                self.servername, self.servername
            );
        }
        if self.tid.is_some() {
            return format!("Confirm a transaction for {}", self.servername);
        }
        let what = self
            .announceinfo
            .info
            .get("action")
            .filter(|a| !a.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| format!("Log in to {}?", self.servername));
        match self.announceinfo.ip.as_str() {
            "" => what,
            ip => format!("{what} (from {ip})"),
        }
    }

    /// What the app needs, the same on every platform.
    fn nsauth(&self) -> Value {
        let mut v = json!({
            "v": 1,
            "type": "login",
            "serverid": self.serverid,
            "hsid": self.hsid,
            "servername": self.servername,
            "announceinfo": self.announceinfo,
            "choices": self.choices,
        });
        if let Some(tid) = &self.tid {
            v["type"] = json!("transaction");
            v["tid"] = json!(tid);
        }
        if self.notice {
            v["type"] = json!("notice");
        }
        if self.new_network {
            v["new_network"] = json!(true);
        }
        v
    }

    /// APNs (production and sandbox): an alert the app's notification service extension
    /// may rewrite (`mutable-content`), with our fields beside `aps`.
    pub fn apns_payload(&self) -> Value {
        json!({
            "aps": {
                "alert": {"title": self.servername, "body": self.body_text()},
                "mutable-content": 1,
                "sound": "default",
                "category": if self.notice {
                    "NSAUTH_NOTICE"
                } else if self.tid.is_some() {
                    "NSAUTH_TRANSACTION"
                } else {
                    "NSAUTH_LOGIN"
                },
            },
            "nsauth": self.nsauth(),
        })
    }

    /// FCM HTTP v1 through SNS: a data message (the app builds the notification), with
    /// the same fields as strings, a collapse key and a TTL.
    pub fn fcm_payload(&self) -> Value {
        json!({
            "fcmV1Message": {
                "message": {
                    "data": self.fcm_data(),
                    "android": {
                        "priority": "high",
                        "ttl": format!("{}s", self.expires_in.max(0)),
                        "collapse_key": self.hsid,
                    },
                }
            }
        })
    }

    /// The FCM data message's fields (all strings): also what a phone fetches with
    /// `GET /app/v1/pushes`, so both paths carry the same.
    pub fn fcm_data(&self) -> Value {
        let mut data = json!({
            "type": "nsauth-login",
            "v": "1",
            "serverid": self.serverid,
            "hsid": self.hsid,
            "servername": self.servername,
            "title": self.servername,
            "body": self.body_text(),
            "announceinfo": serde_json::to_string(&self.announceinfo).unwrap_or_default(),
            "choices": self.choices.as_ref().map(|c| c.join(",")).unwrap_or_default(),
        });
        if let Some(tid) = &self.tid {
            data["type"] = json!("nsauth-transaction");
            data["tid"] = json!(tid);
        }
        if self.notice {
            data["type"] = json!("nsauth-notice");
        }
        if self.new_network {
            data["new_network"] = json!("1");
        }
        data
    }

    /// The SNS message with `MessageStructure=json`: each platform's payload as a string.
    pub fn sns_message(&self) -> String {
        let apns = self.apns_payload().to_string();
        json!({
            "default": self.body_text(),
            "APNS": apns,
            "APNS_SANDBOX": apns,
            "GCM": self.fcm_payload().to_string(),
        })
        .to_string()
    }

    /// SNS message attributes: APNs collapse id, expiry (TTL) and push type; FCM's TTL.
    pub fn sns_attributes(&self) -> Vec<(&'static str, String)> {
        let ttl = self.expires_in.max(0).to_string();
        vec![
            ("AWS.SNS.MOBILE.APNS.COLLAPSE_ID", self.hsid.clone()),
            ("AWS.SNS.MOBILE.APNS.TTL", ttl.clone()),
            ("AWS.SNS.MOBILE.APNS_SANDBOX.TTL", ttl.clone()),
            ("AWS.SNS.MOBILE.APNS.PUSH_TYPE", "alert".into()),
            ("AWS.SNS.MOBILE.APNS.PRIORITY", "10".into()),
            ("AWS.SNS.MOBILE.FCM.TTL", ttl),
        ]
    }
}

/// One message the local stack's push service "sent", as its outbox (`GET /local/outbox`)
/// lists it: pushes never leave the machine there, and the authenticator reads them back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub endpoint_arn: String,
    pub platform: Platform,
    pub token: String,
    /// The SNS message (`MessageStructure=json`) as it would have been published.
    pub message: Value,
    pub attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> PushMessage {
        let mut a = SessionInfo::default();
        a.info.insert("action".into(), "Pay 10 EUR".into());
        a.ip = "192.0.2.1".into();
        PushMessage {
            notice: false,
            new_network: false,
            serverid: "AAECAwQFBgcICQoLDA0ODw".into(),
            hsid: "5KvIv6Y0y8IgLQULP8ZR_Q".into(),
            servername: "Acme".into(),
            announceinfo: a,
            choices: Some(vec!["12".into(), "47".into(), "90".into()]),
            expires_in: 280,
            tid: None,
        }
    }

    #[test]
    fn sns_message_has_a_payload_per_platform() {
        let m: Value = serde_json::from_str(&msg().sns_message()).unwrap();
        let apns: Value = serde_json::from_str(m["APNS"].as_str().unwrap()).unwrap();
        assert_eq!(apns["aps"]["alert"]["title"], "Acme");
        assert_eq!(apns["aps"]["alert"]["body"], "Pay 10 EUR (from 192.0.2.1)");
        assert_eq!(apns["aps"]["mutable-content"], 1);
        assert_eq!(apns["nsauth"]["hsid"], "5KvIv6Y0y8IgLQULP8ZR_Q");
        assert_eq!(apns["nsauth"]["choices"], json!(["12", "47", "90"]));
        assert_eq!(m["APNS_SANDBOX"], m["APNS"]);
        let fcm: Value = serde_json::from_str(m["GCM"].as_str().unwrap()).unwrap();
        let data = &fcm["fcmV1Message"]["message"]["data"];
        assert!(
            data.as_object().unwrap().values().all(Value::is_string),
            "FCM data is strings"
        );
        assert_eq!(data["choices"], "12,47,90");
        assert_eq!(fcm["fcmV1Message"]["message"]["android"]["ttl"], "280s");
        assert_eq!(
            fcm["fcmV1Message"]["message"]["android"]["collapse_key"],
            "5KvIv6Y0y8IgLQULP8ZR_Q"
        );
        let attrs = msg().sns_attributes();
        assert!(attrs.contains(&("AWS.SNS.MOBILE.APNS.TTL", "280".into())));
        assert!(attrs.contains(&(
            "AWS.SNS.MOBILE.APNS.COLLAPSE_ID",
            "5KvIv6Y0y8IgLQULP8ZR_Q".into()
        )));
    }

    #[test]
    fn generic_text_without_action() {
        let mut m = msg();
        m.announceinfo = SessionInfo::default();
        assert_eq!(m.body_text(), "Log in to Acme?");
    }
}
