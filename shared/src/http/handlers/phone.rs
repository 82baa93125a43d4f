//! The phone API (SPEC 5.2, 5.3): enrolment and the signed session calls.

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::accounts::SessionList;
use super::accounts::{remove_account, update_account};
use super::common::{list_entry, paging, refused, transition};
use super::push::adjust_for_attempt;
use crate::account::{Account, MAX_DESCRIPTION_CHARS, Platform, PushEndpoint};
use crate::clock::UnixTime;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::phone_auth::{self, Signed, authenticate};
use crate::http::request::{body, origin, query};
use crate::http::response::json;
use crate::http::routes::PathParams;
use crate::ids::{Hsid, Nonce};
use crate::phone::enrol;
use crate::phone::signing::{self, AccountRef};
use crate::push::PushError;
use crate::server::Server;
use crate::session::{LoginInfo, Session, SessionEvent, SessionState};
use crate::store::StoreError;
use crate::usercontext::{SessionInfo, UserContext};

const MAX_PUSH_TOKEN_CHARS: usize = 4096;
const MAX_CLIENTVERSION_CHARS: usize = 64;
const MAX_USERINPUT_CHARS: usize = 256;

fn parse_body<T: DeserializeOwned + Default>(req: &Request, what: &str) -> Result<T, ApiError> {
    let b = body(req);
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let v: serde_json::Value = serde_json::from_slice(b).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body must be {what}: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "invalid_json",
            format!("the body must be {what}"),
        ));
    }
    // serde would fill a nested struct (enrol's `push`) from an array by position; only an
    // object is meant. Unknown fields stay ignored, whatever they hold.
    if v.get("push")
        .is_some_and(|p| !p.is_object() && !p.is_null())
    {
        return Err(ApiError::invalid_field(
            "push",
            "must be a JSON object or null",
        ));
    }
    serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the body must be {what}: {e}")))
}

