//! Persistence: one trait, implemented over DynamoDB (the deployed store) and in memory
//! (the local stack's embedded default), plus a counting wrapper that tests use to show
//! how many store calls a request costs.

mod counting;
mod cursor;
mod dynamo;
mod feed;
mod memory;

use async_trait::async_trait;

pub use counting::CountingStore;
pub use cursor::SessionCursor;
pub use dynamo::{DynamoStore, TableSpec};
pub use feed::{FeedStore, SessionChange};
pub use memory::MemoryStore;

use crate::account::Account;
use crate::apikey::ApiKeyRecord;
use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};
use crate::phone::enrol::EnrolToken;
use crate::server::Server;
use crate::session::Session;
use crate::settings::ServerSettings;

/// One page of a listing and the cursor of the next, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

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

    /// One consistent read of a session. Sessions are keyed by hsid alone (it is derived
    /// from the server id), so the phone can name one without knowing its server; callers
    /// check `serverid`.
    async fn get_session(&self, hsid: &Hsid) -> Result<Option<Session>, StoreError>;
    /// Creates a session; `ConditionFailed` if it exists.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// Writes a transition; `ConditionFailed` unless the stored version is
    /// `expected_version` (someone else changed the session first).
    async fn update_session(
        &self,
        session: &Session,
        expected_version: u64,
    ) -> Result<(), StoreError>;
    /// Sessions an account logged in to, newest login first (an index query).
    async fn account_sessions(
        &self,
        serverid: &ServerId,
        accountid: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Session>, StoreError>;

    /// The next account id of a server (an atomic counter: never the same id twice).
    async fn allocate_accountid(&self, serverid: &ServerId) -> Result<u64, StoreError>;
    /// Creates an account; `ConditionFailed` if its id is taken.
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;
    async fn get_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<Account>, StoreError>;
    /// The server and one of its accounts in one round trip (consistent).
    async fn get_server_and_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<(Option<Server>, Option<Account>), StoreError>;
    /// Writes a changed account; `ConditionFailed` unless the stored version is
    /// `expected_version`.
    async fn update_account(
        &self,
        account: &Account,
        expected_version: u64,
    ) -> Result<(), StoreError>;
    /// Deletes an account; `ConditionFailed` if it does not exist.
    async fn delete_account(&self, serverid: &ServerId, accountid: u64) -> Result<(), StoreError>;
    /// Every account of a user (an index query).
    async fn user_accounts(
        &self,
        serverid: &ServerId,
        userid: &str,
    ) -> Result<Vec<Account>, StoreError>;

    /// Stores a new enrolment token; `ConditionFailed` if its hash is taken.
    async fn put_enrol_token(&self, token: &EnrolToken) -> Result<(), StoreError>;
    /// Marks a token used, on condition that it exists, is unused and has not expired at
    /// `now`; `ConditionFailed` otherwise (the caller reads it to say which).
    async fn use_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<EnrolToken, StoreError>;
    async fn get_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
    ) -> Result<Option<EnrolToken>, StoreError>;

    /// Counts one push to an account in a rate window, on condition that fewer than
    /// `limit` were counted there; `ConditionFailed` when the window is full. Returns the
    /// count after this push.
    async fn count_push(
        &self,
        serverid: &ServerId,
        accountid: u64,
        window: i64,
        limit: u32,
        ttl: UnixTime,
    ) -> Result<u32, StoreError>;
    /// Adds `delta` (a refund of -1 or a penalty of +1) to a window's count; a refund
    /// never takes it below zero and a missing window is left alone.
    async fn adjust_push_count(
        &self,
        serverid: &ServerId,
        accountid: u64,
        window: i64,
        delta: i32,
        ttl: UnixTime,
    ) -> Result<(), StoreError>;

    /// A WebSocket connection watches a session until `until` (connections live at most
    /// two hours).
    async fn subscribe(&self, conn: &str, hsid: &Hsid, until: UnixTime) -> Result<(), StoreError>;
    /// The sessions a connection watches.
    async fn connection_sessions(&self, conn: &str) -> Result<Vec<Hsid>, StoreError>;
    /// The connections watching a session.
    async fn subscribers(&self, hsid: &Hsid) -> Result<Vec<String>, StoreError>;
    /// Ends one subscription (idempotent).
    async fn unsubscribe(&self, conn: &str, hsid: &Hsid) -> Result<(), StoreError>;

    /// Remembers a signed request until `until`; `ConditionFailed` if it was seen before
    /// (a replay).
    async fn remember_request(
        &self,
        serverid: &ServerId,
        digest: &str,
        until: UnixTime,
    ) -> Result<(), StoreError>;
}
