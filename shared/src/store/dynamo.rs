//! The DynamoDB store: one table, single-table keys (SPEC section 9).
//!
//! | item         | pk                             | sk               | gsi1pk                       | gsi1sk                |
//! |--------------|--------------------------------|------------------|------------------------------|-----------------------|
//! | server       | `SERVER#<serverid>`            | `SERVER`         | `SERVERS`                    | serverid              |
//! | grant (key)  | `SERVER#<serverid>`            | `APIKEY#<roleid>`| `GRANTS#<roleid>`            | serverid              |
//! | role         | `ROLE#<roleid>`                | `ROLE`           | `ROLES#<creator>`            | `<created, 12 digits>#<roleid>` |
//! | attributes   | `SERVER#<serverid>` (`ATTRS`, `PATTRS`, `UATTRS#<userid>`), `ATTRS#global` (`ATTRS`) | | |  |
//! | session      | `SESSION#<hsid>`               | `SESSION`        | `ACCOUNT#<serverid>#<id>`    | `<login_at>#<hsid>`   |
//! | account      | `ACCOUNT#<serverid>#<id>`      | `ACCOUNT`        | `USER#<serverid>#<userid>`   | `<id, 15 digits>`     |
//! |  (gsi2, keys only) |                          |                  | gsi2pk `ACCOUNTS#<serverid>` | gsi2sk `<id, 15 digits>#<userid>` |
//! | session, logged in (gsi2) |                   |                  | gsi2pk `ENDS#<minute, 10 digits>` | gsi2sk `<hsid>` |
//! | enrol token  | `ENROL#<serverid>#<tokenhash>` | `ENROL`          |                              |                       |
//! | enrolled key | `PUBKEY#<serverid>#<keyhash>`  | `PUBKEY`         |                              |                       |
//! | account sweep| `SWEEP#<serverid>#<id>`        | `SWEEP`          |                              |                       |
//! | seen request | `REPLAY#<serverid>#<digest>`   | `REPLAY`         |                              |                       |
//! | push count   | `RATE#<serverid>#<id>#<window>`| `RATE`           |                              |                       |
//! |  (per page)  | `RATE#<serverid>#s.<hsid>#<w>`, `RATE#<serverid>#c.<conn>#<w>` | `RATE` |          |                       |
//! | watcher      | `WS#<hsid>`                    | `CONN#<conn>`    |                              |                       |
//! | watched      | `WSCONN#<conn>`                | `HSID#<hsid>`    |                              |                       |
//! | watch count  | `WSCONN#<conn>`                | `COUNT`          |                              |                       |
//! | pushed, to fetch | `PULL#<serverid>#<id>`     | `<hsid>`         |                              |                       |
//! | known network | `NET#<serverid>#<userid>`     | `<digest>`       |                              |                       |
//!
//! Sessions, accounts and tokens have a partition each, so no server's traffic makes a hot
//! partition. Sessions are keyed by hsid alone (derived from server id and nonce), so the
//! phone can name one; the session records its server. A session enters its account's index
//! at its first login and stays there (past sessions). The server item also holds the
//! account id counter (`accounts_allocated`). While a session's stored state is logged in,
//! its item is also in gsi2 under the minute its login ends (`Session::ending_minute`, the
//! unix minute zero-padded); a write in any other state leaves the attributes out, so the
//! entry lives exactly as long as the login and costs no write of its own. An account whose
//! enrolment is unfinished (`enrolling`) has neither index entry and a `ttl`; the write
//! that finishes it (after the enrolment's session login) replaces it whole, with both. The scheduled
//! run of `service::lifetimes` queries one minute at a time (docs/decisions.md). The leading `SERVER#`, `SESSION#`, `ACCOUNT#`,
//! `USER#`, `ENROL#`, `PUBKEY#`, `SWEEP#`, `REPLAY#`, `RATE#`, `WS#`, `WSCONN#`, `PULL#`, `NET#` prefixes let IAM policies limit functions to item kinds
//! (`dynamodb:LeadingKeys`, which also applies to the index key of a query); so do `ROLE#` (role items, read by every website call), `ATTRS#`, and the index keys `GRANTS#`, `ROLES#`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AccountKey, AccountStore, AttributeStore, ChangeStream, Counted, KeyClaim, NetworkSeen, Page,
    PushCounterStore, ReplayStore, RoleStore, ServerStore, SessionCursor, SessionStore, StoreError,
    SubscriptionStore,
};
use crate::account::{Account, AccountSweep};
use crate::apikey::Permission;
use crate::attributes::{AttributeScope, Attributes};
use crate::clock::UnixTime;
use crate::enrolment::{EnrolToken, TokenUse};
use crate::ids::{Hsid, ServerId};
use crate::pull::{MAX_PULLS, PendingPull};
use crate::role::{Grant, Role, RoleItems};
use crate::server::Server;
use crate::session::Session;

type Item = HashMap<String, AttributeValue>;

pub const GSI1: &str = "gsi1";
pub const GSI2: &str = "gsi2";
const SERVER_SK: &str = "SERVER";
const SESSION_SK: &str = "SESSION";
const SERVERS_GSI_PK: &str = "SERVERS";

