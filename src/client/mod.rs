//! A Rust client speaking the same protocol as the happn-3 client: connect and log in, every
//! data operation, subscriptions with handlers or streams, and automatic reconnection that
//! logs in again and re-subscribes every listener.
//!
//! ```no_run
//! # async fn demo() -> happn_cluster::sdk::Result<()> {
//! use happn_cluster::client::{Client, ClientOptions, OnOptions};
//! let client = Client::connect(ClientOptions::new("http://127.0.0.1:55000")).await?;
//! let (_handle, mut events) = client.on_stream("/sensors/*", OnOptions::default()).await?;
//! client.set("/sensors/1", serde_json::json!({"temp": 21})).await?;
//! let event = events.recv().await;
//! # Ok(()) }
//! ```

mod connection;
mod options;

pub use options::{ClientOptions, EventType, GetOptions, OnOptions, SetOptions};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster_sdk::{Error, Outbound, Result};
use serde_json::{Map, Number, Value, json};
use tokio::sync::{mpsc, oneshot, watch};

/// One event delivered to a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event data (`{removed: N}` for removes).
    pub data: Value,
    /// The event `_meta` (`path`, `action`, `channel`, `publicationId`, …).
    pub meta: Value,
}

impl Event {
    /// The path the event happened at.
    pub fn path(&self) -> Option<&str> {
        self.meta.get("path").and_then(Value::as_str)
    }
}

/// The result of a write whose consistency asks for publication results.
#[derive(Debug, Clone)]
pub struct Written {
    /// The write's reply (data plus `_meta`).
    pub reply: Value,
    /// The `publication-ack` result (DEFERRED / ACKNOWLEDGED), or its error.
    pub publication: Option<std::result::Result<Value, Error>>,
}

/// Connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Logged in and usable.
    Active,
    /// Lost the connection; reconnecting.
    Reconnecting,
    /// Closed for good.
    Disconnected,
}

type Handler = Box<dyn Fn(Event) + Send + Sync>;

enum Sink {
    Handler(Handler),
    Stream(mpsc::UnboundedSender<Event>),
}

struct Listener {
    channel: String,
    options: OnOptions,
    reference: Option<String>,
    remaining: Option<u32>,
    sink: Arc<Sink>,
}

#[derive(Default)]
struct State {
    outbound: Option<mpsc::Sender<Outbound>>,
    terminator: Option<happn_cluster_sdk::Terminator>,
    /// Which connection attempt is current (a stale reader must not clean up a newer one).
    generation: u64,
    session: Option<Value>,
    pending: HashMap<String, oneshot::Sender<Value>>,
    acks: HashMap<String, oneshot::Sender<Value>>,
    listeners: HashMap<u64, Listener>,
    next_handle: u64,
    closed_by_user: bool,
    last_disconnect_reason: Option<String>,
}

struct Inner {
    options: ClientOptions,
    state: Mutex<State>,
    next_event_id: AtomicU64,
    status: watch::Sender<Status>,
}

/// A connected happn client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.options.url)
            .field("status", &*self.inner.status.borrow())
            .finish()
    }
}

