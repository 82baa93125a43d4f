//! The management use cases (issue 15) called directly over the stack's deps, before they
//! are routed: keys made by a role, permissions granted and revoked with `root`, user
//! roles, attribute changes.

use nsauth::apikey::{ApiKey, Credentials, KeyCredentials, Permission};
use nsauth::attributes::{AttributeChange, AttributeScope};
use nsauth::clock::Clock;
use nsauth::role::Role;
use nsauth::service::management as m;
use nsauth::service::website::WebsiteCall;
use nsauth::usercontext::RequestOrigin;
use nsauth_tests::Stack;

fn on_server(stack: &Stack, key: &str, su: Option<&str>) -> WebsiteCall {
    WebsiteCall {
        credentials: Credentials::parse(Some(key), stack.serverid.as_str(), su).unwrap(),
        origin: RequestOrigin::default(),
    }
}

fn global(key: &str) -> KeyCredentials {
    KeyCredentials::parse(Some(key), None).unwrap()
}

async fn root_key(stack: &Stack) -> ApiKey {
    let key = ApiKey::generate();
    let role = Role::for_key(
        &key,
        "root".into(),
        None,
        vec![Permission::Root],
        stack.clock.now(),
    );
    stack.store().create_role(&role).await.unwrap();
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_permissions_roles_and_attributes() {
    let stack = Stack::memory().await;
    let deps = &stack.deps;
    let root = root_key(&stack).await;

    // The website's key (sessions, accounts, users) may do none of this.
    let site = global(&stack.apikey);
    let e = m::create_api_key(deps, &site, "x".into())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        nsauth::ApiError::MissingPermission("global servers"),
        "a key of one server has no global calls"
    );
    let e = m::permissions(deps, &on_server(&stack, &stack.apikey, None), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "missing_permission");

    // root makes a key; it lists the keys it made, without their secrets.
    let made = m::create_api_key(deps, &global(root.expose()), "ci".into())
        .await
        .unwrap();
    let new_key = made.apikey.clone().unwrap();
    let listed = m::api_keys(deps, &global(root.expose())).await.unwrap();
    assert_eq!(listed.apikeys.len(), 1);
    assert_eq!(listed.apikeys[0].role, made.role);
    assert!(listed.apikeys[0].apikey.is_none());

    // The new role holds nothing until root grants it something on the server.
    let root_here = on_server(&stack, root.expose(), None);
    let e = m::permissions(deps, &on_server(&stack, &new_key, None), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_api_key");
    m::grant_permissions(deps, &root_here, &made.role, vec![Permission::Servers])
        .await
        .unwrap();
    let all = m::permissions(deps, &on_server(&stack, &new_key, None), None)
        .await
        .unwrap();
    assert!(
        all.permissions
            .iter()
            .any(|p| p.role == made.role && p.acl == "servers")
    );
    // servers is not root: it cannot grant.
    let e = m::grant_permissions(
        deps,
        &on_server(&stack, &new_key, None),
        &made.role,
        vec![Permission::Root],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "missing_permission");
    let e = m::grant_permissions(deps, &root_here, "nosuchrole0", vec![Permission::Users])
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    m::revoke_permissions(deps, &root_here, &made.role)
        .await
        .unwrap();
    assert_eq!(
        m::revoke_permissions(deps, &root_here, &made.role)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );

    // User roles: one per user, made once.
    let e = m::user_role(deps, &root_here, "alice", false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    // Only a user that exists gets one: alice has neither accounts nor attributes yet.
    let e = m::user_role(deps, &root_here, "alice", true)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    let alice = AttributeScope::User(root_here.credentials.serverid.clone(), "alice".into());
    let set = AttributeChange::Set(serde_json::from_value(serde_json::json!({"a": 1})).unwrap());
    m::change_attributes(deps, &alice, &set).await.unwrap();
    let r1 = m::user_role(deps, &root_here, "alice", true).await.unwrap();
    let r2 = m::user_role(deps, &root_here, "alice", true).await.unwrap();
    assert_eq!(r1, r2);
    assert_eq!(
        m::user_role(deps, &root_here, "alice", false)
            .await
            .unwrap(),
        r1
    );

    // Revoking the key made: only its maker (or root) can.
    m::revoke_api_key(deps, &global(root.expose()), &made.role)
        .await
        .unwrap();
    let listed = m::api_keys(deps, &global(root.expose())).await.unwrap();
    assert!(listed.apikeys[0].revoked.is_some());

    // Attributes: set, update, remove one, with the limits.
    let scope = AttributeScope::User(stack.serverid.clone(), "alice".into());
    let vals = |v: serde_json::Value| serde_json::from_value(v).unwrap();
    m::change_attributes(
        deps,
        &scope,
        &AttributeChange::Set(vals(serde_json::json!({"a": 1, "b": "x"}))),
    )
    .await
    .unwrap();
    m::change_attributes(
        deps,
        &scope,
        &AttributeChange::Update(vals(serde_json::json!({"b": "y"}))),
    )
    .await
    .unwrap();
    m::change_attributes(deps, &scope, &AttributeChange::Remove("a".into()))
        .await
        .unwrap();
    let now: serde_json::Value =
        serde_json::to_value(m::attributes(deps, &scope).await.unwrap()).unwrap();
    assert_eq!(now, serde_json::json!({"b": "y"}));
}

/// Concurrent updates of one scope's attributes lose nothing: each either lands (and its
/// name is in the result) or is answered 409 `conflict` after its retries (and is not).
/// On the stores that lock an item per write (docs/decisions.md, "Which emulator checks
/// what"): memory and dynalite.
async fn concurrent_updates_lose_nothing(stack: Stack) {
    let scope = AttributeScope::Global;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let deps = stack.deps.clone();
        let scope = scope.clone();
        tasks.push(tokio::spawn(async move {
            let change = AttributeChange::Update(
                serde_json::from_value(serde_json::json!({ format!("k{i}"): i })).unwrap(),
            );
            (i, m::change_attributes(&deps, &scope, &change).await)
        }));
    }
    let mut landed = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(_) => landed.push(format!("k{i}")),
            Err(e) => assert_eq!(e.code(), "conflict", "{e:?}"),
        }
    }
    assert!(!landed.is_empty());
    let now = m::attributes(&stack.deps, &scope).await.unwrap();
    let names: Vec<String> = now.keys().cloned().collect();
    landed.sort();
    assert_eq!(
        names, landed,
        "every update that answered OK is there, no other"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attribute_updates_on_memory() {
    concurrent_updates_lose_nothing(Stack::memory().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attribute_updates_on_dynalite() {
    if let Some(stack) = Stack::dynalite().await {
        concurrent_updates_lose_nothing(stack).await;
    }
}
