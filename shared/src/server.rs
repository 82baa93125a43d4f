//! A virtual server: one website's configuration.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::ids::ServerId;
use crate::settings::ServerSettings;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub serverid: ServerId,
    pub created: UnixTime,
    pub settings: ServerSettings,
}

impl Server {
    pub fn new(settings: ServerSettings, now: UnixTime) -> Self {
        Server {
            serverid: ServerId::generate(),
            created: now,
            settings,
        }
    }
}
