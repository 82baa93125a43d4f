//! The reference phone authenticator (SPEC 5.5, docs/phone-protocol.md): keeps one P-256 key
//! per server in a local file and makes the signed phone API calls. The tests and the demo use
//! it as "the phone"; the binary `nsauth-authenticator` is a command-line front end.
//!
//! Signing itself is the protocol crate's ([`nsauth_protocol::signing`], which has no AWS or
//! Lambda dependency); this crate only builds the requests, sends them and keeps the keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nsauth_protocol::ids::{Hsid, ServerId};
use nsauth_protocol::signing::{
    AccountRef, AuthHeader, Canonical, canonical_bytes, generate_key, public_key_b64url, sign,
};
use nsauth_protocol::transaction::{
    SignedTransaction, TransactionAnswer, TransactionApproval, TransactionId, TransactionShown,
    parse_signed,
};
use nsauth_protocol::wire::Verification;
use p256::ecdsa::SigningKey;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

pub mod inbox;
pub mod keyfile;
pub mod link;
pub mod pin;

pub use inbox::{PushedLogin, inbox_from_file, parse_outbox_entry, parse_push, parse_pushes};
pub use keyfile::{Account, PushRegistration};
use keyfile::{KeyFile, encode_key, file_error};
pub use link::{
    EnrolLink, Link, LoginLink, TransactionLink, parse_enrol_link, parse_link, parse_login_link,
    parse_transaction_link,
};
pub use nsauth_protocol::links::return_allowed;
pub use nsauth_protocol::transaction::TransactionState;

/// Text from elsewhere (a server's message, a link's URL, a transaction's amount) made safe
/// to print on a terminal: every control character (escape sequences, carriage returns,
/// ...) becomes U+FFFD, and so does every bidirectional formatting character (which can
/// show `100` as `001`, or move a beneficiary's name around).
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// The Unicode bidirectional formatting characters (ALM, LRM, RLM, the embeddings and
/// overrides, the isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// What the authenticator sends as `clientversion` at enrolment and as its User-Agent.
pub const CLIENT_VERSION: &str = concat!("nsauth-authenticator/", env!("CARGO_PKG_VERSION"));

/// The time source for `ts`: Unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad link: {0}")]
    BadLink(String),
    #[error("key file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("no account for server {0} in the key file; enrol first")]
    NoAccount(String),
    #[error("already enrolled with server {0}; remove that account first")]
    AlreadyEnrolled(String),
    #[error("{0}")]
    Invalid(String),
    /// The server answered with an error status.
    #[error("HTTP {status} {code}: {message}")]
    Http {
        status: u16,
        /// The answer's `error` code (empty when the answer was not the JSON error shape).
        code: String,
        message: String,
    },
    #[error("cannot reach {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A success status with an answer that does not follow the protocol.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// A transaction the authenticator will not show or sign: the server's answer names
    /// another transaction, server or account, or its text to sign is not a transaction
    /// text (see [`check_transaction`]).
    #[error("refusing the transaction: {0}")]
    BadTransaction(String),
    /// The PIN given is not this authenticator's, or a PIN is needed and none was given.
    #[error("{0}")]
    Pin(String),
    /// A push message that is not one of the accepted shapes (see [`inbox`]).
    #[error("bad push message: {0}")]
    BadPush(String),
    /// The API base answered 404 for the push outbox: only the local stack has one (and
    /// only when it runs with local push).
    #[error(
        "{api} has no push outbox (404 for local/outbox: {message}): it is not a local stack, \
         or one without local push. A real deployment's pushes go to the phone's push \
         service; feed a captured one with `inbox --file`"
    )]
    NoOutbox {
        api: String,
        /// The answer's `message` (or its text).
        message: String,
    },
}

impl Error {
    /// The HTTP status of an [`Error::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `error` code of an [`Error::Http`].
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Http { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A request signed and ready to send. Every field is public so a test can change the header,
/// the body or the URL after signing and see the server refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Upper-case method.
    pub method: String,
    /// The full URL the request goes to (API base + path).
    pub url: String,
    /// The URL's host (with `:port` when not the scheme's default), as the `Host` header
    /// carries it: signed.
    pub host: String,
    /// The path and query as on the request line: what was signed.
    pub path_with_query: String,
    pub ts: i64,
    /// The `Authorization` header value.
    pub authorization: String,
    /// The exact body bytes (sent with `Content-Type: application/json` unless empty).
    pub body: Vec<u8>,
}

impl SignedRequest {
    /// The header parsed back (as the server parses it).
    pub fn header(&self) -> Result<AuthHeader> {
        AuthHeader::parse(Some(&self.authorization))
            .map_err(|e| Error::Invalid(format!("{}: {}", e.code(), e)))
    }

    /// The bytes the signature covers, with the server and account of its header.
    pub fn canonical(&self) -> Result<Vec<u8>> {
        let h = self.header()?;
        Ok(canonical_bytes(&Canonical {
            method: &self.method,
            host: &self.host,
            path_with_query: &self.path_with_query,
            serverid: &h.serverid,
            account: h.account,
            ts: self.ts,
            body: &self.body,
        }))
    }
}

/// The visual hash of the server an enrolment link is for (docs/phone-protocol.md, "Visual
/// hash"): what the enrolment screen shows, for the user to compare with the picture the
/// website shows (getServerVash).
pub fn enrolment_vash(link: &str) -> Result<nsauth_protocol::vash::Vash, Error> {
    let link = parse_enrol_link(link)?;
    Ok(nsauth_protocol::vash::Vash::new(
        link.serverid.as_str(),
        &link.api,
    ))
}

/// Who signs: a key, the server it is for, and the account (or `new` at enrolment).
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    pub key: &'a SigningKey,
    pub serverid: &'a ServerId,
    pub account: AccountRef,
    /// The API base URL, ending in `/`.
    pub api: &'a str,
}

