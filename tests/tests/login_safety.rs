//! Login safety against relayed logins (docs/security.md, "Relayed logins"): the user
//! verification policy, over HTTP with the reference authenticator as the phone, on the
//! in-memory store and on DynamoDB (moto). Every refusal also checks that the session is
//! left as it was.

use nsauth_authenticator::{Authenticator, Error};
use nsauth_tests::{Stack, notices, on_both_stores};
use reqwest::Method;
use serde_json::{Value, json};

on_both_stores!(
    user_verification_policy,
    user_verification_is_signed,
    proximity_verdicts,
    proximity_require,
    rotating_qr_codes,
    rotating_qr_settings,
    pull_delivery,
    pull_beside_sns,
    moving_to_a_new_phone,
    login_notices,
    login_notices_on_a_new_network,
);

/// The fetched pushes' DynamoDB query also against dynalite, which rejects expressions
/// moto lets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_delivery_on_dynalite() {
    if let Some(stack) = Stack::dynalite().await {
        pull_delivery(stack).await;
    }
}

/// A GeoIP database file of a few documentation networks, written for this test, and the
/// server's reader on it. The file is removed when the returned guard drops.
fn test_geoip(name: &str) -> (nsauth::geoip::GeoIp, TempFile) {
    use nsauth_tests::mmdb::{city_record, database, map};
    let bytes = database(
        "GeoLite2-City",
        &[
            (
                "203.0.113.0",
                24,
                city_record("NG", "Nigeria", "Lagos", "Lagos"),
            ),
            (
                "198.51.100.0",
                24,
                city_record("DE", "Germany", "Berlin", "Berlin"),
            ),
            ("2001:db8:1::", 48, city_record("FR", "France", "", "")),
            // A block with only the country it is registered in (anycast, say).
            (
                "192.0.2.0",
                24,
                map([("registered_country", map([("iso_code", "US".into())]))]),
            ),
        ],
    );
    let file = TempFile::new(name, &bytes);
    let geoip = nsauth::geoip::GeoIp::open(&file.0).expect("the test database opens");
    (geoip, file)
}

struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "nsauth-{name}-{}-{}.mmdb",
            std::process::id(),
            nsauth_tests::new_nonce()
        ));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// With the operator's GeoIP database, the show answer carries where each side is; only
/// public addresses are looked up, an unknown one is left out, and `proximity` off shows
/// neither. The verdict and the approval are as without a database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_from_a_geoip_database() {
    let (geoip, _file) = test_geoip("locations");
    let stack = Stack::with_geoip(geoip).await;
    let (phone, _) = enrolled(&stack, "geo").await;
    let ng =
        json!({"country": "NG", "country_name": "Nigeria", "region": "Lagos", "city": "Lagos"});
    let de =
        json!({"country": "DE", "country_name": "Germany", "region": "Berlin", "city": "Berlin"});
    let fr = json!({"country": "FR", "country_name": "France"});
    let us = json!({"country": "US"});
    // (browser as the website gave it, phone) and the locations expected (null: absent).
    let cases: [(Option<&str>, &str, Value, Value); 7] = [
        (Some("203.0.113.7"), "198.51.100.1", ng.clone(), de.clone()),
        (
            Some("::ffff:203.0.113.7"),
            "2001:db8:1::5",
            ng.clone(),
            fr.clone(),
        ),
        (Some("192.0.2.44"), "203.0.113.9", us, ng.clone()),
        // Private and loopback addresses are in no GeoIP database.
        (Some("192.168.1.5"), "203.0.113.9", Value::Null, ng.clone()),
        (Some("203.0.113.7"), "127.0.0.1", ng.clone(), Value::Null),
        // Public, but not in this database; an IPv6 one outside its networks.
        (Some("8.8.8.8"), "2001:db8:2::1", Value::Null, Value::Null),
        (None, "198.51.100.1", Value::Null, de.clone()),
    ];
    for (browser, phone_ip, want_browser, want_phone) in cases {
        let (_, hsid) = session_from(&stack, browser).await;
        let (status, shown) = show_from(&phone, &stack, phone_ip, &hsid).await;
        assert_eq!(status, 200, "{shown}");
        let got = |f: &str| shown.get(f).cloned().unwrap_or(Value::Null);
        assert_eq!(
            (got("browser_location"), got("phone_location")),
            (want_browser, want_phone),
            "{browser:?} / {phone_ip}: {shown}"
        );
        assert_ne!(got("browser_location"), json!({}), "{shown}");
    }
    // The approval is unaffected: a location informs the user, it refuses nothing.
    let (n, hsid) = session_from(&stack, Some("203.0.113.7")).await;
    let path = format!("/app/v1/sessions/{hsid}/approve");
    show_from(&phone, &stack, "198.51.100.1", &hsid).await;
    let (status, v) = from_ip(&phone, &stack, "198.51.100.1", "POST", &path, b"{}").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(stack.status(&n).await["state"], "loggedin");
    // `proximity` off: no verdict, and no locations either.
    stack.set_setting("proximity", "off").await;
    let (_, hsid) = session_from(&stack, Some("203.0.113.7")).await;
    let (status, shown) = show_from(&phone, &stack, "198.51.100.1", &hsid).await;
    assert_eq!(status, 200, "{shown}");
    for f in ["proximity", "browser_location", "phone_location"] {
        assert!(shown.get(f).is_none(), "{f}: {shown}");
    }
}