/// A random id for one write, to know it again when the SDK resends it (see `put_new`).
fn write_id() -> String {
    crate::ids::b64url(&crate::ids::random_bytes::<12>())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn server_pk(id: &ServerId) -> String {
    format!("SERVER#{id}")
}

fn session_pk(hsid: &Hsid) -> String {
    format!("SESSION#{hsid}")
}

fn account_pk(id: &ServerId, accountid: u64) -> String {
    format!("ACCOUNT#{id}#{accountid}")
}

fn user_gsi_pk(id: &ServerId, userid: &str) -> String {
    format!("USER#{id}#{userid}")
}

/// Every account of a server, in the keys-only index gsi2 (listings without a Scan).
fn accounts_gsi_pk(id: &ServerId) -> String {
    format!("ACCOUNTS#{id}")
}

/// The logins that end in a minute (unix time / 60), in gsi2.
fn ends_gsi_pk(minute: i64) -> String {
    format!("ENDS#{minute:010}")
}

fn enrol_pk(id: &ServerId, token_hash: &str) -> String {
    format!("ENROL#{id}#{token_hash}")
}

const ACCOUNT_SK: &str = "ACCOUNT";

fn rate_pk(id: &ServerId, counted: Counted<'_>, window: i64) -> String {
    format!("RATE#{id}#{counted}#{window}")
}
const ENROL_SK: &str = "ENROL";

fn pubkey_pk(id: &ServerId, fingerprint: &str) -> String {
    format!("PUBKEY#{id}#{fingerprint}")
}
const PUBKEY_SK: &str = "PUBKEY";

fn pull_pk(id: &ServerId, accountid: u64) -> String {
    format!("PULL#{id}#{accountid}")
}

fn network_pk(id: &ServerId, userid: &str) -> String {
    format!("NET#{id}#{userid}")
}

fn sweep_pk(id: &ServerId, accountid: u64) -> String {
    format!("SWEEP#{id}#{accountid}")
}
const SWEEP_SK: &str = "SWEEP";

fn sweep_item(sweep: &AccountSweep) -> Result<Item, StoreError> {
    to_item(
        sweep,
        sweep_pk(&sweep.serverid, sweep.accountid),
        SWEEP_SK.into(),
    )
}

fn session_item(session: &Session) -> Result<Item, StoreError> {
    let mut item = to_item(session, session_pk(&session.hsid), SESSION_SK.into())?;
    if let (Some(acc), Some(at)) = (session.last_accountid, session.login_at) {
        item.insert("gsi1pk".into(), s(account_pk(&session.serverid, acc)));
        item.insert(
            "gsi1sk".into(),
            s(SessionCursor::sort_key(at, &session.hsid)),
        );
    }
    if let Some(minute) = session.ending_minute() {
        item.insert("gsi2pk".into(), s(ends_gsi_pk(minute)));
        item.insert("gsi2sk".into(), s(session.hsid.as_str()));
    }
    Ok(item)
}

/// An account's item. One whose enrolment is unfinished gets no index keys (no listing or
/// user query finds it) and a TTL; the write that finishes it replaces the item whole.
fn account_item(a: &Account) -> Result<Item, StoreError> {
    let mut item = to_item(a, account_pk(&a.serverid, a.accountid), ACCOUNT_SK.into())?;
    if let Some(ttl) = a.enrolling {
        item.insert("ttl".into(), AttributeValue::N(ttl.to_string()));
        return Ok(item);
    }
    item.insert("gsi2pk".into(), s(accounts_gsi_pk(&a.serverid)));
    let index_key = AccountKey {
        accountid: a.accountid,
        userid: a.userid.clone(),
    };
    item.insert("gsi2sk".into(), s(index_key.sort_key()));
    if let Some(u) = &a.userid {
        item.insert("gsi1pk".into(), s(user_gsi_pk(&a.serverid, u)));
        item.insert("gsi1sk".into(), s(format!("{:015}", a.accountid)));
    }
    Ok(item)
}

fn apikey_sk(keyid: &str) -> String {
    format!("APIKEY#{keyid}")
}

fn role_pk(roleid: &str) -> String {
    format!("ROLE#{roleid}")
}
const ROLE_SK: &str = "ROLE";

/// The grants of a role, in gsi1 (getServers of a role without global permissions).
fn grants_gsi_pk(roleid: &str) -> String {
    format!("GRANTS#{roleid}")
}

/// The roles a role's key created, in gsi1 (getApiKeys).
fn roles_gsi_pk(creator: &str) -> String {
    format!("ROLES#{creator}")
}

fn role_item(r: &Role) -> Result<Item, StoreError> {
    let mut item = to_item(r, role_pk(&r.roleid), ROLE_SK.into())?;
    if let Some(c) = &r.creator {
        item.insert("gsi1pk".into(), s(roles_gsi_pk(c)));
        item.insert(
            "gsi1sk".into(),
            s(format!("{:012}#{}", r.created, r.roleid)),
        );
    }
    Ok(item)
}

/// Where a scope's attributes are stored: beside the server for a server's and its users',
/// under their own key for the global ones.
fn attributes_key(scope: &AttributeScope) -> (String, String) {
    match scope {
        AttributeScope::Global => ("ATTRS#global".into(), "ATTRS".into()),
        AttributeScope::Server(id) => (server_pk(id), "ATTRS".into()),
        AttributeScope::Privileged(id) => (server_pk(id), "PATTRS".into()),
        AttributeScope::User(id, userid) => (server_pk(id), format!("UATTRS#{userid}")),
    }
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn to_item<T: Serialize>(v: &T, pk: String, sk: String) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(v).map_err(|e| StoreError::Corrupt(format!("serialise: {e}")))?;
    item.extend(key(pk, sk));
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A counter's value after an `ADD` (from `ReturnValues=UPDATED_NEW`).
fn counter_after<N: std::str::FromStr>(attrs: Option<&Item>, name: &str) -> Result<N, StoreError> {
    match attrs.and_then(|a| a.get(name)) {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("counter {name} is {n:?}"))),
        _ => Err(StoreError::Corrupt(format!("counter {name} missing"))),
    }
}

/// Maps an SDK error: a failed condition is expected control flow, anything else means
/// DynamoDB is not answering properly after the SDK's own retries.
fn sdk_err<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if e.code() == Some("ConditionalCheckFailedException") {
        return StoreError::ConditionFailed;
    }
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

/// The table's shape, kept in one place with `template.yaml` (a test compares them).
pub struct TableSpec;

