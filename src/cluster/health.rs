//! The health report: the seed's JSON (`MEMBER_ID`, `MEMBER_ENDPOINT`,
//! `TOTAL_CLUSTER_MEMBERS`, `TOTAL_CLUSTER_PEERS`, `UNHEALTHY_MEMBERS`, `STATUS`), logged
//! every `healthReport` when it changed (info when STABLE, warn otherwise).

use std::sync::Arc;

use serde::Serialize;

use super::orchestrator::{MemberReport, Orchestrator};
use super::state::NodeState;
use crate::lifecycle::Shutdown;

/// One health report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// This node's name.
    #[serde(rename = "MEMBER_ID")]
    pub member_id: String,
    /// This node's endpoint.
    #[serde(rename = "MEMBER_ENDPOINT")]
    pub member_endpoint: String,
    /// Members known, this node included.
    #[serde(rename = "TOTAL_CLUSTER_MEMBERS")]
    pub total_members: usize,
    /// Full peers, this node included.
    #[serde(rename = "TOTAL_CLUSTER_PEERS")]
    pub total_peers: usize,
    /// Endpoints of members that are not full peers.
    #[serde(rename = "UNHEALTHY_MEMBERS")]
    pub unhealthy: Vec<String>,
    /// The node state.
    #[serde(rename = "STATUS")]
    pub status: Option<NodeState>,
}

impl HealthReport {
    /// The report for `members` in `state`.
    pub fn new(
        name: &str,
        endpoint: &str,
        members: &[MemberReport],
        state: Option<NodeState>,
    ) -> Self {
        HealthReport {
            member_id: name.to_string(),
            member_endpoint: endpoint.to_string(),
            total_members: members.len(),
            total_peers: members.iter().filter(|m| m.peer).count(),
            unhealthy: members
                .iter()
                .filter(|m| !m.peer)
                .map(|m| m.endpoint.clone())
                .collect(),
            status: state,
        }
    }
}

/// Logs the report every `interval` when its unhealthy members or status changed.
pub async fn run_reports(
    orchestrator: Arc<Orchestrator>,
    name: String,
    endpoint: String,
    interval: std::time::Duration,
    mut shutdown: Shutdown,
) {
    let mut last: Option<(Vec<String>, Option<NodeState>)> = None;
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.stopped() => return,
            _ = tick.tick() => {}
        }
        let report = HealthReport::new(
            &name,
            &endpoint,
            &orchestrator.report(),
            orchestrator.state(),
        );
        let key = (report.unhealthy.clone(), report.status);
        if last.as_ref() == Some(&key) {
            continue;
        }
        last = Some(key);
        let json = serde_json::to_string(&report).unwrap_or_default();
        if report.status == Some(NodeState::Stable) {
            tracing::info!(target: "happn_cluster::health", report = %json, "happn-cluster-health");
        } else {
            tracing::warn!(target: "happn_cluster::health", report = %json, "happn-cluster-health");
        }
    }
}
