//! Templated permission paths, as happn-3 has them: `{{user.username}}` or
//! `{{user.custom_data.team}}` in a permission path is replaced by the session user's value.
//! An array value gives one path per element; a missing value, or one holding `*` (which
//! would widen the grant), drops the permission.

use serde_json::Value;

/// Most paths one templated permission may expand to (arrays multiply).
const MAX_EXPANSIONS: usize = 1024;

/// Why a templated path grants nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The context has no value at the key.
    #[error("no value for {{{{{0}}}}}")]
    Missing(String),
    /// The value would widen the permission (it holds `*`) or is not a scalar.
    #[error("value of {{{{{0}}}}} cannot be used in a permission path")]
    Unusable(String),
    /// Arrays multiplied past the bound.
    #[error("the template expands to more than {MAX_EXPANSIONS} paths")]
    TooMany,
    /// `{{` without a closing `}}`.
    #[error("unclosed {{{{ in the permission path")]
    Unclosed,
}

/// The paths `template` stands for in `context` (a JSON object such as
/// `{"user": {"username": …, "custom_data": …}}`). A path without `{{` is itself. `{{w}}` is
/// happn's escape of `*` in record paths and is not a template.
pub fn expand(template: &str, context: &Value) -> Result<Vec<String>, TemplateError> {
    if !template.contains("{{") {
        return Ok(vec![template.to_string()]);
    }
    let mut paths = vec![String::new()];
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let literal = &rest[..start];
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let key = after[..end].trim();
        let values = values_at(context, key)?;
        if paths.len() * values.len() > MAX_EXPANSIONS {
            return Err(TemplateError::TooMany);
        }
        paths = paths
            .iter()
            .flat_map(|path| {
                values
                    .iter()
                    .map(move |value| format!("{path}{literal}{value}"))
            })
            .collect();
        rest = &after[end + 2..];
    }
    for path in &mut paths {
        path.push_str(rest);
    }
    Ok(paths)
}

/// The text values at a dotted `key` (`user.custom_data.team`).
fn values_at(context: &Value, key: &str) -> Result<Vec<String>, TemplateError> {
    let mut at = context;
    for part in key.split('.') {
        at = at
            .get(part)
            .ok_or_else(|| TemplateError::Missing(key.to_string()))?;
    }
    let scalar = |value: &Value| -> Result<String, TemplateError> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(TemplateError::Unusable(key.to_string())),
        };
        if text.contains('*') {
            return Err(TemplateError::Unusable(key.to_string()));
        }
        Ok(text)
    };
    match at {
        Value::Null => Err(TemplateError::Missing(key.to_string())),
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn substitutes_multiplies_and_refuses_widening() {
        let context = json!({"user": {"username": "alice", "custom_data": {
            "team": "red", "regions": ["eu", "us"], "sneaky": "a*", "n": 7, "deep": {"x": "y"}
        }}});
        assert_eq!(expand("/plain/*", &context).unwrap(), vec!["/plain/*"]);
        assert_eq!(
            expand("/users/{{user.username}}/**", &context).unwrap(),
            vec!["/users/alice/**"]
        );
        assert_eq!(
            expand(
                "/t/{{ user.custom_data.team }}/{{user.custom_data.regions}}/{{user.custom_data.n}}",
                &context
            )
            .unwrap(),
            vec!["/t/red/eu/7", "/t/red/us/7"]
        );
        assert_eq!(
            expand("/x/{{user.custom_data.missing}}", &context),
            Err(TemplateError::Missing("user.custom_data.missing".into()))
        );
        assert!(matches!(
            expand("/x/{{user.custom_data.sneaky}}", &context),
            Err(TemplateError::Unusable(_))
        ));
        assert!(matches!(
            expand("/x/{{user.custom_data.deep}}", &context),
            Err(TemplateError::Unusable(_))
        ));
        assert_eq!(expand("/x/{{user", &context), Err(TemplateError::Unclosed));
        let wide = json!({"a": (0..40).map(|i| i.to_string()).collect::<Vec<_>>()});
        assert_eq!(
            expand("/{{a}}/{{a}}", &wide),
            Err(TemplateError::TooMany),
            "40 x 40 > 1024"
        );
    }
}