/// A path that is not a MaxMind DB file, or no file, does not open (and a function given
/// it does not start: `GeoIp::from_env`), naming the setting.
#[test]
fn a_bad_geoip_database_is_refused() {
    let missing = std::env::temp_dir().join("nsauth-no-such-database.mmdb");
    let e = nsauth::geoip::GeoIp::open(&missing).unwrap_err();
    assert!(e.contains("NSAUTH_GEOIP_DATABASE"), "{e}");
    let junk = TempFile::new("junk", b"this is not a MaxMind DB file at all");
    let e = nsauth::geoip::GeoIp::open(&junk.0).unwrap_err();
    assert!(e.contains("not a MaxMind DB file"), "{e}");
    // A database cut short after its metadata marker.
    let (_, good) = test_geoip("cut");
    let bytes = std::fs::read(&good.0).unwrap();
    let marker = bytes
        .windows(14)
        .position(|w| w == b"\xAB\xCD\xEFMaxMind.com")
        .unwrap();
    let cut = TempFile::new("cut-short", &bytes[..marker + 14]);
    assert!(nsauth::geoip::GeoIp::open(&cut.0).is_err());
}

/// The known networks' DynamoDB calls also against dynalite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_notices_on_a_new_network_on_dynalite() {
    if let Some(stack) = Stack::dynalite().await {
        login_notices_on_a_new_network(stack).await;
    }
}

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

/// A signed phone call sent from `ip`: the local stack takes the address a loopback caller
/// stands for from `X-Nsauth-Local-Source-Ip` (API Gateway's `sourceIp` in AWS).
async fn from_ip(
    phone: &Authenticator,
    stack: &Stack,
    ip: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Value) {
    let req = phone
        .signed(&stack.serverid.to_string(), method, path, body.to_vec())
        .unwrap();
    let mut r = nsauth_tests::http()
        .request(method.parse().unwrap(), &req.url)
        .header("Authorization", &req.authorization)
        .header("X-Nsauth-Local-Source-Ip", ip);
    if !req.body.is_empty() {
        r = r
            .header("Content-Type", "application/json")
            .body(req.body.clone());
    }
    nsauth_tests::json(r.send().await.unwrap()).await
}

/// The phone's show call of `hsid`, sent from `ip`.
async fn show_from(phone: &Authenticator, stack: &Stack, ip: &str, hsid: &str) -> (u16, Value) {
    let path = format!("/app/v1/sessions/{hsid}");
    from_ip(phone, stack, ip, "GET", &path, b"").await
}

