//! Security: users, groups, permissions, sessions and tokens.
//!
//! * [`SecurityService`]: bootstrap, logins, tokens, lockout, revocation, admin operations;
//! * [`PermissionSet`]: what one session may do;
//! * [`SecurityEvent`]: the typed change feed (sessions and the replicator follow it);
//! * `store`: the built-in [`happn_cluster_sdk::Auth`] plugin over the datastore.

mod bootstrap;
mod delegation;
mod events;
mod grants;
mod groups;
mod hash;
pub mod journal;
mod lockout;
mod login;
mod login_queue;
mod model;
mod permissions;
mod profiles;
mod service;
mod store_auth;
mod templates;
mod token;
mod users;
mod verify;

pub use delegation::{DELEGATE_GROUP, Delegation};
pub use events::SecurityEvent;
pub use grants::permissions_object;
pub use hash::{hash_password, verify_password};
pub use login::{LoginContext, LoginOutcome};
pub use model::{ADMIN, ANONYMOUS, Grantee, GroupInfo, StoredPermission, UserInfo, is_system_path};
pub use permissions::{Action, PermissionSet};
pub use profiles::Policy;
pub use service::SecurityService;
pub use store_auth::StoreAuth;
pub use token::{Claims, TokenError};
