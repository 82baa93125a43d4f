//! Attributes, as the v2.2 management API has them: a JSON object of named values, kept
//! globally, per server, privileged per server (never shown to the app or to a key with
//! only `sessions`), and per user of a server. Set replaces the whole object, update
//! merges into it, delete removes one name or all.
//!
//! Limits (docs/integration.md, "Management"): at most [`MAX_ATTRIBUTES`] names per scope,
//! a name of 1 to [`MAX_NAME_LEN`] characters of `[A-Za-z0-9_.:-]`, a value that is a
//! string, number or boolean of at most [`MAX_VALUE_BYTES`] bytes as JSON, and at most
//! [`MAX_TOTAL_BYTES`] for the whole object. A bad name or value is 400; over the count or
//! the total is 413 `attributes_too_large`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::ids::ServerId;

pub const MAX_ATTRIBUTES: usize = 100;
pub const MAX_NAME_LEN: usize = 64;
pub const MAX_VALUE_BYTES: usize = 1024;
pub const MAX_TOTAL_BYTES: usize = 16 * 1024;

/// Where a set of attributes belongs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttributeScope {
    Global,
    Server(ServerId),
    Privileged(ServerId),
    User(ServerId, String),
}

/// A scope's attributes and the version of their item (the condition of the next write).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attributes {
    pub values: BTreeMap<String, Value>,
    #[serde(default)]
    pub version: u64,
}

/// What a call asks of a scope's attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeChange {
    /// setXAttributes: these and no others.
    Set(BTreeMap<String, Value>),
    /// updateXAttributes: these added or replaced, the others kept.
    Update(BTreeMap<String, Value>),
    /// deleteXAttribute: one name removed.
    Remove(String),
}

/// A request body's attributes: a JSON object whose names and values are within the limits.
pub fn parse_body(body: &[u8]) -> Result<BTreeMap<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body must be a JSON object of attributes: {e}"),
        )
    })?;
    let Value::Object(map) = v else {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the body must be a JSON object of attributes",
        ));
    };
    let mut out = BTreeMap::new();
    for (name, value) in map {
        validate_name(&name).map_err(|_| {
            ApiError::invalid_field(
                "attributes",
                format!(
                    "{name:?} is not an attribute name: 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . : -"
                ),
            )
        })?;
        validate_value(&name, &value)?;
        out.insert(name, value);
    }
    check_size(&out)?;
    Ok(out)
}

/// An attribute's name from a path or a body.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_.:-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "attributekey",
            format!("an attribute name is 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . : -"),
        ))
    }
}

