//! Transaction signing over HTTP (v2.2 createTransaction, getTransactionResult, and the
//! phone's show/approve/decline): only the logged-in account signs, the signature covers
//! the exact signed text, one answer per transaction, and every refusal leaves the stored
//! transaction as it was. On memory and on DynamoDB (moto).

use base64::Engine;
use nsauth_authenticator::Authenticator;
use nsauth_tests::{Stack, new_nonce, on_both_stores};
use reqwest::Method;
use serde_json::{Value, json};

on_both_stores!(
    signed_end_to_end,
    refusals_change_nothing,
    transactions_close_with_their_login_and_time
);

/// A phone enrolled (and so logged in) on a new session of user `userid`.
async fn logged_in(
    stack: &Stack,
    userid: &str,
    push: Option<&str>,
) -> (Authenticator, u64, String) {
    match push {
        Some(token) => stack.phone_with_push(userid, token).await,
        None => {
            let n = new_nonce();
            let link = stack.enrol_link(&n, &format!("?userid={userid}")).await;
            let mut phone = stack.phone();
            let acc = phone.enrol(&link, "Phone", None).await.expect("enrol");
            (phone, acc.accountid, n)
        }
    }
}

async fn create(stack: &Stack, nonce: &str, body: Value) -> (u16, Value) {
    stack
        .call(
            Method::POST,
            "/sessions/transactions",
            Some(nonce),
            Some(body),
        )
        .await
}

async fn result(stack: &Stack, tid: &str) -> (u16, Value) {
    stack
        .call(Method::GET, &format!("/transactions/{tid}"), None, None)
        .await
}

/// The phone's signed call, any status.
async fn phone_call(
    phone: &Authenticator,
    stack: &Stack,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    let req = phone
        .signed(&stack.serverid.to_string(), method, path, body)
        .unwrap();
    phone.send(req).await.unwrap()
}

/// Checks a proof as a website would (infra/scripts/compat_v22.py does it again with
/// Python's `cryptography`, independently of this crate).
fn verify(pk_b64: &str, signed: &str, sig_b64url: &str) -> bool {
    let der = base64::engine::general_purpose::STANDARD
        .decode(pk_b64)
        .unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig_b64url)
        .unwrap();
    let sig: [u8; 64] = raw.try_into().unwrap();
    nsauth::signing::verify(&nsauth::ids::b64url(&der), signed.as_bytes(), &sig).is_ok()
}

