//! The orchestrator: who the members are (discovery plus inbound peer logins), one link per
//! member, and the node's state decided from them. Three loops, each ending with the node:
//! keepalives every `keepAlive`, membership every `memberRefresh`, and a quick state
//! evaluation.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster_sdk::{Discovery, Error, Member, Result};
use serde::Serialize;
use tokio::sync::watch;

use super::link::{LinkContext, PeerLink};
use super::settings::ClusterSettings;
use super::state::{MemberView, NodeState, decide};
use crate::lifecycle::Shutdown;
use crate::metrics::Metrics;

/// A cluster peer logged in to this node (its login `info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPeer {
    /// Its node name.
    pub name: String,
    /// Its cluster name.
    pub cluster_name: String,
    /// Its service name.
    pub service: String,
    /// Its internal endpoint.
    pub endpoint: String,
    /// It holds at least one subscription here.
    pub subscribed: bool,
    /// Events queued to it so far (replicated out).
    pub events_out: u64,
    /// Bytes queued to it and not yet written (its replication backlog).
    pub queued_bytes: usize,
}

/// Who is logged in to this node as a cluster peer (the node answers from its sessions).
pub trait InboundPeers: Send + Sync + 'static {
    /// Every peer session now.
    fn peers(&self) -> Vec<InboundPeer>;
}

/// One member as the node reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberReport {
    /// Node name (the endpoint until known).
    pub name: String,
    /// Internal endpoint.
    pub endpoint: String,
    /// Service name.
    pub service: String,
    /// This node.
    pub is_self: bool,
    /// Our link to it is up.
    pub connected_to: bool,
    /// It is logged in to us.
    pub connected_from: bool,
    /// Our link holds its subscriptions.
    pub subscribed_to: bool,
    /// Connected both ways and subscribed.
    pub peer: bool,
    /// Why our link is down, if it is.
    pub error: Option<String>,
    /// Events received from it over our link.
    pub events_in: u64,
    /// Events sent to it (its session here).
    pub events_out: u64,
    /// Bytes queued to it and not yet written.
    pub queued_bytes: usize,
}

struct Entry {
    service: String,
    name: String,
    link: Option<PeerLink>,
}

/// This node's membership record, signed with the cluster key.
fn signed_member(settings: &ClusterSettings) -> Member {
    let mut me = Member {
        name: settings.name.clone(),
        service: settings.service.clone(),
        cluster_name: settings.cluster_name.clone(),
        deployment: settings.deployment.clone(),
        endpoint: settings.endpoint.clone(),
        beat: 0,
        signature: String::new(),
    };
    me.signature = crate::trust::membership::sign(&settings.keys, &me);
    me
}

/// Membership, links and state.
pub struct Orchestrator {
    settings: ClusterSettings,
    discovery: Arc<dyn Discovery>,
    inbound: Arc<dyn InboundPeers>,
    links: Arc<LinkContext>,
    members: Mutex<HashMap<String, Entry>>,
    state: watch::Sender<Option<NodeState>>,
    metrics: Arc<Metrics>,
    /// Told on every evaluation whether the node has peers (members or inbound peers).
    on_peers: Option<Box<dyn Fn(bool) + Send + Sync>>,
    /// Refused membership records already logged (endpoint and signature), so a forged row
    /// is logged once, not at every refresh.
    refused: Mutex<std::collections::HashSet<(String, String)>>,
    /// This node as it announces itself, signed once.
    me: Member,
}

