//! Groups and memberships: the admin operations. Permission records are in
//! [`grants`](super::grants).

use std::collections::BTreeMap;

use happn_cluster_sdk::{Error, PathQuery, Result};
use serde_json::{Map, Value, json};

use super::events::SecurityEvent;
use super::grants::{config_object, permissions_object};
use super::model::*;
use super::service::{SecurityService, object};
use crate::config::PermissionConfig;
use crate::names::{GroupName, UserName};

impl SecurityService {
    // ---- admin: groups ------------------------------------------------------------------

    /// Creates or updates a group; `permissions` are added (happn's merge semantics).
    pub async fn upsert_group(
        &self,
        name: &str,
        custom_data: Value,
        permissions: &BTreeMap<String, PermissionConfig>,
    ) -> Result<()> {
        let group_name = GroupName::parse(name)?;
        let data = object(json!({
            "name": name,
            "custom_data": if custom_data.is_null() { json!({}) } else { custom_data },
        }));
        self.data
            .set(&group_path(&group_name), data, false, None)
            .await?;
        self.write_grants(&Grantee::Group(group_name.into()), permissions)
            .await?;
        self.emit(SecurityEvent::UpsertGroup {
            group: name.to_string(),
            permissions: config_object(permissions),
        });
        Ok(())
    }

    /// Deletes a group, its permissions and its memberships (`_ADMIN` cannot be deleted).
    pub async fn delete_group(&self, name: &str) -> Result<bool> {
        if name == ADMIN {
            return Err(Error::Forbidden(
                "the _ADMIN group cannot be deleted".into(),
            ));
        }
        let group_name = GroupName::parse(name)?;
        let removed = self
            .data
            .remove(&PathQuery::Exact(group_path(&group_name)))
            .await?;
        self.data
            .remove(&PathQuery::parse(&format!(
                "{PERMISSION_PREFIX}{group_name}/*"
            )))
            .await?;
        for user in self.list_users().await? {
            if user.groups.iter().any(|g| g == name) {
                let member = UserName::parse(&user.username)?;
                self.data
                    .remove(&PathQuery::Exact(membership_path(&member, &group_name)))
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

    async fn require_group(&self, group: &GroupName) -> Result<()> {
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

    async fn require_user(&self, username: &UserName) -> Result<()> {
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
        let username = &self.canonical_username(username);
        let user = UserName::parse(username)?;
        let group_name = GroupName::parse(group)?;
        self.require_group(&group_name).await?;
        self.require_user(&user).await?;
        self.data
            .set(
                &membership_path(&user, &group_name),
                Map::new(),
                false,
                None,
            )
            .await?;
        self.emit(SecurityEvent::LinkGroup {
            username: username.to_string(),
            group: group.to_string(),
        });
        Ok(())
    }

    /// Removes a user from a group.
    pub async fn unlink_group(&self, username: &str, group: &str) -> Result<bool> {
        let username = &self.canonical_username(username);
        if username == ADMIN && group == ADMIN {
            return Err(Error::Forbidden(
                "_ADMIN cannot leave the _ADMIN group".into(),
            ));
        }
        let user = UserName::parse(username)?;
        let group_name = GroupName::parse(group)?;
        let removed = self
            .data
            .remove(&PathQuery::Exact(membership_path(&user, &group_name)))
            .await?;
        if removed > 0 {
            // happn-3 sends the group's permissions: the client re-attaches its listeners
            // on those paths.
            let permissions = permissions_object(&self.list_permissions(group).await?);
            self.emit(SecurityEvent::UnlinkGroup {
                username: username.to_string(),
                group: group.to_string(),
                permissions,
            });
        }
        Ok(removed > 0)
    }
}
