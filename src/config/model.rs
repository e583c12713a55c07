//! The typed configuration, in the seed's JSON shape (`services.<name>.config.<key>`), with
//! the seed's defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::millis::Millis;

/// A whole node configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// Unique node name; defaults from host and port (`10-0-0-1_57000`).
    pub name: Option<String>,
    /// Address the internal (peer) port listens on.
    pub host: String,
    /// The internal port peers connect to (57000). Clients use the proxy port.
    pub port: u16,
    /// Enables users, groups, permissions and logins.
    pub secure: bool,
    /// Host peers should dial (when the listen address is not reachable, e.g. in docker).
    pub announce_host: Option<String>,
    /// happn-3's top-level spelling of
    /// `services.security.config.disableDefaultAdminNetworkConnections`.
    pub disable_default_admin_network_connections: bool,
    /// Per-service settings.
    pub services: Services,
    /// `MONGO_*` environment values captured by [`Config::apply_env`], used when the
    /// default mongo datastore is generated.
    #[serde(skip)]
    pub env_mongo: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: None,
            host: "0.0.0.0".into(),
            port: 57000,
            secure: false,
            announce_host: None,
            disable_default_admin_network_connections: false,
            services: Services::default(),
            env_mongo: Vec::new(),
        }
    }
}

impl Config {
    /// A node for one machine: both ports on 127.0.0.1, chosen by the OS (read them back
    /// with `Node::peer_addr` and `Node::client_addr`), every path in `datastore`. What
    /// embedding programs, examples and tests start from.
    pub fn loopback(datastore: DatastoreConfig) -> Config {
        let mut config = Config {
            host: "127.0.0.1".into(),
            port: 0,
            ..Config::default()
        };
        config.services.proxy.config.host = "127.0.0.1".into();
        config.services.proxy.config.port = 0;
        config.services.data.config.datastores = vec![DatastoreConfig {
            is_default: true,
            ..datastore
        }];
        config
    }
}

impl DatastoreConfig {
    /// A datastore named `name` of provider `provider` with these settings.
    pub fn new(name: &str, provider: &str, settings: Value) -> DatastoreConfig {
        DatastoreConfig {
            name: name.into(),
            provider: Some(provider.into()),
            settings,
            ..DatastoreConfig::default()
        }
    }
}

/// `services.*`: one `{config: …}` block per service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Services {
    /// `services.security.config`.
    pub security: Service<SecurityConfig>,
    /// `services.data.config`.
    pub data: Service<DataConfig>,
    /// `services.session.config`: per-connection limits.
    pub session: Service<SessionConfig>,
    /// `services.proxy.config`: the client port, opened once the cluster is stable.
    pub proxy: Service<ProxyConfig>,
    /// `services.orchestrator.config`: membership and stabilisation.
    pub orchestrator: Service<OrchestratorConfig>,
    /// `services.replicator.config`: security change replication.
    pub replicator: Service<ReplicatorConfig>,
    /// `services.publisher.config`: publication options (happn-3's key).
    pub publisher: Service<PublisherConfig>,
    /// `services.transport.config`: the `Transport` plugin both ports serve with.
    pub transport: Service<TransportConfig>,
}

/// `services.transport.config`: the registered `Transport` plugin and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransportConfig {
    /// Registered transport plugin name.
    pub plugin: String,
    /// Its settings.
    pub settings: Value,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            plugin: "websocket".into(),
            settings: Value::Null,
        }
    }
}

/// `services.publisher.config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PublisherConfig {
    /// `publicationOptions`.
    pub publication_options: PublicationOptions,
}

/// `services.publisher.config.publicationOptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PublicationOptions {
    /// How long an ACKNOWLEDGED publication waits for its subscribers' acks (60 s).
    pub acknowledge_timeout: Millis,
    /// How long a TRANSACTIONAL writer's reply waits for the event to be written to the
    /// other local subscribers' connections (100 ms; 0: the reply does not wait, and may
    /// overtake other sessions' events). A subscriber that is not reading holds a writer up
    /// no longer than this.
    pub transactional_wait: Millis,
}

