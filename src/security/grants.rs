//! Permission records, for groups and for users directly (happn-3's `upsertPermission` on
//! either), and the permission set a session is given: its groups' permissions and its own,
//! unioned, with templated paths filled in from the user.

use std::collections::BTreeMap;

use happn_cluster_sdk::{Error, Identity, PathQuery, Result};
use serde_json::{Map, Value, json};

use super::events::SecurityEvent;
use super::model::*;
use super::permissions::{PermissionSet, action_bits};
use super::service::{SecurityService, object};
use super::templates;
use crate::config::PermissionConfig;

/// Actions a removal without an action covers.
const EVERY_ACTION: [&str; 5] = ["get", "set", "on", "remove", "*"];

/// happn's `{path: {actions: [...], prohibit: [...]}}` shape of permission records.
pub fn permissions_object(records: &[StoredPermission]) -> Value {
    let mut by_path: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for record in records {
        let entry = by_path.entry(&record.path).or_default();
        if record.authorized {
            entry.0.push(&record.action);
        } else {
            entry.1.push(&record.action);
        }
    }
    Value::Object(
        by_path
            .into_iter()
            .map(|(path, (actions, prohibit))| {
                let mut permission = Map::new();
                if !actions.is_empty() {
                    permission.insert("actions".into(), json!(actions));
                }
                if !prohibit.is_empty() {
                    permission.insert("prohibit".into(), json!(prohibit));
                }
                (path.to_string(), Value::Object(permission))
            })
            .collect(),
    )
}

/// happn's shape of a permission map given in config or through the API.
pub fn config_object(permissions: &BTreeMap<String, PermissionConfig>) -> Value {
    serde_json::to_value(permissions).unwrap_or_else(|_| json!({}))
}

impl SecurityService {
    /// What a user may do: its groups' permissions and its own, unioned (`_ADMIN` means
    /// everything). Templated paths are filled in from the user; one that cannot be (a
    /// missing value, or one that would widen the grant) grants nothing.
    pub async fn permissions_for(&self, identity: &Identity) -> Result<PermissionSet> {
        if identity.groups.iter().any(|g| g == ADMIN) {
            return Ok(PermissionSet::admin());
        }
        let mut records = Vec::new();
        for group in &identity.groups {
            if let Ok(grantee) = Grantee::group(group) {
                records.extend(self.list_grants(&grantee).await?);
            }
        }
        if identity.user_id.is_some()
            && let Ok(grantee) = Grantee::user(&identity.username)
        {
            records.extend(self.list_grants(&grantee).await?);
        }
        let context = json!({"user": {
            "username": identity.username,
            "userid": identity.user_id,
            "custom_data": identity.custom_data,
            "groups": identity.groups,
        }});
        let mut set = PermissionSet::default();
        for record in records {
            let paths = match templates::expand(&record.path, &context) {
                Ok(paths) => paths,
                Err(why) => {
                    tracing::debug!(path = %record.path, user = %identity.username, %why, "templated permission grants nothing");
                    continue;
                }
            };
            let action = [record.action.clone()];
            for path in paths {
                if record.authorized {
                    set.add(&path, &action, &[]);
                } else {
                    set.add(&path, &[], &action);
                }
            }
        }
        Ok(set)
    }

    /// The permissions a set of groups grants (no user's own permissions).
    pub async fn permissions_for_groups(&self, groups: &[String]) -> Result<PermissionSet> {
        self.permissions_for(&Identity {
            username: String::new(),
            user_id: None,
            groups: groups.to_vec(),
            custom_data: Value::Null,
        })
        .await
    }

    /// A grantee's permission records.
    pub async fn list_grants(&self, grantee: &Grantee) -> Result<Vec<StoredPermission>> {
        Ok(self
            .records_under(&grantee.records_prefix())
            .await?
            .into_iter()
            .filter_map(|r| serde_json::from_value(Value::Object(r.data)).ok())
            .collect())
    }

    /// Writes one permission record (the action and path checked).
    pub(super) async fn write_grant(
        &self,
        grantee: &Grantee,
        path: &str,
        action: &str,
        authorized: bool,
    ) -> Result<()> {
        if action_bits(action).is_none() {
            return Err(Error::bad_input(format!(
                "unknown action {action:?}; use get, set, on, remove or *"
            )));
        }
        if path.is_empty() {
            return Err(Error::bad_input("permission path must not be empty"));
        }
        let data = object(json!({"action": action, "authorized": authorized, "path": path}));
        self.data
            .set(&permission_path(grantee, action, path), data, false, None)
            .await?;
        Ok(())
    }

