//! The node's access policy: an open node lets anyone do anything; a secure node needs a
//! login, checks each request's session (expiry, inactivity) and authorizes every path.
//! Handlers ask this object instead of branching on "is the node secure".

use std::sync::Arc;

use happn_cluster_sdk::{Error, now_millis};

use super::handle::SessionHandle;
use crate::security::{Action, PermissionSet};

/// Who may do what on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No security: every session may do everything, logins are not checked.
    Open,
    /// Security on: sessions log in, each request is checked and authorized.
    Secure {
        /// Sessions idle longer than this (ms) are ended.
        inactivity_threshold: Option<i64>,
    },
}

/// Why a logged-in session's request is refused before it is looked at; `end` names the
/// reason the session ends with after the reply.
#[derive(Debug)]
pub struct SessionRefusal {
    /// What the client is told.
    pub error: Error,
    /// The `server-side-disconnect` reason sent after the reply, when the session ends.
    pub end: Option<&'static str>,
}

impl Access {
    /// The policy for a node (`inactivity_threshold` applies only to secure nodes).
    pub fn new(secure: bool, inactivity_threshold: Option<i64>) -> Access {
        if secure {
            Access::Secure {
                inactivity_threshold,
            }
        } else {
            Access::Open
        }
    }

    /// True on a secure node.
    pub fn is_secure(&self) -> bool {
        matches!(self, Access::Secure { .. })
    }

    /// True when a session must log in before sending anything but handshake requests.
    pub fn requires_login(&self) -> bool {
        self.is_secure()
    }

    /// The name to record as a write's author (secure nodes only).
    pub fn author<'a>(&self, username: Option<&'a str>) -> Option<&'a str> {
        username.filter(|_| self.is_secure())
    }

    /// Checks that a logged-in session's token is unexpired and that it has not been idle
    /// past the inactivity threshold; records the activity.
    pub fn check_session(&self, handle: &SessionHandle) -> Result<(), SessionRefusal> {
        let Access::Secure {
            inactivity_threshold,
        } = self
        else {
            return Ok(());
        };
        if handle.is_peer() {
            // A proven peer has no user, token or inactivity threshold: its link's heartbeat
            // keeps it.
            return Ok(());
        }
        let Some(auth) = handle.auth() else {
            return Err(SessionRefusal {
                error: Error::Unauthorized("please log in first".into()),
                end: None,
            });
        };
        let now = now_millis();
        if auth.expires_at.is_some_and(|exp| now >= exp) {
            return Err(SessionRefusal {
                error: Error::Forbidden("expired session token".into()),
                end: Some("token-expired"),
            });
        }
        if let Some(threshold) = auth.inactivity_threshold.or(*inactivity_threshold) {
            let last = handle.touch();
            if now - last > threshold {
                return Err(SessionRefusal {
                    error: Error::Forbidden("session inactivity threshold reached".into()),
                    end: Some("inactivity-threshold"),
                });
            }
        }
        Ok(())
    }

    /// Checks that the session may perform `action` on `path` (normalised).
    pub fn authorize(
        &self,
        handle: &SessionHandle,
        action: Action,
        path: &str,
    ) -> Result<(), Error> {
        if handle.is_peer() {
            // Proven peers subscribe (their replication); nothing else.
            return match action {
                Action::On => Ok(()),
                _ => Err(Error::Forbidden("cluster peers only subscribe".into())),
            };
        }
        if !self.is_secure() {
            return Ok(());
        }
        let Some(auth) = handle.auth() else {
            return Err(Error::Unauthorized("please log in first".into()));
        };
        if auth.permissions.allows(action, path) {
            Ok(())
        } else {
            Err(Error::Forbidden("unauthorized".into()))
        }
    }

    /// The permissions of a restricted (secure, non-admin) session; None when nothing needs
    /// per-record filtering. Prohibits apply per record, not only to a query's text.
    pub fn restricted(&self, handle: &SessionHandle) -> Option<Arc<PermissionSet>> {
        if !self.is_secure() {
            return None;
        }
        handle
            .auth()
            .map(|a| a.permissions.clone())
            .filter(|p| !p.is_admin())
    }

    /// Why a session ended by the expiry sweep, if it should end now: its token expired, or
    /// it sat idle past the threshold (checked even for sessions that only listen).
    pub fn expired(&self, handle: &SessionHandle, now: i64) -> Option<&'static str> {
        let Access::Secure {
            inactivity_threshold,
        } = self
        else {
            return None;
        };
        let auth = handle.auth()?;
        if auth.expires_at.is_some_and(|exp| now >= exp) {
            Some("token-expired")
        } else if auth
            .inactivity_threshold
            .or(*inactivity_threshold)
            .is_some_and(|limit| now - handle.last_activity() > limit)
        {
            Some("inactivity-threshold")
        } else {
            None
        }
    }
}
