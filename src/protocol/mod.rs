//! The happn wire protocol (`happn_4`): request parsing, response, event and system message
//! encoding, and the mapping from errors to the `{name, code, message}` clients expect.
//!
//! Every frame is one JSON text. Requests are `{action, eventId, path?, data?, sessionId?,
//! options?}`; responses echo `eventId` in `_meta`; events carry `_meta.type: "data"` and
//! the subscriber's `channel`.

pub mod options;
mod request;
mod response;

pub use request::{Frame, HANDSHAKE_ACTIONS, Request, RequestError, event_id_from_head};
pub use response::{
    Reply, error_from_wire, error_reply, event_frame, publication_ack_frame, reply_error,
    system_frame, wire_error,
};

/// The protocol name this server speaks.
pub const PROTOCOL: &str = "happn_4";
/// The happn client version this server is wire-compatible with.
pub const HAPPN_COMPAT_VERSION: &str = "13.12.1";

/// Consistency levels of a publication (`options.consistency`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Consistency {
    /// Reply at once, publish afterwards.
    Queued = 0,
    /// Reply at once; a `publication-ack` follows once published.
    Deferred = 1,
    /// Publish, then reply (the default): subscribers see the event before the writer's reply.
    #[default]
    Transactional = 2,
    /// Reply at once; subscribers acknowledge; a `publication-ack` with the count follows.
    Acknowledged = 3,
}

impl Consistency {
    /// Reads `options.consistency` (missing → transactional).
    pub fn from_option(value: Option<&serde_json::Value>) -> Result<Self, String> {
        match value {
            None | Some(serde_json::Value::Null) => Ok(Consistency::Transactional),
            Some(v) => match v.as_u64() {
                Some(0) => Ok(Consistency::Queued),
                Some(1) => Ok(Consistency::Deferred),
                Some(2) => Ok(Consistency::Transactional),
                Some(3) => Ok(Consistency::Acknowledged),
                _ => Err(format!("consistency must be 0, 1, 2 or 3 (got {v})")),
            },
        }
    }
}
