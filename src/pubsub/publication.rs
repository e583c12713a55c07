//! A publication: what happened at a path, as delivered to subscribers and replicated to peers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::path::EventKind;
use crate::protocol::Consistency;

/// Who caused a publication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// Name of the node the writer is connected to.
    pub node: String,
    /// The writer's session id.
    pub session_id: String,
    /// The writer's username (secure nodes).
    #[serde(default)]
    pub username: Option<String>,
}

/// One event to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publication {
    /// Set or remove.
    #[serde(with = "kind_serde")]
    pub kind: EventKind,
    /// The request path.
    pub path: String,
    /// What subscribers receive as `data`.
    pub data: Value,
    /// For merge writes: the posted fields, which `merge: true` subscribers receive instead.
    #[serde(default)]
    pub merge_data: Option<Value>,
    /// The stored record's `created`, when stored.
    #[serde(default)]
    pub created: Option<i64>,
    /// The stored record's `modified`, when stored.
    #[serde(default)]
    pub modified: Option<i64>,
    /// Who wrote it.
    pub origin: Origin,
    /// `<sessionId>-<eventId>`.
    pub publication_id: String,
    /// Requested consistency.
    #[serde(with = "consistency_serde")]
    pub consistency: Consistency,
    /// Deliver only to these session ids.
    #[serde(default)]
    pub target_clients: Option<Vec<String>>,
    /// Custom `options.meta` keys copied into the event `_meta`.
    #[serde(default)]
    pub meta: Map<String, Value>,
    /// Do not deliver to cluster peers (and do not replicate).
    #[serde(default)]
    pub no_cluster: bool,
}

/// `_meta` keys the server fills (in events, replies or stored records): a client's custom
/// meta may set none of them.
pub const RESERVED_META: &[&str] = &[
    "created",
    "modified",
    "modifiedBy",
    "createdBy",
    "timestamp",
    "_id",
    "path",
    "action",
    "type",
    "published",
    "status",
    "eventId",
    "sessionId",
    "channel",
    "publicationId",
    "consistency",
    "depth",
    "eventOrigin",
    "publishResults",
    "referenceId",
    "error",
    "replication",
];

/// Counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fixed cost counted per publication besides its JSON (ids, origin, timestamps).
const PUBLICATION_OVERHEAD: usize = 256;

impl Publication {
    /// About how much memory the publication holds: its data (and merge data) as JSON,
    /// its path and custom meta, and a fixed overhead.
    pub fn approximate_bytes(&self) -> usize {
        let mut count = ByteCount(PUBLICATION_OVERHEAD + self.path.len());
        let _ = serde_json::to_writer(&mut count, &self.data);
        if let Some(merge) = &self.merge_data {
            let _ = serde_json::to_writer(&mut count, merge);
        }
        if !self.meta.is_empty() {
            let _ = serde_json::to_writer(&mut count, &self.meta);
        }
        count.0
    }

    /// The event `_meta` for one subscriber channel (without `type`, added when encoding).
    pub fn event_meta(&self, channel: &str, depth: Option<u32>) -> Map<String, Value> {
        let mut meta = Map::new();
        for (key, value) in &self.meta {
            if !RESERVED_META.contains(&key.as_str()) {
                meta.insert(key.clone(), value.clone());
            }
        }
        let action = match self.kind {
            EventKind::Set => "SET",
            EventKind::Remove => "REMOVE",
        };
        meta.insert("action".into(), format!("/{action}@{}", self.path).into());
        meta.insert("sessionId".into(), self.origin.session_id.clone().into());
        meta.insert("consistency".into(), (self.consistency as u8).into());
        meta.insert("publicationId".into(), self.publication_id.clone().into());
        meta.insert("path".into(), self.path.clone().into());
        if let Some(created) = self.created {
            meta.insert("created".into(), created.into());
        }
        if let Some(modified) = self.modified {
            meta.insert("modified".into(), modified.into());
        }
        meta.insert("channel".into(), channel.into());
        if let Some(depth) = depth {
            meta.insert("depth".into(), depth.into());
        }
        if let Some(username) = &self.origin.username {
            meta.insert(
                "eventOrigin".into(),
                serde_json::json!({"username": username, "id": self.origin.session_id}),
            );
        }
        meta
    }
}

mod kind_serde {
    use super::EventKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &EventKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match kind {
            EventKind::Set => "set",
            EventKind::Remove => "remove",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
        match String::deserialize(d)?.as_str() {
            "set" => Ok(EventKind::Set),
            "remove" => Ok(EventKind::Remove),
            other => Err(serde::de::Error::custom(format!(
                "unknown event kind {other}"
            ))),
        }
    }
}

mod consistency_serde {
    use super::Consistency;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(c: &Consistency, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*c as u8)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Consistency, D::Error> {
        let n = u64::deserialize(d)?;
        Consistency::from_option(Some(&n.into())).map_err(serde::de::Error::custom)
    }
}
