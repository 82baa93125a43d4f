//! Test support: the services `make test` starts, and a local stack on a free port.

pub mod faults;
pub mod mmdb;
pub mod proxy;

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use nsauth::Deps;
use nsauth::apikey::ApiKey;
use nsauth::clock::{Clock, ManualClock};
use nsauth::config::Config;
use nsauth::ids::ServerId;
use nsauth::push::{LocalPush, PushSender};
use nsauth::service::sweeps;
use nsauth::settings::ServerSettings;
use nsauth::store::{CountingStore, DynamoStore, MemoryStore, Store, TableSpec};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A service `make test` started (`infra/scripts/with-services.sh`), by its env variable.
/// Without it the test is skipped with a message, unless `NSAUTH_TEST_REQUIRE_SERVICES=1`
/// (set by `make test`), where a missing service is a failure.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("NSAUTH_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{var} is not set; run the tests through `make test`");
            }
            eprintln!("SKIPPED: {var} is not set (run through `make test` to test against it)");
            None
        }
    }
}

pub fn moto() -> Option<String> {
    service("NSAUTH_TEST_MOTO_URL")
}

pub fn dynalite() -> Option<String> {
    service("NSAUTH_TEST_DYNALITE_URL")
}

/// A DynamoDB client for an emulator endpoint with dummy credentials.
pub fn dynamo_client(endpoint: &str) -> Client {
    Client::from_conf(dynamo_config(endpoint).build())
}

/// The configuration of [`dynamo_client`], for a test that changes a setting.
pub fn dynamo_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .http_client(nsauth::aws::http_client())
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
}

/// A new random nonce, as a website makes one.
pub fn new_nonce() -> String {
    nsauth::ids::Nonce::generate().expose().to_string()
}

/// The hsid of a nonce on the stack's demo server.
pub fn hsid_of(stack: &Stack, nonce: &str) -> nsauth::ids::Hsid {
    nsauth::ids::Nonce::parse(Some(nonce))
        .expect("a valid nonce")
        .hsid(&stack.serverid)
}

/// A table of its own for one test (moto's state is shared by every test of a run).
/// The login notices in a phone's push inbox for server `sid`.
pub async fn notices(
    phone: &nsauth_authenticator::Authenticator,
    sid: &str,
) -> Vec<nsauth_authenticator::PushedLogin> {
    let inbox = phone.inbox(Some(sid)).await.expect("inbox");
    inbox.into_iter().filter(|p| p.notice).collect()
}

pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        nsauth::ids::b64url(&nsauth::ids::random_bytes::<6>())
    )
}

/// A fresh table on an emulator, with TTL and stream where the emulator has them.
pub async fn dynamo_store(endpoint: &str, ttl_and_stream: bool) -> DynamoStore {
    let client = dynamo_client(endpoint);
    let table = unique_name("nsauth-test");
    TableSpec::create(&client, &table, ttl_and_stream, ttl_and_stream)
        .await
        .expect("create table");
    DynamoStore::new(client, table)
}

/// The local stack serving on a free loopback port, over a given store, with a clock the
/// test moves and a counting wrapper around the store.
pub struct Stack {
    pub base: String,
    pub serverid: ServerId,
    pub apikey: String,
    /// A key whose role holds global `root` (the management API's).
    pub root_key: String,
    pub clock: Arc<ManualClock>,
    pub counting: Arc<CountingStore>,
    /// The push service when it is the local one (the in-memory stack).
    pub local_push: Option<Arc<LocalPush>>,
    /// What the handlers are given, for a test that calls one directly (with a Lambda
    /// context, or a session it read earlier).
    pub deps: Deps,
    task: JoinHandle<()>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub const START: i64 = 1_800_000_000;

impl Stack {
    pub async fn memory() -> Stack {
        Stack::over(Arc::new(MemoryStore::new())).await
    }

    /// Over DynamoDB on moto, or `None` when moto is not there (skipped).
    pub async fn moto() -> Option<Stack> {
        let url = moto()?;
        Some(Stack::over(Arc::new(dynamo_store(&url, true).await)).await)
    }

    /// Over DynamoDB on dynalite, or `None` when dynalite is not there (skipped). For the
    /// tests of concurrent writes: dynalite locks each item for a conditional write, as
    /// DynamoDB does, and moto does not (see [`on_atomic_stores`]).
    pub async fn dynalite() -> Option<Stack> {
        let url = dynalite()?;
        Some(Stack::over(Arc::new(dynamo_store(&url, false).await)).await)
    }

