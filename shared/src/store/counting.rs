use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Page, Store, StoreError};
use crate::account::Account;
use crate::apikey::ApiKeyRecord;
use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};
use crate::phone::enrol::EnrolToken;
use crate::server::Server;
use crate::session::Session;
use crate::settings::ServerSettings;

/// Wraps a store and counts calls by method name.
pub struct CountingStore {
    inner: Arc<dyn Store>,
    counts: Mutex<BTreeMap<&'static str, usize>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        CountingStore {
            inner,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    fn hit(&self, name: &'static str) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry(name).or_default() += 1;
    }

    /// The calls so far, by method name.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn create_server(&self, server: &Server) -> Result<(), StoreError> {
        self.hit("create_server");
        self.inner.create_server(server).await
    }
    async fn get_server(&self, serverid: &ServerId) -> Result<Option<Server>, StoreError> {
        self.hit("get_server");
        self.inner.get_server(serverid).await
    }
    async fn list_servers(&self) -> Result<Vec<Server>, StoreError> {
        self.hit("list_servers");
        self.inner.list_servers().await
    }
    async fn update_server_settings(
        &self,
        serverid: &ServerId,
        settings: &ServerSettings,
    ) -> Result<(), StoreError> {
        self.hit("update_server_settings");
        self.inner.update_server_settings(serverid, settings).await
    }
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.hit("put_api_key");
        self.inner.put_api_key(key).await
    }
    async fn list_api_keys(&self, serverid: &ServerId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.hit("list_api_keys");
        self.inner.list_api_keys(serverid).await
    }
    async fn revoke_api_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.hit("revoke_api_key");
        self.inner.revoke_api_key(serverid, keyid, at).await
    }
    async fn get_server_and_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
    ) -> Result<(Option<Server>, Option<ApiKeyRecord>), StoreError> {
        self.hit("get_server_and_key");
        self.inner.get_server_and_key(serverid, keyid).await
    }
    async fn get_session(&self, hsid: &Hsid) -> Result<Option<Session>, StoreError> {
        self.hit("get_session");
        self.inner.get_session(hsid).await
    }
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.hit("create_session");
        self.inner.create_session(session).await
    }
    async fn update_session(
        &self,
        session: &Session,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.hit("update_session");
        self.inner.update_session(session, expected_version).await
    }
    async fn account_sessions(
        &self,
        serverid: &ServerId,
        accountid: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Session>, StoreError> {
        self.hit("account_sessions");
        self.inner
            .account_sessions(serverid, accountid, limit, cursor)
            .await
    }
    async fn allocate_accountid(&self, serverid: &ServerId) -> Result<u64, StoreError> {
        self.hit("allocate_accountid");
        self.inner.allocate_accountid(serverid).await
    }
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.hit("create_account");
        self.inner.create_account(account).await
    }
    async fn get_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<Account>, StoreError> {
        self.hit("get_account");
        self.inner.get_account(serverid, accountid).await
    }
    async fn get_server_and_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<(Option<Server>, Option<Account>), StoreError> {
        self.hit("get_server_and_account");
        self.inner.get_server_and_account(serverid, accountid).await
    }
    async fn update_account(
        &self,
        account: &Account,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.hit("update_account");
        self.inner.update_account(account, expected_version).await
    }
    async fn delete_account(&self, serverid: &ServerId, accountid: u64) -> Result<(), StoreError> {
        self.hit("delete_account");
        self.inner.delete_account(serverid, accountid).await
    }
    async fn user_accounts(
        &self,
        serverid: &ServerId,
        userid: &str,
    ) -> Result<Vec<Account>, StoreError> {
        self.hit("user_accounts");
        self.inner.user_accounts(serverid, userid).await
    }
    async fn put_enrol_token(&self, token: &EnrolToken) -> Result<(), StoreError> {
        self.hit("put_enrol_token");
        self.inner.put_enrol_token(token).await
    }
    async fn use_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<EnrolToken, StoreError> {
        self.hit("use_enrol_token");
        self.inner.use_enrol_token(serverid, token_hash, now).await
    }
    async fn get_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
    ) -> Result<Option<EnrolToken>, StoreError> {
        self.hit("get_enrol_token");
        self.inner.get_enrol_token(serverid, token_hash).await
    }
    async fn count_push(
        &self,
        serverid: &ServerId,
        accountid: u64,
        window: i64,
        limit: u32,
        ttl: UnixTime,
    ) -> Result<u32, StoreError> {
        self.hit("count_push");
        self.inner
            .count_push(serverid, accountid, window, limit, ttl)
            .await
    }
    async fn adjust_push_count(
        &self,
        serverid: &ServerId,
        accountid: u64,
        window: i64,
        delta: i32,
        ttl: UnixTime,
    ) -> Result<(), StoreError> {
        self.hit("adjust_push_count");
        self.inner
            .adjust_push_count(serverid, accountid, window, delta, ttl)
            .await
    }
    async fn subscribe(&self, conn: &str, hsid: &Hsid, until: UnixTime) -> Result<(), StoreError> {
        self.hit("subscribe");
        self.inner.subscribe(conn, hsid, until).await
    }
    async fn connection_sessions(&self, conn: &str) -> Result<Vec<Hsid>, StoreError> {
        self.hit("connection_sessions");
        self.inner.connection_sessions(conn).await
    }
    async fn subscribers(&self, hsid: &Hsid) -> Result<Vec<String>, StoreError> {
        self.hit("subscribers");
        self.inner.subscribers(hsid).await
    }
    async fn unsubscribe(&self, conn: &str, hsid: &Hsid) -> Result<(), StoreError> {
        self.hit("unsubscribe");
        self.inner.unsubscribe(conn, hsid).await
    }
    async fn remember_request(
        &self,
        serverid: &ServerId,
        digest: &str,
        until: UnixTime,
    ) -> Result<(), StoreError> {
        self.hit("remember_request");
        self.inner.remember_request(serverid, digest, until).await
    }
}
