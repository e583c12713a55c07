//! # happn-cluster
//!
//! A clustered, realtime, path-addressed data store and pub/sub server, wire-compatible with
//! the happn-3 client. This crate is the host: it loads the [`config`], links the plugins
//! (datastores, discovery, transport, auth — see [`sdk`]) and runs a [`Node`].
//!
//! Layout: [`path`] (paths, masks, the subscription index), [`data`] (datastore routing),
//! [`pubsub`] (publication and fan-out), [`protocol`] (happn wire messages), [`session`]
//! (one connection), [`http`] (plain HTTP routes), [`node`] (startup and shutdown),
//! [`client`] (the Rust client).

pub mod admin;
pub mod client;
pub mod config;
pub mod data;
pub mod http;
pub mod loadgen;
pub mod metrics;
pub mod node;
pub mod path;
pub mod protocol;
pub mod pubsub;
pub mod security;
pub mod selfsigned;
pub mod session;

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
