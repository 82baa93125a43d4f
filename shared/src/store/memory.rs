use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::dynamo::page_of;
use super::{
    AccountKey, AccountStore, AttributeStore, ChangeStream, Counted, KeyClaim, NetworkSeen, Page,
    PushCounterStore, ReplayStore, RoleStore, SUBSCRIPTION_SECONDS, ServerStore, SessionCursor,
    SessionStore, StoreError, SubscriptionStore,
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
use crate::settings::MAX_WINDOW;
use crate::signing::MAX_SKEW_SECONDS;

type CounterKey = (ServerId, String, i64);

/// An item that DynamoDB's TTL would remove, by kind and key (the key of its table below).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Expiring {
    Session(Hsid),
    /// An account whose enrolment is unfinished.
    Account((ServerId, u64)),
    EnrolToken((ServerId, String)),
    Sweep((ServerId, u64)),
    Replay((ServerId, String)),
    PushCounter(CounterKey),
    Subscription((Hsid, String)),
    Pull((ServerId, u64, Hsid)),
    Network((ServerId, String, String)),
}

#[derive(Default)]
struct Tables {
    servers: BTreeMap<ServerId, Server>,
    grants: BTreeMap<(ServerId, String), Grant>,
    roles: BTreeMap<String, Role>,
    attributes: BTreeMap<AttributeScope, Attributes>,
    sessions: BTreeMap<Hsid, Session>,
    account_counters: BTreeMap<ServerId, u64>,
    accounts: BTreeMap<(ServerId, u64), Account>,
    enrol_tokens: BTreeMap<(ServerId, String), EnrolToken>,
    /// When each key was claimed, and by which enrolment token (hash).
    public_keys: BTreeMap<(ServerId, String), (UnixTime, String)>,
    sweeps: BTreeMap<(ServerId, u64), AccountSweep>,
    /// The `until` (TTL) of each replay record.
    seen_requests: BTreeMap<(ServerId, String), UnixTime>,
    /// Count and TTL of each counter.
    push_counts: BTreeMap<CounterKey, (u32, UnixTime)>,
    /// The `until` (TTL) of each subscription.
    subscriptions: BTreeMap<(Hsid, String), UnixTime>,
    /// The networks each user logged in from (server, user, digest), with their TTL.
    networks: BTreeMap<(ServerId, String, String), UnixTime>,
    /// Pushes recorded for the phones to fetch, by account and session.
    pulls: BTreeMap<(ServerId, u64, Hsid), PendingPull>,
    /// Every item above that has a TTL, under its TTL: what expiry looks at, soonest first.
    /// Kept exact (a write that moves an item's TTL moves its entry; a delete removes it),
    /// so it never holds more entries than there are such items.
    expiry: BTreeSet<(UnixTime, Expiring)>,
    /// The store's notion of now. It has no clock: each write proves that some time has
    /// been reached (a session's `updated`, a token's `created`, a replay record's `until`
    /// less how far ahead of now it can be, ...), and `now` is the latest of those. It never
    /// runs ahead of the real now, so nothing is dropped before its TTL has passed.
    now: UnixTime,
}

/// How far a replay record's `until` can be ahead of now: the phone service keeps a record
/// until its timestamp's window is over plus a minute, and the timestamp is at most the
/// window ahead.
const REPLAY_LIFE: UnixTime = 2 * MAX_SKEW_SECONDS + 60;
/// How far a push counter's TTL can be ahead of now: the longest window and the hour the
/// counter outlives it.
const COUNTER_LIFE: UnixTime = MAX_WINDOW as UnixTime + 3_600;
/// Expired items dropped at most by one write: the cost of expiry is spread over the
/// writes (bounded per request, never a pass over everything), and since no write files
/// more than one new TTL, a backlog of expired items shrinks with every write.
const PRUNE_STEP: usize = 64;

impl Tables {
    /// Before a write: `reached` is a time the write proves is past (`now` moves up to it),
    /// then up to [`PRUNE_STEP`] items whose TTL is before `now` are dropped, soonest first,
    /// as DynamoDB's TTL drops them (an item expires once its TTL is less than now).
    fn write(&mut self, reached: Option<UnixTime>) {
        if let Some(t) = reached {
            self.now = self.now.max(t);
        }
        for _ in 0..PRUNE_STEP {
            match self.expiry.first() {
                Some((ttl, _)) if *ttl < self.now => {}
                _ => break,
            }
            if let Some((ttl, item)) = self.expiry.pop_first() {
                self.drop_expired(ttl, item);
            }
        }
    }

