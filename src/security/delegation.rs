//! `onBehalfOf`: a delegate (an `_ADMIN` member, or a member of `_MESH_DELEGATE` as in
//! happn-3) sends a request for another user, and that user's permissions, prohibitions
//! and templates decide it. The users' permission sets are cached until the next security
//! change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use happn_cluster_sdk::{Error, Result};

use super::model::ADMIN;
use super::permissions::PermissionSet;
use super::service::SecurityService;

/// The group whose members may act on behalf of others (besides `_ADMIN`'s).
pub const DELEGATE_GROUP: &str = "_MESH_DELEGATE";

/// Most users whose delegated permission sets are kept at once.
const MAX_CACHED: usize = 10_000;

/// Permission sets of users acted for, by username.
#[derive(Debug, Default)]
pub(super) struct DelegationCache {
    sets: Mutex<HashMap<String, Arc<PermissionSet>>>,
}

impl DelegationCache {
    fn get(&self, username: &str) -> Option<Arc<PermissionSet>> {
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(username)
            .cloned()
    }

    fn put(&self, username: &str, set: Arc<PermissionSet>) {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        if sets.len() >= MAX_CACHED {
            sets.clear();
        }
        sets.insert(username.to_string(), set);
    }

    /// Forgets every set (any security change may alter them).
    pub(super) fn clear(&self) {
        self.sets.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Who a delegated request runs as.
#[derive(Debug, Clone)]
pub struct Delegation {
    /// The user acted for (recorded as the writer).
    pub username: String,
    /// That user's permissions.
    pub permissions: Arc<PermissionSet>,
}

impl SecurityService {
    /// The user a delegate acts for, with that user's permissions. `delegate_groups` are the
    /// requesting session's groups; only `_ADMIN` and `_MESH_DELEGATE` members may delegate.
    pub async fn on_behalf_of(
        &self,
        delegate_groups: &[String],
        username: &str,
    ) -> Result<Delegation> {
        if !delegate_groups
            .iter()
            .any(|g| g == ADMIN || g == DELEGATE_GROUP)
        {
            return Err(Error::Forbidden(
                "session attempting to act on behalf of is not authorized".into(),
            ));
        }
        let username = self.canonical_username(username);
        if let Some(permissions) = self.delegations.get(&username) {
            return Ok(Delegation {
                username,
                permissions,
            });
        }
        let identity = self.identity(&username).await?.ok_or_else(|| {
            Error::Forbidden(format!(
                "on behalf of user does not exist: request on behalf of unauthorised user: {username}"
            ))
        })?;
        let permissions = Arc::new(self.permissions_for(&identity).await?);
        self.delegations.put(&username, permissions.clone());
        Ok(Delegation {
            username,
            permissions,
        })
    }
}
