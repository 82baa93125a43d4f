//! Logins that `session_lifetime` ends (issue 13, item 3): the scheduled run
//! (`service::lifetimes::end_due`) writes the end down, so the page gets LOGOUT and the
//! website a logout event with `data.reason` `lifetime`, once; a session logged out
//! earlier, logged in again or not yet at its end is left alone. On the in-memory store
//! and DynamoDB (moto), with the store's change feed standing in for the table's stream
//! and the notifier's own code turning each change into frames and events.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nsauth::clock::Clock;
use nsauth::live::connections::{Connections, PostError};
use nsauth::live::{events, notifier};
use nsauth::service::lifetimes::{self, Ended};
use nsauth::session::{EndReason, SessionState};
use nsauth::store::{ChangeStream, MemoryStore, SessionChange};
use nsauth_tests::{START, Stack, dynamo_store, hsid_of, moto};
use serde_json::Value;
use tokio::sync::broadcast;

/// Records every frame the notifier posts.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

#[async_trait]
impl Connections for Recorder {
    async fn post(&self, conn: &str, text: &str) -> Result<(), PostError> {
        self.0
            .lock()
            .unwrap()
            .push((conn.to_string(), text.to_string()));
        Ok(())
    }
}

/// What the changes written since the last call produce, as the notifier turns each one
/// into frames (to the watchers) and website events.
async fn delivered(
    stack: &Stack,
    feed: &mut broadcast::Receiver<SessionChange>,
) -> (Vec<String>, Vec<Value>) {
    let rec = Recorder::default();
    let mut evs = Vec::new();
    let now = stack.clock.now();
    while let Ok((old, new)) = feed.try_recv() {
        notifier::tell_watchers(&stack.deps, &rec, old.as_ref(), &new, now)
            .await
            .unwrap();
        evs.extend(events::for_change(old.as_ref(), &new, now));
    }
    let frames = rec
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| t.clone())
        .collect();
    (frames, evs)
}

/// A phone's login on a new website session: its nonce and login link.
async fn logged_in(
    stack: &Stack,
    phone: &mut nsauth_authenticator::Authenticator,
) -> (String, String) {
    let (n, link) = stack.new_session(None).await;
    phone.show(&link).await.unwrap();
    phone.approve(&link, None, None).await.unwrap();
    assert_eq!(stack.status(&n).await["loggedin"], true);
    (n, link)
}

const LIFETIME: i64 = 300;

