use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::dynamo::page_of;
use super::{
    AccountKey, AccountStore, ChangeStream, Counted, Page, PushCounterStore, ReplayStore,
    SUBSCRIPTION_SECONDS, ServerStore, SessionCursor, SessionStore, StoreError, SubscriptionStore,
};
use crate::account::{Account, AccountSweep};
use crate::apikey::ApiKeyRecord;
use crate::clock::UnixTime;
use crate::enrolment::EnrolToken;
use crate::ids::{Hsid, ServerId};
use crate::server::Server;
use crate::session::Session;
use crate::settings::MAX_WINDOW;
use crate::signing::MAX_SKEW_SECONDS;

#[derive(Default)]
struct Tables {
    servers: BTreeMap<ServerId, Server>,
    keys: BTreeMap<(ServerId, String), ApiKeyRecord>,
    sessions: BTreeMap<Hsid, Session>,
    account_counters: BTreeMap<ServerId, u64>,
    accounts: BTreeMap<(ServerId, u64), Account>,
    enrol_tokens: BTreeMap<(ServerId, String), EnrolToken>,
    public_keys: BTreeMap<(ServerId, String), UnixTime>,
    sweeps: BTreeMap<(ServerId, u64), AccountSweep>,
    seen_requests: BTreeMap<(ServerId, String), UnixTime>,
    /// Count and TTL of each counter.
    push_counts: BTreeMap<(ServerId, String, i64), (u32, UnixTime)>,
    subscriptions: BTreeMap<(Hsid, String), UnixTime>,
}

/// How far a replay record's `until` can be ahead of now: the phone service keeps a record
/// until its timestamp's window is over plus a minute, and the timestamp is at most the
/// window ahead.
const REPLAY_LIFE: UnixTime = 2 * MAX_SKEW_SECONDS + 60;
/// How far a push counter's TTL can be ahead of now: the longest window and the hour the
/// counter outlives it.
const COUNTER_LIFE: UnixTime = MAX_WINDOW as UnixTime + 3_600;
/// Records held before expired ones are looked for.
const PRUNE_AT: usize = 1024;

