//! Login, enrolment and transaction links (docs/phone-protocol.md, "Links").
//!
//! - login: `{link_base}login/{serverid}/{hsid}[?return=<url-encoded URL>]`
//! - enrolment: `{link_base}enrol/{serverid}/{token}?api=<url-encoded API base URL>`
//! - transaction: `{link_base}tx/{serverid}/{tid}` (a transaction to confirm)
//!
//! `link_base` is any prefix (`nsauth://`, `acme://`, `https://host/path/`), so the link's kind
//! is the last `login`, `enrol` or `tx` path segment, followed by exactly two segments.

use nsauth_protocol::enrol::valid_token_shape;
use nsauth_protocol::ids::{Hsid, ServerId};
use nsauth_protocol::links;
use nsauth_protocol::transaction::TransactionId;
use percent_encoding::percent_decode_str;

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Login(LoginLink),
    Enrol(EnrolLink),
    Transaction(TransactionLink),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLink {
    /// Everything before `login/`.
    pub link_base: String,
    pub serverid: ServerId,
    pub hsid: Hsid,
    /// App-to-app login: where to go back to after the decision (decoded).
    pub return_url: Option<String>,
    /// A rotating code's time step and MAC (`t` and `m`), passed on to the show call.
    pub code: Option<(String, String)>,
}

