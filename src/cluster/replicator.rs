//! The replicator API: custom cluster messages by topic. `send(topic, payload)` reaches
//! every node once, the sender included (`is_local` true there); `on(topic, handler)`
//! receives them. Messages travel as `noStore` publications on [`REPLICATE_PATH`], so the
//! peer links carry them like any replicated event: this module is the one seam to swap for
//! a message bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use happn_cluster_sdk::{Error, Result, now_millis};
use serde_json::{Map, Value, json};

use super::paths::REPLICATE_PATH;
use crate::path::EventKind;
use crate::protocol::Consistency;
use crate::pubsub::{Origin, PubSub, Publication};

/// Receives `(payload, is_local, origin node name)`.
pub type TopicHandler = Arc<dyn Fn(&Value, bool, &str) + Send + Sync>;

/// Custom messages between the nodes of a cluster.
pub struct Replicator {
    node: String,
    pubsub: Arc<PubSub>,
    handlers: RwLock<HashMap<String, Vec<(u64, TopicHandler)>>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Replicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicator")
            .field("node", &self.node)
            .finish()
    }
}

impl Replicator {
    /// The replicator of node `node`, publishing through `pubsub`.
    pub fn new(node: String, pubsub: Arc<PubSub>) -> Replicator {
        Replicator {
            node,
            pubsub,
            handlers: RwLock::new(HashMap::new()),
            next: AtomicU64::new(1),
        }
    }

    /// Sends `payload` on `topic` to every node (this one at once, the others through their
    /// links).
    pub fn send(&self, topic: &str, payload: Value) -> Result<()> {
        if topic.is_empty() {
            return Err(Error::bad_input("a replicator topic must not be empty"));
        }
        self.dispatch(topic, &payload, true, &self.node);
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let message = json!({"topic": topic, "payload": payload, "origin": self.node});
        let publication = Publication {
            kind: EventKind::Set,
            path: REPLICATE_PATH.to_string(),
            data: message,
            merge_data: None,
            created: Some(now_millis()),
            modified: Some(now_millis()),
            origin: Origin {
                node: self.node.clone(),
                session_id: format!("replicator-{}", self.node),
                username: None,
            },
            publication_id: format!("replicator-{}-{n}", self.node),
            consistency: Consistency::Transactional,
            target_clients: None,
            meta: Map::new(),
            no_cluster: false,
        };
        self.pubsub.publish(&publication);
        Ok(())
    }

    /// Calls `handler` for every message on `topic`; returns a handle for [`Replicator::off`].
    pub fn on(
        &self,
        topic: &str,
        handler: impl Fn(&Value, bool, &str) + Send + Sync + 'static,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(topic.to_string())
            .or_default()
            .push((id, Arc::new(handler)));
        id
    }

    /// Removes a handler.
    pub fn off(&self, id: u64) {
        for handlers in self
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .values_mut()
        {
            handlers.retain(|(h, _)| *h != id);
        }
    }

    /// A message the link to proven peer `from` delivered (the `data` of a `/__REPLICATE`
    /// event). A message naming another origin is refused: a peer sends only its own.
    pub fn receive(&self, message: &Value, from: &str) {
        let (Some(topic), Some(origin)) = (
            message.get("topic").and_then(Value::as_str),
            message.get("origin").and_then(Value::as_str),
        ) else {
            tracing::warn!("malformed replicator message ignored");
            return;
        };
        if origin == self.node {
            // Our own message coming back would be a loop: it was dispatched when sent.
            return;
        }
        if origin != from {
            tracing::warn!(peer = %from, origin = ?origin, "replicator message naming another origin refused");
            return;
        }
        let payload = message.get("payload").unwrap_or(&Value::Null);
        self.dispatch(topic, payload, false, origin);
    }

    fn dispatch(&self, topic: &str, payload: &Value, is_local: bool, origin: &str) {
        let handlers: Vec<TopicHandler> = self
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .map(|h| h.iter().map(|(_, f)| f.clone()).collect())
            .unwrap_or_default();
        for handler in handlers {
            handler(payload, is_local, origin);
        }
    }
}
