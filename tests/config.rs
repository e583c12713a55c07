//! Config loading, defaults and validation.

use happn_cluster::config::{
    Config, ConfigError, EXAMPLE_TOML, Millis, default_node_name, validate,
};

fn issues(config: &Config) -> Vec<String> {
    match validate(&config.effective()) {
        Ok(()) => Vec::new(),
        Err(ConfigError::Invalid(issues)) => issues.iter().map(|i| i.to_string()).collect(),
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn json(text: &str) -> Config {
    Config::from_json_str(text).expect("parses").config
}

#[test]
fn seed_json_loads_as_is() {
    let loaded = Config::from_file(std::path::Path::new("tests/fixtures/seed.json")).unwrap();
    assert!(loaded.ignored_keys.is_empty(), "{:?}", loaded.ignored_keys);
    let c = loaded.config;
    assert_eq!(c.name.as_deref(), Some("seed-node-1"));
    assert_eq!(c.port, 57001);
    assert!(c.secure);
    assert_eq!(c.announce_host.as_deref(), Some("node1.example.com"));
    assert_eq!(c.services.security.config.admin_user.password, "secret");
    let o = &c.services.orchestrator.config;
    assert_eq!(
        o.timing.keep_alive_threshold,
        Millis(6000),
        "README spelling keepaliveThreshold"
    );
    assert_eq!(o.timing.stabilise_timeout, Some(Millis(15000)));
    assert_eq!(o.replicate, vec!["*", "/my/*/*"]);
    assert_eq!(c.services.proxy.config.port, 55001);
    assert_eq!(c.services.data.config.datastores.len(), 2);
    assert_eq!(
        c.services.data.config.datastores[0].patterns,
        vec!["/cache/*"]
    );
    let effective = c.effective();
    assert_eq!(
        effective
            .services
            .orchestrator
            .config
            .cluster
            .get("happn-cluster-node"),
        Some(&2),
        "cluster wins over the deprecated minimumPeers"
    );
    validate(&effective).unwrap();
}

#[test]
fn defaults_are_the_seeds() {
    let c = Config::default();
    assert_eq!(c.port, 57000);
    assert_eq!(c.host, "0.0.0.0");
    assert!(!c.secure);
    assert_eq!(c.services.proxy.config.port, 55000);
    assert_eq!(c.services.proxy.config.timeout, Millis(1_200_000));
    let o = &c.services.orchestrator.config;
    assert_eq!(o.cluster_name, "happn-cluster");
    assert_eq!(o.service_name, "happn-cluster-node");
    assert_eq!(o.deployment, "Test-Deploy");
    assert_eq!(o.replicate, vec!["*"]);
    assert_eq!(o.timing.keep_alive_threshold, Millis(6000));
    assert_eq!(o.timing.keep_alive, Millis(5000));
    assert_eq!(o.timing.member_refresh, Millis(5000));
    assert_eq!(o.timing.health_report, Millis(10000));
    assert_eq!(o.timing.stabilise_timeout, None);
    assert_eq!(
        c.services
            .replicator
            .config
            .security_changeset_replicate_interval,
        Millis(3000)
    );
    assert_eq!(c.services.security.config.admin_user.username, "_ADMIN");
    assert_eq!(c.services.security.config.admin_user.password, "happn");
    let e = c.effective();
    assert_eq!(
        e.services
            .orchestrator
            .config
            .cluster
            .get("happn-cluster-node"),
        Some(&1)
    );
    let stores = &e.services.data.config.datastores;
    assert_eq!(stores.len(), 1);
    assert!(stores[0].is_default);
    validate(&e).unwrap();
}

#[test]
fn deprecated_minimum_peers_folds_into_cluster() {
    for key in ["minimumPeers", "minimumePeers"] {
        let c = json(&format!(
            r#"{{"services":{{"orchestrator":{{"config":{{"serviceName":"svc","{key}":3}}}}}}}}"#
        ));
        let e = c.effective();
        assert_eq!(
            e.services.orchestrator.config.cluster.get("svc"),
            Some(&3),
            "{key}"
        );
        assert_eq!(e.services.orchestrator.config.minimum_peers, None);
    }
}

#[test]
fn toml_loads_and_the_example_is_the_default() {
    let loaded = Config::from_toml_str(EXAMPLE_TOML).unwrap();
    assert!(loaded.ignored_keys.is_empty(), "{:?}", loaded.ignored_keys);
    let mut expected = Config::default();
    expected
        .services
        .orchestrator
        .config
        .cluster
        .insert("happn-cluster-node".into(), 1);
    assert_eq!(loaded.config, expected);
    let c = Config::from_toml_str("port = 1234\n[services.proxy.config]\nport = 4321\n")
        .unwrap()
        .config;
    assert_eq!((c.port, c.services.proxy.config.port), (1234, 4321));
}

#[test]
fn unknown_keys_are_reported_not_fatal() {
    let loaded =
        Config::from_json_str(r#"{"prot": 1, "services": {"proxy": {"config": {"prot": 2}}}}"#)
            .unwrap();
    assert_eq!(
        loaded.ignored_keys,
        vec!["prot", "services.proxy.config.prot"]
    );
}

#[test]
fn type_errors_name_the_key() {
    let err = Config::from_json_str(r#"{"port": "many"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("port") || err.contains("invalid type"),
        "{err}"
    );
    let err = Config::from_json_str(r#"{"port": 70000}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("70000"), "{err}");
    let err = Config::from_json_str(
        r#"{"services":{"orchestrator":{"config":{"timing":{"keepAlive":-5}}}}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("negative"), "{err}");
    assert!(Config::from_json_str("{ not json").is_err());
}

#[test]
fn mongo_env_overrides_fill_mongo_settings() {
    let mut c = json(
        r#"{"services":{"data":{"config":{"datastores":[
            {"name":"a","provider":"happn-db-provider-mongo","settings":{"database":"mine"}},
            {"name":"b","provider":"memory"}]}}}}"#,
    );
    c.apply_env(|k| match k {
        "MONGO_URL" => Some("mongodb://db:27017".into()),
        "MONGO_DATABASE" => Some("envdb".into()),
        "MONGO_COLLECTION" => Some("envcoll".into()),
        _ => None,
    });
    let stores = &c.services.data.config.datastores;
    assert_eq!(stores[0].settings["url"], "mongodb://db:27017");
    assert_eq!(
        stores[0].settings["database"], "mine",
        "explicit config wins"
    );
    assert_eq!(stores[0].settings["collection"], "envcoll");
    assert!(
        stores[1].settings.get("url").is_none(),
        "non-mongo stores untouched"
    );
}

