//! The security service: bootstrap, logins and tokens, lockout, revocation, authorization
//! data, and the admin operations (each emitting a [`SecurityEvent`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use happn_cluster_sdk::{
    Auth, BuildContext, Credentials, Error, FindOptions, Identity, PathQuery, Result, now_millis,
    registry,
};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::events::SecurityEvent;
use super::hash::hash_password;
use super::lockout::{Lockout, Outcome};
use super::model::*;
use super::permissions::PermissionSet;
use super::store_auth::load_user;
use super::token::{self, Claims, TokenError};
use crate::config::{PermissionConfig, SecurityConfig};
use crate::data::DataService;

/// Largest accepted username, password or token.
const MAX_CREDENTIAL_BYTES: usize = 4096;

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// Who logged in.
    pub identity: Identity,
    /// What they may do.
    pub permissions: Arc<PermissionSet>,
    /// Their session token.
    pub token: String,
    /// The token's claims.
    pub claims: Claims,
}

/// Users, groups, permissions, tokens.
pub struct SecurityService {
    data: Arc<DataService>,
    config: SecurityConfig,
    node_name: String,
    auth: Arc<dyn Auth>,
    /// The resolved auth plugin's name (`store` for the built-in one, whatever alias chose it).
    auth_name: &'static str,
    /// Bounds concurrent password verifications (each is a CPU-heavy PBKDF2 run).
    verifications: Arc<tokio::sync::Semaphore>,
    secret: Mutex<Vec<u8>>,
    lockout: Arc<Lockout>,
    events: broadcast::Sender<SecurityEvent>,
}

impl std::fmt::Debug for SecurityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityService")
            .field("node", &self.node_name)
            .field("auth", &self.config.auth.plugin)
            .finish()
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

