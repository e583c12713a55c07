//! The `Auth` trait: turning credentials into an identity. Permissions are evaluated by the
//! host; an `Auth` plugin only says who someone is.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;

/// What a client presented at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Username and password.
    Password {
        /// The username as sent.
        username: String,
        /// The clear-text password as sent.
        password: String,
    },
    /// A bearer token issued earlier.
    Token(String),
    /// No credentials (anonymous login, allowed only on insecure nodes).
    Anonymous,
}

/// Who a verified client is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The user's name.
    pub username: String,
    /// A stable user id, if the store has one.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Groups the user belongs to (their permissions are unioned by the host).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Free-form data attached to the user.
    #[serde(default)]
    pub custom_data: Value,
}

/// Verifies credentials.
#[async_trait]
pub trait Auth: Send + Sync + 'static {
    /// Returns the identity for valid credentials, [`crate::Error::Unauthorized`] otherwise.
    async fn verify(&self, credentials: &Credentials) -> Result<Identity>;

    /// Whether `username` names an account, where the plugin can tell cheaply. The host
    /// keeps failed logins of real accounts until they expire and bounds those of other
    /// names; `None` (the default) means "cannot tell" and is treated as an account.
    async fn account_exists(&self, _username: &str) -> Result<Option<bool>> {
        Ok(None)
    }
}
