//! A stored record: JSON data at a path plus its `_meta`.

use serde_json::{Map, Value};

/// Milliseconds since the Unix epoch, as happn stores timestamps.
///
/// For fault tests, `HAPPN_TEST_CLOCK_OFFSET_MS` (read once) shifts this process's clock,
/// so a test can run one node with a clock that is off.
pub fn now_millis() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let offset = *OFFSET.get_or_init(|| {
        std::env::var("HAPPN_TEST_CLOCK_OFFSET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    });
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
        + offset
}

/// JSON object data stored at one path, with the metadata happn exposes as `_meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's path (its unique key).
    pub path: String,
    /// The stored data; always an object (scalars are wrapped as `{value}`).
    pub data: Map<String, Value>,
    /// When the record was first written (ms since epoch); kept across updates.
    pub created: i64,
    /// When the record was last written (ms since epoch).
    pub modified: i64,
    /// Username of the last writer, on secure nodes.
    pub modified_by: Option<String>,
}

impl Record {
    /// The `_meta` object clients see: `{created, modified, path, modifiedBy?}`.
    pub fn meta_json(&self) -> Map<String, Value> {
        let mut meta = Map::new();
        meta.insert("created".into(), self.created.into());
        meta.insert("modified".into(), self.modified.into());
        meta.insert("path".into(), self.path.clone().into());
        if let Some(by) = &self.modified_by {
            meta.insert("modifiedBy".into(), by.clone().into());
        }
        meta
    }

    /// The client shape: the data's fields plus `_meta`.
    pub fn to_client_json(&self) -> Value {
        let mut out = self.data.clone();
        out.insert("_meta".into(), Value::Object(self.meta_json()));
        Value::Object(out)
    }

    /// The stored shape (`{path, data, created, modified, modifiedBy}`), the document the
    /// original providers persist and the shape criteria field names are rewritten against.
    pub fn stored_view(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("path".into(), self.path.clone().into());
        doc.insert("data".into(), Value::Object(self.data.clone()));
        doc.insert("created".into(), self.created.into());
        doc.insert("modified".into(), self.modified.into());
        if let Some(by) = &self.modified_by {
            doc.insert("modifiedBy".into(), by.clone().into());
        }
        Value::Object(doc)
    }
}

/// Wraps any JSON value into record data: objects pass through (minus a client `_meta`),
/// everything else becomes `{value: x}`.
pub fn wrap_data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(mut map) => {
            map.remove("_meta");
            map
        }
        other => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            map
        }
    }
}

/// Adds an increment to a gauge value without losing anything: integers add exactly and the
/// sum must stay within ±(2^63 − 1); otherwise (a fractional operand) the float sum must be
/// finite. Anything else is [`crate::Error::BadInput`], and the caller writes nothing.
pub fn add_numbers(
    current: &serde_json::Number,
    by: &serde_json::Number,
) -> crate::Result<serde_json::Number> {
    check_increment(by)?;
    let overflow = || {
        crate::Error::bad_input(format!(
            "increment overflows: {current} + {by} is outside the range a gauge can hold"
        ))
    };
    if let (Some(x), Some(y)) = (as_exact_integer(current), by.as_i64()) {
        let sum = x.checked_add(i128::from(y)).ok_or_else(overflow)?;
        return i64::try_from(sum).map(Into::into).map_err(|_| overflow());
    }
    let sum = current.as_f64().unwrap_or(0.0) + by.as_f64().unwrap_or(0.0);
    serde_json::Number::from_f64(sum).ok_or_else(overflow)
}

/// An increment amount a gauge can take: an integer within ±(2^63 − 1) or a finite float.
pub fn check_increment(by: &serde_json::Number) -> crate::Result<()> {
    if by.is_u64() && by.as_i64().is_none() {
        return Err(crate::Error::bad_input(format!(
            "increment {by} is larger than 2^63 - 1"
        )));
    }
    match by.as_f64() {
        Some(f) if f.is_finite() => Ok(()),
        _ => Err(crate::Error::bad_input("increment must be a finite number")),
    }
}

/// The value as an exact integer, when it is one (u64 values above i64 included).
fn as_exact_integer(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn increments_never_overflow_silently() {
        let n = |v: Value| v.as_number().cloned().unwrap();
        assert_eq!(
            add_numbers(&n(json!(2)), &n(json!(3))).unwrap(),
            n(json!(5))
        );
        assert_eq!(
            add_numbers(&n(json!(1.5)), &n(json!(1))).unwrap(),
            n(json!(2.5))
        );
        assert!(add_numbers(&n(json!(1e308)), &n(json!(1e308))).is_err());
        assert!(add_numbers(&n(json!(i64::MAX)), &n(json!(1))).is_err());
        assert!(add_numbers(&n(json!(i64::MIN)), &n(json!(-1))).is_err());
        assert!(add_numbers(&n(json!(0)), &n(json!(u64::MAX))).is_err());
        let err = add_numbers(&n(json!(u64::MAX)), &n(json!(-1))).unwrap_err();
        assert!(err.to_string().contains("overflows"), "{err}");
        assert_eq!(
            add_numbers(&n(json!(i64::MAX - 1)), &n(json!(1))).unwrap(),
            n(json!(i64::MAX))
        );
    }

    #[test]
    fn scalars_are_wrapped_and_client_meta_dropped() {
        assert_eq!(Value::Object(wrap_data(json!(5))), json!({"value": 5}));
        assert_eq!(
            Value::Object(wrap_data(json!(null))),
            json!({"value": null})
        );
        assert_eq!(
            Value::Object(wrap_data(json!({"a": 1, "_meta": {"path": "/x"}}))),
            json!({"a": 1})
        );
    }

    #[test]
    fn numbers_add_integrally_when_possible() {
        assert_eq!(add_numbers(&2.into(), &(-5).into()).unwrap(), (-3).into());
        let f = add_numbers(&2.into(), &serde_json::Number::from_f64(0.5).unwrap()).unwrap();
        assert_eq!(f.as_f64(), Some(2.5));
    }
}
