//! Transaction signing (v2.2 createTransaction, getTransactionResult) and the phone's side
//! of it: show, approve with a signature over the exact signed text, decline.

use serde::Serialize;

use crate::apikey::Permission;
use crate::clock::rfc3339;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::ids::b64url;
use crate::links;
use crate::push::PushMessage;
use crate::server::Server;
use crate::service::Checked;
use crate::service::limits;
use crate::service::phone::{
    Signed, SignedCall, Taken, authenticate, authenticate_retry, check_verification, replayed,
};
use crate::service::push::{deliver, push_window, unpushable};
use crate::service::versioned;
use crate::service::website::{self, SessionCall, WebsiteCall};
use crate::session::{Session, SessionState};
use crate::settings::PushDelivery;
use crate::signing;
use crate::store::Counted;
use crate::transaction::{
    Proof, Transaction, TransactionAnswer, TransactionApproval, TransactionContent, TransactionId,
    TransactionShown, TransactionState,
};
use crate::wire::{UserVerification, Verification};

/// The answer of createTransaction: v2.2's `tid`, and what a page needs to show it.
#[derive(Debug, Serialize)]
pub struct Created {
    pub tid: String,
    /// base64 of the transaction link's bytes (for a QR code), as `loginqrdata`.
    pub txqrdata: String,
    pub txlink: String,
    pub expires: String,
    /// 1 when a push went to the account's phone.
    pub pushed: usize,
}

/// The answer of getTransactionResult: v2.2's `tstatus` (a string: "0" new, "1" approved,
/// "2" declined or expired) and, once approved, the proof: the account, its key, the exact
/// signed text and the signature.
#[derive(Debug, Serialize)]
pub struct TransactionResult {
    pub tstatus: &'static str,
    pub state: TransactionState,
    pub tid: String,
    pub hsid: String,
    pub amount: String,
    pub benificiary: String,
    pub description: String,
    pub created: String,
    pub expires: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accountid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// base64 (standard) SPKI of the account key that signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
    /// base64url of `r || s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// How the phone verified its user before signing (`pin` or `biometric`); our addition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

fn not_logged_in() -> ApiError {
    ApiError::forbidden(
        "not_logged_in",
        "no account is logged in to this session: a transaction is signed by the logged-in account",
    )
}

fn unknown_transaction() -> ApiError {
    ApiError::not_found("no such transaction on this server")
}

/// createTransaction: a transaction for the account logged in to the session, pushed to
/// its phone when it can be pushed (within its push limit).
pub async fn create(
    deps: &Deps,
    call: &SessionCall,
    content: Checked<TransactionContent>,
) -> Result<Created, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let content = content?;
    content.validate()?;
    let now = deps.clock.now();
    let session = ws
        .session
        .clone()
        .filter(|s| s.state_at(now) == SessionState::LoggedIn)
        .ok_or_else(not_logged_in)?;
    let server = &ws.server;
    let tid = TransactionId::generate(&session.hsid);
    let session = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| {
            let accountid = s
                .login
                .as_ref()
                .filter(|_| s.state_at(now) == SessionState::LoggedIn)
                .map(|l| l.accountid)
                .ok_or_else(not_logged_in)?;
            let tx = Transaction::new(tid.clone(), &content, server, s, accountid, now);
            Ok(Some(
                s.with_transaction(tx, &server.settings, now)
                    .map_err(|_| not_logged_in())?,
            ))
        },
    )
    .await?;
    let tx = session.transaction(&tid).ok_or(ApiError::Internal)?.clone();
    let pushed = push_transaction(deps, server, &session, &tx).await;
    let link = links::transaction_link(&server.settings.link_base, &server.serverid, tid.as_str());
    tracing::info!(hsid = %session.hsid, pushed, "transaction created");
    Ok(Created {
        tid: tid.to_string(),
        txqrdata: links::login_qr_data(&link),
        txlink: link,
        expires: rfc3339(tx.expires_at),
        pushed,
    })
}

