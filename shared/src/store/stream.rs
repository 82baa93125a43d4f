//! The session writes of a store as (old, new) pairs: the local stand-in for DynamoDB
//! Streams, which feed the notifier in AWS. The local stack's WebSocket endpoint turns them
//! into frames with the same code the notifier uses.

use tokio::sync::broadcast;

use crate::session::Session;

/// A session write: the item before (none when it was created) and after.
pub type SessionChange = (Option<Session>, Session);

/// Where a store announces its session writes. Cloning gives another handle on the same
/// stream. Announcing never blocks a write: a listener that falls behind misses changes
/// (and is told how many).
#[derive(Clone)]
pub struct ChangeStream {
    tx: broadcast::Sender<SessionChange>,
}

impl Default for ChangeStream {
    fn default() -> Self {
        ChangeStream::new()
    }
}

impl ChangeStream {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        ChangeStream { tx }
    }

    /// The changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionChange> {
        self.tx.subscribe()
    }

    pub(super) fn announce(&self, old: Option<Session>, new: &Session) {
        // No listener is not an error: nobody watches yet.
        let _ = self.tx.send((old, new.clone()));
    }
}