impl LoginLink {
    /// The path (and query) of the show call for this link.
    pub fn show_path(&self) -> String {
        match &self.code {
            Some((t, m)) => format!("app/v1/sessions/{}?t={t}&m={m}", self.hsid),
            None => format!("app/v1/sessions/{}", self.hsid),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolLink {
    /// Everything before `enrol/`.
    pub link_base: String,
    pub serverid: ServerId,
    pub token: String,
    /// The API base URL (decoded), ending in `/`.
    pub api: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLink {
    /// Everything before `tx/`.
    pub link_base: String,
    pub serverid: ServerId,
    pub tid: TransactionId,
}

fn bad(message: impl Into<String>) -> Error {
    Error::BadLink(message.into())
}

/// Parses a login, an enrolment or a transaction link.
pub fn parse_link(link: &str) -> Result<Link, Error> {
    let link = link.trim();
    // A fragment is never part of an nsauth link; ignore one a scanner may have kept.
    let link = link.split_once('#').map_or(link, |(l, _)| l);
    let (path, query) = match link.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (link, None),
    };

    // Byte offsets of every path segment, to find the last `login` or `enrol` one.
    let mut segments = Vec::new();
    let mut start = 0;
    for seg in path.split('/') {
        segments.push((start, seg));
        start += seg.len() + 1;
    }
    let Some(i) = segments
        .iter()
        .rposition(|(_, s)| matches!(*s, "login" | "enrol" | "tx"))
    else {
        return Err(bad(format!(
            "{link:?} is not an nsauth link: expected ...login/<serverid>/<hsid>, \
             ...enrol/<serverid>/<token>?api=<API base> or ...tx/<serverid>/<tid>"
        )));
    };
    let (offset, kind) = segments[i];
    let rest: Vec<&str> = segments[i + 1..].iter().map(|(_, s)| *s).collect();
    let what = match kind {
        "login" => "hsid",
        "tx" => "tid",
        _ => "token",
    };
    let [serverid, id] = rest[..] else {
        return Err(bad(format!(
            "{kind} link {link:?}: expected {kind}/<serverid>/<{what}> at the end of the path"
        )));
    };
    let link_base = path[..offset].to_string();
    let serverid = ServerId::parse(serverid).ok_or_else(|| {
        bad(format!(
            "{kind} link: the server id {serverid:?} is not 22 base64url characters"
        ))
    })?;
    let params = parse_query(query.unwrap_or(""))?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };

    if kind == "tx" {
        let tid = TransactionId::parse(id).ok_or_else(|| {
            bad(format!(
                "transaction link: the tid {id:?} is not 43 base64url characters"
            ))
        })?;
        return Ok(Link::Transaction(TransactionLink {
            link_base,
            serverid,
            tid,
        }));
    }

    if kind == "login" {
        let hsid = Hsid::parse(id).ok_or_else(|| {
            bad(format!(
                "login link: the hsid {id:?} is not 22 base64url characters"
            ))
        })?;
        let return_url = param("return");
        if return_url.as_deref() == Some("") {
            return Err(bad("login link: return= is empty"));
        }
        let code = match (param("t"), param("m")) {
            (None, None) => None,
            (Some(t), Some(m)) if links::is_code_step(&t) && links::is_code_mac(&m) => Some((t, m)),
            _ => {
                return Err(bad(
                    "login link: t= (a time step) and m= (22 base64url characters) go together",
                ));
            }
        };
        return Ok(Link::Login(LoginLink {
            link_base,
            serverid,
            hsid,
            return_url,
            code,
        }));
    }

    if !valid_token_shape(id) {
        return Err(bad(format!(
            "enrolment link: the token {id:?} is not 22 base64url characters"
        )));
    }
    let api = param("api")
        .ok_or_else(|| bad("enrolment link: api= (the URL-encoded API base URL) is missing"))?;
    validate_api_base(&api).map_err(|m| bad(format!("enrolment link: {m}")))?;
    Ok(Link::Enrol(EnrolLink {
        link_base,
        serverid,
        token: id.to_string(),
        api,
    }))
}

const TRANSACTION_LINK: &str =
    "this is a transaction link: use tx-show, tx-approve or tx-decline with it";

pub fn parse_login_link(link: &str) -> Result<LoginLink, Error> {
    match parse_link(link)? {
        Link::Login(l) => Ok(l),
        Link::Enrol(_) => Err(bad(
            "this is an enrolment link, not a login link: use enrol with it",
        )),
        Link::Transaction(_) => Err(bad(TRANSACTION_LINK)),
    }
}

pub fn parse_enrol_link(link: &str) -> Result<EnrolLink, Error> {
    match parse_link(link)? {
        Link::Enrol(l) => Ok(l),
        Link::Login(_) => Err(bad(
            "this is a login link, not an enrolment link: use show, approve or deny with it",
        )),
        Link::Transaction(_) => Err(bad(TRANSACTION_LINK)),
    }
}

pub fn parse_transaction_link(link: &str) -> Result<TransactionLink, Error> {
    match parse_link(link)? {
        Link::Transaction(l) => Ok(l),
        Link::Login(_) => Err(bad(
            "this is a login link, not a transaction link: use show, approve or deny with it",
        )),
        Link::Enrol(_) => Err(bad(
            "this is an enrolment link, not a transaction link: use enrol with it",
        )),
    }
}

/// `http://` or `https://`, a host, ending in `/`, no query or fragment.
pub fn validate_api_base(api: &str) -> Result<(), String> {
    let rest = api
        .strip_prefix("https://")
        .or_else(|| api.strip_prefix("http://"))
        .ok_or_else(|| format!("the API base {api:?} must be an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("the API base {api:?} has no host"));
    }
    if !api.ends_with('/') {
        return Err(format!("the API base {api:?} must end with '/'"));
    }
    if api.contains(['?', '#']) || api.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the API base {api:?} must not hold a query, a fragment or spaces"
        ));
    }
    Ok(())
}

