//! `happn-cluster admin …`: user, group and permission administration on the configured
//! datastore (so on a running cluster's database). The same operations are methods of
//! [`crate::security::SecurityService`], reachable from a running node as `node.security()`.

use std::collections::BTreeMap;

use clap::Subcommand;
use happn_cluster_sdk::{Error, Result};
use serde_json::{Value, json};

use crate::config::PermissionConfig;
use crate::security::{Grantee, SecurityService};

/// One admin operation.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Users.
    #[command(subcommand)]
    Users(UserCommand),
    /// Groups.
    #[command(subcommand)]
    Groups(GroupCommand),
    /// Permissions of a group, or of one user directly (`--user`).
    #[command(subcommand)]
    Permissions(PermissionCommand),
    /// Revoked tokens (JSON): `{sid, username, revoked, expires}`.
    RevokedTokens,
    /// Add a user to a group.
    Link {
        /// The user.
        username: String,
        /// The group.
        group: String,
    },
    /// Remove a user from a group.
    Unlink {
        /// The user.
        username: String,
        /// The group.
        group: String,
    },
    /// Reset the _ADMIN password (instead of editing the database by hand).
    ResetAdmin {
        /// The new password (or set HAPPN_ADMIN_PASSWORD to keep it out of `ps`).
        #[arg(long, env = "HAPPN_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

/// `admin users …`.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// List users (JSON).
    List,
    /// Create or update a user.
    Add {
        /// Username.
        username: String,
        /// Password (or HAPPN_USER_PASSWORD); may be omitted when updating.
        #[arg(long, env = "HAPPN_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Groups to join (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Free-form JSON stored with the user.
        #[arg(long)]
        custom_data: Option<String>,
    },
    /// Delete a user (its sessions end).
    Remove {
        /// Username.
        username: String,
    },
}

/// `admin groups …`.
#[derive(Debug, Clone, Subcommand)]
pub enum GroupCommand {
    /// List groups with their permissions (JSON).
    List,
    /// Create or update a group; permissions are added.
    Add {
        /// Group name.
        name: String,
        /// Allow actions on a path: `PATH=get,on` (repeatable).
        #[arg(long)]
        allow: Vec<String>,
        /// Prohibit actions on a path: `PATH=set` (repeatable).
        #[arg(long)]
        prohibit: Vec<String>,
    },
    /// Delete a group.
    Remove {
        /// Group name.
        name: String,
    },
}

/// `admin permissions …`: a group's, or with `--user` a user's own (merged with its
/// groups' at login).
#[derive(Debug, Clone, Subcommand)]
pub enum PermissionCommand {
    /// List the permissions (JSON).
    List {
        /// Group name (user name with --user).
        name: String,
        /// NAME is a user.
        #[arg(long)]
        user: bool,
    },
    /// Allow (or with --prohibit, prohibit) actions on a path.
    Add {
        /// Group name (user name with --user).
        name: String,
        /// Permission path (`*` matches anything, `/` included; `{{user.username}}` and
        /// `{{user.custom_data.x}}` are filled in from the session's user).
        path: String,
        /// Comma-separated actions: get, set, on, remove, *.
        actions: String,
        /// Prohibit instead of allow.
        #[arg(long)]
        prohibit: bool,
        /// NAME is a user.
        #[arg(long)]
        user: bool,
    },
    /// Remove a permission (every action unless --action is given).
    Remove {
        /// Group name (user name with --user).
        name: String,
        /// Permission path.
        path: String,
        /// Only this action.
        #[arg(long)]
        action: Option<String>,
        /// NAME is a user.
        #[arg(long)]
        user: bool,
    },
}

fn grantee(name: &str, user: bool) -> Result<Grantee> {
    if user {
        Grantee::user(name)
    } else {
        Grantee::group(name)
    }
}

fn split_rule(rule: &str) -> Result<(String, Vec<String>)> {
    let (path, actions) = rule
        .rsplit_once('=')
        .ok_or_else(|| Error::bad_input(format!("{rule:?} must look like PATH=get,on")))?;
    Ok((
        path.to_string(),
        actions.split(',').map(|a| a.trim().to_string()).collect(),
    ))
}

