//! The live view (SPEC section 8): WebSocket frames from the handler, the notifier fed
//! with real DynamoDB Streams records (moto), the local WebSocket endpoint, the status
//! endpoint and the login block's HTML, QR and assets.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nsauth::Deps;
use nsauth::clock::{Clock, ManualClock};
use nsauth::config::Config;
use nsauth::ids::{Hsid, Nonce};
use nsauth::live::connections::{Connections, ManagementApi, PostError};
use nsauth::live::events::EventSink;
use nsauth::live::{notifier, websocket};
use nsauth::push::LocalPush;
use nsauth::server::Server;
use nsauth::session::{LoginInfo, Session};
use nsauth::settings::ServerSettings;
use nsauth::store::{DynamoStore, MemoryStore, Store};
use nsauth::usercontext::UserContext;
use nsauth_tests::{START, Stack, dynamo_client, moto, unique_name};
use serde_json::{Value, json};

/// Records every frame; connections named `gone-*` answer as API Gateway does for a
/// closed connection. With `inner`, frames also go to that (moto's Management API).
#[derive(Default)]
struct Recorder {
    posts: Mutex<Vec<(String, String)>>,
    inner: Option<ManagementApi>,
}

impl Recorder {
    fn take(&self, conn: &str) -> Vec<String> {
        let mut p = self.posts.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = p.drain(..).partition(|(c, _)| c == conn);
        *p = rest;
        mine.into_iter().map(|(_, t)| t).collect()
    }
}

