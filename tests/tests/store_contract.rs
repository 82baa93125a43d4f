//! One contract suite, run unchanged against the in-memory store, DynamoDB on moto's
//! server, and dynalite (which rejects invalid expressions that moto lets through).
//! dynalite lacks TTL and streams: its table is made without them, and the TTL check runs
//! on moto only (said where it is skipped).

use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use nsauth::apikey::{ApiKey, ApiKeyRecord, Permission};
use nsauth::ids::{Nonce, ServerId};
use nsauth::server::Server;
use nsauth::session::{LoginInfo, Session, SessionState};
use nsauth::settings::ServerSettings;
use nsauth::store::{MemoryStore, Store, StoreError};
use nsauth::usercontext::UserContext;
use nsauth_tests::{dynalite, dynamo_store, moto};

const NOW: i64 = 1_800_000_000;

fn server(name: &str) -> Server {
    Server::new(ServerSettings::named(name).unwrap(), NOW)
}

fn session(server: &Server) -> Session {
    let mut ctx = UserContext::default();
    ctx.announceinfo
        .info
        .insert("what".into(), "Log in to Åcme ✓".into());
    ctx.sessioninfo.ip = "2001:db8::1".into();
    let nonce = Nonce::generate();
    Session::new_pending(
        server.serverid.clone(),
        nonce.hsid(&server.serverid),
        &server.settings,
        ctx,
        NOW,
    )
}

fn login() -> LoginInfo {
    LoginInfo {
        accountid: 42,
        userid: Some("alice@example.com".into()),
        pk: "MFkwEwYHKoZIzj0CAQ==".into(),
    }
}

async fn servers_and_keys(store: &dyn Store) {
    let a = server("A");
    store.create_server(&a).await.unwrap();
    assert_eq!(
        store.create_server(&a).await,
        Err(StoreError::ConditionFailed)
    );
    assert_eq!(
        store.get_server(&a.serverid).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_server(&ServerId::generate()).await.unwrap(), None);
    let b = server("B");
    store.create_server(&b).await.unwrap();
    let ids: Vec<ServerId> = store
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.serverid)
        .collect();
    assert!(ids.contains(&a.serverid) && ids.contains(&b.serverid));

    let mut settings = a.settings.clone();
    settings.set("login_timeout", "90").unwrap();
    store
        .update_server_settings(&a.serverid, &settings)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_server(&a.serverid)
            .await
            .unwrap()
            .unwrap()
            .settings
            .login_timeout,
        90
    );
    assert_eq!(
        store
            .update_server_settings(&ServerId::generate(), &settings)
            .await,
        Err(StoreError::ConditionFailed),
        "settings of a missing server are not created"
    );
    assert_eq!(
        store
            .get_server(&b.serverid)
            .await
            .unwrap()
            .unwrap()
            .settings
            .login_timeout,
        300
    );

    let key = ApiKey::generate();
    let rec = ApiKeyRecord::new(
        a.serverid.clone(),
        &key,
        vec![Permission::Sessions],
        "l".into(),
        NOW,
    );
    store.put_api_key(&rec).await.unwrap();
    assert_eq!(
        store.put_api_key(&rec).await,
        Err(StoreError::ConditionFailed)
    );
    let (s, k) = store
        .get_server_and_key(&a.serverid, key.keyid())
        .await
        .unwrap();
    assert_eq!(s.unwrap().serverid, a.serverid);
    assert_eq!(k, Some(rec.clone()));
    let (s, k) = store
        .get_server_and_key(&b.serverid, key.keyid())
        .await
        .unwrap();
    assert!(
        s.is_some() && k.is_none(),
        "a key is found under its own server only"
    );
    let (s, k) = store
        .get_server_and_key(&ServerId::generate(), key.keyid())
        .await
        .unwrap();
    assert!(s.is_none() && k.is_none());
    assert_eq!(
        store.list_api_keys(&a.serverid).await.unwrap(),
        vec![rec.clone()]
    );
    assert!(store.list_api_keys(&b.serverid).await.unwrap().is_empty());

    store
        .revoke_api_key(&a.serverid, key.keyid(), NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        store
            .revoke_api_key(&a.serverid, key.keyid(), NOW + 6)
            .await,
        Err(StoreError::ConditionFailed)
    );
    assert_eq!(
        store.revoke_api_key(&a.serverid, "nokeyhere00", NOW).await,
        Err(StoreError::ConditionFailed)
    );
    let (_, k) = store
        .get_server_and_key(&a.serverid, key.keyid())
        .await
        .unwrap();
    assert_eq!(
        k.unwrap().revoked,
        Some(NOW + 5),
        "the first revocation time stays"
    );
    assert_eq!(
        store.list_api_keys(&a.serverid).await.unwrap().len(),
        1,
        "a failed revocation creates nothing"
    );
}

