//! The DynamoDB store: one table, single-table keys (SPEC section 9).
//!
//! | item      | pk                          | sk               | gsi1pk    | gsi1sk   |
//! |-----------|-----------------------------|------------------|-----------|----------|
//! | server    | `SERVER#<serverid>`         | `SERVER`         | `SERVERS` | serverid |
//! | API key   | `SERVER#<serverid>`         | `APIKEY#<keyid>` |           |          |
//! | session   | `SESSION#<serverid>#<hsid>` | `SESSION`        |           |          |
//!
//! Sessions have a partition each, so no server's traffic makes a hot partition. The
//! leading `SERVER#` / `SESSION#` prefixes let IAM policies limit functions to item kinds
//! (`dynamodb:LeadingKeys`).

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

use super::{Store, StoreError};
use crate::apikey::ApiKeyRecord;
use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};
use crate::server::Server;
use crate::session::Session;
use crate::settings::ServerSettings;

type Item = HashMap<String, AttributeValue>;

pub const GSI1: &str = "gsi1";
const SERVER_SK: &str = "SERVER";
const SESSION_SK: &str = "SESSION";
const SERVERS_GSI_PK: &str = "SERVERS";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn server_pk(id: &ServerId) -> String {
    format!("SERVER#{id}")
}

fn session_pk(id: &ServerId, hsid: &Hsid) -> String {
    format!("SESSION#{id}#{hsid}")
}

fn apikey_sk(keyid: &str) -> String {
    format!("APIKEY#{keyid}")
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
    /// and `with_stream` are off only for emulators that lack those features.
    pub async fn create(
        client: &Client,
        table: &str,
        with_ttl: bool,
        with_stream: bool,
    ) -> Result<(), StoreError> {
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
        let mut req = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(ks("pk", KeyType::Hash)?)
            .key_schema(ks("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi);
        if with_stream {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            );
        }
        req.send().await.map_err(sdk_err)?;
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
            client
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
                .await
                .map_err(sdk_err)?;
        }
        Ok(())
    }
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// A client from the environment (region, credentials and `AWS_ENDPOINT_URL`, which
    /// the SDK reads by itself).
    pub async fn client_from_env() -> Client {
        let conf = aws_config::load_from_env().await;
        Client::new(&conf)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
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
impl Store for DynamoStore {
    async fn create_server(&self, server: &Server) -> Result<(), StoreError> {
        let mut item = to_item(server, server_pk(&server.serverid), SERVER_SK.to_string())?;
        item.insert("gsi1pk".into(), s(SERVERS_GSI_PK));
        item.insert("gsi1sk".into(), s(server.serverid.as_str()));
        self.put_new(item).await
    }

    async fn get_server(&self, serverid: &ServerId) -> Result<Option<Server>, StoreError> {
        self.get(server_pk(serverid), SERVER_SK.into())
            .await?
            .map(from_item)
            .transpose()
    }

    async fn list_servers(&self) -> Result<Vec<Server>, StoreError> {
        self.query_all(Some(GSI1), "gsi1pk = :p", vec![(":p", s(SERVERS_GSI_PK))])
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    async fn update_server_settings(
        &self,
        serverid: &ServerId,
        settings: &ServerSettings,
    ) -> Result<(), StoreError> {
        let value: AttributeValue = serde_dynamo::to_attribute_value(settings)
            .map_err(|e| StoreError::Corrupt(format!("serialise: {e}")))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(server_pk(serverid), SERVER_SK.into())))
            .update_expression("SET #s = :s")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#s", "settings")
            .expression_attribute_values(":s", value)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn put_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put_new(to_item(k, server_pk(&k.serverid), apikey_sk(&k.keyid))?)
            .await
    }

    async fn list_api_keys(&self, serverid: &ServerId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.query_all(
            None,
            "pk = :p AND begins_with(sk, :k)",
            vec![(":p", s(server_pk(serverid))), (":k", s("APIKEY#"))],
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
    }

    async fn revoke_api_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(server_pk(serverid), apikey_sk(keyid))))
            .update_expression("SET #r = :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#r)")
            .expression_attribute_names("#r", "revoked")
            .expression_attribute_values(":t", AttributeValue::N(at.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn get_server_and_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
    ) -> Result<(Option<Server>, Option<ApiKeyRecord>), StoreError> {
        let server_key = key(server_pk(serverid), SERVER_SK.into());
        let apikey_key = key(server_pk(serverid), apikey_sk(keyid));
        let mut pending = KeysAndAttributes::builder()
            .keys(server_key)
            .keys(apikey_key)
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut found: Vec<Item> = Vec::new();
        // BatchGetItem may hand back keys unprocessed under throttling; retry those a few
        // times with backoff before calling the store unavailable.
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
                    let mut server = None;
                    let mut apikey = None;
                    for item in found {
                        match item.get("sk") {
                            Some(AttributeValue::S(sk)) if sk == SERVER_SK => {
                                server = Some(from_item(item)?)
                            }
                            _ => apikey = Some(from_item(item)?),
                        }
                    }
                    return Ok((server, apikey));
                }
                Some(rest) => {
                    pending = rest;
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "BatchGetItem left keys unprocessed after retries".into(),
        ))
    }

    async fn get_session(
        &self,
        serverid: &ServerId,
        hsid: &Hsid,
    ) -> Result<Option<Session>, StoreError> {
        self.get(session_pk(serverid, hsid), SESSION_SK.into())
            .await?
            .map(from_item)
            .transpose()
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_new(to_item(
            session,
            session_pk(&session.serverid, &session.hsid),
            SESSION_SK.into(),
        )?)
        .await
    }

    async fn update_session(
        &self,
        session: &Session,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let item = to_item(
            session,
            session_pk(&session.serverid, &session.hsid),
            SESSION_SK.into(),
        )?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(expected_version.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}
