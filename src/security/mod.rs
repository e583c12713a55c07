//! Security: users, groups, permissions, sessions and tokens.
//!
//! * [`SecurityService`]: bootstrap, logins, tokens, lockout, revocation, admin operations;
//! * [`PermissionSet`]: what one session may do;
//! * [`SecurityEvent`]: the typed change feed (live sessions and the replicator use it);
//! * `store`: the built-in [`happn_cluster_sdk::Auth`] plugin over the datastore.

mod events;
mod hash;
pub mod live;
mod lockout;
mod model;
mod permissions;
mod service;
mod store_auth;
mod token;

pub use events::SecurityEvent;
pub use hash::{hash_password, verify_password};
pub use model::{ADMIN, GroupInfo, StoredPermission, UserInfo, is_system_path, validate_name};
pub use permissions::{Action, PermissionSet};
pub use service::{LoginOutcome, SecurityService};
pub use store_auth::StoreAuth;
pub use token::{Claims, TokenError};
