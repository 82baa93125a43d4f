//! The v2.2 server calls (getServers, createServer, getServer, updateServer): the Server
//! type mapped onto our settings.

use serde::Serialize;
use serde_json::Value;

use crate::apikey::{Credentials, KeyCredentials, Permission};
use crate::deps::Deps;
use crate::error::ApiError;
use crate::role::Grant;
use crate::server::Server;
use crate::service::management::authorise_global;
use crate::service::provisioning;
use crate::service::website::authorise_fresh;
use crate::settings::{SETTING_NAMES, ServerSettings};
use crate::vash::Vash;

/// v2.2's Server as we answer it. `serverpk` is always empty: our servers sign nothing the
/// phone checks with a server key (the phone pins the API base instead; docs).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerView {
    pub serverid: String,
    pub server_name: String,
    pub logo: String,
    pub serverpk: String,
    pub pin_timeout: i32,
    pub pin_trans_timeout: i32,
    pub ping_time: u32,
    pub server_flags: Vec<String>,
    #[serde(rename = "appname", skip_serializing_if = "String::is_empty")]
    pub app_name: String,
    #[serde(rename = "appandroid", skip_serializing_if = "String::is_empty")]
    pub app_android: String,
    #[serde(rename = "appios", skip_serializing_if = "String::is_empty")]
    pub app_ios: String,
    /// The link base of enrolment and login links (the URL prefix that launches the app).
    #[serde(rename = "appurl")]
    pub app_url: String,
    #[serde(rename = "siteurl", skip_serializing_if = "String::is_empty")]
    pub site_url: String,
    #[serde(rename = "wsurl", skip_serializing_if = "Option::is_none")]
    pub ws_url: Option<String>,
    /// Our addition: every setting by its own name (SPEC section 7).
    pub settings: ServerSettings,
    /// Our addition: when the server was created (Unix seconds).
    pub created: i64,
}

impl ServerView {
    pub fn new(server: &Server, ws_url: Option<&str>) -> ServerView {
        let s = &server.settings;
        ServerView {
            serverid: server.serverid.to_string(),
            server_name: s.name.clone(),
            logo: s.logo.clone(),
            serverpk: String::new(),
            pin_timeout: s.pin_timeout,
            pin_trans_timeout: s.pin_trans_timeout,
            ping_time: s.ping_time,
            server_flags: s.server_flags.clone(),
            app_name: s.app_name.clone(),
            app_android: s.app_android.clone(),
            app_ios: s.app_ios.clone(),
            app_url: s.link_base.clone(),
            site_url: s.site_url.clone(),
            ws_url: ws_url.map(String::from),
            settings: s.clone(),
            created: server.created,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ServersPage {
    pub servers: Vec<ServerView>,
    pub totalnumber: usize,
}

/// The v2.2 Server fields a body may change, and the setting each one is.
const SERVER_FIELDS: [(&str, &str); 11] = [
    ("serverName", "name"),
    ("logo", "logo"),
    ("appname", "app_name"),
    ("appandroid", "app_android"),
    ("appios", "app_ios"),
    ("appurl", "link_base"),
    ("siteurl", "site_url"),
    ("pinTimeout", "pin_timeout"),
    ("pinTransTimeout", "pin_trans_timeout"),
    ("pingTime", "ping_time"),
    ("serverFlags", "server_flags"),
];

/// Fields of the Server type a body may carry but not change (the server makes them);
/// they are ignored, so that a client can send back what getServer answered.
const READ_ONLY_FIELDS: [&str; 7] = [
    "serverid",
    "serverpk",
    "owner",
    "accountCount",
    "lastLogin",
    "wsurl",
    "created",
];

/// The changes a createServer or updateServer body asks for, as `(setting, text value)`:
/// the v2.2 fields, and our `settings` object by setting name. Every value is checked by
/// [`ServerSettings::set`] when applied.
#[derive(Debug, Default, PartialEq)]
pub struct ServerChanges(pub Vec<(String, String)>);

impl ServerChanges {
    pub fn parse(body: &[u8]) -> Result<ServerChanges, ApiError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("the body must be a Server object: {e}"),
            )
        })?;
        let Value::Object(fields) = v else {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the body must be a Server object",
            ));
        };
        let mut changes = Vec::new();
        let mut settings = Vec::new();
        for (field, value) in &fields {
            if let Some((_, setting)) = SERVER_FIELDS.iter().find(|(f, _)| f == field) {
                changes.push((setting.to_string(), text(field, value)?));
            } else if field == "settings" {
                settings = settings_object(value)?;
            } else if !READ_ONLY_FIELDS.contains(&field.as_str()) {
                return Err(ApiError::invalid_field(
                    field,
                    "is not a field of Server (see docs/integration.md)",
                ));
            }
        }
        // A setting that is also a v2.2 field (`name` and `serverName`) takes the field's
        // value: a client that sends getServer's answer back with `serverName` changed
        // also sends the old `settings.name`.
        settings.retain(|(k, _)| !changes.iter().any(|(c, _)| c == k));
        settings.extend(changes);
        Ok(ServerChanges(settings))
    }

    pub fn names(&self, setting: &str) -> bool {
        self.0.iter().any(|(k, _)| k == setting)
    }

    /// Settings with the changes applied, or 400 `invalid_setting` naming the first bad one.
    pub fn apply(&self, settings: &ServerSettings) -> Result<ServerSettings, ApiError> {
        let mut s = settings.clone();
        for (k, v) in &self.0 {
            s.set(k, v)
                .map_err(|e| ApiError::bad_request("invalid_setting", e))?;
        }
        Ok(s)
    }
}

