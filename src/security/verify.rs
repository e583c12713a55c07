//! Token verification (signature, expiry, revocation, the user still present) and
//! revocation.

use happn_cluster_sdk::{Error, Identity, Result, now_millis};
use serde_json::{Map, Value};

use super::events::SecurityEvent;
use super::model::*;
use super::service::{MAX_CREDENTIAL_BYTES, SecurityService};
use super::store_auth::load_user;
use super::token::{self, Claims, TokenError};
use crate::names::{GroupName, UserName};

impl SecurityService {
    /// claims and the user's current identity.
    pub async fn verify_token(&self, token: &str) -> Result<(Claims, Identity)> {
        if token.is_empty() || token.len() > MAX_CREDENTIAL_BYTES * 4 {
            return Err(Error::Unauthorized(
                "invalid token format or null token".into(),
            ));
        }
        let claims = token::verify(token, &self.secret(), now_millis()).map_err(|e| match e {
            TokenError::Expired => Error::Unauthorized("expired session token".into()),
            // happn-3's text for any token it cannot decode or verify.
            _ => Error::Unauthorized("Invalid credentials: invalid session token".into()),
        })?;
        if self.is_revoked(&claims.sid).await? {
            return Err(Error::Forbidden("token has been revoked".into()));
        }
        let identity = if claims.src == "store" {
            // Stored users: the user must still exist, be the same user (not a re-created
            // namesake), and gets its current groups.
            let store = self.data.route(USER_PREFIX).clone();
            let loaded = match UserName::parse(&claims.username) {
                Ok(username) => load_user(store.as_ref(), &username).await?,
                Err(_) => None,
            };
            // A token from this directory names a user record (its id must match); one
            // from another server sharing the secret names a user, as happn-3 has it,
            // unless `lockTokenToUserId` asks for the id there too.
            let same_directory = claims
                .dir
                .as_deref()
                .is_none_or(|dir| dir == self.directory_id());
            let check_id = same_directory || self.config.lock_token_to_user_id;
            match loaded {
                Some((user, groups))
                    if !check_id || claims.uid.as_deref() == Some(user.userid.as_str()) =>
                {
                    Identity {
                        username: user.username,
                        user_id: Some(user.userid),
                        groups,
                        custom_data: user.custom_data,
                    }
                }
                // The user is gone or is a re-created namesake: happn-3's text.
                _ => return Err(Error::Unauthorized("Invalid credentials".into())),
            }
        } else if claims.src == self.auth_name {
            // Users verified by a third-party plugin keep the groups asserted at login.
            Identity {
                username: claims.username.clone(),
                user_id: claims.uid.clone(),
                groups: claims
                    .groups
                    .iter()
                    .filter(|g| GroupName::is_valid(g))
                    .cloned()
                    .collect(),
                custom_data: Value::Null,
            }
        } else {
            // Issued by another authentication source.
            return Err(Error::Unauthorized(
                "Invalid credentials: invalid session token".into(),
            ));
        };
        Ok((claims, identity))
    }

    /// Revokes a token: it can no longer log in, and sessions created from it should end
    /// (the node does that on the [`SecurityEvent::TokenRevoked`] event).
    pub async fn revoke_token(&self, token: &str) -> Result<Claims> {
        let claims = token::verify(token, &self.secret(), now_millis())
            .or_else(|e| match e {
                // An expired token may still be revoked (harmlessly).
                TokenError::Expired => token_claims_unchecked(token),
                other => Err(other),
            })
            .map_err(|e| Error::Unauthorized(e.to_string()))?;
        if claims.exp.is_none() && !self.config.allow_ttl0_revocations {
            // happn-3's `allowTTL0Revocations: false`.
            return Err(Error::bad_input(
                "revoking a token without a ttl means it stays in the revocation list forever",
            ));
        }
        let mut data = Map::new();
        data.insert("username".into(), claims.username.clone().into());
        data.insert("revoked".into(), now_millis().into());
        data.insert(
            "expires".into(),
            claims.exp.map(Value::from).unwrap_or(Value::Null),
        );
        self.data
            .set(
                &format!("{REVOKED_PREFIX}{}", claims.sid),
                data,
                false,
                None,
            )
            .await?;
        self.emit(SecurityEvent::TokenRevoked {
            username: claims.username.clone(),
            sid: claims.sid.clone(),
        });
        Ok(claims)
    }

    async fn is_revoked(&self, sid: &str) -> Result<bool> {
        Ok(self
            .data
            .route(REVOKED_PREFIX)
            .find_one(&format!("{REVOKED_PREFIX}{sid}"))
            .await?
            .is_some())
    }

    /// Every revoked token family: `{sid, username, revoked, expires}` (ms since epoch;
    /// `expires` null for tokens without a ttl), oldest revocation first.
    pub async fn list_revoked_tokens(&self) -> Result<Vec<Value>> {
        let mut revoked: Vec<Value> = self
            .records_under(REVOKED_PREFIX)
            .await?
            .into_iter()
            .filter_map(|record| {
                let sid = record.path.strip_prefix(REVOKED_PREFIX)?.to_string();
                let mut entry = record.data;
                entry.insert("sid".into(), sid.into());
                Some(Value::Object(entry))
            })
            .collect();
        revoked.sort_by_key(|entry| entry.get("revoked").and_then(Value::as_i64).unwrap_or(0));
        Ok(revoked)
    }

    /// True if the token family `sid` has been revoked.
    pub async fn is_token_family_revoked(&self, sid: &str) -> Result<bool> {
        self.is_revoked(sid).await
    }
}

/// Claims of a token whose signature was already checked by the caller's flow (used only for
/// revoking expired tokens).
fn token_claims_unchecked(token: &str) -> std::result::Result<Claims, TokenError> {
    use base64::Engine;
    let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}