/// Pushes a new transaction to its account's phone, counted against the account's push
/// limit; best effort (the page can show the QR code): 1 when it went out.
async fn push_transaction(
    deps: &Deps,
    server: &Server,
    session: &Session,
    tx: &Transaction,
) -> usize {
    let settings = &server.settings;
    let account = match deps
        .accounts
        .get_account(&server.serverid, tx.accountid)
        .await
    {
        Ok(Some(a)) => a,
        _ => return 0,
    };
    if unpushable(&account, settings).is_some() {
        return 0;
    }
    // A transaction's push goes through SNS only (with pull delivery alone, none): the
    // page shows the transaction link for the phone to open.
    let Some(endpoint) = account
        .push
        .clone()
        .filter(|p| !p.disabled && settings.push_delivery != PushDelivery::Pull)
    else {
        return 0;
    };
    let now = deps.clock.now();
    let window = push_window(settings, now);
    let counted = Counted::Account(account.accountid);
    match limits::take(deps, &server.serverid, counted, window, settings.push_limit).await {
        Ok(true) => {}
        _ => return 0,
    }
    let message = PushMessage {
        notice: false,
        new_network: false,
        serverid: server.serverid.to_string(),
        hsid: session.hsid.to_string(),
        servername: settings.name.clone(),
        announceinfo: Default::default(),
        choices: None,
        expires_in: tx.expires_at - now,
        tid: Some(tx.tid.to_string()),
    };
    match deliver(deps, (&account, &endpoint), &message, window, now, false).await {
        Ok(()) => 1,
        Err(_) => 0,
    }
}

/// The session of a transaction id, if it is this server's and holds the transaction.
async fn find(
    deps: &Deps,
    server: &Server,
    tid: &TransactionId,
) -> Result<(Session, Transaction), ApiError> {
    let session = deps
        .sessions
        .get_session(&tid.hsid())
        .await?
        .filter(|s| s.serverid == server.serverid)
        .ok_or_else(unknown_transaction)?;
    let tx = session
        .transaction(tid)
        .cloned()
        .ok_or_else(unknown_transaction)?;
    Ok((session, tx))
}

/// getTransactionResult.
pub async fn result(
    deps: &Deps,
    call: &WebsiteCall,
    tid: Checked<TransactionId>,
) -> Result<TransactionResult, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Sessions])
        .await?
        .server;
    let tid = tid?;
    let (session, tx) = find(deps, &server, &tid).await?;
    let state = tx.state_at(&session, deps.clock.now());
    let content = tx.content();
    let mut answer = TransactionResult {
        tstatus: state.tstatus(),
        state,
        tid: tid.to_string(),
        hsid: session.hsid.to_string(),
        amount: content.amount,
        benificiary: content.benificiary,
        description: content.description,
        created: rfc3339(tx.created),
        expires: rfc3339(tx.expires_at),
        accountid: None,
        userid: None,
        pk: None,
        signed: None,
        signature: None,
        verification: None,
    };
    if state == TransactionState::Approved {
        // The account may have gone since; the proof stands on the key it signed with,
        // kept in the session's login record of that time when the account is gone.
        let account = deps
            .accounts
            .get_account(&server.serverid, tx.accountid)
            .await?;
        answer.accountid = Some(tx.accountid);
        answer.userid = account.as_ref().and_then(|a| a.userid.clone());
        answer.pk = tx.pk.clone().or_else(|| account.map(|a| a.pk_std()));
        answer.signed = Some(tx.signed.clone());
        answer.signature = tx.signature.clone();
        answer.verification = tx.verification;
    }
    Ok(answer)
}

/// The transaction a phone names, if its account is the one that must sign it (403
/// otherwise: only the logged-in account signs, as v2.2 has it).
async fn phone_transaction(
    deps: &Deps,
    signed: &Signed,
    tid: &TransactionId,
) -> Result<(Session, Transaction), ApiError> {
    let (session, tx) = find(deps, &signed.server, tid).await?;
    if tx.accountid != signed.account.accountid {
        return Err(ApiError::forbidden(
            "not_your_transaction",
            "this transaction is for another account to sign",
        ));
    }
    Ok((session, tx))
}

