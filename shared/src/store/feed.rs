//! A store wrapper that announces every session write as (old, new): the local stack's
//! stand-in for DynamoDB Streams, feeding its WebSocket endpoint through the same frame
//! code the notifier uses.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Page, Store, StoreError};
use crate::account::Account;
use crate::apikey::ApiKeyRecord;
use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};
use crate::phone::enrol::EnrolToken;
use crate::server::Server;
use crate::session::Session;
use crate::settings::ServerSettings;

pub type SessionChange = (Option<Session>, Session);

pub struct FeedStore {
    inner: Arc<dyn Store>,
    tx: broadcast::Sender<SessionChange>,
}

impl FeedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        let (tx, _) = broadcast::channel(1024);
        FeedStore { inner, tx }
    }

    pub fn changes(&self) -> broadcast::Receiver<SessionChange> {
        self.tx.subscribe()
    }
}

#[async_trait]
impl Store for FeedStore {
    async fn create_server(&self, server: &Server) -> Result<(), StoreError> {
        self.inner.create_server(server).await
    }

    async fn get_server(&self, serverid: &ServerId) -> Result<Option<Server>, StoreError> {
        self.inner.get_server(serverid).await
    }

    async fn list_servers(&self) -> Result<Vec<Server>, StoreError> {
        self.inner.list_servers().await
    }

    async fn update_server_settings(
        &self,
        serverid: &ServerId,
        settings: &ServerSettings,
    ) -> Result<(), StoreError> {
        self.inner.update_server_settings(serverid, settings).await
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.put_api_key(key).await
    }

    async fn list_api_keys(&self, serverid: &ServerId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.list_api_keys(serverid).await
    }

    async fn revoke_api_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.inner.revoke_api_key(serverid, keyid, at).await
    }

    async fn get_server_and_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
    ) -> Result<(Option<Server>, Option<ApiKeyRecord>), StoreError> {
        self.inner.get_server_and_key(serverid, keyid).await
    }

    async fn get_session(&self, hsid: &Hsid) -> Result<Option<Session>, StoreError> {
        self.inner.get_session(hsid).await
    }

    async fn account_sessions(
        &self,
        serverid: &ServerId,
        accountid: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Session>, StoreError> {
        self.inner
            .account_sessions(serverid, accountid, limit, cursor)
            .await
    }

    async fn allocate_accountid(&self, serverid: &ServerId) -> Result<u64, StoreError> {
        self.inner.allocate_accountid(serverid).await
    }

    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.inner.create_account(account).await
    }

    async fn get_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<Account>, StoreError> {
        self.inner.get_account(serverid, accountid).await
    }

    async fn get_server_and_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<(Option<Server>, Option<Account>), StoreError> {
        self.inner.get_server_and_account(serverid, accountid).await
    }

    async fn update_account(
        &self,
        account: &Account,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.inner.update_account(account, expected_version).await
    }

    async fn delete_account(&self, serverid: &ServerId, accountid: u64) -> Result<(), StoreError> {
        self.inner.delete_account(serverid, accountid).await
    }

    async fn user_accounts(
        &self,
        serverid: &ServerId,
        userid: &str,
    ) -> Result<Vec<Account>, StoreError> {
        self.inner.user_accounts(serverid, userid).await
    }

    async fn put_enrol_token(&self, token: &EnrolToken) -> Result<(), StoreError> {
        self.inner.put_enrol_token(token).await
    }

    async fn use_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<EnrolToken, StoreError> {
        self.inner.use_enrol_token(serverid, token_hash, now).await
    }

    async fn get_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
    ) -> Result<Option<EnrolToken>, StoreError> {
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
        self.inner
            .adjust_push_count(serverid, accountid, window, delta, ttl)
            .await
    }

    async fn subscribe(&self, conn: &str, hsid: &Hsid, until: UnixTime) -> Result<(), StoreError> {
        self.inner.subscribe(conn, hsid, until).await
    }

    async fn connection_sessions(&self, conn: &str) -> Result<Vec<Hsid>, StoreError> {
        self.inner.connection_sessions(conn).await
    }

    async fn subscribers(&self, hsid: &Hsid) -> Result<Vec<String>, StoreError> {
        self.inner.subscribers(hsid).await
    }

    async fn unsubscribe(&self, conn: &str, hsid: &Hsid) -> Result<(), StoreError> {
        self.inner.unsubscribe(conn, hsid).await
    }

    async fn remember_request(
        &self,
        serverid: &ServerId,
        digest: &str,
        until: UnixTime,
    ) -> Result<(), StoreError> {
        self.inner.remember_request(serverid, digest, until).await
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.inner.create_session(session).await?;
        let _ = self.tx.send((None, session.clone()));
        Ok(())
    }

    async fn update_session(
        &self,
        session: &Session,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        // The old image costs a read here; DynamoDB Streams deliver it for free in AWS.
        let old = self.inner.get_session(&session.hsid).await?;
        self.inner.update_session(session, expected_version).await?;
        let _ = self.tx.send((old, session.clone()));
        Ok(())
    }
}
