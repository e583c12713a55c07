//! The `Discovery` trait: how nodes of a cluster find each other.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One cluster member as announced by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Unique node name (`10-0-0-1_57000` by default).
    pub name: String,
    /// The node's service name (`happn-cluster-node` by default).
    pub service: String,
    /// Cluster name; members of other clusters are ignored.
    pub cluster_name: String,
    /// Deployment; only members of the same deployment see each other.
    pub deployment: String,
    /// `host:port` where peers reach the node's internal port.
    pub endpoint: String,
    /// Heartbeat counter, advanced by every keepalive. Liveness is judged by observing it
    /// advance, so node clocks never need to agree.
    #[serde(default)]
    pub beat: u64,
    /// The record's signature with the cluster key (`<key id>:<mac>`), set by the node
    /// before it announces; discovery plugins store and return it unchanged. Records from
    /// a source only operators write (see [`Discovery::trusted_source`]) need none.
    #[serde(default)]
    pub signature: String,
}

/// Finds the live members of a cluster.
#[async_trait]
pub trait Discovery: Send + Sync + 'static {
    /// Announces (or re-announces, as a keepalive) this member.
    async fn announce(&self, me: &Member) -> Result<()>;

    /// The members currently considered alive (including this one once announced).
    async fn members(&self) -> Result<Vec<Member>>;

    /// Withdraws this member's announcement (clean stop).
    async fn leave(&self, me: &Member) -> Result<()>;

    /// True when members come from a source only operators write (a config file), so
    /// the node dials them without a record signature. False (the default) for anything
    /// shared, such as a database table: unsigned records are ignored.
    fn trusted_source(&self) -> bool {
        false
    }
}
