//! The phone API (SPEC 5.1 to 5.3): the signature check of every call, enrolment, and the
//! signed session calls.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use crate::account::{Account, MAX_DESCRIPTION_CHARS, Platform, PushEndpoint, validate_text};
use crate::clock::UnixTime;
use crate::deps::Deps;
use crate::enrol;
use crate::enrolment::{TRANSFER_LIFETIME_SECONDS, TokenUse};
use crate::error::ApiError;
use crate::ids::{Hsid, ServerId, b64url};
use crate::links;
use crate::proximity::{self, Proximity};
use crate::pull::PendingPull;
use crate::push::{PushError, PushMessage};
use crate::rotation::{CodeRefused, MAX_AGE_SECONDS, QrKey};
use crate::server::Server;
use crate::service::Checked;
use crate::service::accounts::{self, PageRequest, remove_account, update_account};
use crate::service::limits::{self, Window};
use crate::service::push::adjust_for_attempt;
use crate::service::push::login_message;
use crate::service::sessions::create_with_new_nonce;
use crate::service::versioned;
use crate::session::{LoginChannel, LoginInfo, Session, SessionEvent, SessionState};
use crate::settings::{LoginNotify, ProximityPolicy, PushDelivery, ServerSettings};
use crate::signing::{self, AccountRef, AuthHeader, MAX_SKEW_SECONDS};
use crate::store::{Counted, KeyClaim, NetworkSeen, StoreError};
use crate::usercontext::UserContext;
use crate::wire::{
    ApproveRequest, DenyReason, DenyRequest, EnrolRequest, Enrolled, InAppLogin, PendingPushes,
    PushAnswer, PushRegistration, Removed, SessionList, Shown, StateAnswer, TransferLink,
    TransferRequest, UserVerification, Verification,
};

const MAX_PUSH_TOKEN_CHARS: usize = 4096;
const MAX_CLIENTVERSION_CHARS: usize = 64;
const MAX_USERINPUT_CHARS: usize = 256;

/// A phone's call as the handler read it: the parsed `Authorization` header (its timestamp
/// already within the clock window) and the bytes the signature must cover.
pub struct SignedCall {
    pub header: AuthHeader,
    pub canonical: Vec<u8>,
    /// Whether the call changes state (not a GET): only those are remembered against replay.
    pub changes_state: bool,
    /// The phone's address as the request came in (API Gateway's `sourceIp`).
    pub ip: Option<String>,
}

/// A call whose signature checked out: the account's server and the account.
pub struct Signed {
    pub server: Server,
    pub account: Account,
}

/// Records a state-changing call so that a replay of it has no second effect. The key is a
/// hash of the signed bytes (not of the signature, which ECDSA lets an attacker vary).
async fn not_replayed(
    deps: &Deps,
    call: &SignedCall,
    serverid: &ServerId,
    account: &str,
) -> Result<(), ApiError> {
    if !call.changes_state {
        return Ok(());
    }
    let mut h = Sha256::new();
    h.update(account.as_bytes());
    h.update(b"\0");
    h.update(&call.canonical);
    let digest = b64url(&h.finalize());
    // Remember it as long as its timestamp could still be accepted.
    let until = call.header.ts + MAX_SKEW_SECONDS + 60;
    match deps
        .replays
        .remember_request(serverid, &digest, until)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(replayed()),
        Err(e) => Err(e.into()),
    }
}

/// The one answer for a signature that does not verify and for an account that does not
/// exist: a stranger cannot tell them apart, so account ids cannot be counted without a key.
fn not_verified() -> ApiError {
    ApiError::unauthorized(
        "bad_signature",
        "the signature does not verify with a key of an account of this server: check the \
         server id, the account id and the key (an account that was removed must enrol again)",
    )
}

/// A key no account holds, verified against when the named account does not exist, so that
/// an unknown account costs the same work as a wrong signature.
static STAND_IN_KEY: LazyLock<String> = LazyLock::new(|| {
    let key = p256::ecdsa::SigningKey::from_slice(&[0x5a; 32])
        .expect("a fixed scalar below the group order");
    signing::public_key_b64url(&key)
});

/// Authenticates a call of an enrolled account: the account exists and the signature is
/// its key's (one answer when either fails), then (so that only the key holder learns it)
/// that it is not blocked, and that a state-changing call was not taken before.
pub async fn authenticate(deps: &Deps, call: &SignedCall) -> Result<Signed, ApiError> {
    Ok(authenticate_on(deps, call, None).await?.0)
}

/// As [`authenticate`], for a call about the session `hsid` (when its path named a valid
/// one): the session is read in the same request as the server and account.
async fn authenticate_on(
    deps: &Deps,
    call: &SignedCall,
    hsid: Option<&Hsid>,
) -> Result<(Signed, Option<Session>), ApiError> {
    let (signed, session) = verify_call(deps, call, hsid).await?;
    not_replayed(
        deps,
        call,
        &call.header.serverid,
        &signed.account.accountid.to_string(),
    )
    .await?;
    Ok((signed, session))
}

/// Whether a call was taken before: the same signed request sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Fresh,
    Again,
}

/// As [`authenticate`], for the calls a phone may safely send again after an answer it
/// did not get (approve, deny, a transaction's answer): the same signed request a second
/// time is let through as [`Taken::Again`]; the call then answers as the first one did if
/// its effect is there, and refuses it as a replay otherwise. Either way it has no second
/// effect.
pub async fn authenticate_retry(
    deps: &Deps,
    call: &SignedCall,
) -> Result<(Signed, Taken), ApiError> {
    let (signed, taken, _) = authenticate_retry_on(deps, call, None).await?;
    Ok((signed, taken))
}

/// As [`authenticate_retry`], reading the session `hsid` in the same request.
async fn authenticate_retry_on(
    deps: &Deps,
    call: &SignedCall,
    hsid: Option<&Hsid>,
) -> Result<(Signed, Taken, Option<Session>), ApiError> {
    let (signed, session) = verify_call(deps, call, hsid).await?;
    let taken = taken(deps, call, &signed).await?;
    Ok((signed, taken, session))
}

