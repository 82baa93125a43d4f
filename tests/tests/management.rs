//! The v2.2 management API over HTTP (issue 15): servers, API keys, permissions, user roles,
//! attributes and the visual hash, with each permission boundary, on the memory store,
//! moto and dynalite.

use nsauth::vash::Vash;
use nsauth_tests::{Stack, new_nonce};
use serde_json::{Value, json};

/// One call: method, path under the stack, key, optional `X-su` and JSON body.
async fn call(
    stack: &Stack,
    method: &str,
    path: &str,
    key: &str,
    su: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = nsauth_tests::http()
        .request(method.parse().unwrap(), format!("{}{path}", stack.base))
        .header("X-apikey", key);
    if let Some(su) = su {
        req = req.header("X-su", su);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn code(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

/// No `null` anywhere in an answer (a field without a value is left out).
fn no_nulls(v: &Value) {
    match v {
        Value::Null => panic!("null in an answer"),
        Value::Array(a) => a.iter().for_each(no_nulls),
        Value::Object(o) => o.values().for_each(no_nulls),
        _ => {}
    }
}

/// A new key (createApiKey with the root key) granted `permissions` on `server`: the key
/// and its role.
async fn key_on(stack: &Stack, server: &str, permissions: Value) -> (String, String) {
    let root = &stack.root_key;
    let (s, k) = call(stack, "POST", "/apikeys/?description=t", root, None, None).await;
    assert_eq!(s, 200, "{k}");
    let key = k["apikey"].as_str().unwrap().to_string();
    let role = k["role"].as_str().unwrap().to_string();
    let grant = format!("/servers/{server}/permissions/{role}");
    let (s, v) = call(stack, "POST", &grant, root, None, Some(permissions)).await;
    assert_eq!(s, 200, "{v}");
    (key, role)
}

async fn servers_and_keys(stack: Stack) {
    let root = stack.root_key.clone();
    let sid = stack.serverid.to_string();

    // createServer: the Server type mapped onto our settings.
    let (s, created) = call(
        &stack,
        "POST",
        "/servers/",
        &root,
        None,
        Some(json!({
            "serverName": "Acme", "appname": "Acme app", "siteurl": "https://acme.example/",
            "pinTimeout": 5, "serverFlags": ["beta"], "serverid": "ignored", "serverpk": "",
            "settings": {"login_timeout": 120, "return_urls": ["https://acme.example/cb"]}
        })),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    no_nulls(&created);
    let acme = created["serverid"].as_str().unwrap().to_string();
    assert_eq!(acme.len(), 22);
    assert_eq!(created["serverName"], "Acme");
    assert_eq!(created["serverpk"], "");
    assert_eq!(created["pinTimeout"], 5);
    assert_eq!(created["pinTransTimeout"], 0);
    assert_eq!(created["serverFlags"], json!(["beta"]));
    assert_eq!(created["appname"], "Acme app");
    assert_eq!(created["appurl"], "nsauth://");
    assert_eq!(created["settings"]["login_timeout"], 120);
    assert!(created.get("appios").is_none(), "empty fields are left out");

    // Bad bodies: 400, nothing created.
    let (_, before) = call(&stack, "GET", "/servers/", &root, None, None).await;
    for bad in [
        json!({"appname": "no name"}),
        json!({"serverName": ""}),
        json!({"serverName": "x", "pinTimeout": -5}),
        json!({"serverName": "x", "colour": "red"}),
        json!({"serverName": "x", "settings": {"login_timeout": 1}}),
        json!({"serverName": {"nested": 1}}),
        json!(["not", "an", "object"]),
    ] {
        let (s, v) = call(&stack, "POST", "/servers", &root, None, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (_, after) = call(&stack, "GET", "/servers/", &root, None, None).await;
    assert_eq!(before["totalnumber"], after["totalnumber"]);

    // getServers: root sees every server, paged by offset.
    let (s, all) = call(&stack, "GET", "/servers/", &root, None, None).await;
    assert_eq!(s, 200);
    no_nulls(&all);
    let ids: Vec<&str> = all["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["serverid"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&acme.as_str()) && ids.contains(&sid.as_str()));
    assert_eq!(all["totalnumber"], ids.len());
    let (_, page) = call(
        &stack,
        "GET",
        "/servers/?limit=1&marker=1",
        &root,
        None,
        None,
    )
    .await;
    assert_eq!(page["servers"].as_array().unwrap().len(), 1);
    assert_eq!(page["servers"][0]["serverid"], ids[1]);
    let (s, v) = call(&stack, "GET", "/servers/?limit=abc", &root, None, None).await;
    assert_eq!((s, code(&v)), (400, "invalid_field"));

    // updateServer: fields change, read-only ones are ignored, bad values change nothing.
    let (s, v) = call(
        &stack,
        "PUT",
        &format!("/servers/{acme}/"),
        &root,
        None,
        Some(json!({"serverName": "Acme Corp", "pingTime": 30, "serverid": "x", "wsurl": "y"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["serverName"].clone(), v["pingTime"].clone()),
        (json!("Acme Corp"), json!(30))
    );
    assert_eq!(v["serverid"], acme.as_str());
    let (s, v) = call(
        &stack,
        "PUT",
        &format!("/servers/{acme}/"),
        &root,
        None,
        Some(json!({"serverName": "Renamed", "appios": "ftp://bad"})),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "invalid_setting"));
    let (s, v) = call(
        &stack,
        "GET",
        &format!("/servers/{acme}/"),
        &root,
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["serverName"], "Acme Corp",
        "a refused update changes nothing"
    );
    let (s, _) = call(
        &stack,
        "GET",
        "/servers/AAAAAAAAAAAAAAAAAAAAAA/",
        &root,
        None,
        None,
    )
    .await;
    assert_eq!(
        s, 404,
        "a role that may list every server is told the server does not exist"
    );
    let (s, _) = call(
        &stack,
        "GET",
        "/servers/AAAAAAAAAAAAAAAAAAAAAA/",
        &stack.apikey,
        None,
        None,
    )
    .await;
    assert_eq!(s, 401, "any other key: the same answer as a wrong key");
    let (s, _) = call(
        &stack,
        "POST",
        "/servers/AAAAAAAAAAAAAAAAAAAAAA/attributes/",
        &root,
        None,
        Some(json!({"a": 1})),
    )
    .await;
    assert_eq!(s, 404);

    // createApiKey: a new role, its key shown once; it can do nothing until granted.
    let (s, k) = call(
        &stack,
        "POST",
        "/apikeys/?description=ci%20key",
        &root,
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{k}");
    no_nulls(&k);
    let key = k["apikey"].as_str().unwrap().to_string();
    let role = k["role"].as_str().unwrap().to_string();
    assert_eq!(k["description"], "ci key");
    let (_, keys) = call(&stack, "GET", "/apikeys/", &root, None, None).await;
    let listed = keys["apikeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == role.as_str())
        .expect("the new key is listed")
        .clone();
    assert!(listed.get("apikey").is_none(), "a key is shown once only");
    let session = |key: String, server: String| {
        let stack = &stack;
        async move {
            let resp = nsauth_tests::http()
                .get(format!("{}/servers/{server}/sessions", stack.base))
                .header("X-apikey", key)
                .header("X-nonce", new_nonce())
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }
    };
    assert_eq!(session(key.clone(), acme.clone()).await, 401);

    // grantPermissions / getPermissions / revokePermissions.
    let perms = format!("/servers/{acme}/permissions/{role}");
    let (s, v) = call(
        &stack,
        "POST",
        &perms,
        &root,
        None,
        Some(json!(["sessions", "users"])),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(session(key.clone(), acme.clone()).await, 200);
    let (s, v) = call(&stack, "GET", &perms, &root, None, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["permissions"],
        json!([{"acl": "sessions,users", "role": role, "server": acme}])
    );
    let (_, all) = call(
        &stack,
        "GET",
        &format!("/servers/{acme}/permissions/"),
        &root,
        None,
        None,
    )
    .await;
    assert!(
        all["permissions"].as_array().unwrap().len() >= 2,
        "the creator's grant and this one"
    );
    let (s, v) = call(
        &stack,
        "POST",
        &perms,
        &root,
        None,
        Some(json!(["sessions", "root2"])),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "invalid_field"));
    let (s, v) = call(&stack, "POST", &perms, &root, None, Some(json!(["setrid"]))).await;
    assert_eq!(s, 400, "a global permission is not granted per server: {v}");
    let (s, v) = call(&stack, "POST", &perms, &root, None, Some(json!("sessions"))).await;
    assert_eq!((s, code(&v)), (400, "invalid_json"));
    let (_, v) = call(&stack, "GET", &perms, &root, None, None).await;
    assert_eq!(
        v["permissions"][0]["acl"], "sessions,users",
        "refused grants change nothing"
    );
    let (s, _) = call(
        &stack,
        "POST",
        &format!("/servers/{acme}/permissions/nosuchrole"),
        &root,
        None,
        Some(json!(["sessions"])),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(&stack, "DELETE", &perms, &root, None, None).await;
    assert_eq!(s, 200);
    assert_eq!(session(key.clone(), acme.clone()).await, 401);
    let (s, _) = call(&stack, "DELETE", &perms, &root, None, None).await;
    assert_eq!(s, 404, "nothing left to revoke");
    let (s, _) = call(&stack, "GET", &perms, &root, None, None).await;
    assert_eq!(s, 404);

    // Key revocation (our addition): refused at once.
    call(
        &stack,
        "POST",
        &perms,
        &root,
        None,
        Some(json!(["sessions"])),
    )
    .await;
    assert_eq!(session(key.clone(), acme.clone()).await, 200);
    let (s, _) = call(
        &stack,
        "DELETE",
        &format!("/apikeys/{role}"),
        &root,
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(session(key.clone(), acme.clone()).await, 401);
    let (_, keys) = call(&stack, "GET", "/apikeys/", &root, None, None).await;
    assert!(
        keys["apikeys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["role"] == role.as_str() && k["revoked"].is_string())
    );

    // User roles.
    let user_role = format!("/servers/{acme}/users/alice/role/");
    let (s, _) = call(&stack, "GET", &user_role, &root, None, None).await;
    assert_eq!(s, 404);
    let (s, v) = call(&stack, "POST", &user_role, &root, None, None).await;
    assert_eq!(
        (s, code(&v)),
        (404, "not_found"),
        "no role for a user that does not exist"
    );
    let attrs = format!("/servers/{acme}/users/alice/attributes/");
    let (s, _) = call(&stack, "POST", &attrs, &root, None, Some(json!({"a": 1}))).await;
    assert_eq!(s, 200, "setUserAttributes creates the user");
    let (s, v) = call(&stack, "POST", &user_role, &root, None, None).await;
    assert_eq!(s, 200);
    let alice = v["role"].as_str().unwrap().to_string();
    let (s, v) = call(&stack, "GET", &user_role, &root, None, None).await;
    assert_eq!((s, v["role"].as_str()), (200, Some(alice.as_str())));
    let (_, v) = call(&stack, "POST", &user_role, &root, None, None).await;
    assert_eq!(v["role"], alice.as_str(), "the same role again");
}

async fn boundaries(stack: Stack) {
    let root = stack.root_key.clone();
    let sid = stack.serverid.to_string();
    let website = stack.apikey.clone(); // sessions, accounts, users on the demo server

    // A key with the website's permissions gets 403 on every management call of its server
    // and on the calls on no server.
    let calls: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/servers/".into(), None),
        ("POST", "/servers/".into(), Some(json!({"serverName": "x"}))),
        ("GET", format!("/servers/{sid}/"), None),
        (
            "PUT",
            format!("/servers/{sid}/"),
            Some(json!({"serverName": "x"})),
        ),
        ("GET", "/apikeys/".into(), None),
        ("POST", "/apikeys/?description=x".into(), None),
        ("GET", format!("/servers/{sid}/permissions/"), None),
        (
            "POST",
            format!("/servers/{sid}/permissions/abc"),
            Some(json!(["sessions"])),
        ),
        ("DELETE", format!("/servers/{sid}/permissions/abc"), None),
        ("GET", "/attributes/".into(), None),
        ("POST", "/attributes/".into(), Some(json!({"a": 1}))),
        ("GET", format!("/servers/{sid}/attributes/"), None),
        (
            "PUT",
            format!("/servers/{sid}/attributes/"),
            Some(json!({"a": 1})),
        ),
        ("GET", format!("/servers/{sid}/privilegedattributes/"), None),
        (
            "POST",
            format!("/servers/{sid}/privilegedattributes/"),
            Some(json!({"a": 1})),
        ),
    ];
    let (sessions_only, _) = key_on(&stack, &sid, json!(["sessions"])).await;
    let (_, before) = call(
        &stack,
        "GET",
        &format!("/servers/{sid}/"),
        &root,
        None,
        None,
    )
    .await;
    for key in [&website, &sessions_only] {
        for (m, p, b) in &calls {
            let (s, v) = call(&stack, m, p, key, None, b.clone()).await;
            assert_eq!((s, code(&v)), (403, "missing_permission"), "{m} {p}: {v}");
        }
        for (m, p) in [
            ("POST", format!("/servers/{sid}/users/bob/attributes/")),
            ("POST", format!("/servers/{sid}/users/bob/role/")),
        ] {
            let (s, _) = call(&stack, m, &p, &sessions_only, None, Some(json!({"a": 1}))).await;
            assert_eq!(s, 403, "{m} {p} needs users");
        }
    }
    let (_, after) = call(
        &stack,
        "GET",
        &format!("/servers/{sid}/"),
        &root,
        None,
        None,
    )
    .await;
    assert_eq!(before, after, "refused calls changed nothing");

    // A server-scoped role sees its server and no other.
    let (_, a) = call(
        &stack,
        "POST",
        "/servers/",
        &root,
        None,
        Some(json!({"serverName": "A"})),
    )
    .await;
    let a = a["serverid"].as_str().unwrap().to_string();
    let (ops, ops_role) = key_on(&stack, &a, json!(["servers"])).await;
    let (s, v) = call(&stack, "GET", "/servers/", &ops, None, None).await;
    assert_eq!(s, 200, "{v}");
    let ids: Vec<&str> = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["serverid"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()]);
    assert_eq!(v["totalnumber"], 1);
    assert_eq!(
        call(&stack, "GET", &format!("/servers/{a}/"), &ops, None, None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&stack, "GET", &format!("/servers/{sid}/"), &ops, None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &stack,
            "GET",
            &format!("/servers/{sid}/permissions/"),
            &ops,
            None,
            None
        )
        .await
        .0,
        401
    );
    let (s, v) = call(
        &stack,
        "PUT",
        &format!("/servers/{a}/"),
        &ops,
        None,
        Some(json!({"serverName": "B"})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (403, "missing_permission"),
        "updateServer needs createserver"
    );

    // X-su without root or setrid: 403.
    let (s, v) = call(
        &stack,
        "GET",
        &format!("/servers/{a}/"),
        &ops,
        Some(&ops_role),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (403, "su_not_allowed"));
    let (s, v) = call(&stack, "GET", "/servers/", &ops, Some(&ops_role), None).await;
    assert_eq!((s, code(&v)), (403, "su_not_allowed"));
    // Root may act as that role, and then has only its rights.
    let (s, v) = call(&stack, "GET", "/servers/", &root, Some(&ops_role), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["totalnumber"], 1);
    let (s, _) = call(&stack, "POST", "/apikeys/", &root, Some(&ops_role), None).await;
    assert_eq!(s, 403);

    // Privileged attributes: global servers only, never in an app-facing answer.
    let secret = "privileged-value-7f3a";
    let (s, _) = call(
        &stack,
        "POST",
        &format!("/servers/{sid}/privilegedattributes/"),
        &root,
        None,
        Some(json!({"billing": secret})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = call(
        &stack,
        "GET",
        &format!("/servers/{sid}/privilegedattributes/"),
        &root,
        None,
        None,
    )
    .await;
    assert_eq!((s, v["billing"].as_str()), (200, Some(secret)));
    let (s, _) = call(
        &stack,
        "POST",
        &format!("/servers/{sid}/attributes/"),
        &root,
        None,
        Some(json!({"public": "yes"})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = call(
        &stack,
        "GET",
        &format!("/servers/{sid}/attributes/"),
        &root,
        None,
        None,
    )
    .await;
    assert_eq!(
        v,
        json!({"public": "yes"}),
        "privileged attributes are apart"
    );
    let (_, v) = call(
        &stack,
        "GET",
        &format!("/servers/{sid}/"),
        &root,
        None,
        None,
    )
    .await;
    assert!(!v.to_string().contains(secret));
    // The phone's view of a login and the website's session answers.
    let phone = stack.phone();
    let enrol = stack.enrol_link(&new_nonce(), "?userid=carol").await;
    let mut phone = phone;
    phone.enrol(&enrol, "carol's phone", None).await.unwrap();
    let (nonce, link) = stack.new_session(None).await;
    let (_, ls) = stack
        .call(reqwest::Method::GET, "", Some(&nonce), None)
        .await;
    assert!(!ls.to_string().contains(secret));
    let shown = phone.show(&link).await.unwrap();
    assert!(!shown.to_string().contains(secret), "{shown}");
    let listed = phone.sessions(stack.serverid.as_str()).await.unwrap();
    assert!(!listed.to_string().contains(secret));
}

async fn attributes(stack: Stack) {
    let root = stack.root_key.clone();
    let sid = stack.serverid.to_string();
    let website = stack.apikey.clone();

    // Global: set, update, delete one, delete all.
    let g = "/attributes/";
    assert_eq!(
        call(
            &stack,
            "POST",
            g,
            &root,
            None,
            Some(json!({"region": "eu", "tier": 2}))
        )
        .await
        .0,
        200
    );
    let (_, v) = call(
        &stack,
        "PUT",
        g,
        &root,
        None,
        Some(json!({"tier": 3, "beta": true})),
    )
    .await;
    assert_eq!(v, json!({"region": "eu", "tier": 3, "beta": true}));
    let (s, v) = call(&stack, "DELETE", "/attributes/region", &root, None, None).await;
    assert_eq!((s, v), (200, json!({"tier": 3, "beta": true})));
    let (_, v) = call(
        &stack,
        "POST",
        g,
        &root,
        None,
        Some(json!({"only": "this"})),
    )
    .await;
    assert_eq!(v, json!({"only": "this"}), "set replaces");
    let resp = nsauth_tests::http()
        .get(format!("{}{g}", stack.base))
        .header("X-apikey", &root)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&resp.text().await.unwrap()).unwrap(),
        json!({"only": "this"})
    );
    assert_eq!(call(&stack, "DELETE", g, &root, None, None).await.0, 200);
    assert_eq!(call(&stack, "GET", g, &root, None, None).await.1, json!({}));

    // Bad input: 400 or 413, nothing stored changes.
    call(&stack, "POST", g, &root, None, Some(json!({"keep": 1}))).await;
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("a{i}"), json!(i))).collect();
    let (s, v) = call(&stack, "PUT", g, &root, None, Some(Value::Object(many))).await;
    assert_eq!((s, code(&v)), (413, "attributes_too_large"));
    let fifty: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("b{i}"), json!("x".repeat(400))))
        .collect();
    let (s, v) = call(&stack, "PUT", g, &root, None, Some(Value::Object(fifty))).await;
    assert_eq!(
        (s, code(&v)),
        (413, "attributes_too_large"),
        "over 16 KiB in all"
    );
    for bad in [
        json!([1]),
        json!({"bad name": 1}),
        json!({"n": {"nested": 1}}),
        json!({"n": null}),
    ] {
        let (s, v) = call(&stack, "POST", g, &root, None, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
    let (s, _) = call(
        &stack,
        "DELETE",
        "/attributes/bad%20name",
        &root,
        None,
        None,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        call(&stack, "GET", g, &root, None, None).await.1,
        json!({"keep": 1})
    );

    // Users: reading or changing an unknown user is 404; setting creates it.
    let u = format!("/servers/{sid}/users/dave/attributes/");
    assert_eq!(call(&stack, "GET", &u, &website, None, None).await.0, 404);
    assert_eq!(
        call(&stack, "PUT", &u, &website, None, Some(json!({"a": 1})))
            .await
            .0,
        404
    );
    assert_eq!(
        call(&stack, "DELETE", &u, &website, None, None).await.0,
        404
    );
    let (s, v) = call(
        &stack,
        "POST",
        &u,
        &website,
        None,
        Some(json!({"group": "admins"})),
    )
    .await;
    assert_eq!((s, v.clone()), (200, json!({"group": "admins"})), "{v}");
    let (_, v) = call(&stack, "PUT", &u, &website, None, Some(json!({"level": 2}))).await;
    assert_eq!(v, json!({"group": "admins", "level": 2}));
    let (_, v) = call(&stack, "DELETE", &format!("{u}level"), &website, None, None).await;
    assert_eq!(v, json!({"group": "admins"}));
    let (s, v) = call(&stack, "GET", &u, &website, None, None).await;
    assert_eq!((s, v), (200, json!({"group": "admins"})));
    assert_eq!(
        call(&stack, "DELETE", &u, &website, None, None).await.0,
        200
    );
    assert_eq!(
        call(&stack, "GET", &u, &website, None, None).await.0,
        404,
        "gone with its attributes"
    );
    let (s, v) = call(
        &stack,
        "POST",
        &format!("/servers/{sid}/users/{}/attributes/", "x".repeat(300)),
        &website,
        None,
        Some(json!({"a": 1})),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "invalid_field"));

    // Scopes are apart: another server's user of the same name.
    let (_, other) = call(
        &stack,
        "POST",
        "/servers/",
        &root,
        None,
        Some(json!({"serverName": "O"})),
    )
    .await;
    let other = other["serverid"].as_str().unwrap().to_string();
    call(&stack, "POST", &u, &website, None, Some(json!({"here": 1}))).await;
    assert_eq!(
        call(
            &stack,
            "GET",
            &format!("/servers/{other}/users/dave/attributes/"),
            &root,
            None,
            None
        )
        .await
        .0,
        404
    );

    // getUsers lists a user with attributes and filters on them; deleteUser takes them.
    let users = |q: &'static str| format!("/servers/{sid}/users/?filter={q}");
    let (s, v) = call(&stack, "GET", &users("here=1"), &website, None, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["users"], json!([{"userid": "dave", "numberaccounts": 0}]));
    let (_, v) = call(&stack, "GET", &users("here=in:2,3"), &website, None, None).await;
    assert_eq!(v["users"], json!([]));
    let dave = format!("/servers/{sid}/users/dave");
    let (s, v) = call(&stack, "DELETE", &dave, &website, None, None).await;
    assert_eq!((s, v), (200, json!({"deleted": 0})));
    assert_eq!(call(&stack, "GET", &u, &website, None, None).await.0, 404);
    assert_eq!(
        call(&stack, "DELETE", &dave, &website, None, None).await.0,
        404
    );
}

async fn visual_hash(stack: Stack) {
    let sid = stack.serverid.to_string();
    let resp = nsauth_tests::http()
        .get(format!("{}/servers/{sid}/vash", stack.base))
        .header("X-apikey", &stack.apikey)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let png = resp.bytes().await.unwrap().to_vec();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // The phone computes the same picture from the enrolment link alone.
    let link = stack.enrol_link(&new_nonce(), "").await;
    let phone_side = nsauth_authenticator::enrolment_vash(&link).unwrap();
    assert_eq!(phone_side.png(), png, "byte-identical");
    assert_eq!(Vash::new(&sid, &format!("{}/", stack.base)).png(), png);

    // Another server, another picture.
    let (other, key) = stack.other_server().await;
    let other_png = nsauth_tests::http()
        .get(format!("{}/servers/{other}/vash/", stack.base))
        .header("X-apikey", key.expose())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert_eq!(&other_png[..4], b"\x89PNG");
    assert_ne!(other_png, png);
    let a = Vash::new(&sid, &format!("{}/", stack.base));
    let b = Vash::new(other.as_str(), &format!("{}/", stack.base));
    assert_ne!((a.cells, a.colour), (b.cells, b.colour));

    let (s, v) = call(
        &stack,
        "GET",
        &format!("/servers/{sid}/vash"),
        "nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        None,
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (401, "invalid_api_key"));
}

/// What the management calls show of the demo server and the global scope.
async fn snapshot(stack: &Stack, root: &str, sid: &str) -> Vec<(u16, Value)> {
    let mut out = Vec::new();
    for p in [
        "/servers/".to_string(),
        format!("/servers/{sid}/permissions/"),
        "/apikeys/".into(),
        "/attributes/".into(),
        format!("/servers/{sid}/attributes/"),
        format!("/servers/{sid}/privilegedattributes/"),
        format!("/servers/{sid}/users/erin/attributes/"),
    ] {
        out.push(call(stack, "GET", &p, root, None, None).await);
    }
    out
}

/// Every route of the management function, made with a key whose role holds only
/// `sessions` on the server: 403, but for the two calls v2.2 opens to `sessions`
/// (getServerVash, getUserAttributes); and nothing changes.
async fn sessions_key_everywhere(stack: Stack) {
    let root = stack.root_key.clone();
    let sid = stack.serverid.to_string();
    let (key, role) = key_on(&stack, &sid, json!(["sessions"])).await;
    call(
        &stack,
        "POST",
        &format!("/servers/{sid}/users/erin/attributes/"),
        &root,
        None,
        Some(json!({"a": 1})),
    )
    .await;
    let before = snapshot(&stack, &root, &sid).await;
    let routes = nsauth::http::routes::MANAGEMENT.routes;
    assert_eq!(routes.len(), 34);
    for r in routes {
        let path = r
            .path
            .replace("{serverid}", &sid)
            .replace("{roleid}", &role)
            .replace("{userid}", "erin")
            .replace("{attributekey}", "a");
        let body = match (r.method.as_str(), r.path) {
            ("POST" | "PUT", p) if p.contains("permissions") => Some(json!(["sessions"])),
            ("POST" | "PUT", p) if p.contains("attributes") => Some(json!({"a": 2})),
            ("POST" | "PUT", p) if p.ends_with("/servers") || p.ends_with("{serverid}") => {
                Some(json!({"serverName": "x"}))
            }
            _ => None,
        };
        let (s, v) = call(&stack, r.method.as_str(), &path, &key, None, body).await;
        let opened = matches!(
            (r.method.as_str(), r.path),
            ("GET", "/servers/{serverid}/vash")
                | ("GET", "/servers/{serverid}/users/{userid}/attributes")
        );
        if opened {
            assert_eq!(s, 200, "{} {}: {v}", r.method, r.path);
        } else {
            assert_eq!(
                (s, code(&v)),
                (403, "missing_permission"),
                "{} {}: {v}",
                r.method,
                r.path
            );
        }
    }
    assert_eq!(
        snapshot(&stack, &root, &sid).await,
        before,
        "the refused calls changed nothing"
    );
}

macro_rules! on_every_store {
    ($($name:ident),*) => { $( mod $name {
        use super::*;
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn memory() { super::$name(Stack::memory().await).await; }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn moto() { if let Some(s) = Stack::moto().await { super::$name(s).await; } }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn dynalite() { if let Some(s) = Stack::dynalite().await { super::$name(s).await; } }
    } )* };
}

on_every_store!(
    servers_and_keys,
    boundaries,
    attributes,
    visual_hash,
    sessions_key_everywhere
);
