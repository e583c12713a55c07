//! Session-level security: login, token revocation, ending child sessions.

use std::sync::Arc;

use happn_cluster_sdk::{Credentials, Error, now_millis};
use serde_json::{Map, Value, json};

use super::{HandlerResult, Session, SessionAuth};
use crate::protocol::options::LoginRequest;
use crate::protocol::{Frame, PROTOCOL};
use crate::security::{LoginContext, Policy};

impl Session {
    /// Logs the session in. Open nodes accept anyone; secure nodes verify credentials
    /// (password, token) and attach the user's permissions.
    pub(super) async fn login(&mut self, frame: &Frame, login: &LoginRequest) -> HandlerResult {
        let secure = self.ctx.access.is_secure();
        let mut user = Value::Null;
        let mut session_token = Value::Null;
        let mut policy = Policy::default();
        if self.logged_in && secure {
            // Switching users on a live socket would carry subscriptions across identities.
            return Err(Error::bad_input(
                "this session is already logged in; connect again to log in as someone else",
            ));
        }
        if secure {
            // As happn-3 decides: a token wins; `_ANONYMOUS` (with or without a password) is an
            // anonymous login; anything short of a username and a password is wrong credentials.
            let credentials = match (&login.username, &login.password, &login.token) {
                (_, _, Some(token)) => Credentials::Token(token.clone()),
                (Some(username), _, None) if username == "_ANONYMOUS" => Credentials::Anonymous,
                (Some(username), Some(password), None) => Credentials::Password {
                    username: username.clone(),
                    password: password.clone(),
                },
                (Some(_), None, None) | (None, _, None) => {
                    return Err(Error::Unauthorized("Invalid credentials".into()));
                }
            };
            let outcome = self
                .ctx
                .security
                .login(
                    credentials,
                    &LoginContext {
                        session_id: self.handle.id.clone(),
                        remote: self.remote.map(|r| r.ip()),
                        info: login.info.clone(),
                        kind: 1,
                    },
                )
                .await?;
            policy = outcome.claims.policy.clone().unwrap_or_default();
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
                inactivity_threshold: (policy.inactivity_threshold > 0)
                    .then(|| i64::try_from(policy.inactivity_threshold).unwrap_or(i64::MAX)),
                profile: policy.profile.clone(),
            })));
        } else {
            self.username = login.username.clone();
            if let Some(name) = &self.username {
                user = json!({"username": name});
            }
        }
        self.login_info = login.info.clone();
        self.logged_in = true;
        self.handle.touch();
        let session = json!({
            "id": self.handle.id,
            "protocol": self.protocol.as_deref().unwrap_or(PROTOCOL),
            "happn": {"name": self.ctx.name, "secure": secure},
            "info": self.login_info,
            "type": 1,
            "timestamp": now_millis(),
            "user": user,
            "token": session_token,
            "policy": {"1": policy},
            "address": self.remote.map(|r| json!({"ip": r.ip().to_string(), "port": r.port()})),
        });
        Ok(Some(self.reply(frame).ok(session, Map::new(), false)))
    }

    /// `revoke-token`: the session's token can no longer be used, and every other session
    /// created from it ends now; this one ends after its reply.
    pub(super) async fn revoke_token(&mut self, frame: &Frame) -> HandlerResult {
        let Some(auth) = self.handle.auth() else {
            return Ok(Some(self.reply(frame).ok(Value::Null, Map::new(), false)));
        };
        self.handle.set_closing_itself();
        if let Err(e) = self.ctx.security.revoke_token(&auth.token).await {
            self.handle.clear_closing_itself();
            return Err(e);
        }
        self.send(self.reply(frame).ok(Value::Null, Map::new(), false));
        self.handle.close_after_queue(false);
        Ok(None)
    }

    /// `disconnect-child-sessions`: ends the other sessions created from this session's token.
    pub(super) fn disconnect_children(&mut self, frame: &Frame) -> HandlerResult {
        if let Some(auth) = self.handle.auth() {
            for session in self.ctx.sessions.all() {
                if session.id != self.handle.id && session.auth().is_some_and(|a| a.sid == auth.sid)
                {
                    // happn-3's reason: the children lose their parent's token.
                    session.terminate("token-revoked", false);
                }
            }
        }
        Ok(Some(self.reply(frame).ok(Value::Null, Map::new(), false)))
    }
}