/// The local stack's embedded store. One mutex makes every conditional write atomic, as
/// DynamoDB's are. What DynamoDB's TTL removes (subscriptions, replay records, push
/// counters) is dropped here once certainly expired: the store has no clock, so "now" is
/// bounded by the newest record's expiry minus how far ahead of now it can be.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    stream: Option<ChangeStream>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces every session write on `stream`.
    pub fn with_stream(mut self, stream: ChangeStream) -> Self {
        self.stream = Some(stream);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock cannot leave a half-written item: every write
        // below is a single insert.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ServerStore for MemoryStore {
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

    async fn update_server(
        &self,
        server: &Server,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        match t.servers.get_mut(&server.serverid) {
            Some(s) if s.version == expected_version => {
                s.settings = server.settings.clone();
                s.secret = server.secret.clone();
                s.version = server.version;
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
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
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get_session(&self, hsid: &Hsid) -> Result<Option<Session>, StoreError> {
        Ok(self.lock().sessions.get(hsid).cloned())
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut t = self.lock();
        if t.sessions.contains_key(&session.hsid) {
            return Err(StoreError::ConditionFailed);
        }
        t.sessions.insert(session.hsid.clone(), session.clone());
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
        let mut t = self.lock();
        match t.sessions.get(&session.hsid) {
            Some(cur) if cur.version == expected_version => {
                let old = t.sessions.insert(session.hsid.clone(), session.clone());
                if let Some(stream) = &self.stream {
                    stream.announce(old, session);
                }
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn account_sessions(
        &self,
        serverid: &ServerId,
        accountid: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Session>, StoreError> {
        let after = cursor.map(SessionCursor::parse_or_corrupt).transpose()?;
        let t = self.lock();
        let mut found: Vec<(SessionCursor, &Session)> = t
            .sessions
            .values()
            .filter(|s| &s.serverid == serverid && s.last_accountid == Some(accountid))
            .filter_map(|s| {
                s.login_at.map(|at| {
                    (
                        SessionCursor {
                            login_at: at,
                            hsid: s.hsid.clone(),
                        },
                        s,
                    )
                })
            })
            .filter(|(c, _)| after.as_ref().is_none_or(|a| c < a))
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0));
        let sessions = found
            .into_iter()
            .take(limit as usize + 1)
            .map(|(_, s)| s.clone())
            .collect();
        Ok(page_of(sessions, limit as usize))
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn allocate_accountid(&self, serverid: &ServerId) -> Result<u64, StoreError> {
        let mut t = self.lock();
        if !t.servers.contains_key(serverid) {
            return Err(StoreError::ConditionFailed);
        }
        let n = t.account_counters.entry(serverid.clone()).or_default();
        *n += 1;
        Ok(*n)
    }

    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (account.serverid.clone(), account.accountid);
        if t.accounts.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.accounts.insert(k, account.clone());
        Ok(())
    }

    async fn get_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self
            .lock()
            .accounts
            .get(&(serverid.clone(), accountid))
            .cloned())
    }

    async fn get_server_and_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<(Option<Server>, Option<Account>), StoreError> {
        let t = self.lock();
        Ok((
            t.servers.get(serverid).cloned(),
            t.accounts.get(&(serverid.clone(), accountid)).cloned(),
        ))
    }

    async fn update_account(
        &self,
        account: &Account,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (account.serverid.clone(), account.accountid);
        match t.accounts.get(&k) {
            Some(cur) if cur.version == expected_version => {
                t.accounts.insert(k, account.clone());
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn delete_account(&self, serverid: &ServerId, accountid: u64) -> Result<(), StoreError> {
        self.lock()
            .accounts
            .remove(&(serverid.clone(), accountid))
            .map(|_| ())
            .ok_or(StoreError::ConditionFailed)
    }

    async fn user_accounts(
        &self,
        serverid: &ServerId,
        userid: &str,
    ) -> Result<Vec<Account>, StoreError> {
        Ok(self
            .lock()
            .accounts
            .values()
            .filter(|a| &a.serverid == serverid && a.userid.as_deref() == Some(userid))
            .cloned()
            .collect())
    }

    async fn account_index(&self, serverid: &ServerId) -> Result<Vec<AccountKey>, StoreError> {
        let mut keys: Vec<AccountKey> = self
            .lock()
            .accounts
            .values()
            .filter(|a| &a.serverid == serverid)
            .map(|a| AccountKey {
                accountid: a.accountid,
                userid: a.userid.clone(),
            })
            .collect();
        keys.sort_by_key(|k| k.accountid);
        Ok(keys)
    }

    async fn get_accounts(
        &self,
        serverid: &ServerId,
        accountids: &[u64],
    ) -> Result<Vec<Account>, StoreError> {
        let inner = self.lock();
        Ok(accountids
            .iter()
            .filter_map(|id| inner.accounts.get(&(serverid.clone(), *id)).cloned())
            .collect())
    }

    async fn put_sweep(&self, sweep: &AccountSweep) -> Result<(), StoreError> {
        self.lock()
            .sweeps
            .insert((sweep.serverid.clone(), sweep.accountid), sweep.clone());
        Ok(())
    }

    async fn get_sweep(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<AccountSweep>, StoreError> {
        Ok(self
            .lock()
            .sweeps
            .get(&(serverid.clone(), accountid))
            .cloned())
    }

    async fn advance_sweep(
        &self,
        sweep: &AccountSweep,
        seen_before: u64,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        match t.sweeps.get_mut(&(sweep.serverid.clone(), sweep.accountid)) {
            Some(cur) if cur.run == sweep.run && cur.seen == seen_before => {
                *cur = sweep.clone();
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn finish_sweep(&self, sweep: &AccountSweep) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (sweep.serverid.clone(), sweep.accountid);
        match t.sweeps.get(&k) {
            Some(cur) if cur.run == sweep.run => {
                t.sweeps.remove(&k);
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn claim_public_key(
        &self,
        serverid: &ServerId,
        fingerprint: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (serverid.clone(), fingerprint.to_string());
        if t.public_keys.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.public_keys.insert(k, at);
        Ok(())
    }

    async fn release_public_key(
        &self,
        serverid: &ServerId,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        self.lock()
            .public_keys
            .remove(&(serverid.clone(), fingerprint.to_string()));
        Ok(())
    }

    async fn put_enrol_token(&self, token: &EnrolToken) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (token.serverid.clone(), token.token_hash.clone());
        if t.enrol_tokens.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.enrol_tokens.insert(k, token.clone());
        Ok(())
    }

    async fn use_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<EnrolToken, StoreError> {
        let mut t = self.lock();
        match t
            .enrol_tokens
            .get_mut(&(serverid.clone(), token_hash.to_string()))
        {
            Some(tok) if tok.used.is_none() && tok.expires_at > now => {
                tok.used = Some(now);
                Ok(tok.clone())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn get_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
    ) -> Result<Option<EnrolToken>, StoreError> {
        Ok(self
            .lock()
            .enrol_tokens
            .get(&(serverid.clone(), token_hash.to_string()))
            .cloned())
    }
}

#[async_trait]
impl PushCounterStore for MemoryStore {
    async fn count_push(
        &self,
        serverid: &ServerId,
        counted: Counted<'_>,
        window: i64,
        limit: u32,
        ttl: UnixTime,
    ) -> Result<u32, StoreError> {
        let mut t = self.lock();
        if t.push_counts.len() >= PRUNE_AT {
            let horizon = ttl - COUNTER_LIFE;
            t.push_counts.retain(|_, (_, expires)| *expires >= horizon);
        }
        let (n, expires) = t
            .push_counts
            .entry((serverid.clone(), counted.to_string(), window))
            .or_insert((0, ttl));
        if *n >= limit {
            return Err(StoreError::ConditionFailed);
        }
        *n += 1;
        *expires = ttl;
        Ok(*n)
    }

    async fn adjust_push_count(
        &self,
        serverid: &ServerId,
        counted: Counted<'_>,
        window: i64,
        delta: i32,
        ttl: UnixTime,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let k = (serverid.clone(), counted.to_string(), window);
        match t.push_counts.get_mut(&k) {
            Some((n, _)) if delta < 0 => *n = n.saturating_sub(delta.unsigned_abs()),
            Some((n, expires)) => {
                *n += delta as u32;
                *expires = ttl;
            }
            None if delta > 0 => {
                t.push_counts.insert(k, (delta as u32, ttl));
            }
            None => {}
        }
        Ok(())
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn subscribe(
        &self,
        conn: &str,
        hsid: &Hsid,
        until: UnixTime,
        max: usize,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        // Subscriptions last until their `until`; a new one's `until` is now plus their whole
        // life, so anything a life older than it is over: dropped, as DynamoDB's TTL would.
        let horizon = until - SUBSCRIPTION_SECONDS;
        t.subscriptions.retain(|_, u| *u >= horizon);
        let key = (hsid.clone(), conn.to_string());
        if !t.subscriptions.contains_key(&key)
            && t.subscriptions.keys().filter(|(_, c)| c == conn).count() >= max
        {
            return Err(StoreError::ConditionFailed);
        }
        t.subscriptions.insert(key, until);
        Ok(())
    }

    async fn connection_sessions(&self, conn: &str) -> Result<Vec<Hsid>, StoreError> {
        Ok(self
            .lock()
            .subscriptions
            .keys()
            .filter(|(_, c)| c == conn)
            .map(|(h, _)| h.clone())
            .collect())
    }

    async fn subscribers(&self, hsid: &Hsid) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()
            .subscriptions
            .keys()
            .filter(|(h, _)| h == hsid)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn unsubscribe(&self, conn: &str, hsid: &Hsid) -> Result<(), StoreError> {
        self.lock()
            .subscriptions
            .remove(&(hsid.clone(), conn.to_string()));
        Ok(())
    }
}

#[async_trait]
impl ReplayStore for MemoryStore {
    async fn remember_request(
        &self,
        serverid: &ServerId,
        digest: &str,
        until: UnixTime,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        // A record is kept until its `until` (its timestamp's window); a new one's `until` is
        // at most a window ahead of now, so records older than that by a window are over:
        // dropped now and then, so that a long-running local stack does not grow without end.
        if t.seen_requests.len() >= PRUNE_AT {
            let horizon = until - REPLAY_LIFE;
            t.seen_requests.retain(|_, u| *u >= horizon);
        }
        let k = (serverid.clone(), digest.to_string());
        if t.seen_requests.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.seen_requests.insert(k, until);
        Ok(())
    }
}