/// A login session whose website said the browser is at `browser` (none: no ip given).
async fn session_from(stack: &Stack, browser: Option<&str>) -> (String, String) {
    let ctx = browser.map(|ip| json!({"announceinfo": {"ip": ip, "info": {"action": "Log in"}}}));
    let (n, link) = stack.new_session(ctx).await;
    (n, hsid_of_link(&link))
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

async fn proximity_verdicts(stack: Stack) {
    let (phone, _) = enrolled(&stack, "near").await;
    let show = |hsid: String, ip: &'static str| {
        let phone = &phone;
        let stack = &stack;
        async move {
            let (status, v) = show_from(phone, stack, ip, &hsid).await;
            assert_eq!(status, 200, "{v}");
            v
        }
    };
    // (browser as the website gave it, phone) and the verdict; the default is `warn`.
    let cases: [(Option<&str>, &str, &str); 9] = [
        (Some("203.0.113.7"), "203.0.113.99", "same_network"),
        (Some("203.0.113.7"), "198.51.100.1", "different_network"),
        (
            Some("2001:db8:1:2::5"),
            "2001:db8:1:2:ffff::9",
            "same_network",
        ),
        (
            Some("2001:db8:1:2::5"),
            "2001:db8:1:3::5",
            "different_network",
        ),
        (Some("::ffff:203.0.113.7"), "203.0.113.8", "same_network"),
        (
            Some("203.0.113.7"),
            "::ffff:198.51.100.1",
            "different_network",
        ),
        (Some("203.0.113.7"), "2001:db8::1", "unknown"),
        (Some("192.168.1.5"), "203.0.113.7", "unknown"),
        // No ip from the website: the filled one is the backend's, not the browser's.
        (None, "127.0.0.1", "unknown"),
    ];
    for (browser, phone_ip, want) in cases {
        let (_, hsid) = session_from(&stack, browser).await;
        let shown = show(hsid, phone_ip).await;
        assert_eq!(
            shown["proximity"], want,
            "{browser:?} / {phone_ip}: {shown}"
        );
        assert!(shown.get("proximity_required").is_none(), "{shown}");
    }
    // `warn` only shows it: an approval from another network is taken.
    let (n, hsid) = session_from(&stack, Some("203.0.113.7")).await;
    let path = format!("/app/v1/sessions/{hsid}/approve");
    let (status, v) = from_ip(&phone, &stack, "198.51.100.1", "POST", &path, b"{}").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(stack.status(&n).await["state"], "loggedin");
    // `off`: no verdict at all.
    stack.set_setting("proximity", "off").await;
    let (_, hsid) = session_from(&stack, Some("203.0.113.7")).await;
    let shown = show(hsid, "198.51.100.1").await;
    assert!(shown.get("proximity").is_none(), "{shown}");
}

async fn proximity_require(stack: Stack) {
    let token = nsauth_tests::unique_name("strict-token");
    let (phone, acc, _) = stack.phone_with_push("strict", &token).await;
    stack.set_setting("proximity", "require").await;
    // A QR login approved from another network: 403, and the session is left as it was.
    let (n, hsid) = session_from(&stack, Some("203.0.113.7")).await;
    let (status, shown) = show_from(&phone, &stack, "198.51.100.1", &hsid).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        (
            shown["proximity"].clone(),
            shown["proximity_required"].clone()
        ),
        (json!("different_network"), json!(true))
    );
    let before = stack.stored_session(&n).await.unwrap();
    let path = format!("/app/v1/sessions/{hsid}/approve");
    let (status, v) = from_ip(&phone, &stack, "198.51.100.1", "POST", &path, b"{}").await;
    nsauth_tests::assert_error(status, &v, 403, "different_network");
    assert_eq!(stack.stored_session(&n).await.unwrap(), before);
    // From the browser's network it is taken.
    let (status, v) = from_ip(&phone, &stack, "203.0.113.50", "POST", &path, b"{}").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(stack.status(&n).await["state"], "loggedin");
    // Unknown (no ip from the website) is not refused: only a known other network is.
    let (n, hsid) = session_from(&stack, None).await;
    let path = format!("/app/v1/sessions/{hsid}/approve");
    let (status, v) = from_ip(&phone, &stack, "198.51.100.1", "POST", &path, b"{}").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(stack.status(&n).await["state"], "loggedin");
    // A push to this account is exempt: the phone is expected to be elsewhere.
    stack.set_setting("number_match", "off").await;
    let (n, hsid) = session_from(&stack, Some("203.0.113.7")).await;
    let (status, v) = stack
        .call(
            Method::POST,
            &format!("/accounts/{acc}/provokelogin"),
            Some(&n),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, shown) = show_from(&phone, &stack, "198.51.100.1", &hsid).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["proximity"], "different_network");
    assert!(shown.get("proximity_required").is_none(), "{shown}");
    let path = format!("/app/v1/sessions/{hsid}/approve");
    let (status, v) = from_ip(&phone, &stack, "198.51.100.1", "POST", &path, b"{}").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(stack.status(&n).await["state"], "loggedin");
}

