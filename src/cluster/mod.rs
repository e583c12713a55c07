//! The cluster: many nodes on one shared database acting as one happn service.
//!
//! * [`orchestrator`]: membership (a [`Discovery`] plugin plus inbound peer logins), one
//!   [`link`] per member, the node state ([`state`]) and its [`health`] report;
//! * replication: every link subscribes on its peer to the reduced `replicate` masks
//!   ([`paths`]); received events become local publications again ([`inbound`]), marked
//!   `noCluster` so they are never sent on;
//! * [`replicator`]: custom messages by topic, and [`security_sync`]: security changes
//!   cluster-wide;
//! * [`keepalive`]: the default `datastore` discovery plugin.
//!
//! It depends on the SDK traits, pubsub's publications, security's change feed and the
//! client; never on sessions or the node.

pub mod health;
pub mod inbound;
pub mod keepalive;
pub mod link;
pub mod orchestrator;
pub mod paths;
pub mod peer_proof;
pub mod replicator;
pub mod security_sync;
pub mod sequencer;
pub mod settings;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use happn_cluster_sdk::{BuildContext, Discovery, Result, registry};
use serde::Serialize;

pub use health::HealthReport;
pub use orchestrator::{InboundPeer, InboundPeers, MemberReport, Orchestrator};
pub use replicator::Replicator;
pub use settings::ClusterSettings;
pub use state::NodeState;

use crate::data::DataService;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::pubsub::PubSub;
use crate::security::SecurityService;

/// What the cluster needs from its node: defined here, built by the node.
pub struct ClusterContext {
    /// Settings from config.
    pub settings: ClusterSettings,
    /// Where received events are delivered, and replicator messages published.
    pub pubsub: Arc<PubSub>,
    /// The change feed to replicate, and where remote changes are applied.
    pub security: Arc<SecurityService>,
    /// The datastores (keepalive records are routed like any path).
    pub data: Arc<DataService>,
    /// Who is logged in to this node as a peer.
    pub inbound: Arc<dyn InboundPeers>,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// The cluster as this node sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// The node state.
    pub state: Option<NodeState>,
    /// This node's endpoint.
    pub endpoint: String,
    /// Every member, this node first.
    pub members: Vec<MemberReport>,
    /// The seed's health report.
    pub health: HealthReport,
}

/// A node's cluster: its orchestrator and replicator.
pub struct Cluster {
    settings: ClusterSettings,
    orchestrator: Arc<Orchestrator>,
    replicator: Arc<Replicator>,
    authority: Arc<crate::trust::PeerAuthority>,
}