fn object(value: Value) -> Map<String, Value> {
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
        let lockout = Lockout::new(config.account_lockout.clone());
        let service = Arc::new(SecurityService {
            data,
            config,
            node_name: node_name.to_string(),
            auth,
            auth_name: plugin.name,
            verifications: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism()
                    .map(|n| n.get() * 2)
                    .unwrap_or(4),
            )),
            secret: Mutex::new(Vec::new()),
            lockout,
            events,
        });
        service.bootstrap().await?;
        Ok(service)
    }

    /// True when users are verified by the built-in `store` plugin.
    pub fn uses_store(&self) -> bool {
        self.auth_name == "store"
    }

    /// Receives every security change made through this service.
    pub fn subscribe_events(&self) -> broadcast::Receiver<SecurityEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: SecurityEvent) {
        let _ = self.events.send(event);
    }

    fn secret(&self) -> Vec<u8> {
        self.secret
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn bootstrap(&self) -> Result<()> {
        let secret = match &self.config.session_token_secret {
            Some(secret) => {
                if secret.len() < 16 {
                    tracing::warn!(
                        length = secret.len(),
                        "sessionTokenSecret is shorter than 16 characters: tokens signed with a short secret can be forged by guessing it; use 32+ random characters, or omit it to have one generated and shared through the database"
                    );
                }
                secret.clone()
            }
            None => {
                // Every node races to create it; all end up with the one that was stored.
                let mut data = Map::new();
                data.insert("secret".into(), random_hex(32)?.into());
                let record = self.data.create_if_absent(SECRET_PATH, data).await?;
                record
                    .data
                    .get("secret")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::internal("stored session token secret is malformed"))?
                    .to_string()
            }
        };
        *self.secret.lock().unwrap_or_else(|p| p.into_inner()) = secret.into_bytes();

        // The admin group and user: created once, never altered by later config changes.
        self.data
            .create_if_absent(
                &group_path(ADMIN),
                object(json!({"name": ADMIN, "custom_data": {}})),
            )
            .await?;
        self.data
            .create_if_absent(
                &permission_path(ADMIN, "*", "*"),
                object(json!({"action": "*", "authorized": true, "path": "*"})),
            )
            .await?;
        // Hashing is deliberately slow: only pay for it when the admin does not exist yet.
        let admin_exists = self
            .data
            .route(USER_PREFIX)
            .find_one(&user_path(ADMIN))
            .await?
            .is_some();
        if !admin_exists {
            let hash = self.hash(&self.config.admin_user.password).await?;
            self.data
                .create_if_absent(
                    &user_path(ADMIN),
                    object(json!({"username": ADMIN, "password": hash, "custom_data": {}, "userid": random_hex(16)?})),
                )
                .await?;
        }
        self.data
            .create_if_absent(&membership_path(ADMIN, ADMIN), Map::new())
            .await?;

        for group in self.config.groups.clone() {
            self.upsert_group(&group.name, group.custom_data.clone(), &group.permissions)
                .await?;
        }
        for user in self.config.users.clone() {
            self.upsert_user(
                &user.username,
                Some(&user.password),
                user.custom_data.clone(),
            )
            .await?;
            for group in &user.groups {
                self.link_group(&user.username, group).await?;
            }
        }
        Ok(())
    }

    async fn hash(&self, password: &str) -> Result<String> {
        let (password, iterations) = (password.to_string(), self.config.pbkdf2_iterations);
        tokio::task::spawn_blocking(move || hash_password(&password, iterations))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
    }

    // ---- logins -------------------------------------------------------------------------

    /// Verifies a password under the lockout rules. The verification runs to its end in its
    /// own task, holding its turn and a verification permit, so a client that hangs up
    /// mid-way neither skips the count nor frees CPU for the next guess early.
    async fn verify_password(
        &self,
        username: String,
        password: String,
        remote: Option<std::net::IpAddr>,
    ) -> Result<Identity> {
        let attempt = self.lockout.begin(&username, remote).await?;
        let auth = self.auth.clone();
        let verifications = self.verifications.clone();
        let verification = tokio::spawn(async move {
            let Ok(_permit) = verifications.acquire_owned().await else {
                return Err(Error::unavailable("security service stopping"));
            };
            let verified = auth
                .verify(&Credentials::Password {
                    username: username.clone(),
                    password,
                })
                .await;
            let outcome = match &verified {
                Ok(_) => Outcome::Success,
                Err(Error::Unauthorized(_)) => Outcome::Failure {
                    account: auth.account_exists(&username).await.ok().flatten(),
                },
                Err(_) => Outcome::NotCounted,
            };
            attempt.finish(outcome);
            verified
        });
        match verification.await {
            Ok(Ok(identity)) => Ok(identity),
            Ok(Err(Error::Unauthorized(_))) => {
                Err(Error::Unauthorized("Invalid credentials".into()))
            }
            Ok(Err(other)) => Err(other),
            Err(e) => Err(Error::internal(format!(
                "password verification failed: {e}"
            ))),
        }
    }

    /// With `disableDefaultAdminNetworkConnections`, `_ADMIN` may not log in over the network
    /// (every login through a socket is one); happn-3's error text.
    fn refuse_network_admin(&self, username: &str) -> Result<()> {
        if self.config.disable_default_admin_network_connections && username == ADMIN {
            return Err(Error::Forbidden(
                "use of _ADMIN credentials over the network is disabled".into(),
            ));
        }
        Ok(())
    }

    /// Failed-login bookkeeping: (accounts, unknown names, addresses) with failures on record.
    pub fn lockout_tracked(&self) -> (usize, usize, usize) {
        self.lockout.tracked()
    }

    /// Logs in with credentials (password, token or anonymous) for session `session_id`,
    /// connected from `remote`.
    pub async fn login(
        &self,
        credentials: Credentials,
        session_id: &str,
        remote: Option<std::net::IpAddr>,
    ) -> Result<LoginOutcome> {
        match credentials {
            Credentials::Anonymous => {
                Err(Error::Unauthorized("Anonymous access is disabled".into()))
            }
            Credentials::Token(token) => {
                let outcome = self.login_with_token(&token).await?;
                self.refuse_network_admin(&outcome.identity.username)?;
                Ok(outcome)
            }
            Credentials::Password { username, password } => {
                self.refuse_network_admin(&username)?;
                if username.is_empty() || password.is_empty() {
                    return Err(Error::Unauthorized("Invalid credentials".into()));
                }
                if username.len() > MAX_CREDENTIAL_BYTES || password.len() > MAX_CREDENTIAL_BYTES {
                    return Err(Error::bad_input("credentials are too long"));
                }
                // A name that cannot be a user (e.g. one reaching into membership records)
                // is simply wrong credentials.
                if validate_name(&username, "user").is_err() {
                    return Err(Error::Unauthorized("Invalid credentials".into()));
                }
                let mut identity = self.verify_password(username, password, remote).await?;
                if !self.uses_store() {
                    // Group names from a third-party plugin become paths: keep only valid ones.
                    identity
                        .groups
                        .retain(|g| validate_name(g, "group").is_ok());
                }
                let permissions = Arc::new(self.permissions_for_groups(&identity.groups).await?);
                let now = now_millis();
                let claims = Claims {
                    username: identity.username.clone(),
                    sid: session_id.to_string(),
                    iat: now,
                    exp: self.config.session_ttl.map(|ttl| now + ttl.0 as i64),
                    groups: identity.groups.clone(),
                    origin: self.node_name.clone(),
                    kind: 1,
                    src: self.auth_name.to_string(),
                    uid: identity.user_id.clone(),
                };
                let token = token::sign(&claims, &self.secret());
                Ok(LoginOutcome {
                    identity,
                    permissions,
                    token,
                    claims,
                })
            }
        }
    }

    async fn login_with_token(&self, token: &str) -> Result<LoginOutcome> {
        let (claims, identity) = self.verify_token(token).await?;
        let permissions = Arc::new(self.permissions_for_groups(&identity.groups).await?);
        Ok(LoginOutcome {
            identity,
            permissions,
            token: token.to_string(),
            claims,
        })
    }

    /// Verifies a token (signature, expiry, revocation, user still present) and returns its
    /// claims and the user's current identity.
    pub async fn verify_token(&self, token: &str) -> Result<(Claims, Identity)> {
        if token.is_empty() || token.len() > MAX_CREDENTIAL_BYTES * 4 {
            return Err(Error::Unauthorized(
                "invalid token format or null token".into(),
            ));
        }
        let claims = token::verify(token, &self.secret(), now_millis()).map_err(|e| match e {
            TokenError::Expired => Error::Unauthorized("expired session token".into()),
            // happn-3's text for any token it cannot decode or verify.
            _ => Error::Unauthorized("Invalid credentials: invalid session token".into()),
        })?;
        if self.is_revoked(&claims.sid).await? {
            return Err(Error::Forbidden("token has been revoked".into()));
        }
        let identity = if claims.src == "store" {
            // Stored users: the user must still exist, be the same user (not a re-created
            // namesake), and gets its current groups.
            let store = self.data.route(USER_PREFIX).clone();
            match load_user(store.as_ref(), &claims.username).await? {
                Some((user, groups)) if claims.uid.as_deref() == Some(user.userid.as_str()) => {
                    Identity {
                        username: user.username,
                        user_id: Some(user.userid),
                        groups,
                        custom_data: user.custom_data,
                    }
                }
                // The user is gone or is a re-created namesake: happn-3's text.
                _ => return Err(Error::Unauthorized("Invalid credentials".into())),
            }
        } else if claims.src == self.auth_name {
            // Users verified by a third-party plugin keep the groups asserted at login.
            Identity {
                username: claims.username.clone(),
                user_id: claims.uid.clone(),
                groups: claims
                    .groups
                    .iter()
                    .filter(|g| validate_name(g, "group").is_ok())
                    .cloned()
                    .collect(),
                custom_data: Value::Null,
            }
        } else {
            // Issued by another authentication source.
            return Err(Error::Unauthorized(
                "Invalid credentials: invalid session token".into(),
            ));
        };
        Ok((claims, identity))
    }

    /// Revokes a token: it can no longer log in, and sessions created from it should end
    /// (the node does that on the [`SecurityEvent::TokenRevoked`] event).
    pub async fn revoke_token(&self, token: &str) -> Result<Claims> {
        let claims = token::verify(token, &self.secret(), now_millis())
            .or_else(|e| match e {
                // An expired token may still be revoked (harmlessly).
                TokenError::Expired => token_claims_unchecked(token),
                other => Err(other),
            })
            .map_err(|e| Error::Unauthorized(e.to_string()))?;
        let mut data = Map::new();
        data.insert("username".into(), claims.username.clone().into());
        data.insert("revoked".into(), now_millis().into());
        data.insert(
            "expires".into(),
            claims.exp.map(Value::from).unwrap_or(Value::Null),
        );
        self.data
            .set(
                &format!("{REVOKED_PREFIX}{}", claims.sid),
                data,
                false,
                None,
            )
            .await?;
        self.emit(SecurityEvent::TokenRevoked {
            username: claims.username.clone(),
            sid: claims.sid.clone(),
        });
        Ok(claims)
    }

    async fn is_revoked(&self, sid: &str) -> Result<bool> {
        Ok(self
            .data
            .route(REVOKED_PREFIX)
            .find_one(&format!("{REVOKED_PREFIX}{sid}"))
            .await?
            .is_some())
    }

    // ---- authorization data ---------------------------------------------------------------

    /// The permissions of a set of groups (unioned; `_ADMIN` means everything).
    pub async fn permissions_for_groups(&self, groups: &[String]) -> Result<PermissionSet> {
        if groups.iter().any(|g| g == ADMIN) {
            return Ok(PermissionSet::admin());
        }
        let mut set = PermissionSet::default();
        for group in groups {
            for permission in self.list_permissions(group).await? {
                let action = vec![permission.action.clone()];
                if permission.authorized {
                    set.add(&permission.path, &action, &[]);
                } else {
                    set.add(&permission.path, &[], &action);
                }
            }
        }
        Ok(set)
    }

    /// True if the token family `sid` has been revoked.
    pub async fn is_token_family_revoked(&self, sid: &str) -> Result<bool> {
        self.is_revoked(sid).await
    }

    /// The current identity of a stored user (None if the user is gone).
    pub async fn identity(&self, username: &str) -> Result<Option<Identity>> {
        let store = self.data.route(USER_PREFIX).clone();
        Ok(load_user(store.as_ref(), username)
            .await?
            .map(|(user, groups)| Identity {
                username: user.username,
                user_id: Some(user.userid),
                groups,
                custom_data: user.custom_data,
            }))
    }

    // ---- admin: users -------------------------------------------------------------------

    /// Creates or updates a user. `password: None` keeps the existing hash (an error for a new
    /// user).
    pub async fn upsert_user(
        &self,
        username: &str,
        password: Option<&str>,
        custom_data: Value,
    ) -> Result<()> {
        validate_name(username, "user").map_err(Error::BadInput)?;
        let existing = self
            .data
            .route(USER_PREFIX)
            .find_one(&user_path(username))
            .await?;
        let mut data = existing
            .as_ref()
            .map(|r| r.data.clone())
            .unwrap_or_default();
        match password {
            Some(password) if !password.is_empty() && password.len() <= MAX_CREDENTIAL_BYTES => {
                data.insert("password".into(), self.hash(password).await?.into());
            }
            Some(_) => return Err(Error::bad_input("password must be 1 to 4096 bytes")),
            None if existing.is_none() => {
                return Err(Error::bad_input(format!(
                    "new user {username} needs a password"
                )));
            }
            None => {}
        }
        data.insert("username".into(), username.into());
        if !custom_data.is_null() || !data.contains_key("custom_data") {
            data.insert(
                "custom_data".into(),
                if custom_data.is_null() {
                    json!({})
                } else {
                    custom_data
                },
            );
        }
        if !data.contains_key("userid") {
            data.insert("userid".into(), random_hex(16)?.into());
        }
        self.data
            .set(&user_path(username), data, false, None)
            .await?;
        self.emit(SecurityEvent::UpsertUser {
            username: username.to_string(),
        });
        Ok(())
    }

    /// Resets the `_ADMIN` password (instead of hand-editing the database).
    pub async fn reset_admin_password(&self, password: &str) -> Result<()> {
        self.upsert_user(ADMIN, Some(password), Value::Null).await?;
        self.link_group(ADMIN, ADMIN).await
    }

    /// Deletes a user, its memberships and its live sessions (`_ADMIN` cannot be deleted).
    pub async fn delete_user(&self, username: &str) -> Result<bool> {
        if username == ADMIN {
            return Err(Error::Forbidden("the _ADMIN user cannot be deleted".into()));
        }
        validate_name(username, "user").map_err(Error::BadInput)?;
        let removed = self
            .data
            .remove(&PathQuery::Exact(user_path(username)))
            .await?;
        self.data
            .remove(&PathQuery::parse(&format!(
                "{}/_USER_GROUP/*",
                user_path(username)
            )))
            .await?;
        if removed > 0 {
            self.emit(SecurityEvent::DeleteUser {
                username: username.to_string(),
            });
        }
        Ok(removed > 0)
    }

    /// One user, without its hash.
    pub async fn get_user(&self, username: &str) -> Result<Option<UserInfo>> {
        let store = self.data.route(USER_PREFIX).clone();
        Ok(load_user(store.as_ref(), username)
            .await?
            .map(|(user, groups)| UserInfo {
                username: user.username,
                userid: user.userid,
                custom_data: user.custom_data,
                groups,
            }))
    }

    /// Every record whose path starts with `prefix`.
    async fn records_under(&self, prefix: &str) -> Result<Vec<happn_cluster_sdk::Record>> {
        self.data
            .get(
                &PathQuery::parse(&format!("{prefix}*")),
                &FindOptions::default(),
            )
            .await
    }

    /// Records directly under `prefix` (not deeper), with their names.
    async fn children(&self, prefix: &str) -> Result<Vec<(String, happn_cluster_sdk::Record)>> {
        Ok(self
            .records_under(prefix)
            .await?
            .into_iter()
            .filter_map(|record| {
                let name = record.path.strip_prefix(prefix)?.to_string();
                (!name.contains('/')).then_some((name, record))
            })
            .collect())
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>> {
        let mut users = Vec::new();
        for (name, _) in self.children(USER_PREFIX).await? {
            if let Some(user) = self.get_user(&name).await? {
                users.push(user);
            }
        }
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    // ---- admin: groups ------------------------------------------------------------------

    /// Creates or updates a group; `permissions` are added (happn's merge semantics).
    pub async fn upsert_group(
        &self,
        name: &str,
        custom_data: Value,
        permissions: &BTreeMap<String, PermissionConfig>,
    ) -> Result<()> {
        validate_name(name, "group").map_err(Error::BadInput)?;
        let data = object(json!({
            "name": name,
            "custom_data": if custom_data.is_null() { json!({}) } else { custom_data },
        }));
        self.data.set(&group_path(name), data, false, None).await?;
        for (path, permission) in permissions {
            for action in &permission.actions {
                self.write_permission(name, path, action, true).await?;
            }
            for action in &permission.prohibit {
                self.write_permission(name, path, action, false).await?;
            }
        }
        self.emit(SecurityEvent::UpsertGroup {
            group: name.to_string(),
        });
        Ok(())
    }

    async fn write_permission(
        &self,
        group: &str,
        path: &str,
        action: &str,
        authorized: bool,
    ) -> Result<()> {
        if super::permissions::action_bits(action).is_none() {
            return Err(Error::bad_input(format!(
                "unknown action {action:?}; use get, set, on, remove or *"
            )));
        }
        if path.is_empty() {
            return Err(Error::bad_input("permission path must not be empty"));
        }
        let data = object(json!({"action": action, "authorized": authorized, "path": path}));
        self.data
            .set(&permission_path(group, action, path), data, false, None)
            .await?;
        Ok(())
    }

    /// Deletes a group, its permissions and its memberships (`_ADMIN` cannot be deleted).
    pub async fn delete_group(&self, name: &str) -> Result<bool> {
        if name == ADMIN {
            return Err(Error::Forbidden(
                "the _ADMIN group cannot be deleted".into(),
            ));
        }
        validate_name(name, "group").map_err(Error::BadInput)?;
        let removed = self
            .data
            .remove(&PathQuery::Exact(group_path(name)))
            .await?;
        self.data
            .remove(&PathQuery::parse(&format!("{PERMISSION_PREFIX}{name}/*")))
            .await?;
        for user in self.list_users().await? {
            if user.groups.iter().any(|g| g == name) {
                self.data
                    .remove(&PathQuery::Exact(membership_path(&user.username, name)))
                    .await?;
            }
        }
        if removed > 0 {
            self.emit(SecurityEvent::DeleteGroup {
                group: name.to_string(),
            });
        }
        Ok(removed > 0)
    }

    /// Every group with its permissions.
    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>> {
        let mut groups = Vec::new();
        for (name, record) in self.children(GROUP_PREFIX).await? {
            groups.push(GroupInfo {
                permissions: self.list_permissions(&name).await?,
                name,
                custom_data: record
                    .data
                    .get("custom_data")
                    .cloned()
                    .unwrap_or(Value::Null),
            });
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(groups)
    }

    /// A group's permission records.
    pub async fn list_permissions(&self, group: &str) -> Result<Vec<StoredPermission>> {
        Ok(self
            .records_under(&format!("{PERMISSION_PREFIX}{group}/"))
            .await?
            .into_iter()
            .filter_map(|r| serde_json::from_value(Value::Object(r.data)).ok())
            .collect())
    }

    async fn require_group(&self, group: &str) -> Result<()> {
        match self
            .data
            .route(GROUP_PREFIX)
            .find_one(&group_path(group))
            .await?
        {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("group {group} does not exist"))),
        }
    }

    async fn require_user(&self, username: &str) -> Result<()> {
        match self
            .data
            .route(USER_PREFIX)
            .find_one(&user_path(username))
            .await?
        {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("user {username} does not exist"))),
        }
    }

    /// Adds a user to a group (both must exist).
    pub async fn link_group(&self, username: &str, group: &str) -> Result<()> {
        validate_name(username, "user").map_err(Error::BadInput)?;
        validate_name(group, "group").map_err(Error::BadInput)?;
        self.require_group(group).await?;
        self.require_user(username).await?;
        self.data
            .set(&membership_path(username, group), Map::new(), false, None)
            .await?;
        self.emit(SecurityEvent::LinkGroup {
            username: username.to_string(),
            group: group.to_string(),
        });
        Ok(())
    }

    /// Removes a user from a group.
    pub async fn unlink_group(&self, username: &str, group: &str) -> Result<bool> {
        if username == ADMIN && group == ADMIN {
            return Err(Error::Forbidden(
                "_ADMIN cannot leave the _ADMIN group".into(),
            ));
        }
        validate_name(username, "user").map_err(Error::BadInput)?;
        validate_name(group, "group").map_err(Error::BadInput)?;
        let removed = self
            .data
            .remove(&PathQuery::Exact(membership_path(username, group)))
            .await?;
        if removed > 0 {
            self.emit(SecurityEvent::UnlinkGroup {
                username: username.to_string(),
                group: group.to_string(),
            });
        }
        Ok(removed > 0)
    }

    /// Allows (`authorized`) or prohibits `action` on `path` for a group.
    pub async fn upsert_permission(
        &self,
        group: &str,
        path: &str,
        action: &str,
        authorized: bool,
    ) -> Result<()> {
        validate_name(group, "group").map_err(Error::BadInput)?;
        self.require_group(group).await?;
        self.write_permission(group, path, action, authorized)
            .await?;
        self.emit(SecurityEvent::PermissionUpserted {
            group: group.to_string(),
            path: path.to_string(),
            action: action.to_string(),
            authorized,
        });
        Ok(())
    }

    /// Removes a group's permission on `path` for `action` (every action when `None`).
    pub async fn remove_permission(
        &self,
        group: &str,
        path: &str,
        action: Option<&str>,
    ) -> Result<u64> {
        validate_name(group, "group").map_err(Error::BadInput)?;
        let actions: Vec<&str> = match action {
            Some(action) => vec![action],
            None => vec!["get", "set", "on", "remove", "*"],
        };
        let mut removed = 0;
        for action in &actions {
            removed += self
                .data
                .remove(&PathQuery::Exact(permission_path(group, action, path)))
                .await?;
        }
        if removed > 0 {
            self.emit(SecurityEvent::PermissionRemoved {
                group: group.to_string(),
                path: path.to_string(),
                action: action.unwrap_or("*").to_string(),
            });
        }
        Ok(removed)
    }
}

/// Claims of a token whose signature was already checked by the caller's flow (used only for
/// revoking expired tokens).
fn token_claims_unchecked(token: &str) -> std::result::Result<Claims, TokenError> {
    use base64::Engine;
    let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}
