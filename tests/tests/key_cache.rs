//! The optional cache of server and API key items (`NSAUTH_KEY_CACHE_SECONDS`, issue 12):
//! a poll then reads only its session, the secret is still checked on every call, and a
//! revocation takes effect once the cached item is older than the setting.

use nsauth::clock::Clock;
use nsauth_tests::{Stack, new_nonce};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_key_saves_reads_and_a_revocation_waits_for_it() {
    let stack = Stack::with_key_cache(10).await;
    let n = new_nonce();
    stack.status(&n).await;
    stack.counting.reset();
    stack.status(&n).await;
    assert_eq!(
        stack.counting.counts().into_iter().collect::<Vec<_>>(),
        vec![("get_session", 1)],
        "with the key cached a poll reads only its session"
    );
    // A wrong secret for the cached key id is still refused.
    stack.counting.reset();
    let keyid = stack.apikey["nsk_".len().."nsk_".len() + 11].to_string();
    let forged = format!("nsk_{keyid}_{}", "A".repeat(43));
    let (status, v) = nsauth_tests::json(
        nsauth_tests::http()
            .get(stack.sessions_url())
            .header("X-apikey", &forged)
            .header("X-nonce", &n)
            .send()
            .await
            .unwrap(),
    )
    .await;
    nsauth_tests::assert_error(status, &v, 401, "invalid_api_key");
    assert!(
        stack.counting.counts().is_empty(),
        "a call refused against the cached key reads nothing: {:?}",
        stack.counting.counts()
    );
    // Revoked: still taken while the cached item is younger than the setting (the
    // documented delay), refused after.
    stack
        .store()
        .revoke_role(&keyid, stack.clock.now())
        .await
        .unwrap();
    stack.clock.advance(5);
    let (status, _) = stack.call(Method::GET, "/sessions", Some(&n), None).await;
    assert_eq!(status, 200, "within the cache's 10 s");
    stack.clock.advance(6);
    let (status, v) = stack.call(Method::GET, "/sessions", Some(&n), None).await;
    nsauth_tests::assert_error(status, &v, 401, "invalid_api_key");
    // A revoked key is never cached: refused on every later call too.
    let (status, _) = stack.call(Method::GET, "/sessions", Some(&n), None).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_a_revocation_is_immediate() {
    let stack = Stack::memory().await;
    let n = new_nonce();
    stack.status(&n).await;
    let keyid = stack.apikey["nsk_".len().."nsk_".len() + 11].to_string();
    stack
        .store()
        .revoke_role(&keyid, stack.clock.now())
        .await
        .unwrap();
    let (status, v) = stack.call(Method::GET, "/sessions", Some(&n), None).await;
    nsauth_tests::assert_error(status, &v, 401, "invalid_api_key");
}
