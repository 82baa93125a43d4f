//! An optional in-process cache of the server and API key items a website call reads
//! (`NSAUTH_KEY_CACHE_SECONDS`, 0 to 60, off by default). With it, a getSession poll reads
//! only its session (one GetItem, 1 read unit instead of 3), and a call without a session
//! reads nothing before its work. The price is a delay: a revoked key is still taken, and a
//! server's changed settings are still the old ones, for up to that many seconds in each
//! function instance that cached them. Only a key that was valid when read is kept; the
//! secret is checked against the cached hash on every call, as against the stored one.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::UnixTime;
use crate::ids::ServerId;
use crate::role::RoleItems;
use crate::server::Server;

use crate::config::MAX_KEY_CACHE_SECONDS as MAX_SECONDS;
/// Entries kept at most (a deployment has a few keys; a flood of unknown key ids is never
/// cached, since only stored keys are).
const MAX_ENTRIES: usize = 1024;

struct Cached {
    until: UnixTime,
    server: Server,
    items: RoleItems,
}

pub struct KeyCache {
    seconds: u32,
    entries: Mutex<HashMap<(ServerId, String), Cached>>,
}

impl KeyCache {
    /// A cache keeping entries `seconds` (0: a cache that keeps nothing).
    pub fn new(seconds: u32) -> Self {
        KeyCache {
            seconds: seconds.min(MAX_SECONDS),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_on(&self) -> bool {
        self.seconds > 0
    }

    /// The server and key item read within the last `seconds`, if any.
    pub fn get(
        &self,
        serverid: &ServerId,
        keyid: &str,
        now: UnixTime,
    ) -> Option<(Server, RoleItems)> {
        if !self.is_on() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(serverid.clone(), keyid.to_string()))
            .filter(|c| now < c.until)
            .map(|c| (c.server.clone(), c.items.clone()))
    }

    /// Keeps what a call read for a key that the call found valid (callers put only
    /// after the key's verification passed).
    pub fn put(&self, server: &Server, roleid: &str, items: &RoleItems, now: UnixTime) {
        if !self.is_on() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, c| now < c.until);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            (server.serverid.clone(), roleid.to_string()),
            Cached {
                until: now + UnixTime::from(self.seconds),
                server: server.clone(),
                items: items.clone(),
            },
        );
    }
}
