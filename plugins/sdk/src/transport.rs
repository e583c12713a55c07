//! The `Transport` trait: accepting client sessions and dialling peers.
//!
//! A transport turns sockets into [`Connection`]s: two bounded queues of application text
//! frames. Framing details (websocket, primus heartbeats) stay inside the transport; the host
//! only sees whole JSON texts. HTTP requests that are not upgrades go to the host's
//! [`Host::http`] handler.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use crate::error::Result;

/// A frame the host wants written to the peer.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// One JSON text; shared so a fan-out encodes once.
    Text(Arc<str>),
    /// Close the connection after the frames queued before this one. With `reconnect: false`
    /// the peer is told not to reconnect (primus `server::close`).
    Close {
        /// Whether the peer may reconnect.
        reconnect: bool,
    },
}

/// An immediate close that skips whatever is still queued (slow consumers, shutdown).
#[derive(Debug, Clone, Default)]
pub struct Termination {
    /// Frames written before closing (e.g. a disconnect notice).
    pub last_words: Vec<Arc<str>>,
    /// Whether the peer may reconnect.
    pub reconnect: bool,
}

/// The handle that terminates a connection immediately.
#[derive(Debug, Clone)]
pub struct Terminator(Arc<watch::Sender<Option<Termination>>>);

impl Terminator {
    /// A terminator and the receiver the transport watches.
    pub fn new() -> (Self, watch::Receiver<Option<Termination>>) {
        let (tx, rx) = watch::channel(None);
        (Terminator(Arc::new(tx)), rx)
    }

    /// Closes the connection now.
    pub fn terminate(&self, termination: Termination) {
        let _ = self.0.send(Some(termination));
    }
}

/// A frame (or the end) received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// One application text frame.
    Text(String),
    /// A text frame larger than the limit; only its beginning is kept (so the host can find
    /// the request id and answer with an error).
    Oversized {
        /// Size of the refused frame in bytes.
        size: usize,
        /// The frame's first bytes.
        head: String,
    },
    /// A frame was refused before reaching the host (not text, not UTF-8…): the reason.
    Rejected(String),
    /// The connection ended; the reason says why.
    Closed(String),
}

/// Facts about a connection known at accept time.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInfo {
    /// The remote socket address.
    pub remote: Option<SocketAddr>,
    /// The upgrade request's path and query.
    pub url: String,
    /// The upgrade request's headers (lower-case names).
    pub headers: Vec<(String, String)>,
}

/// One established connection, as two queues. Dropping `outbound` closes the connection.
#[derive(Debug)]
pub struct Connection {
    /// What is known about the peer.
    pub info: ConnectionInfo,
    /// Frames to write. Bounded: a full queue means the peer is not keeping up.
    pub outbound: mpsc::Sender<Outbound>,
    /// Frames received.
    pub inbound: mpsc::Receiver<Inbound>,
    /// Closes the connection immediately, skipping the outbound queue.
    pub terminator: Terminator,
}

/// A plain HTTP request the transport received (anything that is not a websocket upgrade).
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The host's answer to an [`HttpRequest`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Extra headers (content-type included).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.into().into_bytes(),
        }
    }
}

/// What a transport hands accepted work to.
#[async_trait]
pub trait Host: Send + Sync + 'static {
    /// Takes ownership of a newly accepted connection.
    fn accept(&self, connection: Connection);

    /// Answers a plain HTTP request.
    async fn http(&self, request: HttpRequest) -> HttpResponse;
}

/// PEM files that switch a listener to TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert_path: std::path::PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_path: std::path::PathBuf,
}

/// Limits and timings a transport applies to every connection.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Largest accepted inbound message; bigger ones are rejected (the connection stays up).
    pub max_message_bytes: usize,
    /// Capacity of each connection's outbound queue.
    pub outbound_queue: usize,
    /// Interval of server heartbeats.
    pub ping_interval: Duration,
    /// A peer silent for this long is considered dead and dropped.
    pub dead_after: Duration,
    /// Serve TLS with these files (None: plain TCP).
    pub tls: Option<TlsFiles>,
    /// When dialling `wss://`, accept certificates no known authority signed (self-signed
    /// test and internal deployments). Off by default.
    pub allow_self_signed_certs: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_message_bytes: 10 * 1024 * 1024,
            outbound_queue: 1024,
            ping_interval: Duration::from_secs(25),
            dead_after: Duration::from_secs(75),
            tls: None,
            allow_self_signed_certs: false,
        }
    }
}

/// Accepts sessions and dials peers.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Checks `options` before serving (e.g. loads TLS files), so a node fails at start-up
    /// rather than serving without its client port.
    fn check(&self, _options: &ServeOptions) -> Result<()> {
        Ok(())
    }

    /// Serves `listener` until `shutdown` turns true, handing connections and HTTP requests to
    /// `host`. Returns once the listener is closed.
    async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        host: Arc<dyn Host>,
        options: ServeOptions,
        shutdown: watch::Receiver<bool>,
    ) -> Result<()>;

    /// Opens a client connection to `url` (e.g. `ws://10.0.0.1:57000`).
    async fn dial(&self, url: &str, options: &ServeOptions) -> Result<Connection>;
}