    /// Drops an item whose TTL `ttl` is over, if that is still its TTL.
    fn drop_expired(&mut self, ttl: UnixTime, item: Expiring) {
        fn drop_if<K: Ord, V>(map: &mut BTreeMap<K, V>, k: &K, over: impl Fn(&V) -> bool) {
            if map.get(k).is_some_and(over) {
                map.remove(k);
            }
        }
        match item {
            Expiring::Session(k) => drop_if(&mut self.sessions, &k, |s| s.ttl == ttl),
            Expiring::Account(k) => drop_if(&mut self.accounts, &k, |a| a.enrolling == Some(ttl)),
            Expiring::EnrolToken(k) => drop_if(&mut self.enrol_tokens, &k, |t| t.ttl == ttl),
            Expiring::Sweep(k) => drop_if(&mut self.sweeps, &k, |s| s.ttl == ttl),
            Expiring::Replay(k) => drop_if(&mut self.seen_requests, &k, |u| *u == ttl),
            Expiring::PushCounter(k) => drop_if(&mut self.push_counts, &k, |(_, e)| *e == ttl),
            Expiring::Subscription(k) => drop_if(&mut self.subscriptions, &k, |u| *u == ttl),
            Expiring::Pull(k) => drop_if(&mut self.pulls, &k, |p| pull_ttl(p) == ttl),
            Expiring::Network(k) => drop_if(&mut self.networks, &k, |u| *u == ttl),
        }
    }

    /// Files an item under its TTL `ttl`, moving it from `before`, the TTL it had if it
    /// existed.
    fn expires(&mut self, before: Option<UnixTime>, ttl: UnixTime, item: Expiring) {
        if before == Some(ttl) {
            return;
        }
        let mut entry = (before.unwrap_or(ttl), item);
        if before.is_some() {
            self.expiry.remove(&entry);
        }
        entry.0 = ttl;
        self.expiry.insert(entry);
    }

    /// A finished account (an unfinished enrolment's is read only by that enrolment).
    fn account(&self, serverid: &ServerId, accountid: u64) -> Option<Account> {
        self.accounts
            .get(&(serverid.clone(), accountid))
            .filter(|a| a.is_finished())
            .cloned()
    }

    /// Takes a deleted item out of the expiry index.
    fn unfile(&mut self, ttl: UnixTime, item: Expiring) {
        self.expiry.remove(&(ttl, item));
    }
}

/// The local stack's embedded store. One mutex makes every conditional write atomic, as
/// DynamoDB's are. What DynamoDB's TTL removes (sessions, enrolment tokens, account sweeps,
/// replay records, push counters, subscriptions) is dropped here once its TTL has passed by
/// the store's notion of now (see `Tables::now`), a bounded number of items per write, so
/// that a local stack that runs for weeks holds what is live and little more. As in
/// DynamoDB, an item past its TTL may still be read until it is dropped: correctness never
/// depends on expiry (the domain decides at read time whether a session is over).
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

    /// How many items of each kind the store holds (`ttl_index` is the expiry index's
    /// entries, one per item with a TTL): for tests of what expiry gives back.
    pub fn len_by_kind(&self) -> BTreeMap<&'static str, usize> {
        let t = self.lock();
        BTreeMap::from([
            ("servers", t.servers.len()),
            ("grants", t.grants.len()),
            ("roles", t.roles.len()),
            ("attributes", t.attributes.len()),
            ("sessions", t.sessions.len()),
            ("account_counters", t.account_counters.len()),
            ("accounts", t.accounts.len()),
            ("enrol_tokens", t.enrol_tokens.len()),
            ("public_keys", t.public_keys.len()),
            ("sweeps", t.sweeps.len()),
            ("replays", t.seen_requests.len()),
            ("push_counters", t.push_counts.len()),
            ("subscriptions", t.subscriptions.len()),
            ("pulls", t.pulls.len()),
            ("ttl_index", t.expiry.len()),
        ])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock cannot leave a half-written item: every write
        // below is an insert (and its expiry entry), none of which panics.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tables for a write that proves `reached` is past (if it says): expired items
    /// are dropped first, a bounded number of them.
    fn write(&self, reached: Option<UnixTime>) -> std::sync::MutexGuard<'_, Tables> {
        let mut t = self.lock();
        t.write(reached);
        t
    }
}

