//! The user directory: create, update, delete, read and list users.

use happn_cluster_sdk::{Error, FindOptions, Identity, PathQuery, Result};
use serde_json::{Value, json};

use std::collections::BTreeMap;

use super::events::SecurityEvent;
use super::grants::{config_object, permissions_object};
use super::model::*;
use super::service::{MAX_CREDENTIAL_BYTES, SecurityService, random_hex};
use super::store_auth::load_user;
use crate::config::PermissionConfig;
use crate::names::UserName;

impl SecurityService {
    /// The current identity of a stored user (None if the user is gone).
    pub async fn identity(&self, username: &str) -> Result<Option<Identity>> {
        let Ok(username) = UserName::parse(&self.canonical_username(username)) else {
            return Ok(None);
        };
        let store = self.data.route(USER_PREFIX).clone();
        Ok(load_user(store.as_ref(), &username)
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
        self.upsert_user_with_permissions(username, password, custom_data, &BTreeMap::new())
            .await
    }

    /// Creates or updates a user and adds `permissions` of its own (happn-3's
    /// `upsertUser` with `permissions`; a path with `remove: true` removes).
    pub async fn upsert_user_with_permissions(
        &self,
        username: &str,
        password: Option<&str>,
        custom_data: Value,
        permissions: &BTreeMap<String, PermissionConfig>,
    ) -> Result<()> {
        let username = &self.canonical_username(username);
        if username == ANONYMOUS {
            return Err(Error::bad_input(
                "validation failure: username cannot be reserved name _ANONYMOUS",
            ));
        }
        let user = UserName::parse(username)?;
        let existing = self
            .data
            .route(USER_PREFIX)
            .find_one(&user_path(&user))
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
        data.insert("username".into(), username.as_str().into());
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
        self.data.set(&user_path(&user), data, false, None).await?;
        self.write_grants(&Grantee::User(user.into()), permissions)
            .await?;
        self.emit(SecurityEvent::UpsertUser {
            username: username.to_string(),
            permissions: config_object(permissions),
        });
        Ok(())
    }

    /// Adds (or with `remove: true` removes) a user's own permissions (happn-3's
    /// `users.upsertPermissions`). The user must exist.
    pub async fn upsert_user_permissions(
        &self,
        username: &str,
        permissions: &BTreeMap<String, PermissionConfig>,
    ) -> Result<()> {
        let username = self.canonical_username(username);
        let grantee = Grantee::user(&username)?;
        if self.get_user(&username).await?.is_none() {
            return Err(Error::NotFound(format!("user {username} does not exist")));
        }
        self.write_grants(&grantee, permissions).await?;
        self.emit(SecurityEvent::UpsertUser {
            username,
            permissions: config_object(permissions),
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
        let username = &self.canonical_username(username);
        if username == ADMIN || username == ANONYMOUS {
            return Err(Error::Forbidden(format!(
                "the {username} user cannot be deleted"
            )));
        }
        let user = UserName::parse(username)?;
        let removed = self
            .data
            .remove(&PathQuery::Exact(user_path(&user)))
            .await?;
        self.data
            .remove(&PathQuery::parse(&format!(
                "{}/_USER_GROUP/*",
                user_path(&user)
            )))
            .await?;
        let grants = Grantee::User(user.clone().into()).records_prefix();
        self.data
            .remove(&PathQuery::parse(&format!("{grants}*")))
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
        let Ok(username) = UserName::parse(&self.canonical_username(username)) else {
            return Ok(None);
        };
        let store = self.data.route(USER_PREFIX).clone();
        let Some((user, groups)) = load_user(store.as_ref(), &username).await? else {
            return Ok(None);
        };
        let permissions = self.list_grants(&Grantee::User(username.into())).await?;
        Ok(Some(UserInfo {
            username: user.username,
            userid: user.userid,
            custom_data: user.custom_data,
            groups,
            permissions: permissions_object(&permissions),
        }))
    }

    /// Every record whose path starts with `prefix`.
    pub(super) async fn records_under(
        &self,
        prefix: &str,
    ) -> Result<Vec<happn_cluster_sdk::Record>> {
        self.data
            .get(
                &PathQuery::parse(&format!("{prefix}*")),
                &FindOptions::default(),
            )
            .await
    }

    /// Records directly under `prefix` (not deeper), with their names.
    pub(super) async fn children(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, happn_cluster_sdk::Record)>> {
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
}
