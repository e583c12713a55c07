//! # happn-cluster
//!
//! A clustered, realtime, path-addressed data store and pub/sub server, wire-compatible with
//! the happn-3 client. This crate is the host: it loads the [`config`], links the plugins
//! (datastores, discovery, transport, auth — see [`sdk`]) and runs a [`Node`].
//!
//! Layout (each module depends only on those after it; the README's Layout section draws
//! the graph): [`node`] (the composition root: startup and shutdown), [`http`] (plain HTTP
//! routes), [`session`] (client sessions, the registry and accept gate, the access policy,
//! live security updates), [`pubsub`] (publication and fan-out to recipients), [`security`]
//! (users, groups, permissions, tokens, and their change feed), [`data`] (datastore
//! routing), [`protocol`] (happn wire messages and typed requests), [`path`] (paths, masks,
//! the subscription index), [`names`], [`lifecycle`], [`metrics`], [`config`]; beside them
//! [`client`] (the Rust client), [`loadgen`] and [`admin`] (CLI tools).

pub mod admin;
pub mod client;
pub mod cluster;
pub mod config;
pub mod data;
pub mod http;
pub mod lifecycle;
pub mod loadgen;
pub mod logging;
pub mod metrics;
pub mod names;
pub mod node;
pub mod path;
pub mod process_stats;
pub mod protocol;
pub mod pubsub;
pub mod security;
pub mod selfsigned;
pub mod session;
pub mod status;
pub mod trust;

pub use happn_cluster_sdk as sdk;
pub use node::{Node, NodeBuilder};

// Link the bundled plugins so their registrations are present.
#[cfg(feature = "mongo")]
use happn_provider_mongo as _;
#[cfg(feature = "postgres")]
use happn_provider_postgres as _;
#[cfg(feature = "sqlite")]
use happn_provider_sqlite as _;
use happn_transport_websocket as _;
