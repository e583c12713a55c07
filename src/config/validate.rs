//! Validation: one function per rule, each reporting every problem with the key it
//! concerns. [`validate`] runs them all.

use std::collections::BTreeSet;
use std::fmt;

use happn_cluster_sdk::registry;

use super::ConfigError;
use super::model::Config;
use crate::names::{ADMIN, GroupName, UserName};
use crate::path::Mask;

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path, e.g. `services.orchestrator.config.clusterName`.
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The problems found so far.
#[derive(Default)]
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue {
            key: key.into(),
            message: message.into(),
        });
    }
}

const ORCH: &str = "services.orchestrator.config";
const SEC: &str = "services.security.config";
const SESSION: &str = "services.session.config";
const DATA: &str = "services.data.config.datastores";
const ACTIONS: [&str; 5] = ["get", "set", "on", "remove", "*"];

/// Every rule, in the order their problems are reported.
const RULES: &[fn(&Config, &mut Issues)] = &[
    node_identity,
    cluster_names,
    replicate_masks,
    cluster_minimums,
    orchestrator_timing,
    replicator_interval,
    admin_user,
    security_settings,
    session_profiles,
    declared_groups,
    declared_users,
    auth_plugin,
    session_limits,
    acknowledge_timeout,
    client_port,
    transport_plugin,
    datastores,
];

/// Checks an effective config (see [`Config::effective`]); returns every problem found.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut issues = Issues::default();
    for rule in RULES {
        rule(config, &mut issues);
    }
    if issues.0.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(issues.0))
    }
}

/// Cluster, service and deployment names become path segments.
fn segment_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '*' | '-'))
}

fn node_identity(config: &Config, issues: &mut Issues) {
    if let Some(name) = &config.name
        && (name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        issues.add(
            "name",
            format!("{name:?} must be non-empty and use only letters, digits and _ - ."),
        );
    }
    if config.host.trim().is_empty() {
        issues.add(
            "host",
            "must not be empty (use 0.0.0.0 to listen everywhere)",
        );
    }
}

fn cluster_names(config: &Config, issues: &mut Issues) {
    let orchestrator = &config.services.orchestrator.config;
    let min = crate::trust::key::MIN_SECRET_BYTES;
    if orchestrator
        .cluster_secret
        .as_ref()
        .is_some_and(|s| s.len() < min)
    {
        issues.add(
            format!("{ORCH}.clusterSecret"),
            format!("must be at least {min} bytes (generate one with `happn-cluster secret`)"),
        );
    }
    for (i, secret) in orchestrator.previous_cluster_secrets.iter().enumerate() {
        if secret.len() < min {
            issues.add(
                format!("{ORCH}.previousClusterSecrets[{i}]"),
                format!("must be at least {min} bytes"),
            );
        }
    }
    if let Some(name) = &config.name
        && let Err(e) = crate::trust::identity::check_name("node", name)
    {
        issues.add("name", e.to_string());
    }
    for (key, value) in [
        ("clusterName", &orchestrator.cluster_name),
        ("serviceName", &orchestrator.service_name),
        ("deployment", &orchestrator.deployment),
    ] {
        if !segment_name_ok(value) {
            issues.add(
                format!("{ORCH}.{key}"),
                format!(
                    "{value:?} may only contain letters, digits and _ * - (it becomes a path segment)"
                ),
            );
        }
    }
}

fn replicate_masks(config: &Config, issues: &mut Issues) {
    for (i, mask) in config
        .services
        .orchestrator
        .config
        .replicate
        .iter()
        .enumerate()
    {
        if let Err(e) = Mask::parse(mask) {
            issues.add(format!("{ORCH}.replicate[{i}]"), e.to_string());
        }
    }
}

fn cluster_minimums(config: &Config, issues: &mut Issues) {
    let orchestrator = &config.services.orchestrator.config;
    for (service, minimum) in &orchestrator.cluster {
        if !segment_name_ok(service) {
            issues.add(
                format!("{ORCH}.cluster.{service}"),
                "service names may only contain letters, digits and _ * -",
            );
        }
        if *minimum == 0 && *service == orchestrator.service_name {
            issues.add(
                format!("{ORCH}.cluster.{service}"),
                "this node's own service needs a minimum of at least 1",
            );
        }
    }
    if !orchestrator.cluster.is_empty()
        && !orchestrator
            .cluster
            .contains_key(&orchestrator.service_name)
    {
        issues.add(
            format!("{ORCH}.cluster"),
            format!(
                "must include this node's serviceName {:?} (has {:?})",
                orchestrator.service_name,
                orchestrator.cluster.keys().collect::<Vec<_>>()
            ),
        );
    }
}