#[async_trait]
impl Connections for Recorder {
    async fn post(&self, conn: &str, text: &str) -> Result<(), PostError> {
        if conn.starts_with("gone-") {
            return Err(PostError::Gone);
        }
        if let Some(api) = &self.inner {
            api.post(conn, text).await?;
        }
        self.posts
            .lock()
            .unwrap()
            .push((conn.to_string(), text.to_string()));
        Ok(())
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<Value>>);

#[async_trait]
impl EventSink for Events {
    async fn publish(&self, serverid: &str, event: &Value) -> Result<(), String> {
        assert_eq!(event["data"]["serverid"], serverid);
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

fn deps_over(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Deps {
    Deps::new(
        store,
        Arc::new(LocalPush::new()),
        clock,
        Arc::new(Config {
            table: "t".into(),
            api_base: None,
            ws_url: None,
            key_cache_seconds: 0,
        }),
    )
}

async fn server_in(store: &dyn Store) -> Server {
    let s = Server::new(ServerSettings::named("Live").unwrap(), START);
    store.create_server(&s).await.unwrap();
    s
}

fn login(id: u64) -> LoginInfo {
    LoginInfo {
        verification: None,
        channel: None,
        proximity: None,
        accountid: id,
        userid: Some("u".into()),
        pk: "cGs=".into(),
    }
}

/// Writes a session through its life: pending, scanned, logged in, logged out.
async fn life(store: &dyn Store, server: &Server) -> Session {
    let st = &server.settings;
    let s = Session::new_pending(
        server.serverid.clone(),
        Nonce::generate().hsid(&server.serverid),
        st,
        UserContext::default(),
        START,
    );
    store.create_session(&s).await.unwrap();
    let a = s.scan(st, START + 1).unwrap();
    store.update_session(&a, s.version).await.unwrap();
    let b = a.approve(login(3), st, START + 2).unwrap();
    store.update_session(&b, a.version).await.unwrap();
    let c = b.logout(st, START + 3).unwrap();
    store.update_session(&c, b.version).await.unwrap();
    c
}

async fn register_answers(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(START));
    let deps = deps_over(store.clone(), clock.clone());
    let server = server_in(store.as_ref()).await;
    let st = &server.settings;
    let rec = Recorder::default();
    let sid = server.serverid.to_string();
    let mk = |hsid: &Hsid| format!("REGISTER {hsid} {sid}");
    let pending = Session::new_pending(
        server.serverid.clone(),
        Nonce::generate().hsid(&server.serverid),
        st,
        UserContext::default(),
        START,
    );
    store.create_session(&pending).await.unwrap();
    let h = pending.hsid.clone();
    let cases: Vec<(Session, Vec<&str>)> = vec![
        (pending.clone(), vec!["LOGOUT"]),
        (
            pending.scan(st, START).unwrap(),
            vec!["LOGOUT", "CONFIRMSCAN"],
        ),
        (
            pending.approve(login(1), st, START).unwrap(),
            vec!["LOGIN", "CANPROVOKE"],
        ),
        (
            pending
                .approve(login(1), st, START)
                .unwrap()
                .logout(st, START)
                .unwrap(),
            vec!["LOGOUT", "CANPROVOKE"],
        ),
        (pending.cancel(st, START).unwrap(), vec!["LOGOUT", "CANCEL"]),
    ];
    let mut current = pending.clone();
    for (i, (next, want)) in cases.into_iter().enumerate() {
        let mut next = next;
        if i > 0 {
            next.version = current.version + 1;
            store.update_session(&next, current.version).await.unwrap();
            current = next;
        }
        websocket::on_frame(&deps, &rec, "conn-1", &mk(&h)).await;
        let got = rec.take("conn-1");
        let want: Vec<String> = want.iter().map(|k| format!("{k} {h} {sid}")).collect();
        assert_eq!(got, want, "case {i}");
    }
    // Expiry needs no write: a pending session read after login_timeout answers EXPIRED.
    let p2 = Session::new_pending(
        server.serverid.clone(),
        Nonce::generate().hsid(&server.serverid),
        st,
        UserContext::default(),
        START,
    );
    store.create_session(&p2).await.unwrap();
    clock.set(START + 300);
    websocket::on_frame(&deps, &rec, "conn-1", &mk(&p2.hsid)).await;
    assert_eq!(
        rec.take("conn-1"),
        vec![
            format!("LOGOUT {} {sid}", p2.hsid),
            format!("EXPIRED {} {sid}", p2.hsid)
        ]
    );
    // A pushed attempt with number matching: CANPROVOKE then MATCH.
    let pushed = current
        .begin_attempt(st, None, START + 300)
        .unwrap()
        .pushed_to(&[1], None, st, START + 300);
    let mut pushed = pushed;
    pushed.canprovoke = true;
    store
        .update_session(&pushed, current.version)
        .await
        .unwrap();
    websocket::on_frame(&deps, &rec, "conn-1", &mk(&h)).await;
    let m = pushed.matching.clone().unwrap().number;
    assert_eq!(
        rec.take("conn-1"),
        vec![
            format!("LOGOUT {h} {sid}"),
            format!("CANPROVOKE {h} {sid}"),
            format!("MATCH {h} {sid} {m}")
        ]
    );
    // The connection now watches both sessions.
    let mut watched = store.connection_sessions("conn-1").await.unwrap();
    watched.sort();
    let mut want = vec![h.clone(), p2.hsid.clone()];
    want.sort();
    assert_eq!(watched, want);
    assert_eq!(
        store.subscribers(&h).await.unwrap(),
        vec!["conn-1".to_string()]
    );
    // Malformed frames and unknown sessions get an error frame and change nothing.
    for bad in [
        "",
        "HELLO",
        "REGISTER x y",
        &format!("REGISTER {h}"),
        &"X".repeat(4000),
        "REGISTER \u{0}\u{0} a",
    ] {
        websocket::on_frame(&deps, &rec, "conn-1", bad).await;
        let got = rec.take("conn-1");
        assert_eq!(got.len(), 1, "{bad:?}");
        assert!(got[0].starts_with("ERROR bad_frame "), "{got:?}");
    }
    let other = Nonce::generate().hsid(&server.serverid);
    websocket::on_frame(&deps, &rec, "conn-1", &mk(&other)).await;
    assert!(rec.take("conn-1")[0].starts_with("ERROR unknown_session"));
    let wrong_server = format!("REGISTER {h} AAECAwQFBgcICQoLDA0ODw");
    websocket::on_frame(&deps, &rec, "conn-1", &wrong_server).await;
    assert!(rec.take("conn-1")[0].starts_with("ERROR unknown_session"));
    // PROVOKE without a pushable account is refused with the API's code (with the page's
    // live token; without it, that is the refusal).
    let p2_now = store.get_session(&p2.hsid).await.unwrap().unwrap();
    let token = server.live_token(&p2.hsid, p2_now.attempt).unwrap();
    let provoke = format!("PROVOKE {} {sid}", p2.hsid);
    websocket::on_frame(&deps, &rec, "conn-1", &format!("{provoke} {token}")).await;
    assert!(rec.take("conn-1")[0].starts_with("ERROR cannot_provoke"));
    websocket::on_frame(&deps, &rec, "conn-1", &provoke).await;
    assert!(rec.take("conn-1")[0].starts_with("ERROR bad_token"));
    // $disconnect drops the subscriptions.
    websocket::on_disconnect(&deps, "conn-1").await;
    assert!(
        store
            .connection_sessions("conn-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.subscribers(&h).await.unwrap().is_empty());
}

#[tokio::test]
async fn register_answers_in_memory() {
    register_answers(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn register_answers_on_moto() {
    let Some(url) = moto() else { return };
    register_answers(Arc::new(nsauth_tests::dynamo_store(&url, true).await)).await;
}

/// Stream records as Lambda delivers them: read from moto's DynamoDB Streams and written
/// out as the Lambda event's JSON, which the notifier takes as it comes.
async fn stream_event(url: &str, table: &str) -> Value {
    let conf = aws_sdk_dynamodbstreams::Config::builder()
        .http_client(nsauth::aws::http_client())
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(conf);
    let arn = dynamo_client(url)
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .unwrap();
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for shard in shards.stream_description.unwrap().shards() {
        let it = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let out = streams
            .get_records()
            .shard_iterator(it)
            .send()
            .await
            .unwrap();
        for r in out.records() {
            let d = r.dynamodb().unwrap();
            let item = |m: Option<
                &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
            >| {
                m.map(|m| serde_json::to_value(serde_dynamo::Item::from(m.clone())).unwrap())
                    .unwrap_or(Value::Null)
            };
            records.push(json!({
                "eventID": r.event_id(),
                "eventName": r.event_name().map(|n| n.as_str()),
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": arn,
                "dynamodb": {
                    "Keys": item(d.keys()),
                    "NewImage": item(d.new_image()),
                    "OldImage": item(d.old_image()),
                    "SequenceNumber": d.sequence_number(),
                    "SizeBytes": d.size_bytes().unwrap_or(0),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                }
            }));
        }
    }
    json!({ "Records": records })
}

/// The stream key (`pk`) of a record of the invocation's JSON.
fn record_key(r: &Value) -> &str {
    r.pointer("/dynamodb/Keys/pk/S")
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[tokio::test]
async fn notifier_sends_frames_from_moto_stream_records() {
    let Some(url) = moto() else { return };
    let client = dynamo_client(&url);
    let table = unique_name("nsauth-live");
    nsauth::store::TableSpec::create(&client, &table, true, true)
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client, table.clone()));
    let clock = Arc::new(ManualClock::new(START + 4));
    let deps = deps_over(store.clone(), clock);
    let server = server_in(store.as_ref()).await;
    let hsid_probe = Nonce::generate();
    drop(hsid_probe);
    let s = life(store.as_ref(), &server).await;
    store
        .subscribe("conn-A1", &s.hsid, START + 7200, 20)
        .await
        .unwrap();
    store
        .subscribe("gone-B2", &s.hsid, START + 7200, 20)
        .await
        .unwrap();
    let event = stream_event(&url, &table).await;
    let session_records = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| record_key(r).starts_with("SESSION#"))
        .count();
    assert_eq!(session_records, 4, "create, scan, login, logout");
    let conf = aws_config::SdkConfig::builder()
        .http_client(nsauth::aws::http_client())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_sdk_apigatewaymanagement::config::SharedCredentialsProvider::new(
                aws_sdk_apigatewaymanagement::config::Credentials::new(
                    "testing", "testing", None, None, "t",
                ),
            ),
        )
        .build();
    let rec = Recorder {
        posts: Mutex::default(),
        inner: Some(ManagementApi::new(&conf, &url)),
    };
    let events = Events::default();
    let resp = notifier::handle(&deps, &rec, &events, event).await;
    assert!(
        resp.batch_item_failures.is_empty(),
        "{:?}",
        resp.batch_item_failures
    );
    let (h, sid) = (s.hsid.to_string(), server.serverid.to_string());
    assert_eq!(
        rec.take("conn-A1"),
        vec![
            format!("CONFIRMSCAN {h} {sid}"),
            format!("LOGIN {h} {sid}"),
            format!("CANPROVOKE {h} {sid}"),
            format!("LOGOUT {h} {sid}"),
        ]
    );
    assert_eq!(
        store.subscribers(&s.hsid).await.unwrap(),
        vec!["conn-A1".to_string()],
        "the gone connection is dropped"
    );
    let kinds: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "org.nsauth.session.login",
            "org.nsauth.account.login",
            "org.nsauth.session.logout"
        ]
    );
    let login_event = events.0.lock().unwrap()[0].clone();
    assert_eq!(login_event["specversion"], "1.0");
    assert_eq!(login_event["data"]["accountid"], 3);
    assert_eq!(login_event["data"]["userid"], "u");
    assert_eq!(login_event["subject"], h);
}

/// In AWS the table's stream runs an account's sweep: each write of the pass item wakes the
/// notifier for the next page. Fed moto's stream records (all of them each time, as a
/// retried or repeated batch would be), a block ends every login of the account across
/// pages, the pass item goes, and records delivered again write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_runs_account_sweeps_from_stream_records() {
    use nsauth::account::Account;
    use nsauth::service::{accounts, sweeps};
    use nsauth::session::SessionState;
    use nsauth::store::CountingStore;
    let Some(url) = moto() else { return };
    let client = dynamo_client(&url);
    let table = unique_name("nsauth-sweep");
    nsauth::store::TableSpec::create(&client, &table, true, true)
        .await
        .unwrap();
    let counting = Arc::new(CountingStore::counting(Arc::new(DynamoStore::new(
        client,
        table.clone(),
    ))));
    let store: Arc<dyn Store> = counting.clone();
    let deps = deps_over(store.clone(), Arc::new(ManualClock::new(START + 100)))
        .with_sweeps(Arc::new(sweeps::ByStream));
    let server = server_in(store.as_ref()).await;
    let st = &server.settings;
    let account = Account {
        serverid: server.serverid.clone(),
        accountid: 3,
        publickey: "cGs".into(),
        description: "phone".into(),
        clientversion: String::new(),
        userid: Some("u".into()),
        blocked: false,
        created: START,
        lastlogin: None,
        lastprovoke: None,
        push: None,
        fraud_reports: 0,
        enrolling: None,
        version: 1,
    };
    store.create_account(&account).await.unwrap();
    let n = sweeps::PAGE as usize + 50;
    for i in 0..n {
        let s = Session::new_pending(
            server.serverid.clone(),
            Nonce::generate().hsid(&server.serverid),
            st,
            UserContext::default(),
            START,
        )
        .approve(login(3), st, START + 1 + i as i64 % 60)
        .unwrap();
        store.create_session(&s).await.unwrap();
    }
    let states = || async {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .account_sessions(&server.serverid, 3, 100, cursor.as_deref())
                .await
                .unwrap();
            out.extend(
                page.items
                    .iter()
                    .map(|s| (s.state_at(START + 100), s.canprovoke)),
            );
            cursor = page.next;
            if cursor.is_none() {
                return out;
            }
        }
    };
    accounts::set_blocked(&deps, &server, 3, true)
        .await
        .unwrap();
    // The request only stored the pass.
    assert!(
        states()
            .await
            .iter()
            .all(|(st, _)| *st == SessionState::LoggedIn)
    );
    let rec = Recorder::default();
    let mut batches = 0;
    while store
        .get_sweep(&server.serverid, 3)
        .await
        .unwrap()
        .is_some()
    {
        batches += 1;
        assert!(batches <= 5, "the pass ends");
        let event = stream_event(&url, &table).await;
        let resp = notifier::handle(&deps, &rec, &Events::default(), event).await;
        assert!(
            resp.batch_item_failures.is_empty(),
            "{:?}",
            resp.batch_item_failures
        );
    }
    assert_eq!(batches, 2, "two pages, a batch each");
    let after = states().await;
    assert_eq!(after.len(), n);
    assert!(
        after
            .iter()
            .all(|(st, cp)| *st == SessionState::LoggedOut && !cp),
        "every login ended and no session can push"
    );
    // Every record again (a retried batch): nothing more is written.
    counting.reset();
    let event = stream_event(&url, &table).await;
    let resp = notifier::handle(&deps, &rec, &Events::default(), event).await;
    assert!(resp.batch_item_failures.is_empty());
    let counts = counting.counts();
    assert_eq!(counts.get("update_session"), None, "{counts:?}");
    assert_eq!(store.get_sweep(&server.serverid, 3).await.unwrap(), None);
}