fn validate_value(name: &str, value: &Value) -> Result<(), ApiError> {
    if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
        return Err(ApiError::invalid_field(
            name,
            "an attribute's value is a string, a number or a boolean",
        ));
    }
    if value.to_string().len() > MAX_VALUE_BYTES {
        return Err(ApiError::invalid_field(
            name,
            format!("an attribute's value is at most {MAX_VALUE_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_size(values: &BTreeMap<String, Value>) -> Result<(), ApiError> {
    if values.len() > MAX_ATTRIBUTES {
        return Err(too_large(format!(
            "at most {MAX_ATTRIBUTES} attributes are kept per scope"
        )));
    }
    let total: usize = values
        .iter()
        .map(|(k, v)| k.len() + v.to_string().len())
        .sum();
    if total > MAX_TOTAL_BYTES {
        return Err(too_large(format!(
            "a scope's attributes are at most {MAX_TOTAL_BYTES} bytes of names and values"
        )));
    }
    Ok(())
}

fn too_large(message: String) -> ApiError {
    ApiError::TooLarge {
        code: "attributes_too_large",
        message,
    }
}

impl Attributes {
    /// The attributes after `change`, within the limits; `None` when nothing changes (a
    /// removed name that was not there).
    pub fn apply(
        &self,
        change: &AttributeChange,
    ) -> Result<Option<BTreeMap<String, Value>>, ApiError> {
        let mut values = self.values.clone();
        match change {
            AttributeChange::Set(new) => values = new.clone(),
            AttributeChange::Update(new) => values.extend(new.clone()),
            AttributeChange::Remove(name) => {
                if values.remove(name).is_none() {
                    return Ok(None);
                }
            }
        }
        check_size(&values)?;
        Ok((values != self.values).then_some(values))
    }

    /// Whether a filter of getUsers/getAllAccounts (`name=value`, or `name=in:v1,v2`)
    /// matches. Numbers and booleans match their JSON text.
    pub fn matches(&self, filter: &AttributeFilter) -> bool {
        let Some(v) = self.values.get(&filter.name) else {
            return false;
        };
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        filter.values.contains(&text)
    }
}

/// A listing's `filter`: `name=value` or `name=in:v1,v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeFilter {
    pub name: String,
    pub values: Vec<String>,
}

impl AttributeFilter {
    pub fn parse(v: &str) -> Result<AttributeFilter, ApiError> {
        let (name, value) = v.split_once('=').ok_or_else(|| {
            ApiError::invalid_field("filter", "use name=value or name=in:value1,value2")
        })?;
        validate_name(name).map_err(|_| {
            ApiError::invalid_field("filter", "the attribute name is not a valid one")
        })?;
        let values = match value.strip_prefix("in:") {
            Some(list) => list.split(',').map(String::from).collect(),
            None => vec![value.to_string()],
        };
        Ok(AttributeFilter {
            name: name.to_string(),
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn bodies_within_the_limits() {
        let ok = parse_body(br#"{"group": "admins", "level": 3, "active": true}"#).unwrap();
        assert_eq!(ok.len(), 3);
        for bad in [
            &b"[1]"[..],
            b"not json",
            br#"{"a b": "x"}"#,
            br#"{"": "x"}"#,
            br#"{"n": null}"#,
            br#"{"n": {"nested": 1}}"#,
            br#"{"n": [1]}"#,
        ] {
            let e = parse_body(bad).unwrap_err();
            assert!(matches!(e, ApiError::BadRequest { .. }), "{bad:?}: {e:?}");
        }
        let long = format!(r#"{{"n": "{}"}}"#, "x".repeat(MAX_VALUE_BYTES));
        assert_eq!(
            parse_body(long.as_bytes()).unwrap_err().code(),
            "invalid_field"
        );
        let many: serde_json::Map<String, Value> = (0..=MAX_ATTRIBUTES)
            .map(|i| (format!("a{i}"), json!(i)))
            .collect();
        let e = parse_body(Value::Object(many).to_string().as_bytes()).unwrap_err();
        assert_eq!(e.code(), "attributes_too_large");
    }

    #[test]
    fn set_update_and_remove() {
        let a = Attributes {
            values: map(json!({"x": "1", "y": 2})),
            version: 3,
        };
        let set = a
            .apply(&AttributeChange::Set(map(json!({"z": true}))))
            .unwrap();
        assert_eq!(set, Some(map(json!({"z": true}))));
        let upd = a
            .apply(&AttributeChange::Update(map(json!({"y": 5}))))
            .unwrap();
        assert_eq!(upd, Some(map(json!({"x": "1", "y": 5}))));
        assert_eq!(
            a.apply(&AttributeChange::Remove("x".into())).unwrap(),
            Some(map(json!({"y": 2})))
        );
        assert_eq!(
            a.apply(&AttributeChange::Remove("nope".into())).unwrap(),
            None
        );
        // Merging past the count is refused whole.
        let full = Attributes {
            values: (0..MAX_ATTRIBUTES)
                .map(|i| (format!("a{i}"), json!(i)))
                .collect(),
            version: 1,
        };
        let e = full
            .apply(&AttributeChange::Update(map(json!({"one_more": 1}))))
            .unwrap_err();
        assert_eq!(e.code(), "attributes_too_large");
    }

    #[test]
    fn filters() {
        let a = Attributes {
            values: map(json!({"group": "staff", "level": 3})),
            version: 1,
        };
        assert!(a.matches(&AttributeFilter::parse("group=staff").unwrap()));
        assert!(a.matches(&AttributeFilter::parse("group=in:admins,staff").unwrap()));
        assert!(a.matches(&AttributeFilter::parse("level=3").unwrap()));
        assert!(!a.matches(&AttributeFilter::parse("group=admins").unwrap()));
        assert!(!a.matches(&AttributeFilter::parse("other=staff").unwrap()));
        assert!(AttributeFilter::parse("nofilter").is_err());
        assert!(AttributeFilter::parse("a b=c").is_err());
    }
}
