//! `make dev`: the local stack on 127.0.0.1:$PORT (default 8080).
//!
//! Environment: `PORT`; `NSAUTH_STORE` = `memory` (default) or `dynamodb` (endpoint from
//! `AWS_ENDPOINT_URL`, table from `NSAUTH_TABLE`, default `nsauth-local`, created when
//! missing); `NSAUTH_DEMO_SERVERID` and `NSAUTH_DEMO_APIKEY` fix the demo server, `NSAUTH_DEMO_ROOT_KEY`
//! the root key;
//! `NSAUTH_LOCAL_*` set the limits on connections (`nsauth_local::guard::Limits`).

use std::sync::Arc;

use nsauth::Deps;
use nsauth::clock::{Clock, SystemClock};
use nsauth::config::Config;
use nsauth::push::LocalPush;
use nsauth::store::{ChangeStream, DynamoStore, MemoryStore, Store, TableSpec};
use tokio::net::TcpListener;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn run() -> Result<(), String> {
    lambda_http::tracing::init_default_subscriber();
    let port: u16 = match env("PORT") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("PORT {p:?} is not a port number"))?,
        None => 8080,
    };
    let limits = nsauth_local::guard::Limits::from_env(env)?;
    let table = env("NSAUTH_TABLE").unwrap_or_else(|| "nsauth-local".into());
    let store_kind = env("NSAUTH_STORE").unwrap_or_else(|| "memory".into());
    // Every session write is announced to the WebSocket endpoint, as DynamoDB Streams
    // announce them to the notifier in AWS.
    let stream = ChangeStream::new();
    let changes = stream.subscribe();
    let store: Arc<dyn Store> = match store_kind.as_str() {
        "memory" => Arc::new(MemoryStore::new().with_stream(stream)),
        "dynamodb" => {
            let client = DynamoStore::client_from_env().await;
            let exists = client
                .describe_table()
                .table_name(&table)
                .send()
                .await
                .is_ok();
            if !exists {
                TableSpec::create(&client, &table, true, true)
                    .await
                    .map_err(|e| format!("creating table {table}: {e}"))?;
            }
            Arc::new(DynamoStore::new(client, table.clone()).with_stream(stream))
        }
        other => {
            return Err(format!(
                "NSAUTH_STORE must be memory or dynamodb, got {other:?}"
            ));
        }
    };
    let clock = Arc::new(SystemClock);
    let demo = nsauth_local::demo::ensure(
        store.as_ref(),
        env("NSAUTH_DEMO_SERVERID").as_deref(),
        env("NSAUTH_DEMO_APIKEY").as_deref(),
        env("NSAUTH_DEMO_ROOT_KEY").as_deref(),
        clock.now(),
    )
    .await?;
    if let Some(t) = env("NSAUTH_DEMO_LOGIN_TIMEOUT") {
        nsauth::service::admin::update_settings(
            store.as_ref(),
            &demo.serverid,
            &[("login_timeout".into(), t)],
        )
        .await
        .map_err(|e| format!("NSAUTH_DEMO_LOGIN_TIMEOUT: {e}"))?;
    }
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let push = Arc::new(LocalPush::new());
    let deps = Deps::new(
        store,
        push.clone(),
        clock,
        Arc::new(Config {
            table,
            api_base: None,
            ws_url: Some(format!("{}/ws", base.replacen("http://", "ws://", 1))),
            key_cache_seconds: Config::key_cache_from_env()?,
        }),
    )
    // Passes over an account's sessions run on a task, off the request (the stream's job in
    // AWS).
    .with_sweeps(Arc::new(nsauth::service::sweeps::Spawned::default()))
    .with_geoip(nsauth::geoip::GeoIp::from_env()?.map(Arc::new));
    // Logins that `session_lifetime` ends get their LOGOUT (a schedule's job in AWS).
    tokio::spawn(nsauth_local::end_lifetimes(
        deps.clone(),
        nsauth_local::LIFETIME_RUN_EVERY,
    ));
    let conns = nsauth_local::ws::LocalConnections::default();
    tokio::spawn(nsauth_local::ws::notify(
        deps.clone(),
        conns.clone(),
        changes,
    ));
    let local = nsauth_local::Local {
        push: Some(push),
        ws: Some(conns),
        demo: Some(nsauth_local::site::DemoSite::new(
            demo.serverid.clone(),
            demo.apikey.expose().to_string(),
        )),
        limits,
    };
    let nonce = nsauth::ids::Nonce::generate();
    println!("nsauth local stack on {base} (store: {store_kind})");
    println!("demo server id: {}", demo.serverid);
    println!("demo API key:   {}", demo.apikey.expose());
    println!(
        "root API key:   {} (global root: the management API)",
        demo.root_key.expose()
    );
    println!("demo:           {base}/ (phone simulator /phone, accounts /admin)");
    println!("push outbox:    {base}/local/outbox?token=<device token> (pushes stay here)");
    println!("try getSession:");
    println!(
        "  curl -s -H 'X-apikey: {}' -H 'X-nonce: {}' {base}/servers/{}/sessions",
        demo.apikey.expose(),
        nonce.expose(),
        demo.serverid
    );
    tokio::select! {
        _ = nsauth_local::serve(listener, deps, local) => {}
        _ = tokio::signal::ctrl_c() => println!("stopping"),
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("nsauth-local: {e}");
        std::process::exit(1);
    }
}