impl Default for PublicationOptions {
    fn default() -> Self {
        PublicationOptions {
            acknowledge_timeout: Millis(60_000),
            transactional_wait: Millis(100),
        }
    }
}

/// The seed's `{ "config": { … } }` wrapper around each service's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Service<T> {
    /// The service's settings.
    pub config: T,
}

/// `services.security.config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityConfig {
    /// The built-in administrator, created on first start of a secure node.
    pub admin_user: AdminUser,
    /// Groups upserted at every start (happn's permission format).
    pub groups: Vec<GroupConfig>,
    /// Users upserted at every start.
    pub users: Vec<UserConfig>,
    /// PBKDF2 iterations for new password hashes (happn's default 10000).
    pub pbkdf2_iterations: u32,
    /// HS256 secret for session tokens. Unset: one is generated once and shared by every
    /// node through the database (`/_SYSTEM/_SECURITY/SESSION_TOKEN_SECRET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token_secret: Option<String>,
    /// Account lockout after repeated failed logins.
    pub account_lockout: LockoutConfig,
    /// Tokens (and the sessions using them) expire this long after login; unset: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_ttl: Option<Millis>,
    /// Sessions idle this long are ended; unset: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity_threshold: Option<Millis>,
    /// Which `Auth` plugin verifies credentials (default: `store`, users in the datastore).
    pub auth: AuthConfig,
    /// Refuse `_ADMIN` logins (password or token) over the network (happn-3's option; the
    /// top-level key of the same name sets it too). Use other administrators remotely.
    pub disable_default_admin_network_connections: bool,
    /// Session profiles, matched in order on the session (`user`, `info`, `type`); happn-3's
    /// defaults (`default-browser`, `default-stateful`, `default-stateless`) follow them.
    pub profiles: Vec<ProfileConfig>,
    /// Lets `_ANONYMOUS` log in without a password; it has the permissions of its groups
    /// and its own, like any user.
    pub allow_anonymous_access: bool,
    /// Usernames are stored, looked up and logged in lower case (`_ADMIN` and the names in
    /// `usernamesCaseInsensitiveExclude` excepted).
    pub usernames_case_insensitive: bool,
    /// Names kept as written when `usernamesCaseInsensitive` is on.
    pub usernames_case_insensitive_exclude: Vec<String>,
    /// Revoking a token that never expires is allowed (its revocation record then stays
    /// forever); false refuses it, as happn-3's option does.
    #[serde(rename = "allowTTL0Revocations")]
    pub allow_ttl0_revocations: bool,
    /// A token from another server (same `sessionTokenSecret`, its own database) must also
    /// carry this database's user id for the user, as happn-3's `lockTokenToUserId` does.
    /// Within one database the id is always checked.
    pub lock_token_to_user_id: bool,
}

/// One session profile (`services.security.config.profiles[]`): the sessions it applies to
/// and the policy they get.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileConfig {
    /// Shown with the sessions that match it.
    pub name: String,
    /// Mongo-style criteria on the session: `{"user.username": {"$eq": "bob"}}`,
    /// `{"info.kind": "robot"}`, `{"type": 0}`, `{"user.groups.ops": {"$exists": true}}`.
    pub session: Value,
    /// What matching sessions get.
    pub policy: PolicyConfig,
}

/// A profile's policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Tokens (and sessions) expire this long after login (`"7 days"`, ms); 0 or unset:
    /// never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Millis>,
    /// Sessions idle this long end; 0 or unset: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity_threshold: Option<Millis>,
    /// The token may not be used to log in again.
    #[serde(rename = "disallowTokenLogins")]
    pub disallow_token_logins: bool,
    /// The token logs in only on the node that issued it.
    #[serde(rename = "lockTokenToOrigin")]
    pub lock_token_to_origin: bool,
    /// Logins of matching users only from these addresses (empty: any).
    #[serde(rename = "sourceIPWhitelist")]
    pub source_ip_whitelist: Vec<String>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            admin_user: AdminUser::default(),
            groups: Vec::new(),
            users: Vec::new(),
            pbkdf2_iterations: 10_000,
            session_token_secret: None,
            account_lockout: LockoutConfig::default(),
            session_ttl: None,
            inactivity_threshold: None,
            auth: AuthConfig::default(),
            disable_default_admin_network_connections: false,
            profiles: Vec::new(),
            allow_anonymous_access: false,
            usernames_case_insensitive: false,
            usernames_case_insensitive_exclude: Vec::new(),
            allow_ttl0_revocations: true,
            lock_token_to_user_id: false,
        }
    }
}

