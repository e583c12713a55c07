//! Query paths for get / count / remove: an exact path, or a wildcard pattern where `*`
//! matches any run of characters **including `/`** (the behaviour happn clients rely on).
//!
//! This is deliberately not the subscription matcher (where `*` is exactly one segment); see
//! the host's `path` module for that.

use std::fmt;

/// What a get / count / remove addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathQuery {
    /// One record, matched by exact (case-sensitive) path equality.
    Exact(String),
    /// Every record whose path matches the pattern.
    Wildcard(WildcardPattern),
}

impl PathQuery {
    /// Classifies a client path: anything containing `*` is a wildcard pattern.
    pub fn parse(path: &str) -> Self {
        if path.contains('*') {
            PathQuery::Wildcard(WildcardPattern::new(path))
        } else {
            PathQuery::Exact(path.to_string())
        }
    }

    /// True if `path` is addressed by this query.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathQuery::Exact(exact) => exact == path,
            PathQuery::Wildcard(pattern) => pattern.matches(path),
        }
    }

    /// The query as the client wrote it.
    pub fn as_str(&self) -> &str {
        match self {
            PathQuery::Exact(exact) => exact,
            PathQuery::Wildcard(pattern) => pattern.as_str(),
        }
    }

    /// True for wildcard queries (which answer with arrays).
    pub fn is_wildcard(&self) -> bool {
        matches!(self, PathQuery::Wildcard(_))
    }

    /// The literal text every matching path starts with (useful for index range scans).
    pub fn literal_prefix(&self) -> &str {
        match self {
            PathQuery::Exact(exact) => exact,
            PathQuery::Wildcard(pattern) => pattern.literal_prefix(),
        }
    }
}

impl fmt::Display for PathQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A glob over whole paths where `*` matches any characters (including `/`). Runs of `*`
/// collapse to one; every other character is literal, whatever it means to regex or SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildcardPattern {
    raw: String,
    /// Literal pieces between the stars; `parts.len() == stars + 1`.
    parts: Vec<String>,
}

impl WildcardPattern {
    /// Builds a pattern from client text.
    pub fn new(raw: &str) -> Self {
        let parts = raw.split('*').map(str::to_string).collect();
        WildcardPattern {
            raw: raw.to_string(),
            parts,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The literal text before the first `*`.
    pub fn literal_prefix(&self) -> &str {
        self.parts.first().map(String::as_str).unwrap_or("")
    }

    /// The literal pieces between stars, in order (empty pieces included).
    pub fn literal_parts(&self) -> &[String] {
        &self.parts
    }

    /// True if `path` matches. Linear-time greedy glob; no regex involved.
    pub fn matches(&self, path: &str) -> bool {
        let parts = &self.parts;
        if parts.len() == 1 {
            return parts[0] == path;
        }
        let first = &parts[0];
        let last = &parts[parts.len() - 1];
        if path.len() < first.len() + last.len() || !path.starts_with(first.as_str()) {
            return false;
        }
        if !path.ends_with(last.as_str()) {
            return false;
        }
        let mut rest = &path[first.len()..path.len() - last.len()];
        for middle in &parts[1..parts.len() - 1] {
            match rest.find(middle.as_str()) {
                Some(at) => rest = &rest[at + middle.len()..],
                None => return false,
            }
        }
        true
    }

    /// An anchored regular expression (`^…$`) equivalent to this pattern, with every literal
    /// character escaped. Suitable for the `regex` crate, MongoDB `$regex` and PostgreSQL `~`.
    pub fn to_regex(&self) -> String {
        let mut out = String::with_capacity(self.raw.len() + 8);
        out.push('^');
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push_str(".*");
            }
            out.push_str(&regex::escape(part));
        }
        out.push('$');
        // A `.` must cross newlines too, as a path may contain any character.
        format!("(?s){out}")
    }

    /// A SQL `LIKE` pattern equivalent to this one, escaping `%`, `_` and the escape character
    /// itself with `escape`. Use it as `path LIKE $1 ESCAPE '<escape>'`.
    pub fn to_like(&self, escape: char) -> String {
        let mut out = String::with_capacity(self.raw.len() + 4);
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push('%');
            }
            for c in part.chars() {
                if c == '%' || c == '_' || c == escape {
                    out.push(escape);
                }
                out.push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn star_crosses_slashes_and_is_case_sensitive() {
        let p = WildcardPattern::new("/a/*");
        assert!(p.matches("/a/b"));
        assert!(p.matches("/a/b/c"));
        assert!(p.matches("/a/"));
        assert!(!p.matches("/a"));
        assert!(!p.matches("/A/b"));
        assert!(WildcardPattern::new("/a*").matches("/a/b"));
        assert!(WildcardPattern::new("*").matches(""));
        assert!(WildcardPattern::new("/a/*/c").matches("/a/b/x/c"));
        assert!(!WildcardPattern::new("/a/*/*").matches("/a/b"));
        assert!(WildcardPattern::new("/a/**").matches("/a/b/c/d/e/f/g"));
    }

    #[test]
    fn prefix_and_suffix_may_not_overlap() {
        assert!(!WildcardPattern::new("ab*ba").matches("aba"));
        assert!(WildcardPattern::new("ab*ba").matches("abba"));
    }

    #[test]
    fn metacharacters_are_literal() {
        for lit in [
            "%", "_", ".", "(", ")", "[", "]", "+", "?", "^", "$", "\\", "|", "{", "}",
        ] {
            let pattern = WildcardPattern::new(&format!("/x{lit}y/*"));
            assert!(pattern.matches(&format!("/x{lit}y/z")), "{lit}");
            assert!(
                !pattern.matches("/xAy/z"),
                "{lit} must not act as a wildcard"
            );
            let re = regex::Regex::new(&pattern.to_regex()).unwrap();
            assert!(re.is_match(&format!("/x{lit}y/z")), "{lit} regex");
            assert!(!re.is_match("/xAy/z"), "{lit} regex literal");
        }
    }

    #[test]
    fn like_escapes_percent_underscore_and_escape() {
        assert_eq!(
            WildcardPattern::new("/a_b%c\\d/*").to_like('\\'),
            "/a\\_b\\%c\\\\d/%"
        );
        assert_eq!(WildcardPattern::new("/a/**").to_like('\\'), "/a/%%");
    }

    proptest! {
        #[test]
        fn glob_agrees_with_regex(pattern in "[ab/*.%_]{0,8}", path in "[ab/.%_]{0,10}") {
            let p = WildcardPattern::new(&pattern);
            let re = regex::Regex::new(&p.to_regex()).unwrap();
            prop_assert_eq!(p.matches(&path), re.is_match(&path));
        }
    }
}