/// The HTML block of `nonce`: its current code's link, and whether it carries a key.
async fn block(stack: &Stack, nonce: &str) -> (String, bool) {
    let (status, v) = stack
        .call(Method::GET, "/sessions/html/login", Some(nonce), None)
        .await;
    assert_eq!(status, 200, "{v}");
    let html = v.as_str().unwrap().to_string();
    let attr = |name: &str| {
        let start = html
            .find(&format!("{name}=\""))
            .map(|i| i + name.len() + 2)?;
        let end = html[start..].find('"')? + start;
        Some(html[start..end].replace("&amp;", "&"))
    };
    (attr("data-code").unwrap(), attr("data-qr-key").is_some())
}

/// The phone's show call for a login link as scanned (with its `t` and `m`).
async fn scan(phone: &Authenticator, link: &str) -> (u16, Value) {
    match phone.show(link).await {
        Ok(v) => (200, v),
        Err(Error::Http {
            status,
            code,
            message,
        }) => (status, json!({"error": code, "message": message})),
        Err(e) => panic!("{e}"),
    }
}

async fn rotating_qr_codes(stack: Stack) {
    let (phone, acc) = enrolled(&stack, "rot").await;
    let (n, loginurl) = stack.new_session(None).await;
    // The default (`block`): once the block shows the attempt, only its codes are taken.
    let (code, keyed) = block(&stack, &n).await;
    assert!(keyed, "the block carries the attempt's key");
    assert!(code.starts_with(&format!("{loginurl}?t=")), "{code}");
    let before = stack.stored_session(&n).await.unwrap();
    assert!(before.qr_rotating);
    let (status, v) = scan(&phone, &loginurl).await;
    nsauth_tests::assert_error(status, &v, 403, "qr_code_required");
    let (status, v) = scan(&phone, &format!("{loginurl}?t=1&m=AAAAAAAAAAAAAAAAAAAAAA")).await;
    nsauth_tests::assert_error(status, &v, 403, "bad_qr_code");
    // A malformed code is bad input, whatever the attempt needs.
    let path = format!("/app/v1/sessions/{}", hsid_of_link(&loginurl));
    let sid = stack.serverid.to_string();
    for (query, field) in [
        ("?t=x&m=AAAAAAAAAAAAAAAAAAAAAA", "t"),
        ("?t=1&m=short", "m"),
    ] {
        let req = phone
            .signed(&sid, "GET", &format!("{path}{query}"), vec![])
            .unwrap();
        let (status, v) = phone.send(req).await.unwrap();
        assert_eq!(status, 400, "{query}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{query}: {v}"
        );
    }
    let forged = format!("{}AAAAAAAAAAAAAAAAAAAAAA", &code[..code.len() - 22]);
    let (status, v) = scan(&phone, &forged).await;
    nsauth_tests::assert_error(status, &v, 403, "bad_qr_code");
    // Approving without scanning a live code first is refused too.
    let e = phone.approve(&loginurl, None, None).await.unwrap_err();
    assert_eq!(http_error(e), (409, "not_scanned".to_string()));
    assert_eq!(stack.stored_session(&n).await.unwrap(), before);
    // getQrLogin now serves the current code as well.
    let (status, raw) = stack
        .call(Method::GET, "/sessions/qr/login", Some(&n), None)
        .await;
    assert_eq!((status, raw.as_str()), (200, Some(code.as_str())));
    // A code captured and scanned 10 s later: refused, nothing changes.
    stack.clock.advance(10);
    let (status, v) = scan(&phone, &code).await;
    nsauth_tests::assert_error(status, &v, 403, "stale_qr_code");
    assert!(v["message"].as_str().unwrap().contains("10 s old"), "{v}");
    assert_eq!(stack.stored_session(&n).await.unwrap().state, before.state);
    // The live code works, and then the approval.
    let (live, _) = block(&stack, &n).await;
    assert_ne!(live, code);
    let (status, v) = scan(&phone, &live).await;
    assert_eq!((status, v["state"].clone()), (200, json!("scanned")), "{v}");
    // Within the few seconds of tolerance, the same code shows again.
    stack.clock.advance(3);
    assert_eq!(scan(&phone, &live).await.0, 200);
    phone.approve(&live, None, None).await.unwrap();
    assert_eq!(stack.status(&n).await["state"], "loggedin");
    // A new attempt has a new key: the last attempt's codes are not taken.
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    let (next, _) = block(&stack, &n).await;
    let old_key_now = live.clone();
    let (status, v) = scan(&phone, &old_key_now).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(scan(&phone, &next).await.0, 200);
    // A push to the phone needs no code (it scans nothing).
    stack.set_setting("number_match", "off").await;
    let (n2, loginurl2) = stack.new_session(None).await;
    block(&stack, &n2).await;
    let (status, v) = stack
        .call(
            Method::POST,
            &format!("/accounts/{acc}/provokelogin"),
            Some(&n2),
            None,
        )
        .await;
    // This phone has no push endpoint: the push is refused, and so the code is needed.
    assert_eq!(status, 409, "{v}");
    let (status, v) = scan(&phone, &loginurl2).await;
    nsauth_tests::assert_error(status, &v, 403, "qr_code_required");
}