/// `GET /app/v1/transactions/{tid}`: what the phone shows, and the text to sign.
pub async fn show(
    deps: &Deps,
    call: &SignedCall,
    tid: Checked<TransactionId>,
) -> Result<TransactionShown, ApiError> {
    let signed = authenticate(deps, call).await?;
    let tid = tid?;
    let (session, tx) = phone_transaction(deps, &signed, &tid).await?;
    let content = tx.content();
    let settings = &signed.server.settings;
    Ok(TransactionShown {
        serverid: signed.server.serverid.to_string(),
        servername: settings.name.clone(),
        logo: settings.logo.clone(),
        tid: tid.to_string(),
        amount: content.amount,
        benificiary: content.benificiary,
        description: content.description,
        state: tx.state_at(&session, deps.clock.now()),
        signed: tx.signed.clone(),
        expires: rfc3339(tx.expires_at),
    })
}

fn closed(state: TransactionState) -> ApiError {
    ApiError::conflict(
        "transaction_closed",
        format!(
            "the transaction is {}; it can no longer be answered",
            state.as_str()
        ),
    )
}

/// The phone's answer: approve (with its proof) or decline. One conditional write of the
/// session; the same approval again answers the same (a retry after a lost answer).
async fn answer(
    deps: &Deps,
    signed: &Signed,
    taken: Taken,
    tid: &TransactionId,
    proof: Option<Proof>,
) -> Result<TransactionAnswer, ApiError> {
    let (session, tx) = phone_transaction(deps, signed, tid).await?;
    let settings = &signed.server.settings;
    let wanted = if proof.is_some() {
        TransactionState::Approved
    } else {
        TransactionState::Declined
    };
    let signature = proof.as_ref().map(|p| p.signature.clone());
    // The same signed answer again: the first one's answer when it was applied, a replay
    // otherwise.
    if taken == Taken::Again {
        let now = deps.clock.now();
        return if tx.state_at(&session, now) == wanted && tx.signature == signature {
            Ok(TransactionAnswer { state: wanted })
        } else {
            Err(replayed())
        };
    }
    let session = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| {
            let tx = s.transaction(tid).ok_or_else(unknown_transaction)?;
            match tx.state_at(s, now) {
                TransactionState::New => {
                    Ok(s.answered_transaction(tid, wanted, proof.as_ref(), settings, now))
                }
                state if state == wanted && tx.signature == signature => Ok(None),
                state => Err(closed(state)),
            }
        },
    )
    .await?;
    let state = session
        .transaction(tid)
        .map(|t| t.state_at(&session, deps.clock.now()))
        .ok_or(ApiError::Internal)?;
    tracing::info!(hsid = %session.hsid, state = state.as_str(), "transaction answered");
    Ok(TransactionAnswer { state })
}

/// `POST /app/v1/transactions/{tid}/approve`: the signature must verify over the signed
/// text with the account's key (400 otherwise, nothing written).
pub async fn approve(
    deps: &Deps,
    call: &SignedCall,
    tid: Checked<TransactionId>,
    approval: Checked<TransactionApproval>,
) -> Result<TransactionAnswer, ApiError> {
    let (signed, taken) = authenticate_retry(deps, call).await?;
    let tid = tid?;
    let approval = approval?;
    let (session, tx) = phone_transaction(deps, &signed, &tid).await?;
    let bad = || {
        ApiError::bad_request(
            "bad_transaction_signature",
            "signature: must be base64url of r || s (64 bytes), ECDSA P-256 with SHA-256 over \
             the exact `signed` text of the transaction, by this account's key",
        )
    };
    let raw = crate::ids::b64url_decode(&approval.signature).ok_or_else(bad)?;
    let sig: [u8; 64] = raw.try_into().map_err(|_| bad())?;
    signing::verify(&signed.account.publickey, tx.signed.as_bytes(), &sig).map_err(|_| bad())?;
    // Signing a payment always needs the user, not only the phone. (A transaction that can
    // no longer be answered says so first.)
    if tx.state_at(&session, deps.clock.now()) == TransactionState::New {
        check_verification(UserVerification::Required, approval.verification)?;
    }
    let proof = Proof {
        signature: b64url(&sig),
        pk: signed.account.pk_std(),
        verification: approval.verification,
    };
    answer(deps, &signed, taken, &tid, Some(proof)).await
}

/// `POST /app/v1/transactions/{tid}/decline`.
pub async fn decline(
    deps: &Deps,
    call: &SignedCall,
    tid: Checked<TransactionId>,
) -> Result<TransactionAnswer, ApiError> {
    let (signed, taken) = authenticate_retry(deps, call).await?;
    let tid = tid?;
    answer(deps, &signed, taken, &tid, None).await
}
