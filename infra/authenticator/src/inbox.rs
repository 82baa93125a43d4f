//! Push messages as the phone receives them (SPEC 5.5, section 6): parsed from the local
//! stack's push outbox or from a file holding a push captured elsewhere. A push asks for a
//! login (type `login`, FCM `nsauth-login`) or for a transaction's confirmation (type
//! `transaction`, FCM `nsauth-transaction`, with the transaction's `tid`; the amount and
//! beneficiary are not in the push: the app fetches them).
//!
//! Accepted shapes of one message:
//! - an SNS `MessageStructure=json` object (`default`, `APNS`, `APNS_SANDBOX`, `GCM`, the
//!   platform values being JSON strings): the APNs payload when present, else the FCM one;
//! - a local outbox entry (`endpoint_arn`, `platform`, `token`, `message`, `attributes`):
//!   the payload of the entry's platform;
//! - a raw APNs payload (`aps`, `nsauth`);
//! - a raw FCM v1 payload (`fcmV1Message`), an FCM HTTP v1 body (`{"message": {"data"}}`),
//!   `{"data": {...}}`, or just the FCM `data` object (all strings).

use std::path::Path;

use nsauth_protocol::ids::{Hsid, ServerId};
use nsauth_protocol::transaction::TransactionId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// One push (a login, or a transaction to confirm), the same whichever platform carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedLogin {
    pub serverid: String,
    /// The session asking (for a transaction: the session it was made in).
    pub hsid: String,
    pub servername: String,
    /// The notification's title and text (APNs `aps.alert`, FCM `data.title`/`data.body`).
    pub title: String,
    pub body: String,
    /// The website's announceinfo (a SessionInfo object; `null` when the push had none).
    pub announceinfo: Value,
    /// The three two-digit match choices, or `None` without number matching.
    pub choices: Option<Vec<String>>,
    /// A transaction push: the transaction's id (`None` for a login push).
    #[serde(default)]
    pub tid: Option<String>,
    /// `nsauth://login/{serverid}/{hsid}`, or `nsauth://tx/{serverid}/{tid}` for a
    /// transaction: what show, approve and deny take.
    pub link: String,
    /// A login notice (a login of this user was approved on another device): nothing to
    /// decide; `hsid` is that login's session.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notice: bool,
}

impl PushedLogin {
    pub fn is_transaction(&self) -> bool {
        self.tid.is_some()
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::BadPush(message.into())
}

/// The SNS key of a platform's payload.
pub fn sns_key(platform: &str) -> Option<&'static str> {
    match platform {
        "apns" => Some("APNS"),
        "apns_sandbox" => Some("APNS_SANDBOX"),
        "fcm" => Some("GCM"),
        _ => None,
    }
}

/// A payload inside an SNS message: a JSON string (as SNS wants it) or, leniently, the
/// object itself.
fn embedded(key: &str, v: &Value) -> Result<Value> {
    match v {
        Value::String(s) => serde_json::from_str(s)
            .map_err(|e| bad(format!("the {key} payload is not a JSON document: {e}"))),
        Value::Object(_) => Ok(v.clone()),
        _ => Err(bad(format!(
            "the {key} payload is neither a JSON string nor an object"
        ))),
    }
}

fn text<'a>(o: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(bad(format!("{what}: {key} is not a string"))),
        None => Err(bad(format!("{what}: {key} is missing"))),
    }
}

fn optional_text(o: &Map<String, Value>, key: &str, what: &str) -> Result<String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(_) => text(o, key, what).map(str::to_string),
    }
}

/// The push's `tid` when it is a transaction push (`type` is `transaction`, or no type and
/// a tid), `None` for a login push (`type` is `login`, or no type and no tid).
fn push_tid(
    o: &Map<String, Value>,
    login: &str,
    transaction: &str,
    what: &str,
) -> Result<Option<String>> {
    let tid = match o.get("tid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad(format!("{what}: tid is not a string"))),
    };
    match (o.get("type"), tid) {
        (None, tid) => Ok(tid),
        (Some(Value::String(t)), None) if t == login => Ok(None),
        (Some(Value::String(t)), Some(_)) if t == login => Err(bad(format!(
            "{what}: a login push (type {login:?}) with a tid"
        ))),
        (Some(Value::String(t)), Some(tid)) if t == transaction => Ok(Some(tid)),
        (Some(Value::String(t)), None) if t == transaction => Err(bad(format!(
            "{what}: a transaction push (type {transaction:?}) without a tid"
        ))),
        (Some(t), _) => Err(bad(format!(
            "{what}: type {t} is not a login push (expected {login:?}) nor a transaction \
             push ({transaction:?})"
        ))),
    }
}