async fn rotating_qr_settings(stack: Stack) {
    let token = nsauth_tests::unique_name("rot-token");
    let (phone, acc, _) = stack.phone_with_push("rot2", &token).await;
    // `block`: a website that draws getQrLogin itself (no block) keeps the static link.
    let (n, loginurl) = stack.new_session(None).await;
    let (status, raw) = stack
        .call(Method::GET, "/sessions/qr/login", Some(&n), None)
        .await;
    assert_eq!((status, raw.as_str()), (200, Some(loginurl.as_str())));
    assert_eq!(scan(&phone, &loginurl).await.0, 200);
    // A push of a block's attempt: shown without a code.
    stack.set_setting("number_match", "off").await;
    let (n, loginurl) = stack.new_session(None).await;
    block(&stack, &n).await;
    let (status, v) = stack
        .call(
            Method::POST,
            &format!("/accounts/{acc}/provokelogin"),
            Some(&n),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = scan(&phone, &loginurl).await;
    assert_eq!(status, 200, "{v}");
    phone.approve(&loginurl, None, None).await.unwrap();
    // `off`: the block carries no key, and the static link works.
    stack.set_setting("qr_rotation", "off").await;
    let (n, loginurl) = stack.new_session(None).await;
    let (code, keyed) = block(&stack, &n).await;
    assert!(!keyed);
    assert_eq!(code, loginurl);
    assert_eq!(scan(&phone, &loginurl).await.0, 200);
    // `always`: getQrLogin serves the rotating code even without a block.
    stack.set_setting("qr_rotation", "always").await;
    let (n, loginurl) = stack.new_session(None).await;
    let (status, raw) = stack
        .call(Method::GET, "/sessions/qr/login", Some(&n), None)
        .await;
    assert_eq!(status, 200);
    let raw = raw.as_str().unwrap().to_string();
    assert!(raw.starts_with(&format!("{loginurl}?t=")), "{raw}");
    let (status, v) = scan(&phone, &loginurl).await;
    nsauth_tests::assert_error(status, &v, 403, "qr_code_required");
    assert_eq!(scan(&phone, &raw).await.0, 200);
}

async fn pull_delivery(stack: Stack) {
    // A phone with no push token at all: no SNS endpoint, nothing an SNS path could reach.
    let (phone, acc) = enrolled(&stack, "puller").await;
    assert!(stack.stored_account(acc).await.push.is_none());
    let sid = stack.serverid.to_string();
    let ctx = json!({"announceinfo": {"info": {"action": "Log in to Acme"}, "ip": "203.0.113.7"}});
    // The default (`sns`): no push without an endpoint, and nothing to fetch.
    let (n, _) = stack.new_session(Some(ctx.clone())).await;
    let provoke = format!("/accounts/{acc}/provokelogin");
    let (status, v) = stack.call(Method::POST, &provoke, Some(&n), None).await;
    nsauth_tests::assert_error(status, &v, 409, "cannot_provoke");
    assert!(phone.fetch_pushes(&sid).await.unwrap().is_empty());
    let req = phone.signed(&sid, "GET", "/app/v1/pushes", vec![]).unwrap();
    let (status, v) = phone.send(req).await.unwrap();
    assert_eq!((status, v), (200, json!({"pushes": [], "pull": false})));

    // `pull`: the push is recorded for the phone, with the number to match.
    stack.set_setting("push_delivery", "pull").await;
    let (status, v) = stack.call(Method::POST, &provoke, Some(&n), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["pushed"], 1, "{v}");
    let number = v["match"].as_str().unwrap().to_string();
    let pushes = phone.fetch_pushes(&sid).await.unwrap();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    let push = &pushes[0];
    let hsid = nsauth_tests::hsid_of(&stack, &n).to_string();
    assert_eq!(push.hsid, hsid);
    assert!(!push.is_transaction());
    assert_eq!(push.servername, "Demo website");
    assert_eq!(push.announceinfo["info"]["action"], "Log in to Acme");
    assert_eq!(push.announceinfo["ip"], "203.0.113.7");
    let choices = push.choices.clone().unwrap();
    assert!(choices.contains(&number), "{choices:?} / {number}");
    // The phone shows and approves it with the number, as it would a push from SNS.
    let shown = phone.show(&push.link).await.unwrap();
    assert_eq!(shown["choices"], json!(choices));
    phone
        .approve(&push.link, Some(&number), None)
        .await
        .unwrap();
    assert_eq!(stack.status(&n).await["state"], "loggedin");
    // Answered: nothing left to fetch.
    assert!(phone.fetch_pushes(&sid).await.unwrap().is_empty());

    // An attempt that expired is not fetched either.
    let (n2, _) = stack.new_session(None).await;
    let (status, v) = stack.call(Method::POST, &provoke, Some(&n2), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(phone.fetch_pushes(&sid).await.unwrap().len(), 1);
    stack.clock.advance(301);
    assert!(phone.fetch_pushes(&sid).await.unwrap().is_empty());
    // Another account's pushes are not this phone's.
    let (other, _) = enrolled(&stack, "someone").await;
    let (n3, _) = stack.new_session(None).await;
    let (status, _) = stack.call(Method::POST, &provoke, Some(&n3), None).await;
    assert_eq!(status, 200);
    assert!(other.fetch_pushes(&sid).await.unwrap().is_empty());
    assert_eq!(phone.fetch_pushes(&sid).await.unwrap().len(), 1);
}

async fn pull_beside_sns(stack: Stack) {
    let token = nsauth_tests::unique_name("pull-sns");
    let (phone, acc, _) = stack.phone_with_push("both", &token).await;
    let sid = stack.serverid.to_string();
    stack.set_setting("push_delivery", "sns_and_pull").await;
    let (n, _) = stack.new_session(None).await;
    let (status, v) = stack
        .call(
            Method::POST,
            &format!("/accounts/{acc}/provokelogin"),
            Some(&n),
            None,
        )
        .await;
    assert_eq!((status, v["pushed"].clone()), (200, json!(1)), "{v}");
    // The same request on both paths: the push service's message and the fetched one.
    let fetched = phone.fetch_pushes(&sid).await.unwrap();
    let pushed: Vec<_> = phone
        .inbox(Some(&sid))
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.hsid == fetched[0].hsid)
        .collect();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0], fetched[0]);
}