/// A group declared in config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupConfig {
    /// Group name.
    pub name: String,
    /// Permissions by path: `{"/path/*": {"actions": ["get", "on"]}, "/x/*": {"prohibit": ["set"]}}`.
    pub permissions: BTreeMap<String, PermissionConfig>,
    /// Free-form data stored with the group.
    #[serde(rename = "custom_data", alias = "customData")]
    pub custom_data: Value,
}

/// Allowed and prohibited actions on one path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PermissionConfig {
    /// Allowed actions: `get`, `set`, `on`, `remove` or `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Prohibited actions (prohibit beats allow).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prohibit: Vec<String>,
    /// happn's `remove: true`: the listed actions and prohibitions are removed instead of
    /// added (in an upsert through the API).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub remove: bool,
}

/// A user declared in config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserConfig {
    /// The user's own permissions, beside its groups' (happn's format).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<String, PermissionConfig>,
    /// Username.
    pub username: String,
    /// Password (hashed before it is stored).
    pub password: String,
    /// Groups the user belongs to.
    pub groups: Vec<String>,
    /// Free-form data stored with the user.
    #[serde(rename = "custom_data", alias = "customData")]
    pub custom_data: Value,
}

/// `services.security.config.accountLockout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockoutConfig {
    /// Lock accounts after repeated failures.
    pub enabled: bool,
    /// Failed logins before the account locks (4).
    pub attempts: u32,
    /// How long a locked account stays locked, and how long a failure counts (10 minutes).
    pub retry_interval: Millis,
    /// Failures of names that are not accounts tracked at once (10000); beyond it the
    /// oldest are forgotten. Accounts that exist are never forgotten before they expire.
    pub unknown_names_tracked: usize,
    /// Failed password logins one remote address may make per `retryInterval` before its
    /// logins are refused for the rest of it (100; 0 turns the limit off).
    pub failures_per_address: u32,
    /// Password logins one remote address may have waiting or verifying at once (1024);
    /// more are refused at once. One address verifies at most half the node's verification
    /// slots at a time, so a burst from one address cannot delay everyone else's logins.
    pub logins_pending_per_address: u32,
    /// A password login whose turn to verify does not come within this long is refused
    /// (5000 ms).
    pub login_queue_timeout: Millis,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            enabled: true,
            attempts: 4,
            retry_interval: Millis(10 * 60 * 1000),
            unknown_names_tracked: 10_000,
            failures_per_address: 100,
            logins_pending_per_address: 1024,
            login_queue_timeout: Millis(5_000),
        }
    }
}

/// `services.security.config.auth`: the `Auth` plugin and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Registered auth plugin name.
    pub plugin: String,
    /// Its settings.
    pub settings: Value,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            plugin: "store".into(),
            settings: Value::Null,
        }
    }
}

/// happn's default admin password: public, so it never keys a cluster.
pub const DEFAULT_ADMIN_PASSWORD: &str = "happn";

/// `services.security.config.adminUser`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AdminUser {
    /// Always `_ADMIN`.
    pub username: String,
    /// Password used only when the admin user is first created (`happn`).
    pub password: String,
}

impl Default for AdminUser {
    fn default() -> Self {
        AdminUser {
            username: "_ADMIN".into(),
            password: DEFAULT_ADMIN_PASSWORD.into(),
        }
    }
}

/// `services.data.config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataConfig {
    /// The datastores, routed by `patterns`; empty means one default store.
    pub datastores: Vec<DatastoreConfig>,
}

