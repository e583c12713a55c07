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
mod data;
pub mod http;
mod options;
mod subscribe;

pub use options::{Authenticator, ClientOptions, EventType, GetOptions, OnOptions, SetOptions};

use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster_sdk::{Error, Outbound, Result};
use serde_json::{Map, Value};
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

/// Turns a reply frame into an error when its `_meta.status` is `error`.
fn check_reply(reply: Value) -> Result<Value> {
    match crate::protocol::reply_error(&reply) {
        Some(error) => Err(error),
        None => Ok(reply),
    }
}