#[test]
fn provider_alias_and_default_provider() {
    let c = json(
        r#"{"services":{"data":{"config":{"datastores":[{"name":"a","settings":{}},{"name":"b","provider":"happn-db-provider-mongo"}]}}}}"#,
    );
    let e = c.effective();
    let stores = &e.services.data.config.datastores;
    assert_eq!(
        stores[0].provider.as_deref(),
        Some("mongo"),
        "no provider means mongo"
    );
    assert_eq!(stores[0].settings["url"], "mongodb://127.0.0.1:27017");
    assert_eq!(stores[0].settings["database"], "happn-cluster");
    assert_eq!(stores[0].settings["collection"], "happn-cluster");
    assert!(
        stores[0].is_default,
        "first store is the default when none is marked"
    );
}

#[test]
fn node_name_defaults_from_host_and_port() {
    assert_eq!(default_node_name("10.0.0.1", 57000), "10-0-0-1_57000");
    let c = json(r#"{"host": "10.0.0.1"}"#).effective();
    assert_eq!(c.name.as_deref(), Some("10-0-0-1_57000"));
    let any = default_node_name("0.0.0.0", 57000);
    assert!(
        any.ends_with("_57000") && !any.starts_with("0-0-0-0"),
        "{any}"
    );
    assert_ne!(
        default_node_name("127.0.0.1", 0),
        default_node_name("127.0.0.1", 0)
    );
}

/// Each validation rule, exercised once, must name its key.
#[test]
fn every_validation_error_names_its_key() {
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"name": "bad name!"}"#, "name:", "letters"),
        (r#"{"host": " "}"#, "host:", "empty"),
        (
            r#"{"services":{"transport":{"config":{"plugin":"carrier-pigeon"}}}}"#,
            "services.transport.config.plugin",
            "registered: websocket",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"clusterName":"my cluster"}}}}"#,
            "services.orchestrator.config.clusterName",
            "letters",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"serviceName":"a/b","cluster":{"a/b":1}}}}}"#,
            "services.orchestrator.config.serviceName",
            "letters",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"deployment":""}}}}"#,
            "services.orchestrator.config.deployment",
            "letters",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"replicate":["*","/my*"]}}}}"#,
            "services.orchestrator.config.replicate[1]",
            "partial wildcard",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"replicate":["/a/**/b"]}}}}"#,
            "services.orchestrator.config.replicate[0]",
            "last segment",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"cluster":{"other":1}}}}}"#,
            "services.orchestrator.config.cluster",
            "must include",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"cluster":{"happn-cluster-node":0}}}}}"#,
            "services.orchestrator.config.cluster.happn-cluster-node",
            "at least 1",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"timing":{"keepAlive":7000}}}}}"#,
            "services.orchestrator.config.timing.keepAliveThreshold",
            "longer than keepAlive",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"timing":{"memberRefresh":0}}}}}"#,
            "services.orchestrator.config.timing.memberRefresh",
            "greater than 0",
        ),
        (
            r#"{"services":{"orchestrator":{"config":{"timing":{"stabiliseTimeout":0}}}}}"#,
            "services.orchestrator.config.timing.stabiliseTimeout",
            "greater than 0",
        ),
        (
            r#"{"services":{"replicator":{"config":{"securityChangesetReplicateInterval":0}}}}"#,
            "services.replicator.config.securityChangesetReplicateInterval",
            "greater than 0",
        ),
        (
            r#"{"services":{"security":{"config":{"adminUser":{"username":"root"}}}}}"#,
            "services.security.config.adminUser.username",
            "_ADMIN",
        ),
        (
            r#"{"services":{"security":{"config":{"adminUser":{"password":""}}}}}"#,
            "services.security.config.adminUser.password",
            "empty",
        ),
        (
            r#"{"services":{"session":{"config":{"maxMessageBytes":10}}}}"#,
            "services.session.config.maxMessageBytes",
            "1024",
        ),
        (
            r#"{"services":{"session":{"config":{"outboundQueue":0}}}}"#,
            "services.session.config.outboundQueue",
            "at least 1",
        ),
        (
            r#"{"services":{"session":{"config":{"pingInterval":5}}}}"#,
            "services.session.config.pingInterval",
            "100 ms",
        ),
        (
            r#"{"services":{"session":{"config":{"outboundQueueBytes":10}}}}"#,
            "services.session.config.outboundQueueBytes",
            "at least 1024",
        ),
        (
            r#"{"services":{"session":{"config":{"maxConnections":0}}}}"#,
            "services.session.config.maxConnections",
            "at least 1",
        ),
        (
            r#"{"services":{"session":{"config":{"maxPathBytes":2}}}}"#,
            "services.session.config.maxPathBytes",
            "at least 16",
        ),
        (
            r#"{"services":{"session":{"config":{"maxPathSegments":1}}}}"#,
            "services.session.config.maxPathSegments",
            "at least 4",
        ),
        (
            r#"{"services":{"session":{"config":{"httpIdleTimeout":5}}}}"#,
            "services.session.config.httpIdleTimeout",
            "100 ms",
        ),
        (
            r#"{"services":{"publisher":{"config":{"publicationOptions":{"acknowledgeTimeout":5}}}}}"#,
            "services.publisher.config.publicationOptions.acknowledgeTimeout",
            "100 ms",
        ),
        (
            r#"{"services":{"session":{"config":{"loginTimeout":"1ms"}}}}"#,
            "services.session.config.loginTimeout",
            "100 ms",
        ),
        (
            r#"{"services":{"proxy":{"config":{"keyPath":"k.pem"}}}}"#,
            "services.proxy.config",
            "together",
        ),
        (
            r#"{"port": 55000}"#,
            "services.proxy.config.port",
            "two different ports",
        ),
        (
            r#"{"services":{"data":{"config":{"datastores":[{"name":"a","provider":"cassandra"}]}}}}"#,
            "services.data.config.datastores[0].provider",
            "registered providers: memory",
        ),
        (
            r#"{"services":{"data":{"config":{"datastores":[{"name":"a","provider":"memory"},{"name":"a","provider":"memory"}]}}}}"#,
            "services.data.config.datastores[1].name",
            "duplicate",
        ),
        (
            r#"{"services":{"data":{"config":{"datastores":[{"provider":"memory"}]}}}}"#,
            "services.data.config.datastores[0].name",
            "needs a name",
        ),
        (
            r#"{"services":{"data":{"config":{"datastores":[{"name":"a","provider":"memory","settings":5}]}}}}"#,
            "services.data.config.datastores[0].settings",
            "object",
        ),
        (
            r#"{"services":{"data":{"config":{"datastores":[{"name":"a","provider":"memory","patterns":[""]}]}}}}"#,
            "services.data.config.datastores[0].patterns[0]",
            "empty",
        ),
        (
            r#"{"services":{"data":{"config":{"datastores":[{"name":"a","provider":"memory","isDefault":true},{"name":"b","provider":"memory","isDefault":true}]}}}}"#,
            "services.data.config.datastores",
            "at most one",
        ),
    ];
    for (text, key, words) in cases {
        let found = issues(&json(text));
        assert!(
            found
                .iter()
                .any(|i| i.starts_with(key) && i.contains(words)),
            "config {text}\nexpected an issue on {key} mentioning {words:?}, got {found:#?}"
        );
    }
}

