//! The documented default configuration printed by `happn-cluster config example`, followed
//! by every linked plugin's own documented example.

use happn_cluster_sdk::registry;

/// A complete config in TOML with every key at its default and a comment on each.
/// JSON in the seed's shape (`{"services": {"proxy": {"config": {"port": 55000}}}}`) works too.
pub const EXAMPLE_TOML: &str = r#"# happn-cluster node configuration (every key shown at its default).
# The same keys work in JSON, in the seed happn-cluster's shape.

# Unique node name. Default: host and port, e.g. "10-0-0-1_57000"
# (host 0.0.0.0 uses the first non-loopback IPv4 address).
# name = "node-1"

# Internal port: peers connect here as soon as the node starts.
host = "0.0.0.0"
port = 57000

# true turns on users, groups, permissions and logins.
secure = false

# Host peers should dial when the listen address is not reachable (docker).
# announceHost = "node-1.example.com"

[services.security.config.adminUser]
# Created on first start of a secure node; later changes do not alter an existing admin.
username = "_ADMIN"
password = "happn"

[services.session.config]
# Largest inbound message (bytes); bigger ones get an error reply.
maxMessageBytes = 10485760
# Messages queued per client before it counts as a slow consumer and is disconnected.
outboundQueue = 4096
# Bytes queued per client: events beyond it disconnect a slow consumer, replies wait.
outboundQueueBytes = 8388608
# Server heartbeat interval (ms, or a string such as "25s").
pingInterval = 25000
# Connections per listener; more get a 503. Default: the open-file limit minus 256.
# maxConnections = 10000
# Connections one remote address (an IPv6 /64 counts as one) may hold per listener; more
# get a 503. Default: half of maxConnections; 0 turns it off (behind a proxy).
# maxConnectionsPerAddress = 5000
# Subscriptions one session may hold; more `on` requests get an error.
maxSubscriptions = 10000
# HTTP connections (not WebSockets) idle this long are closed (ms).
httpIdleTimeout = 30000
# Secure nodes close connections that have not logged in this long after connecting (ms).
loginTimeout = 30000
# Longest path or subscription mask (bytes), and most segments in one.
maxPathBytes = 8192
maxPathSegments = 256

[services.publisher.config.publicationOptions]
# How long an ACKNOWLEDGED (consistency 3) publication waits for subscriber acks (ms).
acknowledgeTimeout = 60000
# How long a TRANSACTIONAL (default) writer's reply waits for the event to be on the other
# local subscribers' sockets (ms); 0: the reply may overtake them.
transactionalWait = 100

[services.security.config.accountLockout]
# Failed logins (within retryInterval) that lock an account, and for how long (ms).
enabled = true
attempts = 4
retryInterval = 600000
# Failures of names that are not accounts kept at once (oldest forgotten first).
unknownNamesTracked = 10000
# Failed logins one remote address may make per retryInterval (0: no limit).
failuresPerAddress = 100
# Password logins one address may have waiting or verifying; more are refused at once.
loginsPendingPerAddress = 1024
# A login whose turn to verify does not come within this long is refused (ms).
loginQueueTimeout = 5000

[services.security.config]
# _ANONYMOUS logs in without a password and has what its groups and own permissions grant.
allowAnonymousAccess = false
# Usernames are stored and matched in lower case (_ADMIN and the listed names excepted).
usernamesCaseInsensitive = false
usernamesCaseInsensitiveExclude = []
# Revoking a token without a ttl is allowed (its revocation record then stays forever).
allowTTL0Revocations = true
# A token from another server sharing sessionTokenSecret must carry this database's user id.
lockTokenToUserId = false
# Session profiles, first match wins; happn-3's default-browser, default-stateful and
# default-stateless profiles follow them.
# [[services.security.config.profiles]]
# name = "robots"
# session = { "info.kind" = { "$eq" = "robot" } }
# policy = { ttl = "1h", inactivity_threshold = "10m", disallowTokenLogins = false, lockTokenToOrigin = false, sourceIPWhitelist = [] }

