//! The composition root: builds every service from config, hands each consumer only the
//! handles it needs (sessions a [`SessionContext`], HTTP an [`HttpState`]), spawns the
//! background tasks under one [`Lifecycle`], serves the internal (peer) port and the client
//! port, and shuts all of it down in a fixed order. Only `lib.rs`, `main.rs` and tests use it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use happn_cluster_sdk::{
    BuildContext, Connection, Error, Host, HttpRequest, HttpResponse, Result, ServeOptions,
    Transport, registry,
};

use crate::cluster::{
    Cluster, ClusterContext, ClusterSettings, InboundPeer, InboundPeers, Replicator,
};
use crate::config::{self, Config};
use crate::data::DataService;
use crate::http::{self, HttpState};
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::pubsub::PubSub;
use crate::security::SecurityService;
use crate::session::{self, Access, Limits, SessionContext, SessionHandle};

/// What a listener hands connections and HTTP requests to.
struct NodeHost {
    sessions: Arc<SessionContext>,
    http: Arc<HttpState>,
    port: http::Port,
}

#[async_trait]
impl Host for NodeHost {
    fn accept(&self, connection: Connection) {
        // Once stopping there is no token: the session is refused politely.
        let token = self.sessions.sessions.admit();
        let internal = self.port == http::Port::Internal;
        tokio::spawn(session::run(
            self.sessions.clone(),
            connection,
            token,
            internal,
        ));
    }