impl TableSpec {
    /// Creates the table as the template does and waits until it is active. `with_ttl`
    /// and `with_stream` are off only for emulators that lack those features; a store that
    /// refuses UpdateTimeToLive as an unknown or unsupported operation (dynalite) gets its
    /// table without TTL and a warning, while any other failure of it is an error. A table
    /// of the name that is already there is taken when it has our keys and indexes
    /// ([`Created::Existing`]), refused otherwise.
    pub async fn create(
        client: &Client,
        table: &str,
        with_ttl: bool,
        with_stream: bool,
    ) -> Result<Created, StoreError> {
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let ks = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(ks("gsi1pk", KeyType::Hash)?)
            .key_schema(ks("gsi1sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Keys only: an account's login (lastlogin) changes no key, so it costs no index
        // write; a listing reads the keys, then the page's accounts.
        let gsi2 = GlobalSecondaryIndex::builder()
            .index_name(GSI2)
            .key_schema(ks("gsi2pk", KeyType::Hash)?)
            .key_schema(ks("gsi2sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut req = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .attribute_definitions(attr("gsi2pk")?)
            .attribute_definitions(attr("gsi2sk")?)
            .key_schema(ks("pk", KeyType::Hash)?)
            .key_schema(ks("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .global_secondary_indexes(gsi2);
        if with_stream {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            );
        }
        let outcome = match req.send().await {
            Ok(_) => Created::New,
            // CreateTable is not idempotent: an attempt that timed out may have made the
            // table before the SDK retried. A table of our shape is taken; another is not.
            Err(e) if e.code() == Some("ResourceInUseException") => {
                let d = client
                    .describe_table()
                    .table_name(table)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                match d.table() {
                    Some(t) if TableSpec::is_ours(t) => Created::Existing,
                    _ => {
                        return Err(StoreError::Unavailable(format!(
                            "table {table} exists with another key schema or without the \
                             indexes gsi1 and gsi2"
                        )));
                    }
                }
            }
            Err(e) => return Err(sdk_err(e)),
        };
        // Emulators (and DynamoDB itself) may report CREATING for a while.
        for _ in 0..100 {
            let d = client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(sdk_err)?;
            if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if with_ttl {
            let enabled = client
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name("ttl")
                        .build()
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?,
                )
                .send()
                .await;
            match enabled {
                Ok(_) => {}
                // An emulator without TTL (dynalite): the table works without it, only
                // nothing expires by itself (correctness never depends on TTL).
                Err(e) if ttl_unsupported(e.code()) => tracing::warn!(
                    table,
                    error = %DisplayErrorContext(&e),
                    "the store does not support TTL (UpdateTimeToLive refused): the table \
                     is used without it, and expired items stay until deleted"
                ),
                Err(e) => return Err(sdk_err(e)),
            }
        }
        Ok(outcome)
    }

    /// Whether a described table has our keys (`pk`, `sk`) and both indexes with theirs.
    fn is_ours(t: &aws_sdk_dynamodb::types::TableDescription) -> bool {
        let keys = |schema: &[KeySchemaElement]| -> Vec<(String, KeyType)> {
            schema
                .iter()
                .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
                .collect()
        };
        let pair = |h: &str, r: &str| {
            vec![
                (h.to_string(), KeyType::Hash),
                (r.to_string(), KeyType::Range),
            ]
        };
        let index = |name: &str| {
            t.global_secondary_indexes()
                .iter()
                .find(|i| i.index_name() == Some(name))
                .map(|i| keys(i.key_schema()))
        };
        keys(t.key_schema()) == pair("pk", "sk")
            && index(GSI1) == Some(pair("gsi1pk", "gsi1sk"))
            && index(GSI2) == Some(pair("gsi2pk", "gsi2sk"))
    }
}

/// What [`TableSpec::create`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    /// The table was there already, with our keys and indexes (a retried CreateTable whose
    /// first attempt made it, or a second `create-table`).
    Existing,
}

/// Whether an error code refuses an operation as unknown or unsupported by the store (an
/// emulator that lacks it, as dynalite lacks UpdateTimeToLive), rather than failing it.
fn ttl_unsupported(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "UnknownOperationException"
                | "UnknownOperation"
                | "UnsupportedOperationException"
                | "UnsupportedOperation"
                | "NotImplemented"
        )
    )
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    stream: Option<ChangeStream>,
}

impl DynamoStore {
    /// Puts the server's accounts stored before the account index (gsi2) existed into it:
    /// an account enters the index whenever it is written, so only those untouched since
    /// the upgrade are missing. An admin-tool operation (it scans the table once, pages of
    /// 1 MB, with a filter); never on a request path. Returns how many accounts it added.
    pub async fn index_accounts(&self, serverid: &ServerId) -> Result<usize, StoreError> {
        let prefix = format!("ACCOUNT#{serverid}#");
        let mut start: Option<Item> = None;
        let mut added = 0;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "begins_with(pk, :p) AND sk = :s AND attribute_not_exists(gsi2pk) \
                     AND attribute_not_exists(enrolling)",
                )
                .expression_attribute_values(":p", s(prefix.clone()))
                .expression_attribute_values(":s", s(ACCOUNT_SK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for item in out.items.unwrap_or_default() {
                let account: Account = from_item(item)?;
                let index_key = AccountKey {
                    accountid: account.accountid,
                    userid: account.userid.clone(),
                };
                // Only the index keys are set, on the item as it is (a change since the
                // scan wrote them already, which the condition lets pass unharmed).
                let done = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(
                        account_pk(serverid, account.accountid),
                        ACCOUNT_SK.into(),
                    )))
                    .update_expression("SET gsi2pk = :pk, gsi2sk = :sk")
                    // An unfinished enrolment's account stays out until it is finished.
                    .condition_expression(
                        "attribute_exists(pk) AND attribute_not_exists(gsi2pk) \
                         AND attribute_not_exists(enrolling)",
                    )
                    .expression_attribute_values(":pk", s(accounts_gsi_pk(serverid)))
                    .expression_attribute_values(":sk", s(index_key.sort_key()))
                    .send()
                    .await;
                match done.map_err(sdk_err) {
                    Ok(_) => added += 1,
                    Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(added),
            }
        }
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            stream: None,
        }
    }

    /// Announces every session write of this process on `stream` (the local stack; in AWS
    /// the table's stream does). The old image comes back with the write itself
    /// (`ReturnValues=ALL_OLD`), so announcing costs no read.
    pub fn with_stream(mut self, stream: ChangeStream) -> Self {
        self.stream = Some(stream);
        self
    }

    /// A client from the environment (region, credentials and `AWS_ENDPOINT_URL`, which
    /// the SDK reads by itself) with the timeouts of [`crate::aws::timeouts`].
    pub async fn client_from_env() -> Client {
        Client::new(&crate::aws::sdk_config().await)
    }

    /// A client for the operator's tools, with their longer timeouts
    /// ([`crate::aws::tool_timeouts`]).
    pub async fn tool_client_from_env() -> Client {
        Client::new(&crate::aws::sdk_config_with(crate::aws::tool_timeouts()).await)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A consistent read of one item, decoded.
    async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(from_item).transpose()
    }

