//! The v2.2 listings over HTTP: getAllAccounts and getUsers page through 1,000 accounts by
//! `limit` and `marker` (an offset), each account exactly once, with no Scan: every page is
//! one read of the keys-only account index and one batch read of the page's accounts
//! (counted with the counting store). On memory and on DynamoDB (dynalite).

use std::collections::BTreeSet;

use nsauth::account::{Account, Platform, PushEndpoint};
use nsauth_tests::{START, Stack, on_atomic_stores};
use reqwest::Method;
use serde_json::{Value, json};

on_atomic_stores!(
    pages_through_a_thousand_accounts,
    sorting_searching_and_bad_input
);

const ACCOUNTS: u64 = 1000;

fn account(stack: &Stack, id: u64) -> Account {
    Account {
        serverid: stack.serverid.clone(),
        accountid: id,
        publickey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQc".into(),
        description: format!("Phone {id}"),
        clientversion: "2.0".into(),
        // Every third account has no user; the others belong to 100 users, 6 or 7 each.
        userid: (!id.is_multiple_of(3)).then(|| format!("user{:03}", id % 100)),
        blocked: false,
        created: START + id as i64,
        lastlogin: Some(START + 10_000 + id as i64),
        lastprovoke: None,
        push: Some(PushEndpoint {
            platform: Platform::Fcm,
            endpoint_arn: format!("arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/{id}"),
            disabled: false,
        }),
        fraud_reports: 0,
        enrolling: None,
        version: 1,
    }
}

async fn seed(stack: &Stack, n: u64) {
    use futures_util::StreamExt;
    futures_util::stream::iter(1..=n)
        .for_each_concurrent(16, |id| async move {
            stack
                .store()
                .create_account(&account(stack, id))
                .await
                .unwrap();
        })
        .await;
}