/// One entry of `services.data.config.datastores`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DatastoreConfig {
    /// Unique name of this store.
    pub name: String,
    /// Registered provider name (`mongo`, `postgres`, `sqlite`, `memory`; the seed's
    /// `happn-db-provider-mongo` is an alias of `mongo`). Omitted means `mongo`.
    pub provider: Option<String>,
    /// Provider settings, passed as they are.
    pub settings: Value,
    /// Path patterns routed to this store (`*` matches anything, `/` included).
    pub patterns: Vec<String>,
    /// Receives every path no pattern claims.
    pub is_default: bool,
    /// How writes to this store are gathered into batches (group commit).
    pub write_batch: WriteBatchConfig,
}

/// `services.data.config.datastores[].writeBatch`: group commit. Writes that arrive while a
/// batch is being written are gathered into the next one (one round trip, one commit); a
/// write to an idle store goes at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WriteBatchConfig {
    /// Most writes in one batch (64; 1 turns gathering off). Only stores that write a batch
    /// natively gather (PostgreSQL, SQLite); the others write each item as it comes.
    pub max_items: usize,
    /// Most batches being written at once (1: measured best on PostgreSQL at 32 writers,
    /// since more batches in flight make each smaller and cost more CPU per write).
    pub in_flight: usize,
}

impl Default for WriteBatchConfig {
    fn default() -> Self {
        WriteBatchConfig {
            max_items: 64,
            in_flight: 1,
        }
    }
}

/// `services.session.config`: limits applied to every client connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionConfig {
    /// Largest accepted inbound message in bytes (10 MiB, as primus).
    pub max_message_bytes: usize,
    /// Outbound messages queued per session before it counts as a slow consumer and is
    /// disconnected.
    pub outbound_queue: usize,
    /// Bytes queued per session: events beyond it disconnect the session as a slow
    /// consumer; replies wait for room (8 MiB). One frame larger than this still passes
    /// when nothing else is queued.
    pub outbound_queue_bytes: usize,
    /// Interval of server heartbeats (`primus::ping`).
    pub ping_interval: Millis,
    /// Connections served at once per listener; more are refused with a 503. Unset: the
    /// process's open-file limit minus a reserve for datastores and logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Connections one remote address may hold at once per listener; more are refused with
    /// a 503. Unset: half of `maxConnections`. 0 turns the limit off (behind a proxy that
    /// makes every client come from one address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_address: Option<usize>,
    /// Subscriptions one session may hold (10000); more `on` requests get an error.
    pub max_subscriptions: usize,
    /// An HTTP connection (not upgraded to a WebSocket) idle this long is closed (30 s).
    pub http_idle_timeout: Millis,
    /// On a secure node, a connection that has not logged in this long after connecting is
    /// closed (30 s).
    pub login_timeout: Millis,
    /// Longest accepted path or subscription mask, in bytes (8192).
    pub max_path_bytes: usize,
    /// Most `/`-separated segments in a path or mask (256).
    pub max_path_segments: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_message_bytes: 10 * 1024 * 1024,
            outbound_queue: 4096,
            outbound_queue_bytes: 8 * 1024 * 1024,
            ping_interval: Millis(25_000),
            max_connections: None,
            max_connections_per_address: None,
            max_subscriptions: 10_000,
            http_idle_timeout: Millis(30_000),
            login_timeout: Millis(30_000),
            max_path_bytes: 8192,
            max_path_segments: 256,
        }
    }
}

/// `services.proxy.config`: the client-facing port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProxyConfig {
    /// Client port (55000).
    pub port: u16,
    /// Client listen address.
    pub host: String,
    /// Accept self-signed certificates when talking to the local node over TLS.
    pub allow_self_signed_certs: bool,
    /// Idle timeout of a client socket (20 minutes).
    pub timeout: Millis,
    /// Do not open the client port automatically; the embedding program opens it.
    pub defer: bool,
    /// TLS private key (PEM); with `certPath` switches the client port to TLS.
    pub key_path: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    pub cert_path: Option<PathBuf>,
    /// How long to keep retrying when a port (client or internal) is taken, as happn-3 does
    /// for 10 s; 0 (the default) fails the start at once.
    pub port_available_ping_timeout: Millis,
    /// How often to retry a taken port (1 s).
    pub port_available_ping_interval: Millis,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            port: 55000,
            host: "0.0.0.0".into(),
            allow_self_signed_certs: false,
            timeout: Millis(20 * 60 * 1000),
            defer: false,
            key_path: None,
            cert_path: None,
            port_available_ping_timeout: Millis(0),
            port_available_ping_interval: Millis(1000),
        }
    }
}

