//! What infra/bench/coldstart.py needs to cold-start the functions whose requests need an
//! enrolled account: the phone API (every request signed by the phone's P-256 key) and push
//! login (an account with a push endpoint). Two commands:
//!
//! `coldstart_fixture enrol --moto URL --table T --serverid S --apikey K --dir D --push-users N`
//!
//! Serves the shared handlers in this process on a loopback port (the local stack) over
//! the bench's table on moto, with SNS on moto and the system clock, as the Lambda binaries
//! run; creates an FCM platform application on moto; and enrols with the reference
//! authenticator, through an enrolment link of server S: one phone account (userid
//! `bench-phone`) and N accounts with a push token (userids `bench-push-0` ...), each key
//! in a file of its own under D. Prints one JSON line:
//! `{"fcm_app_arn", "phone": {"keyfile", "accountid", "userid"},
//!   "push": [{"keyfile", "accountid", "userid"}, ...]}`.
//! The functions that push need `NSAUTH_FCM_APP_ARN` set to `fcm_app_arn`.
//!
//! `coldstart_fixture sign --keyfile F --serverid S --host H METHOD PATH [BODY]`
//!
//! One phone request signed now (system clock) by the account of server S in key file F,
//! for the API at `https://H/` (the `Host` an API Gateway event carries). Prints one JSON
//! line: `{"method", "path", "query", "headers": {"host", "authorization",
//! "content-type"?}, "body"}`. A signed request is good for 120 s from its `ts`
//! (docs/phone-protocol.md), and a state-changing one is taken once: sign one per use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nsauth::clock::SystemClock;
use nsauth::config::Config;
use nsauth::ids::ServerId;
use nsauth::push::{PlatformApps, SnsPush};
use nsauth::signing::AccountRef;
use nsauth::store::DynamoStore;
use nsauth_authenticator::{Authenticator, Signer};
use serde_json::{Value, json};

/// `--name value` pairs, then the positional arguments.
fn parse(args: &[String]) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let mut named = BTreeMap::new();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            named.insert(name.to_string(), value.clone());
        } else {
            positional.push(a.clone());
        }
    }
    Ok((named, positional))
}

fn get<'a>(named: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, String> {
    named
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("--{name} is required"))
}

fn server_id(s: &str) -> Result<ServerId, String> {
    ServerId::parse(s).ok_or_else(|| format!("{s:?} is not a server id"))
}

/// The in-process stack the phones enrol through: its base URL.
async fn serve(moto: &str, table: &str, fcm_app: &str) -> Result<String, String> {
    let store = DynamoStore::new(nsauth_tests::dynamo_client(moto), table.to_string());
    let push = SnsPush::new(
        nsauth_tests::sns_client(moto),
        PlatformApps {
            fcm: Some(fcm_app.to_string()),
            ..Default::default()
        },
    );
    let config = Config {
        table: table.to_string(),
        api_base: None,
        ws_url: None,
        key_cache_seconds: 0,
    };
    let deps = nsauth::Deps::new(
        Arc::new(store),
        Arc::new(push),
        Arc::new(SystemClock),
        Arc::new(config),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(nsauth_local::serve(
        listener,
        deps,
        nsauth_local::Local::default(),
    ));
    Ok(base)
}

/// One account enrolled by a new phone (key file `keyfile`) for `userid`, with a push token
/// when `push`: its id.
async fn enrol(
    base: &str,
    serverid: &str,
    apikey: &str,
    keyfile: &Path,
    userid: &str,
    push: Option<&str>,
) -> Result<u64, String> {
    // First: the authenticator installs the process's TLS crypto provider, which the
    // website client below needs too.
    let mut phone = Authenticator::open(keyfile).map_err(|e| e.to_string())?;
    let resp = nsauth_tests::http()
        .get(format!(
            "{base}/servers/{serverid}/sessions/qr/enrol?userid={userid}"
        ))
        .header("X-apikey", apikey)
        .header("X-nonce", nsauth_tests::new_nonce())
        .send()
        .await
        .map_err(|e| format!("getQrEnrol: {e}"))?;
    let status = resp.status().as_u16();
    let link = resp.text().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("getQrEnrol for {userid} answered {status}: {link}"));
    }
    let account = phone
        .enrol(link.trim(), "Bench phone", push.map(|token| ("fcm", token)))
        .await
        .map_err(|e| format!("enrol of {userid}: {e}"))?;
    if push.is_some() && account.push.is_none() {
        return Err(format!(
            "{userid} enrolled without its push token (no endpoint made on moto's SNS)"
        ));
    }
    Ok(account.accountid)
}