fn short_text(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
struct PushBody {
    platform: Option<Platform>,
    #[serde(default)]
    token: String,
}

impl PushBody {
    fn validated(&self, field: &str) -> Result<(Platform, &str), ApiError> {
        let platform = self.platform.ok_or_else(|| {
            ApiError::invalid_field(
                &format!("{field}.platform"),
                "must be apns, apns_sandbox or fcm",
            )
        })?;
        if self.token.is_empty()
            || self.token.len() > MAX_PUSH_TOKEN_CHARS
            || !self.token.bytes().all(|c| c.is_ascii_graphic())
        {
            return Err(ApiError::invalid_field(
                &format!("{field}.token"),
                format!("a device token of 1 to {MAX_PUSH_TOKEN_CHARS} visible ASCII characters"),
            ));
        }
        Ok((platform, &self.token))
    }
}

#[derive(Deserialize, Default)]
struct EnrolBody {
    #[serde(default)]
    token: String,
    #[serde(default)]
    publickey: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    clientversion: String,
    #[serde(default)]
    push: Option<PushBody>,
}

#[derive(Serialize)]
struct Enrolled {
    serverid: String,
    servername: String,
    accountid: u64,
    userid: Option<String>,
    /// Whether pushes can reach this account (false when the deployment has no platform
    /// application for the app's platform, or SNS refused the token).
    push: bool,
}

/// Creates the SNS endpoint for a device token; `None` when push is not possible, which
/// does not stop an enrolment (the app can send a token later with PUT /app/v1/push).
async fn endpoint_or_none(
    deps: &Deps,
    platform: Platform,
    token: &str,
    user_data: &str,
) -> Option<PushEndpoint> {
    match deps.push.create_endpoint(platform, token, user_data).await {
        Ok(arn) => Some(PushEndpoint {
            platform,
            endpoint_arn: arn,
            disabled: false,
        }),
        Err(e) => {
            tracing::warn!(error = %e, platform = platform.as_str(), "no push endpoint");
            None
        }
    }
}

/// `POST /app/v1/enrol`, signed with `account=new` by the key being enrolled.
pub async fn enrol(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let now = deps.clock.now();
    let (auth, canonical) = phone_auth::parse(req, now)?;
    if auth.account != AccountRef::New {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "enrolment is signed with account=new",
        ));
    }
    let b: EnrolBody = parse_body(req, "an enrolment JSON object")?;
    signing::decode_public_key("publickey", &b.publickey)?;
    signing::verify(&b.publickey, &canonical, &auth.sig)?;
    phone_auth::not_replayed(deps, req, &auth.serverid, "new", &canonical, auth.ts).await?;
    short_text("description", &b.description, MAX_DESCRIPTION_CHARS)?;
    short_text("clientversion", &b.clientversion, MAX_CLIENTVERSION_CHARS)?;
    let push = b.push.as_ref().map(|p| p.validated("push")).transpose()?;
    if !enrol::valid_token_shape(&b.token) {
        return Err(ApiError::invalid_field("token", "not an enrolment token"));
    }
    let hash = enrol::token_hash(&b.token);
    let token = match deps.store.use_enrol_token(&auth.serverid, &hash, now).await {
        Ok(t) => t,
        Err(StoreError::ConditionFailed) => {
            return Err(
                match deps.store.get_enrol_token(&auth.serverid, &hash).await? {
                    None => ApiError::not_found(
                        "unknown enrolment token; ask the website for a new link",
                    ),
                    Some(t) if t.used.is_some() => ApiError::conflict(
                        "token_used",
                        "this enrolment link was used already; ask the website for a new one",
                    ),
                    Some(_) => ApiError::conflict(
                        "token_expired",
                        "this enrolment link has expired (10 minutes); ask the website for a new one",
                    ),
                },
            );
        }
        Err(e) => return Err(e.into()),
    };
    let server = deps
        .store
        .get_server(&auth.serverid)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("unknown enrolment token; ask the website for a new link")
        })?;
    let accountid = deps.store.allocate_accountid(&server.serverid).await?;
    let endpoint = match push {
        Some((platform, t)) => {
            endpoint_or_none(
                deps,
                platform,
                t,
                &format!("{}/{accountid}", server.serverid),
            )
            .await
        }
        None => None,
    };
    let description = if b.description.is_empty() {
        token.name.clone()
    } else {
        b.description
    };
    let account = Account {
        serverid: server.serverid.clone(),
        accountid,
        publickey: b.publickey,
        description,
        clientversion: b.clientversion,
        userid: token.userid.clone(),
        blocked: false,
        created: now,
        lastlogin: Some(now),
        lastprovoke: None,
        push: endpoint,
        fraud_reports: 0,
        version: 1,
    };
    if let Err(e) = deps.store.create_account(&account).await {
        if let Some(p) = &account.push {
            let _ = deps.push.delete_endpoint(&p.endpoint_arn).await;
        }
        return Err(e.into());
    }
    tracing::info!(accountid, "account enrolled");
    // Log the new account in to the website session that asked for the link.
    if let Some(session) = deps.store.get_session(&token.hsid).await?
        && session.serverid == server.serverid
    {
        let login = login_info(&account);
        let settings = &server.settings;
        let r = transition(deps, session, |s, now| {
            Ok(s.state_at(now)
                .is_open_attempt()
                .then(|| s.approve(login.clone(), settings, now).ok())
                .flatten())
        })
        .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "enrolment login not recorded");
        }
    }
    json(
        StatusCode::CREATED,
        &Enrolled {
            serverid: server.serverid.to_string(),
            servername: server.settings.name.clone(),
            accountid,
            userid: account.userid.clone(),
            push: account.push.is_some(),
        },
    )
}

fn login_info(a: &Account) -> LoginInfo {
    LoginInfo {
        accountid: a.accountid,
        userid: a.userid.clone(),
        pk: a.pk_std(),
    }
}

