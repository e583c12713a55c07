//! A running node: builds the datastores and publisher from config, serves the internal
//! (peer) port and the client port, and shuts down gracefully.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use happn_cluster_sdk::{
    Connection, Error, Host, HttpRequest, HttpResponse, Result, ServeOptions, Transport,
};
use happn_transport_websocket::WebSocketTransport;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{self, Config};
use crate::data::DataService;
use crate::http;
use crate::metrics::Metrics;
use crate::pubsub::PubSub;
use crate::security::SecurityService;
use crate::session::{self, SessionHandle};

/// Limits applied to every session.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted inbound message.
    pub max_message_bytes: usize,
    /// Outbound queue capacity per session.
    pub outbound_queue: usize,
    /// Server heartbeat interval.
    pub ping_interval: Duration,
    /// How long an ACKNOWLEDGED publication waits for subscriber acks.
    pub acknowledge_timeout: Duration,
    /// Secure sessions must log in within this long of connecting.
    pub login_timeout: Duration,
    /// Longest accepted path or mask, and most segments in one.
    pub paths: crate::path::PathLimits,
}

/// Everything a session needs from its node.
pub struct NodeContext {
    /// The node's name.
    pub name: String,
    /// Whether security is on.
    pub secure: bool,
    /// Datastores and routing.
    pub data: Arc<DataService>,
    /// Users, groups, permissions and tokens (enforced only when `secure`).
    pub security: Arc<SecurityService>,
    /// Sessions idle longer than this (ms) are ended (secure nodes).
    pub inactivity_threshold: Option<i64>,
    /// Subscriptions and publication.
    pub pubsub: PubSub,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Per-session limits.
    pub limits: Limits,
    sessions: Mutex<HashMap<String, Arc<SessionHandle>>>,
    /// Dropped by each session task when it ends (graceful shutdown waits for all).
    session_done: Mutex<Option<mpsc::Sender<()>>>,
    accepting: watch::Sender<bool>,
}

impl NodeContext {
    /// Registers a new session; false once the node is shutting down.
    pub(crate) fn register_session(&self, handle: Arc<SessionHandle>) -> bool {
        if !*self.accepting.borrow() {
            return false;
        }
        self.metrics.sessions.inc();
        self.metrics.sessions_total.inc();
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(handle.id.clone(), handle);
        true
    }

    /// Forgets a session that ended.
    pub(crate) fn unregister_session(&self, id: &str) {
        if self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .is_some()
        {
            self.metrics.sessions.dec();
        }
    }

    /// Handles of every connected session.
    pub fn sessions(&self) -> Vec<Arc<SessionHandle>> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

struct NodeHost {
    ctx: Arc<NodeContext>,
    port: http::Port,
}

#[async_trait]
impl Host for NodeHost {
    fn accept(&self, connection: Connection) {
        let done = self
            .ctx
            .session_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            session::run(ctx, connection).await;
            drop(done);
        });
    }

    async fn http(&self, request: HttpRequest) -> HttpResponse {
        http::route(&self.ctx, request, self.port).await
    }
}

/// Builds and starts nodes.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    config: Config,
}

impl NodeBuilder {
    /// A builder for `config` (defaults are resolved and the result validated at start).
    pub fn new(config: Config) -> Self {
        NodeBuilder { config }
    }

    /// Starts the node: datastores, then the internal port, then the client port.
    pub async fn start(self) -> Result<Node> {
        let config = self.config.effective();
        config::validate(&config).map_err(|e| Error::bad_input(e.to_string()))?;
        let name = config.name.clone().unwrap_or_default();
        let data =
            Arc::new(DataService::from_config(&config.services.data.config.datastores).await?);
        data.ping().await?;
        let security_config = config.services.security.config.clone();
        let security = SecurityService::start(data.clone(), security_config.clone(), &name).await?;
        let session_config = &config.services.session.config;
        let limits = Limits {
            max_message_bytes: session_config.max_message_bytes,
            outbound_queue: session_config.outbound_queue,
            ping_interval: session_config.ping_interval.duration(),
            acknowledge_timeout: config
                .services
                .publisher
                .config
                .publication_options
                .acknowledge_timeout
                .duration(),
            login_timeout: session_config.login_timeout.duration(),
            paths: crate::path::PathLimits {
                max_bytes: session_config.max_path_bytes,
                max_segments: session_config.max_path_segments,
            },
        };
        let metrics = Arc::new(Metrics::default());
        let (done_tx, done_rx) = mpsc::channel(1);
        let (accepting, _) = watch::channel(true);
        let ctx = Arc::new(NodeContext {
            name: name.clone(),
            secure: config.secure,
            data,
            security,
            inactivity_threshold: security_config.inactivity_threshold.map(|t| t.0 as i64),
            pubsub: PubSub::new(metrics.clone(), limits.acknowledge_timeout),
            metrics,
            limits: limits.clone(),
            sessions: Mutex::new(HashMap::new()),
            session_done: Mutex::new(Some(done_tx)),
            accepting,
        });
        crate::security::live::spawn(&ctx);
        let transport: Arc<dyn Transport> = Arc::new(WebSocketTransport);
        let serve_options = ServeOptions {
            max_message_bytes: limits.max_message_bytes,
            outbound_queue: limits.outbound_queue,
            outbound_bytes: session_config.outbound_queue_bytes,
            max_connections: session_config
                .max_connections
                .unwrap_or_else(default_max_connections),
            http_idle_timeout: session_config.http_idle_timeout.duration(),
            ping_interval: limits.ping_interval,
            dead_after: limits.ping_interval * 5 / 2,
            tls: None,
            allow_self_signed_certs: config.services.proxy.config.allow_self_signed_certs,
        };
        let proxy = &config.services.proxy.config;
        // The client port serves TLS when keyPath and certPath are set (checked now, so a bad
        // certificate fails the start instead of a silent plain-text port).
        let client_options = ServeOptions {
            tls: match (&proxy.key_path, &proxy.cert_path) {
                (Some(key_path), Some(cert_path)) => {
                    crate::selfsigned::ensure(key_path, cert_path)?;
                    Some(happn_cluster_sdk::TlsFiles {
                        cert_path: cert_path.clone(),
                        key_path: key_path.clone(),
                    })
                }
                _ => None,
            },
            ..serve_options.clone()
        };
        transport.check(&client_options)?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // One loop expires every ACKNOWLEDGED publication that waited too long.
        let expiry = {
            let ctx = ctx.clone();
            let shutdown = shutdown_rx.clone();
            tokio::spawn(async move { ctx.pubsub.acks().run_expiry(shutdown).await })
        };
        let host: Arc<dyn Host> = Arc::new(NodeHost {
            ctx: ctx.clone(),
            port: http::Port::Internal,
        });
        let client_host: Arc<dyn Host> = Arc::new(NodeHost {
            ctx: ctx.clone(),
            port: http::Port::Client,
        });

        let retry = PortRetry {
            timeout: proxy.port_available_ping_timeout.duration(),
            interval: proxy.port_available_ping_interval.duration(),
        };
        let peer_listener = bind(&config.host, config.port, retry).await?;
        let peer_addr = peer_listener.local_addr().map_err(io_error)?;
        let mut tasks = vec![
            expiry,
            spawn_serve(
                transport.clone(),
                peer_listener,
                host.clone(),
                serve_options.clone(),
                shutdown_rx.clone(),
            ),
        ];
        let client_addr = if proxy.defer {
            None
        } else {
            let listener = bind(&proxy.host, proxy.port, retry).await?;
            let addr = listener.local_addr().map_err(io_error)?;
            tasks.push(spawn_serve(
                transport.clone(),
                listener,
                client_host,
                client_options,
                shutdown_rx.clone(),
            ));
            Some(addr)
        };
        tracing::info!(%name, %peer_addr, client_addr = ?client_addr, "node started");
        Ok(Node {
            ctx,
            peer_addr,
            client_addr,
            shutdown_tx,
            tasks,
            done_rx,
            config,
        })
    }
}

