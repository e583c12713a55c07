//! Logins: passwords under the lockout rules, tokens, the network `_ADMIN` refusal.

use std::sync::Arc;

use happn_cluster_sdk::{Credentials, Error, Identity, Result, now_millis};
use serde_json::json;

use super::lockout::Outcome;
use super::login_queue::queue_timeout;
use super::model::{ADMIN, ANONYMOUS};
use super::permissions::PermissionSet;
use super::service::{MAX_CREDENTIAL_BYTES, SecurityService};
use super::token::{self, Claims};
use crate::names::{GroupName, UserName};

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// Who logged in.
    pub identity: Identity,
    /// What they may do.
    pub permissions: Arc<PermissionSet>,
    /// Their session token.
    pub token: String,
    /// The token's claims.
    pub claims: Claims,
}

impl SecurityService {
    /// Verifies a password under the lockout rules. The verification runs to its end in its
    /// own task, holding its turn and a verification permit, so a client that hangs up
    /// mid-way neither skips the count nor frees CPU for the next guess early.
    async fn verify_password(
        &self,
        username: String,
        password: String,
        remote: Option<std::net::IpAddr>,
    ) -> Result<Identity> {
        // Every wait happens here, before the verification task exists: a request dropped
        // while waiting is never verified; once verifying, it runs to the end.
        let deadline = tokio::time::Instant::now() + self.login_queue.wait();
        let ticket = self.login_queue.enter(remote, deadline).await?;
        let attempt = tokio::time::timeout_at(deadline, self.lockout.begin(&username, remote))
            .await
            .map_err(|_| queue_timeout())??;
        let permit =
            match tokio::time::timeout_at(deadline, self.verifications.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(Error::unavailable("security service stopping")),
                Err(_) => return Err(queue_timeout()),
            };
        let auth = self.auth.clone();
        let verification = tokio::spawn(async move {
            let (_ticket, _permit) = (ticket, permit);
            let verified = auth
                .verify(&Credentials::Password {
                    username: username.clone(),
                    password,
                })
                .await;
            let outcome = match &verified {
                Ok(_) => Outcome::Success,
                Err(Error::Unauthorized(_)) => Outcome::Failure {
                    account: auth.account_exists(&username).await.ok().flatten(),
                },
                Err(_) => Outcome::NotCounted,
            };
            attempt.finish(outcome);
            verified
        });
        match verification.await {
            Ok(Ok(identity)) => Ok(identity),
            Ok(Err(Error::Unauthorized(_))) => {
                Err(Error::Unauthorized("Invalid credentials".into()))
            }
            Ok(Err(other)) => Err(other),
            Err(e) => Err(Error::internal(format!(
                "password verification failed: {e}"
            ))),
        }
    }

    /// With `disableDefaultAdminNetworkConnections`, `_ADMIN` may not log in over the network
    /// (every login through a socket is one); happn-3's error text.
    fn refuse_network_admin(&self, username: &str) -> Result<()> {
        if self.config.disable_default_admin_network_connections && username == ADMIN {
            return Err(Error::Forbidden(
                "use of _ADMIN credentials over the network is disabled".into(),
            ));
        }
        Ok(())
    }

    /// Calls `share` with every login outcome counted on this node, as a message for the
    /// other nodes (`{name, failed, account}`): the cluster counts an account's failures
    /// together, so N nodes do not give N times the guesses.
    pub fn share_login_outcomes(&self, share: impl Fn(serde_json::Value) + Send + Sync + 'static) {
        self.lockout.set_feed(Box::new(move |name, outcome| {
            let message = match outcome {
                Outcome::Success => serde_json::json!({"name": name, "failed": false}),
                Outcome::Failure { account } => {
                    serde_json::json!({"name": name, "failed": true, "account": account})
                }
                Outcome::NotCounted => return,
            };
            share(message);
        }));
    }

    /// Counts a login outcome another node shared (see [`Self::share_login_outcomes`]);
    /// malformed messages are ignored.
    pub fn apply_shared_login_outcome(&self, message: &serde_json::Value) {
        let Some(name) = message.get("name").and_then(serde_json::Value::as_str) else {
            return;
        };
        if !UserName::is_valid(name) {
            return;
        }
        let outcome = match message.get("failed").and_then(serde_json::Value::as_bool) {
            Some(true) => Outcome::Failure {
                account: message.get("account").and_then(serde_json::Value::as_bool),
            },
            Some(false) => Outcome::Success,
            None => return,
        };
        self.lockout.apply_remote(name, outcome);
    }

    /// Failed-login bookkeeping: (accounts, unknown names, addresses) with failures on record.
    pub fn lockout_tracked(&self) -> (usize, usize, usize) {
        self.lockout.tracked()
    }

