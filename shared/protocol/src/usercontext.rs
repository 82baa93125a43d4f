//! UserContext: what the phone shows before the user decides (announceinfo) and later in
//! its session list (sessioninfo), with the size limits that keep items small.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const MAX_INFO_ENTRIES: usize = 20;
pub const MAX_INFO_KEY_CHARS: usize = 64;
pub const MAX_INFO_VALUE_CHARS: usize = 512;
pub const MAX_USERAGENT_CHARS: usize = 512;
/// base64 characters of a logo (about 12 KiB of image).
pub const MAX_LOGO_CHARS: usize = 16 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionInfo {
    pub info: BTreeMap<String, String>,
    pub ip: String,
    pub useragent: String,
    pub logo: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserContext {
    pub announceinfo: SessionInfo,
    pub sessioninfo: SessionInfo,
    /// Where the browser is, as far as the server can trust it: the `ip` the website itself
    /// put in announceinfo (else sessioninfo), never one the server filled in from the
    /// website backend's own request. The proximity check compares the phone with it.
    /// Stored with the session, never answered; [`UserContext::from_body`] sets it, so a
    /// value a body sends here is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browserip: Option<String>,
}

/// Where the request that created a session came from, to fill what the website left out.
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    pub ip: Option<String>,
    pub useragent: Option<String>,
}

fn text(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(())
}

impl SessionInfo {
    fn validate(&self, name: &str) -> Result<(), ApiError> {
        if self.info.len() > MAX_INFO_ENTRIES {
            return Err(ApiError::invalid_field(
                &format!("{name}.info"),
                format!("at most {MAX_INFO_ENTRIES} entries"),
            ));
        }
        for (k, v) in &self.info {
            if k.is_empty() {
                return Err(ApiError::invalid_field(
                    &format!("{name}.info"),
                    "empty key",
                ));
            }
            text(&format!("{name}.info key"), k, MAX_INFO_KEY_CHARS)?;
            text(&format!("{name}.info.{k}"), v, MAX_INFO_VALUE_CHARS)?;
        }
        if !self.ip.is_empty() && self.ip.parse::<IpAddr>().is_err() {
            return Err(ApiError::invalid_field(
                &format!("{name}.ip"),
                "must be an IPv4 or IPv6 address",
            ));
        }
        text(
            &format!("{name}.useragent"),
            &self.useragent,
            MAX_USERAGENT_CHARS,
        )?;
        if self.logo.len() > MAX_LOGO_CHARS {
            return Err(ApiError::invalid_field(
                &format!("{name}.logo"),
                format!("at most {MAX_LOGO_CHARS} characters of base64"),
            ));
        }
        if !self.logo.is_empty()
            && base64::engine::general_purpose::STANDARD
                .decode(&self.logo)
                .is_err()
        {
            return Err(ApiError::invalid_field(
                &format!("{name}.logo"),
                "must be standard base64 with padding",
            ));
        }
        Ok(())
    }

    fn fill_from(&mut self, origin: &RequestOrigin) {
        if self.ip.is_empty()
            && let Some(ip) = origin
                .ip
                .as_deref()
                .filter(|ip| ip.parse::<IpAddr>().is_ok())
        {
            self.ip = ip.to_string();
        }
        if self.useragent.is_empty()
            && let Some(ua) = &origin.useragent
        {
            // Truncate rather than refuse: the header is not the website's to fix.
            self.useragent = ua
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_USERAGENT_CHARS)
                .collect();
        }
    }
}