/// File descriptors kept back from the connection limit, for datastores, peers and logs.
const DESCRIPTOR_RESERVE: usize = 256;

/// The open-file limit minus a reserve, so the node refuses connections (with a 503) before
/// `accept` fails with "too many open files".
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    soft.saturating_sub(DESCRIPTOR_RESERVE).max(16)
}

fn spawn_serve(
    transport: Arc<dyn Transport>,
    listener: tokio::net::TcpListener,
    host: Arc<dyn Host>,
    options: ServeOptions,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = transport.serve(listener, host, options, shutdown).await {
            tracing::error!(error = %e, "listener stopped");
        }
    })
}

/// How long to retry a port that is in use, and how often.
#[derive(Debug, Clone, Copy)]
struct PortRetry {
    timeout: Duration,
    interval: Duration,
}

/// Binds, retrying a port in use until `retry.timeout` passes (happn-3 waits for a taken port
/// to free); other errors, and a zero timeout, fail at once.
async fn bind(host: &str, port: u16, retry: PortRetry) -> Result<tokio::net::TcpListener> {
    let deadline = tokio::time::Instant::now() + retry.timeout;
    loop {
        match tokio::net::TcpListener::bind((host, port)).await {
            Ok(listener) => return Ok(listener),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(%host, port, "port held by another process, retrying");
                tokio::time::sleep(retry.interval.max(Duration::from_millis(10))).await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && !retry.timeout.is_zero() => {
                return Err(Error::unavailable(format!(
                    "port {port} not available: still in use after {} ms (portAvailablePingTimeout)",
                    retry.timeout.as_millis()
                )));
            }
            Err(e) => {
                return Err(Error::unavailable(format!(
                    "cannot listen on {host}:{port}: {e}"
                )));
            }
        }
    }
}

fn io_error(e: std::io::Error) -> Error {
    Error::internal(e.to_string())
}

/// A running node.
pub struct Node {
    ctx: Arc<NodeContext>,
    peer_addr: SocketAddr,
    client_addr: Option<SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    done_rx: mpsc::Receiver<()>,
    config: Config,
}

impl Node {
    /// Starts a node from a config (see [`NodeBuilder`]).
    pub async fn start(config: Config) -> Result<Node> {
        NodeBuilder::new(config).start().await
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.ctx.name
    }

    /// Where peers connect.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Where clients connect (None while the client port is deferred).
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client_addr
    }

    /// The effective config the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Users, groups, permissions and tokens: the admin API.
    pub fn security(&self) -> &Arc<SecurityService> {
        &self.ctx.security
    }

    /// The node's shared context (data, publisher, sessions, metrics).
    pub fn context(&self) -> &Arc<NodeContext> {
        &self.ctx
    }

    /// Graceful shutdown: stop accepting, tell every session (`server-shutdown`, clients may
    /// reconnect elsewhere), wait up to `grace` for sessions to finish, close datastores.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.shutdown_tx.send(true);
        self.ctx.accepting.send_replace(false);
        for session in self.ctx.sessions() {
            session.terminate("server-shutdown", true);
        }
        self.ctx
            .session_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if tokio::time::timeout(grace, self.done_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("sessions still open after the shutdown grace period");
        }
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        self.ctx.data.close().await;
        tracing::info!(name = %self.ctx.name, "node stopped");
    }
}