    /// Over DynamoDB and SNS on moto, with an FCM platform application of its own.
    pub async fn moto_with_sns() -> Option<(Stack, aws_sdk_sns::Client, String)> {
        let url = moto()?;
        let store = Arc::new(dynamo_store(&url, true).await);
        Some(Stack::with_moto_sns(store, &url).await)
    }

    /// Over DynamoDB on dynalite and SNS on moto: for concurrent pushes, whose counters need
    /// atomic conditional writes that moto's DynamoDB does not give.
    pub async fn dynalite_with_moto_sns() -> Option<(Stack, aws_sdk_sns::Client, String)> {
        let (Some(dynalite), Some(moto)) = (dynalite(), moto()) else {
            return None;
        };
        let store = Arc::new(dynamo_store(&dynalite, false).await);
        Some(Stack::with_moto_sns(store, &moto).await)
    }

    async fn with_moto_sns(
        store: Arc<dyn Store>,
        moto: &str,
    ) -> (Stack, aws_sdk_sns::Client, String) {
        let sns = sns_client(moto);
        let app = fcm_platform_app(&sns).await;
        let push = nsauth::push::SnsPush::new(
            sns.clone(),
            nsauth::push::PlatformApps {
                fcm: Some(app.clone()),
                ..Default::default()
            },
        );
        let stack = Stack::with_push(store, Arc::new(push), None).await;
        (stack, sns, app)
    }

    pub async fn over(store: Arc<dyn Store>) -> Stack {
        let local = Arc::new(LocalPush::new());
        Stack::with_push(store, local.clone(), Some(local)).await
    }

    pub async fn with_push(
        store: Arc<dyn Store>,
        push: Arc<dyn PushSender>,
        local_push: Option<Arc<LocalPush>>,
    ) -> Stack {
        Stack::with_sweeps(store, push, local_push, Arc::new(sweeps::Inline)).await
    }

    /// A stack whose account sweeps are left to the test (`sweeps::ByStream`: in AWS the
    /// table's stream runs them): what a request does on its own path, and what a sweep does
    /// after it, apart.
    pub async fn with_deferred_sweeps(store: Arc<dyn Store>) -> Stack {
        let local = Arc::new(LocalPush::new());
        Stack::with_sweeps(
            store,
            local.clone(),
            Some(local),
            Arc::new(sweeps::ByStream),
        )
        .await
    }

    pub async fn with_sweeps(
        store: Arc<dyn Store>,
        push: Arc<dyn PushSender>,
        local_push: Option<Arc<LocalPush>>,
        runner: Arc<dyn sweeps::SweepRunner>,
    ) -> Stack {
        Stack::build(store, push, local_push, runner, 0, None).await
    }

    /// An in-memory stack whose functions keep server and key items `seconds`
    /// (`NSAUTH_KEY_CACHE_SECONDS`).
    pub async fn with_key_cache(seconds: u32) -> Stack {
        let local = Arc::new(LocalPush::new());
        let store = Arc::new(MemoryStore::new());
        Stack::build(
            store,
            local.clone(),
            Some(local),
            Arc::new(sweeps::Inline),
            seconds,
            None,
        )
        .await
    }

    /// An in-memory stack whose phone answers carry locations from this GeoIP database
    /// (`NSAUTH_GEOIP_DATABASE`).
    pub async fn with_geoip(geoip: nsauth::geoip::GeoIp) -> Stack {
        let local = Arc::new(LocalPush::new());
        Stack::build(
            Arc::new(MemoryStore::new()),
            local.clone(),
            Some(local),
            Arc::new(sweeps::Inline),
            0,
            Some(Arc::new(geoip)),
        )
        .await
    }