impl Client {
    /// Connects, configures the session and logs in.
    pub async fn connect(options: ClientOptions) -> Result<Client> {
        let (status, _) = watch::channel(Status::Reconnecting);
        let client = Client {
            inner: Arc::new(Inner {
                options,
                state: Mutex::new(State::default()),
                next_event_id: AtomicU64::new(1),
                status,
            }),
        };
        connection::establish(&client).await?;
        Ok(client)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session id given by the server at login.
    pub fn session_id(&self) -> Option<String> {
        self.state()
            .session
            .as_ref()
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The login reply (the server's session record).
    pub fn session(&self) -> Option<Value> {
        self.state().session.clone()
    }

    /// Current connection status.
    pub fn status(&self) -> Status {
        *self.inner.status.borrow()
    }

    /// Watches status changes (e.g. to wait for a reconnect).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// The reason the server gave in its last `server-side-disconnect`, if any.
    pub fn last_disconnect_reason(&self) -> Option<String> {
        self.state().last_disconnect_reason.clone()
    }

    /// Sends one request and waits for its reply frame (errors become `Err`).
    pub async fn request(
        &self,
        action: &str,
        path: Option<&str>,
        data: Value,
        options: Option<Map<String, Value>>,
    ) -> Result<Value> {
        let event_id = self.inner.next_event_id.fetch_add(1, Ordering::Relaxed);
        self.request_with_id(event_id, action, path, data, options)
            .await
    }

    async fn request_with_id(
        &self,
        event_id: u64,
        action: &str,
        path: Option<&str>,
        data: Value,
        options: Option<Map<String, Value>>,
    ) -> Result<Value> {
        let (tx, rx) = oneshot::channel();
        let outbound = {
            let mut state = self.state();
            state.pending.insert(event_id.to_string(), tx);
            state.outbound.clone()
        };
        let Some(outbound) = outbound else {
            self.state().pending.remove(&event_id.to_string());
            return Err(Error::unavailable("client is not connected"));
        };
        let mut frame = Map::new();
        frame.insert("action".into(), action.into());
        frame.insert("eventId".into(), event_id.into());
        if let Some(path) = path {
            frame.insert("path".into(), path.into());
        }
        frame.insert("data".into(), data);
        if let Some(id) = self.session_id() {
            frame.insert("sessionId".into(), id.into());
        }
        if let Some(options) = options {
            frame.insert("options".into(), Value::Object(options));
        }
        let text: Arc<str> = Value::Object(frame).to_string().into();
        let exchange = async {
            if outbound.send(Outbound::Text(text)).await.is_err() {
                return Err(Error::unavailable("connection closed"));
            }
            rx.await
                .map_err(|_| Error::unavailable("connection lost before the reply"))
        };
        let reply = match tokio::time::timeout(self.inner.options.call_timeout, exchange).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                self.state().pending.remove(&event_id.to_string());
                return Err(e);
            }
            Err(_) => {
                self.state().pending.remove(&event_id.to_string());
                return Err(Error::Timeout(format!(
                    "api request timed out path: {} action: {action}",
                    path.unwrap_or("")
                )));
            }
        };
        check_reply(reply)
    }

    /// Writes `data` at `path` (replacing what was there); returns the stored data + `_meta`.
    pub async fn set(&self, path: &str, data: Value) -> Result<Value> {
        Ok(self
            .set_with(path, data, SetOptions::default())
            .await?
            .reply)
    }

    /// Writes with options (merge, consistency, noPublish, meta, targetClients, …).
    pub async fn set_with(&self, path: &str, data: Value, options: SetOptions) -> Result<Written> {
        let wait_ack = matches!(options.consistency, Some(1) | Some(3));
        let map = options.to_map();
        self.write("set", path, data, map, wait_ack).await
    }

    /// Publishes an event without storing anything.
    pub async fn publish(&self, path: &str, data: Value) -> Result<Value> {
        let mut options = SetOptions::default().to_map();
        options.insert("noStore".into(), true.into());
        options.insert("noDataResponse".into(), true.into());
        Ok(self.write("set", path, data, options, false).await?.reply)
    }

    /// Atomically adds `by` to gauge `gauge` at `path`; returns the new value.
    pub async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: impl Into<Number>,
    ) -> Result<Number> {
        let mut options = Map::new();
        options.insert("increment".into(), Value::Number(by.into()));
        let reply = self
            .request("set", Some(path), gauge.into(), Some(options))
            .await?;
        reply
            .get("data")
            .and_then(|d| d.get("value"))
            .and_then(Value::as_number)
            .cloned()
            .ok_or_else(|| Error::internal("increment reply has no value"))
    }

