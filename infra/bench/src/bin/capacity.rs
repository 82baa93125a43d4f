//! DynamoDB requests and consumed capacity per operation and per whole login
//! (docs/performance.md, "Consumed capacity"): the tests' stack over a fresh dynalite table,
//! its DynamoDB client asking for `ReturnConsumedCapacity: TOTAL` on every item operation and
//! adding up what dynalite answers. The flows are those of tests/tests/round_trips.rs: an
//! enrolment, a QR login step by step, a push login, an in-app login.
//!
//! dynalite computes the units of the base table from the real item sizes (4 KB per read
//! unit, half for an eventually consistent read; 1 KB per write unit), as DynamoDB does, but
//! leaves out what index writes cost: the figures are the table's own units, and the index
//! units are added in docs/performance.md from the table's index projections.
//!
//! Exits non-zero when a step fails or dynalite is not there. Run through
//! `infra/scripts/with-services.sh` (`make bench`).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use nsauth::store::{DynamoStore, TableSpec};
use nsauth_tests::{Stack, hsid_of, new_nonce};
use reqwest::Method;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The operations that take `ReturnConsumedCapacity`, and whether they read.
fn kind(operation: &str) -> Option<bool> {
    match operation {
        "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems" => Some(true),
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems" => {
            Some(false)
        }
        _ => None,
    }
}

/// The operation of a DynamoDB request from its `X-Amz-Target`
/// (`DynamoDB_20120810.GetItem`).
fn operation(target: Option<&str>) -> Option<&str> {
    target?.split('.').nth(1)
}

/// What the requests since the last [`Tally::take`] consumed.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Units {
    requests: usize,
    read: f64,
    write: f64,
    /// Answers without a figure (an error answer, e.g. a condition that failed).
    unknown: usize,
}

impl std::ops::AddAssign for Units {
    fn add_assign(&mut self, o: Units) {
        self.requests += o.requests;
        self.read += o.read;
        self.write += o.write;
        self.unknown += o.unknown;
    }
}

#[derive(Debug, Default, Clone)]
struct Tally(Arc<Mutex<Units>>);

impl Tally {
    fn take(&self) -> Units {
        std::mem::take(&mut *self.0.lock().expect("tally"))
    }
}

/// `ConsumedCapacity` of an answer: one object, or one per table (batch operations).
fn capacity_units(body: &[u8]) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let units = |c: &serde_json::Value| c["CapacityUnits"].as_f64();
    match &v["ConsumedCapacity"] {
        serde_json::Value::Array(list) => list.iter().map(units).sum(),
        c @ serde_json::Value::Object(_) => units(c),
        _ => None,
    }
}

impl Intercept for Tally {
    fn name(&self) -> &'static str {
        "ConsumedCapacityTally"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if operation(request.headers().get("x-amz-target"))
            .and_then(kind)
            .is_none()
        {
            return Ok(());
        }
        let Some(body) = request.body().bytes() else {
            return Ok(());
        };
        let mut json: serde_json::Value = serde_json::from_slice(body)?;
        json["ReturnConsumedCapacity"] = "TOTAL".into();
        let body = serde_json::to_vec(&json)?;
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *request.body_mut() = SdkBody::from(body);
        Ok(())
    }

    /// Each attempt's answer (DynamoDB bills a retried attempt too).
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The request is gone (sent) by now: the answer's type tells the operation.
        let reads = match context.output_or_error() {
            Ok(o) => {
                use aws_sdk_dynamodb::operation::*;
                let read = o.downcast_ref::<get_item::GetItemOutput>().is_some()
                    || o.downcast_ref::<batch_get_item::BatchGetItemOutput>()
                        .is_some()
                    || o.downcast_ref::<query::QueryOutput>().is_some()
                    || o.downcast_ref::<scan::ScanOutput>().is_some();
                let write = o.downcast_ref::<put_item::PutItemOutput>().is_some()
                    || o.downcast_ref::<update_item::UpdateItemOutput>().is_some()
                    || o.downcast_ref::<delete_item::DeleteItemOutput>().is_some()
                    || o.downcast_ref::<batch_write_item::BatchWriteItemOutput>()
                        .is_some();
                if !read && !write {
                    return Ok(());
                }
                read
            }
            // An error answer: no figure, counted as unknown below.
            Err(_) => false,
        };
        let units = context.response().body().bytes().and_then(capacity_units);
        let mut tally = self.0.lock().expect("tally");
        tally.requests += 1;
        match units {
            Some(u) if reads => tally.read += u,
            Some(u) => tally.write += u,
            None => tally.unknown += 1,
        }
        Ok(())
    }
}

async fn stack(tally: &Tally) -> Result<Stack, String> {
    let Some(url) = nsauth_tests::dynalite() else {
        return Err(
            "dynalite is not running: run through infra/scripts/with-services.sh (`make bench`)"
                .into(),
        );
    };
    let client = aws_sdk_dynamodb::Client::from_conf(
        nsauth_tests::dynamo_config(&url)
            .interceptor(tally.clone())
            .build(),
    );
    let table = nsauth_tests::unique_name("nsauth-capacity");
    TableSpec::create(&client, &table, false, false)
        .await
        .map_err(|e| format!("creating table {table} on dynalite {url}: {e}"))?;
    Ok(Stack::over(Arc::new(DynamoStore::new(client, table))).await)
}