async fn moving_to_a_new_phone(stack: Stack) {
    let (old, old_acc) = enrolled(&stack, "mover").await;
    let sid = stack.serverid.to_string();
    // The old phone makes a transfer link; the new phone enrols with it: the same user.
    let t = old.transfer(&sid, false).await.unwrap();
    assert_eq!(
        (t["userid"].clone(), t["remove_after"].clone()),
        (json!("mover"), json!(false))
    );
    let link = t["link"].as_str().unwrap().to_string();
    assert!(link.contains("/enrol/"), "{link}");
    let mut new = stack.phone();
    let enrolled_new = new.enrol(&link, "New phone", None).await.unwrap();
    assert_eq!(enrolled_new.userid.as_deref(), Some("mover"));
    assert_ne!(enrolled_new.accountid, old_acc);
    let (status, user) = stack.call(Method::GET, "/users/mover", None, None).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["accounts"].as_array().map(Vec::len), Some(2), "{user}");
    // Single use: a third phone cannot use the same link.
    let mut third = stack.phone();
    let (status, code) = http_error(third.enrol(&link, "Third", None).await.unwrap_err());
    assert_eq!((status, code.as_str()), (409, "token_used"));
    // Short-lived: a link unused for over 5 minutes is refused. (Each transfer is signed
    // a second later: the same signed request again would be a replay.)
    stack.clock.advance(1);
    let t = old.transfer(&sid, false).await.unwrap();
    stack.clock.advance(301);
    let (status, code) = http_error(
        third
            .enrol(t["link"].as_str().unwrap(), "Third", None)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (409, "token_expired"));

    // With remove_after the old account goes once the new phone has enrolled.
    stack.clock.advance(1);
    let t = old.transfer(&sid, true).await.unwrap();
    let mut newest = stack.phone();
    let moved = newest
        .enrol(t["link"].as_str().unwrap(), "Newest", None)
        .await
        .unwrap();
    assert_eq!(moved.userid.as_deref(), Some("mover"));
    let gone = stack
        .store()
        .get_account(&stack.serverid, old_acc)
        .await
        .unwrap();
    assert!(gone.is_none(), "the old account was removed");
    stack.clock.advance(1);
    let (status, _) = http_error(old.transfer(&sid, false).await.unwrap_err());
    assert_eq!(status, 401, "the removed account signs nothing any more");

    // A link whose account was blocked before the new phone used it is refused, and the
    // new phone's key is not kept.
    let t = new.transfer(&sid, false).await.unwrap();
    let (status, v) = stack
        .call(
            Method::PUT,
            &format!("/accounts/{}?blocked=true", enrolled_new.accountid),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let mut late = stack.phone();
    let (status, code) = http_error(
        late.enrol(t["link"].as_str().unwrap(), "Late", None)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (409, "transfer_refused"));
    // A blocked account cannot make a link at all.
    stack.clock.advance(1);
    let (status, code) = http_error(new.transfer(&sid, false).await.unwrap_err());
    assert_eq!((status, code.as_str()), (401, "account_blocked"));
    // Nor can an account of no user.
    let n = nsauth_tests::new_nonce();
    let link = stack.enrol_link(&n, "").await;
    let mut loner = stack.phone();
    loner.enrol(&link, "Loner", None).await.unwrap();
    let (status, code) = http_error(loner.transfer(&sid, false).await.unwrap_err());
    assert_eq!((status, code.as_str()), (409, "no_user"));
}

