//! Where security records live (happn's `/_SYSTEM/_SECURITY/…` layout) and their shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{GroupName, UserName};

/// Prefix of every reserved path; clients can never read or write under it.
pub const SYSTEM_PREFIX: &str = "/_SYSTEM";
/// Users: `/_SYSTEM/_SECURITY/_USER/<username>`.
pub const USER_PREFIX: &str = "/_SYSTEM/_SECURITY/_USER/";
/// Groups: `/_SYSTEM/_SECURITY/_GROUP/<name>`.
pub const GROUP_PREFIX: &str = "/_SYSTEM/_SECURITY/_GROUP/";
/// Permissions: `/_SYSTEM/_SECURITY/_PERMISSIONS/<group>/<action>/<path, * as {{w}}>`.
pub const PERMISSION_PREFIX: &str = "/_SYSTEM/_SECURITY/_PERMISSIONS/";
/// The shared token secret.
pub const SECRET_PATH: &str = "/_SYSTEM/_SECURITY/SESSION_TOKEN_SECRET";
/// Revoked tokens by session family: `/_SYSTEM/_SECURITY/_REVOKED/<sid>`.
pub const REVOKED_PREFIX: &str = "/_SYSTEM/_SECURITY/_REVOKED/";
pub use crate::names::ADMIN;

/// Path of a user record.
pub fn user_path(username: &UserName) -> String {
    format!("{USER_PREFIX}{username}")
}

/// Path of a membership record.
pub fn membership_path(username: &UserName, group: &GroupName) -> String {
    format!("{USER_PREFIX}{username}/_USER_GROUP/{group}")
}

/// Path of a group record.
pub fn group_path(group: &GroupName) -> String {
    format!("{GROUP_PREFIX}{group}")
}

/// Path of one permission record (happn escapes `*` as `{{w}}`).
pub fn permission_path(group: &GroupName, action: &str, path: &str) -> String {
    format!(
        "{PERMISSION_PREFIX}{group}/{action}/{}",
        path.replace('*', "{{w}}")
    )
}

/// Cluster membership records (`/SYSTEM/DEPLOYMENT/<deployment>/…`): reserved like `/_SYSTEM`,
/// so no client can read, subscribe to or delete them.
pub const DEPLOYMENT_TREE: &str = "/SYSTEM/DEPLOYMENT";

/// True if `path` is (or is under) a reserved tree: `/_SYSTEM`, or the cluster's
/// membership records under `/SYSTEM/DEPLOYMENT`.
pub fn is_system_path(path: &str) -> bool {
    let under = |tree: &str| {
        path.strip_prefix(tree)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    under(SYSTEM_PREFIX) || under(DEPLOYMENT_TREE)
}

/// A stored user (happn's shape; the hash never leaves the server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredUser {
    /// Name.
    pub username: String,
    /// PBKDF2 hash in happn's format.
    #[serde(default)]
    pub password: String,
    /// Free-form data.
    #[serde(default)]
    pub custom_data: Value,
    /// Stable id, assigned once.
    #[serde(default)]
    pub userid: String,
}

/// A stored permission record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPermission {
    /// The action (`get`, `set`, `on`, `remove`, `*`).
    pub action: String,
    /// Allowed (true) or prohibited (false).
    pub authorized: bool,
    /// The permission path.
    pub path: String,
}

/// A user as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserInfo {
    /// Name.
    pub username: String,
    /// Stable id.
    pub userid: String,
    /// Free-form data.
    pub custom_data: Value,
    /// Groups the user belongs to.
    pub groups: Vec<String>,
}

/// A group as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupInfo {
    /// Name.
    pub name: String,
    /// Free-form data.
    pub custom_data: Value,
    /// Permission records.
    pub permissions: Vec<StoredPermission>,
}