impl Cluster {
    /// Builds the discovery plugin and the links' context, and spawns the keepalive,
    /// membership, state, health and security-changeset loops under `lifecycle`.
    pub async fn start(context: ClusterContext, lifecycle: &mut Lifecycle) -> Result<Arc<Cluster>> {
        let settings = context.settings.clone();
        let me = crate::trust::PeerIdentity::new(
            &settings.name,
            &settings.cluster_name,
            &settings.service,
            &settings.endpoint,
        )?;
        match settings.keys.source() {
            crate::trust::KeySource::ClusterSecret => {}
            crate::trust::KeySource::AdminPassword => tracing::warn!(
                "services.orchestrator.config.clusterSecret is not set: peers prove membership with a key derived from the admin password; set a cluster secret (see the README's Cluster trust section)"
            ),
            crate::trust::KeySource::Missing => tracing::warn!(
                "no cluster secret (services.orchestrator.config.clusterSecret or HAPPN_CLUSTER_SECRET) and the admin password is happn's default: this node links with no peers; set a cluster secret to form a cluster"
            ),
        }
        let authority = Arc::new(crate::trust::PeerAuthority::new(settings.keys.clone(), me));
        let discovery = build_discovery(&settings, &context.data).await?;
        let replicator = Arc::new(Replicator::new(
            settings.name.clone(),
            context.pubsub.clone(),
        ));
        let sink = {
            let pubsub = context.pubsub.clone();
            let replicator = replicator.clone();
            let metrics = context.metrics.clone();
            Arc::new(move |event: crate::client::Event, peer: &str| {
                metrics.replicated_in.inc();
                if event.path() == Some(paths::REPLICATE_PATH) {
                    replicator.receive(&event.data, peer);
                    return;
                }
                match inbound::publication_from_event(event.data, &event.meta, peer) {
                    Ok(publication) => {
                        pubsub.inject_remote(publication);
                    }
                    Err(e) => {
                        metrics.replication_errors.inc();
                        tracing::warn!(%peer, error = %e, "replicated event refused");
                    }
                }
            }) as link::EventSink
        };
        let on_gap = {
            let pubsub = context.pubsub.clone();
            Arc::new(move |peer: &str, lost: u64| {
                // Never silence: every local subscriber is told that events were lost.
                let notice = crate::protocol::system_frame(
                    "replication-gap",
                    serde_json::json!({"origin": peer, "lost": lost}),
                );
                pubsub.notify_subscribers(&notice);
            }) as link::GapSink
        };
        context.pubsub.enable_replay(
            &settings.name,
            crate::pubsub::ReplayLimits {
                events: settings.replay_events,
                age: settings.replay_age,
                bytes: settings.replay_bytes,
            },
        );
        let links = Arc::new(link::LinkContext {
            authority: authority.clone(),
            masks: paths::replicated_masks(&settings.replicate),
            sink,
            on_gap,
            sequencers: std::sync::Mutex::new(std::collections::HashMap::new()),
            connect_timeout: Duration::from_secs(5),
            retry_interval: (settings.member_refresh / 2)
                .clamp(Duration::from_millis(50), Duration::from_secs(2)),
            metrics: context.metrics.clone(),
        });
        let pubsub = context.pubsub.clone();
        let orchestrator = Arc::new(
            Orchestrator::new(
                settings.clone(),
                discovery,
                context.inbound.clone(),
                links,
                context.metrics.clone(),
            )
            .with_peer_hook(move |has_peers| pubsub.set_replay_active(has_peers)),
        );
        // The first keepalive is written before anything waits on membership.
        orchestrator.keepalive().await;
        security_sync::receive_changesets(&replicator, context.security.clone());
        security_sync::share_login_outcomes(&replicator, &context.security);
        {
            let o = orchestrator.clone();
            lifecycle.spawn("cluster keepalives", |s| o.run_keepalives(s));
            let o = orchestrator.clone();
            lifecycle.spawn("cluster membership", |s| o.run_membership(s));
            let o = orchestrator.clone();
            lifecycle.spawn("cluster state", |s| o.run_state(s));
            let o = orchestrator.clone();
            let (name, endpoint, every) = (
                settings.name.clone(),
                settings.endpoint.clone(),
                settings.health_report,
            );
            lifecycle.spawn("cluster health report", move |s| {
                health::run_reports(o, name, endpoint, every, s)
            });
            let (security, r, every) = (
                context.security.clone(),
                replicator.clone(),
                settings.security_interval,
            );
            lifecycle.spawn("security changesets", move |s| {
                security_sync::run_changesets(security, r, every, s)
            });
            let (security, data, every) = (
                context.security.clone(),
                context.data.clone(),
                settings.security_interval,
            );
            lifecycle.spawn("security change journal", move |s| {
                security_sync::run_journal(
                    security,
                    data,
                    every,
                    security_sync::JOURNAL_RETENTION,
                    s,
                )
            });
        }
        Ok(Arc::new(Cluster {
            settings,
            orchestrator,
            replicator,
            authority,
        }))
    }

    /// Waits until the node is `STABLE`, failing with `StabiliseTimeout` after
    /// `stabiliseTimeout` when one is configured.
    pub async fn stabilised(&self) -> Result<()> {
        self.orchestrator
            .stabilised(self.settings.stabilise_timeout)
            .await
    }

    /// The node state now.
    pub fn state(&self) -> Option<NodeState> {
        self.orchestrator.state()
    }

    /// This node's advertised endpoint.
    pub fn endpoint(&self) -> &str {
        &self.settings.endpoint
    }

    /// The cluster as this node sees it.
    pub fn status(&self) -> ClusterStatus {
        let members = self.orchestrator.report();
        let state = self.orchestrator.state();
        ClusterStatus {
            health: HealthReport::new(
                &self.settings.name,
                &self.settings.endpoint,
                &members,
                state,
            ),
            state,
            endpoint: self.settings.endpoint.clone(),
            members,
        }
    }

    /// This node's keys and identity: the listening half of the peer handshake uses them.
    pub fn authority(&self) -> &Arc<crate::trust::PeerAuthority> {
        &self.authority
    }

    /// Custom cluster messages.
    pub fn replicator(&self) -> &Arc<Replicator> {
        &self.replicator
    }

    /// Clean leave: withdraws the keepalive record and stops every peer link.
    pub async fn leave(&self) {
        self.orchestrator.leave().await;
    }
}

/// The discovery plugin the config names; `datastore` gets the store its keepalive records
/// route to.
async fn build_discovery(
    settings: &ClusterSettings,
    data: &DataService,
) -> Result<Arc<dyn Discovery>> {
    let (name, plugin_settings) = &settings.discovery;
    let plugin = registry::require(&registry::discoveries(), name, "discovery")?;
    let record =
        keepalive::record_path(&settings.deployment, &settings.service, &settings.endpoint);
    (plugin.build)(BuildContext {
        settings: plugin_settings.clone(),
        datastore: Some(data.route(&record).clone()),
    })
    .await
}