async fn signed_end_to_end(stack: Stack) {
    let push = stack.local_push.is_some().then_some("tok-tx");
    let (phone, acc, n) = logged_in(&stack, "payer", push).await;
    let (status, created) = create(
        &stack,
        &n,
        json!({"amount": "EUR 120.00", "benificiary": "ACME Ltd", "description": "Invoice 7"}),
    )
    .await;
    assert_eq!(status, 200, "v2.2 answers 200: {created}");
    let tid = created["tid"].as_str().unwrap().to_string();
    assert_eq!(tid.len(), 43);
    let link = format!("nsauth://tx/{}/{tid}", stack.serverid);
    assert_eq!(created["txlink"], link);
    let qr = base64::engine::general_purpose::STANDARD
        .decode(created["txqrdata"].as_str().unwrap())
        .unwrap();
    assert_eq!(qr, link.as_bytes());
    if let Some(local) = &stack.local_push {
        // The push names the transaction; its content stays off Apple's and Google's wires.
        assert_eq!(created["pushed"], json!(1));
        let sent = local.outbox_for("tok-tx");
        let last = sent.last().expect("a push").message.to_string();
        assert!(
            last.contains(&tid) && last.contains("transaction"),
            "{last}"
        );
        assert!(!last.contains("ACME") && !last.contains("120.00"), "{last}");
    }
    let (status, r) = result(&stack, &tid).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["tstatus"].clone(), r["state"].clone()),
        (json!("0"), json!("new"))
    );
    for absent in ["pk", "signed", "signature", "accountid"] {
        assert!(r.get(absent).is_none(), "{absent} before approval: {r}");
    }

    // The phone sees what to sign.
    let path = format!("app/v1/transactions/{tid}");
    let (status, shown) = phone_call(&phone, &stack, "GET", &path, Value::Null).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        (
            shown["amount"].clone(),
            shown["benificiary"].clone(),
            shown["state"].clone()
        ),
        (json!("EUR 120.00"), json!("ACME Ltd"), json!("new"))
    );
    let signed = shown["signed"].as_str().unwrap().to_string();
    let text: Value = serde_json::from_str(&signed).unwrap();
    assert_eq!(text["accountid"], json!(acc));
    assert_eq!(text["tid"], json!(tid));
    assert_eq!(text["type"], "nsauth-transaction-v1");

    // Approve: the signature over the exact text.
    let sig = phone
        .transaction_signature(&stack.serverid.to_string(), &signed)
        .unwrap();
    let approve = format!("app/v1/transactions/{tid}/approve");
    // A transaction needs the user verified on the phone, whatever the server's policy:
    // without it (or with `none`) the right signature is refused and nothing changes.
    for body in [
        json!({"signature": sig}),
        json!({"signature": sig, "verification": "none"}),
    ] {
        let (status, v) = phone_call(&phone, &stack, "POST", &approve, body).await;
        nsauth_tests::assert_error(status, &v, 403, "user_verification_required");
        let (_, r) = result(&stack, &tid).await;
        assert_eq!(r["state"], "new", "{r}");
    }
    let (status, v) = phone_call(
        &phone,
        &stack,
        "POST",
        &approve,
        json!({"signature": sig, "verification": "pin"}),
    )
    .await;
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("approved")),
        "{v}"
    );
    let (_, r) = result(&stack, &tid).await;
    assert_eq!(
        (r["tstatus"].clone(), r["state"].clone()),
        (json!("1"), json!("approved"))
    );
    assert_eq!(r["accountid"], json!(acc));
    assert_eq!(r["userid"], "payer");
    assert_eq!(r["signed"], json!(signed));
    assert_eq!(r["verification"], "pin");
    let pk = r["pk"].as_str().unwrap();
    assert!(verify(pk, &signed, r["signature"].as_str().unwrap()));
    // A proof with another amount does not verify.
    let tampered = signed.replace("EUR 120.00", "EUR 920.00");
    assert_ne!(tampered, signed);
    assert!(!verify(pk, &tampered, r["signature"].as_str().unwrap()));

    // The same approval again (a retry after a lost answer, signed anew: the identical
    // request is a replay) answers the same; a decline now is refused and changes nothing.
    stack.clock.advance(1);
    let (status, v) = phone_call(
        &phone,
        &stack,
        "POST",
        &approve,
        json!({"signature": sig, "verification": "pin"}),
    )
    .await;
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("approved")),
        "{v}"
    );
    let decline = format!("app/v1/transactions/{tid}/decline");
    let (status, v) = phone_call(&phone, &stack, "POST", &decline, json!({})).await;
    nsauth_tests::assert_error(status, &v, 409, "transaction_closed");
    let (_, after) = result(&stack, &tid).await;
    assert_eq!(after, r, "a refused answer changes nothing");

    // A declined one: tstatus "2", no proof.
    let (_, created) = create(&stack, &n, json!({"amount": "1", "beneficiary": "Bob"})).await;
    let tid2 = created["tid"].as_str().unwrap();
    let (status, v) = phone_call(
        &phone,
        &stack,
        "POST",
        &format!("app/v1/transactions/{tid2}/decline"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("declined")),
        "{v}"
    );
    let (_, r2) = result(&stack, tid2).await;
    assert_eq!(
        (r2["tstatus"].clone(), r2["benificiary"].clone()),
        (json!("2"), json!("Bob"))
    );
    assert!(r2.get("signature").is_none(), "{r2}");
    // The first one's proof is still there.
    assert_eq!(result(&stack, &tid).await.1, r);
}

