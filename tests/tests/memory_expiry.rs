//! The memory store (the local stack's) drops what DynamoDB's TTL would, once its TTL has
//! passed by the store's notion of now (the latest time its writes prove), a bounded number
//! per write: so `make dev` can run for weeks. Items counted, not the process's memory.

use nsauth::account::{Account, AccountSweep, Platform, PushEndpoint};
use nsauth::enrolment::{EnrolToken, TokenUse};
use nsauth::ids::{Hsid, Nonce, ServerId};
use nsauth::server::Server;
use nsauth::session::Session;
use nsauth::settings::ServerSettings;
use nsauth::store::{
    AccountStore, Counted, MemoryStore, PushCounterStore, ReplayStore, ServerStore, SessionStore,
    StoreError, SubscriptionStore,
};
use nsauth::usercontext::UserContext;

const NOW: i64 = 1_800_000_000;

fn count(store: &MemoryStore, kind: &str) -> usize {
    store.len_by_kind()[kind]
}

/// A pending session of `server` created at `at`; hsids are made up from `n` (no hashing:
/// 100,000 of them).
fn session_at(server: &Server, n: u64, at: i64) -> Session {
    let hsid = Hsid::parse(&format!("{n:022}")).unwrap();
    Session::new_pending(
        server.serverid.clone(),
        hsid,
        &server.settings,
        UserContext::default(),
        at,
    )
}

fn account(serverid: &ServerId, accountid: u64) -> Account {
    Account {
        serverid: serverid.clone(),
        accountid,
        publickey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQc".into(),
        description: "Phone".into(),
        clientversion: "1.0".into(),
        userid: Some("alice".into()),
        blocked: false,
        created: NOW,
        lastlogin: None,
        lastprovoke: None,
        push: Some(PushEndpoint {
            platform: Platform::Fcm,
            endpoint_arn: "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1".into(),
            disabled: false,
        }),
        fraud_reports: 0,
        enrolling: None,
        version: 1,
    }
}

#[tokio::test]
async fn sessions_past_their_ttl_are_given_back() {
    let store = MemoryStore::new();
    let server = Server::new(ServerSettings::named("expiry").unwrap(), NOW);
    store.create_server(&server).await.unwrap();
    store
        .create_account(&account(&server.serverid, 1))
        .await
        .unwrap();

    const MANY: u64 = 100_000;
    for n in 0..MANY {
        store
            .create_session(&session_at(&server, n, NOW))
            .await
            .unwrap();
    }
    let ttl = session_at(&server, 0, NOW).ttl;
    assert!(
        ttl > NOW + 86_400,
        "sessions are kept long after their login ends"
    );
    assert_eq!(count(&store, "sessions"), MANY as usize);
    assert_eq!(count(&store, "ttl_index"), MANY as usize);

    // Up to their TTL nothing goes: a session created at the very moment their TTL is
    // reached (now = ttl, which is not past it) drops none of them, and one whose TTL is
    // ahead survives everything below.
    let keeper = session_at(&server, MANY, ttl - 10);
    store.create_session(&keeper).await.unwrap();
    store
        .create_session(&session_at(&server, MANY + 1, ttl))
        .await
        .unwrap();
    assert_eq!(count(&store, "sessions"), MANY as usize + 2);
    assert!(
        store
            .get_session(&session_at(&server, 0, NOW).hsid)
            .await
            .unwrap()
            .is_some()
    );

    // Time moves one second past their TTL: the writes that show it give them back, a
    // bounded number each (no write pays for all of them).
    let later = ttl + 1;
    let before = count(&store, "sessions");
    store
        .create_session(&session_at(&server, MANY + 2, later))
        .await
        .unwrap();
    let dropped = before + 1 - count(&store, "sessions");
    assert!(
        dropped > 0 && dropped < 1_000,
        "one write drops a bounded slice, not everything ({dropped})"
    );
    let mut writes = 1;
    while count(&store, "sessions") as u64 > 2 + writes {
        store
            .create_session(&session_at(&server, MANY + 2 + writes, later))
            .await
            .unwrap();
        writes += 1;
        assert!(writes < 10_000, "the backlog shrinks with every write");
    }
    // Left: the keeper, the one created at `ttl`, and the ones created since; the first
    // 100,000 are gone, and so are their expiry entries.
    let sessions = count(&store, "sessions");
    assert_eq!(sessions as u64, 2 + writes);
    assert_eq!(count(&store, "ttl_index"), sessions);
    assert_eq!(
        store.get_session(&session_at(&server, 0, NOW).hsid).await,
        Ok(None)
    );
    assert_eq!(
        store.get_session(&keeper.hsid).await.unwrap(),
        Some(keeper.clone()),
        "a session whose TTL has not passed is never dropped"
    );
    // An expired session's hsid is free again (as in DynamoDB once TTL deleted it), and
    // an update of a dropped session finds nothing.
    let gone = session_at(&server, 7, NOW);
    assert_eq!(
        store.update_session(&gone, gone.version).await,
        Err(StoreError::ConditionFailed)
    );
    store
        .create_session(&session_at(&server, 7, later))
        .await
        .unwrap();

    // Accounts and servers have no TTL: never dropped.
    assert_eq!(count(&store, "accounts"), 1);
    assert_eq!(count(&store, "servers"), 1);
    assert!(
        store
            .get_account(&server.serverid, 1)
            .await
            .unwrap()
            .is_some()
    );
}

