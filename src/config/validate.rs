//! Validation: every problem is reported with the key it concerns.

use std::collections::BTreeSet;
use std::fmt;

use happn_cluster_sdk::registry;

use super::ConfigError;
use super::model::Config;
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

const ORCH: &str = "services.orchestrator.config";
const DATA: &str = "services.data.config.datastores";

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '*' | '-'))
}

/// Checks an effective config (see [`Config::effective`]); returns every problem found.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut issues = Vec::new();
    let mut issue = |key: String, message: String| issues.push(ConfigIssue { key, message });

    if let Some(name) = &config.name
        && (name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        issue(
            "name".into(),
            format!("{name:?} must be non-empty and use only letters, digits and _ - ."),
        );
    }
    if config.host.trim().is_empty() {
        issue(
            "host".into(),
            "must not be empty (use 0.0.0.0 to listen everywhere)".into(),
        );
    }

    let orchestrator = &config.services.orchestrator.config;
    for (key, value) in [
        ("clusterName", &orchestrator.cluster_name),
        ("serviceName", &orchestrator.service_name),
        ("deployment", &orchestrator.deployment),
    ] {
        if !name_ok(value) {
            issue(
                format!("{ORCH}.{key}"),
                format!(
                    "{value:?} may only contain letters, digits and _ * - (it becomes a path segment)"
                ),
            );
        }
    }
    for (i, mask) in orchestrator.replicate.iter().enumerate() {
        if let Err(e) = Mask::parse(mask) {
            issue(format!("{ORCH}.replicate[{i}]"), e.to_string());
        }
    }
    for (service, minimum) in &orchestrator.cluster {
        if !name_ok(service) {
            issue(
                format!("{ORCH}.cluster.{service}"),
                "service names may only contain letters, digits and _ * -".into(),
            );
        }
        if *minimum == 0 && *service == orchestrator.service_name {
            issue(
                format!("{ORCH}.cluster.{service}"),
                "this node's own service needs a minimum of at least 1".into(),
            );
        }
    }
    if !orchestrator.cluster.is_empty()
        && !orchestrator
            .cluster
            .contains_key(&orchestrator.service_name)
    {
        issue(
            format!("{ORCH}.cluster"),
            format!(
                "must include this node's serviceName {:?} (has {:?})",
                orchestrator.service_name,
                orchestrator.cluster.keys().collect::<Vec<_>>()
            ),
        );
    }
    let timing = &orchestrator.timing;
    for (key, value) in [
        ("keepAlive", timing.keep_alive),
        ("memberRefresh", timing.member_refresh),
        ("healthReport", timing.health_report),
        ("keepAliveThreshold", timing.keep_alive_threshold),
    ] {
        if value.0 == 0 {
            issue(
                format!("{ORCH}.timing.{key}"),
                "must be greater than 0 ms".into(),
            );
        }
    }
    if timing.keep_alive_threshold <= timing.keep_alive {
        issue(
            format!("{ORCH}.timing.keepAliveThreshold"),
            format!(
                "{} ms must be longer than keepAlive ({} ms), or every member looks dead between keepalives",
                timing.keep_alive_threshold.0, timing.keep_alive.0
            ),
        );
    }
    if timing.stabilise_timeout.is_some_and(|t| t.0 == 0) {
        issue(
            format!("{ORCH}.timing.stabiliseTimeout"),
            "must be greater than 0 ms (omit it to wait forever)".into(),
        );
    }

    let replicator = &config.services.replicator.config;
    if replicator.security_changeset_replicate_interval.0 == 0 {
        issue(
            "services.replicator.config.securityChangesetReplicateInterval".into(),
            "must be greater than 0 ms".into(),
        );
    }

    let admin = &config.services.security.config.admin_user;
    if admin.username != "_ADMIN" {
        issue(
            "services.security.config.adminUser.username".into(),
            format!("must be _ADMIN (got {:?})", admin.username),
        );
    }
    if admin.password.is_empty() {
        issue(
            "services.security.config.adminUser.password".into(),
            "must not be empty".into(),
        );
    }

    let security = &config.services.security.config;
    const SEC: &str = "services.security.config";
    if security.pbkdf2_iterations == 0 {
        issue(
            format!("{SEC}.pbkdf2Iterations"),
            "must be at least 1".into(),
        );
    }
    // Short secrets load (happn-3 accepts them); the security service warns at start.
    if security
        .session_token_secret
        .as_ref()
        .is_some_and(|s| s.is_empty())
    {
        issue(
            format!("{SEC}.sessionTokenSecret"),
            "must not be empty (omit it to generate one)".into(),
        );
    }
    if security.account_lockout.enabled && security.account_lockout.attempts == 0 {
        issue(
            format!("{SEC}.accountLockout.attempts"),
            "must be at least 1".into(),
        );
    }
    let actions = ["get", "set", "on", "remove", "*"];
    let mut group_names = BTreeSet::new();
    for (i, group) in security.groups.iter().enumerate() {
        let key = format!("{SEC}.groups[{i}]");
        if let Err(message) = crate::security::validate_name(&group.name, "group") {
            issue(format!("{key}.name"), message);
        } else if !group_names.insert(group.name.as_str()) {
            issue(
                format!("{key}.name"),
                format!("duplicate group {:?}", group.name),
            );
        }
        for (path, permission) in &group.permissions {
            if path.is_empty() {
                issue(
                    format!("{key}.permissions"),
                    "permission paths must not be empty".into(),
                );
            }
            for action in permission.actions.iter().chain(&permission.prohibit) {
                if !actions.contains(&action.as_str()) {
                    issue(
                        format!("{key}.permissions.{path}"),
                        format!("unknown action {action:?}; use get, set, on, remove or *"),
                    );
                }
            }
        }
    }
    for (i, user) in security.users.iter().enumerate() {
        let key = format!("{SEC}.users[{i}]");
        if let Err(message) = crate::security::validate_name(&user.username, "user") {
            issue(format!("{key}.username"), message);
        }
        if user.password.is_empty() {
            issue(format!("{key}.password"), "must not be empty".into());
        }
        for group in &user.groups {
            if group != "_ADMIN" && !group_names.contains(group.as_str()) {
                issue(
                    format!("{key}.groups"),
                    format!("group {group:?} is not declared in {SEC}.groups"),
                );
            }
        }
    }
    if !registry::auths()
        .iter()
        .any(|p| p.answers_to(&security.auth.plugin))
    {
        let known: Vec<&str> = registry::auths().iter().map(|p| p.name).collect();
        issue(
            format!("{SEC}.auth.plugin"),
            format!(
                "unknown auth plugin {:?}; registered: {}",
                security.auth.plugin,
                known.join(", ")
            ),
        );
    }

    let session = &config.services.session.config;
    if session.max_message_bytes < 1024 {
        issue(
            "services.session.config.maxMessageBytes".into(),
            "must be at least 1024 bytes".into(),
        );
    }
    if session.outbound_queue == 0 {
        issue(
            "services.session.config.outboundQueue".into(),
            "must be at least 1".into(),
        );
    }
    if session.ping_interval.0 < 100 {
        issue(
            "services.session.config.pingInterval".into(),
            "must be at least 100 ms".into(),
        );
    }
    for (key, value, least) in [
        ("outboundQueueBytes", session.outbound_queue_bytes, 1024),
        ("maxConnections", session.max_connections.unwrap_or(1), 1),
        ("maxPathBytes", session.max_path_bytes, 16),
        ("maxPathSegments", session.max_path_segments, 4),
    ] {
        if value < least {
            issue(
                format!("services.session.config.{key}"),
                format!("must be at least {least}"),
            );
        }
    }
    for (key, value) in [
        ("httpIdleTimeout", session.http_idle_timeout),
        ("loginTimeout", session.login_timeout),
    ] {
        if value.0 < 100 {
            issue(
                format!("services.session.config.{key}"),
                "must be at least 100 ms".into(),
            );
        }
    }

    if config
        .services
        .publisher
        .config
        .publication_options
        .acknowledge_timeout
        .0
        < 100
    {
        issue(
            "services.publisher.config.publicationOptions.acknowledgeTimeout".into(),
            "must be at least 100 ms".into(),
        );
    }

    let proxy = &config.services.proxy.config;
    if proxy.key_path.is_some() != proxy.cert_path.is_some() {
        issue(
            "services.proxy.config".into(),
            "keyPath and certPath must be given together".into(),
        );
    }
    if proxy.port != 0 && proxy.port == config.port {
        issue(
            "services.proxy.config.port".into(),
            format!(
                "{} is also the node's internal port; use two different ports",
                proxy.port
            ),
        );
    }

    let plugins = registry::datastores();
    let known: Vec<&str> = plugins.iter().map(|p| p.name).collect();
    let stores = &config.services.data.config.datastores;
    let mut names = BTreeSet::new();
    let mut defaults = 0;
    for (i, store) in stores.iter().enumerate() {
        let key = format!("{DATA}[{i}]");
        if store.name.is_empty() {
            issue(format!("{key}.name"), "every datastore needs a name".into());
        } else if !names.insert(store.name.as_str()) {
            issue(
                format!("{key}.name"),
                format!("duplicate datastore name {:?}", store.name),
            );
        }
        let provider = store.provider.as_deref().unwrap_or("mongo");
        if registry::find(&plugins, provider).is_none() {
            issue(
                format!("{key}.provider"),
                format!(
                    "unknown provider {provider:?}; registered providers: {}",
                    known.join(", ")
                ),
            );
        }
        if !(store.settings.is_object() || store.settings.is_null()) {
            issue(format!("{key}.settings"), "must be an object".into());
        }
        for (j, pattern) in store.patterns.iter().enumerate() {
            if pattern.is_empty() {
                issue(format!("{key}.patterns[{j}]"), "must not be empty".into());
            }
        }
        if store.is_default {
            defaults += 1;
        }
    }
    if defaults > 1 {
        issue(
            DATA.into(),
            format!("{defaults} datastores have isDefault: true; at most one may"),
        );
    }

    if issues.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(issues))
    }
}
