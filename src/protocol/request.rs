//! Parsing inbound request frames: an envelope (`eventId`, `action`, `path`, `sessionId`)
//! and, parsed once from it, a typed [`Request`] whose options are checked before any
//! handler runs.

use happn_cluster_sdk::Error;
use serde_json::{Map, Value};

use super::options::{
    GetOptions, LoginRequest, OffOptions, OnOptions, RemoveOptions, SetOptions, read_protocol,
};

/// One inbound frame.
#[derive(Debug)]
pub struct Frame {
    /// The client's request id, echoed in the reply (`null` if absent).
    pub event_id: Value,
    /// The action name as sent (`set`, `get`, `on`, `login`, …), echoed in replies.
    pub action: String,
    /// The path (or channel for `on`/`off`) as sent, if given: size-checked before anything
    /// else looks at it.
    pub path: Option<String>,
    /// The session id the client believes it has (informational only).
    pub session_id: Option<String>,
    /// The typed request, or why its path, data or options are unusable.
    pub request: Result<Request, Error>,
    /// `options.onBehalfOf`: the user a delegate (an administrator) acts for; that user's
    /// permissions apply to the request.
    pub on_behalf_of: Option<String>,
}

/// What a frame asks for, with its inputs checked and typed.
#[derive(Debug)]
pub enum Request {
    /// `configure-session`: choose the wire protocol.
    ConfigureSession {
        /// `happn_4` or `happn_3`.
        protocol: String,
    },
    /// `describe`: the server's name, security and version.
    Describe,
    /// `login`: credentials and the client's `info`.
    Login(LoginRequest),
    /// `set`: store (or merge, increment, publish only) `data` at `path`.
    Set {
        /// The path as sent.
        path: String,
        /// The posted value.
        data: Value,
        /// How to write, publish and reply.
        options: SetOptions,
    },
    /// `get`: records at a path or wildcard.
    Get {
        /// The path or wildcard as sent.
        path: String,
        /// Criteria, paging, projection, aggregation.
        options: GetOptions,
    },
    /// `count`: how many records a `get` would return.
    Count {
        /// The path or wildcard as sent.
        path: String,
        /// Criteria (paging does not apply to counts on restricted sessions).
        options: GetOptions,
    },
    /// `remove`: delete records at a path or wildcard.
    Remove {
        /// The path or wildcard as sent.
        path: String,
        /// Criteria, publication and reply options.
        options: RemoveOptions,
    },
    /// `on`: subscribe to a channel.
    On {
        /// The channel key as sent (`/SET@/a/*`), echoed in every event.
        channel: String,
        /// Event filter, mask, depth, initial values.
        options: OnOptions,
    },
    /// `off`: unsubscribe.
    Off {
        /// The channel as sent (`*` for every subscription).
        channel: String,
        /// Which subscription.
        options: OffOptions,
    },
    /// `ack`: a subscriber acknowledges an ACKNOWLEDGED publication.
    Ack {
        /// The publication acknowledged.
        publication_id: String,
    },
    /// `peer-hello` (internal port): a dialling node's challenge, answered with this node's
    /// proof of the cluster key.
    PeerHello(Value),
    /// `peer-prove` (internal port): the dialling node's proof; it becomes a peer.
    PeerProve(Value),
    /// `replay` (cluster peers): resend what this node published after number `after` of
    /// `epoch`; without `after` (`{head: true}`), only say where the numbering stands.
    Replay {
        /// The epoch the peer last saw.
        epoch: String,
        /// The last number it saw (None: just the head).
        after: Option<u64>,
    },
    /// `revoke-token`: end this session's token family.
    RevokeToken,
    /// `disconnect-child-sessions`: end the other sessions of this token.
    DisconnectChildSessions,
    /// `disconnect`: the client is leaving.
    Disconnect,
    /// Any other action (refused with `unknown action`).
    Unknown,
}

