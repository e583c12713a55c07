//! happn-cluster host (work in progress).
pub use happn_cluster_sdk as sdk;