    async fn http(&self, request: HttpRequest) -> HttpResponse {
        http::route(&self.http, request, self.port).await
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

    /// Starts the node: datastores, security, the publisher, the background tasks, then the
    /// internal port, then the client port.
    pub async fn start(self) -> Result<Node> {
        let config = self.config.effective();
        config::validate(&config).map_err(|e| Error::bad_input(e.to_string()))?;
        let name = config.name.clone().unwrap_or_default();
        let data =
            Arc::new(DataService::from_config(&config.services.data.config.datastores).await?);
        data.ping().await?;
        let security_config = config.services.security.config.clone();
        let security = SecurityService::start(data.clone(), security_config.clone(), &name).await?;
        let limits = Limits {
            transactional_wait: config
                .services
                .publisher
                .config
                .publication_options
                .transactional_wait
                .duration(),
            ..Limits::from_config(&config.services.session.config, default_max_connections())
        };
        let metrics = Arc::new(Metrics::default());
        let ack_timeout = config
            .services
            .publisher
            .config
            .publication_options
            .acknowledge_timeout
            .duration();
        let pubsub = Arc::new(PubSub::new(metrics.clone(), ack_timeout));
        let access = Access::new(
            config.secure,
            security_config.inactivity_threshold.map(|t| t.0 as i64),
        );
        let sessions = Arc::new(SessionContext::new(
            name.clone(),
            access,
            data.clone(),
            security.clone(),
            pubsub.clone(),
            metrics.clone(),
            limits.clone(),
        ));
        let transport = build_transport(&config).await?;
        let proxy = &config.services.proxy.config;
        let serve_options = limits.serve_options(proxy.allow_self_signed_certs);
        // The client port serves TLS when keyPath and certPath are set (checked now, so a bad
        // certificate fails the start instead of a silent plain-text port).
        let client_options = ServeOptions {
            // The seed's client-socket idle `timeout` applies when it is the shorter one.
            http_idle_timeout: serve_options
                .http_idle_timeout
                .min(proxy.timeout.duration()),
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

        let mut lifecycle = Lifecycle::new();
        {
            let pubsub = pubsub.clone();
            lifecycle.spawn("ack expiry", |shutdown| async move {
                pubsub.run_ack_expiry(shutdown).await
            });
        }
        lifecycle.spawn("session expiry sweep", |shutdown| {
            session::live::run_expiry_sweep(sessions.clone(), shutdown)
        });
        lifecycle.spawn("live security updates", |shutdown| {
            session::live::run_security_updates(sessions.clone(), shutdown)
        });

        let retry = PortRetry {
            timeout: proxy.port_available_ping_timeout.duration(),
            interval: proxy.port_available_ping_interval.duration(),
        };
        // The internal port opens first: peers must reach this node before it is stable.
        let peer_listener = bind(&config.host, config.port, retry).await?;
        let peer_addr = peer_listener.local_addr().map_err(io_error)?;
        let cluster = Cluster::start(
            ClusterContext {
                settings: ClusterSettings::new(&config, peer_addr),
                pubsub: pubsub.clone(),
                security: security.clone(),
                data: data.clone(),
                inbound: Arc::new(SessionPeers(sessions.clone())),
                metrics: metrics.clone(),
            },
            &mut lifecycle,
        )
        .await?;
        let _ = sessions.peer_authority.set(cluster.authority().clone());
        let http_state = Arc::new(HttpState {
            name: name.clone(),
            secure: config.secure,
            data: data.clone(),
            security: security.clone(),
            pubsub: pubsub.clone(),
            metrics: metrics.clone(),
            cluster: Some(cluster.clone()),
            shutdown: lifecycle.shutdown(),
            active_sessions: {
                let sessions = sessions.clone();
                Arc::new(move || {
                    sessions
                        .sessions
                        .all()
                        .iter()
                        .map(|s| s.summary())
                        .collect()
                })
            },
        });
        let host = |port| -> Arc<dyn Host> {
            Arc::new(NodeHost {
                sessions: sessions.clone(),
                http: http_state.clone(),
                port,
            })
        };
        spawn_serve(
            &mut lifecycle,
            "internal listener",
            transport.clone(),
            peer_listener,
            host(http::Port::Internal),
            serve_options,
        );
        let client_port = ClientPort {
            transport,
            host: host(http::Port::Client),
            options: client_options,
            address: (proxy.host.clone(), proxy.port),
            retry,
        };
        tracing::info!(%name, %peer_addr, endpoint = %cluster.endpoint(), "node started; waiting for the cluster to stabilise");
        let mut node = Node {
            name,
            sessions,
            pubsub,
            metrics,
            security,
            data,
            cluster,
            peer_addr,
            client_addr: None,
            client_port: Some(client_port),
            lifecycle,
            config,
        };
        // The client port opens once the node is STABLE (never, with stabiliseTimeout
        // passed: the node stops).
        if let Err(e) = node.cluster.stabilised().await {
            tracing::error!(error = %e, "cluster did not stabilise; stopping");
            node.shutdown(Duration::from_secs(1)).await;
            return Err(e);
        }
        if !node.config.services.proxy.config.defer
            && let Err(e) = node.start_client_port().await
        {
            node.shutdown(Duration::from_secs(1)).await;
            return Err(e);
        }
        tracing::info!(name = %node.name, client_addr = ?node.client_addr, "node serving clients");
        Ok(node)
    }
}

/// What opening the client port needs (kept until it opens).
struct ClientPort {
    transport: Arc<dyn Transport>,
    host: Arc<dyn Host>,
    options: ServeOptions,
    address: (String, u16),
    retry: PortRetry,
}

/// The node's sessions as the cluster sees them: who is logged in as a peer.
struct SessionPeers(Arc<SessionContext>);

impl InboundPeers for SessionPeers {
    fn peers(&self) -> Vec<InboundPeer> {
        self.0
            .sessions
            .all()
            .into_iter()
            .filter(|s| !s.is_closed())
            .filter_map(|s| {
                let subscribed = s.peer_subscribed();
                s.peer().map(|p| InboundPeer {
                    name: p.name,
                    cluster_name: p.cluster_name,
                    service: p.service,
                    endpoint: p.endpoint,
                    subscribed,
                    events_out: s.events_out(),
                    queued_bytes: s.queued_bytes(),
                })
            })
            .collect()
    }
}

/// The transport plugin the config names, built from its settings.
async fn build_transport(config: &Config) -> Result<Arc<dyn Transport>> {
    let choice = &config.services.transport.config;
    let plugin = registry::require(&registry::transports(), &choice.plugin, "transport")?;
    (plugin.build)(BuildContext::settings(choice.settings.clone())).await
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
    lifecycle: &mut Lifecycle,
    name: &'static str,
    transport: Arc<dyn Transport>,
    listener: tokio::net::TcpListener,
    host: Arc<dyn Host>,
    options: ServeOptions,
) {
    lifecycle.spawn(name, |shutdown| async move {
        if let Err(e) = transport
            .serve(listener, host, options, shutdown.watch())
            .await
        {
            tracing::error!(error = %e, listener = name, "listener stopped");
        }
    });
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
    name: String,
    sessions: Arc<SessionContext>,
    pubsub: Arc<PubSub>,
    metrics: Arc<Metrics>,
    security: Arc<SecurityService>,
    data: Arc<DataService>,
    cluster: Arc<Cluster>,
    peer_addr: SocketAddr,
    client_addr: Option<SocketAddr>,
    client_port: Option<ClientPort>,
    lifecycle: Lifecycle,
    config: Config,
}

impl Node {
    /// Starts a node from a config (see [`NodeBuilder`]).
    pub async fn start(config: Config) -> Result<Node> {
        NodeBuilder::new(config).start().await
    }

    /// Serves an in-process connection as a client session, as the transport does with a
    /// socket: embedding programs and benches talk to the node through its two queues
    /// (build one with [`happn_cluster_sdk::Connection`]'s fields). Call it inside the node's
    /// runtime. Refused politely once the node is stopping.
    pub fn attach(&self, connection: happn_cluster_sdk::Connection) {
        let token = self.sessions.sessions.admit();
        tokio::spawn(session::run(
            self.sessions.clone(),
            connection,
            token,
            false,
        ));
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
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
        &self.security
    }

    /// Subscriptions and publication (the cluster's replication hooks live here).
    pub fn pubsub(&self) -> &Arc<PubSub> {
        &self.pubsub
    }

    /// The node's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Handles of every connected session.
    pub fn sessions(&self) -> Vec<Arc<SessionHandle>> {
        self.sessions.sessions.all()
    }

    /// Every connected session as an administrator sees it ([`SessionHandle::summary`]).
    pub fn active_sessions(&self) -> Vec<serde_json::Value> {
        self.sessions
            .sessions
            .all()
            .iter()
            .map(|s| s.summary())
            .collect()
    }

    /// The node's cluster: state, members, health.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Custom cluster messages: `send(topic, payload)` reaches every node once (this one
    /// included), `on(topic, handler)` receives them.
    pub fn replicator(&self) -> &Arc<Replicator> {
        self.cluster.replicator()
    }

    /// Opens the client port (with `services.proxy.config.defer`, the embedding program
    /// calls this itself, typically once the cluster is stable); returns its address.
    /// Opening it twice returns the same address.
    pub async fn start_client_port(&mut self) -> Result<SocketAddr> {
        if let Some(address) = self.client_addr {
            return Ok(address);
        }
        let Some(port) = self.client_port.take() else {
            return Err(Error::unavailable("the node is stopping"));
        };
        let listener = match bind(&port.address.0, port.address.1, port.retry).await {
            Ok(listener) => listener,
            Err(e) => {
                self.client_port = Some(port);
                return Err(e);
            }
        };
        let address = listener.local_addr().map_err(io_error)?;
        spawn_serve(
            &mut self.lifecycle,
            "client listener",
            port.transport,
            listener,
            port.host,
            port.options,
        );
        self.client_addr = Some(address);
        Ok(address)
    }

    /// Graceful shutdown, in this order:
    /// 1. close the accept gate (new connections are refused);
    /// 2. fire the shutdown signal: listeners stop accepting, background loops end;
    /// 3. leave the cluster: withdraw the keepalive record, stop every peer link;
    /// 4. tell every session `server-shutdown` (clients may reconnect elsewhere) and wait
    ///    up to `grace` for their tasks to end;
    /// 5. join every background task;
    /// 6. close the datastores.
    pub async fn shutdown(mut self, grace: Duration) {
        self.sessions.sessions.close_gate();
        self.lifecycle.stop();
        self.cluster.leave().await;
        for session in self.sessions.sessions.all() {
            session.terminate("server-shutdown", true);
        }
        if tokio::time::timeout(grace, self.sessions.sessions.drained())
            .await
            .is_err()
        {
            tracing::warn!("sessions still open after the shutdown grace period");
        }
        self.lifecycle.join(Duration::from_secs(1)).await;
        self.data.close().await;
        tracing::info!(name = %self.name, "node stopped");
    }
}