fn orchestrator_timing(config: &Config, issues: &mut Issues) {
    let timing = &config.services.orchestrator.config.timing;
    for (key, value) in [
        ("keepAlive", timing.keep_alive),
        ("memberRefresh", timing.member_refresh),
        ("healthReport", timing.health_report),
        ("keepAliveThreshold", timing.keep_alive_threshold),
    ] {
        if value.0 == 0 {
            issues.add(format!("{ORCH}.timing.{key}"), "must be greater than 0 ms");
        }
    }
    if timing.keep_alive_threshold <= timing.keep_alive {
        issues.add(
            format!("{ORCH}.timing.keepAliveThreshold"),
            format!(
                "{} ms must be longer than keepAlive ({} ms), or every member looks dead between keepalives",
                timing.keep_alive_threshold.0, timing.keep_alive.0
            ),
        );
    }
    if timing.stabilise_timeout.is_some_and(|t| t.0 == 0) {
        issues.add(
            format!("{ORCH}.timing.stabiliseTimeout"),
            "must be greater than 0 ms (omit it to wait forever)",
        );
    }
}

fn replicator_interval(config: &Config, issues: &mut Issues) {
    let replicator = &config.services.replicator.config;
    if replicator.replay_buffer_events == 0 {
        issues.add(
            "services.replicator.config.replayBufferEvents",
            "must be at least 1",
        );
    }
    if replicator.replay_buffer_age.0 < 100 {
        issues.add(
            "services.replicator.config.replayBufferAge",
            "must be at least 100 ms",
        );
    }
    if replicator.security_changeset_replicate_interval.0 == 0 {
        issues.add(
            "services.replicator.config.securityChangesetReplicateInterval",
            "must be greater than 0 ms",
        );
    }
}

fn admin_user(config: &Config, issues: &mut Issues) {
    let admin = &config.services.security.config.admin_user;
    if admin.username != ADMIN {
        issues.add(
            format!("{SEC}.adminUser.username"),
            format!("must be _ADMIN (got {:?})", admin.username),
        );
    }
    if admin.password.is_empty() {
        issues.add(format!("{SEC}.adminUser.password"), "must not be empty");
    }
}

fn security_settings(config: &Config, issues: &mut Issues) {
    let security = &config.services.security.config;
    if security.pbkdf2_iterations == 0 {
        issues.add(format!("{SEC}.pbkdf2Iterations"), "must be at least 1");
    }
    // Short secrets load (happn-3 accepts them); the security service warns at start.
    if security
        .session_token_secret
        .as_ref()
        .is_some_and(|s| s.is_empty())
    {
        issues.add(
            format!("{SEC}.sessionTokenSecret"),
            "must not be empty (omit it to generate one)",
        );
    }
    if security.account_lockout.enabled && security.account_lockout.attempts == 0 {
        issues.add(
            format!("{SEC}.accountLockout.attempts"),
            "must be at least 1",
        );
    }
}

fn declared_groups(config: &Config, issues: &mut Issues) {
    let mut seen = BTreeSet::new();
    for (i, group) in config.services.security.config.groups.iter().enumerate() {
        let key = format!("{SEC}.groups[{i}]");
        if let Err(e) = GroupName::parse(&group.name) {
            issues.add(format!("{key}.name"), e.to_string());
        } else if !seen.insert(group.name.as_str()) {
            issues.add(
                format!("{key}.name"),
                format!("duplicate group {:?}", group.name),
            );
        }
        for (path, permission) in &group.permissions {
            if path.is_empty() {
                issues.add(
                    format!("{key}.permissions"),
                    "permission paths must not be empty",
                );
            }
            for action in permission.actions.iter().chain(&permission.prohibit) {
                if !ACTIONS.contains(&action.as_str()) {
                    issues.add(
                        format!("{key}.permissions.{path}"),
                        format!("unknown action {action:?}; use get, set, on, remove or *"),
                    );
                }
            }
        }
    }
}

fn declared_users(config: &Config, issues: &mut Issues) {
    let security = &config.services.security.config;
    let groups: BTreeSet<&str> = security
        .groups
        .iter()
        .filter(|g| GroupName::is_valid(&g.name))
        .map(|g| g.name.as_str())
        .collect();
    for (i, user) in security.users.iter().enumerate() {
        let key = format!("{SEC}.users[{i}]");
        if let Err(e) = UserName::parse(&user.username) {
            issues.add(format!("{key}.username"), e.to_string());
        }
        if user.password.is_empty() {
            issues.add(format!("{key}.password"), "must not be empty");
        }
        for group in &user.groups {
            if group != ADMIN && !groups.contains(group.as_str()) {
                issues.add(
                    format!("{key}.groups"),
                    format!("group {group:?} is not declared in {SEC}.groups"),
                );
            }
        }
    }
}

fn auth_plugin(config: &Config, issues: &mut Issues) {
    let chosen = &config.services.security.config.auth.plugin;
    let plugins = registry::auths();
    if registry::find(&plugins, chosen).is_none() {
        let known: Vec<&str> = plugins.iter().map(|p| p.name).collect();
        issues.add(
            format!("{SEC}.auth.plugin"),
            format!(
                "unknown auth plugin {chosen:?}; registered: {}",
                known.join(", ")
            ),
        );
    }
}

