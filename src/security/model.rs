//! Where security records live (happn's `/_SYSTEM/_SECURITY/…` layout) and their shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{GroupName, USER_PERMISSIONS_SEGMENT, UserName};

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
/// This user directory's id (tokens name the directory that issued them).
pub const DIRECTORY_ID_PATH: &str = "/_SYSTEM/_SECURITY/DIRECTORY_ID";
/// Revoked tokens by session family: `/_SYSTEM/_SECURITY/_REVOKED/<sid>`.
pub const REVOKED_PREFIX: &str = "/_SYSTEM/_SECURITY/_REVOKED/";
pub use crate::names::{ADMIN, ANONYMOUS};

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

/// Who a permission record is granted to: a group, or one user directly (happn-3 keeps a
/// user's own permissions under `/_SYSTEM/_SECURITY/_PERMISSIONS/_USER/<username>/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Grantee {
    /// Every member of a group.
    Group(String),
    /// One user.
    User(String),
}

impl Grantee {
    /// A group grantee (the name checked).
    pub fn group(name: &str) -> happn_cluster_sdk::Result<Grantee> {
        Ok(Grantee::Group(GroupName::parse(name)?.into()))
    }

    /// A user grantee (the name checked).
    pub fn user(name: &str) -> happn_cluster_sdk::Result<Grantee> {
        Ok(Grantee::User(UserName::parse(name)?.into()))
    }

    /// Where this grantee's permission records live (ends with `/`).
    pub fn records_prefix(&self) -> String {
        match self {
            Grantee::Group(group) => format!("{PERMISSION_PREFIX}{group}/"),
            Grantee::User(user) => {
                format!("{PERMISSION_PREFIX}{USER_PERMISSIONS_SEGMENT}/{user}/")
            }
        }
    }

    /// happn's field naming the grantee in `security-data-changed` (`groupName` or
    /// `username`) and the name.
    pub fn field(&self) -> (&'static str, &str) {
        match self {
            Grantee::Group(group) => ("groupName", group),
            Grantee::User(user) => ("username", user),
        }
    }
}

/// Path of one permission record (happn escapes `*` as `{{w}}`).
pub fn permission_path(grantee: &Grantee, action: &str, path: &str) -> String {
    format!(
        "{}{action}/{}",
        grantee.records_prefix(),
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
    /// The user's own permissions (happn's `{path: {actions, prohibit}}`), beside its
    /// groups'.
    pub permissions: Value,
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
