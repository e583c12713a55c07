//! Session tokens: HS256 JSON Web Tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a token asserts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub username: String,
    /// The session the token was issued to (its family id: revoking ends every session
    /// created from the token).
    pub sid: String,
    /// Issued at (ms since epoch).
    pub iat: i64,
    /// Expires at (ms since epoch), if the token has a ttl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Groups asserted by the auth plugin at login (used for users not in the store).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Name of the node that issued it.
    #[serde(default)]
    pub origin: String,
    /// happn session type: 1 stateful (websocket), 0 stateless (HTTP).
    #[serde(rename = "type", default)]
    pub kind: u8,
    /// Which auth plugin verified the user (`store` for stored users).
    #[serde(default)]
    pub src: String,
    /// The stored user's id at issue time: a deleted and re-created user does not inherit
    /// old tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The profile policy the token was issued under (ttl, inactivity, token logins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<super::profiles::Policy>,
    /// The id of the user directory (database) that issued it: within one directory the
    /// user id must match; another server sharing the secret checks the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("invalid token format")]
    Malformed,
    /// The signature does not match (tampered, or another cluster's secret).
    #[error("invalid token signature")]
    BadSignature,
    /// Past its expiry.
    #[error("expired session token")]
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs `claims` with `secret`.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(
        mac(secret, signing_input.as_bytes())
            .finalize()
            .into_bytes(),
    );
    format!("{signing_input}.{signature}")
}

fn mac(secret: &[u8], input: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(b"-").expect("static key"));
    mac.update(input);
    mac
}

/// Verifies signature and expiry (`now` in ms) and returns the claims.
pub fn verify(token: &str, secret: &[u8], now: i64) -> Result<Claims, TokenError> {
    if token.len() > 16 * 1024 {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header_json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: serde_json::Value =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(TokenError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..token.len() - token.rsplit('.').next().map_or(0, str::len) - 1];
    mac(secret, signing_input.as_bytes())
        .verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if claims.exp.is_some_and(|exp| now >= exp) {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: Option<i64>) -> Claims {
        Claims {
            username: "u".into(),
            sid: "s".into(),
            iat: 1,
            exp,
            groups: vec!["g".into()],
            origin: "n".into(),
            kind: 1,
            src: "store".into(),
            uid: Some("id".into()),
            policy: None,
            dir: Some("d".into()),
        }
    }

    #[test]
    fn sign_verify_tamper_expire() {
        let token = sign(&claims(None), b"0123456789abcdef");
        assert_eq!(
            verify(&token, b"0123456789abcdef", 5).unwrap(),
            claims(None)
        );
        assert_eq!(
            verify(&token, b"another-secret!!", 5),
            Err(TokenError::BadSignature)
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut forged = claims(None);
        forged.username = "_ADMIN".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            verify(&parts.join("."), b"0123456789abcdef", 5),
            Err(TokenError::BadSignature)
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
            assert!(verify(bad, b"0123456789abcdef", 5).is_err(), "{bad}");
        }
        let expiring = sign(&claims(Some(10)), b"0123456789abcdef");
        assert!(verify(&expiring, b"0123456789abcdef", 9).is_ok());
        assert_eq!(
            verify(&expiring, b"0123456789abcdef", 10),
            Err(TokenError::Expired)
        );
    }
}