    async fn build(
        store: Arc<dyn Store>,
        push: Arc<dyn PushSender>,
        local_push: Option<Arc<LocalPush>>,
        runner: Arc<dyn sweeps::SweepRunner>,
        key_cache_seconds: u32,
        geoip: Option<Arc<nsauth::geoip::GeoIp>>,
    ) -> Stack {
        let counting = Arc::new(CountingStore::counting(store));
        let clock = Arc::new(ManualClock::new(START));
        let demo = nsauth_local::demo::ensure(counting.as_ref(), None, None, None, clock.now())
            .await
            .expect("demo server");
        let deps = Deps::new(
            counting.clone(),
            push.clone(),
            clock.clone(),
            Arc::new(Config {
                table: "unused".into(),
                api_base: None,
                ws_url: None,
                key_cache_seconds,
            }),
        )
        .with_sweeps(runner)
        .with_geoip(geoip);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let local = nsauth_local::Local {
            push: local_push.clone(),
            ..Default::default()
        };
        let task = tokio::spawn(nsauth_local::serve(listener, deps.clone(), local));
        Stack {
            base,
            serverid: demo.serverid,
            apikey: demo.apikey.expose().to_string(),
            root_key: demo.root_key.expose().to_string(),
            clock,
            counting,
            local_push,
            deps,
            task,
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.counting.as_ref()
    }

    /// A second server with its own key, in the same store.
    pub async fn other_server(&self) -> (ServerId, ApiKey) {
        let (server, key) = nsauth::service::admin::create_server(
            self.store(),
            ServerSettings::named("Other website").unwrap(),
            None,
            self.clock.now(),
        )
        .await
        .unwrap();
        (server.serverid, key)
    }

    pub fn sessions_url(&self) -> String {
        format!("{}/servers/{}/sessions", self.base, self.serverid)
    }
}

/// An SNS client for an emulator endpoint with dummy credentials.
pub fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(sns_config(endpoint).build())
}

/// The configuration of [`sns_client`], for a test that changes a setting.
pub fn sns_config(endpoint: &str) -> aws_sdk_sns::config::Builder {
    aws_sdk_sns::Config::builder()
        .http_client(nsauth::aws::http_client())
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
}

/// A new FCM platform application on moto's SNS: its ARN.
pub async fn fcm_platform_app(sns: &aws_sdk_sns::Client) -> String {
    sns.create_platform_application()
        .name(unique_name("nsauth-fcm"))
        .platform("GCM")
        .attributes("PlatformCredential", "test-server-key")
        .send()
        .await
        .expect("create platform application")
        .platform_application_arn
        .expect("arn")
}

impl Stack {
    /// A phone: an authenticator with a key file of its own, signing with the stack's clock.
    pub fn phone(&self) -> nsauth_authenticator::Authenticator {
        let path = std::env::temp_dir().join(format!("{}.json", unique_name("nsauth-phone")));
        let clock = self.clock.clone();
        nsauth_authenticator::Authenticator::open(path)
            .expect("key file")
            .with_clock(Arc::new(move || clock.now()))
    }

    /// A website backend call: status and JSON (or text) answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        nonce: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = http()
            .request(
                method,
                format!("{}/servers/{}{path}", self.base, self.serverid),
            )
            .header("X-apikey", &self.apikey);
        if let Some(n) = nonce {
            req = req.header("X-nonce", n);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, value)
    }