    /// Applies a happn permission map: each path's `actions` allowed and `prohibit`ed; a
    /// path with `remove: true` has those records removed instead.
    pub(super) async fn write_grants(
        &self,
        grantee: &Grantee,
        permissions: &BTreeMap<String, PermissionConfig>,
    ) -> Result<()> {
        for (path, permission) in permissions {
            if permission.remove {
                for action in permission.actions.iter().chain(&permission.prohibit) {
                    self.remove_grant_records(grantee, path, Some(action))
                        .await?;
                }
                continue;
            }
            for action in &permission.actions {
                self.write_grant(grantee, path, action, true).await?;
            }
            for action in &permission.prohibit {
                self.write_grant(grantee, path, action, false).await?;
            }
        }
        Ok(())
    }

    async fn remove_grant_records(
        &self,
        grantee: &Grantee,
        path: &str,
        action: Option<&str>,
    ) -> Result<u64> {
        let actions: Vec<&str> = match action {
            Some(action) => vec![action],
            None => EVERY_ACTION.to_vec(),
        };
        let mut removed = 0;
        for action in actions {
            removed += self
                .data
                .remove(&PathQuery::Exact(permission_path(grantee, action, path)))
                .await?;
        }
        Ok(removed)
    }

    /// Allows (`authorized`) or prohibits `action` on `path` for a group or a user (which
    /// must exist).
    pub async fn grant(
        &self,
        grantee: &Grantee,
        path: &str,
        action: &str,
        authorized: bool,
    ) -> Result<()> {
        self.require_grantee(grantee).await?;
        self.write_grant(grantee, path, action, authorized).await?;
        self.emit(SecurityEvent::PermissionUpserted {
            grantee: grantee.clone(),
            path: path.to_string(),
            action: action.to_string(),
            authorized,
        });
        Ok(())
    }

    /// Removes a grantee's permission on `path` for `action` (every action when `None`).
    pub async fn revoke_grant(
        &self,
        grantee: &Grantee,
        path: &str,
        action: Option<&str>,
    ) -> Result<u64> {
        let removed = self.remove_grant_records(grantee, path, action).await?;
        if removed > 0 {
            self.emit(SecurityEvent::PermissionRemoved {
                grantee: grantee.clone(),
                path: path.to_string(),
                action: action.unwrap_or("*").to_string(),
            });
        }
        Ok(removed)
    }

    /// Allows or prohibits an action for a group (kept for the group-only API).
    pub async fn upsert_permission(
        &self,
        group: &str,
        path: &str,
        action: &str,
        authorized: bool,
    ) -> Result<()> {
        self.grant(&Grantee::group(group)?, path, action, authorized)
            .await
    }

    /// Removes a group's permission (kept for the group-only API).
    pub async fn remove_permission(
        &self,
        group: &str,
        path: &str,
        action: Option<&str>,
    ) -> Result<u64> {
        self.revoke_grant(&Grantee::group(group)?, path, action)
            .await
    }

    /// A group's permission records.
    pub async fn list_permissions(&self, group: &str) -> Result<Vec<StoredPermission>> {
        // A name that cannot be a group has no permission records.
        match Grantee::group(group) {
            Ok(grantee) => self.list_grants(&grantee).await,
            Err(_) => Ok(Vec::new()),
        }
    }

    async fn require_grantee(&self, grantee: &Grantee) -> Result<()> {
        let (path, kind, name) = match grantee {
            Grantee::Group(group) => (GROUP_PREFIX, "group", group),
            Grantee::User(user) => (USER_PREFIX, "user", user),
        };
        match self
            .data
            .route(path)
            .find_one(&format!("{path}{name}"))
            .await?
        {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("{kind} {name} does not exist"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_happns_permission_object() {
        let record = |path: &str, action: &str, authorized| StoredPermission {
            path: path.into(),
            action: action.into(),
            authorized,
        };
        assert_eq!(
            permissions_object(&[
                record("/a/*", "get", true),
                record("/a/*", "on", true),
                record("/a/b", "set", false),
            ]),
            json!({"/a/*": {"actions": ["get", "on"]}, "/a/b": {"prohibit": ["set"]}})
        );
    }
}
