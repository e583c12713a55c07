//! Parsing inbound request frames.

use serde_json::{Map, Value};

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `set`, `get`, `on`, `login`, …
    pub action: String,
    /// The client's request id, echoed in the reply (`null` if absent).
    pub event_id: Value,
    /// The path (or channel for `on`/`off`), if given.
    pub path: Option<String>,
    /// The payload (`null` if absent).
    pub data: Value,
    /// The session id the client believes it has (informational only).
    pub session_id: Option<String>,
    /// Request options (empty if absent).
    pub options: Map<String, Value>,
}

/// Why a frame is not a usable request; carries the request id when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    /// The request id, when readable, so the error reaches the right callback.
    pub event_id: Value,
    /// The action, when readable.
    pub action: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Request {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Request, RequestError> {
        let value: Value = serde_json::from_str(text).map_err(|e| RequestError {
            event_id: event_id_from_head(text),
            action: None,
            message: format!("malformed JSON: {e}"),
        })?;
        Self::from_value(value)
    }

    /// Interprets a decoded frame.
    pub fn from_value(value: Value) -> Result<Request, RequestError> {
        let Value::Object(mut map) = value else {
            return Err(RequestError {
                event_id: Value::Null,
                action: None,
                message: "a request must be a JSON object".into(),
            });
        };
        let event_id = match map.remove("eventId") {
            None | Some(Value::Null) => Value::Null,
            Some(id @ (Value::Number(_) | Value::String(_))) => id,
            Some(_) => {
                return Err(RequestError {
                    event_id: Value::Null,
                    action: None,
                    message: "eventId must be a number or a string".into(),
                });
            }
        };
        let fail = |action: Option<String>, message: String| RequestError {
            event_id: event_id.clone(),
            action,
            message,
        };
        let action = match map.remove("action") {
            Some(Value::String(action)) => action,
            None => return Err(fail(None, "missing action".into())),
            Some(_) => return Err(fail(None, "action must be a string".into())),
        };
        let path = match map.remove("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(path)) => Some(path),
            Some(other) => {
                return Err(fail(
                    Some(action),
                    format!("Bad path [{other}], must be a string"),
                ));
            }
        };
        let session_id = match map.remove("sessionId") {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        let options = match map.remove("options") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(options)) => options,
            Some(_) => return Err(fail(Some(action), "options must be an object".into())),
        };
        Ok(Request {
            action,
            event_id,
            path,
            data: map.remove("data").unwrap_or(Value::Null),
            session_id,
            options,
        })
    }

    /// The path, or a bad-input message naming the action.
    pub fn require_path(&self) -> Result<&str, String> {
        match self.path.as_deref() {
            Some(path) if !path.is_empty() => Ok(path),
            _ => Err(format!("Bad path, the {} action needs a path", self.action)),
        }
    }

    /// A boolean option (`true` only for JSON `true`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.options.get(name), Some(Value::Bool(true)))
    }
}

/// Finds `"eventId": <n>` near the start of a frame that could not be fully parsed (too large
/// or malformed), so the error reply can still reach the caller.
pub fn event_id_from_head(text: &str) -> Value {
    let Some(at) = text.find("\"eventId\"") else {
        return Value::Null;
    };
    let rest = text[at + 9..].trim_start();
    let Some(rest) = rest.strip_prefix(':') else {
        return Value::Null;
    };
    let rest = rest.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if let Ok(n) = digits.parse::<u64>() {
        return Value::from(n);
    }
    if let Some(quoted) = rest.strip_prefix('"') {
        let id: String = quoted.chars().take_while(|c| *c != '"').take(64).collect();
        return Value::String(id);
    }
    Value::Null
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_a_client_request() {
        let r = Request::parse(
            r#"{"action":"set","eventId":6,"path":"/a/b","data":{"x":1},"sessionId":"s","options":{"merge":true,"timeout":60000}}"#,
        )
        .unwrap();
        assert_eq!(r.action, "set");
        assert_eq!(r.event_id, json!(6));
        assert_eq!(r.path.as_deref(), Some("/a/b"));
        assert!(r.flag("merge"));
        assert_eq!(r.data, json!({"x": 1}));
    }

    #[test]
    fn bad_frames_keep_the_event_id_when_possible() {
        let e = Request::parse(r#"{"action":"set","eventId":12,"path":5}"#).unwrap_err();
        assert_eq!(e.event_id, json!(12));
        assert!(e.message.contains("must be a string"));
        let e = Request::parse(r#"{"action":"get","eventId":7, oops"#).unwrap_err();
        assert_eq!(e.event_id, json!(7));
        assert!(e.message.starts_with("malformed JSON"));
        let e = Request::parse("[1,2]").unwrap_err();
        assert_eq!(e.event_id, Value::Null);
        let e = Request::parse(r#"{"eventId":3}"#).unwrap_err();
        assert_eq!(
            (e.event_id, e.message.as_str()),
            (json!(3), "missing action")
        );
        assert_eq!(
            event_id_from_head(r#"{"action":"x","eventId": "ab"}"#),
            json!("ab")
        );
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Any text a client can send parses or fails with a message; it never panics.
        #[test]
        fn any_text_parses_or_fails_cleanly(text in ".{0,200}") {
            match Request::parse(&text) {
                Ok(request) => { let _ = request.require_path(); }
                Err(e) => proptest::prop_assert!(!e.message.is_empty()),
            }
            let _ = event_id_from_head(&text);
        }

        /// JSON objects with arbitrary members, including the request keys with wrong types.
        #[test]
        fn any_json_object_parses_or_fails_cleanly(
            members in proptest::collection::vec(
                (proptest::prop_oneof![
                    proptest::strategy::Just("action".to_string()),
                    proptest::strategy::Just("eventId".to_string()),
                    proptest::strategy::Just("path".to_string()),
                    proptest::strategy::Just("options".to_string()),
                    proptest::strategy::Just("data".to_string()),
                    "[a-z]{1,6}",
                ], proptest::prop_oneof![
                    proptest::strategy::Just(Value::Null),
                    proptest::arbitrary::any::<i64>().prop_map(Value::from),
                    "[a-z/*@]{0,8}".prop_map(Value::from),
                    proptest::strategy::Just(json!({"a": [1, {"b": null}]})),
                    proptest::strategy::Just(json!([1, 2])),
                ]),
                0..6,
            )
        ) {
            let object: Map<String, Value> = members.into_iter().collect();
            let text = Value::Object(object).to_string();
            let _ = Request::parse(&text);
        }
    }
}