#[tokio::test]
async fn notifier_reports_only_the_failed_records() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let deps = deps_over(store.clone(), Arc::new(ManualClock::new(START)));
    let good = json!({"Keys": {"pk": {"S": "SESSION#x"}, "sk": {"S": "SESSION"}}, "NewImage": {"pk": {"S": "SESSION#x"}, "junk": {"S": "not a session"}}, "SequenceNumber": "111", "SizeBytes": 1});
    let other = json!({"Keys": {"pk": {"S": "ACCOUNT#x#1"}, "sk": {"S": "ACCOUNT"}}, "NewImage": {"pk": {"S": "ACCOUNT#x#1"}}, "SequenceNumber": "222", "SizeBytes": 1});
    let event = json!({"Records": [
        {"eventID": "1", "eventName": "MODIFY", "awsRegion": "us-east-1", "eventSource": "aws:dynamodb", "eventSourceARN": "arn", "dynamodb": good},
        {"eventID": "2", "eventName": "MODIFY", "awsRegion": "us-east-1", "eventSource": "aws:dynamodb", "eventSourceARN": "arn", "dynamodb": other},
    ]});
    let rec = Recorder::default();
    let resp = notifier::handle(&deps, &rec, &Events::default(), event).await;
    let failed: Vec<_> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        vec![Some("111".to_string())],
        "the unreadable session record only"
    );
}

