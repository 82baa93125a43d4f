//! Persistence: one trait, implemented over DynamoDB (the deployed store) and in memory
//! (the local stack's embedded default), plus a counting wrapper that tests use to show
//! how many store calls a request costs.

mod counting;
mod dynamo;
mod memory;

use async_trait::async_trait;

pub use counting::CountingStore;
pub use dynamo::{DynamoStore, TableSpec};
pub use memory::MemoryStore;

use crate::apikey::ApiKeyRecord;
use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};
use crate::server::Server;
use crate::session::Session;
use crate::settings::ServerSettings;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The write's condition did not hold: the item exists already, is missing, or was
    /// changed by someone else since it was read.
    #[error("condition failed")]
    ConditionFailed,
    /// DynamoDB failed after the SDK's retries (503 to the caller).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be read back into its type.
    #[error("corrupt item: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Creates a server; `ConditionFailed` if its id is taken.
    async fn create_server(&self, server: &Server) -> Result<(), StoreError>;
    async fn get_server(&self, serverid: &ServerId) -> Result<Option<Server>, StoreError>;
    /// Every server, for the admin tool (an index query, not a scan).
    async fn list_servers(&self) -> Result<Vec<Server>, StoreError>;
    /// Replaces the settings of an existing server; `ConditionFailed` if there is none.
    async fn update_server_settings(
        &self,
        serverid: &ServerId,
        settings: &ServerSettings,
    ) -> Result<(), StoreError>;

    /// Stores a new key; `ConditionFailed` if its id is taken.
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn list_api_keys(&self, serverid: &ServerId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks a key revoked; `ConditionFailed` if it does not exist or is revoked already.
    async fn revoke_api_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
        at: UnixTime,
    ) -> Result<(), StoreError>;
    /// The server and one of its keys in one round trip (consistent, so a revocation
    /// takes effect at once).
    async fn get_server_and_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
    ) -> Result<(Option<Server>, Option<ApiKeyRecord>), StoreError>;

    /// One consistent read of a session.
    async fn get_session(
        &self,
        serverid: &ServerId,
        hsid: &Hsid,
    ) -> Result<Option<Session>, StoreError>;
    /// Creates a session; `ConditionFailed` if it exists.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// Writes a transition; `ConditionFailed` unless the stored version is
    /// `expected_version` (someone else changed the session first).
    async fn update_session(
        &self,
        session: &Session,
        expected_version: u64,
    ) -> Result<(), StoreError>;
}
