//! The cluster's settings, taken from a node's effective config once its internal port is
//! bound (the advertised endpoint needs the bound port when the config asks for port 0).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::Config;
use crate::trust::{ClusterKeys, KeySource};

/// Everything the cluster reads from config.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// This node's name.
    pub name: String,
    /// Cluster name: peers of other clusters are ignored.
    pub cluster_name: String,
    /// This node's service.
    pub service: String,
    /// Deployment: the keepalive scope.
    pub deployment: String,
    /// `host:port` peers dial (`announceHost` or the listen host, and the bound port).
    pub endpoint: String,
    /// Minimum members per service (self included).
    pub minimums: BTreeMap<String, u32>,
    /// The configured replicate masks.
    pub replicate: Vec<String>,
    /// Keepalive interval.
    pub keep_alive: Duration,
    /// A member silent this long is gone.
    pub keep_alive_threshold: Duration,
    /// Membership refresh interval.
    pub member_refresh: Duration,
    /// Health report interval.
    pub health_report: Duration,
    /// Stop the node when not stable within this.
    pub stabilise_timeout: Option<Duration>,
    /// Security changes are batched this long.
    pub security_interval: Duration,
    /// Publications kept for replay to peers: at most this many…
    pub replay_events: usize,
    /// …none older than this…
    pub replay_age: Duration,
    /// …and at most this many bytes.
    pub replay_bytes: usize,
    /// The cluster keys peers prove they hold (from `clusterSecret`, or the admin password
    /// for seed configs).
    pub keys: Arc<ClusterKeys>,
    /// The discovery plugin's name and settings.
    pub discovery: (String, Value),
}

impl ClusterSettings {
    /// The settings of a node with `config`, whose internal port is bound at `bound`.
    pub fn new(config: &Config, bound: SocketAddr) -> ClusterSettings {
        let orchestrator = &config.services.orchestrator.config;
        let timing = &orchestrator.timing;
        let host = match &config.announce_host {
            Some(host) => host.clone(),
            None => crate::config::advertised_host(&config.host),
        };
        let security = &config.services.security.config;
        let discovery = &orchestrator.discovery;
        let settings = if discovery.settings.is_null() && discovery.plugin == "datastore" {
            json!({
                "deployment": orchestrator.deployment,
                "keepAliveThreshold": timing.keep_alive_threshold.0,
            })
        } else {
            discovery.settings.clone()
        };
        ClusterSettings {
            name: config.name.clone().unwrap_or_default(),
            cluster_name: orchestrator.cluster_name.clone(),
            service: orchestrator.service_name.clone(),
            deployment: orchestrator.deployment.clone(),
            endpoint: format!("{host}:{}", bound.port()),
            minimums: orchestrator.cluster.clone(),
            replicate: orchestrator.replicate.clone(),
            keep_alive: timing.keep_alive.duration(),
            keep_alive_threshold: timing.keep_alive_threshold.duration(),
            member_refresh: timing.member_refresh.duration(),
            health_report: timing.health_report.duration(),
            stabilise_timeout: timing.stabilise_timeout.map(|t| t.duration()),
            security_interval: config
                .services
                .replicator
                .config
                .security_changeset_replicate_interval
                .duration(),
            replay_events: config.services.replicator.config.replay_buffer_events,
            replay_bytes: config.services.replicator.config.replay_buffer_bytes,
            replay_age: config
                .services
                .replicator
                .config
                .replay_buffer_age
                .duration(),
            keys: Arc::new(match &orchestrator.cluster_secret {
                Some(secret) => ClusterKeys::derive(
                    &orchestrator.cluster_name,
                    secret,
                    &orchestrator.previous_cluster_secrets,
                    KeySource::ClusterSecret,
                ),
                None if security.admin_user.password != crate::config::DEFAULT_ADMIN_PASSWORD
                    && !security.admin_user.password.is_empty() =>
                {
                    ClusterKeys::derive(
                        &orchestrator.cluster_name,
                        &security.admin_user.password,
                        &orchestrator.previous_cluster_secrets,
                        KeySource::AdminPassword,
                    )
                }
                None => ClusterKeys::missing(&orchestrator.cluster_name),
            }),
            discovery: (discovery.plugin.clone(), settings),
        }
    }
}
