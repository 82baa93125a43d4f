//! The admin tool as a user runs it: the real binary against DynamoDB on moto's server
//! (through `AWS_ENDPOINT_URL`, as the README tells).

use std::process::{Command, Output};

fn moto() -> Option<String> {
    match std::env::var("NSAUTH_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert_ne!(
                std::env::var("NSAUTH_TEST_REQUIRE_SERVICES").as_deref(),
                Ok("1"),
                "NSAUTH_TEST_MOTO_URL is not set; run through `make test`"
            );
            eprintln!("SKIPPED: NSAUTH_TEST_MOTO_URL is not set");
            None
        }
    }
}

struct Admin {
    endpoint: String,
    table: String,
}

impl Admin {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_nsauth-admin"))
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("NSAUTH_TABLE", &self.table)
            .output()
            .expect("run nsauth-admin")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?} failed: {}{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn manages_servers_keys_and_settings() {
    let Some(endpoint) = moto() else { return };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let admin = Admin {
        endpoint,
        table: format!("nsauth-admin-{stamp}"),
    };
    // On a busy moto the SDK may retry a CreateTable that timed out after making the table;
    // the tool then reports the table it finds, which is ours.
    let made = admin.ok(&["create-table"]);
    assert!(
        made.contains("created") || made.contains("exists already, with our keys"),
        "{made}"
    );
    // Creating it again takes the table that is there (a retried CreateTable that made it
    // the first time must not fail a deployment script).
    assert!(admin.ok(&["create-table"]).contains("exists already"));

    let out = admin.ok(&["create-server", "--name", "Acme Shop", "login_timeout=120"]);
    let sid = field(&out, "serverid:").to_string();
    let key = field(&out, "apikey:").to_string();
    assert_eq!(sid.len(), 22);
    assert!(key.starts_with("nsk_"));

    let list = admin.ok(&["list-servers"]);
    assert!(list.contains(&sid) && list.contains("Acme Shop"), "{list}");

    let show = admin.ok(&["show-server", &sid]);
    assert!(show.contains("login_timeout = 120"), "{show}");
    assert!(show.contains("[sessions,accounts,users]"), "{show}");
    assert!(
        !show.contains(&key),
        "the key's secret is never shown again"
    );

    let set = admin.ok(&["set", &sid, "number_match=always", "push_limit=3"]);
    assert!(
        set.contains("number_match = \"always\"") && set.contains("push_limit = 3"),
        "{set}"
    );
    // A bad value refuses the whole change.
    let err = admin.fails(&["set", &sid, "push_limit=7", "login_timeout=1"]);
    assert!(err.contains("login_timeout must be between"), "{err}");
    assert!(admin.ok(&["show-server", &sid]).contains("push_limit = 3"));
    assert!(
        admin
            .fails(&["set", &sid, "colour=red"])
            .contains("unknown setting")
    );
    assert!(
        admin
            .fails(&["set", "AAECAwQFBgcICQoLDA0ODw", "name=x"])
            .contains("no server")
    );
    assert!(
        admin
            .fails(&["show-server", "nope"])
            .contains("not a server id")
    );

    let out = admin.ok(&[
        "create-key",
        &sid,
        "--permissions",
        "sessions",
        "--label",
        "web",
    ]);
    let keyid = field(&out, "keyid:").to_string();
    let key2 = field(&out, "apikey:").to_string();
    assert!(key2.starts_with(&format!("nsk_{keyid}_")));
    assert!(
        admin
            .fails(&["create-key", &sid, "--permissions", "admin"])
            .contains("unknown permission")
    );
    assert!(
        admin
            .fails(&["create-key", &sid, "--permissions", "setrid"])
            .contains("global permission")
    );
    let keys = admin.ok(&["list-keys", &sid]);
    assert_eq!(keys.lines().count(), 2, "{keys}");
    assert!(keys.contains(&format!("{keyid}  [sessions]")), "{keys}");

    assert!(admin.ok(&["revoke-key", &sid, &keyid]).contains("revoked"));
    assert!(
        admin
            .fails(&["revoke-key", &sid, &keyid])
            .contains("no unrevoked key")
    );
    assert!(admin.ok(&["list-keys", &sid]).contains(" revoked "));

    // The bootstrap of the management API: a root key, shown once, a new one each time.
    let root = admin.ok(&["create-root-key", "--label", "ops"]);
    let rootid = field(&root, "keyid:").to_string();
    assert!(field(&root, "apikey:").starts_with(&format!("nsk_{rootid}_")));
    assert!(root.contains("global root"), "{root}");
    let again = admin.ok(&["create-root-key"]);
    assert_ne!(field(&again, "keyid:"), rootid);
    assert!(
        admin
            .fails(&["create-root-key", "--label"])
            .contains("needs a value")
    );

    assert!(admin.fails(&["frobnicate"]).contains("unknown command"));
    assert!(admin.fails(&["create-server"]).contains("--name"));
}

#[test]
fn routes_are_listed_per_function() {
    let out = Command::new(env!("CARGO_BIN_EXE_nsauth-admin"))
        .arg("routes")
        .output()
        .unwrap();
    assert!(out.status.success());
    let routes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(routes["get_session"][0], "GET /servers/{serverid}/sessions");
    assert_eq!(
        routes["create_session"][0],
        "POST /servers/{serverid}/sessions"
    );
}

#[test]
fn needs_a_table() {
    let out = Command::new(env!("CARGO_BIN_EXE_nsauth-admin"))
        .arg("list-servers")
        .env_remove("NSAUTH_TABLE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NSAUTH_TABLE"));
}
