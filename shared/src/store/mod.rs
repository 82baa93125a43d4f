//! Persistence, split by capability: servers and their grants, roles, attributes, sessions, accounts (with users and
//! enrolment tokens), push counters, WebSocket subscriptions and replay records. Each is a
//! trait; [`Store`] is all of them. DynamoDB ([`DynamoStore`], the deployed store) and
//! memory ([`MemoryStore`], the local stack's default) implement every one; `Deps` holds
//! each capability on its own, so a wrapper or a new store implements only what it changes.
//!
//! Both stores can announce their session writes as (old, new) on a [`ChangeStream`], the
//! local stand-in for DynamoDB Streams. [`Observed`] wraps a whole store and reports each
//! call to an [`Observer`] (tests count calls with [`CallCounts`]); its forwarding is
//! generated from the trait declarations below, so a new store method is written in three
//! places: here, in memory.rs and in dynamo.rs.

mod cursor;
mod dynamo;
mod memory;
mod stream;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

pub use cursor::SessionCursor;
pub use dynamo::{Created, DynamoStore, TableSpec};
pub use memory::MemoryStore;
pub use stream::{ChangeStream, SessionChange};

/// How long a WebSocket connection lives at most (API Gateway's two hours), and so how
/// long a subscription is kept.
pub const SUBSCRIPTION_SECONDS: i64 = 2 * 3600;

use crate::account::{Account, AccountSweep};
use crate::apikey::Permission;
use crate::attributes::{AttributeScope, Attributes};
use crate::clock::UnixTime;
use crate::enrolment::{EnrolToken, TokenUse};
use crate::error::ApiError;
use crate::ids::{Hsid, ServerId};
use crate::role::{Grant, Role, RoleItems};
use crate::server::Server;
use crate::session::Session;

/// An account as the server's account index holds it: enough to page, sort and group by
/// user without reading the accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    pub accountid: u64,
    pub userid: Option<String>,
}

impl AccountKey {
    /// The index's sort key: the id (15 digits), `#`, the userid (empty for none).
    pub fn sort_key(&self) -> String {
        format!(
            "{:015}#{}",
            self.accountid,
            self.userid.as_deref().unwrap_or_default()
        )
    }

    pub fn from_sort_key(sk: &str) -> Option<AccountKey> {
        let (id, userid) = sk.split_once('#')?;
        Some(AccountKey {
            accountid: id.parse().ok()?,
            userid: (!userid.is_empty()).then(|| userid.to_string()),
        })
    }
}

/// What claiming a public key for an enrolment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free: this call claimed it (and gives it back if the enrolment fails).
    New,
    /// The same enrolment (token) claimed it before: a retry, which must not give it back.
    Held,
}

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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::error!(error = %detail, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Corrupt(detail) => {
                tracing::error!(error = %detail, "unreadable stored item");
                ApiError::Internal
            }
            // Callers that expect a condition to fail handle it before converting; one that
            // reaches here is a lost race the caller did not anticipate.
            StoreError::ConditionFailed => ApiError::Conflict {
                code: "conflict",
                message: "the resource changed concurrently; retry the call".into(),
            },
        }
    }
}

/// What a push counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted<'a> {
    /// The website's pushes to an account (`push_limit`).
    Account(u64),
    /// A page's PROVOKE frames for a session.
    Session(&'a Hsid),
    /// A WebSocket connection's PROVOKE frames.
    Connection(&'a str),
    /// An account's logins (approvals and in-app logins: `login_limit`).
    Logins(u64),
    /// Login notices pushed to an account (setting `login_notify`).
    Notices(u64),
}

impl std::fmt::Display for Counted<'_> {
    /// The counter's part of a key: the account id as it always was, `s.<hsid>`, `c.<conn>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Counted::Account(id) => write!(f, "{id}"),
            Counted::Session(hsid) => write!(f, "s.{hsid}"),
            Counted::Connection(conn) => write!(f, "c.{conn}"),
            Counted::Logins(id) => write!(f, "l.{id}"),
            Counted::Notices(id) => write!(f, "n.{id}"),
        }
    }
}

