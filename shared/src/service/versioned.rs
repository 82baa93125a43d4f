//! The one read-modify-conditional-write loop. Sessions, accounts and servers' settings are
//! written on condition that the stored copy still has the version that was read (SPEC
//! section 9); every change of them goes through [`update`], and every "create unless it
//! exists, else take the existing one" through [`create_or_read`].
//!
//! The retry rule: a change is a function of the current item (and the time). When the
//! write loses a race, the item is read again and the change decides anew on what won, so
//! of two approvals the second sees the first and is refused. After [`ATTEMPTS`] lost races
//! the call gives up with 409 `conflict` rather than spin.

use async_trait::async_trait;

use crate::account::Account;
use crate::clock::{Clock, UnixTime};
use crate::error::ApiError;
use crate::server::Server;
use crate::session::Session;
use crate::store::{AccountStore, ServerStore, SessionStore, StoreError};

/// How many times a change is decided and written before the call gives up.
pub const ATTEMPTS: usize = 4;

/// An item written whole with a version condition.
pub trait Versioned: Clone + Send + Sync {
    /// What the item is called in messages.
    const KIND: &'static str;
    fn version(&self) -> u64;
    /// The answer when the item is gone by the time a lost race reads it again.
    fn gone() -> ApiError;
}

/// The store side of a [`Versioned`] item.
#[async_trait]
pub trait VersionedStore<T>: Send + Sync {
    /// A consistent read of the stored item with the key of `like`.
    async fn read_again(&self, like: &T) -> Result<Option<T>, StoreError>;
    /// Writes `item` if the stored one has `expected_version` (`ConditionFailed` if not).
    async fn replace(&self, item: &T, expected_version: u64) -> Result<(), StoreError>;
}

/// A [`VersionedStore`] whose items are also made by [`create_or_read`] (sessions: two
/// first calls with one nonce race to create its session).
#[async_trait]
pub trait CreatingStore<T>: VersionedStore<T> {
    /// Writes `item` unless an item with its key exists (`ConditionFailed` then).
    async fn create(&self, item: &T) -> Result<(), StoreError>;
}

/// Applies `change` to `current` and writes the result on condition that nobody wrote in
/// between; on a lost race, reads the item again and applies `change` anew. Answers the
/// item as written, or, when `change` found nothing to do (`Ok(None)`: nothing is
/// written), as last read: after a lost race that is the winner's, not `current`.
pub async fn update<T, S, F>(
    store: &S,
    clock: &dyn Clock,
    mut current: T,
    change: F,
) -> Result<T, ApiError>
where
    T: Versioned,
    S: VersionedStore<T> + ?Sized,
    F: Fn(&T, UnixTime) -> Result<Option<T>, ApiError>,
{
    for _ in 0..ATTEMPTS {
        let Some(next) = change(&current, clock.now())? else {
            return Ok(current);
        };
        debug_assert!(
            next.version() > current.version(),
            "a change raises the version, or its write could pass a rival's"
        );
        match store.replace(&next, current.version()).await {
            Ok(()) => return Ok(next),
            Err(StoreError::ConditionFailed) => {
                current = store.read_again(&current).await?.ok_or_else(T::gone)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(
        "conflict",
        format!("the {} is changing too fast; retry the call", T::KIND),
    ))
}

/// What [`create_or_read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// `fresh` was written.
    New(T),
    /// Another request created the item first; this is theirs.
    Existing(T),
}

/// Creates `fresh`, or, when another request created an item with its key first, reads
/// the winner's item and answers that.
pub async fn create_or_read<T, S>(store: &S, fresh: T) -> Result<Created<T>, ApiError>
where
    T: Versioned,
    S: CreatingStore<T> + ?Sized,
{
    match store.create(&fresh).await {
        Ok(()) => Ok(Created::New(fresh)),
        // The winner's item cannot be gone a moment later unless it was deleted: treat that
        // as the store not answering properly, and let the caller retry.
        Err(StoreError::ConditionFailed) => store
            .read_again(&fresh)
            .await?
            .map(Created::Existing)
            .ok_or(ApiError::Unavailable),
        Err(e) => Err(e.into()),
    }
}

impl Versioned for Session {
    const KIND: &'static str = "session";

    fn version(&self) -> u64 {
        self.version
    }

    fn gone() -> ApiError {
        ApiError::not_found("the session is gone")
    }
}

#[async_trait]
impl VersionedStore<Session> for dyn SessionStore + '_ {
    async fn read_again(&self, like: &Session) -> Result<Option<Session>, StoreError> {
        self.get_session(&like.hsid).await
    }

    async fn replace(&self, item: &Session, expected_version: u64) -> Result<(), StoreError> {
        self.update_session(item, expected_version).await
    }
}

