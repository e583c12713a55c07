//! Encoding replies, events and system messages.

use happn_cluster_sdk::Error;
use serde_json::{Map, Value, json};

use super::PROTOCOL;

/// What a reply says about the request it answers.
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    /// The request's `eventId`.
    pub event_id: &'a Value,
    /// The request's action.
    pub action: &'a str,
    /// The session's id, once logged in.
    pub session_id: Option<&'a str>,
}

impl Reply<'_> {
    fn meta(&self, status: &str, published: bool) -> Map<String, Value> {
        let mut meta = Map::new();
        meta.insert("type".into(), "response".into());
        meta.insert("status".into(), status.into());
        meta.insert("published".into(), published.into());
        meta.insert("eventId".into(), self.event_id.clone());
        if let Some(id) = self.session_id {
            meta.insert("sessionId".into(), id.into());
        }
        meta.insert("action".into(), self.action.into());
        meta
    }

    /// `{data, _meta: {…record meta, type, status: ok, published, eventId, …}, protocol}`.
    pub fn ok(&self, data: Value, extra_meta: Map<String, Value>, published: bool) -> String {
        let mut meta = extra_meta;
        meta.extend(self.meta("ok", published));
        json!({"data": data, "_meta": meta, "protocol": PROTOCOL}).to_string()
    }

    /// An array reply: the items followed by the response meta as the last element.
    pub fn ok_array(&self, items: Vec<Value>) -> String {
        let mut items = items;
        items.push(Value::Object(self.meta("ok", false)));
        Value::Array(items).to_string()
    }

    /// The lean reply of `publish` / `noDataResponse`, exactly happn-3's:
    /// `{_meta: {path, eventId, type, status, published}}`.
    pub fn ok_slim(&self, path: &str, published: bool) -> String {
        json!({"_meta": {
            "path": path,
            "eventId": self.event_id,
            "type": "response",
            "status": "ok",
            "published": published,
        }})
        .to_string()
    }

    /// An error reply the client turns into an `Error` with `name`, `message` and `code`.
    pub fn error(&self, error: &Error) -> String {
        let mut meta = self.meta("error", false);
        meta.insert("error".into(), wire_error(error));
        json!({"data": null, "_meta": meta, "protocol": PROTOCOL}).to_string()
    }
}

/// An error reply for a frame whose request could not be parsed.
pub fn error_reply(event_id: &Value, action: Option<&str>, error: &Error) -> String {
    Reply {
        event_id,
        action: action.unwrap_or("unknown"),
        session_id: None,
    }
    .error(error)
}

/// The `{name, code, message}` object a happn client rebuilds its `Error` from.
/// [`error_from_wire`] is its inverse.
pub fn wire_error(error: &Error) -> Value {
    let (name, code) = match error {
        Error::Unauthorized(_) => ("AccessDenied", 401),
        Error::Forbidden(_) => ("AccessDenied", 403),
        Error::NotFound(_) => ("ResourceNotFound", 404),
        Error::BadInput(_) => ("Error", 400),
        Error::Conflict(_) => ("ConflictError", 409),
        Error::Unsupported(_) => ("Error", 501),
        Error::Unavailable(_) => ("SystemError", 503),
        Error::Timeout(_) => ("SystemError", 504),
        Error::System(_) => ("SystemError", 500),
        // happn-3 calls every server fault a SystemError: internal faults decode as
        // `System` on the far side.
        _ => ("SystemError", 500),
    };
    json!({"name": name, "code": code, "message": error.message()})
}

/// Rebuilds the error a reply's `_meta.error` carries (the inverse of [`wire_error`]); the
/// message keeps the wire name in front (`AccessDenied: unauthorized`), as happn clients
/// show it.
pub fn error_from_wire(error: &Value) -> Error {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unknown error");
    let name = error.get("name").and_then(Value::as_str).unwrap_or("Error");
    let text = format!("{name}: {message}");
    match error.get("code").and_then(Value::as_u64) {
        Some(401) => Error::Unauthorized(text),
        Some(403) => Error::Forbidden(text),
        Some(404) => Error::NotFound(text),
        Some(400) => Error::BadInput(text),
        Some(409) => Error::Conflict(text),
        Some(503) => Error::Unavailable(text),
        Some(504) => Error::Timeout(text),
        Some(501) => Error::Unsupported(text),
        Some(500) if name == "SystemError" => Error::System(text),
        _ => Error::Internal(text),
    }
}

/// The error a reply frame carries, if its `_meta.status` is `error`.
pub fn reply_error(reply: &Value) -> Option<Error> {
    if reply.pointer("/_meta/status").and_then(Value::as_str) != Some("error") {
        return None;
    }
    Some(error_from_wire(
        reply.pointer("/_meta/error").unwrap_or(&Value::Null),
    ))
}

/// An event frame for one subscriber channel.
pub fn event_frame(data: &Value, meta: Map<String, Value>) -> String {
    let mut meta = meta;
    meta.insert("type".into(), "data".into());
    json!({"data": data, "_meta": meta, "protocol": PROTOCOL}).to_string()
}

/// A system message (`server-side-disconnect`, `security-data-changed`).
pub fn system_frame(event_key: &str, data: Value) -> String {
    json!({"_meta": {"type": "system"}, "eventKey": event_key, "data": data, "protocol": PROTOCOL})
        .to_string()
}

/// The `publication-ack` sent to a DEFERRED or ACKNOWLEDGED publisher.
pub fn publication_ack_frame(
    publication_id: &str,
    event_id: &Value,
    result: Value,
    error: Option<&str>,
) -> String {
    let mut frame = json!({
        "id": publication_id,
        "action": "publication-ack",
        "result": result,
        "status": if error.is_some() { "error" } else { "ok" },
        "_meta": {"type": "ack", "eventId": event_id},
    });
    if let (Some(message), Value::Object(map)) = (error, &mut frame) {
        map.insert("error".into(), message.into());
    }
    frame.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_the_inverse_of_encoding() {
        let kinds = [
            Error::Unauthorized("m".into()),
            Error::Forbidden("m".into()),
            Error::NotFound("m".into()),
            Error::BadInput("m".into()),
            Error::Conflict("m".into()),
            Error::Unsupported("m".into()),
            Error::Unavailable("m".into()),
            Error::Timeout("m".into()),
            Error::System("m".into()),
        ];
        for error in kinds {
            let decoded = error_from_wire(&wire_error(&error));
            assert_eq!(
                std::mem::discriminant(&decoded),
                std::mem::discriminant(&error),
                "{error:?} came back as {decoded:?}"
            );
            assert!(decoded.message().ends_with(": m"));
        }
        let reply: Value = serde_json::from_str(&error_reply(
            &json!(4),
            Some("set"),
            &Error::Forbidden("no".into()),
        ))
        .unwrap();
        assert_eq!(
            reply_error(&reply),
            Some(Error::Forbidden("AccessDenied: no".into()))
        );
        assert_eq!(reply_error(&json!({"_meta": {"status": "ok"}})), None);
        // A fault without happn's SystemError name stays internal.
        assert!(matches!(
            error_from_wire(&json!({"name": "Oops", "code": 500, "message": "m"})),
            Error::Internal(_)
        ));
    }
}