impl Orchestrator {
    /// An orchestrator with no members yet.
    pub fn new(
        settings: ClusterSettings,
        discovery: Arc<dyn Discovery>,
        inbound: Arc<dyn InboundPeers>,
        links: Arc<LinkContext>,
        metrics: Arc<Metrics>,
    ) -> Orchestrator {
        Orchestrator {
            me: signed_member(&settings),
            settings,
            discovery,
            inbound,
            links,
            members: Mutex::new(HashMap::new()),
            state: watch::channel(None).0,
            metrics,
            on_peers: None,
            refused: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Calls `hook` on every evaluation with whether the node has peers.
    pub fn with_peer_hook(mut self, hook: impl Fn(bool) + Send + Sync + 'static) -> Self {
        self.on_peers = Some(Box::new(hook));
        self
    }

    /// Why a listed member is not dialled, if it is not: its record is unsigned or signed
    /// with a key this cluster does not hold (unless discovery reads a trusted source), or
    /// a field is unusable.
    fn refusal(&self, member: &Member) -> Option<String> {
        use crate::trust::identity::{check_endpoint, check_name};
        if let Err(e) = check_endpoint(&member.endpoint) {
            return Some(e.to_string());
        }
        for (kind, name) in [("node", &member.name), ("service", &member.service)] {
            if !name.is_empty()
                && let Err(e) = check_name(kind, name)
            {
                return Some(e.to_string());
            }
        }
        if !self.settings.keys.usable() {
            return Some(
                "this node has no cluster secret (clusterSecret or HAPPN_CLUSTER_SECRET), so it links with no one"
                    .into(),
            );
        }
        if !self.discovery.trusted_source()
            && !crate::trust::membership::verify(&self.settings.keys, member)
        {
            return Some("the record is not signed with this cluster's key".into());
        }
        None
    }

    /// Logs (once per record) and counts a refused membership record.
    fn refuse(&self, member: &Member, why: &str) {
        self.metrics.membership_records_refused.inc();
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.len() > 1024 {
            refused.clear();
        }
        if refused.insert((member.endpoint.clone(), member.signature.clone())) {
            tracing::warn!(
                endpoint = ?member.endpoint,
                name = ?member.name,
                why,
                "membership record ignored"
            );
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one keepalive; failures are logged and counted.
    pub async fn keepalive(&self) {
        if let Err(e) = self.discovery.announce(&self.me).await {
            self.metrics.keepalive_failures.inc();
            tracing::warn!(error = %e, "keepalive failed");
        }
    }

    /// Keepalives until shutdown.
    pub async fn run_keepalives(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(self.settings.keep_alive);
        loop {
            tokio::select! {
                _ = shutdown.stopped() => return,
                _ = tick.tick() => self.keepalive().await,
            }
        }
    }

    /// Refreshes the member list and links; on a discovery failure nothing changes (members
    /// are not dropped because the database is unreachable).
    pub async fn refresh(&self) {
        let listed = match self.discovery.members().await {
            Ok(listed) => listed,
            Err(e) => {
                self.metrics.membership_failures.inc();
                tracing::warn!(error = %e, "member lookup failed; keeping the current members");
                return;
            }
        };
        let mut wanted: BTreeMap<String, (String, String)> = BTreeMap::new();
        for member in listed {
            if member.endpoint == self.settings.endpoint {
                continue;
            }
            if let Some(why) = self.refusal(&member) {
                self.refuse(&member, &why);
                continue;
            }
            if self.accepts(&member.cluster_name, &member.service, &member.endpoint) {
                wanted.insert(member.endpoint, (member.service, member.name));
            }
        }
        for peer in self.inbound.peers() {
            if self.accepts(&peer.cluster_name, &peer.service, &peer.endpoint) {
                wanted
                    .entry(peer.endpoint)
                    .or_insert((peer.service, peer.name));
            }
        }
        let leaving: Vec<PeerLink> = {
            let mut entries = self.entries();
            let gone: Vec<String> = entries
                .keys()
                .filter(|endpoint| !wanted.contains_key(*endpoint))
                .cloned()
                .collect();
            let leaving = gone
                .iter()
                .filter_map(|endpoint| entries.remove(endpoint))
                .filter_map(|entry| {
                    tracing::info!(member = %entry.name, "member left");
                    entry.link
                })
                .collect();
            for (endpoint, (service, name)) in wanted {
                entries.entry(endpoint.clone()).or_insert_with(|| {
                    tracing::info!(%endpoint, %service, "member arrived");
                    Entry {
                        service,
                        name: if name.is_empty() {
                            endpoint.clone()
                        } else {
                            name
                        },
                        link: Some(PeerLink::start(&endpoint, self.links.clone())),
                    }
                });
            }
            leaving
        };
        for link in leaving {
            link.stop().await;
        }
    }

    /// A member this node links to: same cluster, a service in `cluster`, not itself.
    fn accepts(&self, cluster_name: &str, service: &str, endpoint: &str) -> bool {
        cluster_name == self.settings.cluster_name
            && self.settings.minimums.contains_key(service)
            && endpoint != self.settings.endpoint
    }

    /// Membership refreshes until shutdown.
    pub async fn run_membership(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            self.refresh().await;
            tokio::select! {
                _ = shutdown.stopped() => return,
                _ = tokio::time::sleep(self.settings.member_refresh) => {}
            }
        }
    }

    /// Every member, this node first.
    pub fn report(&self) -> Vec<MemberReport> {
        self.report_with(self.inbound.peers())
    }

    /// Every member, this node first, given who is logged in here as a peer.
    fn report_with(&self, inbound: Vec<InboundPeer>) -> Vec<MemberReport> {
        let inbound: HashMap<String, InboundPeer> = inbound
            .into_iter()
            .filter(|p| p.cluster_name == self.settings.cluster_name)
            .map(|p| (p.endpoint.clone(), p))
            .collect();
        let mut reports = vec![MemberReport {
            name: self.settings.name.clone(),
            endpoint: self.settings.endpoint.clone(),
            service: self.settings.service.clone(),
            is_self: true,
            connected_to: true,
            connected_from: true,
            subscribed_to: true,
            peer: true,
            error: None,
            events_in: 0,
            events_out: 0,
            queued_bytes: 0,
        }];
        let entries = self.entries();
        let mut others: Vec<MemberReport> = entries
            .iter()
            .map(|(endpoint, entry)| {
                let status = entry
                    .link
                    .as_ref()
                    .map(PeerLink::status)
                    .unwrap_or_default();
                let from = inbound.get(endpoint);
                let connected_from = from.is_some_and(|p| p.subscribed);
                let view = MemberView {
                    service: entry.service.clone(),
                    is_self: false,
                    connected_to: status.connected,
                    connected_from,
                    subscribed_to: status.subscribed,
                };
                MemberReport {
                    name: status
                        .name
                        .clone()
                        .or_else(|| inbound.get(endpoint).map(|p| p.name.clone()))
                        .unwrap_or_else(|| entry.name.clone()),
                    endpoint: endpoint.clone(),
                    service: entry.service.clone(),
                    is_self: false,
                    connected_to: status.connected,
                    connected_from,
                    subscribed_to: status.subscribed,
                    peer: view.is_peer(),
                    error: status.error,
                    events_in: status.events_in,
                    events_out: from.map(|p| p.events_out).unwrap_or(0),
                    queued_bytes: from.map(|p| p.queued_bytes).unwrap_or(0),
                }
            })
            .collect();
        others.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        reports.extend(others);
        reports
    }

    /// Decides the state now and publishes it when it changed.
    pub fn evaluate(&self) -> NodeState {
        let inbound = self.inbound.peers();
        let has_inbound = !inbound.is_empty();
        let reports = self.report_with(inbound);
        let views: Vec<MemberView> = reports
            .iter()
            .map(|r| MemberView {
                service: r.service.clone(),
                is_self: r.is_self,
                connected_to: r.connected_to,
                connected_from: r.connected_from,
                subscribed_to: r.subscribed_to,
            })
            .collect();
        let state = decide(&views, &self.settings.minimums);
        // Keep publications for replay only while there is someone to replay them to.
        if let Some(on_peers) = &self.on_peers {
            on_peers(reports.len() > 1 || has_inbound);
        }
        self.metrics.cluster_members.set(reports.len() as u64);
        self.metrics
            .cluster_peers
            .set(reports.iter().filter(|r| r.peer).count() as u64);
        self.metrics.cluster_state.set(state.code());
        self.state.send_if_modified(|current| {
            if *current == Some(state) {
                return false;
            }
            if state == NodeState::Stable {
                tracing::info!(node = %self.settings.name, service = %self.settings.service, "node stabilised");
            } else {
                tracing::info!(node = %self.settings.name, state = %state, "cluster state changed");
            }
            *current = Some(state);
            true
        });
        state
    }

    /// State evaluations until shutdown.
    pub async fn run_state(self: Arc<Self>, mut shutdown: Shutdown) {
        let tick = (self.settings.member_refresh / 4)
            .clamp(Duration::from_millis(20), Duration::from_millis(250));
        loop {
            self.evaluate();
            tokio::select! {
                _ = shutdown.stopped() => return,
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// The current state (None before the first evaluation).
    pub fn state(&self) -> Option<NodeState> {
        *self.state.borrow()
    }

    /// Waits for `STABLE`; with a timeout, fails with `StabiliseTimeout` when it passes.
    pub async fn stabilised(&self, timeout: Option<Duration>) -> Result<()> {
        let mut state = self.state.subscribe();
        let stable = state.wait_for(|s| *s == Some(NodeState::Stable));
        match timeout {
            None => stable
                .await
                .map(|_| ())
                .map_err(|_| Error::unavailable("cluster stopped")),
            Some(limit) => match tokio::time::timeout(limit, stable).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(_)) => Err(Error::unavailable("cluster stopped")),
                Err(_) => Err(Error::Timeout(
                    "StabiliseTimeout: failed to stabilise in time".into(),
                )),
            },
        }
    }

    /// Clean leave: withdraws the keepalive and stops every link.
    pub async fn leave(&self) {
        if let Err(e) = self.discovery.leave(&self.me).await {
            tracing::warn!(error = %e, "could not withdraw the keepalive record");
        }
        let links: Vec<PeerLink> = self
            .entries()
            .drain()
            .filter_map(|(_, entry)| entry.link)
            .collect();
        for link in links {
            link.stop().await;
        }
    }
}