    /// Writes a new item, `ConditionFailed` if one is stored under its key. The SDK resends
    /// a request whose answer was lost, and the resent copy then finds the item its first
    /// copy wrote: so each write carries a random write id (`wid`), and a failed condition
    /// over an item with our own id is our write, not a conflict (one consistent read, only
    /// on that path).
    async fn put_new(&self, mut item: Item) -> Result<(), StoreError> {
        let wid = write_id();
        item.insert("wid".into(), s(wid.clone()));
        let key_of = |item: &Item| {
            let mut k = Item::new();
            for name in ["pk", "sk"] {
                if let Some(v) = item.get(name) {
                    k.insert(name.to_string(), v.clone());
                }
            }
            k
        };
        let k = key_of(&item);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(sdk_err);
        match put {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed) => {
                let stored = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(k))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                match stored.item.as_ref().and_then(|i| i.get("wid")) {
                    Some(AttributeValue::S(w)) if *w == wid => Ok(()),
                    _ => Err(StoreError::ConditionFailed),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `item` on condition that the stored one has `expected_version`; the stored
    /// item before the write when `old` is asked for.
    async fn put_versioned(
        &self,
        item: Item,
        expected_version: u64,
        old: bool,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(expected_version.to_string()))
            .set_return_values(old.then_some(aws_sdk_dynamodb::types::ReturnValue::AllOld))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.attributes.filter(|a| !a.is_empty()))
    }

    /// Writes an item whatever is stored under its key.
    async fn put_plain(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Deletes a connection's subscription item; whether there was one.
    async fn delete_subscription_item(&self, conn: &str, hsid: &Hsid) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("WSCONN#{conn}"), format!("HSID#{hsid}"))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// The server item and one other item in one consistent BatchGetItem.
    async fn batch_get_server_and(
        &self,
        serverid: &ServerId,
        other: Item,
    ) -> Result<(Option<Server>, Option<Item>), StoreError> {
        let (server, mut rest) = self.batch_get_server_with(serverid, vec![other]).await?;
        Ok((server, rest.pop().flatten()))
    }

