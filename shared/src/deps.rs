//! What a service is given: each store capability, the push service, the clock and the
//! configuration. Each capability is its own handle, so a test (or a future store) can put
//! a wrapper in front of one of them without implementing the others.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::geoip::GeoIp;
use crate::push::PushSender;
use crate::service::key_cache::KeyCache;
use crate::service::sweeps::{Inline, SweepRunner};
use crate::store::{
    AccountStore, AttributeStore, PushCounterStore, ReplayStore, RoleStore, ServerStore,
    SessionStore, Store, SubscriptionStore,
};

#[derive(Clone)]
pub struct Deps {
    pub servers: Arc<dyn ServerStore>,
    pub roles: Arc<dyn RoleStore>,
    pub attributes: Arc<dyn AttributeStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub push_counters: Arc<dyn PushCounterStore>,
    pub subscriptions: Arc<dyn SubscriptionStore>,
    pub replays: Arc<dyn ReplayStore>,
    pub push: Arc<dyn PushSender>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    /// Who runs the passes over an account's sessions (`service::sweeps`).
    pub sweeps: Arc<dyn SweepRunner>,
    /// Server and API key items kept a few seconds, when the configuration asks for it.
    pub key_cache: Arc<KeyCache>,
    /// The operator's GeoIP database, when one is configured (`NSAUTH_GEOIP_DATABASE`).
    pub geoip: Option<Arc<GeoIp>>,
}

impl Deps {
    /// Every capability from one store; passes over an account's sessions run before the
    /// request that starts one answers (see [`Deps::with_sweeps`]).
    pub fn new(
        store: Arc<dyn Store>,
        push: Arc<dyn PushSender>,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
    ) -> Self {
        Deps {
            servers: store.clone(),
            roles: store.clone(),
            attributes: store.clone(),
            sessions: store.clone(),
            accounts: store.clone(),
            push_counters: store.clone(),
            subscriptions: store.clone(),
            replays: store,
            push,
            clock,
            key_cache: Arc::new(KeyCache::new(config.key_cache_seconds)),
            config,
            sweeps: Arc::new(Inline),
            geoip: None,
        }
    }

    /// Who runs the passes over an account's sessions: the table's stream in AWS, a task
    /// in the local stack.
    pub fn with_sweeps(mut self, sweeps: Arc<dyn SweepRunner>) -> Self {
        self.sweeps = sweeps;
        self
    }

    /// Locations from this GeoIP database in the phone's show answer.
    pub fn with_geoip(mut self, geoip: Option<Arc<GeoIp>>) -> Self {
        self.geoip = geoip;
        self
    }
}
