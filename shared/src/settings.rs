//! Per-server settings (SPEC section 7) with their defaults and bounds.

use serde::{Deserialize, Serialize};

use crate::links;

/// The longest rate window (`push_window`, `login_window`): a day.
pub const MAX_WINDOW: u32 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberMatch {
    Off,
    #[default]
    Push,
    Always,
}

pub use nsauth_protocol::wire::UserVerification;

/// Setting `proximity`: what the server does when the phone that approves a QR or
/// app-to-app login is on another network than the browser (docs/security.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProximityPolicy {
    /// No verdict is given.
    Off,
    /// The phone shows the verdict and warns before approve.
    #[default]
    Warn,
    /// An approval from another network is refused (pushes are exempt: the phone is
    /// expected to be elsewhere).
    Require,
}

/// Setting `qr_rotation`: whether login QR codes change every second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrRotation {
    /// Static login links, as v2.2.
    Off,
    /// An attempt whose HTML block was rendered takes only the block's rotating codes; a
    /// website that draws getQrLogin itself keeps the static link.
    #[default]
    Block,
    /// Every attempt takes only rotating codes; getQrLogin serves the current one.
    Always,
}

/// Setting `push_delivery`: how login requests reach the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushDelivery {
    /// Through SNS mobile push only (SPEC section 6; the default: a website is told an
    /// account was reached only when its push went out).
    #[default]
    Sns,
    /// Through SNS, and the phone may also fetch its pending requests (an account without
    /// a working endpoint is reached by fetching alone).
    SnsAndPull,
    /// Only fetched by the phone: nothing goes through SNS.
    Pull,
}

/// Setting `login_notify`: whether a login also tells the user's other devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginNotify {
    #[default]
    Off,
    /// A notice push to the user's other unblocked devices (at most one per device per
    /// `push_window`).
    Push,
    /// The same notice, only when the browser is on a network the user has not logged in
    /// from in the last 90 days (the first network known of a user is learnt silently).
    #[serde(rename = "new_network")]
    NewNetwork,
}

fn choice<T: Copy>(name: &str, value: &str, options: &[(&str, T)]) -> Result<T, String> {
    let v = value.trim();
    options
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            format!("{name} must be {}, got {v:?}", names.join(", "))
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    pub name: String,
    /// base64 (standard, padded) image, shown by the phone; empty for none.
    pub logo: String,
    pub link_base: String,
    pub return_urls: Vec<String>,
    pub login_timeout: u32,
    pub session_lifetime: u32,
    pub remember_seconds: u32,
    pub push_limit: u32,
    pub push_window: u32,
    pub fraud_block_after: u32,
    pub number_match: NumberMatch,
    /// Logins (approvals and in-app logins) per account per `login_window`: each adds a
    /// session to the account, and an account's sessions are what blocking or removing it
    /// must reach.
    pub login_limit: u32,
    pub login_window: u32,
    /// The v2.2 Server's app fields (`appname`, `appandroid`, `appios`, `siteurl`): shown by
    /// the enrolment page; empty for none.
    pub app_name: String,
    pub app_android: String,
    pub app_ios: String,
    pub site_url: String,
    /// v2.2's `pinTimeout`, `pinTransTimeout` (minutes; -1 never, 0 every time) and
    /// `pingTime` (seconds), kept and answered for v2.2 clients; the phone's verification
    /// policy does not read them (docs/migrating-from-nextauth.md).
    pub pin_timeout: i32,
    pub pin_trans_timeout: i32,
    pub ping_time: u32,
    /// v2.2's `serverFlags`, kept and answered as given.
    pub server_flags: Vec<String>,
    /// Login safety (docs/security.md, "Relayed logins").
    pub user_verification: UserVerification,
    pub proximity: ProximityPolicy,
    pub qr_rotation: QrRotation,
    pub push_delivery: PushDelivery,
    pub login_notify: LoginNotify,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            name: String::new(),
            logo: String::new(),
            link_base: links::DEFAULT_LINK_BASE.to_string(),
            return_urls: Vec::new(),
            login_timeout: 300,
            session_lifetime: 43_200,
            remember_seconds: 30 * 86_400,
            push_limit: 5,
            push_window: 600,
            fraud_block_after: 3,
            number_match: NumberMatch::Push,
            login_limit: 30,
            login_window: 600,
            app_name: String::new(),
            app_android: String::new(),
            app_ios: String::new(),
            site_url: String::new(),
            pin_timeout: -1,
            pin_trans_timeout: 0,
            ping_time: 0,
            server_flags: Vec::new(),
            user_verification: UserVerification::Preferred,
            proximity: ProximityPolicy::Warn,
            qr_rotation: QrRotation::Block,
            push_delivery: PushDelivery::Sns,
            login_notify: LoginNotify::Off,
        }
    }
}