fn settings_object(value: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::invalid_field(
            "settings",
            "must be an object of setting names and values",
        ));
    };
    map.iter()
        .map(|(k, v)| {
            if !SETTING_NAMES.contains(&k.as_str()) {
                return Err(ApiError::invalid_field(
                    "settings",
                    format!(
                        "unknown setting {k:?}; settings are: {}",
                        SETTING_NAMES.join(", ")
                    ),
                ));
            }
            Ok((k.clone(), text(k, v)?))
        })
        .collect()
}

/// A JSON value as the text form [`ServerSettings::set`] takes: strings as they are,
/// numbers, booleans, and arrays of strings comma-separated.
fn text(field: &str, v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        // 1180.0 is the whole number 1180 to JSON (and to JSON Schema's `integer`).
        Value::Number(n) => Ok(match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        }),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) if !s.contains(',') => Ok(s.clone()),
                _ => Err(ApiError::invalid_field(
                    field,
                    "must be an array of strings without commas",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(",")),
        _ => Err(ApiError::invalid_field(
            field,
            "must be a string, a number or an array of strings",
        )),
    }
}

/// getServers: the servers the acting role may manage, ordered by id, from `marker` (an
/// offset) on, at most `limit` (default 100, at most 1000). Global `servers` (or `root`)
/// sees every server; another role those where it holds `servers` or `createserver`.
pub async fn list(
    deps: &Deps,
    creds: &KeyCredentials,
    limit: Option<usize>,
    marker: Option<usize>,
) -> Result<ServersPage, ApiError> {
    let acting = authorise_global(deps, creds).await?;
    let mut servers = if acting.has_global(Permission::Servers) {
        deps.servers.list_servers().await?
    } else {
        let grants: Vec<Grant> = deps
            .servers
            .role_grants(&acting.roleid)
            .await?
            .into_iter()
            .filter(|g| {
                g.revoked.is_none()
                    && g.permissions
                        .iter()
                        .any(|p| matches!(p, Permission::Servers | Permission::CreateServer))
            })
            .collect();
        if grants.is_empty() {
            // A key that manages no server (a website's key) is refused, not shown an
            // empty list: the call is not one it may make.
            return Err(ApiError::MissingPermission("servers"));
        }
        let mut out = Vec::new();
        for g in grants {
            if let Some(s) = deps.servers.get_server(&g.serverid).await? {
                out.push(s);
            }
        }
        out
    };
    servers.sort_by(|a, b| a.serverid.as_str().cmp(b.serverid.as_str()));
    let totalnumber = servers.len();
    let ws = deps.config.ws_url.as_deref();
    Ok(ServersPage {
        servers: servers
            .iter()
            .skip(marker.unwrap_or(0))
            .take(limit.unwrap_or(100).min(1000))
            .map(|s| ServerView::new(s, ws))
            .collect(),
        totalnumber,
    })
}

