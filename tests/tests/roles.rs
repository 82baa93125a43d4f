//! API keys as roles (issue 15, first part): a key made before roles keeps working on its
//! own server only; a role's grant decides per server; global `root` reaches every server;
//! `X-su` switches role only for a key whose role holds global `root` or `setrid`, never
//! upwards; a revoked role's key is refused at once.

use nsauth::apikey::{ApiKey, Permission};
use nsauth::clock::Clock;
use nsauth::role::{Grant, Role, user_roleid};
use nsauth_tests::{Stack, new_nonce};

/// getSession on `serverid` with `key` (and `X-su`): status and error code (if any).
async fn get_session(stack: &Stack, serverid: &str, key: &str, su: Option<&str>) -> (u16, String) {
    let mut req = nsauth_tests::http()
        .get(format!("{}/servers/{serverid}/sessions", stack.base))
        .header("X-apikey", key)
        .header("X-nonce", new_nonce());
    if let Some(su) = su {
        req = req.header("X-su", su);
    }
    let (status, v) = nsauth_tests::json(req.send().await.unwrap()).await;
    let code = v["error"].as_str().unwrap_or_default().to_string();
    (status, code)
}

async fn role_key(stack: &Stack, global: Vec<Permission>) -> ApiKey {
    let key = ApiKey::generate();
    let role = Role::for_key(&key, "test".into(), None, global, stack.clock.now());
    stack.store().create_role(&role).await.unwrap();
    key
}

async fn grant(stack: &Stack, serverid: &nsauth::ids::ServerId, roleid: &str, p: Vec<Permission>) {
    let g = Grant::new(serverid.clone(), roleid.to_string(), p, stack.clock.now());
    stack.store().set_grant(&g).await.unwrap();
}

async fn roles_on(stack: Stack) {
    let sid = stack.serverid.clone();
    let (other, _) = stack.other_server().await;

    // A key stored the way keys were stored before roles.
    let old = ApiKey::generate();
    let mut legacy = Grant::new(
        sid.clone(),
        old.keyid().into(),
        vec![Permission::Sessions],
        1,
    );
    legacy.hash = old.hash();
    stack.store().put_legacy_key(&legacy).await.unwrap();
    assert_eq!(
        get_session(&stack, sid.as_str(), old.expose(), None)
            .await
            .0,
        200
    );
    assert_eq!(
        get_session(&stack, other.as_str(), old.expose(), None).await,
        (401, "invalid_api_key".into()),
        "a key made before roles is a key of its own server only"
    );

    // A role's grants decide per server.
    let key = role_key(&stack, vec![]).await;
    assert_eq!(
        get_session(&stack, sid.as_str(), key.expose(), None).await,
        (401, "invalid_api_key".into()),
        "a role with nothing on a server holds no key of it"
    );
    grant(&stack, &sid, key.keyid(), vec![Permission::Users]).await;
    assert_eq!(
        get_session(&stack, sid.as_str(), key.expose(), None).await,
        (403, "missing_permission".into())
    );
    grant(&stack, &other, key.keyid(), vec![Permission::Sessions]).await;
    assert_eq!(
        get_session(&stack, other.as_str(), key.expose(), None)
            .await
            .0,
        200
    );

    // Global root reaches every server.
    let root = role_key(&stack, vec![Permission::Root]).await;
    assert_eq!(
        get_session(&stack, sid.as_str(), root.expose(), None)
            .await
            .0,
        200
    );
    assert_eq!(
        get_session(&stack, other.as_str(), root.expose(), None)
            .await
            .0,
        200
    );

    // X-su: only root or setrid may switch, and setrid never upwards.
    assert_eq!(
        get_session(&stack, other.as_str(), key.expose(), Some(root.keyid())).await,
        (403, "su_not_allowed".into())
    );
    let setrid = role_key(&stack, vec![Permission::SetRid]).await;
    assert_eq!(
        get_session(&stack, other.as_str(), setrid.expose(), Some(key.keyid()))
            .await
            .0,
        200,
        "setrid acts as the role, with its grant there"
    );
    assert_eq!(
        get_session(&stack, sid.as_str(), setrid.expose(), Some(key.keyid())).await,
        (403, "missing_permission".into()),
        "and only with it"
    );
    assert_eq!(
        get_session(&stack, sid.as_str(), setrid.expose(), Some(root.keyid())).await,
        (403, "su_not_allowed".into())
    );
    assert_eq!(
        get_session(&stack, sid.as_str(), root.expose(), Some("nosuchrole0")).await,
        (403, "unknown_role".into())
    );
    assert_eq!(
        get_session(&stack, sid.as_str(), root.expose(), Some("not a role")).await,
        (400, "invalid_field".into())
    );
    // A user's role is used through X-su.
    let user_role = Role::for_user(&sid, "alice", stack.clock.now());
    assert_eq!(user_role.roleid, user_roleid(&sid, "alice"));
    stack.store().create_role(&user_role).await.unwrap();
    grant(&stack, &sid, &user_role.roleid, vec![Permission::Sessions]).await;
    assert_eq!(
        get_session(
            &stack,
            sid.as_str(),
            setrid.expose(),
            Some(&user_role.roleid)
        )
        .await
        .0,
        200
    );

    // Revoking a role refuses its key at once, everywhere.
    stack
        .store()
        .revoke_role(key.keyid(), stack.clock.now())
        .await
        .unwrap();
    assert_eq!(
        get_session(&stack, other.as_str(), key.expose(), None).await,
        (401, "invalid_api_key".into())
    );
    assert_eq!(
        get_session(&stack, other.as_str(), setrid.expose(), Some(key.keyid())).await,
        (403, "unknown_role".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_per_server_on_memory() {
    roles_on(Stack::memory().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_per_server_on_moto() {
    if let Some(stack) = Stack::moto().await {
        roles_on(stack).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_per_server_on_dynalite() {
    if let Some(stack) = Stack::dynalite().await {
        roles_on(stack).await;
    }
}