struct Report {
    tally: Tally,
    rows: Vec<(String, Units)>,
}

impl Report {
    /// Records what the step since the last one consumed; an answer without a figure is an
    /// error the flow did not expect.
    fn step(&mut self, name: &str) -> Result<Units, String> {
        let u = self.tally.take();
        if u.requests == 0 {
            return Err(format!("{name}: no DynamoDB request was counted"));
        }
        if u.unknown > 0 {
            return Err(format!(
                "{name}: {} of {} requests answered without consumed capacity (an error?)",
                u.unknown, u.requests
            ));
        }
        self.rows.push((name.to_string(), u));
        Ok(u)
    }

    fn whole(&mut self, name: &str, parts: &[Units]) {
        let mut sum = Units::default();
        for p in parts {
            sum += *p;
        }
        self.rows.push((name.to_string(), sum));
    }
}

async fn run() -> Result<Report, String> {
    let tally = Tally::default();
    let stack = stack(&tally).await?;
    let mut r = Report {
        tally: tally.clone(),
        rows: Vec::new(),
    };
    let e = |what: &str| {
        let what = what.to_string();
        move |e: nsauth_authenticator::Error| format!("{what}: {e}")
    };

    let link = stack.enrol_link(&new_nonce(), "?userid=capacity").await;
    let mut phone = stack.phone();
    tally.take();
    phone
        .enrol(&link, "Phone", None)
        .await
        .map_err(e("enrol"))?;
    r.step("phone: enrol")?;

    let (status, v) = stack.call(Method::POST, "/sessions", None, None).await;
    let (Some(nonce), Some(url), 201) = (v["nonce"].as_str(), v["loginurl"].as_str(), status)
    else {
        return Err(format!("createSession answered {status}: {v}"));
    };
    let (nonce, url) = (nonce.to_string(), url.to_string());
    let create = r.step("createSession")?;
    stack.status(&nonce).await;
    let poll = r.step("getSession (a poll)")?;
    phone.show(&url).await.map_err(e("show"))?;
    let show = r.step("phone: show")?;
    phone
        .approve(&url, None, None)
        .await
        .map_err(e("approve"))?;
    let approve = r.step("phone: approve")?;
    let st = stack.status(&nonce).await;
    if st["state"] != "loggedin" {
        return Err(format!("getSession after the approval answered {st}"));
    }
    let last = r.step("getSession (logged in)")?;
    r.whole("a whole QR login", &[create, poll, show, approve, last]);

    let (push_phone, _, n) = stack.phone_with_push("pushed", "device-token").await;
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    tally.take();
    let (status, v) = stack
        .call(Method::POST, "/sessions/provokelogin", Some(&n), None)
        .await;
    if status != 200 {
        return Err(format!("provokeLogin answered {status}: {v}"));
    }
    let provoke = r.step("provokeLogin")?;
    let link = format!("nsauth://login/{}/{}", stack.serverid, hsid_of(&stack, &n));
    push_phone
        .approve(&link, v["match"].as_str(), None)
        .await
        .map_err(e("approve of a push"))?;
    let push_approve = r.step("phone: approve of a push")?;
    let st = stack.status(&n).await;
    if st["state"] != "loggedin" {
        return Err(format!("getSession after the push approval answered {st}"));
    }
    let last = r.step("getSession (logged in)")?;
    r.whole("a whole push login", &[provoke, push_approve, last]);

    let nonce = push_phone
        .inapp(&stack.serverid.to_string(), None)
        .await
        .map_err(e("in-app login"))?;
    let inapp = r.step("phone: in-app login")?;
    let st = stack.status(&nonce).await;
    if st["state"] != "loggedin" {
        return Err(format!("getSession after the in-app login answered {st}"));
    }
    let last = r.step("getSession (logged in)")?;
    r.whole("a whole in-app login", &[inapp, last]);
    let _ = std::fs::remove_file(phone.path());
    let _ = std::fs::remove_file(push_phone.path());
    Ok(r)
}

#[tokio::main]
async fn main() {
    match run().await {
        Ok(r) => {
            println!("DynamoDB requests and consumed capacity (dynalite: base table units)");
            println!(
                "{:<28} {:>8} {:>10} {:>11}",
                "operation", "requests", "read units", "write units"
            );
            for (name, u) in &r.rows {
                println!(
                    "{name:<28} {:>8} {:>10.1} {:>11.1}",
                    u.requests, u.read, u.write
                );
            }
        }
        Err(e) => {
            eprintln!("capacity: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_of_one_table_or_a_batch() {
        let one = br#"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":1.5}}"#;
        assert_eq!(capacity_units(one), Some(1.5));
        let batch = br#"{"ConsumedCapacity":[{"CapacityUnits":1},{"CapacityUnits":2}]}"#;
        assert_eq!(capacity_units(batch), Some(3.0));
        assert_eq!(capacity_units(br#"{"Item":{}}"#), None);
        assert_eq!(capacity_units(b"not json"), None);
    }

    #[test]
    fn only_item_operations_are_counted() {
        assert_eq!(kind("BatchGetItem"), Some(true));
        assert_eq!(kind("UpdateItem"), Some(false));
        assert_eq!(kind("CreateTable"), None);
        assert_eq!(kind("DescribeTable"), None);
    }
}
