//! Groups, memberships and permissions: the admin operations and the permission sets
//! sessions are given.

use std::collections::BTreeMap;

use happn_cluster_sdk::{Error, PathQuery, Result};
use serde_json::{Map, Value, json};

use super::events::SecurityEvent;
use super::model::*;
use super::permissions::PermissionSet;
use super::service::{SecurityService, object};
use crate::config::PermissionConfig;
use crate::names::{GroupName, UserName};

impl SecurityService {
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
        for (path, permission) in permissions {
            for action in &permission.actions {
                self.write_permission(&group_name, path, action, true)
                    .await?;
            }
            for action in &permission.prohibit {
                self.write_permission(&group_name, path, action, false)
                    .await?;
            }
        }
        self.emit(SecurityEvent::UpsertGroup {
            group: name.to_string(),
        });
        Ok(())
    }

    async fn write_permission(
        &self,
        group: &GroupName,
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

    /// A group's permission records.
    pub async fn list_permissions(&self, group: &str) -> Result<Vec<StoredPermission>> {
        // A name that cannot be a group has no permission records.
        let Ok(group) = GroupName::parse(group) else {
            return Ok(Vec::new());
        };
        Ok(self
            .records_under(&format!("{PERMISSION_PREFIX}{group}/"))
            .await?
            .into_iter()
            .filter_map(|r| serde_json::from_value(Value::Object(r.data)).ok())
            .collect())
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
        let group_name = GroupName::parse(group)?;
        self.require_group(&group_name).await?;
        self.write_permission(&group_name, path, action, authorized)
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
        let group_name = GroupName::parse(group)?;
        let actions: Vec<&str> = match action {
            Some(action) => vec![action],
            None => vec!["get", "set", "on", "remove", "*"],
        };
        let mut removed = 0;
        for action in &actions {
            removed += self
                .data
                .remove(&PathQuery::Exact(permission_path(
                    &group_name,
                    action,
                    path,
                )))
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