/// A session's TTL moves with its writes: the entry under its old TTL no longer drops it.
#[tokio::test]
async fn a_session_written_again_lives_to_its_new_ttl() {
    let store = MemoryStore::new();
    let server = Server::new(ServerSettings::named("renewed").unwrap(), NOW);
    let first = session_at(&server, 1, NOW);
    store.create_session(&first).await.unwrap();
    // Written again later, with a TTL beyond the first.
    let mut renewed = session_at(&server, 1, first.ttl - 100);
    renewed.version = first.version + 1;
    assert!(renewed.ttl > first.ttl);
    store.update_session(&renewed, first.version).await.unwrap();
    assert_eq!(count(&store, "ttl_index"), 1);
    // Past the first TTL, not the second.
    store
        .create_session(&session_at(&server, 2, first.ttl + 10))
        .await
        .unwrap();
    assert_eq!(
        store.get_session(&renewed.hsid).await.unwrap(),
        Some(renewed.clone())
    );
    // Past the second: gone.
    store
        .create_session(&session_at(&server, 3, renewed.ttl + 10))
        .await
        .unwrap();
    assert_eq!(store.get_session(&renewed.hsid).await, Ok(None));
    assert_eq!(count(&store, "sessions"), 2);
    assert_eq!(count(&store, "ttl_index"), 2);
}

/// Every kind with a TTL in DynamoDB (enrolment tokens, account sweeps, replay records,
/// push counters, subscriptions) goes once its TTL has passed, and not before; what has
/// no TTL (servers, keys, accounts, claimed public keys) stays.
#[tokio::test]
async fn every_kind_with_a_ttl_expires_and_nothing_else() {
    let store = MemoryStore::new();
    let server = Server::new(ServerSettings::named("kinds").unwrap(), NOW);
    let sid = server.serverid.clone();
    store.create_server(&server).await.unwrap();
    store.create_account(&account(&sid, 1)).await.unwrap();
    store.claim_public_key(&sid, "fp", "t", NOW).await.unwrap();

    let token = EnrolToken {
        serverid: sid.clone(),
        token_hash: "hash".into(),
        hsid: Nonce::generate().hsid(&sid),
        userid: None,
        name: String::new(),
        created: NOW,
        expires_at: NOW + 600,
        used: None,
        used_by: None,
        accountid: None,
        transfer_from: None,
        remove_after: false,
        ttl: NOW + 600 + 86_400,
    };
    store.put_enrol_token(&token).await.unwrap();
    let sweep = AccountSweep::new(sid.clone(), 1, NOW);
    store.put_sweep(&sweep).await.unwrap();
    store
        .remember_request(&sid, "digest", NOW + 120)
        .await
        .unwrap();
    store
        .count_push(&sid, Counted::Account(1), 7, 5, NOW + 900)
        .await
        .unwrap();
    let watched = Nonce::generate().hsid(&sid);
    store
        .subscribe("conn", &watched, NOW + 7_200, 20)
        .await
        .unwrap();
    let kinds = [
        "enrol_tokens",
        "sweeps",
        "replays",
        "push_counters",
        "subscriptions",
    ];
    for kind in kinds {
        assert_eq!(count(&store, kind), 1, "{kind}");
    }
    assert_eq!(count(&store, "ttl_index"), 5);

    // Three hours on (past every TTL above but the token's and the sweep's): a write that
    // proves it (a replay record's `until` is at most a few minutes ahead of now).
    let t1 = NOW + 3 * 3_600;
    store.remember_request(&sid, "t1", t1).await.unwrap();
    assert_eq!(count(&store, "replays"), 1, "the old record went");
    assert_eq!(count(&store, "push_counters"), 0);
    assert_eq!(count(&store, "subscriptions"), 0);
    assert_eq!(
        store.subscribers(&watched).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.get_enrol_token(&sid, "hash").await.unwrap(),
        Some(token.clone()),
        "a token before its TTL stays"
    );
    assert_eq!(store.get_sweep(&sid, 1).await.unwrap(), Some(sweep.clone()));
    // The replayed digest is news again, as it is once DynamoDB's TTL deleted it.
    store.remember_request(&sid, "digest", t1).await.unwrap();

    // Past the token's and the sweep's TTL too: a session written then proves it.
    let t2 = token.ttl + 1;
    store
        .create_session(&session_at(&server, 1, t2))
        .await
        .unwrap();
    assert_eq!(store.get_enrol_token(&sid, "hash").await.unwrap(), None);
    assert_eq!(store.get_sweep(&sid, 1).await.unwrap(), None);
    assert_eq!(
        store
            .use_enrol_token(
                &sid,
                "hash",
                &TokenUse {
                    fingerprint: "fp",
                    accountid: 2,
                },
                t2
            )
            .await,
        Err(StoreError::ConditionFailed)
    );
    for kind in kinds {
        assert_eq!(count(&store, kind), 0, "{kind}");
    }
    // Left with a TTL: the session just written.
    assert_eq!(count(&store, "sessions"), 1);
    assert_eq!(count(&store, "ttl_index"), 1);

    // No TTL, never dropped.
    assert_eq!(count(&store, "servers"), 1);
    assert_eq!(count(&store, "accounts"), 1);
    assert_eq!(count(&store, "public_keys"), 1);
    assert!(store.get_account(&sid, 1).await.unwrap().is_some());
    assert_eq!(
        store.claim_public_key(&sid, "fp", "other", t2).await,
        Err(StoreError::ConditionFailed),
        "a claimed key stays claimed"
    );
}