/// Events as [`Events`], except that publishing one about `panic_on` (a session's hsid)
/// panics: a record whose handling fails every time, by a bug.
struct PanicOn(Option<String>, Events);

#[async_trait]
impl EventSink for PanicOn {
    async fn publish(&self, serverid: &str, event: &Value) -> Result<(), String> {
        if self.0.as_deref() == event["subject"].as_str() {
            panic!("a bug in handling this record");
        }
        self.1.publish(serverid, event).await
    }
}

/// A poison record between good ones, in a batch of moto's stream records: one that is no
/// stream record at all (an attribute of an unknown type), one whose image is no session,
/// and one whose handling panics. Each is reported alone, by its sequence number, so that
/// after Lambda's retries only it goes to the on-failure queue, while the records before
/// and after it give their frames and events.
#[tokio::test]
async fn notifier_reports_a_poison_record_alone() {
    let Some(url) = moto() else { return };
    let client = dynamo_client(&url);
    let table = unique_name("nsauth-poison");
    nsauth::store::TableSpec::create(&client, &table, true, true)
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client, table.clone()));
    let deps = deps_over(store.clone(), Arc::new(ManualClock::new(START + 4)));
    let server = server_in(store.as_ref()).await;
    let a = life(store.as_ref(), &server).await;
    let b = life(store.as_ref(), &server).await;
    let c = life(store.as_ref(), &server).await;
    for (conn, s) in [("conn-A", &a), ("conn-B", &b)] {
        store
            .subscribe(conn, &s.hsid, START + 7200, 20)
            .await
            .unwrap();
    }
    let event = stream_event(&url, &table).await;
    let of = |s: &Session| -> Vec<Value> {
        let key = format!("SESSION#{}", s.hsid);
        event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| record_key(r) == key)
            .cloned()
            .collect()
    };
    let (good_a, good_b) = (of(&a), of(&b));
    assert_eq!((good_a.len(), good_b.len()), (4, 4));
    // C's login: the record the poison is made from.
    let login_c = of(&c)[2].clone();
    assert_eq!(login_c["dynamodb"]["NewImage"]["state"]["S"], "loggedin");
    let mut malformed = login_c.clone();
    malformed["dynamodb"]["NewImage"]["state"] = json!({"Q": "no such attribute type"});
    let mut not_a_session = login_c.clone();
    not_a_session["dynamodb"]["NewImage"] =
        json!({"pk": login_c["dynamodb"]["Keys"]["pk"], "junk": {"S": "not a session"}});
    let poisons = [
        ("malformed record", malformed, None),
        ("image not a session", not_a_session, None),
        ("handling panics", login_c.clone(), Some(c.hsid.to_string())),
    ];
    let (sid, ha, hb) = (
        server.serverid.to_string(),
        a.hsid.to_string(),
        b.hsid.to_string(),
    );
    for (kind, poison, panic_on) in poisons {
        let seq = poison["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap()
            .to_string();
        let mut records = good_a.clone();
        records.push(poison);
        records.extend(good_b.iter().cloned());
        let rec = Recorder::default();
        let events = PanicOn(panic_on, Events::default());
        let resp = notifier::handle(&deps, &rec, &events, json!({ "Records": records })).await;
        let failed: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, vec![Some(seq)], "{kind}: the poison record alone");
        for (conn, h) in [("conn-A", &ha), ("conn-B", &hb)] {
            assert_eq!(
                rec.take(conn),
                vec![
                    format!("CONFIRMSCAN {h} {sid}"),
                    format!("LOGIN {h} {sid}"),
                    format!("CANPROVOKE {h} {sid}"),
                    format!("LOGOUT {h} {sid}"),
                ],
                "{kind}: the good records before and after it are handled"
            );
        }
        let published: Vec<(String, String)> = events
            .1
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["subject"].as_str().unwrap().to_string(),
                    e["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            published,
            [
                (ha.clone(), "org.nsauth.session.login".to_string()),
                ("3".to_string(), "org.nsauth.account.login".to_string()),
                (ha.clone(), "org.nsauth.session.logout".to_string()),
                (hb.clone(), "org.nsauth.session.login".to_string()),
                ("3".to_string(), "org.nsauth.account.login".to_string()),
                (hb.clone(), "org.nsauth.session.logout".to_string()),
            ],
            "{kind}"
        );
    }
}