async fn login_notices(stack: Stack) {
    let sid = stack.serverid.to_string();
    let user = nsauth_tests::unique_name("noticed");
    let (laptop_phone, _, _) = stack
        .phone_with_push(&user, &nsauth_tests::unique_name("first"))
        .await;
    let (other_phone, other_acc, _) = stack
        .phone_with_push(&user, &nsauth_tests::unique_name("second"))
        .await;
    // Off by default: a login tells nobody.
    let (_, link) = stack.new_session(None).await;
    laptop_phone.approve(&link, None, None).await.unwrap();
    assert!(notices(&other_phone, &sid).await.is_empty());
    // `push`: the user's other device is told, with the browser's address; the approving
    // one is not.
    stack.set_setting("login_notify", "push").await;
    let ctx = json!({"announceinfo": {"ip": "203.0.113.7"}});
    let (_, link) = stack.new_session(Some(ctx.clone())).await;
    laptop_phone.approve(&link, None, None).await.unwrap();
    let got = notices(&other_phone, &sid).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].hsid, hsid_of_link(&link));
    assert!(
        got[0]
            .body
            .contains("approved on another of your devices (browser at 203.0.113.7)"),
        "{}",
        got[0].body
    );
    assert!(notices(&laptop_phone, &sid).await.is_empty());
    // At most one per device per push_window.
    let (_, link) = stack.new_session(Some(ctx.clone())).await;
    laptop_phone.approve(&link, None, None).await.unwrap();
    assert_eq!(notices(&other_phone, &sid).await.len(), 1);
    stack.clock.advance(601);
    let (_, link) = stack.new_session(Some(ctx)).await;
    laptop_phone.approve(&link, None, None).await.unwrap();
    assert_eq!(notices(&other_phone, &sid).await.len(), 2);
    // A blocked device is not told.
    let (status, _) = stack
        .call(
            Method::PUT,
            &format!("/accounts/{other_acc}?blocked=true"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200);
    stack.clock.advance(601);
    let (_, link) = stack.new_session(None).await;
    laptop_phone.approve(&link, None, None).await.unwrap();
    assert_eq!(notices(&other_phone, &sid).await.len(), 2);
}