async fn sessions(store: &dyn Store) {
    let a = server("A");
    store.create_server(&a).await.unwrap();
    let s = session(&a);
    assert_eq!(store.get_session(&s.hsid).await.unwrap(), None);
    store.create_session(&s).await.unwrap();
    assert_eq!(store.get_session(&s.hsid).await.unwrap(), Some(s.clone()));
    let mut other = s.clone();
    other.context = UserContext::default();
    assert_eq!(
        store.create_session(&other).await,
        Err(StoreError::ConditionFailed)
    );
    assert_eq!(
        store.get_session(&s.hsid).await.unwrap(),
        Some(s.clone()),
        "a refused create leaves the stored session intact"
    );
    assert_eq!(
        store.get_session(&s.hsid).await.unwrap().unwrap().serverid,
        a.serverid,
        "a session records its server"
    );

    let scanned = s.scan(&a.settings, NOW + 1).unwrap();
    store.update_session(&scanned, s.version).await.unwrap();
    let stale = s.cancel(&a.settings, NOW + 2).unwrap();
    assert_eq!(
        store.update_session(&stale, s.version).await,
        Err(StoreError::ConditionFailed)
    );
    let inn = scanned.approve(login(), &a.settings, NOW + 3).unwrap();
    store.update_session(&inn, scanned.version).await.unwrap();
    let got = store.get_session(&s.hsid).await.unwrap().unwrap();
    assert_eq!(got, inn);
    assert_eq!(got.state, SessionState::LoggedIn);
    assert_eq!(got.login, Some(login()));

    let mut ghost = session(&a);
    ghost.version = 2;
    assert_eq!(
        store.update_session(&ghost, 1).await,
        Err(StoreError::ConditionFailed),
        "an update never creates a session"
    );
    assert_eq!(store.get_session(&ghost.hsid).await.unwrap(), None);
}

/// Two phones approving one session at once: exactly one write wins, every round.
async fn concurrent_transitions(store: Arc<dyn Store>) {
    let a = server("A");
    store.create_server(&a).await.unwrap();
    for round in 0..10 {
        let s = session(&a);
        store.create_session(&s).await.unwrap();
        let mut tasks = Vec::new();
        for phone in 0..2u64 {
            let store = store.clone();
            let next = s
                .approve(
                    LoginInfo {
                        accountid: phone + 1,
                        userid: None,
                        pk: "cGs=".into(),
                    },
                    &a.settings,
                    NOW + 1,
                )
                .unwrap();
            let expected = s.version;
            tasks.push(tokio::spawn(async move {
                store
                    .update_session(&next, expected)
                    .await
                    .map(|()| phone + 1)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(account) => winners.push(account),
                Err(e) => assert_eq!(e, StoreError::ConditionFailed),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let stored = store.get_session(&s.hsid).await.unwrap().unwrap();
        assert_eq!(
            stored.login.unwrap().accountid,
            winners[0],
            "the winner's write is stored"
        );
    }
    // Many concurrent creates of one new session: one creates, the rest see it exists.
    let s = session(&a);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let s = s.clone();
        tasks.push(tokio::spawn(async move { store.create_session(&s).await }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => created += 1,
            Err(e) => assert_eq!(e, StoreError::ConditionFailed),
        }
    }
    assert_eq!(created, 1);
}

async fn contract(store: Arc<dyn Store>) {
    servers_and_keys(store.as_ref()).await;
    sessions(store.as_ref()).await;
    concurrent_transitions(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_in_memory() {
    contract(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_on_moto() {
    let Some(url) = moto() else { return };
    let store = dynamo_store(&url, true).await;
    contract(Arc::new(store.clone())).await;

    // TTL and stream exist on moto only; dynalite does not implement them.
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let desc = ttl.time_to_live_description().unwrap();
    assert_eq!(desc.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(desc.attribute_name(), Some("ttl"));
    let table = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let stream = table.table().unwrap().stream_specification().unwrap();
    assert!(stream.stream_enabled());

    // The session's ttl is a number attribute, as DynamoDB TTL needs.
    let a = server("T");
    store.create_server(&a).await.unwrap();
    let s = session(&a);
    store.create_session(&s).await.unwrap();
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("SESSION#{}", s.hsid)))
        .key("sk", AttributeValue::S("SESSION".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item.get("ttl"), Some(&AttributeValue::N(s.ttl.to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_on_dynalite() {
    let Some(url) = dynalite() else { return };
    // Skipped on dynalite: TTL and streams (not implemented there); the table is created
    // without them. Everything else, every expression included, runs.
    contract(Arc::new(dynamo_store(&url, false).await)).await;
}
