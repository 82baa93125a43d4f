//! Login safety's best-effort parts under faults (docs/security.md, "Relayed logins"): a
//! pull record that cannot be written, a known-network write that fails, a notice push
//! that fails, and one transfer link used by two phones at once. Each leaves the login (or
//! the refusal) as it would be without the fault, and the counts right.

use std::sync::Arc;

use async_trait::async_trait;
use nsauth::account::Platform;
use nsauth::push::{LocalPush, PushError, PushMessage, PushSender};
use nsauth::store::MemoryStore;
use nsauth_authenticator::Error;
use nsauth_tests::faults::stack_with_faults;
use nsauth_tests::{Stack, new_nonce, notices, on_atomic_stores, unique_name};
use reqwest::Method;
use serde_json::json;

on_atomic_stores!(one_transfer_link_used_by_two_phones_at_once);

/// With `push_delivery` `pull`, a push whose record cannot be written reached nobody: the
/// answer says so, and its slot of the account's `push_limit` is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_record_not_written_is_no_push_and_is_not_counted() {
    let (stack, faults) = stack_with_faults().await;
    let n = new_nonce();
    let link = stack.enrol_link(&n, "?userid=puller").await;
    let mut phone = stack.phone();
    let acc = phone.enrol(&link, "Phone", None).await.unwrap().accountid;
    stack.set_setting("push_delivery", "pull").await;
    let provoke = format!("/accounts/{acc}/provokelogin");
    faults.fail_before("put_pull");
    let (n, _) = stack.new_session(None).await;
    let (status, v) = stack.call(Method::POST, &provoke, Some(&n), None).await;
    assert!(faults.fired());
    assert_eq!((status, v["pushed"].clone()), (200, json!(0)), "{v}");
    assert!(
        phone
            .fetch_pushes(&stack.serverid.to_string())
            .await
            .unwrap()
            .is_empty()
    );
    // The default push_limit is 5 per window: all 5 are still there.
    for i in 0..5 {
        let (n, _) = stack.new_session(None).await;
        let (status, v) = stack.call(Method::POST, &provoke, Some(&n), None).await;
        assert_eq!(
            (status, v["pushed"].clone()),
            (200, json!(1)),
            "push {i}: {v}"
        );
    }
    let (n, _) = stack.new_session(None).await;
    let (status, v) = stack.call(Method::POST, &provoke, Some(&n), None).await;
    assert_eq!(status, 429, "the sixth is over the limit: {v}");
}

/// `login_notify` `new_network`: when the known-network write fails, the login stands and
/// nobody is told (the network could not be judged); the next login judges again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_network_write_keeps_the_login_and_tells_nobody() {
    let (stack, faults) = stack_with_faults().await;
    let sid = stack.serverid.to_string();
    let (laptop, other) = stack.two_phones("faulty").await;
    stack.set_setting("login_notify", "new_network").await;
    let login_from = |ip| stack.approved_login_from(&laptop, Some(ip));
    login_from("203.0.113.7").await;
    faults.fail_before("note_network");
    login_from("198.51.100.5").await;
    assert!(faults.fired());
    assert!(notices(&other, &sid).await.is_empty());
    // Not remembered, so still news the next time.
    login_from("198.51.100.9").await;
    assert_eq!(notices(&other, &sid).await.len(), 1);
}

/// A push service that refuses every notice (and delivers every other push locally).
struct NoticesFail(Arc<LocalPush>);

#[async_trait]
impl PushSender for NoticesFail {
    async fn create_endpoint(
        &self,
        platform: Platform,
        token: &str,
        user_data: &str,
    ) -> Result<String, PushError> {
        self.0.create_endpoint(platform, token, user_data).await
    }

    async fn delete_endpoint(&self, endpoint_arn: &str) -> Result<(), PushError> {
        self.0.delete_endpoint(endpoint_arn).await
    }

    async fn publish(&self, endpoint_arn: &str, message: &PushMessage) -> Result<(), PushError> {
        if message.notice {
            return Err(PushError::Unavailable("notices are down".into()));
        }
        self.0.publish(endpoint_arn, message).await
    }
}

/// A notice that the push service refuses changes nothing of the login it tells of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_notice_keeps_the_login() {
    let local = Arc::new(LocalPush::new());
    let stack = Stack::with_push(
        Arc::new(MemoryStore::new()),
        Arc::new(NoticesFail(local.clone())),
        Some(local),
    )
    .await;
    let sid = stack.serverid.to_string();
    let user = unique_name("unnoticed");
    let (laptop, _, _) = stack.phone_with_push(&user, &unique_name("a")).await;
    let (other, _, _) = stack.phone_with_push(&user, &unique_name("b")).await;
    stack.set_setting("login_notify", "push").await;
    let (n, link) = stack.new_session(None).await;
    laptop.approve(&link, None, None).await.unwrap();
    let status = stack.status(&n).await;
    assert_eq!(status["state"], "loggedin", "{status}");
    assert!(notices(&other, &sid).await.is_empty());
    // A push login to the same user still goes out: only notices fail.
    let (n, _) = stack.new_session(None).await;
    let (code, v) = stack
        .call(
            Method::POST,
            &format!("/users/{user}/provokelogin"),
            Some(&n),
            None,
        )
        .await;
    assert_eq!((code, v["pushed"].clone()), (200, json!(2)), "{v}");
}

/// Two new phones enrol with one transfer link at the same moment: exactly one gets an
/// account of the user, the other a 409, and the user has the old phone and one new one.
async fn one_transfer_link_used_by_two_phones_at_once(stack: Stack) {
    let user = unique_name("racer");
    let n = new_nonce();
    let link = stack.enrol_link(&n, &format!("?userid={user}")).await;
    let mut old = stack.phone();
    old.enrol(&link, "Old", None).await.unwrap();
    let t = old
        .transfer(&stack.serverid.to_string(), false)
        .await
        .unwrap();
    let link = t["link"].as_str().unwrap().to_string();
    let (mut a, mut b) = (stack.phone(), stack.phone());
    let (ra, rb) = tokio::join!(a.enrol(&link, "A", None), b.enrol(&link, "B", None));
    let (won, lost) = match (ra, rb) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        (ra, rb) => panic!("not one of each: {ra:?} / {rb:?}"),
    };
    assert_eq!(won.userid.as_deref(), Some(user.as_str()));
    match lost {
        Error::Http { status, .. } => assert_eq!(status, 409),
        other => panic!("not an HTTP refusal: {other:?}"),
    }
    let (status, v) = stack
        .call(Method::GET, &format!("/users/{user}"), None, None)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accounts"].as_array().map(Vec::len), Some(2), "{v}");
}