    /// Removes the record(s) at `path` (wildcards allowed); returns how many.
    pub async fn remove(&self, path: &str) -> Result<u64> {
        let written = self.remove_with(path, SetOptions::default()).await?;
        Ok(written
            .reply
            .get("removed")
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    /// Removes with options (consistency, noPublish, meta, …).
    pub async fn remove_with(&self, path: &str, options: SetOptions) -> Result<Written> {
        let wait_ack = matches!(options.consistency, Some(1) | Some(3));
        self.write("remove", path, Value::Null, options.to_map(), wait_ack)
            .await
    }

    async fn write(
        &self,
        action: &str,
        path: &str,
        data: Value,
        options: Map<String, Value>,
        wait_ack: bool,
    ) -> Result<Written> {
        let event_id = self.inner.next_event_id.fetch_add(1, Ordering::Relaxed);
        let ack_id = format!("{}-{event_id}", self.session_id().unwrap_or_default());
        let ack = if wait_ack {
            let (tx, rx) = oneshot::channel();
            self.state().acks.insert(ack_id.clone(), tx);
            Some(rx)
        } else {
            None
        };
        let reply = match self
            .request_with_id(event_id, action, Some(path), data, Some(options))
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                self.state().acks.remove(&ack_id);
                return Err(e);
            }
        };
        let publication = match ack {
            None => None,
            Some(rx) => Some(
                match tokio::time::timeout(self.inner.options.call_timeout, rx).await {
                    Ok(Ok(ack)) => {
                        if ack.get("status").and_then(Value::as_str) == Some("error") {
                            Err(Error::Timeout(
                                ack.get("error")
                                    .and_then(Value::as_str)
                                    .unwrap_or("publication failed")
                                    .to_string(),
                            ))
                        } else {
                            Ok(ack.get("result").cloned().unwrap_or(Value::Null))
                        }
                    }
                    Ok(Err(_)) => Err(Error::unavailable("connection lost")),
                    Err(_) => {
                        self.state().acks.remove(&ack_id);
                        Err(Error::Timeout("publish timed out".into()))
                    }
                },
            ),
        };
        Ok(Written {
            reply: flatten(reply),
            publication,
        })
    }

    /// The record at exactly `path`, or `None`.
    pub async fn get(&self, path: &str) -> Result<Option<Value>> {
        let reply = self.get_with(path, GetOptions::default()).await?;
        Ok(match reply {
            Value::Null => None,
            other => Some(other),
        })
    }

    /// Every record matching a wildcard `path` and the options.
    pub async fn get_many(&self, path: &str, options: GetOptions) -> Result<Vec<Value>> {
        match self.get_with(path, options).await? {
            Value::Array(items) => Ok(items),
            Value::Null => Ok(Vec::new()),
            other => Ok(vec![other]),
        }
    }

    /// A raw get: an object (exact path), `null`, or an array (wildcard path).
    pub async fn get_with(&self, path: &str, options: GetOptions) -> Result<Value> {
        let reply = self
            .request("get", Some(path), Value::Null, Some(options.to_map()))
            .await?;
        Ok(flatten(reply))
    }

    /// The paths of the records matching `path`.
    pub async fn get_paths(&self, path: &str) -> Result<Vec<String>> {
        let options = GetOptions {
            path_only: true,
            ..GetOptions::default()
        };
        Ok(self
            .get_many(path, options)
            .await?
            .iter()
            .filter_map(|item| item.pointer("/_meta/path").and_then(Value::as_str))
            .map(str::to_string)
            .collect())
    }