impl Signer<'_> {
    /// Signs `method path` (relative to the API base, with or without a leading `/`) with
    /// `body` at `ts`. The signed path is taken from the parsed URL, i.e. exactly what goes
    /// on the request line (including any path of the API base).
    pub fn sign(&self, method: &str, path: &str, body: Vec<u8>, ts: i64) -> Result<SignedRequest> {
        let method = method.to_ascii_uppercase();
        let url = format!("{}{}", self.api, path.trim_start_matches('/'));
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| Error::Invalid(format!("{url:?} is not a URL: {e}")))?;
        let mut path_with_query = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            path_with_query.push('?');
            path_with_query.push_str(q);
        }
        // What an HTTP client puts in `Host`: the port only when it is not the default one.
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(Error::Invalid(format!("{url:?} has no host"))),
        };
        let canonical = canonical_bytes(&Canonical {
            method: &method,
            host: &host,
            path_with_query: &path_with_query,
            serverid: self.serverid,
            account: self.account,
            ts,
            body: &body,
        });
        let header = AuthHeader {
            serverid: self.serverid.clone(),
            account: self.account,
            ts,
            sig: sign(self.key, &canonical),
        };
        Ok(SignedRequest {
            method,
            url: parsed.to_string(),
            host,
            path_with_query,
            ts,
            authorization: header.format(),
            body,
        })
    }
}

fn system_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Sends a request; the status and the answer's JSON (`Null` for an empty answer, a string
/// for one that is not JSON).
async fn read_answer(url: &str, builder: reqwest::RequestBuilder) -> Result<(u16, Value)> {
    let transport = |source| Error::Transport {
        url: url.to_string(),
        source,
    };
    let resp = builder.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(transport)?;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok((status, value))
}

/// An error status as [`Error::Http`].
fn http_error(status: u16, value: &Value) -> Error {
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    Error::Http {
        status,
        code: text("error").unwrap_or_default(),
        message: text("message").unwrap_or_else(|| match value {
            Value::Null => String::new(),
            Value::String(s) => s.chars().take(500).collect(),
            v => v.to_string(),
        }),
    }
}

fn transaction_answer(answer: Value) -> Result<TransactionAnswer> {
    serde_json::from_value(answer.clone()).map_err(|e| {
        Error::Protocol(format!(
            "the transaction answer has no state ({e}): {answer}"
        ))
    })
}

fn json_body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn parse_serverid(serverid: &str) -> Result<ServerId> {
    ServerId::parse(serverid).ok_or_else(|| {
        Error::Invalid(format!(
            "{serverid:?} is not a server id (22 base64url characters)"
        ))
    })
}

fn parse_hsid(hsid: &str) -> Result<Hsid> {
    Hsid::parse(hsid)
        .ok_or_else(|| Error::Invalid(format!("{hsid:?} is not an hsid (22 base64url characters)")))
}

/// A transaction as the server showed it, checked by [`check_transaction`]: `signed` is
/// `shown.signed` read back, the content the phone shows and signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub shown: TransactionShown,
    pub signed: SignedTransaction,
}

impl Transaction {
    /// What the command line prints: the content from the text to sign, the state, and the
    /// text itself.
    pub fn view(&self) -> Value {
        let t = &self.signed;
        json!({
            "serverid": t.serverid,
            "servername": t.servername,
            "tid": t.tid,
            "accountid": t.accountid,
            "amount": t.amount,
            "benificiary": t.benificiary,
            "description": t.description,
            "created": t.created,
            "state": self.shown.state,
            "expires": self.shown.expires,
            "signed": self.shown.signed,
        })
    }

    /// The transaction for a person to read: amount and beneficiary first and in capitals,
    /// every line free of control and bidirectional formatting characters.
    pub fn summary(&self) -> String {
        let t = &self.signed;
        let or_none = |v: &str| {
            if v.trim().is_empty() {
                "(none)".to_string()
            } else {
                printable(v)
            }
        };
        format!(
            "=== Confirm a transaction for {} ===\n  AMOUNT:       {}\n  BENEFICIARY:  {}\n  description:  {}\n  account {}, created {}, {} (answer before {})",
            or_none(&t.servername),
            or_none(&t.amount),
            or_none(&t.benificiary),
            or_none(&t.description),
            t.accountid,
            printable(&t.created),
            self.shown.state.as_str(),
            printable(&self.shown.expires),
        )
    }
}

