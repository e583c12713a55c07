//! What a session needs from its node, and nothing more: defined here, by its consumer,
//! and built by the node.

use std::sync::Arc;

use super::access::Access;
use super::limits::Limits;
use super::registry::Sessions;
use crate::data::DataService;
use crate::metrics::Metrics;
use crate::pubsub::PubSub;
use crate::security::SecurityService;

/// The handles every session shares.
pub struct SessionContext {
    /// The node's name (in `describe`, login replies and publication origins).
    pub name: String,
    /// Open or secure.
    pub access: Access,
    /// Datastores and routing.
    pub data: Arc<DataService>,
    /// Users, groups, permissions and tokens.
    pub security: Arc<SecurityService>,
    /// Subscriptions and publication.
    pub pubsub: Arc<PubSub>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Per-session limits.
    pub limits: Limits,
    /// The live sessions and the accept gate.
    pub sessions: Sessions,
    /// This node's cluster keys and identity, set once the cluster starts: the internal
    /// port's sessions answer peer handshakes with it.
    pub peer_authority: std::sync::OnceLock<Arc<crate::trust::PeerAuthority>>,
}

impl SessionContext {
    /// A context over the given services.
    pub fn new(
        name: String,
        access: Access,
        data: Arc<DataService>,
        security: Arc<SecurityService>,
        pubsub: Arc<PubSub>,
        metrics: Arc<Metrics>,
        limits: Limits,
    ) -> SessionContext {
        SessionContext {
            sessions: Sessions::new(metrics.clone()),
            name,
            access,
            data,
            security,
            pubsub,
            metrics,
            limits,
            peer_authority: std::sync::OnceLock::new(),
        }
    }
}
