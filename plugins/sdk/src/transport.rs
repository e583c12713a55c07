//! The `Transport` trait: accepting client sessions and dialling peers.
//!
//! A transport turns sockets into [`Connection`]s: two bounded queues of application text
//! frames. Framing details (websocket, primus heartbeats) stay inside the transport; the host
//! only sees whole JSON texts. HTTP requests that are not upgrades go to the host's
//! [`Host::http`] handler.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc, watch};

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

impl Inbound {
    /// The bytes this item counts against [`Connection::inbound_bytes`] while queued; the
    /// host gives exactly this back once it has handled the item.
    pub fn queued_bytes(&self) -> usize {
        match self {
            Inbound::Text(text) => text.len(),
            Inbound::Oversized { head, .. } => head.len(),
            Inbound::Rejected(reason) | Inbound::Closed(reason) => reason.len(),
        }
    }
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

/// A byte budget shared by the two ends of a queue: the producer takes bytes before queueing
/// a frame, the consumer gives them back once the frame is handled. A frame is always
/// admitted into an empty queue, so one message larger than the budget still passes.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicUsize,
    /// Bytes ever taken and ever given back: a frame queued when `taken` reached `n` has
    /// been handled once `returned` reaches `n` (the queue is FIFO).
    taken: AtomicU64,
    returned: AtomicU64,
    limit: usize,
    closed: AtomicBool,
    freed: Notify,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(ByteBudget {
            used: AtomicUsize::new(0),
            taken: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            limit: limit.max(1),
            closed: AtomicBool::new(false),
            freed: Notify::new(),
        })
    }

    /// Takes `bytes` if they fit (or the queue is empty); false otherwise.
    pub fn try_take(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            if used != 0 && used.saturating_add(bytes) > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(
                used,
                used.saturating_add(bytes),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.taken.fetch_add(bytes as u64, Ordering::AcqRel);
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    /// Waits until `bytes` fit, then takes them; false once the budget is closed.
    pub async fn take(&self, bytes: usize) -> bool {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            if self.try_take(bytes) {
                return true;
            }
            freed.await;
        }
    }

    /// Gives `bytes` back and wakes waiters.
    pub fn give_back(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(bytes))
            });
        self.returned.fetch_add(bytes as u64, Ordering::AcqRel);
        self.freed.notify_waiters();
    }

    /// A mark covering every frame taken so far: [`ByteBudget::handled`] resolves once all
    /// of them have been given back (written, or dropped).
    pub fn mark(&self) -> u64 {
        self.taken.load(Ordering::Acquire)
    }

    /// Waits until every frame taken before `mark` was given back, or the budget closed.
    pub async fn handled(&self, mark: u64) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.closed.load(Ordering::Acquire) || self.returned.load(Ordering::Acquire) >= mark
            {
                return;
            }
            freed.await;
        }
    }

    /// Bytes currently taken.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The configured limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Ends the budget: waiters (and later callers of [`ByteBudget::take`]) get false.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.freed.notify_waiters();
    }
}

/// One established connection, as two queues. Dropping `outbound` closes the connection.
#[derive(Debug)]
pub struct Connection {
    /// What is known about the peer.
    pub info: ConnectionInfo,
    /// Frames to write. Bounded: a full queue means the peer is not keeping up.
    pub outbound: mpsc::Sender<Outbound>,
    /// Bytes of `outbound` frames not yet handed to the socket: the host takes, the
    /// transport gives back as it writes (limit [`ServeOptions::outbound_bytes`]).
    pub outbound_bytes: Arc<ByteBudget>,
    /// Frames received.
    pub inbound: mpsc::Receiver<Inbound>,
    /// Bytes of `inbound` frames the host has not handled yet: the transport takes (and stops
    /// reading the socket while they do not fit), the host gives back after each frame
    /// (limit [`ServeOptions::max_message_bytes`]).
    pub inbound_bytes: Arc<ByteBudget>,
    /// Closes the connection immediately, skipping the outbound queue.
    pub terminator: Terminator,
}

impl Connection {
    /// A connection with no socket behind it, and the transport's end of it: for programs
    /// that talk to an embedded node in process, and for tests. `frames` bounds both
    /// queues; `bytes` is each direction's byte budget.
    pub fn in_process(frames: usize, bytes: usize) -> (Connection, InProcessPeer) {
        let (to_host, inbound) = mpsc::channel(frames.max(1));
        let (outbound, from_host) = mpsc::channel(frames.max(1));
        let (terminator, terminated) = Terminator::new();
        let outbound_bytes = ByteBudget::new(bytes);
        let inbound_bytes = ByteBudget::new(bytes);
        let connection = Connection {
            info: ConnectionInfo::default(),
            outbound,
            outbound_bytes: outbound_bytes.clone(),
            inbound,
            inbound_bytes: inbound_bytes.clone(),
            terminator,
        };
        let peer = InProcessPeer {
            to_host,
            from_host,
            outbound_bytes,
            inbound_bytes,
            terminated,
        };
        (connection, peer)
    }
}