async fn lifetime_ends_once(stack: Stack, mut feed: broadcast::Receiver<SessionChange>) {
    assert_eq!(
        START % 60,
        0,
        "the times below assume START begins a minute"
    );
    let sid = stack.serverid.to_string();
    let enrol = nsauth_tests::new_nonce();
    let link = stack.enrol_link(&enrol, "").await;
    let mut phone = stack.phone();
    phone.enrol(&link, "phone", None).await.unwrap();
    // After the enrolment, whose login keeps the default lifetime (12 hours).
    stack
        .set_setting("session_lifetime", &LIFETIME.to_string())
        .await;

    stack.clock.set(START + 10);
    // Ends at START + 310: ended by the run at START + 320.
    let (due, _) = logged_in(&stack, &mut phone).await;
    // Logged out by the website before its end: left alone.
    let (by_hand, _) = logged_in(&stack, &mut phone).await;
    // Its end passes, then it is logged in again before the run: a new end, left alone.
    let (again, again_link) = logged_in(&stack, &mut phone).await;
    stack.clock.set(START + 20);
    let (status, _) = stack
        .call(
            reqwest::Method::POST,
            "/sessions/logout",
            Some(&by_hand),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Ends at START + 340, in the minute of the run but after it: left alone.
    stack.clock.set(START + 40);
    let (later, _) = logged_in(&stack, &mut phone).await;
    let hsid = |n: &str| hsid_of(&stack, n);
    for (conn, n) in [("c-due", &due), ("c-later", &later), ("c-again", &again)] {
        stack
            .store()
            .subscribe(conn, &hsid(n), START + 7200, 20)
            .await
            .unwrap();
    }
    stack.clock.set(START + 315);
    let (status, v) = stack
        .call(
            reqwest::Method::GET,
            "/sessions/qr/login",
            Some(&again),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    phone.show(&again_link).await.unwrap();
    phone.approve(&again_link, None, None).await.unwrap();
    assert_eq!(stack.status(&again).await["loggedin"], true);
    let _ = delivered(&stack, &mut feed).await;

    let before_due = stack.stored_session(&due).await.unwrap();
    let before_by_hand = stack.stored_session(&by_hand).await.unwrap();
    let before_later = stack.stored_session(&later).await.unwrap();
    let before_again = stack.stored_session(&again).await.unwrap();
    let status_due = stack.status(&due).await;
    let status_later = stack.status(&later).await;
    assert_eq!(
        status_due["state"], "loggedout",
        "read-time expiry, as before"
    );

    // The run, 10 seconds after the end.
    stack.clock.set(START + 320);
    stack.counting.reset();
    let ended = lifetimes::end_due(&stack.deps, stack.clock.now())
        .await
        .unwrap();
    assert_eq!((ended.ended, ended.failed), (1, 0), "{ended:?}");
    let counts = stack.counting.counts();
    assert_eq!(counts.get("update_session"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("sessions_ending"),
        Some(&(lifetimes::CATCH_UP_MINUTES as usize + 1)),
        "one query per minute: {counts:?}"
    );
    assert_eq!(counts.get("get_session"), Some(&ended.listed), "{counts:?}");

    let stored = stack.stored_session(&due).await.unwrap();
    assert_eq!(stored.state, SessionState::LoggedOut);
    assert_eq!(stored.ended, Some(EndReason::Lifetime));
    assert_eq!(stored.version, before_due.version + 1);
    assert_eq!(stored.expires_at, before_due.expires_at, "the end is kept");
    assert_eq!(
        stack.stored_session(&by_hand).await.unwrap(),
        before_by_hand
    );
    assert_eq!(stack.stored_session(&later).await.unwrap(), before_later);
    assert_eq!(stack.stored_session(&again).await.unwrap(), before_again);
    // getSession answers as before.
    assert_eq!(stack.status(&due).await, status_due);
    assert_eq!(stack.status(&later).await, status_later);
    assert_eq!(status_later["loggedin"], true);

    let (frames, evs) = delivered(&stack, &mut feed).await;
    let h = hsid(&due);
    assert_eq!(frames, vec![format!("LOGOUT {h} {sid}")]);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["type"], "org.nsauth.session.logout");
    assert_eq!(evs[0]["subject"], h.to_string());
    assert_eq!(evs[0]["data"]["reason"], "lifetime");
    assert_eq!(evs[0]["data"]["state"], "loggedout");

    // Again: nothing more to write, nothing more to tell.
    stack.counting.reset();
    stack.clock.set(START + 330);
    let twice = lifetimes::end_due(&stack.deps, stack.clock.now())
        .await
        .unwrap();
    assert_eq!(twice.ended, 0, "{twice:?}");
    assert_eq!(stack.counting.counts().get("update_session"), None);
    assert_eq!(delivered(&stack, &mut feed).await, (vec![], vec![]));

    // The later one and the new login once their ends are reached (START + 340 and
    // START + 615); a run that was missed is caught up, up to CATCH_UP_MINUTES back.
    stack.clock.set(START + 340 + 9 * 60);
    let caught_up = lifetimes::end_due(&stack.deps, stack.clock.now())
        .await
        .unwrap();
    assert_eq!(
        caught_up,
        Ended {
            listed: 2,
            ended: 2,
            failed: 0
        }
    );
    let (mut frames, evs) = delivered(&stack, &mut feed).await;
    frames.sort();
    let mut want = vec![
        format!("LOGOUT {} {sid}", hsid(&later)),
        format!("LOGOUT {} {sid}", hsid(&again)),
    ];
    want.sort();
    assert_eq!(frames, want);
    assert_eq!(evs.len(), 2);
    assert!(evs.iter().all(|e| e["data"]["reason"] == "lifetime"));

    // A website logout still says `logout`.
    let (n, _) = logged_in(&stack, &mut phone).await;
    let _ = delivered(&stack, &mut feed).await;
    stack
        .call(reqwest::Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    let (_, evs) = delivered(&stack, &mut feed).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["data"]["reason"], "logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifetime_ends_once_in_memory() {
    let stream = ChangeStream::new();
    let feed = stream.subscribe();
    let stack = Stack::over(Arc::new(MemoryStore::new().with_stream(stream))).await;
    lifetime_ends_once(stack, feed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifetime_ends_once_on_moto() {
    let Some(url) = moto() else { return };
    let stream = ChangeStream::new();
    let feed = stream.subscribe();
    let store = dynamo_store(&url, true).await.with_stream(stream);
    let stack = Stack::over(Arc::new(store)).await;
    lifetime_ends_once(stack, feed).await;
}