# Datastores, routed by path pattern (longest match wins); one is the default.
# With none configured the node uses mongo (MONGO_URL, MONGO_DATABASE, MONGO_COLLECTION
# fill its settings) when that provider is linked, else the embedded memory store.
# [[services.data.config.datastores]]
# name = "main"
# provider = "mongo"            # mongo | postgres | sqlite | memory
# isDefault = true
# patterns = []
# [services.data.config.datastores.writeBatch]
# maxItems = 64                 # group commit: writes gathered per batch (1: off)
# inFlight = 1                  # batches written at once
# [services.data.config.datastores.settings]
# url = "mongodb://127.0.0.1:27017"
# database = "happn-cluster"
# collection = "happn-cluster"

[services.proxy.config]
# Client port: opens once the cluster is stable.
host = "0.0.0.0"
port = 55000
allowSelfSignedCerts = false
# Idle timeout of a client socket (ms).
timeout = 1200000
# true: the embedding program opens the client port itself.
defer = false
# keyPath = "/etc/happn/key.pem"   # with certPath: TLS on the client port (a self-signed
# certPath = "/etc/happn/cert.pem"  # pair is generated when neither file exists)
# A taken port (client or internal) is retried this long (ms), every interval; 0 fails at once.
portAvailablePingTimeout = 0
portAvailablePingInterval = 1000

[services.transport.config]
# The registered transport plugin both ports serve with (see the plugin list below).
plugin = "websocket"

[services.orchestrator.config]
clusterName = "happn-cluster"
# The secret every member proves it holds (at least 16 bytes; `happn-cluster secret` makes
# one; or set HAPPN_CLUSTER_SECRET). Unset: derived from adminUser.password, with a warning;
# with happn's default admin password the node links with no one.
# clusterSecret = "…"
# Earlier secrets still accepted during a rotation.
# previousClusterSecrets = []
serviceName = "happn-cluster-node"
deployment = "Test-Deploy"
# Events on these subscription masks are replicated to every peer.
replicate = ["*"]

[services.orchestrator.config.discovery]
# How members find each other (see the plugin list below): "datastore" keeps keepalive
# records in the shared database; "static" takes a fixed member list in settings.
plugin = "datastore"

[services.orchestrator.config.timing]
keepAliveThreshold = 6000   # keepalive records older than this are stale
keepAlive = 5000            # keepalive write interval
memberRefresh = 5000        # member list refresh interval
healthReport = 10000        # health report interval
# stabiliseTimeout = 120000 # stop the node if not stable in time (default: wait forever)

# Minimum members per service before the node is stable (default: {<serviceName> = 1}).
[services.orchestrator.config.cluster]
happn-cluster-node = 1

[services.replicator.config]
# Security changes are batched and pushed to peers this often (ms).
securityChangesetReplicateInterval = 3000
# Publications kept for peers that reconnect and ask for what they missed: at most this
# many, none older than replayBufferAge (ms). A gap older than that is reported, not hidden.
replayBufferEvents = 10000
replayBufferAge = 60000
# …and at most this many bytes of publications.
replayBufferBytes = 67108864
"#;

/// The example config and, as comments, each linked plugin (datastores, discovery,
/// transports, auth) with its description and documented example settings.
pub fn example_with_plugins() -> String {
    let mut out = String::from(EXAMPLE_TOML);
    out.push_str("\n# ---- Linked plugins, each with its documented example settings ----\n");
    let mut section = |title: &str, key: &str, rows: Vec<(&str, &str, &str)>| {
        out.push_str(&format!("#\n# {title} (chosen by {key}):\n"));
        for (name, description, example) in rows {
            out.push_str(&format!(
                "#   {name}: {description}\n#     settings = {example}\n"
            ));
        }
    };
    section(
        "Datastore providers",
        "services.data.config.datastores[].provider",
        registry::datastores()
            .iter()
            .map(|p| (p.name, p.description, p.example))
            .collect(),
    );
    section(
        "Discovery",
        "services.orchestrator.config.discovery.plugin",
        registry::discoveries()
            .iter()
            .map(|p| (p.name, p.description, p.example))
            .collect(),
    );
    section(
        "Transports",
        "services.transport.config.plugin",
        registry::transports()
            .iter()
            .map(|p| (p.name, p.description, p.example))
            .collect(),
    );
    section(
        "Auth",
        "services.security.config.auth.plugin",
        registry::auths()
            .iter()
            .map(|p| (p.name, p.description, p.example))
            .collect(),
    );
    out
}