/// `services.orchestrator.config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrchestratorConfig {
    /// Cluster name; members of other clusters are ignored.
    pub cluster_name: String,
    /// This node's service name.
    pub service_name: String,
    /// Deployment; keepalive records are scoped by it.
    pub deployment: String,
    /// Subscription masks whose events are replicated to every peer.
    pub replicate: Vec<String>,
    /// Membership timings.
    pub timing: Timing,
    /// Minimum members per service name before the node is stable.
    pub cluster: BTreeMap<String, u32>,
    /// Deprecated: becomes `cluster = {serviceName: minimumPeers}` when `cluster` is empty.
    #[serde(alias = "minimumePeers", skip_serializing_if = "Option::is_none")]
    pub minimum_peers: Option<u32>,
    /// Accepted at this level too, as the seed copies it into `timing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stabilise_timeout: Option<Millis>,
    /// How members find each other: a registered discovery plugin (default `datastore`:
    /// keepalive records in the shared database; `static`: a fixed list).
    pub discovery: DiscoveryConfig,
    /// The cluster secret (at least 16 bytes; 32 random bytes recommended): peers prove
    /// they hold it before anything else happens, and membership records are signed with
    /// it. Unset, the key is derived from the admin password (seed configs), with a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_secret: Option<String>,
    /// Earlier cluster secrets still accepted from peers during a rotation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub previous_cluster_secrets: Vec<String>,
}

/// `services.orchestrator.config.discovery`: the `Discovery` plugin and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiscoveryConfig {
    /// Registered discovery plugin name.
    pub plugin: String,
    /// Its settings (`datastore`: filled from the orchestrator config when omitted).
    pub settings: Value,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            plugin: "datastore".into(),
            settings: Value::Null,
        }
    }
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        OrchestratorConfig {
            cluster_name: "happn-cluster".into(),
            service_name: "happn-cluster-node".into(),
            deployment: "Test-Deploy".into(),
            replicate: vec!["*".into()],
            timing: Timing::default(),
            cluster: BTreeMap::new(),
            minimum_peers: None,
            stabilise_timeout: None,
            discovery: DiscoveryConfig::default(),
            cluster_secret: None,
            previous_cluster_secrets: Vec::new(),
        }
    }
}

/// `services.orchestrator.config.timing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Timing {
    /// Keepalive records older than this are stale (6000 ms).
    #[serde(alias = "keepaliveThreshold", alias = "keepAliveThreshhold")]
    pub keep_alive_threshold: Millis,
    /// Give up (stop the node) if not stable within this; unset waits forever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stabilise_timeout: Option<Millis>,
    /// Keepalive write interval (5000 ms).
    pub keep_alive: Millis,
    /// Member list refresh interval (5000 ms).
    pub member_refresh: Millis,
    /// Health report interval (10000 ms).
    pub health_report: Millis,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            keep_alive_threshold: Millis(6_000),
            stabilise_timeout: None,
            keep_alive: Millis(5_000),
            member_refresh: Millis(5_000),
            health_report: Millis(10_000),
        }
    }
}

/// `services.replicator.config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicatorConfig {
    /// Security changes are batched and pushed to peers this often (3000 ms).
    pub security_changeset_replicate_interval: Millis,
    /// Publications kept for peers that reconnect and ask for what they missed (at most
    /// this many; 10000).
    pub replay_buffer_events: usize,
    /// …and none older than this (60000 ms)…
    pub replay_buffer_age: Millis,
    /// …and at most this many bytes of publications (64 MiB): a few large records
    /// overwritten quickly cannot fill the memory.
    pub replay_buffer_bytes: usize,
}

impl Default for ReplicatorConfig {
    fn default() -> Self {
        ReplicatorConfig {
            security_changeset_replicate_interval: Millis(3_000),
            replay_buffer_events: 10_000,
            replay_buffer_age: Millis(60_000),
            replay_buffer_bytes: 64 * 1024 * 1024,
        }
    }
}