impl UserContext {
    /// Parses an optional JSON body; an empty body is an empty context.
    pub fn from_body(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(UserContext::default());
        }
        let invalid = |e: &dyn std::fmt::Display| {
            ApiError::bad_request(
                "invalid_json",
                format!("the body must be a UserContext JSON object: {e}"),
            )
        };
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| invalid(&e))?;
        // serde would also take an array for a struct; only an object is a UserContext.
        if !value.is_object() {
            return Err(invalid(&"not an object"));
        }
        // serde would fill a struct from an array by position too; only objects are meant.
        for part in ["announceinfo", "sessioninfo"] {
            match value.get(part) {
                None | Some(serde_json::Value::Object(_)) => {}
                Some(_) => return Err(ApiError::invalid_field(part, "must be a JSON object")),
            }
        }
        let mut ctx: UserContext = serde_json::from_value(value).map_err(|e| invalid(&e))?;
        ctx.validate()?;
        // Only here, before anything is filled in, is an ip the website's own.
        ctx.browserip = [&ctx.announceinfo.ip, &ctx.sessioninfo.ip]
            .into_iter()
            .find_map(|ip| ip.trim().parse::<IpAddr>().ok())
            .map(|ip| ip.to_string());
        Ok(ctx)
    }

    pub fn validate(&self) -> Result<(), ApiError> {
        self.announceinfo.validate("announceinfo")?;
        self.sessioninfo.validate("sessioninfo")
    }

    /// Fills ip and useragent the website did not send from the request (SPEC section 2).
    pub fn fill_from(&mut self, origin: &RequestOrigin) {
        self.announceinfo.fill_from(origin);
        self.sessioninfo.fill_from(origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_field(body: &str) -> String {
        UserContext::from_body(body.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_and_fills_missing_origin() {
        let mut c = UserContext::from_body(
            br#"{"announceinfo":{"info":{"action":"Log in"},"ip":"192.0.2.1"}}"#,
        )
        .unwrap();
        c.fill_from(&RequestOrigin {
            ip: Some("198.51.100.7".into()),
            useragent: Some("curl/8".into()),
        });
        assert_eq!(c.announceinfo.ip, "192.0.2.1", "the website's ip wins");
        assert_eq!(c.sessioninfo.ip, "198.51.100.7");
        assert_eq!(c.announceinfo.useragent, "curl/8");
        assert_eq!(c.announceinfo.info["action"], "Log in");
        // The browser's address is the one the website gave, never the filled one.
        assert_eq!(c.browserip.as_deref(), Some("192.0.2.1"));
        let mut filled = UserContext::from_body(br#"{"browserip":"203.0.113.9"}"#).unwrap();
        filled.fill_from(&RequestOrigin {
            ip: Some("198.51.100.7".into()),
            useragent: None,
        });
        assert_eq!(filled.announceinfo.ip, "198.51.100.7");
        assert_eq!(filled.browserip, None, "a body's browserip is not taken");
        assert!(
            !serde_json::to_string(&UserContext::default())
                .unwrap()
                .contains("browserip")
        );
    }

    #[test]
    fn empty_body_is_empty_context() {
        assert_eq!(UserContext::from_body(b"").unwrap(), UserContext::default());
        assert_eq!(
            UserContext::from_body(b" \n").unwrap(),
            UserContext::default()
        );
    }

    #[test]
    fn refuses_bad_contexts_naming_the_field() {
        assert!(err_field("[1,2]").contains("UserContext"));
        assert!(err_field("[]").contains("UserContext"));
        assert!(err_field("null").contains("UserContext"));
        assert!(
            err_field(r#"{"announceinfo":[{"action":"x"},"1.2.3.4"]}"#)
                .contains("announceinfo: must be a JSON object")
        );
        assert!(err_field(r#"{"sessioninfo":[]}"#).contains("sessioninfo"));
        assert!(err_field("{").contains("UserContext"));
        assert!(err_field(r#"{"announceinfo":{"ip":"not-an-ip"}}"#).contains("announceinfo.ip"));
        let long = "x".repeat(MAX_INFO_VALUE_CHARS + 1);
        assert!(
            err_field(&format!(r#"{{"sessioninfo":{{"info":{{"k":"{long}"}}}}}}"#))
                .contains("sessioninfo.info.k")
        );
        let many: Vec<String> = (0..=MAX_INFO_ENTRIES)
            .map(|i| format!(r#""k{i}":"v""#))
            .collect();
        assert!(
            err_field(&format!(
                r#"{{"announceinfo":{{"info":{{{}}}}}}}"#,
                many.join(",")
            ))
            .contains("at most 20")
        );
        assert!(err_field(r#"{"announceinfo":{"logo":"%%%"}}"#).contains("announceinfo.logo"));
        assert!(err_field(r#"{"announceinfo":{"useragent":"a\u0000b"}}"#).contains("control"));
        assert!(err_field(r#"{"announceinfo":{"info":"text"}}"#).contains("UserContext"));
    }
}