/// The hsid of a push: required for a login; for a transaction it may be left out (the
/// tid carries it).
fn push_hsid(o: &Map<String, Value>, tid: Option<&str>, what: &str) -> Result<String> {
    match (o.get("hsid"), tid) {
        (None | Some(Value::Null), Some(_)) => Ok(String::new()),
        (Some(Value::String(s)), Some(_)) if s.is_empty() => Ok(String::new()),
        _ => text(o, "hsid", what).map(str::to_string),
    }
}

fn choices_array(a: &[Value], what: &str) -> Result<Vec<String>> {
    a.iter()
        .map(|c| c.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad(format!("{what}: choices are not all strings")))
}

/// Checks the ids and sets the link.
fn finish(mut p: PushedLogin, what: &str) -> Result<PushedLogin> {
    let serverid = ServerId::parse(&p.serverid).ok_or_else(|| {
        bad(format!(
            "{what}: serverid {:?} is not a server id",
            p.serverid
        ))
    })?;
    if let Some(tid) = &p.tid {
        let tid = TransactionId::parse(tid).ok_or_else(|| {
            bad(format!(
                "{what}: tid {tid:?} is not a transaction id (43 base64url characters)"
            ))
        })?;
        if p.hsid.is_empty() {
            p.hsid = tid.hsid().to_string();
        }
        Hsid::parse(&p.hsid)
            .ok_or_else(|| bad(format!("{what}: hsid {:?} is not an hsid", p.hsid)))?;
        p.link = nsauth_protocol::links::transaction_link("nsauth://", &serverid, tid.as_str());
        return Ok(p);
    }
    let hsid = Hsid::parse(&p.hsid)
        .ok_or_else(|| bad(format!("{what}: hsid {:?} is not an hsid", p.hsid)))?;
    p.link = format!("nsauth://login/{serverid}/{hsid}");
    Ok(p)
}

/// An APNs payload: `aps.alert.{title,body}` and the `nsauth` object.
fn from_apns(p: &Map<String, Value>) -> Result<PushedLogin> {
    const WHAT: &str = "APNs payload";
    let n = p
        .get("nsauth")
        .and_then(Value::as_object)
        .ok_or_else(|| bad(format!("{WHAT} without an nsauth object")))?;
    let (n, notice) = notice_as_login(n, "notice", "login");
    let n = &n;
    let tid = push_tid(n, "login", "transaction", WHAT)?;
    let choices = match n.get("choices") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(choices_array(a, WHAT)?),
        Some(_) => return Err(bad(format!("{WHAT}: choices is neither an array nor null"))),
    };
    let (title, body) = match p.get("aps").and_then(|a| a.get("alert")) {
        Some(Value::String(s)) => (String::new(), s.clone()),
        Some(Value::Object(a)) => (
            optional_text(a, "title", WHAT)?,
            optional_text(a, "body", WHAT)?,
        ),
        _ => (String::new(), String::new()),
    };
    let p = PushedLogin {
        serverid: text(n, "serverid", WHAT)?.to_string(),
        hsid: push_hsid(n, tid.as_deref(), WHAT)?,
        servername: text(n, "servername", WHAT)?.to_string(),
        title,
        body,
        announceinfo: n.get("announceinfo").cloned().unwrap_or(Value::Null),
        choices,
        tid,
        link: String::new(),
        notice,
    };
    finish(p, WHAT)
}

/// A login notice is read as a login push (the same fields), and says it is one.
fn notice_as_login(
    o: &Map<String, Value>,
    notice: &str,
    login: &str,
) -> (Map<String, Value>, bool) {
    let mut o = o.clone();
    let is_notice = o.get("type").and_then(Value::as_str) == Some(notice);
    if is_notice {
        o.insert("type".into(), Value::String(login.into()));
    }
    (o, is_notice)
}