/// `k=v&k=v` with percent-decoded values; a name given twice is refused.
fn parse_query(query: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad(format!("link query {part:?} is not URL-encoded UTF-8")))
        };
        let (k, v) = (decode(k)?, decode(v)?);
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(bad(format!("link query parameter {k} is given twice")));
        }
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "AAECAwQFBgcICQoLDA0ODw";
    const H: &str = "5KvIv6Y0y8IgLQULP8ZR_Q";
    const T: &str = "q-_0123456789abcdefABC";

    #[test]
    fn login_links() {
        let l = parse_login_link(&format!("nsauth://login/{S}/{H}")).unwrap();
        assert_eq!(l.link_base, "nsauth://");
        assert_eq!(l.serverid.as_str(), S);
        assert_eq!(l.hsid.as_str(), H);
        assert_eq!(l.return_url, None);

        let l = parse_login_link(&format!(
            "  https://login.example.com/a/login/x/login/{S}/{H}?return=https%3A%2F%2Fshop.example%2Fback%3Fa%3D1&other=x \n"
        ))
        .unwrap();
        assert_eq!(l.link_base, "https://login.example.com/a/login/x/");
        assert_eq!(
            l.return_url.as_deref(),
            Some("https://shop.example/back?a=1")
        );

        // An enrol segment in the base does not confuse the kind.
        let l = parse_login_link(&format!("https://h.example/enrol/login/{S}/{H}")).unwrap();
        assert_eq!(l.link_base, "https://h.example/enrol/");
        let l = parse_login_link(&format!("acme-login://login/{S}/{H}#frag")).unwrap();
        assert_eq!(l.hsid.as_str(), H);
        assert_eq!(l.show_path(), format!("app/v1/sessions/{H}"));
    }

    #[test]
    fn rotating_login_links() {
        let m = "YPftQoZwsP9XA9fzFqQi_g";
        let l = parse_login_link(&format!(
            "nsauth://login/{S}/{H}?t=1800000000&m={m}&return=https%3A%2F%2Fshop.example%2F"
        ))
        .unwrap();
        assert_eq!(l.code, Some(("1800000000".into(), m.into())));
        assert_eq!(l.return_url.as_deref(), Some("https://shop.example/"));
        assert_eq!(
            l.show_path(),
            format!("app/v1/sessions/{H}?t=1800000000&m={m}")
        );
        for bad in [
            "?t=1800000000".to_string(),
            format!("?m={m}"),
            format!("?t=18x&m={m}"),
            "?t=1&m=short".to_string(),
            format!("?t=1&m={m}%26x=1"),
        ] {
            let e = parse_login_link(&format!("nsauth://login/{S}/{H}{bad}")).unwrap_err();
            assert!(e.to_string().contains("go together"), "{bad}: {e}");
        }
    }

    #[test]
    fn enrol_links() {
        let t = T;
        let link = nsauth_protocol::enrol::enrol_link(
            "nsauth://",
            &ServerId::parse(S).unwrap(),
            t,
            "http://127.0.0.1:8080/",
        );
        let e = parse_enrol_link(&link).unwrap();
        assert_eq!(e.link_base, "nsauth://");
        assert_eq!(e.serverid.as_str(), S);
        assert_eq!(e.token, t);
        assert_eq!(e.api, "http://127.0.0.1:8080/");

        let e = parse_enrol_link(&format!(
            "https://x.example/p/enrol/{S}/{t}?api=https://abc.execute-api.eu-west-1.amazonaws.com/"
        ))
        .unwrap();
        assert_eq!(e.api, "https://abc.execute-api.eu-west-1.amazonaws.com/");
        assert!(matches!(
            parse_link(&format!("nsauth://enrol/{S}/{t}?api=http%3A%2F%2Fh%2F")).unwrap(),
            Link::Enrol(_)
        ));
    }

    const TID: &str = "5KvIv6Y0y8IgLQULP8ZR_QABAgMEBQYHCAkKCwwNDg8";

    #[test]
    fn transaction_links() {
        assert_eq!(TID.len(), 43);
        let link = nsauth_protocol::links::transaction_link(
            "nsauth://",
            &ServerId::parse(S).unwrap(),
            TID,
        );
        let t = parse_transaction_link(&link).unwrap();
        assert_eq!(t.link_base, "nsauth://");
        assert_eq!(t.serverid.as_str(), S);
        assert_eq!(t.tid.as_str(), TID);
        assert_eq!(t.tid.hsid().as_str(), H, "the tid carries its session");
        // Any link base; a tx segment in the base does not confuse the kind.
        let t = parse_transaction_link(&format!("https://h.example/tx/p/tx/{S}/{TID}#x")).unwrap();
        assert_eq!(t.link_base, "https://h.example/tx/p/");
        let l = parse_login_link(&format!("https://h.example/tx/login/{S}/{H}")).unwrap();
        assert_eq!(l.link_base, "https://h.example/tx/");
        assert!(matches!(parse_link(&link).unwrap(), Link::Transaction(_)));
        // The right link for the wrong call.
        for e in [
            parse_login_link(&link).unwrap_err(),
            parse_enrol_link(&link).unwrap_err(),
        ] {
            assert!(e.to_string().contains("transaction link"), "{e}");
        }
        let e = parse_transaction_link(&format!("nsauth://login/{S}/{H}")).unwrap_err();
        assert!(e.to_string().contains("login link"), "{e}");
    }

    #[test]
    fn bad_links() {
        let t = T;
        let api = "api=http%3A%2F%2F127.0.0.1%3A8080%2F";
        for (link, expect) in [
            (String::new(), "not an nsauth link"),
            (format!("nsauth://{S}/{H}"), "not an nsauth link"),
            (format!("nsauth://logon/{S}/{H}"), "not an nsauth link"),
            (
                format!("nsauth://login/{S}"),
                "expected login/<serverid>/<hsid>",
            ),
            (
                format!("nsauth://login/{S}/{H}/"),
                "expected login/<serverid>/<hsid>",
            ),
            (
                format!("nsauth://login/{S}/{H}/x"),
                "expected login/<serverid>/<hsid>",
            ),
            (format!("nsauth://login/{}/{H}", &S[1..]), "server id"),
            (format!("nsauth://login/{S}x/{H}"), "server id"),
            (format!("nsauth://login/{}!/{H}", &S[1..]), "server id"),
            (format!("nsauth://login/{S}/{}", &H[1..]), "hsid"),
            (format!("nsauth://login/{S}/{}=", &H[1..]), "hsid"),
            (
                format!("nsauth://login/{S}/{H}?return="),
                "return= is empty",
            ),
            (
                format!("nsauth://login/{S}/{H}?return=a&return=b"),
                "given twice",
            ),
            (format!("nsauth://login/{S}/{H}?return=%FF"), "UTF-8"),
            (format!("nsauth://enrol/{S}/{t}"), "api="),
            (
                format!("nsauth://enrol/{S}/{t}?api="),
                "http:// or https://",
            ),
            (format!("nsauth://enrol/{S}/short?{api}"), "token"),
            (
                format!("nsauth://enrol/{S}/{t}?api=ftp%3A%2F%2Fh%2F"),
                "http:// or https://",
            ),
            (
                format!("nsauth://enrol/{S}/{t}?api=https%3A%2F%2Fh"),
                "end with '/'",
            ),
            (
                format!("nsauth://enrol/{S}/{t}?api=https%3A%2F%2F%2Fp%2F"),
                "no host",
            ),
            (
                format!("nsauth://enrol/{S}/{t}?api=https%3A%2F%2Fh%2F%3Fq%2F"),
                "query",
            ),
            (
                format!("nsauth://enrol/{S}/{t}/?{api}"),
                "expected enrol/<serverid>/<token>",
            ),
            (format!("nsauth://tx/{S}"), "expected tx/<serverid>/<tid>"),
            (
                format!("nsauth://tx/{S}/{TID}/"),
                "expected tx/<serverid>/<tid>",
            ),
            (format!("nsauth://tx/{S}/{H}"), "tid"),
            (format!("nsauth://tx/{S}/{}", &TID[1..]), "tid"),
            (format!("nsauth://tx/{S}/{}*", &TID[1..]), "tid"),
            (format!("nsauth://tx/{}/{TID}", &S[1..]), "server id"),
        ] {
            let e = parse_link(&link).unwrap_err();
            assert!(matches!(e, Error::BadLink(_)), "{link}: {e:?}");
            assert!(e.to_string().contains(expect), "{link}: {e}");
        }
        // The right link for the wrong call.
        let e = parse_enrol_link(&format!("nsauth://login/{S}/{H}")).unwrap_err();
        assert!(e.to_string().contains("login link"), "{e}");
        let e = parse_login_link(&format!("nsauth://enrol/{S}/{t}?{api}")).unwrap_err();
        assert!(e.to_string().contains("enrolment link"), "{e}");
    }
}
