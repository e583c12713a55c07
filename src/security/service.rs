//! The security service: its state, how it is built, and its change feed. The operations
//! live beside it: [`bootstrap`](super::bootstrap), [`login`](super::login),
//! [`verify`](super::verify) (tokens), [`users`](super::users) and [`groups`](super::groups)
//! (the directory, each change emitting a [`SecurityEvent`]).

use std::sync::{Arc, Mutex};

use happn_cluster_sdk::{Auth, BuildContext, Error, Result, registry};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::events::SecurityEvent;
use super::lockout::Lockout;
use super::model::USER_PREFIX;
use crate::config::SecurityConfig;
use crate::data::DataService;

/// Largest accepted username, password or token.
pub(super) const MAX_CREDENTIAL_BYTES: usize = 4096;

/// Users, groups, permissions, tokens.
pub struct SecurityService {
    pub(super) data: Arc<DataService>,
    pub(super) config: SecurityConfig,
    pub(super) node_name: String,
    pub(super) auth: Arc<dyn Auth>,
    /// The resolved auth plugin's name (`store` for the built-in one, whatever alias chose it).
    pub(super) auth_name: &'static str,
    /// Bounds concurrent password verifications (each is a CPU-heavy PBKDF2 run).
    pub(super) verifications: Arc<tokio::sync::Semaphore>,
    pub(super) secret: Mutex<Vec<u8>>,
    pub(super) lockout: Arc<Lockout>,
    /// Per-address admission of password logins.
    pub(super) login_queue: Arc<super::login_queue::LoginQueue>,
    /// Session profiles, configured then happn-3's defaults.
    pub(super) profiles: super::profiles::Profiles,
    /// This user directory's id, read or created at bootstrap.
    pub(super) directory_id: Mutex<String>,
    /// Permission sets of users acted for with `onBehalfOf`.
    pub(super) delegations: super::delegation::DelegationCache,
    /// Every change, made here or applied from another node.
    events: broadcast::Sender<SecurityEvent>,
    /// Changes made through this service only (what the cluster replicates).
    local_events: broadcast::Sender<SecurityEvent>,
}

impl std::fmt::Debug for SecurityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityService")
            .field("node", &self.node_name)
            .field("auth", &self.config.auth.plugin)
            .finish()
    }
}

pub(super) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

pub(super) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl SecurityService {
    /// Builds the service over `data` with the configured auth plugin, then bootstraps: the
    /// token secret, the `_ADMIN` user and group, and the declared groups and users.
    pub async fn start(
        data: Arc<DataService>,
        config: SecurityConfig,
        node_name: &str,
    ) -> Result<Arc<Self>> {
        let plugins = registry::auths();
        let plugin = registry::find(&plugins, &config.auth.plugin).ok_or_else(|| {
            Error::bad_input(format!("unknown auth plugin {}", config.auth.plugin))
        })?;
        // The built-in store hashes unknown users' guesses at the configured cost, so the
        // time a refusal takes does not tell which users exist.
        let settings = if plugin.name == "store" && config.auth.settings.is_null() {
            json!({"pbkdf2Iterations": config.pbkdf2_iterations})
        } else {
            config.auth.settings.clone()
        };
        let auth = (plugin.build)(BuildContext {
            settings,
            datastore: Some(data.route(USER_PREFIX).clone()),
        })
        .await?;
        let (events, _) = broadcast::channel(1024);
        let (local_events, _) = broadcast::channel(1024);
        let lockout = Lockout::new(config.account_lockout.clone());
        let verifications = std::thread::available_parallelism()
            .map(|n| n.get() * 2)
            .unwrap_or(4);
        let login_queue = super::login_queue::LoginQueue::new(super::login_queue::QueueBounds {
            // One address may use half the verification slots: the rest stay for others.
            verifying_per_address: (verifications / 2).max(1),
            pending_per_address: config.account_lockout.logins_pending_per_address.max(1) as usize,
            wait: config.account_lockout.login_queue_timeout.duration(),
        });
        let profiles = super::profiles::Profiles::new(&config.profiles)?;
        let service = Arc::new(SecurityService {
            data,
            config,
            node_name: node_name.to_string(),
            auth,
            auth_name: plugin.name,
            verifications: Arc::new(tokio::sync::Semaphore::new(verifications)),
            secret: Mutex::new(Vec::new()),
            login_queue,
            profiles,
            directory_id: Mutex::new(String::new()),
            delegations: Default::default(),
            lockout,
            events,
            local_events,
        });
        service.bootstrap().await?;
        Ok(service)
    }

    /// True when users are verified by the built-in `store` plugin.
    pub fn uses_store(&self) -> bool {
        self.auth_name == "store"
    }

    /// Receives every security change: made here, or applied from another node.
    pub fn subscribe_events(&self) -> broadcast::Receiver<SecurityEvent> {
        self.events.subscribe()
    }

    /// Receives only the changes made through this service (not those applied from other
    /// nodes), for replication.
    pub fn subscribe_local_events(&self) -> broadcast::Receiver<SecurityEvent> {
        self.local_events.subscribe()
    }

    /// Applies a change made on another node: live sessions here react to it as to a local
    /// one; it is not replicated again. (The directory itself is in the shared database.)
    pub fn apply_remote(&self, event: SecurityEvent) {
        self.delegations.clear();
        let _ = self.events.send(event);
    }

    pub(super) fn emit(&self, event: SecurityEvent) {
        self.delegations.clear();
        let _ = self.local_events.send(event.clone());
        let _ = self.events.send(event);
    }

    /// The name a username is stored and looked up under: lower case with
    /// `usernamesCaseInsensitive` (`_ADMIN`, `_ANONYMOUS` and the excluded names as
    /// written).
    pub fn canonical_username(&self, username: &str) -> String {
        let config = &self.config;
        if config.usernames_case_insensitive
            && username != super::model::ADMIN
            && username != super::model::ANONYMOUS
            && !config
                .usernames_case_insensitive_exclude
                .iter()
                .any(|kept| kept == username)
        {
            username.to_lowercase()
        } else {
            username.to_string()
        }
    }

    /// This user directory's id.
    pub(super) fn directory_id(&self) -> String {
        self.directory_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn secret(&self) -> Vec<u8> {
        self.secret
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
