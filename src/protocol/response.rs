//! Encoding replies, events and system messages.

use happn_cluster_sdk::Error;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
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
    /// The response fields every reply's `_meta` carries, in wire order.
    fn fixed(&self, status: &'static str, published: bool) -> [(&'static str, Fixed<'_>); 6] {
        [
            ("type", Fixed::Str(Some("response"))),
            ("status", Fixed::Str(Some(status))),
            ("published", Fixed::Bool(published)),
            ("eventId", Fixed::Value(self.event_id)),
            ("sessionId", Fixed::Str(self.session_id)),
            ("action", Fixed::Str(Some(self.action))),
        ]
    }

    /// `{data, _meta: {…record meta, type, status: ok, published, eventId, …}, protocol}`.
    pub fn ok(&self, data: Value, extra_meta: Map<String, Value>, published: bool) -> String {
        encode(&Envelope {
            data: &data,
            meta: ReplyMeta {
                extra: &extra_meta,
                fixed: self.fixed("ok", published),
                error: None,
            },
        })
    }

    /// An array reply: the items followed by the response meta as the last element.
    pub fn ok_array(&self, items: Vec<Value>) -> String {
        let empty = Map::new();
        let meta = ReplyMeta {
            extra: &empty,
            fixed: self.fixed("ok", false),
            error: None,
        };
        let mut out = Vec::with_capacity(256);
        let mut serializer = serde_json::Serializer::new(&mut out);
        let written = (|| {
            let mut seq = serializer.serialize_seq(Some(items.len() + 1))?;
            for item in &items {
                seq.serialize_element(item)?;
            }
            seq.serialize_element(&meta)?;
            SerializeSeq::end(seq)
        })();
        into_text(written.map(|_| out))
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
        let empty = Map::new();
        encode(&Envelope {
            data: &Value::Null,
            meta: ReplyMeta {
                extra: &empty,
                fixed: self.fixed("error", false),
                error: Some(wire_error(error)),
            },
        })
    }
}

/// One fixed response field (borrowed: nothing is copied into a map first).
#[derive(Clone, Copy)]
enum Fixed<'a> {
    /// A string, or absent.
    Str(Option<&'a str>),
    Bool(bool),
    Value(&'a Value),
}

impl Fixed<'_> {
    fn present(&self) -> bool {
        !matches!(self, Fixed::Str(None))
    }
}

impl Serialize for Fixed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Fixed::Str(text) => text.serialize(serializer),
            Fixed::Bool(flag) => flag.serialize(serializer),
            Fixed::Value(value) => value.serialize(serializer),
        }
    }
}

/// A reply's `_meta`: the record's meta, with the response fields overriding in place any
/// key they share and following otherwise (what extending the record's map would give).
struct ReplyMeta<'a> {
    extra: &'a Map<String, Value>,
    fixed: [(&'static str, Fixed<'a>); 6],
    error: Option<Value>,
}

impl Serialize for ReplyMeta<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fixed_value = |key: &str| {
            self.fixed
                .iter()
                .find(|(name, value)| *name == key && value.present())
                .map(|(_, value)| *value)
        };
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.extra {
            match fixed_value(key) {
                Some(fixed) => map.serialize_entry(key, &fixed)?,
                None => map.serialize_entry(key, value)?,
            }
        }
        for (name, value) in &self.fixed {
            if value.present() && !self.extra.contains_key(*name) {
                map.serialize_entry(name, value)?;
            }
        }
        if let Some(error) = &self.error {
            map.serialize_entry("error", error)?;
        }
        map.end()
    }
}

/// `{data, _meta, protocol}`, the shape of replies and events.
struct Envelope<'a, M> {
    data: &'a Value,
    meta: M,
}

impl<M: Serialize> Serialize for Envelope<'_, M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("data", self.data)?;
        map.serialize_entry("_meta", &self.meta)?;
        map.serialize_entry("protocol", PROTOCOL)?;
        map.end()
    }
}

/// Encodes straight to text. JSON values with string keys cannot fail to encode; should one
/// ever, the client gets a JSON `null` frame rather than the node a panic.
fn encode(value: &impl Serialize) -> String {
    let mut out = Vec::with_capacity(256);
    let written = serde_json::to_writer(&mut out, value);
    into_text(written.map(|_| out))
}

fn into_text(encoded: serde_json::Result<Vec<u8>>) -> String {
    match encoded.map(String::from_utf8) {
        Ok(Ok(text)) => text,
        _ => {
            tracing::error!("a reply could not be encoded");
            "null".to_string()
        }
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
    encode(&Envelope { data, meta: &meta })
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
