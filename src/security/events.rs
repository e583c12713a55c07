//! Typed security change events, emitted on an internal channel for every directory change
//! (live sessions react to them; the cluster replicator will batch them).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::model::{Grantee, USER_PREFIX};

/// One change to users, groups, permissions or tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "whatHappnd", rename_all = "kebab-case")]
pub enum SecurityEvent {
    /// A user was created or updated, or its own permissions changed.
    UpsertUser {
        /// The user.
        username: String,
        /// The permissions given with the change (happn's permission map; empty if none).
        #[serde(default)]
        permissions: Value,
    },
    /// A user was deleted.
    DeleteUser {
        /// The user.
        username: String,
    },
    /// A group was created or updated.
    UpsertGroup {
        /// The group.
        group: String,
        /// The permissions given with the upsert (happn's permission map).
        #[serde(default)]
        permissions: Value,
    },
    /// A group was deleted.
    DeleteGroup {
        /// The group.
        group: String,
    },
    /// A user joined a group.
    LinkGroup {
        /// The user.
        username: String,
        /// The group.
        group: String,
    },
    /// A user left a group.
    UnlinkGroup {
        /// The user.
        username: String,
        /// The group.
        group: String,
        /// The group's permissions (happn's permission map): the client re-attaches its
        /// listeners on these paths.
        #[serde(default)]
        permissions: Value,
    },
    /// A permission was added or changed.
    PermissionUpserted {
        /// The group or user it is granted to.
        grantee: Grantee,
        /// The permission path.
        path: String,
        /// The action.
        action: String,
        /// Allowed (true) or prohibited (false).
        authorized: bool,
    },
    /// A permission was removed.
    PermissionRemoved {
        /// The group or user it was granted to.
        grantee: Grantee,
        /// The permission path.
        path: String,
        /// The action (`*` for all).
        action: String,
    },
    /// A token was revoked.
    TokenRevoked {
        /// The user the token belonged to.
        username: String,
        /// The token's session family id.
        sid: String,
    },
}

impl SecurityEvent {
    /// happn's name for the change (`upsert-user`, `permission-removed`, …).
    pub fn what_happened(&self) -> &'static str {
        match self {
            SecurityEvent::UpsertUser { .. } => "upsert-user",
            SecurityEvent::DeleteUser { .. } => "delete-user",
            SecurityEvent::UpsertGroup { .. } => "upsert-group",
            SecurityEvent::DeleteGroup { .. } => "delete-group",
            SecurityEvent::LinkGroup { .. } => "link-group",
            SecurityEvent::UnlinkGroup { .. } => "unlink-group",
            SecurityEvent::PermissionUpserted { .. } => "permission-upserted",
            SecurityEvent::PermissionRemoved { .. } => "permission-removed",
            SecurityEvent::TokenRevoked { .. } => "token-revoked",
        }
    }

    /// The `changedData` clients receive in `security-data-changed`: happn-3's shapes, which
    /// its client reads (`permissions` of an upserted group or user and of an unlinked group;
    /// the link's `path`).
    pub fn changed_data(&self) -> Value {
        let or_empty = |permissions: &Value| {
            if permissions.is_object() {
                permissions.clone()
            } else {
                Value::Object(Map::new())
            }
        };
        match self {
            SecurityEvent::UpsertUser {
                username,
                permissions,
            } => json!({"username": username, "permissions": or_empty(permissions)}),
            SecurityEvent::DeleteUser { username } => json!({
                "username": username,
                "obj": {"username": username, "_meta": {"path": format!("{USER_PREFIX}{username}")}},
            }),
            SecurityEvent::UpsertGroup { group, permissions } => {
                json!({"name": group, "permissions": or_empty(permissions)})
            }
            SecurityEvent::DeleteGroup { group } => {
                json!({"name": group, "obj": {"name": group}})
            }
            SecurityEvent::LinkGroup { username, group } => {
                let path = format!("{USER_PREFIX}{username}/_USER_GROUP/{group}");
                json!({"username": username, "groupName": group, "_meta": {"path": path}})
            }
            SecurityEvent::UnlinkGroup {
                username,
                group,
                permissions,
            } => json!({
                "username": username,
                "groupName": group,
                "path": format!("{USER_PREFIX}{username}/_USER_GROUP/{group}"),
                "permissions": or_empty(permissions),
            }),
            SecurityEvent::PermissionUpserted {
                grantee,
                path,
                action,
                authorized,
            } => {
                let (field, name) = grantee.field();
                json!({field: name, "path": path, "action": action, "authorized": authorized})
            }
            SecurityEvent::PermissionRemoved {
                grantee,
                path,
                action,
            } => {
                let (field, name) = grantee.field();
                json!({field: name, "path": path, "action": action})
            }
            SecurityEvent::TokenRevoked { username, .. } => json!({"username": username}),
        }
    }
}