async fn refusals_change_nothing(stack: Stack) {
    let (phone, _, n) = logged_in(&stack, "ann", None).await;
    let (other, _, _) = logged_in(&stack, "ben", None).await;
    // Bad bodies: 400 naming the field, nothing stored.
    for (body, field) in [
        (json!({}), "amount"),
        (json!({"amount": "9".repeat(65)}), "amount"),
        (
            json!({"amount": "1", "benificiary": "a\u{7}b"}),
            "benificiary",
        ),
        (json!({"description": "x".repeat(1001)}), "description"),
    ] {
        let (status, v) = create(&stack, &n, body.clone()).await;
        nsauth_tests::assert_error(status, &v, 400, "invalid_field");
        assert!(
            v["message"].as_str().unwrap().starts_with(field),
            "{body}: {v}"
        );
    }
    // A session nobody is logged in to: 403, as v2.2 has it.
    let stranger = new_nonce();
    let (status, v) = create(&stack, &stranger, json!({"amount": "1"})).await;
    nsauth_tests::assert_error(status, &v, 403, "not_logged_in");
    let hsid = nsauth::ids::Nonce::parse(Some(&stranger))
        .unwrap()
        .hsid(&stack.serverid);
    assert!(stack.store().get_session(&hsid).await.unwrap().is_none());

    let (_, created) = create(&stack, &n, json!({"amount": "5", "benificiary": "Cy"})).await;
    let tid = created["tid"].as_str().unwrap().to_string();
    let (_, before) = result(&stack, &tid).await;
    // Another account of the server may neither see nor answer it.
    let path = format!("app/v1/transactions/{tid}");
    let (status, v) = phone_call(&other, &stack, "GET", &path, Value::Null).await;
    nsauth_tests::assert_error(status, &v, 403, "not_your_transaction");
    let shown = phone_call(&phone, &stack, "GET", &path, Value::Null)
        .await
        .1;
    let signed = shown["signed"].as_str().unwrap();
    let theirs = other
        .transaction_signature(&stack.serverid.to_string(), signed)
        .unwrap();
    let (status, v) = phone_call(
        &other,
        &stack,
        "POST",
        &format!("{path}/approve"),
        json!({"signature": theirs}),
    )
    .await;
    nsauth_tests::assert_error(status, &v, 403, "not_your_transaction");
    // The right account, a signature over another text, or no signature at all.
    let wrong = phone
        .transaction_signature(
            &stack.serverid.to_string(),
            &signed.replace("\"5\"", "\"50\""),
        )
        .unwrap();
    for body in [
        json!({"signature": wrong}),
        json!({}),
        json!({"signature": "!!"}),
    ] {
        let (status, v) = phone_call(
            &phone,
            &stack,
            "POST",
            &format!("{path}/approve"),
            body.clone(),
        )
        .await;
        nsauth_tests::assert_error(status, &v, 400, "bad_transaction_signature");
    }
    assert_eq!(result(&stack, &tid).await.1, before, "nothing changed");
    // Ids: unknown, malformed, another server's.
    let unknown = nsauth::transaction::TransactionId::generate(&hsid).to_string();
    let (status, v) = result(&stack, &unknown).await;
    nsauth_tests::assert_error(status, &v, 404, "not_found");
    let (status, v) = result(&stack, "nope").await;
    nsauth_tests::assert_error(status, &v, 400, "invalid_field");
    let other_server = nsauth::service::admin::create_server(
        stack.store(),
        nsauth::settings::ServerSettings::default(),
        None,
        nsauth_tests::START,
    )
    .await
    .unwrap();
    let (status, v) = nsauth_tests::json(
        nsauth_tests::http()
            .get(format!(
                "{}/servers/{}/transactions/{tid}",
                stack.base, other_server.0.serverid
            ))
            .header("X-apikey", other_server.1.expose())
            .send()
            .await
            .unwrap(),
    )
    .await;
    nsauth_tests::assert_error(status, &v, 404, "not_found");
    // A key without 'sessions' is refused before anything is read.
    let k = nsauth::service::admin::create_key(
        stack.store(),
        &stack.serverid,
        vec![nsauth::apikey::Permission::Accounts],
        "a".into(),
        0,
    )
    .await
    .unwrap();
    let resp = nsauth_tests::http()
        .get(format!(
            "{}/servers/{}/transactions/{tid}",
            stack.base, stack.serverid
        ))
        .header("X-apikey", k.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

async fn transactions_close_with_their_login_and_time(stack: Stack) {
    let (phone, _, n) = logged_in(&stack, "cat", None).await;
    let (_, first) = create(&stack, &n, json!({"amount": "1"})).await;
    let (_, second) = create(&stack, &n, json!({"amount": "2"})).await;
    let first = first["tid"].as_str().unwrap().to_string();
    let second = second["tid"].as_str().unwrap().to_string();
    // One open transaction per session: the newer one made the older expire.
    let (_, r) = result(&stack, &first).await;
    assert_eq!(
        (r["tstatus"].clone(), r["state"].clone()),
        (json!("2"), json!("expired"))
    );
    let (_, r) = result(&stack, &second).await;
    assert_eq!(r["tstatus"], json!("0"));
    let shown = phone_call(
        &phone,
        &stack,
        "GET",
        &format!("app/v1/transactions/{first}"),
        Value::Null,
    )
    .await
    .1;
    let sig = phone
        .transaction_signature(
            &stack.serverid.to_string(),
            shown["signed"].as_str().unwrap(),
        )
        .unwrap();
    let (status, v) = phone_call(
        &phone,
        &stack,
        "POST",
        &format!("app/v1/transactions/{first}/approve"),
        json!({"signature": sig, "verification": "biometric"}),
    )
    .await;
    nsauth_tests::assert_error(status, &v, 409, "transaction_closed");
    // It expires login_timeout (300 s) after creation, without a write.
    stack.clock.advance(300);
    let (_, r) = result(&stack, &second).await;
    assert_eq!(
        (r["tstatus"].clone(), r["state"].clone()),
        (json!("2"), json!("expired"))
    );
    // And when its login ends.
    let (_, third) = create(&stack, &n, json!({"amount": "3"})).await;
    let third = third["tid"].as_str().unwrap().to_string();
    let (status, _) = stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    assert_eq!(status, 200);
    let (_, r) = result(&stack, &third).await;
    assert_eq!(r["state"], json!("expired"));
    let (status, v) = create(&stack, &n, json!({"amount": "4"})).await;
    nsauth_tests::assert_error(status, &v, 403, "not_logged_in");
}