/// Sees every call through an [`Observed`] store, by method name; a test's observer may
/// also make a call fail, before it reaches the store or after the store has done it (a
/// write applied whose answer is lost).
pub trait Observer: Send + Sync {
    fn call(&self, method: &'static str);

    /// An error to answer instead of calling the store.
    fn fail_before(&self, _method: &'static str) -> Option<StoreError> {
        None
    }

    /// An error to answer after the store has done the call.
    fn fail_after(&self, _method: &'static str) -> Option<StoreError> {
        None
    }
}

/// A store whose calls an [`Observer`] sees before they go on to the inner store.
pub struct Observed<O: Observer> {
    inner: Arc<dyn Store>,
    observer: O,
}

impl<O: Observer> Observed<O> {
    pub fn new(inner: Arc<dyn Store>, observer: O) -> Self {
        Observed { inner, observer }
    }
}

/// What [`PushCounterStore::note_network`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkSeen {
    /// The user logged in from this network before (within its memory).
    Known,
    /// A network the user has not logged in from, while others are known.
    New,
    /// The first network known of the user: learnt, not news.
    First,
}

/// Declares each capability trait and, from the same text, its implementation for
/// [`Observed`]: the observer sees the call, then the inner store answers it.
macro_rules! capabilities {
    ($(
        $(#[$trait_doc:meta])*
        pub trait $capability:ident {
            $(
                $(#[$method_doc:meta])*
                async fn $method:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
            )*
        }
    )*) => {$(
        $(#[$trait_doc])*
        #[async_trait]
        pub trait $capability: Send + Sync {
            $(
                $(#[$method_doc])*
                async fn $method(&self $(, $arg: $ty)*) -> $ret;
            )*
        }

        #[async_trait]
        impl<O: Observer> $capability for Observed<O> {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $ret {
                    let method = stringify!($method);
                    self.observer.call(method);
                    if let Some(e) = self.observer.fail_before(method) {
                        return Err(e);
                    }
                    let answer = self.inner.$method($($arg),*).await;
                    match self.observer.fail_after(method) {
                        Some(e) => Err(e),
                        None => answer,
                    }
                }
            )*
        }
    )*};
}

capabilities! {
    /// Servers and their API keys.
    pub trait ServerStore {
        /// Creates a server; `ConditionFailed` if its id is taken.
        async fn create_server(&self, server: &Server) -> Result<(), StoreError>;
        async fn get_server(&self, serverid: &ServerId) -> Result<Option<Server>, StoreError>;
        /// Every server, for the admin tool (an index query, not a scan).
        async fn list_servers(&self) -> Result<Vec<Server>, StoreError>;
        /// Writes a server's settings, secret and version (its id and creation never
        /// change); `ConditionFailed` unless the server exists with `expected_version`.
        async fn update_server(
            &self,
            server: &Server,
            expected_version: u64,
        ) -> Result<(), StoreError>;
        /// Writes a role's permissions on a server: a new grant, or new permissions on
        /// one that exists (which keeps its other fields: a key made before roles keeps its
        /// hash).
        async fn set_grant(&self, grant: &Grant) -> Result<(), StoreError>;
        /// Stores a key made the way keys were made before roles (a grant with the key's
        /// hash); `ConditionFailed` if its id is taken on the server.
        async fn put_legacy_key(&self, grant: &Grant) -> Result<(), StoreError>;
        /// Removes a role's grant on a server; whether there was one.
        async fn delete_grant(&self, serverid: &ServerId, roleid: &str) -> Result<bool, StoreError>;
        /// Every grant on a server (keys made before roles among them).
        async fn list_grants(&self, serverid: &ServerId) -> Result<Vec<Grant>, StoreError>;
        /// The grants of a role, on every server (an index query, eventually consistent).
        async fn role_grants(&self, roleid: &str) -> Result<Vec<Grant>, StoreError>;
        /// Marks a key made before roles revoked; `ConditionFailed` if there is no such
        /// grant with a key, or it is revoked already.
        async fn revoke_legacy_key(
            &self,
            serverid: &ServerId,
            roleid: &str,
            at: UnixTime,
        ) -> Result<(), StoreError>;
        /// The server, and a role's grant there and role item, in one round trip
        /// (consistent, so a revocation takes effect at once).
        async fn get_server_and_role(
            &self,
            serverid: &ServerId,
            roleid: &str,
        ) -> Result<(Option<Server>, RoleItems), StoreError>;
    }

    /// Roles (the role of each API key, and users' roles).
    pub trait RoleStore {
        /// Creates a role; `ConditionFailed` if its id is taken.
        async fn create_role(&self, role: &Role) -> Result<(), StoreError>;
        /// A role's item and, with a server, its grant there, in one round trip
        /// (consistent).
        async fn get_role_items(
            &self,
            serverid: Option<&ServerId>,
            roleid: &str,
        ) -> Result<RoleItems, StoreError>;
        /// Marks a role's key revoked; `ConditionFailed` if there is no such role or it is
        /// revoked already.
        async fn revoke_role(&self, roleid: &str, at: UnixTime) -> Result<(), StoreError>;
        /// Sets a role's global permissions; `ConditionFailed` if there is no such role.
        async fn set_role_global(
            &self,
            roleid: &str,
            global: &[Permission],
        ) -> Result<(), StoreError>;
        /// The roles whose keys a role created, oldest first (an index query).
        async fn roles_created_by(&self, roleid: &str) -> Result<Vec<Role>, StoreError>;
    }

    /// Attributes: global, per server, privileged per server, per user.
    pub trait AttributeStore {
        async fn get_attributes(
            &self,
            scope: &AttributeScope,
        ) -> Result<Option<Attributes>, StoreError>;
        /// Writes a scope's attributes whole; `ConditionFailed` unless the stored version is
        /// `expected_version` (0: none are stored).
        async fn put_attributes(
            &self,
            scope: &AttributeScope,
            attributes: &Attributes,
            expected_version: u64,
        ) -> Result<(), StoreError>;
        /// Removes a scope's attributes (idempotent).
        async fn delete_attributes(&self, scope: &AttributeScope) -> Result<(), StoreError>;
        /// The attributes of every user of a server that has some (one query of the
        /// server's items).
        async fn user_attributes(
            &self,
            serverid: &ServerId,
        ) -> Result<Vec<(String, Attributes)>, StoreError>;
    }

    /// Sessions, keyed by hsid.
    pub trait SessionStore {
        /// One consistent read of a session. Sessions are keyed by hsid alone (it is derived
        /// from the server id), so the phone can name one without knowing its server; callers
        /// check `serverid`.
        async fn get_session(&self, hsid: &Hsid) -> Result<Option<Session>, StoreError>;
        /// A website call's reads in one round trip (consistent): the server, the grant
        /// there and the role item of the key's role `roleid`, and the session `hsid`.
        async fn get_session_with_role(
            &self,
            hsid: &Hsid,
            serverid: &ServerId,
            roleid: &str,
        ) -> Result<(Option<Server>, RoleItems, Option<Session>), StoreError>;
        /// A phone call's reads in one round trip (consistent): the server, its account
        /// `accountid` (not one whose enrolment is unfinished), and the session `hsid`.
        async fn get_session_with_account(
            &self,
            hsid: &Hsid,
            serverid: &ServerId,
            accountid: u64,
        ) -> Result<(Option<Server>, Option<Account>, Option<Session>), StoreError>;
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
        /// The sessions whose stored state is logged in and whose login ends in `minute`
        /// (unix time / 60, [`Session::ending_minute`]): one query of the keys-only index
        /// gsi2 (`ENDS#<minute>`), eventually consistent, so the caller reads each session
        /// before acting on it.
        async fn sessions_ending(&self, minute: i64) -> Result<Vec<Hsid>, StoreError>;
    }

    /// Accounts, the users they belong to, and the enrolment tokens that create them.
    pub trait AccountStore {
        /// The next account id of a server (an atomic counter: never the same id twice).
        async fn allocate_accountid(&self, serverid: &ServerId) -> Result<u64, StoreError>;
        /// Creates an account; `ConditionFailed` if its id is taken. An account whose
        /// enrolment is unfinished (`enrolling`) is in no index and is dropped at that time
        /// (TTL) unless an update finishes it first.
        async fn create_account(&self, account: &Account) -> Result<(), StoreError>;
        /// An account, unless its enrolment is unfinished (as every read of accounts
        /// below but [`get_enrolment_account`](Self::get_enrolment_account)).
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
        /// An account whether or not its enrolment is finished: for that enrolment only.
        async fn get_enrolment_account(
            &self,
            serverid: &ServerId,
            accountid: u64,
        ) -> Result<Option<Account>, StoreError>;
        /// Every account of a user (an index query).
        async fn user_accounts(
            &self,
            serverid: &ServerId,
            userid: &str,
        ) -> Result<Vec<Account>, StoreError>;
        /// Claims a public key (by its fingerprint) for an enrolment with the token of hash
        /// `token_hash` on a server: `ConditionFailed` if the key is claimed there already
        /// by another enrolment (one key, one account); the same enrolment again (a retry)
        /// holds the claim it has ([`KeyClaim::Held`]).
        async fn claim_public_key(
            &self,
            serverid: &ServerId,
            fingerprint: &str,
            token_hash: &str,
            at: UnixTime,
        ) -> Result<KeyClaim, StoreError>;
        /// Gives a claimed key back (its account is gone, or was never made); idempotent.
        async fn release_public_key(
            &self,
            serverid: &ServerId,
            fingerprint: &str,
        ) -> Result<(), StoreError>;
        /// Every account of the server, keys only (the listings page, sort and group
        /// these, then read a page's accounts). Eventually consistent in DynamoDB.
        async fn account_index(&self, serverid: &ServerId) -> Result<Vec<AccountKey>, StoreError>;
        /// The accounts of these ids that exist, in no particular order.
        async fn get_accounts(
            &self,
            serverid: &ServerId,
            accountids: &[u64],
        ) -> Result<Vec<Account>, StoreError>;
        /// Stores a new pass over an account's sessions, replacing the one under way.
        async fn put_sweep(&self, sweep: &AccountSweep) -> Result<(), StoreError>;
        async fn get_sweep(
            &self,
            serverid: &ServerId,
            accountid: u64,
        ) -> Result<Option<AccountSweep>, StoreError>;
        /// Stores a pass's progress, on condition that it is still the stored pass (its
        /// `run`) and that the stored progress is `seen_before`: `ConditionFailed` once a
        /// newer pass replaced it, or when a step run twice already advanced it (so that
        /// progress never goes back and one pass never runs as two).
        async fn advance_sweep(
            &self,
            sweep: &AccountSweep,
            seen_before: u64,
        ) -> Result<(), StoreError>;
        /// Removes a finished pass, on condition that it is still the stored one.
        async fn finish_sweep(&self, sweep: &AccountSweep) -> Result<(), StoreError>;
        /// Stores a new enrolment token; `ConditionFailed` if its hash is taken.
        async fn put_enrol_token(&self, token: &EnrolToken) -> Result<(), StoreError>;
        /// Marks a token used by `by`, on condition that it exists, has not expired at
        /// `now`, and is unused or was used by the same key (a retry: the token keeps its
        /// first use and account id; only within the token's life, so that an account
        /// removed later cannot be made again from its old link); `ConditionFailed`
        /// otherwise (the caller reads it to say which). Answers the token after the write.
        async fn use_enrol_token(
            &self,
            serverid: &ServerId,
            token_hash: &str,
            by: &TokenUse<'_>,
            now: UnixTime,
        ) -> Result<EnrolToken, StoreError>;
        async fn get_enrol_token(
            &self,
            serverid: &ServerId,
            token_hash: &str,
        ) -> Result<Option<EnrolToken>, StoreError>;
    }

    /// The push counters of the rate limits (SPEC section 6): per account for the website's
    /// pushes, per session and per connection for the pages' PROVOKE frames.
    pub trait PushCounterStore {
        /// Counts one push in a rate window, on condition that fewer than `limit` were
        /// counted there; `ConditionFailed` when the window is full. Returns the count after
        /// this push.
        async fn count_push(
            &self,
            serverid: &ServerId,
            counted: Counted<'_>,
            window: i64,
            limit: u32,
            ttl: UnixTime,
        ) -> Result<u32, StoreError>;
        /// Adds `delta` (a refund of -1 or a penalty of +1) to a window's count; a refund
        /// never takes it below zero or makes a missing window, a penalty makes one.
        async fn adjust_push_count(
            &self,
            serverid: &ServerId,
            counted: Counted<'_>,
            window: i64,
            delta: i32,
            ttl: UnixTime,
        ) -> Result<(), StoreError>;
        /// Records a push for the account's phone to fetch (`push_delivery` with pull); a
        /// later push of the same session replaces it.
        async fn put_pull(&self, pull: &crate::pull::PendingPull) -> Result<(), StoreError>;
        /// The account's recorded pushes, at most [`crate::pull::MAX_PULLS`] (any age: the
        /// caller keeps those still open).
        async fn pulls(
            &self,
            serverid: &ServerId,
            accountid: u64,
        ) -> Result<Vec<crate::pull::PendingPull>, StoreError>;
        /// Records that the user logged in from `network` (a keyed digest of the browser's
        /// network, `Server::network_digest`) at `at`, remembered until `until`, and says
        /// whether it was known: for login notices on a new network (`login_notify`).
        async fn note_network(
            &self,
            serverid: &ServerId,
            userid: &str,
            network: &str,
            at: UnixTime,
            until: UnixTime,
        ) -> Result<NetworkSeen, StoreError>;
    }

    /// Which WebSocket connections watch which sessions (for at most
    /// [`SUBSCRIPTION_SECONDS`]).
    pub trait SubscriptionStore {
        /// A WebSocket connection watches a session until `until` (connections live at most
        /// two hours), if it watches fewer than `max` sessions; a session it watches
        /// already is renewed, not counted again. `ConditionFailed` at `max` (decided
        /// atomically: concurrent REGISTERs cannot pass it).
        async fn subscribe(
            &self,
            conn: &str,
            hsid: &Hsid,
            until: UnixTime,
            max: usize,
        ) -> Result<(), StoreError>;
        /// The sessions a connection watches.
        async fn connection_sessions(&self, conn: &str) -> Result<Vec<Hsid>, StoreError>;
        /// The connections watching a session.
        async fn subscribers(&self, hsid: &Hsid) -> Result<Vec<String>, StoreError>;
        /// Ends one subscription (idempotent).
        async fn unsubscribe(&self, conn: &str, hsid: &Hsid) -> Result<(), StoreError>;
    }

    /// Signed phone requests already taken (replay protection, SPEC 5.1).
    pub trait ReplayStore {
        /// Remembers a signed request until `until`; `ConditionFailed` if it was seen before
        /// (a replay).
        async fn remember_request(
            &self,
            serverid: &ServerId,
            digest: &str,
            until: UnixTime,
        ) -> Result<(), StoreError>;
    }
}

/// Every capability: what a whole store implements.
pub trait Store:
    ServerStore
    + RoleStore
    + AttributeStore
    + SessionStore
    + AccountStore
    + PushCounterStore
    + SubscriptionStore
    + ReplayStore
{
}

impl<T> Store for T where
    T: ServerStore
        + RoleStore
        + AttributeStore
        + SessionStore
        + AccountStore
        + PushCounterStore
        + SubscriptionStore
        + ReplayStore
        + ?Sized
{
}

/// An [`Observer`] that counts calls by method name: what tests use to show how many store
/// calls a request costs, and that a refused request stores nothing.
#[derive(Default)]
pub struct CallCounts(Mutex<BTreeMap<&'static str, usize>>);

impl Observer for CallCounts {
    fn call(&self, method: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(method)
            .or_default() += 1;
    }
}

/// A store that counts its calls.
pub type CountingStore = Observed<CallCounts>;

impl Observed<CallCounts> {
    pub fn counting(inner: Arc<dyn Store>) -> Self {
        Observed::new(inner, CallCounts::default())
    }

    /// The calls so far, by method name.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.observer
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn reset(&self) {
        self.observer
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