/// Checks a transaction the server showed before anything of it is shown or signed: it is
/// the transaction asked for (`tid` of `serverid`), its `signed` text parses as a
/// transaction text ([`parse_signed`]: the type tag, compact JSON in the fixed field
/// order) naming the same transaction, server and `accountid`, and the amount,
/// beneficiary and description shown are the ones signed.
pub fn check_transaction(
    shown: TransactionShown,
    serverid: &ServerId,
    tid: &TransactionId,
    accountid: u64,
) -> Result<Transaction> {
    let refuse = |m: String| Err(Error::BadTransaction(m));
    if shown.tid != tid.as_str() || shown.serverid != serverid.as_str() {
        return refuse(format!(
            "asked for transaction {tid} of server {serverid}, the server answered with {} of {}",
            printable(&shown.tid),
            printable(&shown.serverid)
        ));
    }
    let Some(signed) = parse_signed(&shown.signed) else {
        return refuse(
            "the text to sign is not a transaction text (nsauth-transaction-v1, compact JSON \
             with its fields in order)"
                .into(),
        );
    };
    if signed.tid != tid.as_str() || signed.serverid != serverid.as_str() {
        return refuse(format!(
            "the text to sign names transaction {} of server {}, not {tid} of {serverid}",
            printable(&signed.tid),
            printable(&signed.serverid)
        ));
    }
    if signed.accountid != accountid {
        return refuse(format!(
            "the text to sign names account {}, this phone's is {accountid}",
            signed.accountid
        ));
    }
    if (&shown.amount, &shown.benificiary, &shown.description)
        != (&signed.amount, &signed.benificiary, &signed.description)
    {
        return refuse(
            "the amount, beneficiary or description shown differ from the text to sign".into(),
        );
    }
    Ok(Transaction { shown, signed })
}

fn parse_tid(tid: &str) -> Result<TransactionId> {
    TransactionId::parse(tid).ok_or_else(|| {
        Error::Invalid(format!(
            "{:?} is not a transaction id (43 base64url characters)",
            printable(tid)
        ))
    })
}

/// The authenticator: a key file and an HTTP client.
pub struct Authenticator {
    path: PathBuf,
    file: KeyFile,
    clock: Clock,
    http: reqwest::Client,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("path", &self.path)
            .field("accounts", &self.file.accounts)
            .finish()
    }
}

