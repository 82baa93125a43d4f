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
        parse_key_cache_seconds(std::env::var("NSAUTH_KEY_CACHE_SECONDS").ok().as_deref())
    }
}

/// The value of `NSAUTH_KEY_CACHE_SECONDS`: a whole number of seconds, 0 to
/// [`MAX_KEY_CACHE_SECONDS`]; unset or blank is 0 (off).
fn parse_key_cache_seconds(value: Option<&str>) -> Result<u32, String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(0);
    };
    match v.parse::<u32>() {
        Ok(n) if n <= MAX_KEY_CACHE_SECONDS => Ok(n),
        _ => Err(format!(
            "NSAUTH_KEY_CACHE_SECONDS {v:?} must be a whole number of seconds, 0 to \
             {MAX_KEY_CACHE_SECONDS}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_key_cache_seconds as parse;

    #[test]
    fn key_cache_seconds() {
        assert_eq!(parse(None), Ok(0));
        assert_eq!(parse(Some("  ")), Ok(0));
        assert_eq!(parse(Some("0")), Ok(0));
        assert_eq!(parse(Some(" 15 ")), Ok(15));
        assert_eq!(parse(Some("60")), Ok(60));
        for bad in ["61", "-1", "1.5", "ten", "99999999999"] {
            let e = parse(Some(bad)).unwrap_err();
            assert!(e.contains("NSAUTH_KEY_CACHE_SECONDS"), "{bad}: {e}");
        }
    }
}
