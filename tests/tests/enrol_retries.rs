//! Idempotent enrolment (issue 13, item 1): a fault between enrolment's writes, or an
//! answer lost after them, leaves nothing the phone cannot finish: the same key retrying
//! the same link gets the same account, made once, logged in to the website's session,
//! and the link still refuses any other key. The faults are injected in-process by an
//! observer around the memory store (before a call reaches it, or after it was applied).

use std::sync::{Arc, Mutex};

use nsauth::ids::Nonce;
use nsauth::store::{MemoryStore, Observed, Observer, StoreError};
use nsauth_tests::{Stack, new_nonce};
use reqwest::Method;

/// Fails the named store call once: before it reaches the store, or after it was applied.
#[derive(Default)]
struct FaultOnce {
    before: Mutex<Option<&'static str>>,
    after: Mutex<Option<&'static str>>,
}

/// The observer the store holds; the test keeps the other handle to arm faults.
struct Faults(Arc<FaultOnce>);

impl Observer for Faults {
    fn call(&self, _: &'static str) {}

    fn fail_before(&self, method: &'static str) -> Option<StoreError> {
        let mut b = self.0.before.lock().unwrap();
        (*b == Some(method)).then(|| {
            *b = None;
            StoreError::Unavailable("injected".into())
        })
    }

    fn fail_after(&self, method: &'static str) -> Option<StoreError> {
        let mut a = self.0.after.lock().unwrap();
        (*a == Some(method)).then(|| {
            *a = None;
            StoreError::Unavailable("injected after the write".into())
        })
    }
}

async fn stack_with_faults() -> (Stack, Arc<FaultOnce>) {
    let faults = Arc::new(FaultOnce::default());
    let store = Observed::new(Arc::new(MemoryStore::new()), Faults(faults.clone()));
    (Stack::over(Arc::new(store)).await, faults)
}

async fn accounts(stack: &Stack) -> u64 {
    let (_, v) = stack.call(Method::GET, "/accounts/", None, None).await;
    v["totalnumber"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_each_step_of_enrolment_is_finished_by_a_retry() {
    for (step, after) in [
        ("use_enrol_token", false),
        ("use_enrol_token", true),
        ("create_account", false),
        ("create_account", true),
        // The login of the website's session: a 201 means it is written.
        ("update_session", false),
        ("update_session", true),
    ] {
        let (stack, faults) = stack_with_faults().await;
        let n = new_nonce();
        let link = stack.enrol_link(&n, "?userid=retry").await;
        if after {
            *faults.after.lock().unwrap() = Some(step);
        } else {
            *faults.before.lock().unwrap() = Some(step);
        }
        let mut phone = stack.phone();
        let key = nsauth::signing::generate_key();
        let first = phone.enrol_with_key(&link, "Phone", None, &key).await;
        let e = first.expect_err("the injected fault fails the first try");
        assert_eq!(e.status(), Some(503), "{step} after={after}: {e}");
        // The phone retries the same link with the same key, signed anew.
        stack.clock.advance(1);
        let acc = phone
            .enrol_with_key(&link, "Phone", None, &key)
            .await
            .unwrap_or_else(|e| panic!("{step} after={after}: retry failed: {e}"));
        assert_eq!(
            accounts(&stack).await,
            1,
            "{step} after={after}: one account"
        );
        let st = stack.status(&n).await;
        assert_eq!(st["accountid"], acc.accountid, "{step} after={after}: {st}");
        assert_eq!(st["userid"], "retry");
        // Once more (an answer lost again): the same account.
        stack.clock.advance(1);
        let mut again = stack.phone();
        let same = again
            .enrol_with_key(&link, "Phone", None, &key)
            .await
            .unwrap();
        assert_eq!(same.accountid, acc.accountid);
        assert_eq!(accounts(&stack).await, 1);
        // Another key cannot use the link.
        let mut stranger = stack.phone();
        let e = stranger.enrol(&link, "Other", None).await.unwrap_err();
        assert_eq!(e.status(), Some(409), "{e}");
        assert_eq!(accounts(&stack).await, 1);
        let _ = Nonce::parse(Some(&n)).unwrap();
    }
}