fn transport_plugin(config: &Config, issues: &mut Issues) {
    let chosen = &config.services.transport.config.plugin;
    let plugins = registry::transports();
    if registry::find(&plugins, chosen).is_none() {
        let known: Vec<&str> = plugins.iter().map(|p| p.name).collect();
        issues.add(
            "services.transport.config.plugin",
            format!(
                "unknown transport plugin {chosen:?}; registered: {}",
                known.join(", ")
            ),
        );
    }
}

fn session_limits(config: &Config, issues: &mut Issues) {
    let session = &config.services.session.config;
    if session.max_message_bytes < 1024 {
        issues.add(
            format!("{SESSION}.maxMessageBytes"),
            "must be at least 1024 bytes",
        );
    }
    if session.outbound_queue == 0 {
        issues.add(format!("{SESSION}.outboundQueue"), "must be at least 1");
    }
    if session.ping_interval.0 < 100 {
        issues.add(format!("{SESSION}.pingInterval"), "must be at least 100 ms");
    }
    for (key, value, least) in [
        ("outboundQueueBytes", session.outbound_queue_bytes, 1024),
        ("maxConnections", session.max_connections.unwrap_or(1), 1),
        ("maxPathBytes", session.max_path_bytes, 16),
        ("maxPathSegments", session.max_path_segments, 4),
    ] {
        if value < least {
            issues.add(
                format!("{SESSION}.{key}"),
                format!("must be at least {least}"),
            );
        }
    }
    for (key, value) in [
        ("httpIdleTimeout", session.http_idle_timeout),
        ("loginTimeout", session.login_timeout),
    ] {
        if value.0 < 100 {
            issues.add(format!("{SESSION}.{key}"), "must be at least 100 ms");
        }
    }
}

fn acknowledge_timeout(config: &Config, issues: &mut Issues) {
    let options = &config.services.publisher.config.publication_options;
    if options.acknowledge_timeout.0 < 100 {
        issues.add(
            "services.publisher.config.publicationOptions.acknowledgeTimeout",
            "must be at least 100 ms",
        );
    }
    if options.transactional_wait.0 > 60_000 {
        issues.add(
            "services.publisher.config.publicationOptions.transactionalWait",
            "must be at most 60000 ms (a stalled subscriber would hold every writer that long)",
        );
    }
}

/// Each profile's session criteria parse, and its source addresses are addresses.
fn session_profiles(config: &Config, issues: &mut Issues) {
    for (i, profile) in config.services.security.config.profiles.iter().enumerate() {
        let key = format!("{SEC}.profiles[{i}]");
        if !profile.session.is_null()
            && let Err(e) = happn_cluster_sdk::Criteria::parse(&profile.session)
        {
            issues.add(format!("{key}.session"), e.message().to_string());
        }
        for address in &profile.policy.source_ip_whitelist {
            if address.parse::<std::net::IpAddr>().is_err() {
                issues.add(
                    format!("{key}.policy.sourceIPWhitelist"),
                    format!("{address:?} is not an IP address"),
                );
            }
        }
    }
}

fn client_port(config: &Config, issues: &mut Issues) {
    let proxy = &config.services.proxy.config;
    if proxy.key_path.is_some() != proxy.cert_path.is_some() {
        issues.add(
            "services.proxy.config",
            "keyPath and certPath must be given together",
        );
    }
    if proxy.timeout.0 < 100 {
        issues.add("services.proxy.config.timeout", "must be at least 100 ms");
    }
    if proxy.port != 0 && proxy.port == config.port {
        issues.add(
            "services.proxy.config.port",
            format!(
                "{} is also the node's internal port; use two different ports",
                proxy.port
            ),
        );
    }
}

fn datastores(config: &Config, issues: &mut Issues) {
    let plugins = registry::datastores();
    let known: Vec<&str> = plugins.iter().map(|p| p.name).collect();
    let stores = &config.services.data.config.datastores;
    let mut names = BTreeSet::new();
    for (i, store) in stores.iter().enumerate() {
        let key = format!("{DATA}[{i}]");
        if store.name.is_empty() {
            issues.add(format!("{key}.name"), "every datastore needs a name");
        } else if !names.insert(store.name.as_str()) {
            issues.add(
                format!("{key}.name"),
                format!("duplicate datastore name {:?}", store.name),
            );
        }
        let provider = store.provider.as_deref().unwrap_or("mongo");
        if registry::find(&plugins, provider).is_none() {
            issues.add(
                format!("{key}.provider"),
                format!(
                    "unknown provider {provider:?}; registered providers: {}",
                    known.join(", ")
                ),
            );
        }
        if !(store.settings.is_object() || store.settings.is_null()) {
            issues.add(format!("{key}.settings"), "must be an object");
        }
        for (j, pattern) in store.patterns.iter().enumerate() {
            if pattern.is_empty() {
                issues.add(format!("{key}.patterns[{j}]"), "must not be empty");
            }
        }
    }
    let defaults = stores.iter().filter(|s| s.is_default).count();
    if defaults > 1 {
        issues.add(
            DATA,
            format!("{defaults} datastores have isDefault: true; at most one may"),
        );
    }
}