    /// The server and other items in one consistent BatchGetItem: each of `others` (by
    /// its key) if it exists, in the order given.
    async fn batch_get_server_with(
        &self,
        serverid: &ServerId,
        others: Vec<Item>,
    ) -> Result<(Option<Server>, Vec<Option<Item>>), StoreError> {
        let mut keys = vec![key(server_pk(serverid), SERVER_SK.into())];
        keys.extend(others.iter().cloned());
        let found = self.batch_get(keys, true).await?;
        let key_of = |item: &Item| (item.get("pk").cloned(), item.get("sk").cloned());
        let mut server = None;
        let mut rest: Vec<Option<Item>> = vec![None; others.len()];
        for item in found {
            let is_server = matches!(
                (item.get("pk"), item.get("sk")),
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk)))
                    if sk == SERVER_SK && pk.starts_with("SERVER#")
            );
            if is_server {
                server = Some(from_item(item)?);
            } else if let Some(i) = others.iter().position(|o| key_of(o) == key_of(&item)) {
                rest[i] = Some(item);
            }
        }
        Ok((server, rest))
    }

    /// The items of `keys` that exist, in no particular order: BatchGetItem, 100 keys a
    /// request.
    async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found: Vec<Item> = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(consistent)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            // BatchGetItem may hand back keys unprocessed under throttling; retry those a
            // few times with backoff before calling the store unavailable.
            let mut done = false;
            for attempt in 0..5u32 {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, pending.clone())
                    .send()
                    .await
                    .map_err(sdk_err)?;
                if let Some(mut r) = out.responses {
                    found.extend(r.remove(&self.table).unwrap_or_default());
                }
                match out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty())
                {
                    None => {
                        done = true;
                        break;
                    }
                    Some(rest) => {
                        pending = rest;
                        tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                    }
                }
            }
            if !done {
                return Err(StoreError::Unavailable(
                    "BatchGetItem left keys unprocessed after retries".into(),
                ));
            }
        }
        Ok(found)
    }

    /// Every item of one gsi1 partition, decoded.
    async fn query_gsi1<T: DeserializeOwned>(&self, pk: String) -> Result<Vec<T>, StoreError> {
        self.query_all(Some(GSI1), "gsi1pk = :p", vec![(":p", s(pk))])
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Every item of a partition whose sort key starts with `prefix`, decoded.
    async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(
            None,
            "pk = :p AND begins_with(sk, :k)",
            vec![(":p", s(pk)), (":k", s(prefix))],
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
    }

    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(String::from))
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            for (k, v) in &values {
                q = q.expression_attribute_values(*k, v.clone());
            }
            let out = q.send().await.map_err(sdk_err)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl ServerStore for DynamoStore {
    async fn create_server(&self, server: &Server) -> Result<(), StoreError> {
        let mut item = to_item(server, server_pk(&server.serverid), SERVER_SK.to_string())?;
        item.insert("gsi1pk".into(), s(SERVERS_GSI_PK));
        item.insert("gsi1sk".into(), s(server.serverid.as_str()));
        self.put_new(item).await
    }

    async fn get_server(&self, serverid: &ServerId) -> Result<Option<Server>, StoreError> {
        self.get(server_pk(serverid), SERVER_SK.into()).await
    }

    async fn list_servers(&self) -> Result<Vec<Server>, StoreError> {
        self.query_gsi1(SERVERS_GSI_PK.into()).await
    }

    async fn update_server(
        &self,
        server: &Server,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let settings: AttributeValue = serde_dynamo::to_attribute_value(&server.settings)
            .map_err(|e| StoreError::Corrupt(format!("serialise: {e}")))?;
        // UpdateItem, not a whole put: the item also holds the account id counter. A
        // server stored before versions existed has none, which counts as version 0.
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(server_pk(&server.serverid), SERVER_SK.into())))
            .expression_attribute_names("#s", "settings")
            .expression_attribute_names("#k", "secret")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":s", settings)
            .expression_attribute_values(":nv", AttributeValue::N(server.version.to_string()));
        // An empty string is not stored: no secret is no attribute.
        req = if server.secret.is_empty() {
            req.update_expression("SET #s = :s, #v = :nv REMOVE #k")
        } else {
            req.update_expression("SET #s = :s, #k = :k, #v = :nv")
                .expression_attribute_values(":k", s(server.secret.clone()))
        };
        req = if expected_version == 0 {
            req.condition_expression("attribute_exists(pk) AND attribute_not_exists(#v)")
        } else {
            req.condition_expression("#v = :v")
                .expression_attribute_values(":v", AttributeValue::N(expected_version.to_string()))
        };
        req.send().await.map_err(sdk_err)?;
        Ok(())
    }

    async fn set_grant(&self, g: &Grant) -> Result<(), StoreError> {
        let permissions: AttributeValue = serde_dynamo::to_attribute_value(&g.permissions)
            .map_err(|e| StoreError::Corrupt(format!("serialise: {e}")))?;
        // UpdateItem: a key made before roles keeps its hash and label.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(server_pk(&g.serverid), apikey_sk(&g.roleid))))
            .update_expression(
                "SET #p = :p, serverid = :s, keyid = :r, created = if_not_exists(created, :c), gsi1pk = :g, gsi1sk = :s",
            )
            .expression_attribute_names("#p", "permissions")
            .expression_attribute_values(":p", permissions)
            .expression_attribute_values(":s", s(g.serverid.as_str()))
            .expression_attribute_values(":r", s(g.roleid.clone()))
            .expression_attribute_values(":c", AttributeValue::N(g.created.to_string()))
            .expression_attribute_values(":g", s(grants_gsi_pk(&g.roleid)))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn put_legacy_key(&self, g: &Grant) -> Result<(), StoreError> {
        self.put_new(to_item(g, server_pk(&g.serverid), apikey_sk(&g.roleid))?)
            .await
    }

    async fn delete_grant(&self, serverid: &ServerId, roleid: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(server_pk(serverid), apikey_sk(roleid))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn list_grants(&self, serverid: &ServerId) -> Result<Vec<Grant>, StoreError> {
        self.query_prefix(server_pk(serverid), "APIKEY#").await
    }

    async fn role_grants(&self, roleid: &str) -> Result<Vec<Grant>, StoreError> {
        self.query_gsi1(grants_gsi_pk(roleid)).await
    }

    async fn revoke_legacy_key(
        &self,
        serverid: &ServerId,
        roleid: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(server_pk(serverid), apikey_sk(roleid))))
            .update_expression("SET #r = :t")
            .condition_expression("attribute_exists(#h) AND attribute_not_exists(#r)")
            .expression_attribute_names("#r", "revoked")
            .expression_attribute_names("#h", "hash")
            .expression_attribute_values(":t", AttributeValue::N(at.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn get_server_and_role(
        &self,
        serverid: &ServerId,
        roleid: &str,
    ) -> Result<(Option<Server>, RoleItems), StoreError> {
        let others = vec![
            key(server_pk(serverid), apikey_sk(roleid)),
            key(role_pk(roleid), ROLE_SK.into()),
        ];
        let (server, mut rest) = self.batch_get_server_with(serverid, others).await?;
        let role = rest.pop().flatten().map(from_item).transpose()?;
        let grant = rest.pop().flatten().map(from_item).transpose()?;
        Ok((server, RoleItems { grant, role }))
    }
}

#[async_trait]
impl RoleStore for DynamoStore {
    async fn create_role(&self, role: &Role) -> Result<(), StoreError> {
        self.put_new(role_item(role)?).await
    }

    async fn get_role_items(
        &self,
        serverid: Option<&ServerId>,
        roleid: &str,
    ) -> Result<RoleItems, StoreError> {
        let Some(serverid) = serverid else {
            let role = self.get(role_pk(roleid), ROLE_SK.into()).await?;
            return Ok(RoleItems { grant: None, role });
        };
        let keys = vec![
            key(server_pk(serverid), apikey_sk(roleid)),
            key(role_pk(roleid), ROLE_SK.into()),
        ];
        let mut items = RoleItems::default();
        for item in self.batch_get(keys, true).await? {
            let is_role = matches!(item.get("sk"), Some(AttributeValue::S(sk)) if sk == ROLE_SK);
            if is_role {
                items.role = Some(from_item(item)?);
            } else {
                items.grant = Some(from_item(item)?);
            }
        }
        Ok(items)
    }

    async fn revoke_role(&self, roleid: &str, at: UnixTime) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(role_pk(roleid), ROLE_SK.into())))
            .update_expression("SET #r = :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#r)")
            .expression_attribute_names("#r", "revoked")
            .expression_attribute_values(":t", AttributeValue::N(at.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn set_role_global(&self, roleid: &str, global: &[Permission]) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(role_pk(roleid), ROLE_SK.into())))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#g", "global");
        // An empty list is not stored (the type leaves it out).
        req = if global.is_empty() {
            req.update_expression("REMOVE #g")
        } else {
            let v: AttributeValue = serde_dynamo::to_attribute_value(global)
                .map_err(|e| StoreError::Corrupt(format!("serialise: {e}")))?;
            req.update_expression("SET #g = :g")
                .expression_attribute_values(":g", v)
        };
        req.send().await.map_err(sdk_err)?;
        Ok(())
    }

    async fn roles_created_by(&self, roleid: &str) -> Result<Vec<Role>, StoreError> {
        self.query_gsi1(roles_gsi_pk(roleid)).await
    }
}

/// A scope's attributes as stored: the values as one JSON text (names need not be
/// DynamoDB attribute names) and the version.
#[derive(Serialize, serde::Deserialize)]
struct StoredAttributes {
    values: String,
    version: u64,
}

#[async_trait]
impl AttributeStore for DynamoStore {
    async fn get_attributes(
        &self,
        scope: &AttributeScope,
    ) -> Result<Option<Attributes>, StoreError> {
        let (pk, sk) = attributes_key(scope);
        let stored: Option<StoredAttributes> = self.get(pk, sk).await?;
        stored.map(decode_attributes).transpose()
    }