/// Actions answered before login on a secure node.
pub const HANDSHAKE_ACTIONS: &[&str] = &[
    "configure-session",
    "describe",
    "login",
    "peer-hello",
    "peer-prove",
];

/// Why a frame is not a usable request at all; carries the request id when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    /// The request id, when readable, so the error reaches the right callback.
    pub event_id: Value,
    /// The action, when readable.
    pub action: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn not_an_object() -> RequestError {
    RequestError {
        event_id: Value::Null,
        action: None,
        message: "a request must be a JSON object".into(),
    }
}

/// The envelope fields of a frame as sent; other keys are skipped. A key sent twice keeps
/// its last value, as a JSON object read into a map would.
#[derive(Default)]
struct Fields {
    event_id: Option<Value>,
    action: Option<Value>,
    path: Option<Value>,
    session_id: Option<Value>,
    options: Option<Value>,
    data: Option<Value>,
}

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "eventId" => &mut fields.event_id,
                "action" => &mut fields.action,
                "path" => &mut fields.path,
                "sessionId" => &mut fields.session_id,
                "options" => &mut fields.options,
                "data" => &mut fields.data,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(fields)
    }
}

impl Frame {
    /// Parses one text frame. The envelope's fields are read straight from the text (no map
    /// of the whole frame is built); only `data` and `options` become JSON values.
    pub fn parse(text: &str) -> Result<Frame, RequestError> {
        let fields: Fields = serde_json::from_str(text).map_err(|e| RequestError {
            event_id: event_id_from_head(text),
            action: None,
            message: if e.classify() == serde_json::error::Category::Data {
                "a request must be a JSON object".to_string()
            } else {
                format!("malformed JSON: {e}")
            },
        })?;
        Self::from_fields(fields)
    }

    /// Interprets a decoded frame.
    pub fn from_value(value: Value) -> Result<Frame, RequestError> {
        let Value::Object(mut map) = value else {
            return Err(not_an_object());
        };
        Self::from_fields(Fields {
            event_id: map.remove("eventId"),
            action: map.remove("action"),
            path: map.remove("path"),
            session_id: map.remove("sessionId"),
            options: map.remove("options"),
            data: map.remove("data"),
        })
    }