#[async_trait]
impl CreatingStore<Session> for dyn SessionStore + '_ {
    async fn create(&self, item: &Session) -> Result<(), StoreError> {
        self.create_session(item).await
    }
}

impl Versioned for Account {
    const KIND: &'static str = "account";

    fn version(&self) -> u64 {
        self.version
    }

    fn gone() -> ApiError {
        ApiError::not_found("no such account on this server")
    }
}

#[async_trait]
impl VersionedStore<Account> for dyn AccountStore + '_ {
    async fn read_again(&self, like: &Account) -> Result<Option<Account>, StoreError> {
        self.get_account(&like.serverid, like.accountid).await
    }

    async fn replace(&self, item: &Account, expected_version: u64) -> Result<(), StoreError> {
        self.update_account(item, expected_version).await
    }
}

impl Versioned for Server {
    const KIND: &'static str = "server";

    fn version(&self) -> u64 {
        self.version
    }

    fn gone() -> ApiError {
        ApiError::not_found("no such server")
    }
}

#[async_trait]
impl VersionedStore<Server> for dyn ServerStore + '_ {
    async fn read_again(&self, like: &Server) -> Result<Option<Server>, StoreError> {
        self.get_server(&like.serverid).await
    }

    async fn replace(&self, item: &Server, expected_version: u64) -> Result<(), StoreError> {
        self.update_server(item, expected_version).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::clock::ManualClock;

    /// A counter item: `value` changes, `version` is the write condition.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Item {
        value: u32,
        version: u64,
    }

    impl Versioned for Item {
        const KIND: &'static str = "item";
        fn version(&self) -> u64 {
            self.version
        }
        fn gone() -> ApiError {
            ApiError::not_found("gone")
        }
    }

    /// One stored item, and a rival that writes before each of our next `races` writes.
    #[derive(Default)]
    struct OneItem {
        stored: Mutex<Option<Item>>,
        races: Mutex<u32>,
        writes: Mutex<u32>,
        reads: Mutex<u32>,
        delete_on_race: bool,
        down: bool,
    }

    impl OneItem {
        fn holding(value: u32, races: u32) -> Self {
            OneItem {
                stored: Mutex::new(Some(Item { value, version: 1 })),
                races: Mutex::new(races),
                ..Default::default()
            }
        }
        fn stored(&self) -> Option<Item> {
            self.stored.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl VersionedStore<Item> for OneItem {
        async fn read_again(&self, _like: &Item) -> Result<Option<Item>, StoreError> {
            *self.reads.lock().unwrap() += 1;
            Ok(self.stored())
        }
        async fn replace(&self, item: &Item, expected: u64) -> Result<(), StoreError> {
            if self.down {
                return Err(StoreError::Unavailable("down".into()));
            }
            let mut s = self.stored.lock().unwrap();
            let mut races = self.races.lock().unwrap();
            if *races > 0 {
                *races -= 1;
                // The rival's write: +100 and a new version.
                *s = if self.delete_on_race {
                    None
                } else {
                    s.as_ref().map(|c| Item {
                        value: c.value + 100,
                        version: c.version + 1,
                    })
                };
            }
            match s.as_ref() {
                Some(c) if c.version == expected => {
                    *s = Some(item.clone());
                    *self.writes.lock().unwrap() += 1;
                    Ok(())
                }
                _ => Err(StoreError::ConditionFailed),
            }
        }
    }

    #[async_trait]
    impl CreatingStore<Item> for OneItem {
        async fn create(&self, item: &Item) -> Result<(), StoreError> {
            let mut s = self.stored.lock().unwrap();
            if s.is_some() {
                let winner = s.clone();
                if self.delete_on_race {
                    *s = None;
                }
                drop(s);
                return winner.map_or(Ok(()), |_| Err(StoreError::ConditionFailed));
            }
            *s = Some(item.clone());
            Ok(())
        }
    }

    fn add_one(c: &Item, _now: UnixTime) -> Result<Option<Item>, ApiError> {
        Ok(Some(Item {
            value: c.value + 1,
            version: c.version + 1,
        }))
    }

    fn clock() -> ManualClock {
        ManualClock::new(1_000)
    }

    #[tokio::test]
    async fn writes_once_without_a_race() {
        let store = OneItem::holding(1, 0);
        let current = store.stored().unwrap();
        let out = update(&store, &clock(), current, add_one).await.unwrap();
        assert_eq!(
            out,
            Item {
                value: 2,
                version: 2
            }
        );
        assert_eq!(store.stored(), Some(out));
        assert_eq!(
            (*store.writes.lock().unwrap(), *store.reads.lock().unwrap()),
            (1, 0)
        );
    }

    #[tokio::test]
    async fn nothing_to_do_writes_nothing() {
        let store = OneItem::holding(1, 0);
        let current = store.stored().unwrap();
        let out = update(&store, &clock(), current.clone(), |_, _| Ok(None)).await;
        assert_eq!(out, Ok(current));
        assert_eq!(*store.writes.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn nothing_to_do_after_a_race_answers_the_winner() {
        let store = OneItem::holding(1, 1);
        let current = store.stored().unwrap();
        // Decides to write on 1; after the rival's write (101) there is nothing to do.
        let out = update(&store, &clock(), current, |c, now| {
            if c.value > 100 {
                Ok(None)
            } else {
                add_one(c, now)
            }
        })
        .await
        .unwrap();
        assert_eq!(out, store.stored().unwrap());
        assert_eq!(out.value, 101);
    }

    #[tokio::test]
    async fn a_lost_race_decides_again_on_the_winner() {
        let store = OneItem::holding(1, 2);
        let current = store.stored().unwrap();
        let seen = Mutex::new(Vec::new());
        let out = update(&store, &clock(), current, |c, now| {
            seen.lock().unwrap().push((c.value, now));
            add_one(c, now)
        })
        .await
        .unwrap();
        // Decided on 1, then on the rival's 101, then on its 201; the last write won.
        assert_eq!(
            seen.into_inner().unwrap(),
            vec![(1, 1_000), (101, 1_000), (201, 1_000)]
        );
        assert_eq!(
            out,
            Item {
                value: 202,
                version: 4
            }
        );
        assert_eq!(store.stored(), Some(out));
        assert_eq!(*store.reads.lock().unwrap(), 2);
    }

    #[tokio::test]
    async fn a_change_refused_after_a_race_is_refused() {
        let store = OneItem::holding(1, 1);
        let current = store.stored().unwrap();
        let out = update(&store, &clock(), current, |c, now| {
            if c.value > 100 {
                Err(ApiError::conflict("taken", "someone was first"))
            } else {
                add_one(c, now)
            }
        })
        .await;
        assert_eq!(out.unwrap_err().code(), "taken");
        assert_eq!(
            store.stored().unwrap().value,
            101,
            "the rival's write stays"
        );
    }

    #[tokio::test]
    async fn gives_up_after_the_attempts() {
        let store = OneItem::holding(1, ATTEMPTS as u32);
        let current = store.stored().unwrap();
        let e = update(&store, &clock(), current, add_one)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "conflict");
        assert!(e.to_string().contains("item is changing too fast"), "{e}");
        assert_eq!(*store.writes.lock().unwrap(), 0);
        // One race fewer than the attempts still gets through.
        let store = OneItem::holding(1, ATTEMPTS as u32 - 1);
        let current = store.stored().unwrap();
        assert!(update(&store, &clock(), current, add_one).await.is_ok());
    }

    #[tokio::test]
    async fn an_item_gone_after_a_race_is_its_gone_answer() {
        let store = OneItem {
            delete_on_race: true,
            ..OneItem::holding(1, 1)
        };
        let current = Item {
            value: 1,
            version: 1,
        };
        let e = update(&store, &clock(), current, add_one)
            .await
            .unwrap_err();
        assert_eq!(e, ApiError::not_found("gone"));
    }

    #[tokio::test]
    async fn a_store_failure_is_unavailable_and_not_retried() {
        let store = OneItem {
            down: true,
            ..OneItem::holding(1, 0)
        };
        let current = store.stored().unwrap();
        let e = update(&store, &clock(), current, add_one)
            .await
            .unwrap_err();
        assert_eq!(e, ApiError::Unavailable);
        assert_eq!(*store.reads.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn create_or_read_the_winner() {
        let empty = OneItem::default();
        let fresh = Item {
            value: 7,
            version: 1,
        };
        assert_eq!(
            create_or_read(&empty, fresh.clone()).await.unwrap(),
            Created::New(fresh.clone())
        );
        assert_eq!(empty.stored(), Some(fresh.clone()));
        let taken = OneItem::holding(3, 0);
        let got = create_or_read(&taken, fresh.clone()).await.unwrap();
        assert_eq!(
            got,
            Created::Existing(Item {
                value: 3,
                version: 1
            })
        );
        // The winner vanished before it could be read: unavailable, for the caller to retry.
        let vanishing = OneItem {
            delete_on_race: true,
            ..OneItem::holding(3, 0)
        };
        assert_eq!(
            create_or_read(&vanishing, fresh).await.unwrap_err(),
            ApiError::Unavailable
        );
    }
}