    async fn put_attributes(
        &self,
        scope: &AttributeScope,
        attributes: &Attributes,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let (pk, sk) = attributes_key(scope);
        let values = serde_json::to_string(&attributes.values)
            .map_err(|e| StoreError::Corrupt(format!("serialise: {e}")))?;
        let item = to_item(
            &StoredAttributes {
                values,
                version: attributes.version,
            },
            pk,
            sk,
        )?;
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        req = if expected_version == 0 {
            req.condition_expression("attribute_not_exists(pk)")
        } else {
            req.condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(expected_version.to_string()))
        };
        req.send().await.map_err(sdk_err)?;
        Ok(())
    }

    async fn delete_attributes(&self, scope: &AttributeScope) -> Result<(), StoreError> {
        let (pk, sk) = attributes_key(scope);
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn user_attributes(
        &self,
        serverid: &ServerId,
    ) -> Result<Vec<(String, Attributes)>, StoreError> {
        let items = self
            .query_all(
                None,
                "pk = :p AND begins_with(sk, :k)",
                vec![(":p", s(server_pk(serverid))), (":k", s("UATTRS#"))],
            )
            .await?;
        items
            .into_iter()
            .map(|item| {
                let userid = match item.get("sk") {
                    Some(AttributeValue::S(sk)) => sk.trim_start_matches("UATTRS#").to_string(),
                    _ => return Err(StoreError::Corrupt("user attributes without a key".into())),
                };
                Ok((userid, decode_attributes(from_item(item)?)?))
            })
            .collect()
    }
}

fn decode_attributes(stored: StoredAttributes) -> Result<Attributes, StoreError> {
    Ok(Attributes {
        values: serde_json::from_str(&stored.values)
            .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?,
        version: stored.version,
    })
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn get_session(&self, hsid: &Hsid) -> Result<Option<Session>, StoreError> {
        self.get(session_pk(hsid), SESSION_SK.into()).await
    }

    async fn get_session_with_role(
        &self,
        hsid: &Hsid,
        serverid: &ServerId,
        roleid: &str,
    ) -> Result<(Option<Server>, RoleItems, Option<Session>), StoreError> {
        let others = vec![
            key(server_pk(serverid), apikey_sk(roleid)),
            key(role_pk(roleid), ROLE_SK.into()),
            key(session_pk(hsid), SESSION_SK.into()),
        ];
        let (server, mut rest) = self.batch_get_server_with(serverid, others).await?;
        let session = rest.pop().flatten().map(from_item).transpose()?;
        let role = rest.pop().flatten().map(from_item).transpose()?;
        let grant = rest.pop().flatten().map(from_item).transpose()?;
        Ok((server, RoleItems { grant, role }, session))
    }

    async fn get_session_with_account(
        &self,
        hsid: &Hsid,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<(Option<Server>, Option<Account>, Option<Session>), StoreError> {
        let others = vec![
            key(account_pk(serverid, accountid), ACCOUNT_SK.into()),
            key(session_pk(hsid), SESSION_SK.into()),
        ];
        let (server, mut rest) = self.batch_get_server_with(serverid, others).await?;
        let session = rest.pop().flatten().map(from_item).transpose()?;
        let account: Option<Account> = rest.pop().flatten().map(from_item).transpose()?;
        Ok((server, account.filter(Account::is_finished), session))
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_new(session_item(session)?).await?;
        if let Some(stream) = &self.stream {
            stream.announce(None, session);
        }
        Ok(())
    }

    async fn update_session(
        &self,
        session: &Session,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let old = self
            .put_versioned(
                session_item(session)?,
                expected_version,
                self.stream.is_some(),
            )
            .await?;
        if let Some(stream) = &self.stream {
            // An old image that cannot be read still announces the write, as a creation.
            stream.announce(old.and_then(|o| from_item(o).ok()), session);
        }
        Ok(())
    }

    async fn account_sessions(
        &self,
        serverid: &ServerId,
        accountid: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Session>, StoreError> {
        let gsi_pk = account_pk(serverid, accountid);
        let mut start = match cursor {
            Some(c) => {
                let c = SessionCursor::parse_or_corrupt(c)?;
                let mut k = key(session_pk(&c.hsid), SESSION_SK.into());
                k.insert("gsi1pk".into(), s(gsi_pk.clone()));
                k.insert(
                    "gsi1sk".into(),
                    s(SessionCursor::sort_key(c.login_at, &c.hsid)),
                );
                Some(k)
            }
            None => None,
        };
        let want = limit as usize + 1;
        let mut sessions: Vec<Session> = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", s(gsi_pk.clone()))
                .scan_index_forward(false)
                .limit((want - sessions.len()) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for item in out.items.unwrap_or_default() {
                sessions.push(from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && sessions.len() < want => start = Some(k),
                _ => break,
            }
        }
        Ok(page_of(sessions, limit as usize))
    }

    async fn sessions_ending(&self, minute: i64) -> Result<Vec<Hsid>, StoreError> {
        let items = self
            .query_all(
                Some(GSI2),
                "gsi2pk = :p",
                vec![(":p", s(ends_gsi_pk(minute)))],
            )
            .await?;
        items
            .iter()
            .map(|item| match item.get("gsi2sk") {
                Some(AttributeValue::S(sk)) => Hsid::parse(sk)
                    .ok_or_else(|| StoreError::Corrupt(format!("login end entry {sk:?}"))),
                _ => Err(StoreError::Corrupt("login end entry without gsi2sk".into())),
            })
            .collect()
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn allocate_accountid(&self, serverid: &ServerId) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(server_pk(serverid), SERVER_SK.into())))
            .update_expression("ADD #n :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#n", "accounts_allocated")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err)?;
        counter_after(out.attributes.as_ref(), "accounts_allocated")
    }

    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.put_new(account_item(account)?).await
    }

    async fn get_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self
            .get_enrolment_account(serverid, accountid)
            .await?
            .filter(Account::is_finished))
    }

    async fn get_enrolment_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<Account>, StoreError> {
        self.get(account_pk(serverid, accountid), ACCOUNT_SK.into())
            .await
    }

    async fn get_server_and_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<(Option<Server>, Option<Account>), StoreError> {
        let (server, account) = self
            .batch_get_server_and(
                serverid,
                key(account_pk(serverid, accountid), ACCOUNT_SK.into()),
            )
            .await?;
        let account: Option<Account> = account.map(from_item).transpose()?;
        Ok((server, account.filter(Account::is_finished)))
    }

    async fn update_account(
        &self,
        account: &Account,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.put_versioned(account_item(account)?, expected_version, false)
            .await?;
        Ok(())
    }

    async fn delete_account(&self, serverid: &ServerId, accountid: u64) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                account_pk(serverid, accountid),
                ACCOUNT_SK.into(),
            )))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn user_accounts(
        &self,
        serverid: &ServerId,
        userid: &str,
    ) -> Result<Vec<Account>, StoreError> {
        self.query_all(
            Some(GSI1),
            "gsi1pk = :p",
            vec![(":p", s(user_gsi_pk(serverid, userid)))],
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
    }

    async fn account_index(&self, serverid: &ServerId) -> Result<Vec<AccountKey>, StoreError> {
        let items = self
            .query_all(
                Some(GSI2),
                "gsi2pk = :p",
                vec![(":p", s(accounts_gsi_pk(serverid)))],
            )
            .await?;
        items
            .iter()
            .map(|item| match item.get("gsi2sk") {
                Some(AttributeValue::S(sk)) => AccountKey::from_sort_key(sk)
                    .ok_or_else(|| StoreError::Corrupt(format!("account index key {sk:?}"))),
                _ => Err(StoreError::Corrupt(
                    "account index entry without gsi2sk".into(),
                )),
            })
            .collect()
    }

    async fn get_accounts(
        &self,
        serverid: &ServerId,
        accountids: &[u64],
    ) -> Result<Vec<Account>, StoreError> {
        let keys = accountids
            .iter()
            .map(|id| key(account_pk(serverid, *id), ACCOUNT_SK.into()))
            .collect();
        let accounts: Vec<Account> = self
            .batch_get(keys, false)
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        Ok(accounts.into_iter().filter(Account::is_finished).collect())
    }

    async fn put_sweep(&self, sweep: &AccountSweep) -> Result<(), StoreError> {
        self.put_plain(sweep_item(sweep)?).await
    }

    async fn get_sweep(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<AccountSweep>, StoreError> {
        self.get(sweep_pk(serverid, accountid), SWEEP_SK.into())
            .await
    }

    async fn advance_sweep(
        &self,
        sweep: &AccountSweep,
        seen_before: u64,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(sweep_item(sweep)?))
            .condition_expression("#r = :r AND #s = :s")
            .expression_attribute_names("#r", "run")
            .expression_attribute_names("#s", "seen")
            .expression_attribute_values(":r", AttributeValue::N(sweep.run.to_string()))
            .expression_attribute_values(":s", AttributeValue::N(seen_before.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn finish_sweep(&self, sweep: &AccountSweep) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                sweep_pk(&sweep.serverid, sweep.accountid),
                SWEEP_SK.into(),
            )))
            .condition_expression("#r = :r")
            .expression_attribute_names("#r", "run")
            .expression_attribute_values(":r", AttributeValue::N(sweep.run.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn claim_public_key(
        &self,
        serverid: &ServerId,
        fingerprint: &str,
        token_hash: &str,
        at: UnixTime,
    ) -> Result<KeyClaim, StoreError> {
        let mut item = key(pubkey_pk(serverid, fingerprint), PUBKEY_SK.into());
        item.insert("created".into(), AttributeValue::N(at.to_string()));
        item.insert("token_hash".into(), s(token_hash));
        // The random write id tells our own put, resent by the SDK after a lost answer,
        // from a claim an earlier try of this enrolment made (as in `put_new`).
        let wid = write_id();
        item.insert("wid".into(), s(&wid));
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR token_hash = :t")
            .expression_attribute_values(":t", s(token_hash))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        let held = out
            .attributes
            .as_ref()
            .is_some_and(|old| !old.is_empty() && old.get("wid") != Some(&s(&wid)));
        Ok(if held { KeyClaim::Held } else { KeyClaim::New })
    }

    async fn release_public_key(
        &self,
        serverid: &ServerId,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                pubkey_pk(serverid, fingerprint),
                PUBKEY_SK.into(),
            )))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn put_enrol_token(&self, token: &EnrolToken) -> Result<(), StoreError> {
        self.put_new(to_item(
            token,
            enrol_pk(&token.serverid, &token.token_hash),
            ENROL_SK.into(),
        )?)
        .await
    }

    async fn use_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
        by: &TokenUse<'_>,
        now: UnixTime,
    ) -> Result<EnrolToken, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(enrol_pk(serverid, token_hash), ENROL_SK.into())))
            .update_expression(
                "SET #u = if_not_exists(#u, :now), used_by = :fp, \
                 accountid = if_not_exists(accountid, :a)",
            )
            .condition_expression(
                "attribute_exists(pk) AND expires_at > :now \
                 AND (attribute_not_exists(#u) OR used_by = :fp)",
            )
            .expression_attribute_names("#u", "used")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":fp", s(by.fingerprint))
            .expression_attribute_values(":a", AttributeValue::N(by.accountid.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_err)?;
        from_item(out.attributes.unwrap_or_default())
    }

    async fn get_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
    ) -> Result<Option<EnrolToken>, StoreError> {
        self.get(enrol_pk(serverid, token_hash), ENROL_SK.into())
            .await
    }
}

