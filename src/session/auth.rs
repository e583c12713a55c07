//! Session-level security: login, per-request authorization, token revocation.

use std::sync::Arc;

use happn_cluster_sdk::{Credentials, Error, now_millis};
use serde_json::{Map, Value, json};

use super::{HandlerResult, Session, SessionAuth};
use crate::protocol::{PROTOCOL, Request};
use crate::security::Action;

impl Session {
    /// Logs the session in. Insecure nodes accept anyone; secure nodes verify credentials
    /// (password, token) and attach the user's permissions.
    pub(super) async fn login(&mut self, request: &Request) -> HandlerResult {
        let data = match &request.data {
            Value::Object(map) => map.clone(),
            Value::Null => Map::new(),
            _ => return Err(Error::bad_input("login data must be an object")),
        };
        let text = |key: &str| -> Result<Option<String>, Error> {
            match data.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::bad_input(format!("login {key} must be a string"))),
            }
        };
        let username = text("username")?;
        let password = text("password")?;
        let token = text("token")?;
        let info = match data.get("info") {
            Some(Value::Object(info)) => Value::Object(info.clone()),
            None | Some(Value::Null) => json!({}),
            Some(other) => json!({"data": other}),
        };
        let mut user = Value::Null;
        let mut session_token = Value::Null;
        if self.logged_in && self.ctx.secure {
            // Switching users on a live socket would carry subscriptions across identities.
            return Err(Error::bad_input(
                "this session is already logged in; connect again to log in as someone else",
            ));
        }
        if self.ctx.secure {
            // As happn-3 decides: a token wins; `_ANONYMOUS` (with or without a password) is an
            // anonymous login; anything short of a username and a password is wrong credentials.
            let credentials = match (&username, password, token) {
                (_, _, Some(token)) => Credentials::Token(token),
                (Some(username), _, None) if username == "_ANONYMOUS" => Credentials::Anonymous,
                (Some(username), Some(password), None) => Credentials::Password {
                    username: username.clone(),
                    password,
                },
                (Some(_), None, None) | (None, _, None) => {
                    return Err(Error::Unauthorized("Invalid credentials".into()));
                }
            };
            let outcome = self
                .ctx
                .security
                .login(credentials, &self.handle.id, self.remote.map(|r| r.ip()))
                .await?;
            user = json!({
                "username": outcome.identity.username,
                "custom_data": outcome.identity.custom_data,
                "userid": outcome.identity.user_id,
            });
            session_token = outcome.token.clone().into();
            self.username = Some(outcome.identity.username.clone());
            self.handle.set_auth(Some(Arc::new(SessionAuth {
                username: outcome.identity.username,
                user_id: outcome.identity.user_id,
                groups: outcome.identity.groups,
                permissions: outcome.permissions,
                token: outcome.token,
                sid: outcome.claims.sid,
                expires_at: outcome.claims.exp,
                from_store: outcome.claims.src == "store",
            })));
        } else {
            self.username = username;
            if let Some(name) = &self.username {
                user = json!({"username": name});
            }
        }
        let is_peer = info.get("clusterName").is_some_and(|c| !c.is_null());
        self.handle.set_peer(is_peer);
        self.login_info = info;
        self.logged_in = true;
        self.handle.touch();
        let session = json!({
            "id": self.handle.id,
            "protocol": self.protocol.as_deref().unwrap_or(PROTOCOL),
            "happn": {"name": self.ctx.name, "secure": self.ctx.secure},
            "info": self.login_info,
            "type": 1,
            "timestamp": now_millis(),
            "user": user,
            "token": session_token,
            "address": self.remote.map(|r| json!({"ip": r.ip().to_string(), "port": r.port()})),
        });
        Ok(Some(self.reply(request).ok(session, Map::new(), false)))
    }

    /// Checks that a secure session is logged in, unexpired and not idle; expired and idle
    /// sessions are refused and end after the reply. Runs before any other validation.
    pub(super) fn check_session(&self) -> Result<(), Error> {
        if !self.ctx.secure {
            return Ok(());
        }
        let Some(auth) = self.handle.auth() else {
            return Err(Error::Unauthorized("please log in first".into()));
        };
        let now = now_millis();
        if auth.expires_at.is_some_and(|exp| now >= exp) {
            *self
                .end_after_reply
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some("token-expired");
            return Err(Error::Forbidden("expired session token".into()));
        }
        if let Some(threshold) = self.ctx.inactivity_threshold {
            let last = self.handle.touch();
            if now - last > threshold {
                *self
                    .end_after_reply
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some("inactivity-threshold");
                return Err(Error::Forbidden(
                    "session inactivity threshold reached".into(),
                ));
            }
        }
        Ok(())
    }

    /// Checks that this session may perform `action` on `path` (always true on insecure
    /// nodes).
    pub(super) fn authorize(&self, action: Action, path: &str) -> Result<(), Error> {
        if !self.ctx.secure {
            return Ok(());
        }
        let Some(auth) = self.handle.auth() else {
            return Err(Error::Unauthorized("please log in first".into()));
        };
        let path = crate::path::normalise(path);
        if auth.permissions.allows(action, &path) {
            Ok(())
        } else {
            Err(Error::Forbidden("unauthorized".into()))
        }
    }

    /// `revoke-token`: the session's token can no longer be used, and every other session
    /// created from it ends now; this one ends after its reply.
    pub(super) async fn revoke_token(&mut self, request: &Request) -> HandlerResult {
        let Some(auth) = self.handle.auth() else {
            return Ok(Some(self.reply(request).ok(Value::Null, Map::new(), false)));
        };
        self.handle.set_closing_itself();
        if let Err(e) = self.ctx.security.revoke_token(&auth.token).await {
            self.handle.clear_closing_itself();
            return Err(e);
        }
        self.send(self.reply(request).ok(Value::Null, Map::new(), false));
        self.handle.close_after_queue(false);
        Ok(None)
    }

    /// `disconnect-child-sessions`: ends the other sessions created from this session's token.
    pub(super) fn disconnect_children(&mut self, request: &Request) -> HandlerResult {
        if let Some(auth) = self.handle.auth() {
            for session in self.ctx.sessions() {
                if session.id != self.handle.id && session.auth().is_some_and(|a| a.sid == auth.sid)
                {
                    session.terminate("parent-session-ended", false);
                }
            }
        }
        Ok(Some(self.reply(request).ok(Value::Null, Map::new(), false)))
    }
}

impl Session {
    /// The permissions of a restricted (secure, non-admin) session; None when nothing needs
    /// per-record filtering. Prohibits apply per record, not only to a query's text.
    pub(super) fn restricted(&self) -> Option<Arc<crate::security::PermissionSet>> {
        if !self.ctx.secure {
            return None;
        }
        self.handle
            .auth()
            .map(|a| a.permissions.clone())
            .filter(|p| !p.is_admin())
    }
}