/// An FCM `data` object: every value a string; `announceinfo` a JSON string, `choices`
/// `"12,47,90"` or `""`.
fn from_fcm_data(d: &Map<String, Value>) -> Result<PushedLogin> {
    const WHAT: &str = "FCM data";
    let (d, notice) = notice_as_login(d, "nsauth-notice", "nsauth-login");
    let d = &d;
    let tid = push_tid(d, "nsauth-login", "nsauth-transaction", WHAT)?;
    let announceinfo = match d.get("announceinfo") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::String(s)) => serde_json::from_str(s)
            .map_err(|e| bad(format!("{WHAT}: announceinfo is not a JSON string: {e}")))?,
        // Leniently: the object itself.
        Some(v) => v.clone(),
    };
    let choices = match d.get("choices") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.split(',').map(|c| c.trim().to_string()).collect()),
        Some(Value::Array(a)) => Some(choices_array(a, WHAT)?),
        Some(_) => return Err(bad(format!("{WHAT}: choices is not a string"))),
    };
    let p = PushedLogin {
        serverid: text(d, "serverid", WHAT)?.to_string(),
        hsid: push_hsid(d, tid.as_deref(), WHAT)?,
        servername: text(d, "servername", WHAT)?.to_string(),
        title: optional_text(d, "title", WHAT)?,
        body: optional_text(d, "body", WHAT)?,
        announceinfo,
        choices,
        tid,
        link: String::new(),
        notice,
    };
    finish(p, WHAT)
}

/// A platform payload: APNs, FCM v1 (`fcmV1Message`, or the HTTP v1 body `{"message"}`),
/// `{"data"}` or the bare FCM data object.
fn from_payload(o: &Map<String, Value>) -> Result<PushedLogin> {
    if o.contains_key("aps") || o.contains_key("nsauth") {
        return from_apns(o);
    }
    let message = match o.get("fcmV1Message") {
        Some(f) => Some(
            f.get("message")
                .ok_or_else(|| bad("fcmV1Message without a message"))?,
        ),
        None => o.get("message"),
    };
    let data = match message {
        Some(m) => m
            .get("data")
            .ok_or_else(|| bad("FCM message without data"))?,
        None => o.get("data").unwrap_or(&Value::Null),
    };
    match data {
        Value::Object(d) => from_fcm_data(d),
        Value::Null
            if o.contains_key("serverid") && (o.contains_key("hsid") || o.contains_key("tid")) =>
        {
            from_fcm_data(o)
        }
        Value::Null => Err(bad(
            "not a push message: expected an SNS message (APNS/GCM), an outbox entry, an APNs \
             payload (aps), an FCM v1 payload (fcmV1Message) or an FCM data object",
        )),
        _ => Err(bad("FCM data is not an object")),
    }
}

/// An entry of the local push outbox: the payload of the entry's platform.
pub fn parse_outbox_entry(entry: &Value) -> Result<PushedLogin> {
    let platform = entry
        .get("platform")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("outbox entry without a platform"))?;
    let key = sns_key(platform)
        .ok_or_else(|| bad(format!("outbox entry for unknown platform {platform:?}")))?;
    let message = match entry.get("message") {
        Some(m) => embedded("SNS message", m)?,
        None => return Err(bad("outbox entry without a message")),
    };
    let payload = message.get(key).ok_or_else(|| {
        bad(format!(
            "the {platform} entry's message has no {key} payload"
        ))
    })?;
    match embedded(key, payload)? {
        Value::Object(p) => from_payload(&p),
        _ => Err(bad(format!("the {key} payload is not an object"))),
    }
}

/// One push message in any accepted shape (see the module documentation).
pub fn parse_push(v: &Value) -> Result<PushedLogin> {
    let o = v
        .as_object()
        .ok_or_else(|| bad("a push message is a JSON object"))?;
    let is_entry = o.get("platform").is_some_and(Value::is_string)
        && o.contains_key("token")
        && o.contains_key("message");
    if is_entry {
        return parse_outbox_entry(v);
    }
    if let Some(key) = ["APNS", "APNS_SANDBOX", "GCM"]
        .into_iter()
        .find(|k| o.contains_key(*k))
    {
        return match embedded(key, &o[key])? {
            Value::Object(p) => from_payload(&p),
            _ => Err(bad(format!("the {key} payload is not an object"))),
        };
    }
    from_payload(o)
}

/// One message, a JSON array of them, or an outbox answer `{"messages": [...]}`; in order.
pub fn parse_pushes(v: &Value) -> Result<Vec<PushedLogin>> {
    let list = match v {
        Value::Array(a) => a,
        Value::Object(o) if o.get("messages").is_some_and(Value::is_array) => {
            o["messages"].as_array().expect("checked to be an array")
        }
        one => return parse_push(one).map(|p| vec![p]),
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            parse_push(m).map_err(|e| match e {
                Error::BadPush(m) => bad(format!("message {i}: {m}")),
                e => e,
            })
        })
        .collect()
}

