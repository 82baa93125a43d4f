//! What a handler is given: the store, the push service, the clock and the configuration.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::push::PushSender;
use crate::store::Store;

#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub push: Arc<dyn PushSender>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
}
