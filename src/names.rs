//! Validated user and group names. A name becomes a path segment of the security records, so
//! it must be a non-empty run of happn path characters without `/` or `*`, at most 256 bytes,
//! with no surrounding whitespace. Parse once with [`UserName::parse`] / [`GroupName::parse`];
//! code holding the newtype never checks again.

use std::fmt;

/// The administrator's user and group name.
pub const ADMIN: &str = "_ADMIN";

/// The anonymous user's name (`allowAnonymousAccess`); no one else may take it.
pub const ANONYMOUS: &str = "_ANONYMOUS";

/// The permission-record segment under which users' own permissions live (so no group may
/// be called this).
pub const USER_PERMISSIONS_SEGMENT: &str = "_USER";

/// Longest accepted name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// Why a text is not a valid user or group name (the message names the kind).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(String);

impl From<NameError> for happn_cluster_sdk::Error {
    fn from(e: NameError) -> Self {
        happn_cluster_sdk::Error::BadInput(e.0)
    }
}

fn check(name: &str, kind: &str) -> Result<(), NameError> {
    let fail = |message: String| Err(NameError(message));
    if name.is_empty() {
        return fail(format!("{kind} name must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return fail(format!("{kind} name is longer than {MAX_NAME_BYTES} bytes"));
    }
    if name.trim() != name {
        return fail(format!(
            "{kind} name {name:?} must not start or end with whitespace"
        ));
    }
    if name.contains(['/', '*'])
        || !name
            .chars()
            .all(|c| c != '\u{0}' && crate::path::allowed_char(c))
    {
        return fail(format!(
            "{kind} name {name:?} may only contain letters, digits, spaces and ( ) {{ }} + = & : % @ . _ -"
        ));
    }
    if kind == "group" && name == USER_PERMISSIONS_SEGMENT {
        // Users' own permissions live under this segment of the permission records.
        return fail(format!("{kind} name {name:?} is reserved"));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks `text` and wraps it.
            pub fn parse(text: &str) -> Result<Self, NameError> {
                check(text, $kind)?;
                Ok($name(text.to_string()))
            }

            /// The administrator (`_ADMIN`).
            pub fn admin() -> Self {
                $name(ADMIN.to_string())
            }

            /// True if `text` would parse.
            pub fn is_valid(text: &str) -> bool {
                check(text, $kind).is_ok()
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
    };
}

name_type!(
    /// A valid user name.
    UserName,
    "user"
);
name_type!(
    /// A valid group name.
    GroupName,
    "group"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_once_with_clear_messages() {
        assert_eq!(UserName::parse("bob").map(String::from), Ok("bob".into()));
        assert!(GroupName::parse("ops team (eu)").is_ok());
        assert_eq!(
            UserName::parse("").unwrap_err().to_string(),
            "user name must not be empty"
        );
        assert!(
            GroupName::parse("a/b")
                .unwrap_err()
                .to_string()
                .starts_with("group name \"a/b\" may only contain")
        );
        assert!(!UserName::is_valid(" bob"));
        assert!(!UserName::is_valid(&"x".repeat(257)));
        assert!(UserName::is_valid(&"x".repeat(256)));
        assert!(
            !GroupName::is_valid("_USER"),
            "users' permissions live there"
        );
        assert!(UserName::is_valid("_USER"));
    }
}
