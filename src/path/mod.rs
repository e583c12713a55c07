//! Paths and subscription masks.
//!
//! * [`validate`] / [`normalise`]: the rules every client path passes.
//! * [`Mask`]: a subscription mask — `*` is exactly one whole segment, a final `**` matches
//!   one or more segments up to a depth, `*` alone matches everything.
//! * [`SubscriptionIndex`]: the trie that finds every subscription matching an event path.
//! * [`query`]: query-path matching for get/count/remove, where `*` crosses `/`.

mod index;
pub mod mask;
pub mod query;

pub use index::{SubId, SubscriptionIndex};
pub use mask::{EventFilter, EventKind, Mask, MaskError};

use std::borrow::Cow;

/// Why a data path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("Bad path, path cannot be empty")]
    Empty,
    /// A `set` path contains `*`.
    #[error("Bad path, if the action is 'set' the path cannot contain the * wildcard character")]
    WildcardInSet,
    /// The path contains a character outside the allowed set.
    #[error(
        "Bad path, can only contain characters a-z A-Z 0-9 / & + = : @ % * ( ) _ -, ie: factory1@I&J(western-cape)/plant1:conveyer_2/stats=true/capacity=10%/*"
    )]
    BadCharacter,
    /// The path is longer than `maxPathBytes`.
    #[error("Bad path, {bytes} bytes is longer than the limit of {limit} (maxPathBytes)")]
    TooLong {
        /// The path's length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The path has more segments than `maxPathSegments`.
    #[error("Bad path, more than {limit} segments (maxPathSegments)")]
    TooManySegments {
        /// The limit.
        limit: usize,
    },
}

/// Size limits every client path and mask passes (`maxPathBytes`, `maxPathSegments`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathLimits {
    /// Longest accepted path, in bytes.
    pub max_bytes: usize,
    /// Most `/`-separated segments.
    pub max_segments: usize,
}

impl Default for PathLimits {
    fn default() -> Self {
        PathLimits {
            max_bytes: 8192,
            max_segments: 256,
        }
    }
}

impl PathLimits {
    /// Refuses a path or mask over either limit, saying which and by how much.
    pub fn check(&self, path: &str) -> Result<(), PathError> {
        if path.len() > self.max_bytes {
            return Err(PathError::TooLong {
                bytes: path.len(),
                limit: self.max_bytes,
            });
        }
        // Counting stops at the limit: a huge path costs no more than a long one.
        let slashes = path
            .bytes()
            .filter(|b| *b == b'/')
            .take(self.max_segments + 1)
            .count();
        let segments = slashes + usize::from(!path.starts_with('/'));
        if segments > self.max_segments {
            return Err(PathError::TooManySegments {
                limit: self.max_segments,
            });
        }
        Ok(())
    }
}

/// True for the characters happn allows in paths: ASCII letters and digits, whitespace and
/// `/ ( ) { } + = & : % @ . _ * -`.
pub fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c.is_whitespace() || "/(){}+=&:%@._*-".contains(c)
}

/// Checks a path used for `set` (no wildcards) or for `on`/`remove` (wildcards allowed).
pub fn validate(path: &str, allow_wildcard: bool) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if !path.chars().all(allowed_char) {
        return Err(PathError::BadCharacter);
    }
    if !allow_wildcard && path.contains('*') {
        return Err(PathError::WildcardInSet);
    }
    Ok(())
}

/// Adds the leading `/` when missing, so `a/b` and `/a/b` address the same record and event.
pub fn normalise(path: &str) -> Cow<'_, str> {
    if path.starts_with('/') {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(format!("/{path}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rules() {
        assert_eq!(validate("", true), Err(PathError::Empty));
        assert_eq!(validate("/a/*", false), Err(PathError::WildcardInSet));
        assert!(validate("/a/*", true).is_ok());
        assert!(
            validate(
                "factory1@I&J(western-cape)/plant1:conveyer_2/stats=true/capacity=10%/x y",
                false
            )
            .is_ok()
        );
        assert_eq!(validate("/a/#", true), Err(PathError::BadCharacter));
        assert_eq!(validate("/a/é", true), Err(PathError::BadCharacter));
        assert_eq!(normalise("a/b"), "/a/b");
        assert_eq!(normalise("/a/b"), "/a/b");
    }
}