#[async_trait]
impl ServerStore for MemoryStore {
    async fn create_server(&self, server: &Server) -> Result<(), StoreError> {
        let mut t = self.write(None);
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
        let mut t = self.write(None);
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

    async fn set_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let mut t = self.write(None);
        let k = (grant.serverid.clone(), grant.roleid.clone());
        match t.grants.get_mut(&k) {
            Some(g) => g.permissions = grant.permissions.clone(),
            None => {
                t.grants.insert(k, grant.clone());
            }
        }
        Ok(())
    }

    async fn put_legacy_key(&self, grant: &Grant) -> Result<(), StoreError> {
        let mut t = self.write(None);
        let k = (grant.serverid.clone(), grant.roleid.clone());
        if t.grants.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.grants.insert(k, grant.clone());
        Ok(())
    }

    async fn delete_grant(&self, serverid: &ServerId, roleid: &str) -> Result<bool, StoreError> {
        let mut t = self.write(None);
        Ok(t.grants
            .remove(&(serverid.clone(), roleid.to_string()))
            .is_some())
    }

    async fn list_grants(&self, serverid: &ServerId) -> Result<Vec<Grant>, StoreError> {
        Ok(self
            .lock()
            .grants
            .values()
            .filter(|g| &g.serverid == serverid)
            .cloned()
            .collect())
    }

    async fn role_grants(&self, roleid: &str) -> Result<Vec<Grant>, StoreError> {
        Ok(self
            .lock()
            .grants
            .values()
            .filter(|g| g.roleid == roleid)
            .cloned()
            .collect())
    }