    /// Counts records matching `path` (and criteria).
    pub async fn count(&self, path: &str, options: GetOptions) -> Result<u64> {
        let reply = self
            .request("count", Some(path), Value::Null, Some(options.to_map()))
            .await?;
        reply
            .pointer("/data/value")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::internal("count reply has no value"))
    }

    /// Subscribes with a handler called for every event (on the client's reader task: keep
    /// it quick). Returns the listener handle and any initial values requested.
    pub async fn on(
        &self,
        path: &str,
        options: OnOptions,
        handler: impl Fn(Event) + Send + Sync + 'static,
    ) -> Result<(u64, Vec<Value>)> {
        self.subscribe(path, options, Sink::Handler(Box::new(handler)))
            .await
    }

    /// Subscribes and returns a stream of events.
    pub async fn on_stream(
        &self,
        path: &str,
        options: OnOptions,
    ) -> Result<(u64, mpsc::UnboundedReceiver<Event>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (handle, initial) = self
            .subscribe(path, options, Sink::Stream(tx.clone()))
            .await?;
        for item in initial {
            let meta = item.get("_meta").cloned().unwrap_or(Value::Null);
            let _ = tx.send(Event { data: item, meta });
        }
        Ok((handle, rx))
    }

    async fn subscribe(
        &self,
        path: &str,
        options: OnOptions,
        sink: Sink,
    ) -> Result<(u64, Vec<Value>)> {
        let channel = options.channel(path);
        let reply = self
            .request(
                "on",
                Some(&channel),
                Value::Null,
                Some(options.to_map(path)),
            )
            .await?;
        let (reference, initial) = match reply.get("data") {
            Some(Value::Array(items)) => (
                reply.pointer("/_meta/referenceId").map(reference_text),
                items.clone(),
            ),
            Some(data) => (data.get("id").map(reference_text), Vec::new()),
            None => (None, Vec::new()),
        };
        let mut state = self.state();
        let handle = state.next_handle;
        state.next_handle += 1;
        state.listeners.insert(
            handle,
            Listener {
                channel,
                remaining: (options.count > 0).then_some(options.count),
                options,
                reference,
                sink: Arc::new(sink),
            },
        );
        Ok((handle, initial))
    }

    /// Removes one listener.
    pub async fn off(&self, handle: u64) -> Result<()> {
        let listener = self.state().listeners.remove(&handle);
        let Some(listener) = listener else {
            return Ok(());
        };
        self.remote_off(&listener).await
    }

    async fn remote_off(&self, listener: &Listener) -> Result<()> {
        let mut options = Map::new();
        if let Some(reference) = &listener.reference {
            options.insert("referenceId".into(), reference.clone().into());
        }
        self.request("off", Some(&listener.channel), Value::Null, Some(options))
            .await
            .map(|_| ())
    }

    /// Removes every listener of this client.
    pub async fn off_all(&self) -> Result<()> {
        self.state().listeners.clear();
        let mut options = Map::new();
        options.insert("referenceId".into(), 0.into());
        self.request("off", Some("*"), Value::Null, Some(options))
            .await
            .map(|_| ())
    }

    /// Number of local listeners.
    pub fn listener_count(&self) -> usize {
        self.state().listeners.len()
    }

    /// The session token from login (secure nodes).
    pub fn token(&self) -> Option<String> {
        self.state()
            .session
            .as_ref()
            .and_then(|s| s.get("token"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Logs out: revokes the session's token (ending every session created from it) and
    /// closes the connection.
    pub async fn logout(&self) -> Result<()> {
        self.state().closed_by_user = true;
        let result = self
            .request("revoke-token", None, Value::Null, None)
            .await
            .map(|_| ());
        self.disconnect().await;
        result
    }

    /// Closes the connection for good (no reconnect).
    pub async fn disconnect(&self) {
        let outbound = {
            let mut state = self.state();
            state.closed_by_user = true;
            state.outbound.take()
        };
        if let Some(outbound) = outbound {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                outbound.send(Outbound::Close { reconnect: false }),
            )
            .await;
        }
        self.state().terminator = None;
        let _ = self.inner.status.send_replace(Status::Disconnected);
    }

    /// Waits until the status is `want` or `timeout` passes.
    pub async fn wait_for(&self, want: Status, timeout: Duration) -> bool {
        let mut rx = self.inner.status.subscribe();
        tokio::time::timeout(timeout, async {
            loop {
                if *rx.borrow_and_update() == want {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }
}

fn reference_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Turns a reply frame into an error when its `_meta.status` is `error`.
fn check_reply(reply: Value) -> Result<Value> {
    if reply.pointer("/_meta/status").and_then(Value::as_str) != Some("error") {
        return Ok(reply);
    }
    let error = reply
        .pointer("/_meta/error")
        .cloned()
        .unwrap_or(Value::Null);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unknown error")
        .to_string();
    let name = error.get("name").and_then(Value::as_str).unwrap_or("Error");
    let text = format!("{name}: {message}");
    Err(match error.get("code").and_then(Value::as_u64) {
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
    })
}

/// The client view of a reply: `data` with `_meta` attached (objects), the array (arrays),
/// or `null`.
fn flatten(reply: Value) -> Value {
    match reply {
        Value::Array(items) => Value::Array(items),
        Value::Object(mut map) => {
            let meta = map.remove("_meta").unwrap_or(Value::Null);
            match map.remove("data") {
                Some(Value::Object(mut data)) => {
                    data.insert("_meta".into(), meta);
                    Value::Object(data)
                }
                Some(Value::Null) => Value::Null,
                Some(other) => other,
                None => json!({"_meta": meta}),
            }
        }
        other => other,
    }
}
