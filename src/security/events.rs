//! Typed security change events, emitted on an internal channel for every directory change
//! (live sessions react to them; the cluster replicator will batch them).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One change to users, groups, permissions or tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "whatHappnd", rename_all = "kebab-case")]
pub enum SecurityEvent {
    /// A user was created or updated.
    UpsertUser {
        /// The user.
        username: String,
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
    },
    /// A permission was added or changed.
    PermissionUpserted {
        /// The group.
        group: String,
        /// The permission path.
        path: String,
        /// The action.
        action: String,
        /// Allowed (true) or prohibited (false).
        authorized: bool,
    },
    /// A permission was removed.
    PermissionRemoved {
        /// The group.
        group: String,
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

    /// The `changedData` clients receive in `security-data-changed`.
    pub fn changed_data(&self) -> Value {
        match self {
            SecurityEvent::UpsertUser { username } | SecurityEvent::DeleteUser { username } => {
                json!({"username": username})
            }
            SecurityEvent::UpsertGroup { group } | SecurityEvent::DeleteGroup { group } => {
                json!({"name": group})
            }
            SecurityEvent::LinkGroup { username, group }
            | SecurityEvent::UnlinkGroup { username, group } => {
                json!({"username": username, "groupName": group})
            }
            SecurityEvent::PermissionUpserted {
                group,
                path,
                action,
                authorized,
            } => {
                json!({"groupName": group, "path": path, "action": action, "authorized": authorized})
            }
            SecurityEvent::PermissionRemoved {
                group,
                path,
                action,
            } => {
                json!({"groupName": group, "path": path, "action": action})
            }
            SecurityEvent::TokenRevoked { username, .. } => json!({"username": username}),
        }
    }
}