/// The transport's end of an in-process [`Connection`]: send frames to the host, receive
/// what it writes back. Dropping it ends the connection.
#[derive(Debug)]
pub struct InProcessPeer {
    to_host: mpsc::Sender<Inbound>,
    from_host: mpsc::Receiver<Outbound>,
    outbound_bytes: Arc<ByteBudget>,
    inbound_bytes: Arc<ByteBudget>,
    terminated: watch::Receiver<Option<Termination>>,
}

impl InProcessPeer {
    /// Sends one text frame (a JSON request), waiting while the host has a full budget of
    /// unhandled frames. False once the host has dropped the connection.
    pub async fn send(&self, text: impl Into<String>) -> bool {
        let text = text.into();
        self.inbound_bytes.take(text.len()).await
            && self.to_host.send(Inbound::Text(text)).await.is_ok()
    }

    /// The next frame the host wrote, or `None` once it closed the connection (a close
    /// request, or an immediate termination).
    pub async fn recv(&mut self) -> Option<Arc<str>> {
        if self.terminated.borrow().is_some() {
            return None;
        }
        tokio::select! {
            // Frames already queued come first.
            biased;
            frame = self.from_host.recv() => match frame {
                Some(Outbound::Text(text)) => {
                    self.outbound_bytes.give_back(text.len());
                    Some(text)
                }
                Some(Outbound::Close { .. }) | None => None,
            },
            _ = self.terminated.changed() => None,
        }
    }

    /// Ends the connection from the transport's side, with `reason` for the host's logs.
    pub async fn close(self, reason: &str) {
        let _ = self.to_host.send(Inbound::Closed(reason.to_string())).await;
    }
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
    /// The client's socket address, when known.
    pub remote: Option<SocketAddr>,
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
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Extra headers (content-type included).
    pub headers: Vec<(String, String)>,
    /// Body bytes (written first when there is also a `stream`).
    pub body: Vec<u8>,
    /// A body that goes on as the host produces it (Server-Sent Events): each chunk is
    /// written and flushed when it arrives; the response ends when the sender is dropped.
    pub stream: Option<mpsc::Receiver<Vec<u8>>>,
}

impl HttpResponse {
    /// A response with this content type and body.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            stream: None,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::bytes(status, "application/json", body.to_string())
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::bytes(status, "text/plain; charset=utf-8", body.into())
    }

    /// A streamed response of this content type: the chunks `stream` yields, until its
    /// sender is dropped.
    pub fn streaming(status: u16, content_type: &str, stream: mpsc::Receiver<Vec<u8>>) -> Self {
        HttpResponse {
            stream: Some(stream),
            ..Self::bytes(status, content_type, Vec::new())
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
    /// Capacity of each connection's outbound queue, in frames.
    pub outbound_queue: usize,
    /// Capacity of each connection's outbound queue, in bytes.
    pub outbound_bytes: usize,
    /// Most connections served at once on one listener; more are refused with a 503.
    pub max_connections: usize,
    /// Most connections from one remote address at once (0: no such limit); more are
    /// refused with a 503, so one address cannot hold every slot.
    pub max_connections_per_address: usize,
    /// An HTTP connection (not yet upgraded) idle this long is closed.
    pub http_idle_timeout: Duration,
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
            outbound_bytes: 8 * 1024 * 1024,
            max_connections: 10_000,
            max_connections_per_address: 5_000,
            http_idle_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(25),
            dead_after: Duration::from_secs(75),
            tls: None,
            allow_self_signed_certs: false,
        }
    }
}

/// The address a per-address limit counts a remote under: an IPv4 address (IPv4-mapped
/// IPv6 included) as itself, an IPv6 address by its /64 prefix (one host usually holds a
/// whole /64, so counting single IPv6 addresses would not limit anyone).
pub fn address_group(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(_) => ip,
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                std::net::IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            }
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A mark resolves once every frame taken before it was given back, in FIFO order,
    /// and not before; a closed budget releases waiters.
    #[tokio::test]
    async fn marks_resolve_when_earlier_frames_are_handled() {
        let budget = ByteBudget::new(1024);
        assert!(budget.try_take(10));
        assert!(budget.try_take(20));
        let mark = budget.mark();
        assert!(budget.try_take(5), "a frame queued after the mark");
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.handled(mark).await })
        };
        budget.give_back(10);
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "20 bytes before the mark are still queued"
        );
        budget.give_back(20);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the mark resolves once they are handled")
            .unwrap();
        let later = budget.mark();
        let closed = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.handled(later + 1_000).await })
        };
        budget.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), closed)
            .await
            .expect("closing releases waiters")
            .unwrap();
    }
}
