//! nsauth-admin: servers, API keys and settings in the stack's DynamoDB table (in AWS, or a
//! local endpoint through `AWS_ENDPOINT_URL`). Run `nsauth-admin help`.

use std::process::ExitCode;

use nsauth::apikey::Permission;
use nsauth::clock::{Clock, SystemClock, rfc3339};
use nsauth::http::routes::{Function, PATHS};
use nsauth::ids::ServerId;
use nsauth::service::admin;
use nsauth::settings::{SETTING_NAMES, ServerSettings};
use nsauth::store::{Created, DynamoStore, ServerStore, TableSpec};

const USAGE: &str = "\
usage: nsauth-admin [--table TABLE] COMMAND [ARGS]

The table comes from --table or NSAUTH_TABLE; AWS credentials, region and
AWS_ENDPOINT_URL (for a local DynamoDB) from the environment as for the aws CLI.

commands (the bootstrap):
  create-table [--no-ttl] [--no-stream]   create the table (for local use)
  create-root-key [--label TEXT]          a key whose role holds global root: the first
                                          key of the management API (shown once)
  index-accounts SERVERID                 put accounts stored before the account index
                                          (gsi2, the v2.2 listings) into it; once after
                                          upgrading a stack deployed before it
  routes                                  the HTTP routes of each function, as JSON
commands that the management API also has (the same service functions, without a key:
whoever holds the table may; the API call in brackets):
  create-server --name NAME [SETTING=VALUE ...]
                                          create a server; prints its id and a first API key
                                          [createServer, createApiKey, grantPermissions]
  list-servers                            every server with its name [getServers]
  show-server SERVERID                    settings and API keys of a server
                                          [getServer, getAllPermissions]
  set SERVERID SETTING=VALUE [...]        change settings, all or none [updateServer]
  create-key SERVERID [--permissions sessions,accounts,users,servers,createserver,root] [--label TEXT]
                                          a new API key (shown once)
                                          [createApiKey, grantPermissions]
  list-keys SERVERID                      the server's API keys (ids, never secrets)
                                          [getAllPermissions]
  revoke-key SERVERID KEYID               revoke a key at once [DELETE /apikeys/{roleid}]
settings: name, logo, link_base, return_urls (comma-separated), login_timeout,
  session_lifetime, remember_seconds, push_limit, push_window, fraud_block_after,
  number_match (off|push|always), login_limit, login_window, app_name, app_android,
  app_ios, site_url, pin_timeout, pin_trans_timeout, ping_time, server_flags
  (comma-separated)";

struct Args(Vec<String>);

impl Args {
    /// Removes `--name VALUE` and returns VALUE.
    fn option(&mut self, name: &str) -> Result<Option<String>, String> {
        match self.0.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) if i + 1 < self.0.len() => {
                let v = self.0.remove(i + 1);
                self.0.remove(i);
                Ok(Some(v))
            }
            Some(_) => Err(format!("{name} needs a value")),
        }
    }

    fn flag(&mut self, name: &str) -> bool {
        match self.0.iter().position(|a| a == name) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }

    fn next(&mut self, what: &str) -> Result<String, String> {
        if self.0.is_empty() {
            Err(format!("missing {what}"))
        } else {
            Ok(self.0.remove(0))
        }
    }

    fn done(&self) -> Result<(), String> {
        match self.0.first() {
            Some(a) => Err(format!("unexpected argument {a:?}")),
            None => Ok(()),
        }
    }
}

fn serverid(s: &str) -> Result<ServerId, String> {
    ServerId::parse(s).ok_or_else(|| format!("{s:?} is not a server id (22 base64url characters)"))
}

fn assignments(args: &mut Args) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    while let Ok(a) = args.next("setting") {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("{a:?} is not SETTING=VALUE"))?;
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn print_settings(s: &ServerSettings) {
    let json = serde_json::to_value(s).unwrap_or_default();
    for name in SETTING_NAMES {
        println!("  {name} = {}", json[name]);
    }
}