/// `login_notify` `new_network`: the user's other devices are told of a login only when its
/// browser is on a network (/24, /64) the user has not logged in from in 90 days; the first
/// network known of a user is learnt silently, and a login without a browser address from
/// the website tells nobody.
async fn login_notices_on_a_new_network(stack: Stack) {
    let sid = stack.serverid.to_string();
    let (laptop_phone, other_phone) = stack.two_phones("roaming").await;
    stack.set_setting("login_notify", "new_network").await;
    let login_from = |ip| stack.approved_login_from(&laptop_phone, ip);
    // The first network is learnt; the same /24 again is known.
    login_from(Some("203.0.113.7")).await;
    login_from(Some("203.0.113.200")).await;
    assert!(notices(&other_phone, &sid).await.is_empty());
    // Another network is news, once.
    login_from(Some("198.51.100.5")).await;
    let got = notices(&other_phone, &sid).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0]
            .body
            .contains("approved from a new network (browser at 198.51.100.5)"),
        "{}",
        got[0].body
    );
    login_from(Some("198.51.100.77")).await;
    login_from(Some("::ffff:198.51.100.8")).await;
    // No address from the website: nothing to compare, nobody told.
    login_from(None).await;
    assert_eq!(notices(&other_phone, &sid).await.len(), 1);
    // An IPv6 /64 is one network.
    login_from(Some("2001:db8:5:6::1")).await;
    login_from(Some("2001:db8:5:6:ffff::2")).await;
    assert_eq!(notices(&other_phone, &sid).await.len(), 2);
    // A network is forgotten 90 days after the last login from it: 60 days on, a login
    // from 198.51.100.0/24 keeps that one; 40 days later 203.0.113.0/24 is news again.
    stack.clock.advance(60 * 86_400);
    login_from(Some("198.51.100.5")).await;
    stack.clock.advance(40 * 86_400);
    login_from(Some("198.51.100.6")).await;
    assert_eq!(notices(&other_phone, &sid).await.len(), 2);
    login_from(Some("203.0.113.7")).await;
    assert_eq!(notices(&other_phone, &sid).await.len(), 3);
    // Another user's networks are their own: this user's first one is learnt silently.
    let (phone_a, phone_b) = stack.two_phones("elsewhere").await;
    stack
        .approved_login_from(&phone_a, Some("198.51.100.5"))
        .await;
    assert!(notices(&phone_b, &sid).await.is_empty());
}