/// Records the call against replay: [`Taken::Again`] when the same signed request was
/// taken before.
async fn taken(deps: &Deps, call: &SignedCall, signed: &Signed) -> Result<Taken, ApiError> {
    let account = signed.account.accountid.to_string();
    match not_replayed(deps, call, &call.header.serverid, &account).await {
        Ok(()) => Ok(Taken::Fresh),
        Err(ApiError::Unauthorized {
            code: "replayed_request",
            ..
        }) => Ok(Taken::Again),
        Err(e) => Err(e),
    }
}

/// The refusal of a request taken before whose effect is not there (a replay).
pub fn replayed() -> ApiError {
    ApiError::unauthorized(
        "replayed_request",
        "this signed request was already taken; sign the call again",
    )
}

/// The signature and account checks of [`authenticate`], without the replay check; with
/// `hsid`, that session too, read in the same request (it is used only once the call
/// checked out).
async fn verify_call(
    deps: &Deps,
    call: &SignedCall,
    hsid: Option<&Hsid>,
) -> Result<(Signed, Option<Session>), ApiError> {
    // First, as the replay memory below lasts only as long as a timestamp can be accepted.
    call.header.check_time(deps.clock.now())?;
    let AccountRef::Id(accountid) = call.header.account else {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "account=new is only for POST /app/v1/enrol",
        ));
    };
    let serverid = &call.header.serverid;
    let (server, account, session) = match hsid {
        Some(hsid) => {
            deps.sessions
                .get_session_with_account(hsid, serverid, accountid)
                .await?
        }
        None => {
            let (server, account) = deps
                .accounts
                .get_server_and_account(serverid, accountid)
                .await?;
            (server, account, None)
        }
    };
    let (Some(server), Some(account)) = (server, account) else {
        let _ = signing::verify(&STAND_IN_KEY, &call.canonical, &call.header.sig);
        return Err(not_verified());
    };
    signing::verify(&account.publickey, &call.canonical, &call.header.sig)
        .map_err(|_| not_verified())?;
    if account.blocked {
        return Err(ApiError::unauthorized(
            "account_blocked",
            "the website has blocked this account",
        ));
    }
    Ok((Signed { server, account }, session))
}