async fn pages_through_a_thousand_accounts(stack: Stack) {
    seed(&stack, ACCOUNTS).await;
    stack.counting.reset();
    let mut seen = BTreeSet::new();
    let mut marker = 0;
    let mut pages = 0;
    loop {
        let (status, v) = stack
            .call(
                Method::GET,
                &format!("/accounts/?limit=100&marker={marker}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["totalnumber"], json!(ACCOUNTS), "{marker}");
        let page = v["accounts"].as_array().unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        for a in page {
            let id = a["id"].as_u64().unwrap();
            assert!(seen.insert(id), "account {id} twice");
            assert_eq!(a["accountid"], a["id"]);
            assert_eq!(a["created"], json!((START + id as i64) * 1000), "{a}");
            assert_eq!(a.get("userid").is_none(), id.is_multiple_of(3), "{a}");
        }
        // Default order: by id, ascending.
        let ids: Vec<u64> = page.iter().map(|a| a["id"].as_u64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        marker += page.len();
    }
    assert_eq!(pages, 10);
    assert_eq!(seen.len() as u64, ACCOUNTS);
    let counts = stack.counting.counts();
    // 11 pages asked (the last one empty), each one index read and one batch read; nothing
    // else, and no method that reads the table whole exists.
    assert_eq!(counts.get("account_index"), Some(&11), "{counts:?}");
    assert_eq!(counts.get("get_accounts"), Some(&11), "{counts:?}");
    assert_eq!(counts.get("get_account"), None, "{counts:?}");

    // getUsers: 100 users (ids not divisible by 3), 25 a page.
    stack.counting.reset();
    let mut users = BTreeSet::new();
    let mut total_accounts = 0;
    for marker in (0..100).step_by(25) {
        let (status, v) = stack
            .call(
                Method::GET,
                &format!("/users/?limit=25&marker={marker}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["totalnumber"], json!(100));
        for u in v["users"].as_array().unwrap() {
            let name = u["userid"].as_str().unwrap().to_string();
            let n = u["numberaccounts"].as_u64().unwrap();
            let k: u64 = name[4..].parse().unwrap();
            let want = (1..=ACCOUNTS).filter(|id| id % 100 == k && !id.is_multiple_of(3));
            assert_eq!(n, want.clone().count() as u64, "{u}");
            let latest = want.max().unwrap();
            assert_eq!(
                u["lastlogin"],
                json!((START + 10_000 + latest as i64) * 1000)
            );
            total_accounts += n;
            assert!(users.insert(name));
        }
    }
    assert_eq!(users.len(), 100);
    assert_eq!(
        total_accounts,
        (1..=ACCOUNTS).filter(|id| !id.is_multiple_of(3)).count() as u64
    );
    let counts = stack.counting.counts();
    assert_eq!(counts.get("account_index"), Some(&4), "{counts:?}");
    assert_eq!(counts.get("get_accounts"), Some(&4), "{counts:?}");
}

async fn sorting_searching_and_bad_input(stack: Stack) {
    seed(&stack, 30).await;
    let get = |path: String| {
        let stack = &stack;
        async move { stack.call(Method::GET, &path, None, None).await }
    };
    let (_, v) = get("/accounts/?sort=id:desc&limit=3".into()).await;
    let ids: Vec<&Value> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(ids, vec![&json!(30), &json!(29), &json!(28)]);
    let (_, v) = get("/accounts/?sort=userid:desc,id:asc&limit=2".into()).await;
    let first: Vec<&Value> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["userid"])
        .collect();
    assert_eq!(first, vec![&json!("user029"), &json!("user028")]);
    let (_, v) = get("/users/?search=USER02&sort=numberaccounts:desc,userid".into()).await;
    let names: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userid"].as_str().unwrap())
        .collect();
    // user020..user029 except those whose only account has an id divisible by 3.
    assert!(names.iter().all(|n| n.starts_with("user02")), "{names:?}");
    assert_eq!(v["totalnumber"], json!(names.len()));
    assert!(
        !names.contains(&"user021") && names.contains(&"user020"),
        "{names:?}"
    );
    // A marker past the end: an empty page, the total still right.
    let (status, v) = get("/accounts/?marker=5000".into()).await;
    assert_eq!(
        (status, v["accounts"].clone(), v["totalnumber"].clone()),
        (200, json!([]), json!(30))
    );
    // A limit out of range is clamped, as v2.2 clients expect of sizes.
    let (_, v) = get("/accounts/?limit=0".into()).await;
    assert_eq!(v["accounts"].as_array().unwrap().len(), 1);
    // Attributes are not stored yet: a well-formed filter matches nothing.
    let (status, v) = get("/users/?filter=group%3Din%3Aa%2Cb".into()).await;
    assert_eq!((status, v["totalnumber"].clone()), (200, json!(0)));
    // getUser's paging: user001 has accounts 1 and 101 (only those under 31 exist here).
    let (status, v) = get("/users/user001/accounts?limit=1".into()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["userid"], "user001");
    assert_eq!(v["totalnumber"], json!(1));
    assert_eq!(v["accounts"][0]["id"], json!(1));
    for (path, field) in [
        ("/accounts/?sort=lastlogin", "sort"),
        ("/accounts/?sort=id:sideways", "sort"),
        ("/accounts/?marker=-1", "marker"),
        ("/accounts/?limit=ten", "limit"),
        ("/users/?filter=nogroup", "filter"),
        ("/users/?sort=numberaccounts:up", "sort"),
    ] {
        let (status, v) = get(path.into()).await;
        nsauth_tests::assert_error(status, &v, 400, "invalid_field");
        assert!(
            v["message"].as_str().unwrap().starts_with(field),
            "{path}: {v}"
        );
    }
    // Deleting a user's accounts: deleteUserAccounts answers 0 for nobody, deleteUser 404.
    let (status, v) = stack
        .call(Method::DELETE, "/users/nobody/accounts", None, None)
        .await;
    assert_eq!((status, v["deleted"].clone()), (200, json!(0)));
    let (status, v) = stack
        .call(Method::DELETE, "/users/nobody/", None, None)
        .await;
    nsauth_tests::assert_error(status, &v, 404, "not_found");
    let (status, v) = stack
        .call(Method::DELETE, "/users/user002/accounts", None, None)
        .await;
    assert_eq!((status, v["deleted"].clone()), (200, json!(1)), "{v}");
    let (_, v) = get("/accounts/".into()).await;
    assert_eq!(v["totalnumber"], json!(29));
}