#[async_trait]
impl PushCounterStore for DynamoStore {
    async fn count_push(
        &self,
        serverid: &ServerId,
        counted: Counted<'_>,
        window: i64,
        limit: u32,
        ttl: UnixTime,
    ) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(rate_pk(serverid, counted, window), "RATE".into())))
            .update_expression("ADD #n :one SET #t = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err)?;
        counter_after(out.attributes.as_ref(), "n")
    }

    async fn adjust_push_count(
        &self,
        serverid: &ServerId,
        counted: Counted<'_>,
        window: i64,
        delta: i32,
        ttl: UnixTime,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(rate_pk(serverid, counted, window), "RATE".into())))
            .update_expression("ADD #n :d SET #t = :ttl")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()));
        if delta < 0 {
            req = req
                .condition_expression("#n >= :min")
                .expression_attribute_values(":min", AttributeValue::N((-delta).to_string()));
        }
        match req.send().await.map_err(sdk_err) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn put_pull(&self, pull: &PendingPull) -> Result<(), StoreError> {
        let mut item = to_item(
            pull,
            pull_pk(&pull.serverid, pull.accountid),
            pull.hsid.to_string(),
        )?;
        // Dropped by TTL a minute after the attempt's end; reads keep only open ones.
        item.insert(
            "ttl".into(),
            AttributeValue::N((pull.until + 60).to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn pulls(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Vec<PendingPull>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pull_pk(serverid, accountid)))
            .limit(MAX_PULLS as i32)
            .send()
            .await
            .map_err(sdk_err)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// One PutItem that returns the old item (`ALL_OLD`), so a known network costs one
    /// write; only a new one adds a consistent count of the user's other live networks,
    /// to tell the first.
    async fn note_network(
        &self,
        serverid: &ServerId,
        userid: &str,
        network: &str,
        at: UnixTime,
        until: UnixTime,
    ) -> Result<NetworkSeen, StoreError> {
        let pk = network_pk(serverid, userid);
        let old = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk.clone()))
            .item("sk", s(network))
            .item("seen", AttributeValue::N(at.to_string()))
            .item("ttl", AttributeValue::N(until.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        // An item past its TTL that DynamoDB has not removed yet is not known.
        let known = old
            .attributes
            .as_ref()
            .and_then(|item| item.get("ttl")?.as_n().ok()?.parse::<UnixTime>().ok())
            .is_some_and(|ttl| ttl > at);
        if known {
            return Ok(NetworkSeen::Known);
        }
        // The user's live networks, counted by DynamoDB (a user's partition holds the
        // networks of 90 days: a few small items); the one just written is among them (a
        // filter may not name the sort key).
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .filter_expression("#ttl > :at")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        let others = out.count.saturating_sub(1);
        Ok(if others == 0 {
            NetworkSeen::First
        } else {
            NetworkSeen::New
        })
    }
}

#[async_trait]
impl SubscriptionStore for DynamoStore {
    async fn subscribe(
        &self,
        conn: &str,
        hsid: &Hsid,
        until: UnixTime,
        max: usize,
    ) -> Result<(), StoreError> {
        // Three items: the connection's session (to find a connection's sessions), the
        // session's watcher (to find a session's watchers), and the connection's count,
        // raised only below `max` (a conditional ADD: concurrent REGISTERs cannot pass it).
        let item = |pk: String, sk: String| {
            let mut item = key(pk, sk);
            item.insert("ttl".into(), AttributeValue::N(until.to_string()));
            item
        };
        let watched = item(format!("WSCONN#{conn}"), format!("HSID#{hsid}"));
        let new = match self.put_new(watched.clone()).await {
            Ok(()) => true,
            Err(StoreError::ConditionFailed) => false,
            Err(e) => return Err(e),
        };
        if new {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("WSCONN#{conn}"), "COUNT".into())))
                .update_expression("ADD #n :one SET #t = :ttl")
                .condition_expression("attribute_not_exists(#n) OR #n < :max")
                .expression_attribute_names("#n", "n")
                .expression_attribute_names("#t", "ttl")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
                .expression_attribute_values(":ttl", AttributeValue::N(until.to_string()))
                .send()
                .await
                .map_err(sdk_err);
            if let Err(e) = counted {
                // Not counted (full, or the store failed): the session is not watched.
                self.delete_subscription_item(conn, hsid).await?;
                return Err(e);
            }
        }
        // The watcher item (again, for a session watched already: no second count).
        self.put_plain(item(format!("WS#{hsid}"), format!("CONN#{conn}")))
            .await
    }

    async fn connection_sessions(&self, conn: &str) -> Result<Vec<Hsid>, StoreError> {
        Ok(self
            .query_all(None, "pk = :p", vec![(":p", s(format!("WSCONN#{conn}")))])
            .await?
            .iter()
            .filter_map(|i| match i.get("sk") {
                Some(AttributeValue::S(sk)) => sk.strip_prefix("HSID#").and_then(Hsid::parse),
                _ => None,
            })
            .collect())
    }

    async fn subscribers(&self, hsid: &Hsid) -> Result<Vec<String>, StoreError> {
        Ok(self
            .query_all(None, "pk = :p", vec![(":p", s(format!("WS#{hsid}")))])
            .await?
            .iter()
            .filter_map(|i| match i.get("sk") {
                Some(AttributeValue::S(sk)) => sk.strip_prefix("CONN#").map(String::from),
                _ => None,
            })
            .collect())
    }

    async fn unsubscribe(&self, conn: &str, hsid: &Hsid) -> Result<(), StoreError> {
        if self.delete_subscription_item(conn, hsid).await? {
            // Counted when it was made: counted down (never below zero).
            let down = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("WSCONN#{conn}"), "COUNT".into())))
                .update_expression("ADD #n :minus")
                .condition_expression("#n > :zero")
                .expression_attribute_names("#n", "n")
                .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .send()
                .await
                .map_err(sdk_err);
            match down {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("WS#{hsid}"), format!("CONN#{conn}"))))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}

