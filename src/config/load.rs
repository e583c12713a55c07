//! Reading a config from text or a file, environment overrides, and resolving defaults.

use std::path::Path;

use serde_json::{Map, Value};

use super::ConfigError;
use super::model::{Config, DatastoreConfig};

/// A parsed config plus the keys that were present but not understood.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Dotted paths of keys that were ignored (typos, or happn options this server lacks).
    pub ignored_keys: Vec<String>,
}

/// The seed's default MongoDB settings.
pub const MONGO_DEFAULT_URL: &str = "mongodb://127.0.0.1:27017";
/// The seed's default MongoDB database and collection name.
pub const MONGO_DEFAULT_NAME: &str = "happn-cluster";

impl Config {
    /// Parses JSON text in the seed's shape.
    pub fn from_json_str(text: &str) -> Result<Loaded, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let mut ignored = Vec::new();
        let config = serde_ignored::deserialize(&mut de, |path| ignored.push(path.to_string()))
            .map_err(|e| parse_error("", e))?;
        de.end().map_err(|e| parse_error("", e))?;
        Ok(Loaded {
            config,
            ignored_keys: ignored,
        })
    }

    /// Parses TOML text with the same keys.
    pub fn from_toml_str(text: &str) -> Result<Loaded, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| parse_error("", e))?;
        let mut ignored = Vec::new();
        let config = serde_ignored::deserialize(de, |path| ignored.push(path.to_string()))
            .map_err(|e| parse_error("", e))?;
        Ok(Loaded {
            config,
            ignored_keys: ignored,
        })
    }

    /// Reads a `.json` or `.toml` file (other extensions: JSON is tried, then TOML).
    pub fn from_file(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let origin = format!(" file {}", path.display());
        let with_origin = |e: ConfigError| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                origin: origin.clone(),
                message,
            },
            other => other,
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Self::from_toml_str(&text).map_err(with_origin),
            Some("json") => Self::from_json_str(&text).map_err(with_origin),
            _ => Self::from_json_str(&text)
                .or_else(|_| Self::from_toml_str(&text))
                .map_err(with_origin),
        }
    }

    /// Applies `MONGO_URL`, `MONGO_DATABASE` and `MONGO_COLLECTION` (read through `env`) to
    /// every mongo datastore whose settings do not set that key themselves, and
    /// `HAPPN_CLUSTER_SECRET` as the cluster secret (so it need not sit in a file).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        if let Some(secret) = env("HAPPN_CLUSTER_SECRET").filter(|s| !s.is_empty()) {
            self.services.orchestrator.config.cluster_secret = Some(secret);
        }
        let overrides = [
            ("url", env("MONGO_URL")),
            ("database", env("MONGO_DATABASE")),
            ("collection", env("MONGO_COLLECTION")),
        ];
        for store in &mut self.services.data.config.datastores {
            if !is_mongo(store) {
                continue;
            }
            let settings = settings_object(&mut store.settings);
            for (key, value) in &overrides {
                if let Some(value) = value
                    && !settings.contains_key(*key)
                {
                    settings.insert((*key).into(), Value::String(value.clone()));
                }
            }
        }
        self.env_mongo = overrides
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| ((*k).to_string(), v)))
            .collect();
    }

    /// Resolves every default the seed derives at start-up: the node name, `cluster` from the
    /// deprecated `minimumPeers`, `timing.stabiliseTimeout` from the top-level key, and the
    /// default datastore (`mongo` when that provider is linked, else the embedded `memory`).
    pub fn effective(&self) -> Config {
        let mut config = self.clone();
        if config.disable_default_admin_network_connections {
            config
                .services
                .security
                .config
                .disable_default_admin_network_connections = true;
        }
        config.disable_default_admin_network_connections = false;
        let orchestrator = &mut config.services.orchestrator.config;
        if orchestrator.cluster.is_empty() {
            let minimum = orchestrator.minimum_peers.unwrap_or(1);
            orchestrator
                .cluster
                .insert(orchestrator.service_name.clone(), minimum);
        }
        orchestrator.minimum_peers = None;
        if orchestrator.timing.stabilise_timeout.is_none() {
            orchestrator.timing.stabilise_timeout = orchestrator.stabilise_timeout;
        }
        orchestrator.stabilise_timeout = None;

        let stores = &mut config.services.data.config.datastores;
        if stores.is_empty() {
            stores.push(default_datastore(&self.env_mongo));
        }
        for store in stores.iter_mut() {
            if store.provider.is_none() {
                store.provider = Some("mongo".into());
            }
            if is_mongo(store) {
                let settings = settings_object(&mut store.settings);
                for (key, default) in [
                    ("url", MONGO_DEFAULT_URL),
                    ("database", MONGO_DEFAULT_NAME),
                    ("collection", MONGO_DEFAULT_NAME),
                ] {
                    settings
                        .entry(key)
                        .or_insert_with(|| Value::String(default.into()));
                }
            }
        }
        if !stores.iter().any(|s| s.is_default)
            && let Some(first) = stores.first_mut()
        {
            first.is_default = true;
        }
        if config.name.is_none() {
            config.name = Some(default_node_name(&config.host, config.port));
        }
        config
    }
}