impl Authenticator {
    /// Loads the key file at `path`, or creates an empty one (mode 0600) when there is none.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = match KeyFile::load(&path)? {
            Some(f) => f,
            None => {
                let f = KeyFile::empty();
                f.save(&path)?;
                f
            }
        };
        // reqwest takes the process's rustls provider; another part of the process may have
        // installed one already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(CLIENT_VERSION)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Authenticator {
            path,
            file,
            clock: Arc::new(system_clock),
            http,
        })
    }

    /// Signs with this clock's time instead of the system's (tests: the server's test clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `ts` the next request gets.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    pub fn accounts(&self) -> &[Account] {
        &self.file.accounts
    }

    /// The stored account of a server.
    pub fn account(&self, serverid: &str) -> Result<&Account> {
        let serverid = parse_serverid(serverid)?;
        self.file
            .accounts
            .iter()
            .find(|a| a.serverid == serverid)
            .ok_or_else(|| Error::NoAccount(serverid.to_string()))
    }

    /// The account's private key (tests that sign by hand).
    pub fn raw_key(&self, serverid: &str) -> Result<SigningKey> {
        let a = self.account(serverid)?;
        a.signing_key()
            .map_err(|m| file_error(&self.path, format!("account of server {serverid}: {m}")))
    }

    /// Forgets a server's account locally, without telling the server (for an account the
    /// website already deleted). Returns whether there was one.
    pub fn forget_account(&mut self, serverid: &str) -> Result<bool> {
        let before = self.file.accounts.len();
        let mut file = self.file.clone();
        file.accounts.retain(|a| a.serverid.as_str() != serverid);
        if file.accounts.len() == before {
            return Ok(false);
        }
        file.save(&self.path)?;
        self.file = file;
        Ok(true)
    }

    fn signer<'a>(&self, account: &'a Account, key: &'a SigningKey) -> Signer<'a> {
        Signer {
            key,
            serverid: &account.serverid,
            account: AccountRef::Id(account.accountid),
            api: &account.api,
        }
    }

    /// Signs a request as the server's stored account, at the clock's time.
    /// `path_with_query` is relative to the account's API base (`/app/v1/...`).
    pub fn signed(
        &self,
        serverid: &str,
        method: &str,
        path_with_query: &str,
        body: Vec<u8>,
    ) -> Result<SignedRequest> {
        self.signed_at(serverid, method, path_with_query, body, self.now())
    }

    /// As [`Authenticator::signed`], at a given `ts`.
    pub fn signed_at(
        &self,
        serverid: &str,
        method: &str,
        path_with_query: &str,
        body: Vec<u8>,
        ts: i64,
    ) -> Result<SignedRequest> {
        let account = self.account(serverid)?;
        let key = self.raw_key(serverid)?;
        self.signer(account, &key)
            .sign(method, path_with_query, body, ts)
    }

    /// Sends a signed request; any status comes back with the answer's JSON (`Null` for an
    /// empty answer, a string for one that is not JSON). Only transport failures are errors.
    pub async fn send(&self, req: SignedRequest) -> Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| Error::Invalid(format!("{:?} is not an HTTP method", req.method)))?;
        let mut builder = self
            .http
            .request(method, &req.url)
            .header(reqwest::header::AUTHORIZATION, &req.authorization);
        if !req.body.is_empty() {
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
        read_answer(&req.url, builder.body(req.body.clone())).await
    }

    /// Sends and turns a status outside 200..300 into [`Error::Http`].
    async fn call(&self, req: SignedRequest) -> Result<(u16, Value)> {
        let (status, value) = self.send(req).await?;
        if (200..300).contains(&status) {
            return Ok((status, value));
        }
        Err(http_error(status, &value))
    }

    async fn call_as(
        &self,
        serverid: &str,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Value> {
        let req = self.signed(serverid, method, path, body)?;
        Ok(self.call(req).await?.1)
    }

    /// Enrols with an enrolment link: a new key, `POST /app/v1/enrol` signed with
    /// `account=new`, and after the server's 201 the account is stored. `push` is
    /// `(platform, token)`; it is stored with the account when the answer says
    /// `"push": true`.
    pub async fn enrol(
        &mut self,
        link: &str,
        description: &str,
        push: Option<(&str, &str)>,
    ) -> Result<Account> {
        self.enrol_with_key(link, description, push, &generate_key())
            .await
    }

    /// As [`Authenticator::enrol`], with a key the caller made: an app that did not get
    /// the answer of its enrolment (a timeout, a 503) sends it again with the same key and
    /// link, signed anew, and gets the same account (docs/phone-protocol.md, "Retries").
    pub async fn enrol_with_key(
        &mut self,
        link: &str,
        description: &str,
        push: Option<(&str, &str)>,
        key: &SigningKey,
    ) -> Result<Account> {
        let link = parse_enrol_link(link)?;
        if self.account(link.serverid.as_str()).is_ok() {
            return Err(Error::AlreadyEnrolled(link.serverid.to_string()));
        }
        let key = key.clone();
        let body = json!({
            "token": link.token,
            "publickey": public_key_b64url(&key),
            "description": description,
            "clientversion": CLIENT_VERSION,
            "push": push.map(|(platform, token)| json!({"platform": platform, "token": token})),
        });
        let signer = Signer {
            key: &key,
            serverid: &link.serverid,
            account: AccountRef::New,
            api: &link.api,
        };
        let req = signer.sign("POST", "app/v1/enrol", json_body(&body), self.now())?;
        let (status, answer) = self.call(req).await?;
        if status != 201 {
            return Err(Error::Protocol(format!(
                "enrol answered {status}, expected 201: {answer}"
            )));
        }
        let serverid = answer.get("serverid").and_then(Value::as_str);
        if serverid != Some(link.serverid.as_str()) {
            return Err(Error::Protocol(format!(
                "enrol answered for server {serverid:?}, the link is for {}",
                link.serverid
            )));
        }
        let accountid = answer
            .get("accountid")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Error::Protocol(format!("enrol answer without an accountid: {answer}"))
            })?;
        let account = Account {
            serverid: link.serverid,
            servername: answer
                .get("servername")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            api: link.api,
            accountid,
            userid: answer
                .get("userid")
                .and_then(Value::as_str)
                .map(str::to_string),
            description: description.to_string(),
            key: encode_key(&key),
            push: push
                .filter(|_| answer.get("push") == Some(&Value::Bool(true)))
                .map(|(platform, token)| PushRegistration {
                    platform: platform.to_string(),
                    token: token.to_string(),
                }),
        };
        let mut file = self.file.clone();
        file.accounts.push(account.clone());
        file.save(&self.path).map_err(|e| {
            Error::Invalid(format!(
                "enrolled as account {accountid} of server {}, but the key could not be \
                 stored, so the account is lost: {e}",
                account.serverid
            ))
        })?;
        self.file = file;
        Ok(account)
    }

    /// `GET /app/v1/sessions/{hsid}`: what to show before deciding. Signed by the link's
    /// server's account; when there is none, by the first stored account of another server,
    /// so that the server can tell the website this phone has no account for it (the answer
    /// is then 409 `no_account`). [`Error::NoAccount`] when the file has no account at all.
    pub async fn show(&self, link: &str) -> Result<Value> {
        let link = parse_login_link(link)?;
        let account = match self.account(link.serverid.as_str()) {
            Ok(a) => a,
            Err(e) => self.file.accounts.first().ok_or(e)?,
        };
        self.call_as(
            account.serverid.as_str(),
            "GET",
            &link.show_path(),
            Vec::new(),
        )
        .await
    }

    /// Sets the app's PIN (kept as a slow hash; see [`pin`]). From then on every approval
    /// needs it.
    pub fn set_pin(&mut self, pin: &str) -> Result<()> {
        let hash = pin::PinHash::new(pin).map_err(Error::Invalid)?;
        let mut file = self.file.clone();
        file.pin = Some(hash);
        file.save(&self.path)?;
        self.file = file;
        Ok(())
    }

    /// Removes the PIN; it must be given to do so.
    pub fn clear_pin(&mut self, pin: &str) -> Result<()> {
        self.verify_user(Some(pin))?;
        let mut file = self.file.clone();
        file.pin = None;
        file.save(&self.path)?;
        self.file = file;
        Ok(())
    }

    pub fn has_pin(&self) -> bool {
        self.file.pin.is_some()
    }

    /// How the user is verified for an approval, as an app does it: with a PIN set, the
    /// PIN must be given and right (`pin`); without one, the approval says `none`.
    pub fn verify_user(&self, pin: Option<&str>) -> Result<Verification> {
        match (&self.file.pin, pin) {
            (Some(h), Some(p)) if h.matches(p) => Ok(Verification::Pin),
            (Some(_), Some(_)) => Err(Error::Pin("wrong PIN".into())),
            (Some(_), None) => Err(Error::Pin(
                "this authenticator has a PIN: give it (--pin) to approve".into(),
            )),
            (None, Some(_)) => Err(Error::Pin(
                "no PIN is set on this authenticator; set one first (set-pin)".into(),
            )),
            (None, None) => Ok(Verification::None),
        }
    }

    /// `POST /app/v1/sessions/{hsid}/approve` with `{"match"?, "userinput"?}`, for an
    /// authenticator without a PIN (see [`Authenticator::approve_with`]).
    pub async fn approve(
        &self,
        link: &str,
        match_: Option<&str>,
        userinput: Option<&str>,
    ) -> Result<Value> {
        self.approve_with(link, match_, userinput, None).await
    }

    /// `POST /app/v1/sessions/{hsid}/approve` with `{"match"?, "userinput"?,
    /// "verification"}`: the user is verified first (see [`Authenticator::verify_user`]),
    /// and the signed body says how.
    pub async fn approve_with(
        &self,
        link: &str,
        match_: Option<&str>,
        userinput: Option<&str>,
        pin: Option<&str>,
    ) -> Result<Value> {
        let link = parse_login_link(link)?;
        let verification = self.verify_user(pin)?;
        let mut body = serde_json::Map::new();
        body.insert("verification".into(), verification.as_str().into());
        if let Some(m) = match_ {
            body.insert("match".into(), m.into());
        }
        if let Some(u) = userinput {
            body.insert("userinput".into(), u.into());
        }
        let path = format!("app/v1/sessions/{}/approve", link.hsid);
        self.call_as(
            link.serverid.as_str(),
            "POST",
            &path,
            json_body(&Value::Object(body)),
        )
        .await
    }

    /// `POST /app/v1/sessions/{hsid}/deny` with `{"reason": "user" | "fraud"}`.
    pub async fn deny(&self, link: &str, fraud: bool) -> Result<Value> {
        let link = parse_login_link(link)?;
        let reason = if fraud { "fraud" } else { "user" };
        let path = format!("app/v1/sessions/{}/deny", link.hsid);
        self.call_as(
            link.serverid.as_str(),
            "POST",
            &path,
            json_body(&json!({ "reason": reason })),
        )
        .await
    }

    /// `GET /app/v1/transactions/{tid}` as the server's account, checked with
    /// [`check_transaction`] (a 200 that is not one is [`Error::BadTransaction`] or
    /// [`Error::Protocol`]).
    pub async fn transaction(&self, serverid: &str, tid: &str) -> Result<Transaction> {
        let tid = parse_tid(tid)?;
        let account = self.account(serverid)?;
        let path = format!("app/v1/transactions/{tid}");
        let answer = self
            .call_as(account.serverid.as_str(), "GET", &path, Vec::new())
            .await?;
        let shown: TransactionShown = serde_json::from_value(answer.clone()).map_err(|e| {
            Error::Protocol(format!("the transaction answer is not one ({e}): {answer}"))
        })?;
        check_transaction(shown, &account.serverid, &tid, account.accountid)
    }

    /// The signature of a transaction text with the server's account key: base64url of
    /// `r || s` over the text's UTF-8 bytes, exactly as given.
    pub fn transaction_signature(&self, serverid: &str, signed: &str) -> Result<String> {
        let key = self.raw_key(serverid)?;
        Ok(nsauth_protocol::ids::b64url(&sign(&key, signed.as_bytes())))
    }

    /// `POST /app/v1/transactions/{tid}/approve` with the signature over the exact text the
    /// server sent (`t.shown.signed`), for a transaction from [`Authenticator::transaction`]
    /// (checked once more here). The user is verified first ([`Authenticator::verify_user`]):
    /// the server takes a transaction's approval only with a verified user.
    pub async fn approve_transaction(
        &self,
        t: &Transaction,
        pin: Option<&str>,
    ) -> Result<TransactionAnswer> {
        let serverid = ServerId::parse(&t.shown.serverid)
            .ok_or_else(|| Error::BadTransaction("no server id".into()))?;
        let tid = parse_tid(&t.shown.tid)?;
        let account = self.account(serverid.as_str())?;
        let checked = check_transaction(t.shown.clone(), &serverid, &tid, account.accountid)?;
        if checked.signed != t.signed {
            return Err(Error::BadTransaction(
                "the content to confirm is not the one in the text to sign".into(),
            ));
        }
        let verification = self.verify_user(pin)?;
        let body = TransactionApproval {
            signature: self.transaction_signature(serverid.as_str(), &t.shown.signed)?,
            verification,
        };
        let path = format!("app/v1/transactions/{tid}/approve");
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let answer = self.call_as(serverid.as_str(), "POST", &path, body).await?;
        transaction_answer(answer)
    }

    /// `POST /app/v1/transactions/{tid}/decline` (body `{}`).
    pub async fn decline_transaction(
        &self,
        serverid: &str,
        tid: &str,
    ) -> Result<TransactionAnswer> {
        let tid = parse_tid(tid)?;
        let path = format!("app/v1/transactions/{tid}/decline");
        let answer = self
            .call_as(serverid, "POST", &path, b"{}".to_vec())
            .await?;
        transaction_answer(answer)
    }

    /// `GET /app/v1/sessions`: the first page at the server's default limit.
    pub async fn sessions(&self, serverid: &str) -> Result<Value> {
        self.sessions_page(serverid, None, None).await
    }

    /// `GET /app/v1/sessions?limit=N&cursor=C`.
    pub async fn sessions_page(
        &self,
        serverid: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Value> {
        let mut query = Vec::new();
        if let Some(l) = limit {
            query.push(format!("limit={l}"));
        }
        if let Some(c) = cursor {
            // Fully encoded, so the URL parser leaves it as signed.
            query.push(format!(
                "cursor={}",
                utf8_percent_encode(c, NON_ALPHANUMERIC)
            ));
        }
        let mut path = "app/v1/sessions".to_string();
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        self.call_as(serverid, "GET", &path, Vec::new()).await
    }

    /// `POST /app/v1/sessions/{hsid}/logout` (empty body).
    pub async fn logout(&self, serverid: &str, hsid: &str) -> Result<Value> {
        let hsid = parse_hsid(hsid)?;
        let path = format!("app/v1/sessions/{hsid}/logout");
        self.call_as(serverid, "POST", &path, Vec::new()).await
    }

    /// `POST /app/v1/inapp` (body: the UserContext, or empty): the nonce of a new session
    /// already logged in for this account.
    pub async fn inapp(&self, serverid: &str, usercontext: Option<Value>) -> Result<String> {
        let body = usercontext.as_ref().map(json_body).unwrap_or_default();
        let answer = self.call_as(serverid, "POST", "app/v1/inapp", body).await?;
        answer
            .get("nonce")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::Protocol(format!("inapp answer without a nonce: {answer}")))
    }

    /// `PUT /app/v1/push` with `{"platform", "token"}`; after the server's 200 the token is
    /// stored with the account (for [`Authenticator::inbox`]).
    pub async fn set_push(&mut self, serverid: &str, platform: &str, token: &str) -> Result<Value> {
        let body = json_body(&json!({ "platform": platform, "token": token }));
        let req = self.signed(serverid, "PUT", "app/v1/push", body)?;
        let (status, answer) = self.call(req).await?;
        if status != 200 {
            return Err(Error::Protocol(format!(
                "push token answered {status}, expected 200: {answer}"
            )));
        }
        let serverid = self.account(serverid)?.serverid.clone();
        let mut file = self.file.clone();
        if let Some(a) = file.accounts.iter_mut().find(|a| a.serverid == serverid) {
            a.push = Some(PushRegistration {
                platform: platform.to_string(),
                token: token.to_string(),
            });
        }
        file.save(&self.path)?;
        self.file = file;
        Ok(answer)
    }

    /// The login pushes sent to the stored push tokens, read from the local stack's push
    /// outbox (`GET {api}local/outbox?token=...`, unsigned): of every account with a push
    /// token, or of `serverid`'s account only (then only that server's pushes). Each API
    /// base and token is asked once; newest last within each. [`Error::NoOutbox`] when the
    /// API base is not a local stack.
    pub async fn inbox(&self, serverid: Option<&str>) -> Result<Vec<PushedLogin>> {
        let accounts: Vec<&Account> = match serverid {
            Some(s) => vec![self.account(s)?],
            None => self.file.accounts.iter().collect(),
        };
        let only = accounts.first().filter(|_| serverid.is_some());
        let mut sources: Vec<(&str, &str)> = Vec::new();
        for a in &accounts {
            if let Some(p) = &a.push {
                let source = (a.api.as_str(), p.token.as_str());
                if !sources.contains(&source) {
                    sources.push(source);
                }
            }
        }
        if sources.is_empty() {
            return Err(Error::Invalid(match only {
                Some(a) => format!(
                    "the account of server {} has no push token: enrol with one or set one \
                     with `push`",
                    a.serverid
                ),
                None => "no stored account has a push token: enrol with one or set one with \
                         `push`"
                    .to_string(),
            }));
        }
        let mut pushes = Vec::new();
        for (api, token) in sources {
            let url = format!(
                "{api}local/outbox?token={}",
                utf8_percent_encode(token, NON_ALPHANUMERIC)
            );
            let (status, answer) = read_answer(&url, self.http.get(&url)).await?;
            if status == 404 {
                let message = match http_error(status, &answer) {
                    Error::Http { message, .. } => message,
                    _ => String::new(),
                };
                return Err(Error::NoOutbox {
                    api: api.to_string(),
                    message,
                });
            }
            if !(200..300).contains(&status) {
                return Err(http_error(status, &answer));
            }
            let messages = answer
                .get("messages")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    Error::Protocol(format!("the outbox answer has no messages array: {answer}"))
                })?;
            for (i, m) in messages.iter().enumerate() {
                let push = parse_outbox_entry(m)
                    .map_err(|e| Error::Protocol(format!("outbox message {i}: {e}")))?;
                if only.is_none_or(|a| a.serverid.as_str() == push.serverid) {
                    pushes.push(push);
                }
            }
        }
        Ok(pushes)
    }

    /// `GET /app/v1/pushes`: the login requests pushed to this account that the server
    /// keeps for the phone to fetch (the website's `push_delivery` is `sns_and_pull` or
    /// `pull`), newest first; each is read as a push message is (FCM data).
    pub async fn fetch_pushes(&self, serverid: &str) -> Result<Vec<PushedLogin>> {
        let answer = self
            .call_as(serverid, "GET", "app/v1/pushes", Vec::new())
            .await?;
        let list = answer
            .get("pushes")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Protocol(format!("no pushes array: {answer}")))?;
        list.iter()
            .enumerate()
            .map(|(i, p)| {
                let push = inbox::parse_push(p)
                    .map_err(|e| Error::Protocol(format!("fetched push {i}: {e}")))?;
                if push.serverid != serverid {
                    return Err(Error::Protocol(format!(
                        "fetched push {i} is for server {}",
                        push.serverid
                    )));
                }
                Ok(push)
            })
            .collect()
    }

    /// `POST /app/v1/transfer`: moving to a new phone. The server answers an enrolment link
    /// (single use, 5 minutes) for the new phone, which enrols with it as with any
    /// enrolment link and gets an account of the same user; with `remove_after` this
    /// phone's account is removed once the new one is enrolled.
    pub async fn transfer(&self, serverid: &str, remove_after: bool) -> Result<Value> {
        let body = json!({ "remove_after": remove_after });
        self.call_as(serverid, "POST", "app/v1/transfer", json_body(&body))
            .await
    }

    /// `DELETE /app/v1/account`; the key is forgotten once the server answered 200.
    pub async fn remove_account(&mut self, serverid: &str) -> Result<Value> {
        let req = self.signed(serverid, "DELETE", "app/v1/account", Vec::new())?;
        let (status, answer) = self.call(req).await?;
        if status != 200 {
            return Err(Error::Protocol(format!(
                "account removal answered {status}, expected 200: {answer}"
            )));
        }
        self.forget_account(serverid)?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_has_no_control_characters() {
        assert_eq!(printable("ok: café"), "ok: café");
        let hostile = "https://x.example/\u{1b}[2J\u{1b}]0;pwned\u{7}\r\nerror: fake";
        let shown = printable(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("pwned"), "the text stays readable");
        // Bidirectional overrides and isolates (an amount of 100 shown as 001).
        let turned = "EUR \u{202e}001\u{202c} to \u{2067}Bob\u{2069}\u{200f}";
        assert_eq!(
            printable(turned),
            "EUR \u{FFFD}001\u{FFFD} to \u{FFFD}Bob\u{FFFD}\u{FFFD}"
        );
        // Other formatting characters (the joiner of emoji sequences) stay.
        assert_eq!(printable("a\u{200d}b"), "a\u{200d}b");
    }
    use nsauth_protocol::signing::verify;

    static DIR_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// A fresh directory under the system temp dir (removed by the test on success).
    fn temp_dir() -> PathBuf {
        let n = DIR_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!(
            "nsauth-authenticator-unit-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn sample_account(serverid: &str, accountid: u64) -> Account {
        Account {
            serverid: ServerId::parse(serverid).unwrap(),
            servername: "Acme".into(),
            api: "http://127.0.0.1:9/".into(),
            accountid,
            userid: Some("alice".into()),
            description: "test phone".into(),
            key: encode_key(&generate_key()),
            push: None,
        }
    }

    /// An authenticator with one account stored, without a server.
    fn with_account(dir: &Path, serverid: &str) -> Authenticator {
        let path = dir.join("keys.json");
        let mut file = KeyFile::empty();
        file.accounts.push(sample_account(serverid, 7));
        file.save(&path).unwrap();
        Authenticator::open(&path).unwrap()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn key_file_round_trip_and_mode() {
        let dir = temp_dir();
        let path = dir.join("keys.json");
        let a = Authenticator::open(&path).unwrap();
        assert!(a.accounts().is_empty());
        assert!(path.exists(), "open creates the file");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v, json!({"version": 1, "accounts": []}));

        let mut file = KeyFile::empty();
        let first = sample_account("AAECAwQFBgcICQoLDA0ODw", 7);
        let mut second = sample_account("BBECAwQFBgcICQoLDA0ODw", 8);
        second.userid = None;
        file.accounts = vec![first.clone(), second.clone()];
        // A looser mode on the old file does not survive a write.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        file.save(&path).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);

        let mut a = Authenticator::open(&path).unwrap();
        assert_eq!(a.accounts(), &[first.clone(), second.clone()]);
        assert_eq!(
            encode_key(&a.raw_key("AAECAwQFBgcICQoLDA0ODw").unwrap()),
            first.key
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let stored = &v["accounts"][0];
        for k in [
            "serverid",
            "servername",
            "api",
            "accountid",
            "userid",
            "description",
            "key",
        ] {
            assert!(stored.get(k).is_some(), "{k} in {stored}");
        }
        assert_eq!(v["accounts"][1]["userid"], Value::Null);
        assert_eq!(
            stored["key"].as_str().unwrap().len(),
            43,
            "32 bytes in base64url"
        );

        // Forgetting writes the file again, still 0600, and leaves no temporary file.
        assert!(a.forget_account("AAECAwQFBgcICQoLDA0ODw").unwrap());
        assert!(!a.forget_account("AAECAwQFBgcICQoLDA0ODw").unwrap());
        let again = Authenticator::open(&path).unwrap();
        assert_eq!(again.accounts(), &[second]);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keys.json")]);
        // The private key never shows in Debug output.
        assert!(!format!("{a:?}").contains(&first.key));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_files_from_before_push_tokens_still_load() {
        let dir = temp_dir();
        let path = dir.join("keys.json");
        let key = encode_key(&generate_key());
        // Exactly what the authenticator wrote before accounts remembered push tokens.
        let old = json!({"version": 1, "accounts": [{
            "serverid": "AAECAwQFBgcICQoLDA0ODw",
            "servername": "Acme",
            "api": "http://127.0.0.1:9/",
            "accountid": 7,
            "userid": "alice",
            "description": "test phone",
            "key": key,
        }]});
        std::fs::write(&path, old.to_string()).unwrap();
        let a = Authenticator::open(&path).unwrap();
        let account = &a.accounts()[0];
        assert_eq!(account.push, None);
        assert_eq!(account.key, key);
        assert_eq!(account.public_view()["push"], Value::Null);

        // Written back with a registration, it round-trips.
        let mut file = KeyFile::load(&path).unwrap().unwrap();
        file.accounts[0].push = Some(PushRegistration {
            platform: "fcm".into(),
            token: "t+k/n".into(),
        });
        file.save(&path).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            v["accounts"][0]["push"],
            json!({"platform": "fcm", "token": "t+k/n"})
        );
        let a = Authenticator::open(&path).unwrap();
        assert_eq!(a.accounts()[0].push, file.accounts[0].push);
        assert_eq!(
            a.accounts()[0].public_view()["push"]["token"],
            json!("t+k/n")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_bad_key_files() {
        let dir = temp_dir();
        let path = dir.join("keys.json");
        let account = serde_json::to_value(sample_account("AAECAwQFBgcICQoLDA0ODw", 7)).unwrap();
        let with = |k: &str, v: Value| {
            let mut a = account.clone();
            a[k] = v;
            json!({"version": 1, "accounts": [a]})
        };
        for (content, expect) in [
            ("not json".to_string(), "not a key file"),
            (
                json!({"version": 2, "accounts": []}).to_string(),
                "version 2",
            ),
            (with("key", json!("AAAA")).to_string(), "3 bytes"),
            (with("key", json!("!!")).to_string(), "base64url"),
            (
                with("key", json!("A".repeat(43))).to_string(),
                "valid P-256",
            ),
            (with("api", json!("ftp://x/")).to_string(), "http"),
            (
                with("serverid", json!("short")).to_string(),
                "not a key file",
            ),
            (
                json!({"version": 1, "accounts": [account.clone(), account.clone()]}).to_string(),
                "two accounts",
            ),
        ] {
            std::fs::write(&path, &content).unwrap();
            let e = Authenticator::open(&path).unwrap_err();
            assert!(matches!(e, Error::File { .. }), "{content}: {e:?}");
            assert!(e.to_string().contains(expect), "{content}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn signed_requests_parse_and_verify() {
        let dir = temp_dir();
        let serverid = "AAECAwQFBgcICQoLDA0ODw";
        let a = with_account(&dir, serverid).with_clock(Arc::new(|| 1_800_000_000));
        let pk = a.account(serverid).unwrap().publickey();
        assert_eq!(pk, public_key_b64url(&a.raw_key(serverid).unwrap()));

        let body = br#"{"match":"42"}"#.to_vec();
        let req = a
            .signed(
                serverid,
                "post",
                "/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/approve",
                body.clone(),
            )
            .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.url,
            "http://127.0.0.1:9/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/approve"
        );
        assert_eq!(
            req.path_with_query,
            "/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/approve"
        );
        assert_eq!(req.body, body);
        let h = AuthHeader::parse(Some(&req.authorization)).unwrap();
        assert_eq!(h.serverid.as_str(), serverid);
        assert_eq!(h.account, AccountRef::Id(7));
        assert_eq!(h.ts, 1_800_000_000);
        assert_eq!(req.header().unwrap(), h);
        assert_eq!(req.host, "127.0.0.1:9");
        let signed = Canonical {
            method: "POST",
            host: "127.0.0.1:9",
            path_with_query: &req.path_with_query,
            serverid: &h.serverid,
            account: AccountRef::Id(7),
            ts: h.ts,
            body: &body,
        };
        let canonical = canonical_bytes(&signed);
        assert_eq!(req.canonical().unwrap(), canonical);
        verify(&pk, &canonical, &h.sig).unwrap();
        // Another body, path, method, time, host, server or account does not verify.
        let other_sid = ServerId::parse("BBECAwQFBgcICQoLDA0ODw").unwrap();
        for other in [
            Canonical {
                body: b"{\"match\":\"43\"}",
                ..signed
            },
            Canonical {
                path_with_query: "/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/deny",
                ..signed
            },
            Canonical {
                method: "PUT",
                ..signed
            },
            Canonical {
                ts: h.ts + 1,
                ..signed
            },
            Canonical {
                host: "127.0.0.1:10",
                ..signed
            },
            Canonical {
                serverid: &other_sid,
                ..signed
            },
            Canonical {
                account: AccountRef::Id(8),
                ..signed
            },
        ]
        .iter()
        .map(canonical_bytes)
        {
            assert_eq!(
                verify(&pk, &other, &h.sig).unwrap_err().code(),
                "bad_signature"
            );
        }

        // A query is signed as sent; an explicit ts is used as given.
        let req = a
            .signed_at(serverid, "GET", "app/v1/sessions?limit=5", Vec::new(), 12)
            .unwrap();
        assert_eq!(req.path_with_query, "/app/v1/sessions?limit=5");
        let h = req.header().unwrap();
        assert_eq!(h.ts, 12);
        verify(
            &pk,
            &canonical_bytes(&Canonical {
                method: "GET",
                host: "127.0.0.1:9",
                path_with_query: "/app/v1/sessions?limit=5",
                serverid: &h.serverid,
                account: AccountRef::Id(7),
                ts: 12,
                body: b"",
            }),
            &h.sig,
        )
        .unwrap();

        // An enrolment signer: account=new, and an API base with a path is part of the path.
        let key = generate_key();
        let sid = ServerId::parse(serverid).unwrap();
        let req = Signer {
            key: &key,
            serverid: &sid,
            account: AccountRef::New,
            api: "https://h.example/prod/",
        }
        .sign("POST", "app/v1/enrol", b"{}".to_vec(), 5)
        .unwrap();
        assert_eq!(req.path_with_query, "/prod/app/v1/enrol");
        assert_eq!(req.host, "h.example", "no default port in the signed host");
        let h = req.header().unwrap();
        assert_eq!(h.account, AccountRef::New);
        verify(&public_key_b64url(&key), &req.canonical().unwrap(), &h.sig).unwrap();

        assert!(matches!(
            a.signed(
                "BBECAwQFBgcICQoLDA0ODw",
                "GET",
                "app/v1/sessions",
                Vec::new()
            ),
            Err(Error::NoAccount(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
