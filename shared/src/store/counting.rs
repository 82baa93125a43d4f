use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Store, StoreError};
use crate::apikey::ApiKeyRecord;
use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};
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
    async fn get_session(
        &self,
        serverid: &ServerId,
        hsid: &Hsid,
    ) -> Result<Option<Session>, StoreError> {
        self.hit("get_session");
        self.inner.get_session(serverid, hsid).await
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
}