#[async_trait]
impl ReplayStore for DynamoStore {
    async fn remember_request(
        &self,
        serverid: &ServerId,
        digest: &str,
        until: UnixTime,
    ) -> Result<(), StoreError> {
        let mut item = key(format!("REPLAY#{serverid}#{digest}"), "REPLAY".into());
        item.insert("ttl".into(), AttributeValue::N(until.to_string()));
        self.put_new(item).await
    }
}

/// The first `limit` sessions, and the cursor after the last of them when more follow.
pub(crate) fn page_of(mut sessions: Vec<Session>, limit: usize) -> Page<Session> {
    let next = if sessions.len() > limit {
        sessions.truncate(limit);
        sessions.last().and_then(|s| {
            s.login_at.map(|at| {
                SessionCursor {
                    login_at: at,
                    hsid: s.hsid.clone(),
                }
                .encode()
            })
        })
    } else {
        None
    };
    Page {
        items: sessions,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::ttl_unsupported;

    #[test]
    fn only_an_unknown_or_unsupported_operation_lets_a_table_go_without_ttl() {
        // dynalite answers UpdateTimeToLive with `com.amazon.coral.service#UnknownOperationException`,
        // which the SDK reads as this code.
        assert!(ttl_unsupported(Some("UnknownOperationException")));
        assert!(ttl_unsupported(Some("UnsupportedOperationException")));
        for failure in [
            None,
            Some("ValidationException"),
            Some("ResourceNotFoundException"),
            Some("ResourceInUseException"),
            Some("LimitExceededException"),
            Some("ThrottlingException"),
            Some("AccessDeniedException"),
            Some("InternalServerError"),
        ] {
            assert!(!ttl_unsupported(failure), "{failure:?} still fails");
        }
    }
}