/// The pushes of a file: one message or a JSON array of them (see [`parse_pushes`]).
pub fn inbox_from_file(path: impl AsRef<Path>) -> Result<Vec<PushedLogin>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{}: not JSON: {e}", path.display())))?;
    parse_pushes(&v).map_err(|e| match e {
        Error::BadPush(m) => bad(format!("{}: {m}", path.display())),
        e => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsauth_protocol::push::{OutboxEntry, PushMessage};
    use nsauth_protocol::usercontext::SessionInfo;
    use nsauth_protocol::wire::Platform;
    use serde_json::json;

    const S: &str = "AAECAwQFBgcICQoLDA0ODw";
    const H: &str = "5KvIv6Y0y8IgLQULP8ZR_Q";

    /// The server's own message (so these tests follow its real format).
    fn message(choices: bool) -> PushMessage {
        let mut a = SessionInfo::default();
        a.info.insert("action".into(), "Pay 10 EUR".into());
        a.ip = "192.0.2.1".into();
        PushMessage {
            notice: false,
            new_network: false,
            serverid: S.into(),
            hsid: H.into(),
            servername: "Acme".into(),
            announceinfo: a,
            choices: choices.then(|| vec!["12".into(), "47".into(), "90".into()]),
            expires_in: 280,
            tid: None,
        }
    }

    fn expected(m: &PushMessage) -> PushedLogin {
        PushedLogin {
            notice: false,
            serverid: S.into(),
            hsid: H.into(),
            servername: "Acme".into(),
            title: "Acme".into(),
            body: "Pay 10 EUR (from 192.0.2.1)".into(),
            announceinfo: serde_json::to_value(&m.announceinfo).unwrap(),
            choices: m.choices.clone(),
            tid: None,
            link: format!("nsauth://login/{S}/{H}"),
        }
    }

    fn sns(m: &PushMessage) -> Value {
        serde_json::from_str(&m.sns_message()).unwrap()
    }

    /// An outbox entry exactly as the local stack serialises it.
    fn entry(m: &PushMessage, platform: Platform) -> Value {
        serde_json::to_value(OutboxEntry {
            endpoint_arn: format!("local:endpoint/{}/x", platform.as_str()),
            platform,
            token: "tok".into(),
            message: sns(m),
            attributes: m
                .sns_attributes()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn every_shape_of_the_servers_message_gives_the_same_login() {
        for choices in [true, false] {
            let m = message(choices);
            let want = expected(&m);
            let sns = sns(&m);
            let fcm = m.fcm_payload();
            let data = fcm["fcmV1Message"]["message"]["data"].clone();
            let gcm_only = json!({"default": sns["default"], "GCM": sns["GCM"]});
            let apns_sandbox_only = json!({"APNS_SANDBOX": sns["APNS_SANDBOX"]});
            for (what, v) in [
                ("SNS message", sns.clone()),
                ("SNS message, GCM only", gcm_only),
                ("SNS message, APNS_SANDBOX only", apns_sandbox_only),
                ("apns outbox entry", entry(&m, Platform::Apns)),
                (
                    "apns_sandbox outbox entry",
                    entry(&m, Platform::ApnsSandbox),
                ),
                ("fcm outbox entry", entry(&m, Platform::Fcm)),
                ("APNs payload", m.apns_payload()),
                ("FCM v1 payload", fcm.clone()),
                ("FCM HTTP v1 body", fcm["fcmV1Message"].clone()),
                ("FCM data wrapped", json!({ "data": data })),
                ("FCM data", data.clone()),
            ] {
                assert_eq!(parse_push(&v).unwrap(), want, "{what}, choices {choices}");
            }
            // FCM sends choices as "12,47,90" or "".
            let want_choices = if choices { "12,47,90" } else { "" };
            assert_eq!(data["choices"], want_choices);
        }
    }

    #[test]
    fn a_login_notice_reads_as_a_notice_on_every_platform() {
        let mut m = message(false);
        m.notice = true;
        let fcm = m.fcm_payload();
        let data = fcm["fcmV1Message"]["message"]["data"].clone();
        assert_eq!(data["type"], "nsauth-notice");
        assert_eq!(m.apns_payload()["aps"]["category"], "NSAUTH_NOTICE");
        for (what, v) in [
            ("SNS message", sns(&m)),
            ("APNs payload", m.apns_payload()),
            ("FCM data", data),
        ] {
            let p = parse_push(&v).unwrap();
            assert!(p.notice, "{what}");
            assert!(
                p.body.contains("approved on another of your devices"),
                "{what}: {}",
                p.body
            );
            assert_eq!(p.hsid, m.hsid, "{what}");
        }
        // A login push is no notice.
        assert!(!parse_push(&message(false).apns_payload()).unwrap().notice);
    }

    /// A valid tid of session H (its first 16 bytes are H's).
    const TID: &str = "5KvIv6Y0y8IgLQULP8ZR_QABAgMEBQYHCAkKCwwNDg8";

    #[test]
    fn transaction_pushes_in_every_shape() {
        let m = PushMessage {
            announceinfo: SessionInfo::default(),
            choices: None,
            tid: Some(TID.into()),
            ..message(false)
        };
        let want = PushedLogin {
            notice: false,
            serverid: S.into(),
            hsid: H.into(),
            servername: "Acme".into(),
            title: "Acme".into(),
            body: "Confirm a transaction for Acme".into(),
            announceinfo: serde_json::to_value(SessionInfo::default()).unwrap(),
            choices: None,
            tid: Some(TID.into()),
            link: format!("nsauth://tx/{S}/{TID}"),
        };
        let sns = sns(&m);
        let fcm = m.fcm_payload();
        let data = fcm["fcmV1Message"]["message"]["data"].clone();
        assert_eq!(data["type"], "nsauth-transaction");
        assert_eq!(m.apns_payload()["nsauth"]["type"], "transaction");
        for (what, v) in [
            ("SNS message", sns.clone()),
            ("apns outbox entry", entry(&m, Platform::Apns)),
            ("fcm outbox entry", entry(&m, Platform::Fcm)),
            ("APNs payload", m.apns_payload()),
            ("FCM v1 payload", fcm.clone()),
            ("FCM data", data.clone()),
        ] {
            let got = parse_push(&v).unwrap();
            assert_eq!(got, want, "{what}");
            assert!(got.is_transaction());
        }
        // The hsid may be left out: the tid carries it.
        let mut apns = m.apns_payload();
        apns["nsauth"].as_object_mut().unwrap().remove("hsid");
        assert_eq!(parse_push(&apns).unwrap(), want);
        let mut bare = data.clone();
        bare.as_object_mut().unwrap().remove("hsid");
        bare["hsid"] = json!("");
        assert_eq!(parse_push(&bare).unwrap(), want);
        // No type, but a tid: a transaction.
        let mut untyped = data.clone();
        untyped.as_object_mut().unwrap().remove("type");
        assert_eq!(parse_push(&untyped).unwrap(), want);
        // A login push is still one.
        assert!(
            !parse_push(&message(true).apns_payload())
                .unwrap()
                .is_transaction()
        );

        // Refused: the kind and the tid disagree, or the tid is not one.
        let with = |base: &Value, k: &str, v: Value| {
            let mut x = base.clone();
            x[k] = v;
            x
        };
        let apns = m.apns_payload();
        let n = &apns["nsauth"];
        for (v, expect) in [
            (with(&data, "tid", json!("")), "without a tid"),
            (with(&data, "tid", json!("short")), "not a transaction id"),
            (with(&data, "type", json!("nsauth-login")), "login push"),
            (
                with(&data, "type", json!("nsauth-payment")),
                "not a login push",
            ),
            (
                json!({"aps": apns["aps"], "nsauth": with(n, "tid", json!(5))}),
                "tid is not a string",
            ),
            (
                json!({"aps": apns["aps"], "nsauth": with(n, "tid", json!(null))}),
                "without a tid",
            ),
            (
                json!({"aps": apns["aps"], "nsauth": with(n, "type", json!("login"))}),
                "with a tid",
            ),
        ] {
            let e = parse_push(&v).unwrap_err();
            assert!(e.to_string().contains(expect), "{v}: {e}");
        }
    }

    #[test]
    fn an_outbox_entry_uses_its_platforms_payload() {
        let m = message(true);
        let mut sns = sns(&m);
        let mut gcm: Value = serde_json::from_str(sns["GCM"].as_str().unwrap()).unwrap();
        gcm["fcmV1Message"]["message"]["data"]["title"] = "from FCM".into();
        sns["GCM"] = gcm.to_string().into();
        let mut sandbox: Value =
            serde_json::from_str(sns["APNS_SANDBOX"].as_str().unwrap()).unwrap();
        sandbox["aps"]["alert"]["title"] = "from the sandbox".into();
        sns["APNS_SANDBOX"] = sandbox.to_string().into();
        for (platform, title) in [
            ("fcm", "from FCM"),
            ("apns_sandbox", "from the sandbox"),
            ("apns", "Acme"),
        ] {
            let e = json!({"endpoint_arn": "a", "platform": platform, "token": "t",
                "message": sns, "attributes": {}});
            assert_eq!(parse_push(&e).unwrap().title, title, "{platform}");
        }
        // An SNS message by itself: APNS first.
        assert_eq!(parse_push(&sns).unwrap().title, "Acme");
        let e = json!({"platform": "fcm", "token": "t", "message": {"APNS": sns["APNS"]}});
        assert!(
            parse_outbox_entry(&e)
                .unwrap_err()
                .to_string()
                .contains("no GCM payload")
        );
    }

    #[test]
    fn refuses_what_is_not_a_login_push() {
        let m = message(true);
        let apns = m.apns_payload();
        let data = m.fcm_payload()["fcmV1Message"]["message"]["data"].clone();
        let with = |base: &Value, path: &[&str], v: Value| {
            let mut x = base.clone();
            let mut cur = &mut x;
            for p in path {
                cur = &mut cur[*p];
            }
            *cur = v;
            x
        };
        for (v, expect) in [
            (json!([1]), "a JSON object"),
            (json!({"hello": 1}), "not a push message"),
            (json!("text"), "a JSON object"),
            (
                with(&apns, &["nsauth", "serverid"], json!("short")),
                "not a server id",
            ),
            (
                with(&apns, &["nsauth", "hsid"], json!(5)),
                "hsid is not a string",
            ),
            (
                with(&apns, &["nsauth", "type"], json!("other")),
                "not a login push",
            ),
            (with(&apns, &["nsauth", "choices"], json!("12")), "choices"),
            (
                with(&apns, &["nsauth"], json!(null)),
                "without an nsauth object",
            ),
            (with(&data, &["type"], json!("other")), "not a login push"),
            (with(&data, &["announceinfo"], json!("{")), "announceinfo"),
            (
                with(&data, &["servername"], json!(null)),
                "servername is not",
            ),
            (json!({"GCM": "not json"}), "not a JSON document"),
            (json!({"APNS": 5}), "neither a JSON string nor an object"),
            (
                json!({"platform": "mpns", "token": "t", "message": {}}),
                "unknown platform",
            ),
            (json!({"fcmV1Message": {}}), "without a message"),
        ] {
            let e = parse_push(&v).unwrap_err();
            assert!(matches!(e, Error::BadPush(_)), "{v}: {e:?}");
            assert!(e.to_string().contains(expect), "{v}: {e}");
        }
    }

    fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "nsauth-authenticator-inbox-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("push.json");
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn reads_files_of_one_push_or_several() {
        let with = message(true);
        let without = message(false);
        // One SNS message, as a developer would paste it.
        let p = temp_file("one", &with.sns_message());
        assert_eq!(inbox_from_file(&p).unwrap(), vec![expected(&with)]);

        // An array of mixed shapes, in order.
        let list = json!([
            without.apns_payload(),
            with.fcm_payload(),
            with.fcm_payload()["fcmV1Message"]["message"]["data"],
            entry(&without, Platform::Fcm),
        ]);
        std::fs::write(&p, list.to_string()).unwrap();
        let want = vec![
            expected(&without),
            expected(&with),
            expected(&with),
            expected(&without),
        ];
        assert_eq!(inbox_from_file(&p).unwrap(), want);

        // A saved outbox answer.
        let answer = json!({"messages": [entry(&with, Platform::Apns)]});
        std::fs::write(&p, answer.to_string()).unwrap();
        assert_eq!(inbox_from_file(&p).unwrap(), vec![expected(&with)]);
        std::fs::write(&p, "[]").unwrap();
        assert_eq!(inbox_from_file(&p).unwrap(), vec![]);

        // Errors name the file and the message.
        std::fs::write(&p, json!([with.apns_payload(), {"x": 1}]).to_string()).unwrap();
        let e = inbox_from_file(&p).unwrap_err().to_string();
        assert!(e.contains("message 1") && e.contains("push.json"), "{e}");
        std::fs::write(&p, "nope").unwrap();
        assert!(
            inbox_from_file(&p)
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
        let dir = p.parent().unwrap().to_path_buf();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            inbox_from_file(&p)
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
    }
}