fn default_datastore(env_mongo: &[(String, String)]) -> DatastoreConfig {
    let mongo_linked =
        happn_cluster_sdk::registry::find(&happn_cluster_sdk::registry::datastores(), "mongo")
            .is_some();
    if mongo_linked {
        let mut settings = Map::new();
        for (k, v) in env_mongo {
            settings.insert(k.clone(), Value::String(v.clone()));
        }
        DatastoreConfig {
            name: "mongo".into(),
            provider: Some("mongo".into()),
            settings: Value::Object(settings),
            patterns: Vec::new(),
            is_default: true,
            ..DatastoreConfig::default()
        }
    } else {
        tracing::warn!(
            "no datastore configured and the mongo provider is not linked: using the embedded memory store (data is lost on restart)"
        );
        DatastoreConfig {
            name: "memory".into(),
            provider: Some("memory".into()),
            settings: Value::Object(Map::new()),
            patterns: Vec::new(),
            is_default: true,
            ..DatastoreConfig::default()
        }
    }
}

fn is_mongo(store: &DatastoreConfig) -> bool {
    matches!(
        store.provider.as_deref(),
        None | Some("mongo") | Some("happn-db-provider-mongo")
    )
}

fn settings_object(settings: &mut Value) -> &mut Map<String, Value> {
    if !settings.is_object() {
        *settings = Value::Object(Map::new());
    }
    match settings {
        Value::Object(map) => map,
        _ => unreachable!("settings was just made an object"),
    }
}

fn parse_error(origin: &str, error: impl std::fmt::Display) -> ConfigError {
    ConfigError::Parse {
        origin: origin.to_string(),
        message: error.to_string(),
    }
}

/// The seed's default node name: the host with `.` replaced by `-`, then `_<port>`
/// (`10-0-0-1_57000`). Host `0.0.0.0` uses the first non-loopback IPv4 address; port 0 (an
/// ephemeral port) gets a random suffix so that several such nodes stay distinct.
pub fn default_node_name(host: &str, port: u16) -> String {
    let host = advertised_host(host);
    let base = host.replace(['.', ':'], "-");
    if port == 0 {
        format!("{base}_0-{:08x}", rand_u32())
    } else {
        format!("{base}_{port}")
    }
}

/// The host peers should dial for a node listening on `host`: the host itself, or for
/// `0.0.0.0` the first non-loopback IPv4 address (loopback when there is none).
pub fn advertised_host(host: &str) -> String {
    if host == "0.0.0.0" || host.is_empty() {
        first_public_ipv4().unwrap_or_else(|| "127.0.0.1".into())
    } else {
        host.to_string()
    }
}

fn first_public_ipv4() -> Option<String> {
    let mut addresses: Vec<_> = if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_link_local() => Some((i.name.clone(), v4)),
            _ => None,
        })
        .collect();
    addresses.sort();
    addresses.first().map(|(_, ip)| ip.to_string())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish() as u32
}