fn hsid_param(params: &PathParams) -> Result<Hsid, ApiError> {
    Hsid::parse(params.get("hsid"))
        .ok_or_else(|| ApiError::invalid_field("hsid", "not a session handle"))
}

fn unknown_session() -> ApiError {
    ApiError::not_found("no such session; the link may be old")
}

/// The session a phone names, checked against the signing account's server. A phone of
/// another server learns nothing about the session; the website learns (NOACCOUNTS) that
/// this phone has no account for it.
async fn phone_session(deps: &Deps, signed: &Signed, hsid: &Hsid) -> Result<Session, ApiError> {
    let session = deps
        .store
        .get_session(hsid)
        .await?
        .ok_or_else(unknown_session)?;
    if session.serverid != signed.server.serverid {
        let settings = match deps.store.get_server(&session.serverid).await? {
            Some(s) => s.settings,
            None => return Err(unknown_session()),
        };
        let noted = transition(deps, session, |s, now| {
            Ok(s.state_at(now)
                .is_open_attempt()
                .then(|| s.noted(SessionEvent::NoAccounts, &settings, now)))
        })
        .await;
        if let Err(e) = noted {
            tracing::warn!(error = %e, "NOACCOUNTS not recorded");
        }
        return Err(ApiError::conflict(
            "no_account",
            "this session belongs to a website this account is not enrolled with",
        ));
    }
    Ok(session)
}

#[derive(Serialize)]
struct Shown<'a> {
    serverid: &'a str,
    servername: &'a str,
    logo: &'a str,
    announceinfo: &'a SessionInfo,
    state: SessionState,
    choices: Option<Vec<String>>,
    /// Where an app-to-app login may return: the app follows a link's `return` only when it
    /// is on this list (exact, or under an entry ending in `/`).
    return_urls: &'a [String],
}

/// `GET /app/v1/sessions/{hsid}`: what the phone shows; pending becomes scanned.
pub async fn show(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let signed = authenticate(deps, req).await?;
    let hsid = hsid_param(params)?;
    let session = phone_session(deps, &signed, &hsid).await?;
    let settings = &signed.server.settings;
    let session = transition(deps, session.clone(), |s, now| {
        Ok((s.state_at(now) == SessionState::Pending)
            .then(|| s.scan(settings, now).ok())
            .flatten())
    })
    .await?
    .unwrap_or(session);
    json(
        StatusCode::OK,
        &Shown {
            serverid: signed.server.serverid.as_str(),
            servername: &settings.name,
            logo: &settings.logo,
            announceinfo: &session.context.announceinfo,
            state: session.state_at(deps.clock.now()),
            choices: session
                .matching
                .as_ref()
                .filter(|_| session.open_match(deps.clock.now()).is_some())
                .map(|m| m.choices.clone()),
            return_urls: &settings.return_urls,
        },
    )
}

#[derive(Deserialize, Default)]
struct ApproveBody {
    #[serde(default)]
    userinput: Option<String>,
    #[serde(default, rename = "match")]
    match_: Option<String>,
}

#[derive(Serialize)]
struct StateAnswer {
    state: SessionState,
}

/// Records the login time on the account; a lost race only loses the timestamp.
async fn touch_lastlogin(deps: &Deps, server: &Server, accountid: u64, now: UnixTime) {
    if let Err(e) = update_account(deps, server, accountid, |a| a.lastlogin = Some(now)).await {
        tracing::warn!(error = %e, accountid, "lastlogin not recorded");
    }
}