/// createServer: global `createserver`. The creating role gets every permission of the
/// new server (`root` there), so it can make the server's keys.
pub async fn create(
    deps: &Deps,
    creds: &KeyCredentials,
    changes: &ServerChanges,
) -> Result<ServerView, ApiError> {
    let acting = authorise_global(deps, creds).await?;
    acting.require_global(Permission::CreateServer)?;
    if !changes.names("name") {
        return Err(ApiError::invalid_field(
            "serverName",
            "is required to create a server",
        ));
    }
    let settings = changes.apply(&ServerSettings::default())?;
    let now = deps.clock.now();
    let server = Server::new(settings, now);
    provisioning::store_server(
        &*deps.servers,
        &server,
        Some((&acting.roleid, Permission::SERVER.to_vec())),
        now,
    )
    .await?;
    tracing::info!(serverid = %server.serverid, "server created");
    Ok(ServerView::new(&server, deps.config.ws_url.as_deref()))
}

/// getServer: `servers` or `createserver` on the server.
pub async fn get(deps: &Deps, creds: &Credentials) -> Result<ServerView, ApiError> {
    let auth = authorise_fresh(
        deps,
        creds,
        &[Permission::Servers, Permission::CreateServer],
    )
    .await?;
    Ok(ServerView::new(&auth.server, deps.config.ws_url.as_deref()))
}

/// updateServer: `createserver` on the server; the changes apply all or none, as one
/// versioned write.
pub async fn update(
    deps: &Deps,
    creds: &Credentials,
    changes: &ServerChanges,
) -> Result<ServerView, ApiError> {
    let auth = authorise_fresh(deps, creds, &[Permission::CreateServer]).await?;
    let updated =
        provisioning::change_server(&*deps.servers, &*deps.clock, auth.server, changes).await?;
    Ok(ServerView::new(&updated, deps.config.ws_url.as_deref()))
}

/// getServerVash: `sessions` or `servers`. `api` is the API base of the server's
/// enrolment links, which the phone hashes too.
pub async fn vash(deps: &Deps, creds: &Credentials, api: &str) -> Result<Vec<u8>, ApiError> {
    let auth = authorise_fresh(deps, creds, &[Permission::Sessions, Permission::Servers]).await?;
    Ok(Vash::new(auth.server.serverid.as_str(), api).png())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_win_over_the_same_setting_and_read_only_ones_are_ignored() {
        let c = ServerChanges::parse(
            br#"{"serverName": "New", "settings": {"name": "Old", "login_timeout": 120},
                 "serverid": "x", "serverpk": "", "pinTimeout": 1180.0, "serverFlags": ["a", "b"]}"#,
        )
        .unwrap();
        let s = c.apply(&ServerSettings::named("Before").unwrap()).unwrap();
        assert_eq!(s.name, "New");
        assert_eq!(s.login_timeout, 120);
        assert_eq!(s.pin_timeout, 1180);
        assert_eq!(s.server_flags, ["a", "b"]);
        for bad in [
            &br#"{"colour": "red"}"#[..],
            br#"{"settings": {"colour": 1}}"#,
            br#"{"settings": []}"#,
            br#"{"serverFlags": ["a,b"]}"#,
            br#"{"serverName": true}"#,
            b"[]",
            b"nope",
        ] {
            assert!(
                ServerChanges::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let c = ServerChanges::parse(br#"{"pinTimeout": 1.5}"#).unwrap();
        assert!(
            c.apply(&ServerSettings::default()).is_err(),
            "not a whole number"
        );
    }
}
