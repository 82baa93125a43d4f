//! Login safety against relayed logins (docs/security.md, "Relayed logins"): the user
//! verification policy, over HTTP with the reference authenticator as the phone, on the
//! in-memory store and on DynamoDB (moto). Every refusal also checks that the session is
//! left as it was.

use nsauth_authenticator::{Authenticator, Error};
use nsauth_tests::{Stack, on_both_stores};
use reqwest::Method;
use serde_json::{Value, json};

on_both_stores!(user_verification_policy, user_verification_is_signed);

fn hsid_of_link(link: &str) -> String {
    let tail = link.rsplit('/').next().unwrap();
    tail.split('?').next().unwrap().to_string()
}

/// A phone enrolled through a website session of its own.
async fn enrolled(stack: &Stack, userid: &str) -> (Authenticator, u64) {
    let n = nsauth_tests::new_nonce();
    let link = stack.enrol_link(&n, &format!("?userid={userid}")).await;
    let mut phone = stack.phone();
    let acc = phone.enrol(&link, "Test phone", None).await.expect("enrol");
    (phone, acc.accountid)
}

fn http_error(e: Error) -> (u16, String) {
    match e {
        Error::Http { status, code, .. } => (status, code),
        other => panic!("not an HTTP error: {other:?}"),
    }
}

async fn user_verification_policy(stack: Stack) {
    let (mut phone, acc) = enrolled(&stack, "uv").await;

    // The default (`preferred`): an approval without verification is taken, and the login
    // says how the user was verified.
    let (n, link) = stack.new_session(None).await;
    let shown = phone.show(&link).await.unwrap();
    assert_eq!(shown["user_verification"], "preferred", "{shown}");
    phone.approve(&link, None, None).await.unwrap();
    let status = stack.status(&n).await;
    assert_eq!(
        (status["loggedin"].clone(), status["verification"].clone()),
        (json!(true), json!("none")),
        "{status}"
    );

    // `required`: refused (403, a clear error) and nothing changes.
    stack.set_setting("user_verification", "required").await;
    let (n, link) = stack.new_session(None).await;
    let shown = phone.show(&link).await.unwrap();
    assert_eq!(shown["user_verification"], "required", "{shown}");
    let before = stack.stored_session(&n).await.unwrap();
    let (status, code) = http_error(phone.approve(&link, None, None).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "user_verification_required"));
    assert_eq!(stack.stored_session(&n).await.unwrap(), before);
    // The same refusal through a raw body that says `none`.
    let path = format!("/app/v1/sessions/{}/approve", hsid_of_link(&link));
    let sid = stack.serverid.to_string();
    let req = phone
        .signed(&sid, "POST", &path, br#"{"verification":"none"}"#.to_vec())
        .unwrap();
    let (status, body) = phone.send(req).await.unwrap();
    nsauth_tests::assert_error(status, &body, 403, "user_verification_required");
    assert_eq!(stack.stored_session(&n).await.unwrap(), before);
    // An unknown method is bad input, not a verification.
    let req = phone
        .signed(&sid, "POST", &path, br#"{"verification":"face"}"#.to_vec())
        .unwrap();
    let (status, body) = phone.send(req).await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(stack.stored_session(&n).await.unwrap(), before);

    // With the PIN: accepted; getSession and the session overview report `pin`.
    phone.set_pin("2468").unwrap();
    let e = phone
        .approve_with(&link, None, None, Some("1111"))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Pin(m) if m == "wrong PIN"), "{e:?}");
    assert_eq!(stack.stored_session(&n).await.unwrap(), before);
    phone
        .approve_with(&link, None, None, Some("2468"))
        .await
        .unwrap();
    let status = stack.status(&n).await;
    assert_eq!(
        (status["loggedin"].clone(), status["verification"].clone()),
        (json!(true), json!("pin")),
        "{status}"
    );
    let (code, list) = stack
        .call(
            Method::GET,
            &format!("/accounts/{acc}/sessions"),
            None,
            None,
        )
        .await;
    assert_eq!(code, 200, "{list}");
    let entry = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["hsid"] == json!(hsid_of_link(&link)))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(entry["verification"], "pin", "{list}");
    // After logout the status carries no verification (nobody is logged in).
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    let status = stack.status(&n).await;
    assert!(status.get("verification").is_none(), "{status}");

    // `discouraged`: an unverified approval is taken.
    stack.set_setting("user_verification", "discouraged").await;
    phone.clear_pin("2468").unwrap();
    let (n, link) = stack.new_session(None).await;
    phone.approve(&link, None, None).await.unwrap();
    assert_eq!(stack.status(&n).await["verification"], "none");
}

/// The method is inside the signed body: changing it on the way breaks the signature.
async fn user_verification_is_signed(stack: Stack) {
    let (phone, _) = enrolled(&stack, "uvsig").await;
    stack.set_setting("user_verification", "required").await;
    let (n, link) = stack.new_session(None).await;
    let before = stack.stored_session(&n).await.unwrap();
    let path = format!("/app/v1/sessions/{}/approve", hsid_of_link(&link));
    let sid = stack.serverid.to_string();
    let mut tampered = phone
        .signed(&sid, "POST", &path, br#"{"verification":"none"}"#.to_vec())
        .unwrap();
    tampered.body = br#"{"verification":"pin"}"#.to_vec();
    let (status, body) = phone.send(tampered).await.unwrap();
    nsauth_tests::assert_error(status, &body, 401, "bad_signature");
    assert_eq!(stack.stored_session(&n).await.unwrap(), before);
    // The body as signed, with `pin`, is taken.
    let req = phone
        .signed(&sid, "POST", &path, br#"{"verification":"pin"}"#.to_vec())
        .unwrap();
    let (status, body) = phone.send(req).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(stack.status(&n).await["verification"], "pin");
}
