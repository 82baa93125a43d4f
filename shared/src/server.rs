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
    /// Bumped by every change of the settings; the condition of the next one. Servers
    /// stored before it existed read as 0.
    #[serde(default)]
    pub version: u64,
}

impl Server {
    pub fn new(settings: ServerSettings, now: UnixTime) -> Self {
        Server::with_id(ServerId::generate(), settings, now)
    }

    pub fn with_id(serverid: ServerId, settings: ServerSettings, now: UnixTime) -> Self {
        Server {
            serverid,
            created: now,
            settings,
            version: 1,
        }
    }

    /// The server with other settings, one version on.
    pub fn with_settings(&self, settings: ServerSettings) -> Server {
        Server {
            settings,
            version: self.version + 1,
            ..self.clone()
        }
    }
}
