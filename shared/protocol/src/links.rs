//! Login and enrolment links (SPEC section 5.4).

use crate::ids::{Hsid, ServerId, b64std};

pub const DEFAULT_LINK_BASE: &str = "nsauth://";

/// `link_base` is `scheme://` for an app's own scheme, or an `https://host/path/` prefix
/// for universal links; either way it ends so that `login/...` can follow.
pub fn validate_link_base(v: &str) -> Result<(), String> {
    if v.len() > 200 {
        return Err("link_base must be at most 200 characters".into());
    }
    if let Some(rest) = v.strip_prefix("https://") {
        let host_ok = !rest.is_empty() && !rest.starts_with('/');
        let chars_ok = rest
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~/:%".contains(&c));
        if host_ok && chars_ok && v.ends_with('/') {
            return Ok(());
        }
        return Err(format!(
            "link_base {v:?}: an https link base needs a host and must end with '/'"
        ));
    }
    let scheme = v.strip_suffix("://").unwrap_or("");
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+.-".contains(&c));
    let forbidden = ["javascript", "data", "vbscript", "file", "http", "https"];
    if scheme_ok && !forbidden.contains(&scheme) {
        Ok(())
    } else {
        Err(format!(
            "link_base {v:?} must be an app scheme like nsauth:// or an https:// prefix ending in '/'"
        ))
    }
}

pub fn login_link(link_base: &str, server: &ServerId, hsid: &Hsid) -> String {
    format!("{link_base}login/{server}/{hsid}")
}

/// A transaction's link (QR code or app-to-app): `{link_base}tx/{serverid}/{tid}`.
pub fn transaction_link(link_base: &str, server: &ServerId, tid: &str) -> String {
    format!("{link_base}tx/{server}/{tid}")
}

/// `loginqrdata`: base64 of the login link's bytes.
/// Whether `t` has the shape of a rotating QR code's time step: unix seconds, digits only.
/// (Whether the code is valid is the server's to say.)
pub fn is_code_step(t: &str) -> bool {
    !t.is_empty() && t.len() <= 20 && t.bytes().all(|c| c.is_ascii_digit())
}

/// Whether `m` has the shape of a rotating QR code's MAC: 16 bytes, 22 base64url
/// characters.
pub fn is_code_mac(m: &str) -> bool {
    crate::enrol::valid_token_shape(m)
}

pub fn login_qr_data(link: &str) -> String {
    b64std(link.as_bytes())
}

/// Whether an app-to-app `return` URL may be followed (or put into a link): equal to an
/// entry of the website's `return_urls` allow-list, or under an entry that ends in `/`.
/// A link is anyone's to make; the allow-list is the website's word.
pub fn return_allowed(url: &str, return_urls: &[String]) -> bool {
    return_urls
        .iter()
        .any(|u| url == u || (u.ends_with('/') && url.starts_with(u.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotating_code_shapes() {
        assert!(is_code_step("1800000000"));
        for bad in ["", "-1", "18e8", "1800000000.5", "123456789012345678901"] {
            assert!(!is_code_step(bad), "{bad:?}");
        }
        assert!(is_code_mac("YPftQoZwsP9XA9fzFqQi_g"));
        for bad in [
            "",
            "YPftQoZwsP9XA9fzFqQi_",
            "YPftQoZwsP9XA9fzFqQi/g",
            "YPftQoZwsP9XA9fzFqQi_g=",
        ] {
            assert!(!is_code_mac(bad), "{bad:?}");
        }
    }

    #[test]
    fn returns_only_to_allowed_urls() {
        let list = vec![
            "https://shop.example/".to_string(),
            "https://exact.example/cb".to_string(),
        ];
        assert!(return_allowed("https://shop.example/cart?x=1", &list));
        assert!(return_allowed("https://exact.example/cb", &list));
        for bad in [
            "https://exact.example/cb2",
            "https://evil.example/",
            "https://shop.example.evil/",
            "https://shop.example",
        ] {
            assert!(!return_allowed(bad, &list), "{bad}");
        }
        assert!(
            !return_allowed("https://shop.example/", &[]),
            "no list, no return"
        );
    }

    #[test]
    fn link_bases() {
        for ok in [
            "nsauth://",
            "acme-login://",
            "https://login.example.com/",
            "https://a.example/x/y/",
        ] {
            assert!(validate_link_base(ok).is_ok(), "{ok}");
        }
        for bad in [
            "nsauth:/",
            "javascript://",
            "http://x.example/",
            "https://",
            "https://x.example",
            "https:///path/",
            "https://x.example/<script>/",
            "Nsauth://",
            "",
        ] {
            assert!(validate_link_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_link_and_qr_data() {
        let s = ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let h = Hsid::parse("5KvIv6Y0y8IgLQULP8ZR_Q").unwrap();
        let link = login_link("nsauth://", &s, &h);
        assert_eq!(
            link,
            "nsauth://login/AAECAwQFBgcICQoLDA0ODw/5KvIv6Y0y8IgLQULP8ZR_Q"
        );
        use base64::Engine;
        let back = base64::engine::general_purpose::STANDARD
            .decode(login_qr_data(&link))
            .unwrap();
        assert_eq!(back, link.as_bytes());
    }
}
