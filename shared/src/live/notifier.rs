//! The stream notifier: for each change of a session in the table's DynamoDB stream, the
//! frames for its watchers (through the Management API; gone connections are dropped) and
//! the website events; for each write of an account sweep, its next page.
//!
//! A record that cannot be handled (its JSON is not a stream record, its image is not a
//! session, or handling it fails or panics) is reported alone as a batch item failure, by
//! its sequence number, while the batch's other records are handled: Lambda retries from
//! it and, after `MaximumRetryAttempts`, sends the batch's metadata (shard, sequence
//! numbers) to the on-failure queue (template.yaml `NotifierFailureQueue`; what to do with
//! it is in docs/operations.md).

use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::account::AccountSweep;
use crate::clock::UnixTime;
use crate::deps::Deps;
use crate::live::connections::{Connections, PostError};
use crate::live::events::{self, EventSink};
use crate::live::frames;
use crate::service::{live, sweeps};
use crate::session::Session;

fn has_prefix(record: &EventRecord, prefix: &str) -> bool {
    matches!(
        record.change.keys.get("pk"),
        Some(serde_dynamo::AttributeValue::S(pk)) if pk.starts_with(prefix)
    )
}

fn image<T: serde::de::DeserializeOwned>(item: &serde_dynamo::Item) -> Result<Option<T>, String> {
    if item.is_empty() {
        return Ok(None);
    }
    serde_dynamo::from_item(item.clone())
        .map(Some)
        .map_err(|e| format!("unreadable image: {}", redacted(&e.to_string())))
}

/// A decoding error without the values it quotes (an image holds a login's data): serde
/// quotes an unexpected string as `string "…"`; field, variant and type names stay.
fn redacted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut quoted = false;
    for c in msg.chars() {
        if c == '"' {
            out.push_str(if quoted { "…\"" } else { "\"" });
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// Polls a record's handling and turns a panic in it into an `Err`, so that one record's
/// bug fails that record, not the batch (the runtime would fail the whole invocation).
struct CatchPanic<F>(F);

impl<F: Future<Output = Result<(), String>> + Unpin> Future for CatchPanic<F> {
    type Output = Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(poll) => poll,
            Err(_) => Poll::Ready(Err("panicked while handling the record".to_string())),
        }
    }
}

/// Posts the frames a change of a session produces to the connections watching it; a
/// connection that is gone stops watching. `Err` only when the watchers cannot be read: one
/// connection's trouble does not hold back the others. The local stack's WebSocket endpoint
/// runs this too, on its store's change stream.
pub async fn tell_watchers(
    deps: &Deps,
    conns: &dyn Connections,
    old: Option<&Session>,
    new: &Session,
    now: UnixTime,
) -> Result<(), String> {
    let out = frames::for_change(old, new, now);
    if out.is_empty() {
        return Ok(());
    }
    let watchers = live::watchers(deps, &new.hsid)
        .await
        .map_err(|e| e.to_string())?;
    for conn in watchers {
        for f in &out {
            match conns.post(&conn, &f.text(&new.hsid, &new.serverid)).await {
                Ok(()) => {}
                Err(PostError::Gone) => {
                    tracing::info!("connection gone; dropped");
                    live::gone(deps, &conn, &new.hsid).await;
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "frame not delivered"),
            }
        }
    }
    Ok(())
}

/// Handles one record; `Err` means "retry this record".
async fn record(
    deps: &Deps,
    conns: &dyn Connections,
    sink: &dyn EventSink,
    r: &EventRecord,
    now: UnixTime,
) -> Result<(), String> {
    if has_prefix(r, "SWEEP#") {
        // A pass over an account's sessions was stored (or advanced): its next page. Its
        // own write of the next page's start wakes this function again.
        if let Some(sweep) = image::<AccountSweep>(&r.change.new_image)? {
            sweeps::step(deps, &sweep)
                .await
                .map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    if !has_prefix(r, "SESSION#") {
        return Ok(());
    }
    let old: Option<Session> = image(&r.change.old_image)?;
    let Some(new) = image::<Session>(&r.change.new_image)? else {
        return Ok(()); // removed (TTL): nobody is told
    };
    tell_watchers(deps, conns, old.as_ref(), &new, now).await?;
    for ev in events::for_change(old.as_ref(), &new, now) {
        sink.publish(new.serverid.as_str(), &ev).await?;
    }
    Ok(())
}

/// The `notifier` function's handler. It takes the invocation's JSON as it came and decodes
/// each record on its own, so that a record that does not decode is one failed record, not
/// a batch the runtime refuses whole. A record without a sequence number cannot be named:
/// it is reported with none, which Lambda takes as a failure of the whole batch (bisected
/// on retry, so that it ends up alone). Likewise a payload without a `Records` list.
pub async fn handle(
    deps: &Deps,
    conns: &dyn Connections,
    sink: &dyn EventSink,
    mut event: serde_json::Value,
) -> DynamoDbEventResponse {
    let now = deps.clock.now();
    let mut resp = DynamoDbEventResponse::default();
    let fail = |resp: &mut DynamoDbEventResponse, sequence_number: Option<String>| {
        let mut f = DynamoDbBatchItemFailure::default();
        f.item_identifier = sequence_number;
        resp.batch_item_failures.push(f);
    };
    let records = match event.get_mut("Records").map(serde_json::Value::take) {
        Some(serde_json::Value::Array(records)) => records,
        _ => {
            tracing::error!("stream event without a Records list; the batch fails");
            fail(&mut resp, None);
            return resp;
        }
    };
    // Keys of the sessions (and sweeps) with a failed change in this batch.
    let mut failed_keys: HashSet<String> = HashSet::new();
    for raw in records {
        let field = |pointer: &str| {
            raw.pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        let sequence_number = field("/dynamodb/SequenceNumber");
        let key = field("/dynamodb/Keys/pk/S");
        let event_id = field("/eventID").unwrap_or_default();
        let seq = sequence_number.as_deref().unwrap_or("");
        let pk = key.as_deref().unwrap_or("");
        // After a failure, later changes of the same session wait for the retry, so that
        // its watchers see them in order. They are not reported: Lambda resumes from the
        // lowest reported sequence number, which is before them.
        if key.as_ref().is_some_and(|k| failed_keys.contains(k)) {
            tracing::warn!(
                sequence_number = seq,
                event_id,
                key = pk,
                "stream record held back behind a failed change of the same item"
            );
            continue;
        }
        let result = match serde_json::from_value::<EventRecord>(raw) {
            Err(e) => Err(format!("not a stream record: {}", redacted(&e.to_string()))),
            Ok(r) => CatchPanic(Box::pin(record(deps, conns, sink, &r, now))).await,
        };
        if let Err(e) = result {
            tracing::error!(
                sequence_number = seq,
                event_id,
                key = pk,
                error = %e,
                "stream record failed"
            );
            if let Some(k) = key {
                failed_keys.insert(k);
            }
            fail(&mut resp, sequence_number);
        }
    }
    resp
}