/// A push registration's platform and token, or 400 naming the field (`field.platform`,
/// `field.token`).
fn push_target<'a>(p: &'a PushRegistration, field: &str) -> Result<(Platform, &'a str), ApiError> {
    let platform = p.platform.ok_or_else(|| {
        ApiError::invalid_field(
            &format!("{field}.platform"),
            "must be apns, apns_sandbox or fcm",
        )
    })?;
    if p.token.is_empty()
        || p.token.len() > MAX_PUSH_TOKEN_CHARS
        || !p.token.bytes().all(|c| c.is_ascii_graphic())
    {
        return Err(ApiError::invalid_field(
            &format!("{field}.token"),
            format!("a device token of 1 to {MAX_PUSH_TOKEN_CHARS} visible ASCII characters"),
        ));
    }
    Ok((platform, &p.token))
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

fn login_info(a: &Account) -> LoginInfo {
    LoginInfo {
        accountid: a.accountid,
        userid: a.userid.clone(),
        pk: a.pk_std(),
        verification: None,
        channel: None,
        proximity: None,
    }
}

/// The server's user verification policy applied to an approval: `required` (always so
/// for a transaction) refuses one whose signed body says the user was not verified.
pub fn check_verification(
    policy: UserVerification,
    verification: Verification,
) -> Result<(), ApiError> {
    if policy == UserVerification::Required && !verification.is_verified() {
        return Err(ApiError::forbidden(
            "user_verification_required",
            "this approval needs the user verified on the phone (PIN or biometric): send \
             verification \"pin\" or \"biometric\" in the signed body after checking it",
        ));
    }
    Ok(())
}

/// Uses an enrolment token for a key (a retry by the same key uses it again), or says why
/// it cannot be used.
async fn use_token(
    deps: &Deps,
    serverid: &ServerId,
    hash: &str,
    by: &TokenUse<'_>,
    now: UnixTime,
) -> Result<crate::enrolment::EnrolToken, ApiError> {
    match deps.accounts.use_enrol_token(serverid, hash, by, now).await {
        Ok(t) => Ok(t),
        Err(StoreError::ConditionFailed) => {
            Err(match deps.accounts.get_enrol_token(serverid, hash).await? {
                None => {
                    ApiError::not_found("unknown enrolment token; ask the website for a new link")
                }
                // The same key's retry after the link's life is told so: that is why.
                Some(t) if t.used.is_some() && t.used_by.as_deref() != Some(by.fingerprint) => {
                    ApiError::conflict(
                        "token_used",
                        "this enrolment link was used already; ask the website for a new one",
                    )
                }
                Some(_) => ApiError::conflict(
                    "token_expired",
                    "this enrolment link has expired (10 minutes); ask the website for a new one",
                ),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /app/v1/enrol`, signed with `account=new` by the key being enrolled (proof of
/// possession): creates the account, its push endpoint, and logs it in to the website
/// session that asked for the link.
pub async fn enrol(
    deps: &Deps,
    call: &SignedCall,
    body: Checked<EnrolRequest>,
) -> Result<Enrolled, ApiError> {
    let now = deps.clock.now();
    call.header.check_time(now)?;
    if call.header.account != AccountRef::New {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "enrolment is signed with account=new",
        ));
    }
    let b = body?;
    signing::decode_public_key("publickey", &b.publickey)?;
    signing::verify(&b.publickey, &call.canonical, &call.header.sig)?;
    let serverid = &call.header.serverid;
    validate_text("description", &b.description, MAX_DESCRIPTION_CHARS)?;
    validate_text("clientversion", &b.clientversion, MAX_CLIENTVERSION_CHARS)?;
    let push = b
        .push
        .as_ref()
        .map(|p| push_target(p, "push"))
        .transpose()?;
    if !enrol::valid_token_shape(&b.token) {
        return Err(ApiError::invalid_field("token", "not an enrolment token"));
    }
    let fingerprint = signing::key_fingerprint(&b.publickey).ok_or(ApiError::Internal)?;
    let token_hash = enrol::token_hash(&b.token);
    // First, four independent requests at once: the replay record, the key's claim (one
    // key, one account per server; the claim names the token, so that the same enrolment
    // sent again holds it still), the server, and an account id (allocated before the
    // token is used so that its id is recorded with the use in one write; a retry's
    // allocation is not used: ids may skip, never repeat).
    let (replay, claim, server, allocated) = tokio::join!(
        not_replayed(deps, call, serverid, "new"),
        deps.accounts
            .claim_public_key(serverid, &fingerprint, &token_hash, now),
        deps.servers.get_server(serverid),
        deps.accounts.allocate_accountid(serverid),
    );
    let claim = match claim {
        Ok(c) => c,
        Err(StoreError::ConditionFailed) => {
            replay?;
            return Err(ApiError::conflict(
                "key_enrolled",
                "this public key is already enrolled on this server; make a new key pair",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    // A refusal that no try of this enrolment can get past (the link unknown, used by
    // another key or expired) gives back a claim this call made. Nothing else does: not a
    // claim an earlier try made (its account may exist), and not on a fault or a replay,
    // where another try of the same enrolment (a retry, or a copy of this request) may be
    // under way and succeed with this claim. A key whose enrolment is abandoned stays
    // claimed on that server (apps make a key pair per enrolment).
    let release = |e: &ApiError| {
        let definite = claim == KeyClaim::New
            && matches!(e, ApiError::NotFound(_) | ApiError::Conflict { .. });
        let fingerprint = &fingerprint;
        async move {
            if !definite {
                return;
            }
            if let Err(e) = deps
                .accounts
                .release_public_key(serverid, fingerprint)
                .await
            {
                tracing::warn!(error = %e, "key claim not released");
            }
        }
    };
    let started = async {
        replay?;
        let server = server?.ok_or_else(|| {
            ApiError::not_found("unknown enrolment token; ask the website for a new link")
        })?;
        let allocated = allocated?;
        let by = TokenUse {
            fingerprint: &fingerprint,
            accountid: allocated,
        };
        let token = use_token(deps, serverid, &token_hash, &by, now).await?;
        Ok::<_, ApiError>((server, allocated, token))
    }
    .await;
    let (server, allocated, token) = match started {
        Ok(started) => started,
        Err(e) => {
            release(&e).await;
            return Err(e);
        }
    };
    let source = match transfer_source(deps, &token).await {
        Ok(source) => source,
        Err(e) => {
            release(&e).await;
            return Err(e);
        }
    };
    // The enrolment is idempotent: the token records the key and the account id of its
    // first use, so the same key retrying it (a fault cut the first try short, or its
    // answer was lost) makes or finds that same account and finishes the rest. The
    // account is written unfinished (in no index, invisible to every read), the website
    // session's login next, and only then is the account finished: an enrolment cut off
    // and never retried leaves nothing a website sees but, at most, that login.
    let accountid = token.accountid.unwrap_or(allocated);
    let made = make_account(deps, &server, &token, accountid, allocated, &b, push, now);
    let (session, account) = tokio::join!(deps.sessions.get_session(&token.hsid), made);
    let account = match account {
        Ok(account) => account,
        Err(e) => {
            release(&e).await;
            return Err(e);
        }
    };
    // The login of the website session that asked for the link is part of the enrolment:
    // if it cannot be written the phone gets the error (503) and retries, and the retry
    // (idempotent: the same account) writes it. A 201 means the session is logged in.
    log_in_enrolling_session(deps, &server, session?, &account).await?;
    let account = finish_enrolment(deps, account).await?;
    tracing::info!(accountid = account.accountid, "account enrolled");
    if let Some(old) = source.filter(|_| token.remove_after) {
        // Moved: the old phone's account goes (its sessions end as for any removal).
        remove_account(deps, &old).await?;
        tracing::info!(
            accountid = old.accountid,
            to = account.accountid,
            "account moved"
        );
    }
    Ok(Enrolled {
        serverid: server.serverid.to_string(),
        servername: server.settings.name.clone(),
        accountid: account.accountid,
        userid: account.userid.clone(),
        push: account.push.is_some(),
    })
}

/// How long an account whose enrolment was cut off waits for a retry to finish it: past
/// the token's life (after which no retry is taken), then it is dropped (TTL).
const UNFINISHED_GRACE_SECONDS: UnixTime = 3_600;

/// Makes the account of an enrolment, unfinished, or finds the one an earlier try of the
/// same enrolment made (`accountid` differs from this call's `allocated` only on a retry).
#[allow(clippy::too_many_arguments)]
async fn make_account(
    deps: &Deps,
    server: &Server,
    token: &crate::enrolment::EnrolToken,
    accountid: u64,
    allocated: u64,
    b: &EnrolRequest,
    push: Option<(Platform, &str)>,
    now: UnixTime,
) -> Result<Account, ApiError> {
    let same_key = |a: Account| {
        if a.publickey == b.publickey {
            Ok(a)
        } else {
            Err(ApiError::Internal)
        }
    };
    // Only a retry looks for the account first: the first enrolment adds no read.
    if accountid != allocated
        && let Some(earlier) = deps
            .accounts
            .get_enrolment_account(&server.serverid, accountid)
            .await?
    {
        return same_key(earlier);
    }
    let endpoint = match push {
        Some((platform, t)) => {
            let user_data = format!("{}/{accountid}", server.serverid);
            endpoint_or_none(deps, platform, t, &user_data).await
        }
        None => None,
    };
    let description = if b.description.is_empty() {
        token.name.clone()
    } else {
        b.description.clone()
    };
    let account = Account {
        serverid: server.serverid.clone(),
        accountid,
        publickey: b.publickey.clone(),
        description,
        clientversion: b.clientversion.clone(),
        userid: token.userid.clone(),
        blocked: false,
        created: now,
        lastlogin: Some(now),
        lastprovoke: None,
        push: endpoint,
        fraud_reports: 0,
        enrolling: Some(token.expires_at.max(now) + UNFINISHED_GRACE_SECONDS),
        version: 1,
    };
    match deps.accounts.create_account(&account).await {
        Ok(()) => Ok(account),
        Err(StoreError::ConditionFailed) => {
            // A concurrent retry of this enrolment made it first: the same account.
            let existing = deps
                .accounts
                .get_enrolment_account(&server.serverid, accountid)
                .await?
                .ok_or(ApiError::Internal)?;
            same_key(existing)
        }
        Err(e) => {
            if let Some(p) = &account.push {
                let _ = deps.push.delete_endpoint(&p.endpoint_arn).await;
            }
            Err(e.into())
        }
    }
}

/// Finishes an enrolment's account once its session login is written: from then on it is
/// listed and the phone may use it. Idempotent (a concurrent retry may finish it first).
async fn finish_enrolment(deps: &Deps, account: Account) -> Result<Account, ApiError> {
    if account.is_finished() {
        return Ok(account);
    }
    let mut done = account.next_version();
    done.enrolling = None;
    match deps.accounts.update_account(&done, account.version).await {
        Ok(()) => Ok(done),
        Err(StoreError::ConditionFailed) => deps
            .accounts
            .get_account(&account.serverid, account.accountid)
            .await?
            .filter(|a| a.publickey == account.publickey)
            .ok_or(ApiError::Unavailable),
        Err(e) => Err(e.into()),
    }
}

/// Logs a newly enrolled account in to the session whose page showed the enrolment link,
/// if that session still waits for a login.
async fn log_in_enrolling_session(
    deps: &Deps,
    server: &Server,
    session: Option<Session>,
    account: &Account,
) -> Result<(), ApiError> {
    let Some(session) = session else {
        return Ok(());
    };
    if session.serverid != server.serverid {
        return Ok(());
    }
    let login = LoginInfo {
        channel: Some(LoginChannel::Enrol),
        ..login_info(account)
    };
    let settings = &server.settings;
    versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| {
            // A retry of an enrolment whose login was recorded: nothing more to write.
            if s.enrolled == Some(login.accountid) {
                return Ok(None);
            }
            // An open attempt is logged in to; a session logged in already (a second
            // device added) keeps its login. Either way the enrolment is noted for the
            // page's enrolment block (ENROLLED).
            let mut next = if s.state_at(now).is_open_attempt() {
                s.approve(login.clone(), settings, now).ok()
            } else {
                None
            }
            .unwrap_or_else(|| s.next_same_state(settings, now));
            next.enrolled = Some(login.accountid);
            Ok(Some(next))
        },
    )
    .await?;
    Ok(())
}

fn unknown_session() -> ApiError {
    ApiError::not_found("no such session; the link may be old")
}

/// The session a phone names, checked against the signing account's server. A phone of
/// another server learns nothing about the session; the website learns (NOACCOUNTS) that
/// this phone has no account for it.
async fn phone_session(
    deps: &Deps,
    signed: &Signed,
    read: Option<Session>,
) -> Result<Session, ApiError> {
    let session = read.ok_or_else(unknown_session)?;
    if session.serverid != signed.server.serverid {
        let settings = match deps.servers.get_server(&session.serverid).await? {
            Some(s) => s.settings,
            None => return Err(unknown_session()),
        };
        let noted =
            versioned::update(
                deps.sessions.as_ref(),
                deps.clock.as_ref(),
                session,
                // Once per attempt: a stranger's GET repeated (or replayed: GETs are not
                // remembered) writes nothing more, so it cannot starve the real phone's approve.
                |s, now| {
                    Ok((s.state_at(now).is_open_attempt()
                        && s.event != Some(SessionEvent::NoAccounts))
                    .then(|| s.noted(SessionEvent::NoAccounts, &settings, now)))
                },
            )
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

/// The rotating code a login link carried (`t` and `m` of its query), passed on by the
/// phone's show call.
#[derive(Debug, Clone, Default)]
pub struct ScannedCode {
    pub t: Option<String>,
    pub m: Option<String>,
}

/// Whether the current attempt of `session` needs a live rotating code from this phone:
/// one whose QR codes rotate, unless it was pushed to this phone (which scans nothing).
fn needs_code(settings: &ServerSettings, session: &Session, accountid: u64, now: UnixTime) -> bool {
    session.rotating(settings)
        && session.state_at(now).is_open_attempt()
        && !session.pushed.contains(&accountid)
}

impl ScannedCode {
    /// `t` and `m`, when given, have their shape, whether or not the attempt needs a code
    /// (400 naming the field otherwise); one without the other is no code.
    fn check_shape(&self) -> Result<(), ApiError> {
        if self.t.as_deref().is_some_and(|t| !links::is_code_step(t)) {
            return Err(ApiError::invalid_field(
                "t",
                "the time step of a rotating QR code: unix seconds",
            ));
        }
        if self.m.as_deref().is_some_and(|m| !links::is_code_mac(m)) {
            return Err(ApiError::invalid_field(
                "m",
                "the MAC of a rotating QR code: 22 base64url characters",
            ));
        }
        Ok(())
    }
}

/// A show call's code against the attempt's key (docs/security.md, "Rotating QR code").
fn check_code(
    signed: &Signed,
    session: &Session,
    code: &ScannedCode,
    now: UnixTime,
) -> Result<(), ApiError> {
    if !needs_code(
        &signed.server.settings,
        session,
        signed.account.accountid,
        now,
    ) {
        return Ok(());
    }
    let Some(key) = QrKey::of(&signed.server, &session.hsid, session.attempt) else {
        return Ok(());
    };
    key.check(&session.hsid, code.t.as_deref(), code.m.as_deref(), now)
        .map_err(|refused| match refused {
            CodeRefused::Missing => ApiError::forbidden(
                "qr_code_required",
                "this login takes only the changing QR code on the website's page: scan the \
                 code there again",
            ),
            CodeRefused::Forged => ApiError::forbidden(
                "bad_qr_code",
                "this is not a QR code of this login: scan the code on the website's page again",
            ),
            CodeRefused::Stale(age) => ApiError::forbidden(
                "stale_qr_code",
                format!(
                    "this QR code is {age} s old, and a login code is taken for {MAX_AGE_SECONDS} s \
                     (it changes every second): scan the code on the website's page again; a \
                     code sent to you by someone else is not yours to scan"
                ),
            ),
        })
}

/// `GET /app/v1/sessions/{hsid}?t=&m=`: what the phone shows; pending becomes scanned.
pub async fn show(
    deps: &Deps,
    call: &SignedCall,
    hsid: Checked<Hsid>,
    code: &ScannedCode,
) -> Result<Shown, ApiError> {
    let (signed, read) = authenticate_on(deps, call, hsid.as_ref().ok()).await?;
    hsid?;
    code.check_shape()?;
    let session = phone_session(deps, &signed, read).await?;
    check_code(&signed, &session, code, deps.clock.now())?;
    let settings = &signed.server.settings;
    let session = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| {
            Ok((s.state_at(now) == SessionState::Pending)
                .then(|| s.scan(settings, now).ok())
                .flatten())
        },
    )
    .await?;
    let now = deps.clock.now();
    let located = |ip: Option<&str>| {
        let geoip = deps.geoip.as_ref()?;
        (settings.proximity != ProximityPolicy::Off)
            .then(|| geoip.locate(ip?))
            .flatten()
    };
    Ok(Shown {
        serverid: signed.server.serverid.to_string(),
        servername: settings.name.clone(),
        logo: settings.logo.clone(),
        announceinfo: session.context.announceinfo.clone(),
        state: session.state_at(now),
        choices: session
            .matching
            .as_ref()
            .filter(|_| session.open_match(now).is_some())
            .map(|m| m.choices.clone()),
        return_urls: settings.return_urls.clone(),
        user_verification: settings.user_verification,
        proximity: (settings.proximity != ProximityPolicy::Off)
            .then(|| proximity_of(&session, call)),
        proximity_required: proximity_enforced(settings, &session, signed.account.accountid),
        browser_location: located(session.context.browserip.as_deref()),
        phone_location: located(call.ip.as_deref()),
    })
}

fn proximity_of(session: &Session, call: &SignedCall) -> Proximity {
    proximity::verdict(session.context.browserip.as_deref(), call.ip.as_deref())
}

/// Whether `require` applies to this login: QR and app-to-app logins; not a push to this
/// account in the current attempt, whose phone is expected to be elsewhere.
fn proximity_enforced(settings: &ServerSettings, session: &Session, accountid: u64) -> bool {
    settings.proximity == ProximityPolicy::Require && !session.pushed.contains(&accountid)
}

/// The proximity policy applied to an approval: with `require`, a phone on another network
/// than the browser is refused (403 `different_network`); nothing is written.
fn check_proximity(
    settings: &ServerSettings,
    session: &Session,
    call: &SignedCall,
    accountid: u64,
) -> Result<(), ApiError> {
    if proximity_enforced(settings, session, accountid)
        && proximity_of(session, call) == Proximity::DifferentNetwork
    {
        return Err(ApiError::forbidden(
            "different_network",
            "this website takes a QR login only from a phone on the same network as the \
             browser; connect the phone to that network (or ask for a push) and try again",
        ));
    }
    Ok(())
}

/// Counts a login (an approval or an in-app login) of the account against `login_limit`
/// per `login_window`: each adds a session to the account, and the account's sessions are
/// what blocking or removing it must reach. 429 `login_rate_limited` past it.
async fn count_login(deps: &Deps, signed: &Signed) -> Result<Window, ApiError> {
    let settings = &signed.server.settings;
    let now = deps.clock.now();
    let window = Window::at(settings.login_window, now);
    let counted = Counted::Logins(signed.account.accountid);
    if limits::take(
        deps,
        &signed.server.serverid,
        counted,
        window,
        settings.login_limit,
    )
    .await?
    {
        return Ok(window);
    }
    let limits = format!(
        "at most {} logins per {} s for an account",
        settings.login_limit, settings.login_window
    );
    Err(limits::refused("login_rate_limited", limits, window, now))
}

/// A login's checks at once: the call is recorded against replay (the same signed request
/// whose effect is not there is a replay: 401) and counted against the account's login
/// limit (429); whichever fails, the count is given back.
async fn fresh_and_counted(
    deps: &Deps,
    call: &SignedCall,
    signed: &Signed,
) -> Result<Window, ApiError> {
    let account = signed.account.accountid.to_string();
    let (fresh, counted) = tokio::join!(
        not_replayed(deps, call, &call.header.serverid, &account),
        count_login(deps, signed),
    );
    if let Err(e) = fresh {
        if let Ok(window) = counted {
            uncount_login(deps, signed, window).await;
        }
        return Err(e);
    }
    counted
}

/// Gives back the count of a login that did not happen.
async fn uncount_login(deps: &Deps, signed: &Signed, window: Window) {
    let counted = Counted::Logins(signed.account.accountid);
    limits::adjust(deps, &signed.server.serverid, counted, window, -1).await;
}

/// Records the login time on the account; a lost race only loses the timestamp.
async fn touch_lastlogin(deps: &Deps, account: Account, now: UnixTime) {
    let accountid = account.accountid;
    if let Err(e) = update_account(deps, account, |a| a.lastlogin = Some(now)).await {
        tracing::warn!(error = %e, accountid, "lastlogin not recorded");
    }
}

/// `POST /app/v1/sessions/{hsid}/approve`: logs the account in; with number matching, a
/// wrong number cancels the attempt (it may be an attacker's login) and counts as a denial.
pub async fn approve(
    deps: &Deps,
    call: &SignedCall,
    hsid: Checked<Hsid>,
    body: Checked<ApproveRequest>,
) -> Result<StateAnswer, ApiError> {
    // Three sequential requests: server, account and session in one read; the replay
    // record and the login count at once; the session's login and the account's
    // lastlogin at once.
    let (signed, read) = verify_call(deps, call, hsid.as_ref().ok()).await?;
    hsid?;
    let b = body?;
    if let Some(u) = &b.userinput {
        validate_text("userinput", u, MAX_USERINPUT_CHARS)?;
    }
    if let Some(m) = &b.match_number
        && !(m.len() == 2 && m.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(ApiError::invalid_field("match", "two digits"));
    }
    let session = phone_session(deps, &signed, read).await?;
    check_verification(signed.server.settings.user_verification, b.verification)?;
    check_proximity(
        &signed.server.settings,
        &session,
        call,
        signed.account.accountid,
    )?;
    let now = deps.clock.now();
    if needs_code(
        &signed.server.settings,
        &session,
        signed.account.accountid,
        now,
    ) && session.state_at(now) == SessionState::Pending
    {
        return Err(ApiError::conflict(
            "not_scanned",
            "this login takes only its changing QR code: open it by scanning the code (show) \
             before approving",
        ));
    }
    let me = signed.account.accountid;
    let logged_in_by_me = |s: &Session, now: UnixTime| {
        s.state_at(now) == SessionState::LoggedIn
            && s.login.as_ref().is_some_and(|l| l.accountid == me)
    };
    // A retry of an approval that was applied (its answer lost), the same signed request
    // or signed anew: the same answer, nothing counted. A request signed anew is still
    // recorded as taken, so that it cannot be replayed later onto a new attempt.
    if logged_in_by_me(&session, deps.clock.now()) {
        taken(deps, call, &signed).await?;
        return Ok(StateAnswer {
            state: SessionState::LoggedIn,
        });
    }
    let counted = fresh_and_counted(deps, call, &signed).await?;
    let settings = &signed.server.settings;
    let login = LoginInfo {
        verification: Some(b.verification),
        channel: Some(if session.pushed.contains(&me) {
            LoginChannel::Push
        } else {
            LoginChannel::Link
        }),
        proximity: (settings.proximity != ProximityPolicy::Off)
            .then(|| proximity_of(&session, call)),
        ..login_info(&signed.account)
    };
    let picked = b.match_number.as_deref();
    let already = std::sync::atomic::AtomicBool::new(false);
    let decide = |s: &Session, now: UnixTime| {
        if logged_in_by_me(s, now) {
            // A concurrent retry of this approval won the race.
            already.store(true, std::sync::atomic::Ordering::Relaxed);
            return Ok(None);
        }
        if let Some(number) = s.open_match(now) {
            match picked {
                None => {
                    return Err(ApiError::invalid_field(
                        "match",
                        "this login needs the number the website shows",
                    ));
                }
                // A wrong pick cancels the attempt: it may be an attacker's login.
                Some(m) if m != number => return Ok(Some(s.cancel(settings, now)?)),
                Some(_) => {}
            }
        }
        let mut next = s.approve(login.clone(), settings, now)?;
        next.userinput = b.userinput.clone();
        Ok(Some(next))
    };
    // What follows a login (the account's lastlogin; a push the user wanted no longer
    // counts against the push limit) is written beside it when the session as read would
    // be logged in; should the login then lose a race (rare: a write between the read and
    // this one that makes it fail), lastlogin records the attempt and the push count is
    // put back.
    let now = deps.clock.now();
    let will_log_in = matches!(
        decide(&session, now),
        Ok(Some(ref next)) if next.state == SessionState::LoggedIn
    );
    let attempt = session.clone();
    let followed = || async {
        tokio::join!(
            touch_lastlogin(deps, signed.account.clone(), deps.clock.now()),
            adjust_for_attempt(deps, &signed.server, &attempt, me, -1),
        );
    };
    let (approved, ()) = tokio::join!(
        versioned::update(
            deps.sessions.as_ref(),
            deps.clock.as_ref(),
            session,
            &decide
        ),
        async {
            if will_log_in {
                followed().await;
            }
        },
    );
    let logged_in = matches!(&approved, Ok(a) if a.state == SessionState::LoggedIn);
    match &approved {
        // The login was written over a newer read (a concurrent change): its attempt's
        // push, not the first read's, is the one given back.
        Ok(a)
            if logged_in
                && will_log_in
                && (a.pushed_at, &a.pushed) != (attempt.pushed_at, &attempt.pushed) =>
        {
            adjust_for_attempt(deps, &signed.server, &attempt, me, 1).await;
            adjust_for_attempt(deps, &signed.server, a, me, -1).await;
        }
        _ if will_log_in && !logged_in => {
            adjust_for_attempt(deps, &signed.server, &attempt, me, 1).await;
        }
        _ => {}
    }
    // A refused approval is no login (a wrong number, which cancels, still counts).
    let after = match approved {
        Ok(_) if already.load(std::sync::atomic::Ordering::Relaxed) => {
            uncount_login(deps, &signed, counted).await;
            if will_log_in {
                // The winner gave the push count back already.
                adjust_for_attempt(deps, &signed.server, &attempt, me, 1).await;
            }
            return Ok(StateAnswer {
                state: SessionState::LoggedIn,
            });
        }
        Ok(after) => after,
        Err(e) => {
            uncount_login(deps, &signed, counted).await;
            return Err(e);
        }
    };
    if after.state == SessionState::Cancelled {
        tracing::warn!(hsid = %after.hsid, accountid = me, "wrong number picked");
        adjust_for_attempt(deps, &signed.server, &after, me, 1).await;
        return Err(ApiError::conflict(
            "wrong_match",
            "that is not the number the website shows; the login was cancelled",
        ));
    }
    tracing::info!(hsid = %after.hsid, accountid = me, "approved");
    if !will_log_in {
        followed().await;
    }
    notify_other_devices(deps, &signed, &after).await;
    Ok(StateAnswer {
        state: SessionState::LoggedIn,
    })
}

/// How long a user's login network is remembered (`login_notify` `new_network`): each login
/// from it starts the time again.
pub const NETWORK_MEMORY_SECONDS: i64 = 90 * 86_400;

/// Setting `login_notify` `push`: a notice to the user's other unblocked devices with a
/// working push endpoint, at most one per device per `push_window`, so that a user sees a
/// login they did not make; `new_network`: the same, only for a login whose browser is on a
/// network the user has not logged in from. Best effort: a failure is logged, the login
/// stands.
async fn notify_other_devices(deps: &Deps, signed: &Signed, session: &Session) {
    let settings = &signed.server.settings;
    let Some(userid) = &signed.account.userid else {
        return;
    };
    let new_network = match settings.login_notify {
        LoginNotify::Off => return,
        LoginNotify::Push => false,
        LoginNotify::NewNetwork => match login_network(deps, signed, userid, session).await {
            Some(NetworkSeen::New) => true,
            _ => return,
        },
    };
    let serverid = &signed.server.serverid;
    let others = match deps.accounts.user_accounts(serverid, userid).await {
        Ok(accounts) => accounts,
        Err(e) => {
            tracing::warn!(error = %e, "login notices not sent");
            return;
        }
    };
    let now = deps.clock.now();
    // The login's own message, as a notice: nothing to pick, and good for an hour.
    let message = PushMessage {
        choices: None,
        expires_in: 3_600,
        notice: true,
        new_network,
        ..login_message(&signed.server, session, now)
    };
    let window = Window::at(settings.push_window, now);
    let sends = others
        .iter()
        .filter(|a| a.accountid != signed.account.accountid && !a.blocked)
        .filter_map(|a| a.push.as_ref().filter(|p| !p.disabled).map(|p| (a, p)))
        .map(|(a, p)| {
            let message = &message;
            async move {
                let counted = Counted::Notices(a.accountid);
                match limits::take(deps, serverid, counted, window, 1).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, accountid = a.accountid, "login notice not counted");
                        return;
                    }
                }
                if let Err(e) = deps.push.publish(&p.endpoint_arn, message).await {
                    tracing::warn!(error = %e, accountid = a.accountid, "login notice not sent");
                }
            }
        });
    futures_util::future::join_all(sends).await;
}

/// Remembers the network of the login's browser for its user and says whether it was
/// known. `None` when it cannot tell: no browser address from the website (the one the
/// server filled in is the website backend's), a server without a secret, or a store
/// failure (logged).
async fn login_network(
    deps: &Deps,
    signed: &Signed,
    userid: &str,
    session: &Session,
) -> Option<NetworkSeen> {
    let network = proximity::network_of(session.context.browserip.as_deref()?)?;
    let digest = signed.server.network_digest(userid, &network)?;
    let now = deps.clock.now();
    let seen = deps
        .push_counters
        .note_network(
            &signed.server.serverid,
            userid,
            &digest,
            now,
            now + NETWORK_MEMORY_SECONDS,
        )
        .await;
    match seen {
        Ok(seen) => Some(seen),
        Err(e) => {
            tracing::warn!(error = %e, "login network not checked");
            None
        }
    }
}

/// `POST /app/v1/sessions/{hsid}/deny`: cancels; a fraud report also counts on the account
/// (past `fraud_block_after` its pushes are blocked).
pub async fn deny(
    deps: &Deps,
    call: &SignedCall,
    hsid: Checked<Hsid>,
    body: Checked<DenyRequest>,
) -> Result<StateAnswer, ApiError> {
    let (signed, taken, read) = authenticate_retry_on(deps, call, hsid.as_ref().ok()).await?;
    let hsid = hsid?;
    let b = body?;
    let fraud = b.reason == DenyReason::Fraud;
    let session = phone_session(deps, &signed, read).await?;
    let cancelled = |s: &Session, now: UnixTime| s.state_at(now) == SessionState::Cancelled;
    // A retry of a denial that was applied: the same answer; a fraud report is counted
    // once, by the call that cancelled.
    if cancelled(&session, deps.clock.now()) {
        return Ok(StateAnswer {
            state: SessionState::Cancelled,
        });
    }
    if taken == Taken::Again {
        return Err(replayed());
    }
    let settings = &signed.server.settings;
    let already = std::sync::atomic::AtomicBool::new(false);
    let after = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| {
            if cancelled(s, now) {
                already.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(None);
            }
            let mut next = s.cancel(settings, now)?;
            if fraud {
                next.event = Some(SessionEvent::Fraud);
            }
            Ok(Some(next))
        },
    )
    .await?;
    if already.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(StateAnswer {
            state: SessionState::Cancelled,
        });
    }
    let me = signed.account.accountid;
    // A denied push counts twice against the rate limit.
    adjust_for_attempt(deps, &signed.server, &after, me, 1).await;
    if fraud {
        tracing::warn!(hsid = %hsid, accountid = me, "fraud reported");
        update_account(deps, signed.account, |a| a.fraud_reports += 1).await?;
    }
    Ok(StateAnswer {
        state: SessionState::Cancelled,
    })
}

/// `POST /app/v1/sessions/{hsid}/logout`: the phone ends a login of its own account.
pub async fn logout(
    deps: &Deps,
    call: &SignedCall,
    hsid: Checked<Hsid>,
) -> Result<StateAnswer, ApiError> {
    let (signed, taken, read) = authenticate_retry_on(deps, call, hsid.as_ref().ok()).await?;
    hsid?;
    let session = read
        .filter(|s| s.serverid == signed.server.serverid)
        .ok_or_else(unknown_session)?;
    let me = signed.account.accountid;
    let now = deps.clock.now();
    if taken == Taken::Again {
        // The same logout again: its answer while nobody is logged in; a replay must not
        // end a later login of this account.
        let later_login = session.state_at(now) == SessionState::LoggedIn
            && session.login.as_ref().is_some_and(|l| l.accountid == me);
        if later_login {
            return Err(replayed());
        }
        return Ok(StateAnswer {
            state: session.state_at(now),
        });
    }
    let settings = &signed.server.settings;
    let after = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| match &s.login {
            Some(l) if s.state_at(now) == SessionState::LoggedIn && l.accountid != me => {
                Err(ApiError::conflict(
                    "not_your_session",
                    "another account is logged in to this session",
                ))
            }
            _ => Ok(s.logout(settings, now)),
        },
    )
    .await?;
    Ok(StateAnswer {
        state: after.state_at(deps.clock.now()),
    })
}

/// `GET /app/v1/sessions?limit=&cursor=`: this account's sessions, newest login first.
pub async fn sessions(
    deps: &Deps,
    call: &SignedCall,
    page: Checked<PageRequest>,
) -> Result<SessionList, ApiError> {
    let signed = authenticate(deps, call).await?;
    let page = page?;
    accounts::session_list(deps, &signed.server, signed.account.accountid, &page).await
}

/// `POST /app/v1/inapp`: a new session, already logged in for this account; the nonce is
/// for the app to hand to its own backend.
pub async fn inapp(
    deps: &Deps,
    call: &SignedCall,
    context: Checked<UserContext>,
) -> Result<InAppLogin, ApiError> {
    let (signed, _) = verify_call(deps, call, None).await?;
    let context = context?;
    let counted = fresh_and_counted(deps, call, &signed).await?;
    let server = &signed.server;
    let settings = &server.settings;
    let now = deps.clock.now();
    let login = LoginInfo {
        channel: Some(LoginChannel::InApp),
        ..login_info(&signed.account)
    };
    // The account's lastlogin beside the new session (should that fail, which takes three
    // nonce collisions or a store fault, lastlogin records the attempt).
    let (created, ()) = tokio::join!(
        create_with_new_nonce(deps, server, |hsid| {
            let pending = Session::new_pending(
                server.serverid.clone(),
                hsid,
                settings,
                context.clone(),
                now,
            );
            Ok(pending.approve(login.clone(), settings, now)?)
        }),
        touch_lastlogin(deps, signed.account.clone(), now),
    );
    let (nonce, session) = match created {
        Ok(created) => created,
        Err(e) => {
            uncount_login(deps, &signed, counted).await;
            return Err(e);
        }
    };
    tracing::info!(hsid = %session.hsid, accountid = signed.account.accountid, "in-app login");
    Ok(InAppLogin {
        nonce: nonce.expose().to_string(),
        hsid: session.hsid.to_string(),
    })
}

/// `GET /app/v1/pushes`: the login requests pushed to this account that it may still
/// answer (setting `push_delivery` `sns_and_pull` or `pull`), from the account's records
/// (one query) and their sessions (read at once); the same content as the push message.
pub async fn pending_pushes(deps: &Deps, call: &SignedCall) -> Result<PendingPushes, ApiError> {
    let signed = authenticate(deps, call).await?;
    let server = &signed.server;
    if server.settings.push_delivery == PushDelivery::Sns {
        // Nothing is kept to fetch; `pull: false` tells the app it may stop asking.
        return Ok(PendingPushes {
            pushes: Vec::new(),
            pull: false,
        });
    }
    let me = signed.account.accountid;
    let now = deps.clock.now();
    let pulls: Vec<PendingPull> = deps
        .push_counters
        .pulls(&server.serverid, me)
        .await?
        .into_iter()
        .filter(|p| p.until > now)
        .collect();
    let sessions =
        futures_util::future::join_all(pulls.iter().map(|p| deps.sessions.get_session(&p.hsid)))
            .await;
    let mut open = Vec::new();
    for (pull, session) in pulls.iter().zip(sessions) {
        let Some(s) = session? else { continue };
        let current = s.serverid == server.serverid
            && s.attempt == pull.attempt
            && s.state_at(now).is_open_attempt()
            && s.pushed.contains(&me);
        if current {
            open.push((pull.pushed_at, login_message(server, &s, now).fcm_data()));
        }
    }
    open.sort_by_key(|p| std::cmp::Reverse(p.0));
    Ok(PendingPushes {
        pushes: open.into_iter().map(|(_, p)| p).collect(),
        pull: true,
    })
}

/// `POST /app/v1/transfer`: moving to a new phone. An enrolled, unblocked account of a user
/// asks for an enrolment link for the same user (single use, [`TRANSFER_LIFETIME_SECONDS`])
/// for the new phone to scan; with `remove_after` this account goes once the new one is
/// enrolled. Counted as a login against `login_limit` (each adds an account).
pub async fn transfer(
    deps: &Deps,
    call: &SignedCall,
    body: Checked<TransferRequest>,
    api_base: &str,
) -> Result<TransferLink, ApiError> {
    let (signed, _) = verify_call(deps, call, None).await?;
    let b = body?;
    let account = &signed.account;
    let Some(userid) = account.userid.clone() else {
        return Err(ApiError::conflict(
            "no_user",
            "this account belongs to no user of the website, so there is nothing to move: \
             enrol the new phone through the website",
        ));
    };
    fresh_and_counted(deps, call, &signed).await?;
    let server = &signed.server;
    let now = deps.clock.now();
    let token = enrol::generate_token();
    let expires_at = now + TRANSFER_LIFETIME_SECONDS;
    let record = crate::enrolment::EnrolToken {
        serverid: server.serverid.clone(),
        token_hash: enrol::token_hash(&token),
        // No website session waits for this enrolment: a session id nobody has.
        hsid: crate::ids::Nonce::generate().hsid(&server.serverid),
        userid: Some(userid.clone()),
        name: account.description.clone(),
        created: now,
        expires_at,
        used: None,
        used_by: None,
        accountid: None,
        transfer_from: Some(account.accountid),
        remove_after: b.remove_after,
        ttl: expires_at + 86_400,
    };
    deps.accounts.put_enrol_token(&record).await?;
    tracing::info!(accountid = account.accountid, "transfer link made");
    Ok(TransferLink {
        link: enrol::enrol_link(
            &server.settings.link_base,
            &server.serverid,
            &token,
            api_base,
        ),
        expires: crate::clock::rfc3339(expires_at),
        userid,
        remove_after: b.remove_after,
    })
}

/// A transfer link's old account, checked again as the new phone enrols: it must still
/// exist, be unblocked and belong to the link's user (a refusal releases the new key).
async fn transfer_source(
    deps: &Deps,
    token: &crate::enrolment::EnrolToken,
) -> Result<Option<Account>, ApiError> {
    let Some(from) = token.transfer_from else {
        return Ok(None);
    };
    let refused = |why: &str| {
        ApiError::conflict(
            "transfer_refused",
            format!("{why}; ask the website to enrol this phone instead"),
        )
    };
    let old = deps
        .accounts
        .get_account(&token.serverid, from)
        .await?
        .ok_or_else(|| refused("the phone that made this link no longer has its account"))?;
    if old.blocked {
        return Err(refused(
            "the website has blocked the account that made this link",
        ));
    }
    if old.userid != token.userid {
        return Err(refused(
            "the account that made this link has moved to another user",
        ));
    }
    Ok(Some(old))
}

/// `PUT /app/v1/push`: a new push token; the old endpoint is deleted.
pub async fn set_push(
    deps: &Deps,
    call: &SignedCall,
    body: Checked<PushRegistration>,
) -> Result<PushAnswer, ApiError> {
    let signed = authenticate(deps, call).await?;
    let b = body?;
    let (platform, token) = push_target(&b, "push")?;
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
    update_account(deps, signed.account, |a| a.push = Some(endpoint.clone())).await?;
    if let Some(o) = old.filter(|o| o.endpoint_arn != arn)
        && let Err(e) = deps.push.delete_endpoint(&o.endpoint_arn).await
    {
        tracing::warn!(error = %e, "old push endpoint not deleted");
    }
    Ok(PushAnswer { push: true })
}

/// `DELETE /app/v1/account`: the phone removes its own account.
pub async fn remove(deps: &Deps, call: &SignedCall) -> Result<Removed, ApiError> {
    let signed = authenticate(deps, call).await?;
    remove_account(deps, &signed.account).await?;
    Ok(Removed { deleted: true })
}
