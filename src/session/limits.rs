//! Limits applied to every session, and the transport options they become.

use std::time::Duration;

use happn_cluster_sdk::ServeOptions;

use crate::config::SessionConfig;
use crate::path::PathLimits;

/// Limits applied to every session.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted inbound message.
    pub max_message_bytes: usize,
    /// Outbound queue capacity per session, in frames.
    pub outbound_queue: usize,
    /// Outbound queue capacity per session, in bytes.
    pub outbound_bytes: usize,
    /// Connections one listener accepts at once.
    pub max_connections: usize,
    /// Connections one remote address may hold on one listener (0: no limit).
    pub max_connections_per_address: usize,
    /// Subscriptions one session may hold.
    pub max_subscriptions: usize,
    /// Plain HTTP connections idle longer than this are closed.
    pub http_idle_timeout: Duration,
    /// Server heartbeat interval.
    pub ping_interval: Duration,
    /// Secure sessions must log in within this long of connecting.
    pub login_timeout: Duration,
    /// Longest accepted path or mask, and most segments in one.
    pub paths: PathLimits,
    /// How long a TRANSACTIONAL writer's reply waits for the event to be written to the
    /// other local subscribers' connections (0: it does not wait).
    pub transactional_wait: Duration,
}

impl Limits {
    /// The limits a session config sets (`max_connections` when it leaves that open).
    pub fn from_config(config: &SessionConfig, max_connections: usize) -> Limits {
        let max_connections = config.max_connections.unwrap_or(max_connections);
        Limits {
            max_message_bytes: config.max_message_bytes,
            outbound_queue: config.outbound_queue,
            outbound_bytes: config.outbound_queue_bytes,
            max_connections,
            max_connections_per_address: config
                .max_connections_per_address
                .unwrap_or((max_connections / 2).max(1)),
            max_subscriptions: config.max_subscriptions,
            http_idle_timeout: config.http_idle_timeout.duration(),
            ping_interval: config.ping_interval.duration(),
            login_timeout: config.login_timeout.duration(),
            transactional_wait: Duration::from_millis(100),
            paths: PathLimits {
                max_bytes: config.max_path_bytes,
                max_segments: config.max_path_segments,
            },
        }
    }

    /// The transport options that enforce these limits (plain text; TLS is added per port).
    pub fn serve_options(&self, allow_self_signed_certs: bool) -> ServeOptions {
        ServeOptions {
            max_message_bytes: self.max_message_bytes,
            outbound_queue: self.outbound_queue,
            outbound_bytes: self.outbound_bytes,
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            http_idle_timeout: self.http_idle_timeout,
            ping_interval: self.ping_interval,
            // A peer silent for two and a half heartbeats is gone.
            dead_after: self.ping_interval * 5 / 2,
            tls: None,
            allow_self_signed_certs,
        }
    }
}