/// `POST /app/v1/sessions/{hsid}/approve`
pub async fn approve(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let signed = authenticate(deps, req).await?;
    let hsid = hsid_param(params)?;
    let b: ApproveBody = parse_body(req, "a JSON object")?;
    if let Some(u) = &b.userinput {
        short_text("userinput", u, MAX_USERINPUT_CHARS)?;
    }
    if let Some(m) = &b.match_
        && !(m.len() == 2 && m.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(ApiError::invalid_field("match", "two digits"));
    }
    let session = phone_session(deps, &signed, &hsid).await?;
    let settings = &signed.server.settings;
    let login = login_info(&signed.account);
    let picked = b.match_.clone();
    let after = transition(deps, session, |s, now| {
        if let Some(number) = s.open_match(now) {
            match picked.as_deref() {
                None => {
                    return Err(ApiError::invalid_field(
                        "match",
                        "this login needs the number the website shows",
                    ));
                }
                // A wrong pick cancels the attempt: it may be an attacker's login.
                Some(m) if m != number => {
                    return Ok(Some(s.cancel(settings, now).map_err(refused)?));
                }
                Some(_) => {}
            }
        }
        let mut next = s.approve(login.clone(), settings, now).map_err(refused)?;
        next.userinput = b.userinput.clone();
        Ok(Some(next))
    })
    .await?
    .ok_or(ApiError::Internal)?;
    let me = signed.account.accountid;
    if after.state == SessionState::Cancelled {
        tracing::warn!(hsid = %after.hsid, accountid = me, "wrong number picked");
        adjust_for_attempt(deps, &signed.server, &after, me, 1).await;
        return Err(ApiError::conflict(
            "wrong_match",
            "that is not the number the website shows; the login was cancelled",
        ));
    }
    tracing::info!(hsid = %after.hsid, accountid = me, "approved");
    // A push the user wanted does not count against the rate limit.
    adjust_for_attempt(deps, &signed.server, &after, me, -1).await;
    touch_lastlogin(deps, &signed.server, me, deps.clock.now()).await;
    json(
        StatusCode::OK,
        &StateAnswer {
            state: SessionState::LoggedIn,
        },
    )
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum DenyReason {
    #[default]
    User,
    Fraud,
}

#[derive(Deserialize, Default)]
struct DenyBody {
    #[serde(default)]
    reason: DenyReason,
}

/// `POST /app/v1/sessions/{hsid}/deny`
pub async fn deny(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let signed = authenticate(deps, req).await?;
    let hsid = hsid_param(params)?;
    let b: DenyBody = parse_body(req, r#"{"reason": "user" | "fraud"}"#)?;
    let session = phone_session(deps, &signed, &hsid).await?;
    let settings = &signed.server.settings;
    let after = transition(deps, session, |s, now| {
        let mut next = s.cancel(settings, now).map_err(refused)?;
        if b.reason == DenyReason::Fraud {
            next.event = Some(SessionEvent::Fraud);
        }
        Ok(Some(next))
    })
    .await?
    .ok_or(ApiError::Internal)?;
    // A denied push counts twice against the rate limit.
    adjust_for_attempt(deps, &signed.server, &after, signed.account.accountid, 1).await;
    if b.reason == DenyReason::Fraud {
        tracing::warn!(hsid = %hsid, accountid = signed.account.accountid, "fraud reported");
        update_account(deps, &signed.server, signed.account.accountid, |a| {
            a.fraud_reports += 1
        })
        .await?;
    }
    json(
        StatusCode::OK,
        &StateAnswer {
            state: SessionState::Cancelled,
        },
    )
}

/// `POST /app/v1/sessions/{hsid}/logout`
pub async fn logout(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let signed = authenticate(deps, req).await?;
    let hsid = hsid_param(params)?;
    let session = deps
        .store
        .get_session(&hsid)
        .await?
        .ok_or_else(unknown_session)?;
    if session.serverid != signed.server.serverid {
        return Err(unknown_session());
    }
    let me = signed.account.accountid;
    let settings = &signed.server.settings;
    let after = transition(deps, session.clone(), |s, now| match &s.login {
        Some(l) if s.state_at(now) == SessionState::LoggedIn && l.accountid != me => {
            Err(ApiError::conflict(
                "not_your_session",
                "another account is logged in to this session",
            ))
        }
        _ => Ok(s.logout(settings, now)),
    })
    .await?
    .unwrap_or(session);
    json(
        StatusCode::OK,
        &StateAnswer {
            state: after.state_at(deps.clock.now()),
        },
    )
}

/// `GET /app/v1/sessions?limit=&cursor=`: this account's sessions, newest login first.
pub async fn list(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let signed = authenticate(deps, req).await?;
    let (limit, cursor) = paging(&query(req)?)?;
    let page = deps
        .store
        .account_sessions(
            &signed.server.serverid,
            signed.account.accountid,
            limit,
            cursor.as_deref(),
        )
        .await?;
    let now = deps.clock.now();
    json(
        StatusCode::OK,
        &SessionList {
            sessions: page
                .items
                .iter()
                .map(|s| list_entry(s, &signed.server.settings, now))
                .collect(),
            next: page.next,
        },
    )
}

#[derive(Serialize)]
struct InApp<'a> {
    nonce: &'a str,
    hsid: &'a str,
}

/// `POST /app/v1/inapp`: a new session, already logged in for this account.
pub async fn inapp(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let signed = authenticate(deps, req).await?;
    let mut context = UserContext::from_body(body(req))?;
    context.fill_from(&origin(req));
    let settings = &signed.server.settings;
    let now = deps.clock.now();
    let nonce = Nonce::generate();
    let hsid = nonce.hsid(&signed.server.serverid);
    let pending =
        Session::new_pending(signed.server.serverid.clone(), hsid, settings, context, now);
    let session = pending
        .approve(login_info(&signed.account), settings, now)
        .map_err(refused)?;
    deps.store.create_session(&session).await?;
    tracing::info!(hsid = %session.hsid, accountid = signed.account.accountid, "in-app login");
    touch_lastlogin(deps, &signed.server, signed.account.accountid, now).await;
    json(
        StatusCode::CREATED,
        &InApp {
            nonce: nonce.expose(),
            hsid: session.hsid.as_str(),
        },
    )
}

#[derive(Serialize)]
struct PushAnswer {
    push: bool,
}

/// `PUT /app/v1/push` `{"platform", "token"}`: a new push token.
pub async fn push_token(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let signed = authenticate(deps, req).await?;
    let b: PushBody = parse_body(req, r#"{"platform", "token"}"#)?;
    let (platform, token) = b.validated("push")?;
    let user_data = format!("{}/{}", signed.server.serverid, signed.account.accountid);
    let arn = deps
        .push
        .create_endpoint(platform, token, &user_data)
        .await
        .map_err(|e| match e {
            PushError::NotConfigured(p) => ApiError::bad_request(
                "push_unavailable",
                format!("this deployment has no push platform application for {p}"),
            ),
            PushError::Refused(m) => ApiError::invalid_field("push.token", m),
            PushError::Disabled => {
                ApiError::invalid_field("push.token", "the push service refused it")
            }
            PushError::Unavailable(m) => {
                tracing::error!(error = %m, "SNS unavailable");
                ApiError::Unavailable
            }
        })?;
    let old = signed.account.push.clone();
    let endpoint = PushEndpoint {
        platform,
        endpoint_arn: arn.clone(),
        disabled: false,
    };
    update_account(deps, &signed.server, signed.account.accountid, |a| {
        a.push = Some(endpoint.clone())
    })
    .await?;
    if let Some(o) = old.filter(|o| o.endpoint_arn != arn)
        && let Err(e) = deps.push.delete_endpoint(&o.endpoint_arn).await
    {
        tracing::warn!(error = %e, "old push endpoint not deleted");
    }
    json(StatusCode::OK, &PushAnswer { push: true })
}

#[derive(Serialize)]
struct Removed {
    deleted: bool,
}

/// `DELETE /app/v1/account`: the phone removes its own account.
pub async fn delete_account(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let signed = authenticate(deps, req).await?;
    remove_account(deps, &signed.server, signed.account.accountid).await?;
    json(StatusCode::OK, &Removed { deleted: true })
}