    fn from_fields(fields: Fields) -> Result<Frame, RequestError> {
        let event_id = match fields.event_id {
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
        let action = match fields.action {
            Some(Value::String(action)) => action,
            None => return Err(fail(None, "missing action".into())),
            Some(_) => return Err(fail(None, "action must be a string".into())),
        };
        let path = match fields.path {
            None | Some(Value::Null) => None,
            Some(Value::String(path)) => Some(path),
            Some(other) => {
                return Err(fail(
                    Some(action),
                    format!("Bad path [{other}], must be a string"),
                ));
            }
        };
        let session_id = match fields.session_id {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        let options = match fields.options {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(options)) => options,
            Some(_) => return Err(fail(Some(action), "options must be an object".into())),
        };
        let data = fields.data.unwrap_or(Value::Null);
        let on_behalf_of = options
            .get("onBehalfOf")
            .and_then(Value::as_str)
            .map(str::to_string);
        let request = Request::parse(&action, path.as_deref(), data, options);
        Ok(Frame {
            event_id,
            action,
            path,
            session_id,
            request,
            on_behalf_of,
        })
    }

    /// True for the actions a secure node answers before login.
    pub fn is_handshake(&self) -> bool {
        HANDSHAKE_ACTIONS.contains(&self.action.as_str())
    }
}

impl Request {
    /// Types one action's inputs.
    pub fn parse(
        action: &str,
        path: Option<&str>,
        data: Value,
        options: Map<String, Value>,
    ) -> Result<Request, Error> {
        let require_path = || match path {
            Some(path) if !path.is_empty() => Ok(path.to_string()),
            _ => Err(Error::bad_input(format!(
                "Bad path, the {action} action needs a path"
            ))),
        };
        Ok(match action {
            "configure-session" => Request::ConfigureSession {
                protocol: read_protocol(&data)?,
            },
            "describe" => Request::Describe,
            "login" => Request::Login(LoginRequest::parse(&data)?),
            "set" => {
                let path = require_path()?;
                let options = SetOptions::parse(&options, &data)?;
                Request::Set {
                    path,
                    data,
                    options,
                }
            }
            "get" => Request::Get {
                path: require_path()?,
                options: GetOptions::parse(options)?,
            },
            "count" => Request::Count {
                path: require_path()?,
                options: GetOptions::parse(options)?,
            },
            "remove" => Request::Remove {
                path: require_path()?,
                options: RemoveOptions::parse(&options)?,
            },
            "on" => {
                let channel = require_path()?;
                let options = OnOptions::parse(&channel, &options)?;
                Request::On { channel, options }
            }
            "off" => Request::Off {
                channel: require_path()?,
                options: OffOptions::parse(&options),
            },
            "ack" => Request::Ack {
                publication_id: data
                    .as_str()
                    .ok_or_else(|| Error::bad_input("ack data must be the publication id string"))?
                    .to_string(),
            },
            "peer-hello" => Request::PeerHello(data),
            "peer-prove" => Request::PeerProve(data),
            "replay" => Request::Replay {
                epoch: data
                    .get("epoch")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                after: if data.get("head") == Some(&Value::Bool(true)) {
                    None
                } else {
                    Some(data.get("after").and_then(Value::as_u64).ok_or_else(|| {
                        Error::bad_input("replay needs data.after, a number (or data.head: true)")
                    })?)
                },
            },
            "revoke-token" => Request::RevokeToken,
            "disconnect-child-sessions" => Request::DisconnectChildSessions,
            "disconnect" => Request::Disconnect,
            _ => Request::Unknown,
        })
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
        let f = Frame::parse(
            r#"{"action":"set","eventId":6,"path":"/a/b","data":{"x":1},"sessionId":"s","options":{"merge":true,"timeout":60000}}"#,
        )
        .unwrap();
        assert_eq!(f.action, "set");
        assert_eq!(f.event_id, json!(6));
        assert_eq!(f.path.as_deref(), Some("/a/b"));
        let Ok(Request::Set {
            path,
            data,
            options,
        }) = f.request
        else {
            panic!("a set request")
        };
        assert_eq!(path, "/a/b");
        assert!(matches!(
            options.write,
            crate::protocol::options::WriteMode::Store { merge: true }
        ));
        assert_eq!(data, json!({"x": 1}));
        let f =
            Frame::parse(r#"{"action":"set","eventId":1,"options":{"consistency":9}}"#).unwrap();
        assert!(f.request.unwrap_err().message().contains("needs a path"));
        let f =
            Frame::parse(r#"{"action":"set","eventId":1,"path":"/a","options":{"consistency":9}}"#)
                .unwrap();
        assert!(
            f.request
                .unwrap_err()
                .message()
                .contains("consistency must be")
        );
    }

    #[test]
    fn bad_frames_keep_the_event_id_when_possible() {
        let e = Frame::parse(r#"{"action":"set","eventId":12,"path":5}"#).unwrap_err();
        assert_eq!(e.event_id, json!(12));
        assert!(e.message.contains("must be a string"));
        let e = Frame::parse(r#"{"action":"get","eventId":7, oops"#).unwrap_err();
        assert_eq!(e.event_id, json!(7));
        assert!(e.message.starts_with("malformed JSON"));
        let e = Frame::parse("[1,2]").unwrap_err();
        assert_eq!(e.event_id, Value::Null);
        let e = Frame::parse(r#"{"eventId":3}"#).unwrap_err();
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
            match Frame::parse(&text) {
                Ok(frame) => {
                    if let Err(e) = frame.request {
                        proptest::prop_assert!(!e.message().is_empty());
                    }
                }
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
                    proptest::strategy::Just("consistency".to_string()),
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
            let _ = Frame::parse(&text);
        }
    }
}