#[test]
fn shipped_example_configs_load_and_validate() {
    for file in [
        "examples/quickstart.toml",
        "examples/seed-cluster.json",
        "examples/cluster-3/node-1.json",
        "examples/cluster-3/node-2.json",
        "examples/cluster-3/node-3.json",
    ] {
        let loaded =
            Config::from_file(std::path::Path::new(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            loaded.ignored_keys.is_empty(),
            "{file}: {:?}",
            loaded.ignored_keys
        );
        validate(&loaded.config.effective()).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn bad_profiles_are_reported_with_their_key() {
    let config = json(
        r#"{"services":{"security":{"config":{"profiles":[
            {"name":"ok","session":{"user.username":{"$eq":"a"}},"policy":{"ttl":"1h"}},
            {"name":"bad","session":{"info.x":{"$frobnicate":1}},"policy":{"sourceIPWhitelist":["10.0.0.300"]}}
        ]}},
        "publisher":{"config":{"publicationOptions":{"transactionalWait":600000}}}}}"#,
    );
    let found = issues(&config);
    assert!(
        found
            .iter()
            .any(|i| i.starts_with("services.security.config.profiles[1].session")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|i| i
            .starts_with("services.security.config.profiles[1].policy.sourceIPWhitelist")
            && i.contains("10.0.0.300")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|i| i.contains("transactionalWait")),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|i| i.contains("profiles[0]")),
        "{found:?}"
    );
}