    async fn revoke_legacy_key(
        &self,
        serverid: &ServerId,
        roleid: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        let mut t = self.write(Some(at));
        match t.grants.get_mut(&(serverid.clone(), roleid.to_string())) {
            Some(g) if g.revoked.is_none() && g.is_legacy_key() => {
                g.revoked = Some(at);
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn get_server_and_role(
        &self,
        serverid: &ServerId,
        roleid: &str,
    ) -> Result<(Option<Server>, RoleItems), StoreError> {
        let t = self.lock();
        Ok((
            t.servers.get(serverid).cloned(),
            t.role_items(Some(serverid), roleid),
        ))
    }
}

impl Tables {
    fn role_items(&self, serverid: Option<&ServerId>, roleid: &str) -> RoleItems {
        RoleItems {
            grant: serverid
                .and_then(|s| self.grants.get(&(s.clone(), roleid.to_string())).cloned()),
            role: self.roles.get(roleid).cloned(),
        }
    }
}

#[async_trait]
impl RoleStore for MemoryStore {
    async fn create_role(&self, role: &Role) -> Result<(), StoreError> {
        let mut t = self.write(Some(role.created));
        if t.roles.contains_key(&role.roleid) {
            return Err(StoreError::ConditionFailed);
        }
        t.roles.insert(role.roleid.clone(), role.clone());
        Ok(())
    }

    async fn get_role_items(
        &self,
        serverid: Option<&ServerId>,
        roleid: &str,
    ) -> Result<RoleItems, StoreError> {
        Ok(self.lock().role_items(serverid, roleid))
    }

    async fn revoke_role(&self, roleid: &str, at: UnixTime) -> Result<(), StoreError> {
        let mut t = self.write(Some(at));
        match t.roles.get_mut(roleid) {
            Some(r) if r.revoked.is_none() => {
                r.revoked = Some(at);
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn set_role_global(&self, roleid: &str, global: &[Permission]) -> Result<(), StoreError> {
        let mut t = self.write(None);
        let r = t.roles.get_mut(roleid).ok_or(StoreError::ConditionFailed)?;
        r.global = global.to_vec();
        Ok(())
    }

    async fn roles_created_by(&self, roleid: &str) -> Result<Vec<Role>, StoreError> {
        let mut roles: Vec<Role> = self
            .lock()
            .roles
            .values()
            .filter(|r| r.creator.as_deref() == Some(roleid))
            .cloned()
            .collect();
        roles.sort_by(|a, b| (a.created, &a.roleid).cmp(&(b.created, &b.roleid)));
        Ok(roles)
    }
}

#[async_trait]
impl AttributeStore for MemoryStore {
    async fn get_attributes(
        &self,
        scope: &AttributeScope,
    ) -> Result<Option<Attributes>, StoreError> {
        Ok(self.lock().attributes.get(scope).cloned())
    }

    async fn put_attributes(
        &self,
        scope: &AttributeScope,
        attributes: &Attributes,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut t = self.write(None);
        let stored = t.attributes.get(scope).map(|a| a.version).unwrap_or(0);
        if stored != expected_version {
            return Err(StoreError::ConditionFailed);
        }
        t.attributes.insert(scope.clone(), attributes.clone());
        Ok(())
    }

    async fn delete_attributes(&self, scope: &AttributeScope) -> Result<(), StoreError> {
        self.write(None).attributes.remove(scope);
        Ok(())
    }

    async fn user_attributes(
        &self,
        serverid: &ServerId,
    ) -> Result<Vec<(String, Attributes)>, StoreError> {
        Ok(self
            .lock()
            .attributes
            .iter()
            .filter_map(|(scope, a)| match scope {
                AttributeScope::User(s, userid) if s == serverid => {
                    Some((userid.clone(), a.clone()))
                }
                _ => None,
            })
            .collect())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get_session(&self, hsid: &Hsid) -> Result<Option<Session>, StoreError> {
        Ok(self.lock().sessions.get(hsid).cloned())
    }

    async fn get_session_with_role(
        &self,
        hsid: &Hsid,
        serverid: &ServerId,
        roleid: &str,
    ) -> Result<(Option<Server>, RoleItems, Option<Session>), StoreError> {
        let t = self.lock();
        Ok((
            t.servers.get(serverid).cloned(),
            t.role_items(Some(serverid), roleid),
            t.sessions.get(hsid).cloned(),
        ))
    }

    async fn get_session_with_account(
        &self,
        hsid: &Hsid,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<(Option<Server>, Option<Account>, Option<Session>), StoreError> {
        let t = self.lock();
        Ok((
            t.servers.get(serverid).cloned(),
            t.account(serverid, accountid),
            t.sessions.get(hsid).cloned(),
        ))
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut t = self.write(Some(session.updated));
        if t.sessions.contains_key(&session.hsid) {
            return Err(StoreError::ConditionFailed);
        }
        t.sessions.insert(session.hsid.clone(), session.clone());
        t.expires(None, session.ttl, Expiring::Session(session.hsid.clone()));
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
        let mut t = self.write(Some(session.updated));
        match t.sessions.get(&session.hsid) {
            Some(cur) if cur.version == expected_version => {
                let before = cur.ttl;
                let old = t.sessions.insert(session.hsid.clone(), session.clone());
                t.expires(
                    Some(before),
                    session.ttl,
                    Expiring::Session(session.hsid.clone()),
                );
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

    async fn sessions_ending(&self, minute: i64) -> Result<Vec<Hsid>, StoreError> {
        // The same entries as DynamoDB's sparse index, found by going over the sessions
        // (in hsid order, as the index sorts them).
        Ok(self
            .lock()
            .sessions
            .values()
            .filter(|s| s.ending_minute() == Some(minute))
            .map(|s| s.hsid.clone())
            .collect())
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn allocate_accountid(&self, serverid: &ServerId) -> Result<u64, StoreError> {
        let mut t = self.write(None);
        if !t.servers.contains_key(serverid) {
            return Err(StoreError::ConditionFailed);
        }
        let n = t.account_counters.entry(serverid.clone()).or_default();
        *n += 1;
        Ok(*n)
    }

    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut t = self.write(Some(account.created));
        let k = (account.serverid.clone(), account.accountid);
        if t.accounts.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.accounts.insert(k.clone(), account.clone());
        if let Some(ttl) = account.enrolling {
            t.expires(None, ttl, Expiring::Account(k));
        }
        Ok(())
    }

    async fn get_account(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self.lock().account(serverid, accountid))
    }

    async fn get_enrolment_account(
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
            t.account(serverid, accountid),
        ))
    }

    async fn update_account(
        &self,
        account: &Account,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut t = self.write(None);
        let k = (account.serverid.clone(), account.accountid);
        match t.accounts.get(&k) {
            Some(cur) if cur.version == expected_version => {
                let before = cur.enrolling;
                t.accounts.insert(k.clone(), account.clone());
                match (before, account.enrolling) {
                    (Some(b), Some(a)) => t.expires(Some(b), a, Expiring::Account(k)),
                    (Some(b), None) => t.unfile(b, Expiring::Account(k)),
                    (None, Some(a)) => t.expires(None, a, Expiring::Account(k)),
                    (None, None) => {}
                }
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn delete_account(&self, serverid: &ServerId, accountid: u64) -> Result<(), StoreError> {
        let mut t = self.write(None);
        let k = (serverid.clone(), accountid);
        let gone = t.accounts.remove(&k).ok_or(StoreError::ConditionFailed)?;
        if let Some(ttl) = gone.enrolling {
            t.unfile(ttl, Expiring::Account(k));
        }
        Ok(())
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
            .filter(|a| {
                &a.serverid == serverid && a.userid.as_deref() == Some(userid) && a.is_finished()
            })
            .cloned()
            .collect())
    }

    async fn account_index(&self, serverid: &ServerId) -> Result<Vec<AccountKey>, StoreError> {
        let mut keys: Vec<AccountKey> = self
            .lock()
            .accounts
            .values()
            .filter(|a| &a.serverid == serverid && a.is_finished())
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
            .filter_map(|id| inner.account(serverid, *id))
            .collect())
    }

    async fn put_sweep(&self, sweep: &AccountSweep) -> Result<(), StoreError> {
        let mut t = self.write(Some(sweep.started));
        let k = (sweep.serverid.clone(), sweep.accountid);
        let before = t.sweeps.insert(k.clone(), sweep.clone()).map(|s| s.ttl);
        t.expires(before, sweep.ttl, Expiring::Sweep(k));
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
        let mut t = self.write(Some(sweep.started));
        let k = (sweep.serverid.clone(), sweep.accountid);
        match t.sweeps.get_mut(&k) {
            Some(cur) if cur.run == sweep.run && cur.seen == seen_before => {
                let before = cur.ttl;
                *cur = sweep.clone();
                t.expires(Some(before), sweep.ttl, Expiring::Sweep(k));
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn finish_sweep(&self, sweep: &AccountSweep) -> Result<(), StoreError> {
        let mut t = self.write(Some(sweep.started));
        let k = (sweep.serverid.clone(), sweep.accountid);
        match t.sweeps.get(&k) {
            Some(cur) if cur.run == sweep.run => {
                let ttl = cur.ttl;
                t.sweeps.remove(&k);
                t.unfile(ttl, Expiring::Sweep(k));
                Ok(())
            }
            _ => Err(StoreError::ConditionFailed),
        }
    }

    async fn claim_public_key(
        &self,
        serverid: &ServerId,
        fingerprint: &str,
        token_hash: &str,
        at: UnixTime,
    ) -> Result<KeyClaim, StoreError> {
        let mut t = self.write(Some(at));
        let k = (serverid.clone(), fingerprint.to_string());
        match t.public_keys.get(&k) {
            Some((_, by)) if by == token_hash => Ok(KeyClaim::Held),
            Some(_) => Err(StoreError::ConditionFailed),
            None => {
                t.public_keys.insert(k, (at, token_hash.to_string()));
                Ok(KeyClaim::New)
            }
        }
    }

    async fn release_public_key(
        &self,
        serverid: &ServerId,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        self.write(None)
            .public_keys
            .remove(&(serverid.clone(), fingerprint.to_string()));
        Ok(())
    }

    async fn put_enrol_token(&self, token: &EnrolToken) -> Result<(), StoreError> {
        let mut t = self.write(Some(token.created));
        let k = (token.serverid.clone(), token.token_hash.clone());
        if t.enrol_tokens.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.enrol_tokens.insert(k.clone(), token.clone());
        t.expires(None, token.ttl, Expiring::EnrolToken(k));
        Ok(())
    }

    async fn use_enrol_token(
        &self,
        serverid: &ServerId,
        token_hash: &str,
        by: &TokenUse<'_>,
        now: UnixTime,
    ) -> Result<EnrolToken, StoreError> {
        let mut t = self.write(Some(now));
        match t
            .enrol_tokens
            .get_mut(&(serverid.clone(), token_hash.to_string()))
        {
            Some(tok)
                if tok.expires_at > now
                    && (tok.used.is_none() || tok.used_by.as_deref() == Some(by.fingerprint)) =>
            {
                tok.used.get_or_insert(now);
                tok.used_by = Some(by.fingerprint.to_string());
                tok.accountid.get_or_insert(by.accountid);
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
        // The counter's TTL is at most a window and an hour ahead of now.
        let mut t = self.write(Some(ttl - COUNTER_LIFE));
        let k = (serverid.clone(), counted.to_string(), window);
        let (n, before) = match t.push_counts.get(&k) {
            Some((n, expires)) => (*n, Some(*expires)),
            None => (0, None),
        };
        if n >= limit {
            return Err(StoreError::ConditionFailed);
        }
        t.push_counts.insert(k.clone(), (n + 1, ttl));
        t.expires(before, ttl, Expiring::PushCounter(k));
        Ok(n + 1)
    }

    async fn adjust_push_count(
        &self,
        serverid: &ServerId,
        counted: Counted<'_>,
        window: i64,
        delta: i32,
        ttl: UnixTime,
    ) -> Result<(), StoreError> {
        let mut t = self.write(Some(ttl - COUNTER_LIFE));
        let k = (serverid.clone(), counted.to_string(), window);
        match t.push_counts.get_mut(&k) {
            Some((n, _)) if delta < 0 => *n = n.saturating_sub(delta.unsigned_abs()),
            Some((n, expires)) => {
                *n += delta as u32;
                let before = std::mem::replace(expires, ttl);
                t.expires(Some(before), ttl, Expiring::PushCounter(k));
            }
            None if delta > 0 => {
                t.push_counts.insert(k.clone(), (delta as u32, ttl));
                t.expires(None, ttl, Expiring::PushCounter(k));
            }
            None => {}
        }
        Ok(())
    }

    async fn put_pull(&self, pull: &PendingPull) -> Result<(), StoreError> {
        let mut t = self.write(Some(pull.pushed_at));
        let k = (pull.serverid.clone(), pull.accountid, pull.hsid.clone());
        let before = t
            .pulls
            .insert(k.clone(), pull.clone())
            .map(|p| pull_ttl(&p));
        t.expires(before, pull_ttl(pull), Expiring::Pull(k));
        Ok(())
    }

    async fn pulls(
        &self,
        serverid: &ServerId,
        accountid: u64,
    ) -> Result<Vec<PendingPull>, StoreError> {
        let t = self.lock();
        Ok(t.pulls
            .iter()
            .filter(|((s, a, _), _)| s == serverid && *a == accountid)
            .map(|(_, p)| p.clone())
            .take(MAX_PULLS)
            .collect())
    }

    async fn note_network(
        &self,
        serverid: &ServerId,
        userid: &str,
        network: &str,
        at: UnixTime,
        until: UnixTime,
    ) -> Result<NetworkSeen, StoreError> {
        let mut t = self.write(Some(at));
        let k = (serverid.clone(), userid.to_string(), network.to_string());
        // An item past its TTL that DynamoDB has not removed yet is not known.
        let before = t.networks.insert(k.clone(), until);
        t.expires(before, until, Expiring::Network(k));
        if before.is_some_and(|ttl| ttl > at) {
            return Ok(NetworkSeen::Known);
        }
        let others = t
            .networks
            .range((serverid.clone(), userid.to_string(), String::new())..)
            .take_while(|((s, u, _), _)| s == serverid && u == userid)
            .filter(|((_, _, n), ttl)| n != network && **ttl > at)
            .count();
        Ok(if others == 0 {
            NetworkSeen::First
        } else {
            NetworkSeen::New
        })
    }
}

/// A recorded push is dropped a minute after its attempt's end.
fn pull_ttl(p: &PendingPull) -> UnixTime {
    p.until + 60
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
        // A new subscription's `until` is now plus a subscription's whole life.
        let mut t = self.write(Some(until - SUBSCRIPTION_SECONDS));
        let key = (hsid.clone(), conn.to_string());
        if !t.subscriptions.contains_key(&key)
            && t.subscriptions.keys().filter(|(_, c)| c == conn).count() >= max
        {
            return Err(StoreError::ConditionFailed);
        }
        let before = t.subscriptions.insert(key.clone(), until);
        t.expires(before, until, Expiring::Subscription(key));
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
        let mut t = self.write(None);
        let key = (hsid.clone(), conn.to_string());
        if let Some(until) = t.subscriptions.remove(&key) {
            t.unfile(until, Expiring::Subscription(key));
        }
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
        // A record is kept until its `until` (its timestamp's window), which is at most
        // `REPLAY_LIFE` ahead of now.
        let mut t = self.write(Some(until - REPLAY_LIFE));
        let k = (serverid.clone(), digest.to_string());
        if t.seen_requests.contains_key(&k) {
            return Err(StoreError::ConditionFailed);
        }
        t.seen_requests.insert(k.clone(), until);
        t.expires(None, until, Expiring::Replay(k));
        Ok(())
    }
}
