//! The stream notifier: for each change of a session in the table's DynamoDB stream, the
//! frames for its watchers (through the Management API; gone connections are dropped) and
//! the website events; for each write of an account sweep, its next page. A record that cannot be handled is reported as a batch item failure
//! so that Lambda retries from it, not the whole batch.

use std::collections::HashMap;

use aws_lambda_events::dynamodb::{Event, EventRecord};
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
        .map_err(|e| format!("unreadable image: {e}"))
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

pub async fn handle(
    deps: &Deps,
    conns: &dyn Connections,
    sink: &dyn EventSink,
    event: Event,
) -> DynamoDbEventResponse {
    let now = deps.clock.now();
    let mut resp = DynamoDbEventResponse::default();
    let mut failed_hsids: HashMap<String, ()> = HashMap::new();
    for r in &event.records {
        let hsid = match r.change.keys.get("pk") {
            Some(serde_dynamo::AttributeValue::S(pk)) => pk.clone(),
            _ => String::new(),
        };
        // After a failure, later changes of the same session wait for the retry, so that
        // its watchers see them in order.
        let result = if failed_hsids.contains_key(&hsid) {
            Err("an earlier change of this session failed".to_string())
        } else {
            record(deps, conns, sink, r, now).await
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "stream record failed");
            failed_hsids.insert(hsid, ());
            let mut f = DynamoDbBatchItemFailure::default();
            f.item_identifier = r.change.sequence_number.clone();
            resp.batch_item_failures.push(f);
        }
    }
    resp
}