    /// Logs in with credentials (password, token or anonymous) for the session `at`
    /// describes.
    pub async fn login(&self, credentials: Credentials, at: &LoginContext) -> Result<LoginOutcome> {
        // Per-address limits count an IPv6 /64 as one address.
        let remote = at.remote.map(happn_cluster_sdk::address_group);
        match credentials {
            Credentials::Anonymous => {
                if !self.config.allow_anonymous_access {
                    return Err(Error::Unauthorized("Anonymous access is disabled".into()));
                }
                self.check_source_address(ANONYMOUS, at)?;
                let identity = self
                    .identity(ANONYMOUS)
                    .await?
                    .ok_or_else(|| Error::Unauthorized("Invalid credentials".into()))?;
                self.issue(identity, at).await
            }
            Credentials::Token(token) => {
                let outcome = self.login_with_token(&token, at).await?;
                self.refuse_network_admin(&outcome.identity.username)?;
                Ok(outcome)
            }
            Credentials::Password { username, password } => {
                let username = self.canonical_username(&username);
                self.refuse_network_admin(&username)?;
                if username.is_empty() || password.is_empty() {
                    return Err(Error::Unauthorized("Invalid credentials".into()));
                }
                if username.len() > MAX_CREDENTIAL_BYTES || password.len() > MAX_CREDENTIAL_BYTES {
                    return Err(Error::bad_input("credentials are too long"));
                }
                // A name that cannot be a user (e.g. one reaching into membership records)
                // is simply wrong credentials; `_ANONYMOUS` has no password.
                if !UserName::is_valid(&username) || username == ANONYMOUS {
                    return Err(Error::Unauthorized("Invalid credentials".into()));
                }
                self.check_source_address(&username, at)?;
                let mut identity = self.verify_password(username, password, remote).await?;
                if !self.uses_store() {
                    // Group names from a third-party plugin become paths: keep only valid ones.
                    identity.groups.retain(|g| GroupName::is_valid(g));
                }
                self.issue(identity, at).await
            }
        }
    }

    /// happn-3's `sourceIPWhitelist`: a profile that applies to the user may restrict the
    /// addresses it logs in from.
    fn check_source_address(&self, username: &str, at: &LoginContext) -> Result<()> {
        if self
            .profiles
            .address_allowed(&json!({"username": username}), at.remote)
        {
            Ok(())
        } else {
            Err(Error::Unauthorized(
                "Source address access restricted".into(),
            ))
        }
    }

    /// The session a verified identity gets: its permissions, its profile's policy, and a
    /// token carrying both the policy and this directory's id.
    async fn issue(&self, identity: Identity, at: &LoginContext) -> Result<LoginOutcome> {
        let permissions = Arc::new(self.permissions_for(&identity).await?);
        let policy = self.profiles.policy_for(&profile_view(&identity, at));
        let now = now_millis();
        let ttl = match policy.ttl {
            0 => self.config.session_ttl.map(|ttl| ttl.0),
            ttl => Some(ttl),
        };
        let claims = Claims {
            username: identity.username.clone(),
            sid: at.session_id.clone(),
            iat: now,
            exp: ttl.map(|ttl| now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))),
            groups: identity.groups.clone(),
            origin: self.node_name.clone(),
            kind: at.kind,
            src: self.auth_name.to_string(),
            uid: identity.user_id.clone(),
            policy: Some(policy),
            dir: Some(self.directory_id()),
        };
        let token = token::sign(&claims, &self.secret());
        Ok(LoginOutcome {
            identity,
            permissions,
            token,
            claims,
        })
    }

    async fn login_with_token(&self, token: &str, at: &LoginContext) -> Result<LoginOutcome> {
        let (claims, identity) = self.verify_token(token).await?;
        let policy = claims.policy.clone().unwrap_or_default();
        if policy.disallow_token_logins {
            return Err(Error::Forbidden(
                "logins with this token are disallowed by policy".into(),
            ));
        }
        if policy.lock_token_to_origin && claims.origin != self.node_name {
            return Err(Error::Forbidden(
                "this token is locked to a different origin by policy".into(),
            ));
        }
        self.check_source_address(&identity.username, at)?;
        let permissions = Arc::new(self.permissions_for(&identity).await?);
        Ok(LoginOutcome {
            identity,
            permissions,
            token: token.to_string(),
            claims,
        })
    }
}

/// Where a login comes from.
#[derive(Debug, Clone, Default)]
pub struct LoginContext {
    /// The session being logged in (the token's family id for a new token).
    pub session_id: String,
    /// The client's address.
    pub remote: Option<std::net::IpAddr>,
    /// The login's `info` (profiles match on it).
    pub info: serde_json::Value,
    /// happn's session type: 1 stateful (websocket), 0 stateless (HTTP).
    pub kind: u8,
}

/// The session as profiles see it: happn-3's `{user: {username, groups: {name: {}}, …},
/// info, type}`.
fn profile_view(identity: &Identity, at: &LoginContext) -> serde_json::Value {
    let groups: serde_json::Map<String, serde_json::Value> = identity
        .groups
        .iter()
        .map(|g| (g.clone(), json!({})))
        .collect();
    json!({
        "id": at.session_id,
        "type": at.kind,
        "info": if at.info.is_null() { json!({}) } else { at.info.clone() },
        "user": {
            "username": identity.username,
            "userid": identity.user_id,
            "custom_data": identity.custom_data,
            "groups": groups,
        },
    })
}