pub const MAX_NAME_LEN: usize = 100;
/// A logo is shown small on a phone; 16 KiB of base64 is plenty and keeps items small.
pub const MAX_LOGO_B64_LEN: usize = 16 * 1024;
pub const MAX_RETURN_URLS: usize = 20;
pub const MAX_URL_LEN: usize = 512;
pub const MAX_SERVER_FLAGS: usize = 20;
pub const MAX_FLAG_LEN: usize = 32;
/// The longest PIN timeout: a year, in minutes.
pub const MAX_PIN_TIMEOUT: i32 = 525_600;

/// The names `set` accepts, in the order `show` prints them.
pub const SETTING_NAMES: [&str; 26] = [
    "name",
    "logo",
    "link_base",
    "return_urls",
    "login_timeout",
    "session_lifetime",
    "remember_seconds",
    "push_limit",
    "push_window",
    "fraud_block_after",
    "number_match",
    "login_limit",
    "login_window",
    "app_name",
    "app_android",
    "app_ios",
    "site_url",
    "pin_timeout",
    "pin_trans_timeout",
    "ping_time",
    "server_flags",
    "user_verification",
    "proximity",
    "qr_rotation",
    "push_delivery",
    "login_notify",
];

fn bounded(name: &str, value: &str, min: u32, max: u32) -> Result<u32, String> {
    let n: u32 = value
        .trim()
        .parse()
        .map_err(|_| format!("{name} must be a whole number, got {value:?}"))?;
    if n < min || n > max {
        return Err(format!("{name} must be between {min} and {max}, got {n}"));
    }
    Ok(n)
}

fn pin_minutes(name: &str, value: &str) -> Result<i32, String> {
    let n: i32 = value
        .trim()
        .parse()
        .map_err(|_| format!("{name} must be a whole number, got {value:?}"))?;
    if !(-1..=MAX_PIN_TIMEOUT).contains(&n) {
        return Err(format!(
            "{name} must be between -1 and {MAX_PIN_TIMEOUT} minutes, got {n}"
        ));
    }
    Ok(n)
}

/// An https URL, or empty for none.
fn optional_url(name: &str, value: &str) -> Result<String, String> {
    let v = value.trim();
    if !v.is_empty() {
        https_url(name, v)?;
    }
    Ok(v.to_string())
}

fn https_url(name: &str, u: &str) -> Result<(), String> {
    let rest = u
        .strip_prefix("https://")
        .ok_or_else(|| format!("{name}: {u:?} must start with https://"))?;
    if u.len() > MAX_URL_LEN || rest.is_empty() || rest.starts_with('/') {
        return Err(format!(
            "{name}: {u:?} must be an https URL with a host, at most {MAX_URL_LEN} characters"
        ));
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{name}: {u:?} must not contain spaces"));
    }
    Ok(())
}

impl ServerSettings {
    pub fn named(name: &str) -> Result<Self, String> {
        let mut s = ServerSettings::default();
        s.set("name", name)?;
        Ok(s)
    }

