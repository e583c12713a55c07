//! Cluster trust: what makes a node a peer. A peer is a process that proved it holds the
//! cluster's key; never a session whose login `info` says so.
//!
//! * [`key`]: the cluster key (derived from `clusterSecret`, with earlier secrets accepted
//!   during a rotation), key ids and MACs;
//! * [`identity`]: a peer's validated name, cluster, service and endpoint;
//! * [`handshake`]: the mutual challenge–response both ends of a peer link run before
//!   anything else (no reusable secret crosses the wire);
//! * [`membership`]: signatures on membership records, so a record the cluster did not
//!   write is never dialled.
//!
//! It depends on the SDK and the crypto crates only; the cluster (dialling side) and the
//! sessions (listening side) both use it.

pub mod handshake;
pub mod identity;
pub mod key;
pub mod membership;

pub use handshake::{DialerHello, PeerAuthority, PendingProof};
pub use identity::PeerIdentity;
pub use key::{ClusterKeys, KeySource};

/// Why a peer could not be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// A handshake message is missing a field or has one of the wrong type.
    #[error("malformed peer handshake: {0}")]
    Malformed(String),
    /// The far side belongs to another cluster.
    #[error("peer of cluster {claimed:?}, not {expected:?}")]
    WrongCluster {
        /// This node's cluster.
        expected: String,
        /// What the far side said.
        claimed: String,
    },
    /// No key both sides hold (different secrets, or a rotation left them without a common
    /// one). Key ids are not named: they would help an offline guesser.
    #[error("no cluster key in common")]
    NoCommonKey,
    /// The proof does not verify: the far side does not hold the cluster key.
    #[error("the peer's proof of the cluster key is wrong")]
    BadProof,
    /// The endpoint that answered is not the one dialled.
    #[error("the peer at {dialled} says it is {claimed}")]
    EndpointMismatch {
        /// What this node dialled.
        dialled: String,
        /// What the far side proved.
        claimed: String,
    },
    /// A name or endpoint from the network is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

impl From<TrustError> for happn_cluster_sdk::Error {
    fn from(e: TrustError) -> Self {
        match e {
            TrustError::Malformed(_) | TrustError::Invalid(_) => {
                happn_cluster_sdk::Error::BadInput(e.to_string())
            }
            _ => happn_cluster_sdk::Error::Unauthorized(e.to_string()),
        }
    }
}
