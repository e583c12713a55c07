//! Options of the client's calls, encoded the way the happn-3 client sends them.

use std::time::Duration;

use serde_json::{Map, Value};

/// How to connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `http://host:port` (or `ws://…`); the WebSocket path `/primus` is added.
    pub url: String,
    /// Username for secure nodes.
    pub username: Option<String>,
    /// Password for secure nodes.
    pub password: Option<String>,
    /// A token from an earlier login (instead of username/password).
    pub token: Option<String>,
    /// Session info sent at login.
    pub info: Value,
    /// Per-request timeout.
    pub call_timeout: Duration,
    /// Reconnect (and log in and re-subscribe) automatically when the connection drops.
    pub reconnect: bool,
    /// Largest frame accepted from the server.
    pub max_message_bytes: usize,
    /// For `https://` / `wss://` URLs: accept self-signed server certificates.
    pub allow_self_signed_certs: bool,
    /// Runs instead of `login` (cluster peer links prove membership this way); None logs in
    /// with the credentials above.
    pub authenticator: Option<std::sync::Arc<dyn Authenticator>>,
}

/// Replaces the `login` step of connecting: runs after `configure-session` and `describe`
/// on every (re)connection, and returns the session document `login` would have returned.
#[async_trait::async_trait]
pub trait Authenticator: std::fmt::Debug + Send + Sync + 'static {
    /// Authenticates the fresh connection of `client`.
    async fn authenticate(&self, client: &super::Client) -> happn_cluster_sdk::Result<Value>;
}

impl ClientOptions {
    /// Defaults for `url`: anonymous, 60 s call timeout, reconnecting.
    pub fn new(url: impl Into<String>) -> Self {
        ClientOptions {
            url: url.into(),
            username: None,
            password: None,
            token: None,
            info: Value::Object(Map::new()),
            call_timeout: Duration::from_secs(60),
            reconnect: true,
            max_message_bytes: 64 * 1024 * 1024,
            allow_self_signed_certs: false,
            authenticator: None,
        }
    }

    /// Sets username and password.
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }
}

/// Options of `set` / `remove`.
#[derive(Debug, Clone, Default)]
pub struct SetOptions {
    /// Shallow-merge into the existing record.
    pub merge: bool,
    /// Store without publishing an event.
    pub no_publish: bool,
    /// 0 QUEUED, 1 DEFERRED, 2 TRANSACTIONAL (default), 3 ACKNOWLEDGED.
    pub consistency: Option<u8>,
    /// Extra fields copied into the event `_meta`.
    pub meta: Option<Map<String, Value>>,
    /// Deliver the event only to these session ids.
    pub target_clients: Option<Vec<String>>,
    /// Do not replicate the event to other cluster nodes.
    pub no_cluster: bool,
    /// Attach delivery counts to the reply (`_meta.publishResults`).
    pub publish_results: bool,
}

impl SetOptions {
    pub(super) fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        if self.merge {
            map.insert("merge".into(), true.into());
        }
        if self.no_publish {
            map.insert("noPublish".into(), true.into());
        }
        if let Some(c) = self.consistency {
            map.insert("consistency".into(), c.into());
        }
        if let Some(meta) = &self.meta {
            map.insert("meta".into(), Value::Object(meta.clone()));
        }
        if let Some(targets) = &self.target_clients {
            map.insert("targetClients".into(), targets.clone().into());
        }
        if self.no_cluster {
            map.insert("noCluster".into(), true.into());
        }
        if self.publish_results {
            map.insert("publishResults".into(), true.into());
        }
        map
    }
}

/// Options of `get` / `count`.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Mongo-style criteria.
    pub criteria: Option<Value>,
    /// Sort document (`{"_meta.modified": -1}`).
    pub sort: Option<Value>,
    /// Page size.
    pub limit: Option<u64>,
    /// Page offset.
    pub skip: Option<u64>,
    /// Projection (`{"name": 1}`).
    pub fields: Option<Value>,
    /// Return only paths.
    pub path_only: bool,
}

impl GetOptions {
    pub(super) fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        if let Some(criteria) = &self.criteria {
            map.insert("criteria".into(), criteria.clone());
        }
        let mut inner = Map::new();
        if let Some(sort) = &self.sort {
            inner.insert("sort".into(), sort.clone());
        }
        if let Some(limit) = self.limit {
            inner.insert("limit".into(), limit.into());
        }
        if let Some(skip) = self.skip {
            inner.insert("skip".into(), skip.into());
        }
        if let Some(fields) = &self.fields {
            inner.insert("fields".into(), fields.clone());
        }
        if self.path_only {
            inner.insert("path_only".into(), true.into());
        }
        if !inner.is_empty() {
            map.insert("options".into(), Value::Object(inner));
        }
        map
    }
}

/// Which events a subscription receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventType {
    /// Sets and removes.
    #[default]
    All,
    /// Sets only.
    Set,
    /// Removes only.
    Remove,
}

/// Options of `on`.
#[derive(Debug, Clone, Default)]
pub struct OnOptions {
    /// Event filter.
    pub event_type: EventType,
    /// Stop after this many events (0 = never).
    pub count: u32,
    /// Depth of a trailing `**` (default 5).
    pub depth: Option<u32>,
    /// Return current matching records with the subscription.
    pub initial_values: bool,
    /// For merge writes, receive the posted fields instead of the merged record.
    pub merge: bool,
    /// Free-form metadata stored with the subscription.
    pub meta: Option<Value>,
}

impl OnOptions {
    /// The channel key for `path` (`/SET@/a/*`).
    pub fn channel(&self, path: &str) -> String {
        let kind = match self.event_type {
            EventType::All => "ALL",
            EventType::Set => "SET",
            EventType::Remove => "REMOVE",
        };
        format!("/{kind}@{path}")
    }

    pub(super) fn to_map(&self, path: &str) -> Map<String, Value> {
        let mut map = Map::new();
        let kind = match self.event_type {
            EventType::All => "all",
            EventType::Set => "set",
            EventType::Remove => "remove",
        };
        map.insert("event_type".into(), kind.into());
        map.insert("count".into(), self.count.into());
        if path == "**" || path.ends_with("/**") {
            map.insert("depth".into(), self.depth.unwrap_or(5).into());
        }
        if self.initial_values {
            map.insert("initialCallback".into(), true.into());
        }
        if self.merge {
            map.insert("merge".into(), true.into());
        }
        if let Some(meta) = &self.meta {
            map.insert("meta".into(), meta.clone());
        }
        map
    }
}
