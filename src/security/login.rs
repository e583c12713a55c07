//! Logins: passwords under the lockout rules, tokens, the network `_ADMIN` refusal.

use std::sync::Arc;

use happn_cluster_sdk::{Credentials, Error, Identity, Result, now_millis};

use super::lockout::Outcome;
use super::login_queue::queue_timeout;
use super::model::ADMIN;
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

    /// Logs in with credentials (password, token or anonymous) for session `session_id`,
    /// connected from `remote`.
    pub async fn login(
        &self,
        credentials: Credentials,
        session_id: &str,
        remote: Option<std::net::IpAddr>,
    ) -> Result<LoginOutcome> {
        // Per-address limits count an IPv6 /64 as one address.
        let remote = remote.map(happn_cluster_sdk::address_group);
        match credentials {
            Credentials::Anonymous => {
                Err(Error::Unauthorized("Anonymous access is disabled".into()))
            }
            Credentials::Token(token) => {
                let outcome = self.login_with_token(&token).await?;
                self.refuse_network_admin(&outcome.identity.username)?;
                Ok(outcome)
            }
            Credentials::Password { username, password } => {
                self.refuse_network_admin(&username)?;
                if username.is_empty() || password.is_empty() {
                    return Err(Error::Unauthorized("Invalid credentials".into()));
                }
                if username.len() > MAX_CREDENTIAL_BYTES || password.len() > MAX_CREDENTIAL_BYTES {
                    return Err(Error::bad_input("credentials are too long"));
                }
                // A name that cannot be a user (e.g. one reaching into membership records)
                // is simply wrong credentials.
                if !UserName::is_valid(&username) {
                    return Err(Error::Unauthorized("Invalid credentials".into()));
                }
                let mut identity = self.verify_password(username, password, remote).await?;
                if !self.uses_store() {
                    // Group names from a third-party plugin become paths: keep only valid ones.
                    identity.groups.retain(|g| GroupName::is_valid(g));
                }
                let permissions = Arc::new(self.permissions_for_groups(&identity.groups).await?);
                let now = now_millis();
                let claims = Claims {
                    username: identity.username.clone(),
                    sid: session_id.to_string(),
                    iat: now,
                    exp: self.config.session_ttl.map(|ttl| now + ttl.0 as i64),
                    groups: identity.groups.clone(),
                    origin: self.node_name.clone(),
                    kind: 1,
                    src: self.auth_name.to_string(),
                    uid: identity.user_id.clone(),
                };
                let token = token::sign(&claims, &self.secret());
                Ok(LoginOutcome {
                    identity,
                    permissions,
                    token,
                    claims,
                })
            }
        }
    }

    async fn login_with_token(&self, token: &str) -> Result<LoginOutcome> {
        let (claims, identity) = self.verify_token(token).await?;
        let permissions = Arc::new(self.permissions_for_groups(&identity.groups).await?);
        Ok(LoginOutcome {
            identity,
            permissions,
            token: token.to_string(),
            claims,
        })
    }
}
