//! Configuration from the environment.

/// The longest the key cache may delay a revocation (`NSAUTH_KEY_CACHE_SECONDS`).
pub const MAX_KEY_CACHE_SECONDS: u32 = 60;

/// What a function needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table (`NSAUTH_TABLE`).
    pub table: String,
    /// The public base URL of the HTTP API (`NSAUTH_API_BASE`, ending in `/`), for
    /// enrolment links. Unset: taken from each request's Host and X-Forwarded-Proto,
    /// which is right for the API Gateway URL; set it for a custom domain.
    pub api_base: Option<String>,
    /// The WebSocket URL the browser connects to (`NSAUTH_WS_URL`, `wss://…/{stage}`);
    /// unset: the login block polls.
    pub ws_url: Option<String>,
    /// How long a function instance keeps a server and API key item it read
    /// (`NSAUTH_KEY_CACHE_SECONDS`, 0 to 60; 0, the default, is off): see
    /// `service::key_cache` for what it saves and the revocation delay it costs.
    pub key_cache_seconds: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        let table = std::env::var("NSAUTH_TABLE")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or("NSAUTH_TABLE is not set: name the DynamoDB table")?;
        let api_base = match std::env::var("NSAUTH_API_BASE")
            .ok()
            .filter(|v| !v.is_empty())
        {
            Some(b)
                if (b.starts_with("https://") || b.starts_with("http://")) && b.ends_with('/') =>
            {
                Some(b)
            }
            Some(b) => {
                return Err(format!(
                    "NSAUTH_API_BASE {b:?} must be an http(s) URL ending in '/'"
                ));
            }
            None => None,
        };
        let ws_url = match std::env::var("NSAUTH_WS_URL")
            .ok()
            .filter(|v| !v.is_empty())
        {
            Some(u) if u.starts_with("wss://") || u.starts_with("ws://") => Some(u),
            Some(u) => return Err(format!("NSAUTH_WS_URL {u:?} must be a ws:// or wss:// URL")),
            None => None,
        };
        Ok(Config {
            table,
            api_base,
            ws_url,
            key_cache_seconds: Config::key_cache_from_env()?,
        })
    }

    /// `NSAUTH_KEY_CACHE_SECONDS`: unset or empty is 0 (off).
    pub fn key_cache_from_env() -> Result<u32, String> {
        let max = MAX_KEY_CACHE_SECONDS;
        match std::env::var("NSAUTH_KEY_CACHE_SECONDS")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            None => Ok(0),
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(format!(
                    "NSAUTH_KEY_CACHE_SECONDS {v:?} must be a whole number of seconds, 0 to {max}"
                )),
            },
        }
    }
}