async fn enrol_all(named: &BTreeMap<String, String>) -> Result<Value, String> {
    let moto = get(named, "moto")?;
    let table = get(named, "table")?;
    let serverid = get(named, "serverid")?;
    server_id(serverid)?;
    let apikey = get(named, "apikey")?;
    let dir = PathBuf::from(get(named, "dir")?);
    let push_users: usize = get(named, "push-users")?
        .parse()
        .map_err(|_| "--push-users: a number")?;
    let fcm_app = nsauth_tests::fcm_platform_app(&nsauth_tests::sns_client(moto)).await;
    let base = serve(moto, table, &fcm_app).await?;
    let one = async |name: String, push: Option<String>| {
        let keyfile = dir.join(format!("{name}.json"));
        let accountid = enrol(&base, serverid, apikey, &keyfile, &name, push.as_deref()).await?;
        Ok::<_, String>(json!({
            "keyfile": keyfile.to_string_lossy(),
            "accountid": accountid,
            "userid": name,
        }))
    };
    let phone = one("bench-phone".into(), None).await?;
    let mut push = Vec::new();
    for i in 0..push_users {
        // A token of its own: moto's SNS keeps one endpoint per token and application.
        let token = format!("bench-token-{i}-{}", nsauth_tests::new_nonce());
        push.push(one(format!("bench-push-{i}"), Some(token)).await?);
    }
    Ok(json!({ "fcm_app_arn": fcm_app, "phone": phone, "push": push }))
}

fn sign(named: &BTreeMap<String, String>, positional: &[String]) -> Result<Value, String> {
    let keyfile = get(named, "keyfile")?;
    let serverid = get(named, "serverid")?;
    let host = get(named, "host")?;
    let (method, path, body) = match positional {
        [m, p] => (m, p, ""),
        [m, p, b] => (m, p, b.as_str()),
        _ => return Err("sign needs METHOD PATH [BODY]".into()),
    };
    let phone = Authenticator::open(keyfile).map_err(|e| e.to_string())?;
    let accountid = phone
        .account(serverid)
        .map_err(|e| e.to_string())?
        .accountid;
    let key = phone.raw_key(serverid).map_err(|e| e.to_string())?;
    let api = format!("https://{host}/");
    let serverid = server_id(serverid)?;
    let signer = Signer {
        key: &key,
        serverid: &serverid,
        account: AccountRef::Id(accountid),
        api: &api,
    };
    let req = signer
        .sign(method, path, body.as_bytes().to_vec(), phone.now())
        .map_err(|e| e.to_string())?;
    let (path, query) = req
        .path_with_query
        .split_once('?')
        .unwrap_or((req.path_with_query.as_str(), ""));
    let mut headers = json!({ "host": req.host, "authorization": req.authorization });
    if !body.is_empty() {
        headers["content-type"] = json!("application/json");
    }
    Ok(json!({
        "method": req.method,
        "path": path,
        "query": query,
        "headers": headers,
        "body": body,
    }))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((cmd, rest)) => match (cmd.as_str(), parse(rest)) {
            (_, Err(e)) => Err(e),
            ("enrol", Ok((named, _))) => enrol_all(&named).await,
            ("sign", Ok((named, positional))) => sign(&named, &positional),
            (other, _) => Err(format!("unknown command {other:?}")),
        },
        None => Err("usage: coldstart_fixture enrol|sign ... (see the source)".into()),
    };
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("coldstart_fixture: {e}");
            std::process::exit(1);
        }
    }
}
