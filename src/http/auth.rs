//! `/auth/login` (credentials → token) and `/auth/session` (token → who am I). Tokens are
//! read from `Authorization: Bearer`, the `happn_token` cookie or the `happn_token` query
//! parameter.

use happn_cluster_sdk::{Credentials, Error, HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::HttpState;
use crate::protocol::wire_error;
use crate::security::LoginContext;

/// Decodes `application/x-www-form-urlencoded` text.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or(())
                {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of a query parameter.
fn query_param(request: &HttpRequest, names: &[&str]) -> Option<String> {
    let query = request.query.as_deref()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        names.contains(&decode(key).as_str()).then(|| decode(value))
    })
}

/// The token a request carries, if any.
pub fn request_token(request: &HttpRequest) -> Option<String> {
    if let Some(bearer) = request.header("authorization").and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    }) {
        return Some(bearer.trim().to_string());
    }
    if let Some(cookie) = request.header("cookie") {
        for part in cookie.split(';') {
            if let Some(token) = part.trim().strip_prefix("happn_token=") {
                return Some(token.to_string());
            }
        }
    }
    query_param(request, &["happn_token"])
}

fn failure(status: u16, error: &Error) -> HttpResponse {
    HttpResponse::json(
        status,
        &json!({"message": "login failed", "data": null, "error": wire_error(error)}),
    )
}

/// `GET /auth/login?username=…&password=…` or `POST` with a JSON body.
pub async fn login(ctx: &HttpState, request: &HttpRequest) -> HttpResponse {
    if !ctx.secure {
        return HttpResponse::json(
            404,
            &json!({"message": "this node is not secure: there is nothing to log in to"}),
        );
    }
    let (username, password) = match request.method.as_str() {
        "GET" => (
            query_param(request, &["username", "user", "u"]),
            query_param(request, &["password", "pwd", "pass", "p"]),
        ),
        "POST" => match serde_json::from_slice::<Value>(&request.body) {
            Ok(body) => (
                body.get("username")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                body.get("password")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            Err(e) => {
                return failure(400, &Error::bad_input(format!("body must be JSON: {e}")));
            }
        },
        _ => return HttpResponse::text(405, "method not allowed"),
    };
    let (Some(username), Some(password)) = (username, password) else {
        return failure(401, &Error::Unauthorized("Invalid credentials".into()));
    };
    let session_id = uuid::Uuid::new_v4().to_string();
    match ctx
        .security
        .login(
            Credentials::Password { username, password },
            &LoginContext {
                session_id,
                remote: request.remote.map(|r| r.ip()),
                info: json!({}),
                // An HTTP login makes a stateless session (happn's type 0).
                kind: 0,
            },
        )
        .await
    {
        Ok(outcome) => HttpResponse::json(
            200,
            &json!({"message": "login successful", "data": outcome.token, "error": null}),
        ),
        Err(e @ (Error::Unauthorized(_) | Error::Forbidden(_))) => failure(401, &e),
        Err(e @ Error::BadInput(_)) => failure(400, &e),
        Err(e @ Error::Unavailable(_)) => failure(503, &e),
        Err(e) => failure(500, &e),
    }
}

/// Passes requests carrying a valid token of an `_ADMIN` group member; answers the rest
/// with 401 (no or bad token) or 403 (not an administrator).
pub async fn require_admin(ctx: &HttpState, request: &HttpRequest) -> Result<(), HttpResponse> {
    let Some(token) = request_token(request) else {
        return Err(HttpResponse::text(
            401,
            "an _ADMIN token is required here (Authorization: Bearer …)",
        ));
    };
    match ctx.security.verify_token(&token).await {
        Ok((_, identity)) if identity.groups.iter().any(|g| g == "_ADMIN") => Ok(()),
        Ok(_) => Err(HttpResponse::text(403, "only _ADMIN members may read this")),
        Err(e) => Err(HttpResponse::text(401, e.to_string())),
    }
}

/// `GET /auth/session`: the identity behind the request's token.
pub async fn session(ctx: &HttpState, request: &HttpRequest) -> HttpResponse {
    let Some(token) = request_token(request) else {
        let mut response = HttpResponse::text(401, "invalid token format or null token");
        response
            .headers
            .push(("www-authenticate".into(), "happn-auth".into()));
        return response;
    };
    match ctx.security.verify_token(&token).await {
        Ok((claims, identity)) => HttpResponse::json(
            200,
            &json!({"username": identity.username, "groups": identity.groups, "sid": claims.sid, "expires": claims.exp}),
        ),
        Err(e) => {
            let mut response = HttpResponse::text(401, e.message().to_string());
            response
                .headers
                .push(("www-authenticate".into(), "happn-auth".into()));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_token_sources() {
        assert_eq!(decode("a%20b+c%2"), "a b c%2");
        assert_eq!(decode("%zz"), "%zz");
        let request = HttpRequest {
            query: Some("u=bob&p=p%26w".into()),
            headers: vec![("cookie".into(), "x=1; happn_token=abc".into())],
            ..HttpRequest::default()
        };
        assert_eq!(query_param(&request, &["u"]).as_deref(), Some("bob"));
        assert_eq!(query_param(&request, &["p"]).as_deref(), Some("p&w"));
        assert_eq!(request_token(&request).as_deref(), Some("abc"));
    }
}