fn routes_json() -> serde_json::Value {
    Function::ALL
        .iter()
        .map(|f| {
            let routes: Vec<String> = PATHS
                .iter()
                .filter(|r| r.function == *f)
                .map(|r| format!("{} {}", r.method, r.path))
                .collect();
            (f.binary_name().to_string(), serde_json::json!(routes))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

async fn run(mut args: Args) -> Result<(), String> {
    let table = match args.option("--table")? {
        Some(t) => Some(t),
        None => std::env::var("NSAUTH_TABLE").ok().filter(|t| !t.is_empty()),
    };
    let command = args.next("command")?;
    if matches!(command.as_str(), "help" | "--help" | "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    if command == "routes" {
        args.done()?;
        println!("{:#}", routes_json());
        return Ok(());
    }
    let table = table.ok_or("no table: pass --table TABLE or set NSAUTH_TABLE")?;
    // An operator's tool: a slow CreateTable (or a just-started emulator's first answer)
    // must not fail it as a request would.
    let client = DynamoStore::tool_client_from_env().await;
    let store = DynamoStore::new(client.clone(), table.clone());
    let now = SystemClock.now();
    let err = |e: admin::AdminError| e.to_string();
    match command.as_str() {
        "create-table" => {
            let no_ttl = args.flag("--no-ttl");
            let no_stream = args.flag("--no-stream");
            args.done()?;
            let created = TableSpec::create(&client, &table, !no_ttl, !no_stream)
                .await
                .map_err(|e| e.to_string())?;
            match created {
                Created::New => println!("table {table} created"),
                Created::Existing => println!("table {table} exists already, with our keys"),
            }
        }
        "create-root-key" => {
            let label = args
                .option("--label")?
                .unwrap_or_else(|| "root key".to_string());
            args.done()?;
            let key = admin::ensure_root_key(&store, None, &label, now)
                .await
                .map_err(err)?;
            println!("keyid:  {}", key.keyid());
            println!("apikey: {}", key.expose());
            println!("(global root: every permission on every server; shown only now)");
        }
        "create-server" => {
            let name = args
                .option("--name")?
                .ok_or("create-server needs --name NAME")?;
            let mut settings = ServerSettings::named(&name)?;
            for (k, v) in assignments(&mut args)? {
                settings.set(&k, &v)?;
            }
            let (server, key) = admin::create_server(&store, settings, None, now)
                .await
                .map_err(err)?;
            println!("serverid: {}", server.serverid);
            println!("apikey:   {}", key.expose());
            println!(
                "(the key is shown only now; it has the permissions sessions, accounts, users)"
            );
        }
        "list-servers" => {
            args.done()?;
            for s in store.list_servers().await.map_err(|e| e.to_string())? {
                println!(
                    "{}  {}  created {}",
                    s.serverid,
                    s.settings.name,
                    rfc3339(s.created)
                );
            }
        }
        "show-server" => {
            let id = serverid(&args.next("SERVERID")?)?;
            args.done()?;
            let s = store
                .get_server(&id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no server {id}"))?;
            println!("server {} created {}", s.serverid, rfc3339(s.created));
            print_settings(&s.settings);
            println!("keys:");
            for (k, revoked) in admin::list_keys(&store, &id).await.map_err(err)? {
                let perms: Vec<&str> = k.permissions.iter().map(|p| p.as_str()).collect();
                let state = match revoked {
                    Some(t) => format!("revoked {}", rfc3339(t)),
                    None => "active".into(),
                };
                println!(
                    "  {}  [{}]  {}  {}",
                    k.roleid,
                    perms.join(","),
                    state,
                    k.label
                );
            }
        }
        "set" => {
            let id = serverid(&args.next("SERVERID")?)?;
            let changes = assignments(&mut args)?;
            if changes.is_empty() {
                return Err("set needs at least one SETTING=VALUE".into());
            }
            let s = admin::update_settings(&store, &id, &changes)
                .await
                .map_err(err)?;
            println!("server {id} settings:");
            print_settings(&s);
        }
        "create-key" => {
            let id = serverid(&args.next("SERVERID")?)?;
            let perms = match args.option("--permissions")? {
                Some(p) => p
                    .split(',')
                    .map(|x| x.trim().parse::<Permission>())
                    .collect::<Result<Vec<_>, _>>()?,
                None => Permission::WEBSITE.to_vec(),
            };
            let label = args.option("--label")?.unwrap_or_default();
            args.done()?;
            let key = admin::create_key(&store, &id, perms, label, now)
                .await
                .map_err(err)?;
            println!("keyid:  {}", key.keyid());
            println!("apikey: {}", key.expose());
        }
        "list-keys" => {
            let id = serverid(&args.next("SERVERID")?)?;
            args.done()?;
            for (k, revoked) in admin::list_keys(&store, &id).await.map_err(err)? {
                let perms: Vec<&str> = k.permissions.iter().map(|p| p.as_str()).collect();
                let revoked = revoked.map(|t| format!(" revoked {}", rfc3339(t)));
                println!(
                    "{}  [{}]{}",
                    k.roleid,
                    perms.join(","),
                    revoked.unwrap_or_default()
                );
            }
        }
        "index-accounts" => {
            let id = serverid(&args.next("SERVERID")?)?;
            args.done()?;
            let added = store.index_accounts(&id).await.map_err(|e| e.to_string())?;
            println!("{added} account(s) of server {id} added to the account index");
        }
        "revoke-key" => {
            let id = serverid(&args.next("SERVERID")?)?;
            let keyid = args.next("KEYID")?;
            args.done()?;
            admin::revoke_key(&store, &id, &keyid, now)
                .await
                .map_err(err)?;
            println!("key {keyid} of server {id} revoked");
        }
        other => return Err(format!("unknown command {other:?}\n\n{USAGE}")),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // The store's error details (which an error answer leaves out) go to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .without_time()
        .init();
    let args = Args(std::env::args().skip(1).collect());
    if args.0.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nsauth-admin: {e}");
            ExitCode::FAILURE
        }
    }
}