/// The local stack's native WebSocket endpoint, fed by the store's change feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_websocket_endpoint_delivers_login() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let stream = nsauth::store::ChangeStream::new();
    let changes = stream.subscribe();
    let stack = Stack::over(Arc::new(MemoryStore::new().with_stream(stream))).await;
    let conns = nsauth_local::ws::LocalConnections::default();
    let clock: Arc<dyn Clock> = stack.clock.clone();
    let deps = Deps::new(
        stack.counting.clone(),
        Arc::new(LocalPush::new()),
        clock,
        Arc::new(Config {
            table: "t".into(),
            api_base: None,
            ws_url: None,
            key_cache_seconds: 0,
        }),
    );
    tokio::spawn(nsauth_local::ws::notify(
        deps.clone(),
        conns.clone(),
        changes,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(nsauth_local::serve(
        listener,
        deps,
        nsauth_local::Local {
            ws: Some(conns),
            ..Default::default()
        },
    ));
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    // A phone enrolled and logged out; then a new login attempt on the same session.
    let n = Nonce::generate().expose().to_string();
    let link = stack.enrol_link(&n, "").await;
    let mut phone = stack.phone();
    phone.enrol(&link, "p", None).await.unwrap();
    let (n2, login_link) = stack.new_session(None).await;
    let hsid = Nonce::parse(Some(&n2)).unwrap().hsid(&stack.serverid);
    ws.send(Message::text(format!("REGISTER {hsid} {}", stack.serverid)))
        .await
        .unwrap();
    phone.show(&login_link).await.unwrap();
    phone.approve(&login_link, None, None).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("frame in time");
        got.push(msg.unwrap().unwrap().into_text().unwrap().to_string());
    }
    let sid = stack.serverid.to_string();
    assert_eq!(
        got,
        vec![
            format!("LOGOUT {hsid} {sid}"),
            format!("CONFIRMSCAN {hsid} {sid}"),
            format!("LOGIN {hsid} {sid}"),
            format!("CANPROVOKE {hsid} {sid}")
        ]
    );
    // A malformed frame gets an error frame; the connection stays usable.
    ws.send(Message::text("NONSENSE")).await.unwrap();
    let msg = ws
        .next()
        .await
        .unwrap()
        .unwrap()
        .into_text()
        .unwrap()
        .to_string();
    assert!(msg.starts_with("ERROR bad_frame"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_status_qr_and_assets() {
    use reqwest::Method;
    let stack = Stack::memory().await;
    let n = Nonce::generate().expose().to_string();
    let hsid = Nonce::parse(Some(&n)).unwrap().hsid(&stack.serverid);
    let (status, html) = stack
        .call(
            Method::GET,
            "/sessions/html/login?callback=onLogin",
            Some(&n),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let html = html.as_str().unwrap().to_string();
    let link = format!("nsauth://login/{}/{hsid}", stack.serverid);
    for want in [
        "class=\"nsauth-block\"".to_string(),
        format!("data-hsid=\"{hsid}\""),
        format!("data-link=\"{link}\""),
        "data-callback=\"onLogin\"".into(),
        "data-state=\"pending\"".into(),
        format!(
            "data-status=\"{}/status/{}/{hsid}\"",
            stack.base, stack.serverid
        ),
        "<svg".into(),
    ] {
        assert!(html.contains(&want), "{want} in {html}");
    }
    assert!(!html.contains("<?xml"));
    assert!(!html.contains(&n), "the nonce never reaches the page");
    for bad in ["?callback=alert(1)", "?return=https://evil.example/"] {
        let (status, v) = stack
            .call(
                Method::GET,
                &format!("/sessions/html/login{bad}"),
                Some(&n),
                None,
            )
            .await;
        assert_eq!(
            (status, v["error"].clone()),
            (400, json!("invalid_field")),
            "{bad}"
        );
    }
    // The QR image decodes back to the exact login link.
    let png = nsauth_tests::http()
        .get(format!("{}/qr/login?img=png&s=300", stack.sessions_url()))
        .header("X-apikey", &stack.apikey)
        .header("X-nonce", &n)
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    // The block was shown for this attempt, so its codes rotate (qr_rotation `block`): the
    // image and the raw link are the current code, the login link with t and m.
    let decoded = nsauth_tests::decode_png_qr(&png);
    assert!(decoded.starts_with(&format!("{link}?t=")), "{decoded}");
    let (_, raw) = stack
        .call(Method::GET, "/sessions/qr/login", Some(&n), None)
        .await;
    assert_eq!(raw, json!(decoded), "without img: the link's bytes");
    // Polling: no key, CORS open, nothing about the user.
    let resp = nsauth_tests::http()
        .get(format!("{}/status/{}/{hsid}", stack.base, stack.serverid))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, json!({"state": "pending", "canprovoke": false}));
    let resp = nsauth_tests::http()
        .get(format!(
            "{}/status/{}/{}",
            stack.base,
            stack.serverid,
            Nonce::generate().hsid(&stack.serverid)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    // The footer names the hashed assets, which are served with a year's cache.
    let (_, footer) = stack
        .call(Method::GET, "/sessions/html/footer", Some(&n), None)
        .await;
    let footer = footer.as_str().unwrap();
    let js = footer
        .split('"')
        .find(|p| p.ends_with(".js"))
        .unwrap()
        .to_string();
    let resp = nsauth_tests::http().get(&js).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains("nsauth"), "the script");
    let resp = nsauth_tests::http()
        .get(js.replace("nsauth-block.", "nsauth-block.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
