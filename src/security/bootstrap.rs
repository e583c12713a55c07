//! Bootstrap: the token secret, the `_ADMIN` user and group, and the groups and users the
//! config declares.

use happn_cluster_sdk::{Error, Result};
use serde_json::{Map, Value, json};

use super::hash::hash_password;
use super::model::*;
use super::service::{SecurityService, object, random_hex};
use crate::names::{GroupName, UserName};

impl SecurityService {
    pub(super) async fn bootstrap(&self) -> Result<()> {
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
        let mut data = Map::new();
        data.insert("id".into(), random_hex(16)?.into());
        let record = self.data.create_if_absent(DIRECTORY_ID_PATH, data).await?;
        let id = record
            .data
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::internal("stored directory id is malformed"))?;
        *self.directory_id.lock().unwrap_or_else(|p| p.into_inner()) = id.to_string();

        // The admin group and user: created once, never altered by later config changes.
        self.data
            .create_if_absent(
                &group_path(&GroupName::admin()),
                object(json!({"name": ADMIN, "custom_data": {}})),
            )
            .await?;
        self.data
            .create_if_absent(
                &permission_path(&Grantee::Group(ADMIN.into()), "*", "*"),
                object(json!({"action": "*", "authorized": true, "path": "*"})),
            )
            .await?;
        // Hashing is deliberately slow: only pay for it when the admin does not exist yet.
        let admin_exists = self
            .data
            .route(USER_PREFIX)
            .find_one(&user_path(&UserName::admin()))
            .await?
            .is_some();
        if !admin_exists {
            let hash = self.hash(&self.config.admin_user.password).await?;
            self.data
                .create_if_absent(
                    &user_path(&UserName::admin()),
                    object(json!({"username": ADMIN, "password": hash, "custom_data": {}, "userid": random_hex(16)?})),
                )
                .await?;
        }
        self.data
            .create_if_absent(
                &membership_path(&UserName::admin(), &GroupName::admin()),
                Map::new(),
            )
            .await?;

        if self.config.allow_anonymous_access {
            // happn-3's `_ANONYMOUS` user: logs in without a password, has what its groups
            // and its own permissions grant (nothing until an administrator links it).
            let exists = self
                .data
                .route(USER_PREFIX)
                .find_one(&format!("{USER_PREFIX}{ANONYMOUS}"))
                .await?
                .is_some();
            if !exists {
                self.data
                    .create_if_absent(
                        &format!("{USER_PREFIX}{ANONYMOUS}"),
                        object(json!({"username": ANONYMOUS, "custom_data": {}, "userid": random_hex(16)?})),
                    )
                    .await?;
            }
        }
        for group in self.config.groups.clone() {
            self.upsert_group(&group.name, group.custom_data.clone(), &group.permissions)
                .await?;
        }
        for user in self.config.users.clone() {
            self.upsert_user_with_permissions(
                &user.username,
                Some(&user.password),
                user.custom_data.clone(),
                &user.permissions,
            )
            .await?;
            for group in &user.groups {
                self.link_group(&user.username, group).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn hash(&self, password: &str) -> Result<String> {
        let (password, iterations) = (password.to_string(), self.config.pbkdf2_iterations);
        tokio::task::spawn_blocking(move || hash_password(&password, iterations))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
    }
}
