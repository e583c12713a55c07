//! # happn-cluster-sdk
//!
//! The small, stable surface every happn-cluster plugin builds against:
//!
//! * the four plugin traits — [`Datastore`], [`Discovery`], [`Transport`], [`Auth`];
//! * their value types ([`Record`], [`FindOptions`], [`Member`], [`Identity`], …);
//! * one error enum with meanings ([`Error`]);
//! * the link-time registry ([`registry`]): one `inventory` descriptor per plugin;
//! * reference implementations: the [`memory`] datastore, [`static_discovery`], [`open_auth`];
//! * the shared Mongo-style [`criteria`] evaluator and the query-path [`pathquery`] matcher;
//! * with feature `testkit`, the datastore conformance suite ([`testkit`]).

pub mod auth;
pub mod criteria;
pub mod datastore;
pub mod discovery;
pub mod error;
pub mod memory;
pub mod open_auth;
pub mod pathquery;
pub mod record;
pub mod registry;
pub mod static_discovery;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transport;

pub use async_trait::async_trait;
pub use auth::{Auth, Credentials, Identity};
pub use criteria::{Criteria, Projection, SortKey};
pub use datastore::{
    Datastore, Features, FindOptions, UpsertItem, UpsertOptions, distinct_paths, parse_pipeline,
    upsert_each,
};
pub use discovery::{Discovery, Member};
pub use error::{Error, Result};
pub use pathquery::{PathQuery, WildcardPattern};
pub use record::{Record, now_millis, wrap_data};
pub use registry::{
    AuthPlugin, BuildContext, DatastorePlugin, DiscoveryPlugin, Plugin, TransportPlugin,
};
pub use transport::{
    ByteBudget, Connection, ConnectionInfo, Host, HttpRequest, HttpResponse, InProcessPeer,
    Inbound, Outbound, ServeOptions, Termination, Terminator, TlsFiles, Transport, address_group,
};

/// Re-exported so plugins can `inventory::submit!` without depending on `inventory` themselves.
pub use inventory;
