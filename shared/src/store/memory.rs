use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Store, StoreError};
use crate::apikey::ApiKeyRecord;
use crate::clock::UnixTime;
use crate::ids::{Hsid, ServerId};
use crate::server::Server;
use crate::session::Session;
use crate::settings::ServerSettings;

#[derive(Default)]
struct Tables {
    servers: BTreeMap<ServerId, Server>,
    keys: BTreeMap<(ServerId, String), ApiKeyRecord>,
    sessions: BTreeMap<(ServerId, Hsid), Session>,
}

/// The local stack's embedded store. One mutex makes every conditional write atomic, as
/// DynamoDB's are. TTL clean-up is not modelled: a local stack does not run for months.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock cannot leave a half-written item: every write
        // below is a single insert.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_server(&self, server: &Server) -> Result<(), StoreError> {
        let mut t = self.lock();
        if t.servers.contains_key(&server.serverid) {
            return Err(StoreError::ConditionFailed);
        }
        t.servers.insert(server.serverid.clone(), server.clone());
        Ok(())
    }

    async fn get_server(&self, serverid: &ServerId) -> Result<Option<Server>, StoreError> {
        Ok(self.lock().servers.get(serverid).cloned())
    }

    async fn list_servers(&self) -> Result<Vec<Server>, StoreError> {
        Ok(self.lock().servers.values().cloned().collect())
    }

    async fn update_server_settings(
        &self,
        serverid: &ServerId,
        settings: &ServerSettings,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let s = t
            .servers
            .get_mut(serverid)
            .ok_or(StoreError::ConditionFailed)?;
        s.settings = settings.clone();
        Ok(())
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (key.serverid.clone(), key.keyid.clone());
        if t.keys.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.keys.insert(k, key.clone());
        Ok(())
    }

    async fn list_api_keys(&self, serverid: &ServerId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(self
            .lock()
            .keys
            .values()
            .filter(|k| &k.serverid == serverid)
            .cloned()
            .collect())
    }

    async fn revoke_api_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        match t.keys.get_mut(&(serverid.clone(), keyid.to_string())) {
            Some(k) if k.revoked.is_none() => {
                k.revoked = Some(at);
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn get_server_and_key(
        &self,
        serverid: &ServerId,
        keyid: &str,
    ) -> Result<(Option<Server>, Option<ApiKeyRecord>), StoreError> {
        let t = self.lock();
        Ok((
            t.servers.get(serverid).cloned(),
            t.keys.get(&(serverid.clone(), keyid.to_string())).cloned(),
        ))
    }

    async fn get_session(
        &self,
        serverid: &ServerId,
        hsid: &Hsid,
    ) -> Result<Option<Session>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .get(&(serverid.clone(), hsid.clone()))
            .cloned())
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (session.serverid.clone(), session.hsid.clone());
        if t.sessions.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.sessions.insert(k, session.clone());
        Ok(())
    }

    async fn update_session(
        &self,
        session: &Session,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (session.serverid.clone(), session.hsid.clone());
        match t.sessions.get(&k) {
            Some(cur) if cur.version == expected_version => {
                t.sessions.insert(k, session.clone());
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }
}
