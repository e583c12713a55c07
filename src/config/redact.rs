//! The effective config with its secrets hidden, for printing (`config check`, logs).

use serde_json::Value;

use super::Config;

/// Shown instead of a secret.
pub const REDACTED: &str = "<redacted>";

/// Keys whose values are secrets wherever they appear (plugin settings included).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "sessionTokenSecret",
    "clusterSecret",
    "previousClusterSecrets",
    "secret",
    "clientSecret",
    "token",
    "apiKey",
    "accessKey",
    "secretKey",
    "privateKey",
    "passphrase",
    "credentials",
];

/// `config` as JSON with every secret replaced by [`REDACTED`] and the password of any
/// `scheme://user:password@host` URL hidden.
pub fn redacted(config: &Config) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or(Value::Null);
    // Iterative, so no input depth can exhaust the stack.
    let mut pending: Vec<&mut Value> = vec![&mut value];
    while let Some(node) = pending.pop() {
        match node {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) && !child.is_null() {
                        *child = Value::String(REDACTED.into());
                    } else {
                        pending.push(child);
                    }
                }
            }
            Value::Array(items) => pending.extend(items.iter_mut()),
            Value::String(text) => {
                if let Some(hidden) = hide_url_password(text) {
                    *text = hidden;
                }
                if let Some(hidden) = hide_password_parameters(text) {
                    *text = hidden;
                }
            }
            _ => {}
        }
    }
    value
}

/// `scheme://user:password@rest` as `scheme://user:<redacted>@rest`; None for anything else.
fn hide_url_password(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let (userinfo, host) = rest.split_once('@')?;
    if userinfo.contains('/') {
        return None;
    }
    let (user, _password) = userinfo.split_once(':')?;
    Some(format!("{scheme}://{user}:{REDACTED}@{host}"))
}

/// `…password=secret…` (a URL query or a libpq key=value string) with the value hidden;
/// None when there is no such parameter.
fn hide_password_parameters(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("password=") && !lower.contains("pwd=") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest
        .to_ascii_lowercase()
        .find("password=")
        .map(|i| (i, "password=".len()))
        .or_else(|| {
            rest.to_ascii_lowercase()
                .find("pwd=")
                .map(|i| (i, "pwd=".len()))
        })
    {
        let (start, key_len) = at;
        let value_start = start + key_len;
        out.push_str(&rest[..value_start]);
        out.push_str(REDACTED);
        let value_end = rest[value_start..]
            .find(['&', ' ', ';'])
            .map_or(rest.len(), |i| value_start + i);
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_the_rest_is_kept() {
        let mut config = Config::default();
        config.services.security.config.admin_user.password = "admin-pw".into();
        config.services.orchestrator.config.cluster_secret = Some("cluster-secret-0123".into());
        config.services.security.config.session_token_secret = Some("token-secret".into());
        config.services.data.config.datastores = vec![super::super::DatastoreConfig::new(
            "db",
            "postgres",
            serde_json::json!({"url": "postgres://app:db-pw@db:5432/happn"}),
        )];
        let text = redacted(&config).to_string();
        for secret in ["admin-pw", "cluster-secret-0123", "db-pw", "token-secret"] {
            assert!(!text.contains(secret), "{secret} printed: {text}");
        }
        assert!(
            text.contains("postgres://app:<redacted>@db:5432/happn"),
            "{text}"
        );
        assert!(
            text.contains("happn-cluster-node"),
            "the rest stays: {text}"
        );
    }
}