fn pretty(value: Value) -> String {
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// Runs one admin command and records the security changes it made in the change journal,
/// so that running nodes apply them to their live sessions; returns what to print.
pub async fn execute_recorded(
    security: &SecurityService,
    data: &crate::data::DataService,
    command: AdminCommand,
) -> Result<String> {
    let mut changes = security.subscribe_local_events();
    let result = execute(security, command).await;
    let mut events = Vec::new();
    while let Ok(event) = changes.try_recv() {
        events.push(event);
    }
    crate::security::journal::record(data, &events).await?;
    result
}

/// Runs one admin command; returns what to print.
pub async fn execute(security: &SecurityService, command: AdminCommand) -> Result<String> {
    match command {
        AdminCommand::Users(UserCommand::List) => Ok(pretty(json!(security.list_users().await?))),
        AdminCommand::Users(UserCommand::Add {
            username,
            password,
            groups,
            custom_data,
        }) => {
            let custom = match custom_data {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| Error::bad_input(format!("--custom-data is not JSON: {e}")))?,
                None => Value::Null,
            };
            security
                .upsert_user(&username, password.as_deref(), custom)
                .await?;
            for group in &groups {
                security.link_group(&username, group).await?;
            }
            Ok(format!("user {username} saved"))
        }
        AdminCommand::Users(UserCommand::Remove { username }) => {
            Ok(if security.delete_user(&username).await? {
                format!("user {username} removed")
            } else {
                format!("user {username} did not exist")
            })
        }
        AdminCommand::Groups(GroupCommand::List) => {
            Ok(pretty(json!(security.list_groups().await?)))
        }
        AdminCommand::Groups(GroupCommand::Add {
            name,
            allow,
            prohibit,
        }) => {
            let mut permissions: BTreeMap<String, PermissionConfig> = BTreeMap::new();
            for rule in &allow {
                let (path, actions) = split_rule(rule)?;
                permissions.entry(path).or_default().actions.extend(actions);
            }
            for rule in &prohibit {
                let (path, actions) = split_rule(rule)?;
                permissions
                    .entry(path)
                    .or_default()
                    .prohibit
                    .extend(actions);
            }
            security
                .upsert_group(&name, Value::Null, &permissions)
                .await?;
            Ok(format!("group {name} saved"))
        }
        AdminCommand::Groups(GroupCommand::Remove { name }) => {
            Ok(if security.delete_group(&name).await? {
                format!("group {name} removed")
            } else {
                format!("group {name} did not exist")
            })
        }
        AdminCommand::Permissions(PermissionCommand::List { name, user }) => {
            let records = security.list_grants(&grantee(&name, user)?).await?;
            Ok(pretty(json!(records)))
        }
        AdminCommand::Permissions(PermissionCommand::Add {
            name,
            path,
            actions,
            prohibit,
            user,
        }) => {
            let to = grantee(&name, user)?;
            for action in actions.split(',').map(str::trim) {
                security.grant(&to, &path, action, !prohibit).await?;
            }
            let kind = if user { "user" } else { "group" };
            Ok(format!("permission on {path} saved for {kind} {name}"))
        }
        AdminCommand::Permissions(PermissionCommand::Remove {
            name,
            path,
            action,
            user,
        }) => {
            let removed = security
                .revoke_grant(&grantee(&name, user)?, &path, action.as_deref())
                .await?;
            Ok(format!("{removed} permission record(s) removed"))
        }
        AdminCommand::RevokedTokens => Ok(pretty(json!(security.list_revoked_tokens().await?))),
        AdminCommand::Link { username, group } => {
            security.link_group(&username, &group).await?;
            Ok(format!("{username} joined {group}"))
        }
        AdminCommand::Unlink { username, group } => {
            Ok(if security.unlink_group(&username, &group).await? {
                format!("{username} left {group}")
            } else {
                format!("{username} was not in {group}")
            })
        }
        AdminCommand::ResetAdmin { password } => {
            security.reset_admin_password(&password).await?;
            Ok("_ADMIN password reset".into())
        }
    }
}
