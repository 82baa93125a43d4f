//! Idempotent enrolment (issue 13, item 1): a fault between enrolment's writes, or an
//! answer lost after them, leaves nothing the phone cannot finish: the same key retrying
//! the same link gets the same account, made once, logged in to the website's session,
//! and the link still refuses any other key. The faults are injected in-process by an
//! observer around the memory store (before a call reaches it, or after it was applied).

use nsauth::ids::Nonce;
use nsauth_tests::faults::stack_with_faults;
use nsauth_tests::{Stack, new_nonce};
use reqwest::Method;

async fn accounts(stack: &Stack) -> u64 {
    let (_, v) = stack.call(Method::GET, "/accounts/", None, None).await;
    v["totalnumber"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_each_step_of_enrolment_is_finished_by_a_retry() {
    for (step, after) in [
        ("claim_public_key", true),
        ("allocate_accountid", false),
        ("use_enrol_token", false),
        ("use_enrol_token", true),
        ("create_account", false),
        ("create_account", true),
        // The login of the website's session: a 201 means it is written.
        ("get_session", false),
        ("update_session", false),
        ("update_session", true),
        // The write that finishes the account (puts it in the listings).
        ("update_account", false),
        ("update_account", true),
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

/// The accounts of user `userid` that getUser lists (none: 404 or an empty list).
async fn user_accounts(stack: &Stack, userid: &str) -> usize {
    let (status, v) = stack
        .call(
            Method::GET,
            &format!("/users/{userid}/accounts"),
            None,
            None,
        )
        .await;
    match status {
        200 => v["accounts"].as_array().map_or(0, Vec::len),
        404 => 0,
        _ => panic!("getUser answered {status}: {v}"),
    }
}

/// An app that gives up after the 503 (it never retries) leaves no account a website can
/// see: the account is written unfinished (in no index, invisible to every account read)
/// and only finished after the session's login, so an enrolment cut off anywhere before
/// that last write shows in no listing, no user and no read, and the unfinished account is
/// dropped once the link's retries are over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_cut_off_and_never_retried_leaves_no_listed_account() {
    for (step, after) in [
        ("create_account", true),
        ("get_session", false),
        ("update_session", false),
        ("update_session", true),
        ("update_account", false),
    ] {
        let (stack, faults) = stack_with_faults().await;
        let n = new_nonce();
        let link = stack.enrol_link(&n, "?userid=gaveup").await;
        if after {
            *faults.after.lock().unwrap() = Some(step);
        } else {
            *faults.before.lock().unwrap() = Some(step);
        }
        let mut phone = stack.phone();
        let key = nsauth::signing::generate_key();
        let e = phone
            .enrol_with_key(&link, "Phone", None, &key)
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(503), "{step} after={after}: {e}");
        // The account exists, unfinished, and nothing a website or phone reads shows it.
        let store = stack.store();
        let unfinished = store
            .get_enrolment_account(&stack.serverid, 1)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{step} after={after}: the account was written"));
        assert!(unfinished.enrolling.is_some(), "{step} after={after}");
        assert_eq!(accounts(&stack).await, 0, "{step} after={after}: listed");
        assert_eq!(
            user_accounts(&stack, "gaveup").await,
            0,
            "{step} after={after}"
        );
        let (status, v) = stack.call(Method::GET, "/accounts/1", None, None).await;
        assert_eq!(status, 404, "{step} after={after}: getAccount {v}");
        assert!(
            store
                .get_account(&stack.serverid, 1)
                .await
                .unwrap()
                .is_none()
        );
        let (_, acc) = store
            .get_server_and_account(&stack.serverid, 1)
            .await
            .unwrap();
        assert!(
            acc.is_none(),
            "{step} after={after}: a phone could sign with it"
        );
        assert!(
            store
                .account_index(&stack.serverid)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .user_accounts(&stack.serverid, "gaveup")
                .await
                .unwrap()
                .is_empty()
        );
        // Past the link's life and the grace for retries, expiry drops it (the memory
        // store learns the time from a write, as DynamoDB's TTL from its clock).
        stack.clock.advance(600 + 3_600 + 1);
        let _ = stack.new_session(None).await;
        assert!(
            store
                .get_enrolment_account(&stack.serverid, 1)
                .await
                .unwrap()
                .is_none(),
            "{step} after={after}: the unfinished account outlived its TTL"
        );
        // The link is over: a late retry of the same key is refused, nothing is made.
        let e = phone
            .enrol_with_key(&link, "Phone", None, &key)
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(409), "{step} after={after}: {e}");
        assert!(e.to_string().contains("token_expired"), "{e}");
        assert_eq!(accounts(&stack).await, 0);
    }
}

/// A link refused for good (used by another key) gives the key back: the same key then
/// enrols with a new link. A fault keeps the key claimed (another try of the same
/// enrolment may still be under way and succeed with it): the same key with another link is
/// then 409 key_enrolled, and its own link, retried, finishes the enrolment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_link_gives_the_key_back_and_a_fault_keeps_it() {
    let (stack, faults) = stack_with_faults().await;
    let used = stack.enrol_link(&new_nonce(), "").await;
    stack.phone().enrol(&used, "First", None).await.unwrap();
    let key = nsauth::signing::generate_key();
    let mut phone = stack.phone();
    let e = phone
        .enrol_with_key(&used, "Phone", None, &key)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("token_used"), "{e}");
    let fresh = stack.enrol_link(&new_nonce(), "").await;
    stack.clock.advance(1);
    let acc = phone
        .enrol_with_key(&fresh, "Phone", None, &key)
        .await
        .expect("the refused link gave the key back");
    assert_eq!(accounts(&stack).await, 2);

    let key = nsauth::signing::generate_key();
    let mut phone = stack.phone();
    let link = stack.enrol_link(&new_nonce(), "").await;
    *faults.before.lock().unwrap() = Some("use_enrol_token");
    let e = phone
        .enrol_with_key(&link, "Phone", None, &key)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    let other = stack.enrol_link(&new_nonce(), "").await;
    stack.clock.advance(1);
    let e = phone
        .enrol_with_key(&other, "Phone", None, &key)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("key_enrolled"), "{e}");
    let second = phone
        .enrol_with_key(&link, "Phone", None, &key)
        .await
        .expect("its own link finishes it");
    assert_ne!(second.accountid, acc.accountid);
    assert_eq!(accounts(&stack).await, 3);
}