    /// Changes one setting from its text form, validating it; the admin tool's `set`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "name" => {
                let v = value.trim();
                if v.is_empty() || v.chars().count() > MAX_NAME_LEN {
                    return Err(format!("name must be 1 to {MAX_NAME_LEN} characters"));
                }
                if v.chars().any(char::is_control) {
                    return Err("name must not contain control characters".into());
                }
                self.name = v.to_string();
            }
            "app_name" => {
                let v = value.trim();
                if v.chars().count() > MAX_NAME_LEN || v.chars().any(char::is_control) {
                    return Err(format!(
                        "app_name must be at most {MAX_NAME_LEN} characters, without control characters"
                    ));
                }
                self.app_name = v.to_string();
            }
            "app_android" => self.app_android = optional_url(key, value)?,
            "app_ios" => self.app_ios = optional_url(key, value)?,
            "site_url" => self.site_url = optional_url(key, value)?,
            "pin_timeout" => self.pin_timeout = pin_minutes(key, value)?,
            "pin_trans_timeout" => self.pin_trans_timeout = pin_minutes(key, value)?,
            "ping_time" => self.ping_time = bounded(key, value, 0, MAX_WINDOW)?,
            "server_flags" => {
                let flags: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(String::from)
                    .collect();
                if flags.len() > MAX_SERVER_FLAGS {
                    return Err(format!(
                        "server_flags holds at most {MAX_SERVER_FLAGS} flags"
                    ));
                }
                if let Some(f) = flags.iter().find(|f| {
                    f.len() > MAX_FLAG_LEN
                        || !f
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(&c))
                }) {
                    return Err(format!(
                        "server_flags: {f:?} must be 1 to {MAX_FLAG_LEN} of A-Z a-z 0-9 _ - ."
                    ));
                }
                self.server_flags = flags;
            }
            "logo" => {
                use base64::Engine;
                let v = value.trim();
                if v.len() > MAX_LOGO_B64_LEN {
                    return Err(format!(
                        "logo must be at most {MAX_LOGO_B64_LEN} characters of base64"
                    ));
                }
                if !v.is_empty() && base64::engine::general_purpose::STANDARD.decode(v).is_err() {
                    return Err("logo must be standard base64 with padding".into());
                }
                self.logo = v.to_string();
            }
            "link_base" => {
                links::validate_link_base(value.trim())?;
                self.link_base = value.trim().to_string();
            }
            "return_urls" => {
                let urls: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(String::from)
                    .collect();
                if urls.len() > MAX_RETURN_URLS {
                    return Err(format!("return_urls holds at most {MAX_RETURN_URLS} URLs"));
                }
                for u in &urls {
                    https_url("return_urls", u)?;
                }
                self.return_urls = urls;
            }
            "login_timeout" => self.login_timeout = bounded(key, value, 30, 3_600)?,
            "session_lifetime" => self.session_lifetime = bounded(key, value, 60, 30 * 86_400)?,
            "remember_seconds" => {
                self.remember_seconds = bounded(key, value, 86_400, 400 * 86_400)?
            }
            "push_limit" => self.push_limit = bounded(key, value, 1, 100)?,
            "push_window" => self.push_window = bounded(key, value, 60, MAX_WINDOW)?,
            "fraud_block_after" => self.fraud_block_after = bounded(key, value, 1, 100)?,
            "login_limit" => self.login_limit = bounded(key, value, 1, 10_000)?,
            "login_window" => self.login_window = bounded(key, value, 60, MAX_WINDOW)?,
            "number_match" => {
                self.number_match = match value.trim() {
                    "off" => NumberMatch::Off,
                    "push" => NumberMatch::Push,
                    "always" => NumberMatch::Always,
                    other => {
                        return Err(format!(
                            "number_match must be off, push or always, got {other:?}"
                        ));
                    }
                }
            }
            "user_verification" => {
                self.user_verification = choice(
                    key,
                    value,
                    &[
                        ("discouraged", UserVerification::Discouraged),
                        ("preferred", UserVerification::Preferred),
                        ("required", UserVerification::Required),
                    ],
                )?
            }
            "proximity" => {
                self.proximity = choice(
                    key,
                    value,
                    &[
                        ("off", ProximityPolicy::Off),
                        ("warn", ProximityPolicy::Warn),
                        ("require", ProximityPolicy::Require),
                    ],
                )?
            }
            "qr_rotation" => {
                self.qr_rotation = choice(
                    key,
                    value,
                    &[
                        ("off", QrRotation::Off),
                        ("block", QrRotation::Block),
                        ("always", QrRotation::Always),
                    ],
                )?
            }
            "push_delivery" => {
                self.push_delivery = choice(
                    key,
                    value,
                    &[
                        ("sns", PushDelivery::Sns),
                        ("sns_and_pull", PushDelivery::SnsAndPull),
                        ("pull", PushDelivery::Pull),
                    ],
                )?
            }
            "login_notify" => {
                self.login_notify = choice(
                    key,
                    value,
                    &[
                        ("off", LoginNotify::Off),
                        ("push", LoginNotify::Push),
                        ("new_network", LoginNotify::NewNetwork),
                    ],
                )?
            }
            other => {
                return Err(format!(
                    "unknown setting {other:?}; settings are: {}",
                    SETTING_NAMES.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let s = ServerSettings::default();
        assert_eq!(s.link_base, "nsauth://");
        assert_eq!(
            (s.login_timeout, s.session_lifetime, s.remember_seconds),
            (300, 43_200, 2_592_000)
        );
        assert_eq!(
            (s.push_limit, s.push_window, s.fraud_block_after),
            (5, 600, 3)
        );
        assert_eq!(s.number_match, NumberMatch::Push);
        assert_eq!((s.login_limit, s.login_window), (30, 600));
        assert_eq!(s.user_verification, UserVerification::Preferred);
        assert_eq!(s.proximity, ProximityPolicy::Warn);
        assert_eq!(s.qr_rotation, QrRotation::Block);
        assert_eq!(s.push_delivery, PushDelivery::Sns);
    }

    #[test]
    fn set_validates_each_setting() {
        let mut s = ServerSettings::named("Acme").unwrap();
        s.set("login_timeout", "120").unwrap();
        assert_eq!(s.login_timeout, 120);
        assert!(s.set("login_timeout", "5").unwrap_err().contains("between"));
        assert!(
            s.set("login_timeout", "abc")
                .unwrap_err()
                .contains("whole number")
        );
        assert_eq!(s.login_timeout, 120, "a refused value leaves the old one");
        s.set("user_verification", "required").unwrap();
        assert_eq!(s.user_verification, UserVerification::Required);
        assert!(
            s.set("user_verification", "maybe")
                .unwrap_err()
                .contains("discouraged, preferred, required")
        );
        s.set("proximity", " require ").unwrap();
        assert_eq!(s.proximity, ProximityPolicy::Require);
        s.set("qr_rotation", "off").unwrap();
        assert_eq!(s.qr_rotation, QrRotation::Off);
        s.set("push_delivery", "pull").unwrap();
        assert_eq!(s.push_delivery, PushDelivery::Pull);
        assert!(s.set("push_delivery", "carrier pigeon").is_err());
        assert_eq!(ServerSettings::default().login_notify, LoginNotify::Off);
        s.set("login_notify", "push").unwrap();
        assert_eq!(s.login_notify, LoginNotify::Push);
        s.set("login_notify", "new_network").unwrap();
        assert_eq!(s.login_notify, LoginNotify::NewNetwork);
        assert!(s.set("login_notify", "email").is_err());
        s.set("number_match", "always").unwrap();
        assert_eq!(s.number_match, NumberMatch::Always);
        assert!(s.set("number_match", "sometimes").is_err());
        s.set("return_urls", "https://a.example/cb, https://b.example/")
            .unwrap();
        assert_eq!(s.return_urls.len(), 2);
        assert!(s.set("return_urls", "http://a.example/").is_err());
        assert!(s.set("link_base", "https://login.example/app/").is_ok());
        assert!(s.set("link_base", "javascript:alert(1)//").is_err());
        assert!(
            s.set("colour", "red")
                .unwrap_err()
                .contains("unknown setting")
        );
        assert!(s.set("name", "").is_err());
        assert!(s.set("logo", "not base64!").is_err());
        s.set("pin_timeout", "-1").unwrap();
        assert!(s.set("pin_timeout", "-2").is_err());
        s.set("pin_trans_timeout", "15").unwrap();
        assert_eq!((s.pin_timeout, s.pin_trans_timeout), (-1, 15));
        s.set("server_flags", "beta, no-push").unwrap();
        assert_eq!(s.server_flags, ["beta", "no-push"]);
        assert!(s.set("server_flags", "a b").is_err());
        s.set("site_url", "https://acme.example/").unwrap();
        assert!(s.set("app_ios", "ftp://x").is_err());
        s.set("app_ios", "").unwrap();
        assert!(s.set("app_name", "bad\u{7}").is_err());
    }

    #[test]
    fn settings_round_trip_json_with_missing_fields_defaulted() {
        let s: ServerSettings = serde_json::from_str(r#"{"name":"Acme"}"#).unwrap();
        assert_eq!(s.name, "Acme");
        assert_eq!(s.login_timeout, 300);
    }
}