    /// An enrolment link for the browser session of `nonce`.
    pub async fn enrol_link(&self, nonce: &str, query: &str) -> String {
        let (status, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/sessions/qr/enrol{query}"),
                Some(nonce),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v.as_str().expect("link text").to_string()
    }

    /// A phone with a push token, enrolled (and logged in) through a new website session:
    /// the phone, its account id and the session's nonce.
    pub async fn phone_with_push(
        &self,
        userid: &str,
        token: &str,
    ) -> (nsauth_authenticator::Authenticator, u64, String) {
        let n = new_nonce();
        let link = self.enrol_link(&n, &format!("?userid={userid}")).await;
        let mut phone = self.phone();
        let acc = phone
            .enrol(&link, "Push phone", Some(("fcm", token)))
            .await
            .expect("enrol");
        (phone, acc.accountid, n)
    }

    /// Two phones of one new user, each with a push token: the one that approves, and
    /// the other (for login notices).
    pub async fn two_phones(
        &self,
        user_prefix: &str,
    ) -> (
        nsauth_authenticator::Authenticator,
        nsauth_authenticator::Authenticator,
    ) {
        let user = unique_name(user_prefix);
        let (first, _, _) = self.phone_with_push(&user, &unique_name("first")).await;
        let (second, _, _) = self.phone_with_push(&user, &unique_name("second")).await;
        (first, second)
    }

    /// A login session whose website gave the browser's address `ip` (or none), approved
    /// by `phone`; the clock then moves past the notice limit of one per `push_window`, so
    /// that only the network decides whether the next login is told.
    pub async fn approved_login_from(
        &self,
        phone: &nsauth_authenticator::Authenticator,
        ip: Option<&str>,
    ) {
        let ctx = ip.map(|ip| serde_json::json!({"announceinfo": {"ip": ip}}));
        let (n, link) = self.new_session(ctx).await;
        phone.approve(&link, None, None).await.expect("approved");
        assert_eq!(self.status(&n).await["state"], "loggedin");
        self.clock.advance(601);
    }

    /// Changes one setting of the stack's server, as the admin tool does.
    pub async fn set_setting(&self, name: &str, value: &str) {
        nsauth::service::admin::update_settings(
            self.store(),
            &self.serverid,
            &[(name.into(), value.into())],
        )
        .await
        .expect("setting changed");
    }

    /// The stored session of `nonce`.
    pub async fn stored_session(&self, nonce: &str) -> Option<nsauth::session::Session> {
        self.store()
            .get_session(&hsid_of(self, nonce))
            .await
            .expect("store")
    }

    /// The stored account `accountid` of the stack's server.
    pub async fn stored_account(&self, accountid: u64) -> nsauth::account::Account {
        self.store()
            .get_account(&self.serverid, accountid)
            .await
            .expect("store")
            .expect("the account")
    }

    /// getSession of `nonce`.
    pub async fn status(&self, nonce: &str) -> serde_json::Value {
        let (status, v) = self
            .call(reqwest::Method::GET, "/sessions", Some(nonce), None)
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    /// createSession: (nonce, loginurl).
    pub async fn new_session(&self, ctx: Option<serde_json::Value>) -> (String, String) {
        let (status, v) = self
            .call(reqwest::Method::POST, "/sessions", None, ctx)
            .await;
        assert_eq!(status, 201, "{v}");
        (
            v["nonce"].as_str().unwrap().to_string(),
            v["loginurl"].as_str().unwrap().to_string(),
        )
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Status and JSON body of a response.
pub async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text:?} (status {status})"));
    (status, value)
}

/// Asserts an error answer of SPEC section 10.
pub fn assert_error(status: u16, body: &serde_json::Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], want_code, "{body}");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(!msg.is_empty(), "error without message: {body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
}

/// The SNS messages moto recorded for an endpoint, oldest first.
pub async fn moto_messages(endpoint: &str) -> Vec<serde_json::Value> {
    let url = moto().unwrap();
    let data: serde_json::Value = reqwest::get(format!("{url}/moto-api/data.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let eps = data["sns"]["PlatformEndpoint"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    eps.iter()
        .filter(|e| e["arn"] == endpoint)
        .flat_map(|e| {
            e["messages"]
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_values()
        })
        .map(|m| serde_json::from_str(m.as_str().unwrap()).unwrap())
        .collect()
}

/// Decodes a PNG QR code with an independent decoder (rqrr).
pub fn decode_png_qr(bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

/// Runs each named async test function (taking a [`Stack`]) on the in-memory store and on
/// DynamoDB through `$emulator` (a `Stack` constructor of that name, skipped when the
/// emulator is not running): the body of [`on_both_stores`] and [`on_atomic_stores`].
#[macro_export]
macro_rules! on_stores {
    ($emulator:ident; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$name($crate::Stack::memory().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $emulator() {
                if let Some(stack) = $crate::Stack::$emulator().await {
                    super::$name(stack).await;
                }
            }
        }
    )*};
}

/// Runs each named async test function (taking a [`Stack`]) twice: on the in-memory store
/// and on DynamoDB (moto).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => { $crate::on_stores!(moto; $($name),*); };
}

/// Runs each named async test function (taking a [`Stack`]) on the stores whose conditional
/// writes are atomic: in-memory and DynamoDB on dynalite. For tests of concurrent writes:
/// moto evaluates a condition and writes the item without a lock
/// (moto/dynamodb/models/table.py, `put_item`), so two writes on one version can both
/// succeed there under load, which DynamoDB never allows.
#[macro_export]
macro_rules! on_atomic_stores {
    ($($name:ident),* $(,)?) => { $crate::on_stores!(dynalite; $($name),*); };
}
