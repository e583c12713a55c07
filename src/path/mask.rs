//! Subscription masks.

use std::fmt;

/// The default depth of a trailing `**` (as the happn client's `defaultVariableDepth`).
pub const DEFAULT_DEPTH: u32 = 5;
/// The largest accepted `**` depth.
pub const MAX_DEPTH: u32 = 64;

/// Which events a subscription wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventFilter {
    /// Only `set` events.
    Set,
    /// Only `remove` events.
    Remove,
    /// Both.
    All,
}

impl EventFilter {
    /// True if an event of `kind` passes the filter.
    pub fn accepts(self, kind: EventKind) -> bool {
        matches!(
            (self, kind),
            (EventFilter::All, _)
                | (EventFilter::Set, EventKind::Set)
                | (EventFilter::Remove, EventKind::Remove)
        )
    }
}

/// What happened at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A set (including merge, increment and publish-only).
    Set,
    /// A remove.
    Remove,
}

/// Why a mask was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// The mask is empty.
    #[error("subscription path cannot be empty")]
    Empty,
    /// A segment mixes `*` with other characters.
    #[error(
        "partial wildcard in segment {segment:?} of {mask:?}: `*` must be a whole segment (use /a/* rather than /a*)"
    )]
    PartialWildcard {
        /// The mask as given.
        mask: String,
        /// The offending segment.
        segment: String,
    },
    /// `**` appears anywhere but the last segment.
    #[error("`**` may only be the last segment of a subscription path ({0:?})")]
    InnerGlobstar(String),
    /// A depth outside 1..=MAX_DEPTH.
    #[error("depth must be between 1 and {MAX_DEPTH} (got {0})")]
    BadDepth(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    Literal(Box<str>),
    Star,
}

/// A parsed subscription mask.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mask {
    raw: String,
    pub(crate) any: bool,
    pub(crate) segments: Vec<Segment>,
    /// Depth of a trailing `**`, if any.
    pub(crate) globstar: Option<u32>,
}

impl Mask {
    /// Parses a mask; a trailing `**` gets [`DEFAULT_DEPTH`].
    pub fn parse(mask: &str) -> Result<Self, MaskError> {
        Self::with_depth(mask, DEFAULT_DEPTH)
    }

    /// Parses a mask; a trailing `**` matches 1..=`depth` extra segments.
    pub fn with_depth(mask: &str, depth: u32) -> Result<Self, MaskError> {
        if mask.is_empty() {
            return Err(MaskError::Empty);
        }
        if mask == "*" {
            return Ok(Mask {
                raw: "*".into(),
                any: true,
                segments: Vec::new(),
                globstar: None,
            });
        }
        let normalised = super::normalise(mask).into_owned();
        let parts: Vec<&str> = normalised[1..].split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut globstar = None;
        for (i, part) in parts.iter().enumerate() {
            match *part {
                "*" => segments.push(Segment::Star),
                "**" if i + 1 == parts.len() => {
                    if depth == 0 || depth > MAX_DEPTH {
                        return Err(MaskError::BadDepth(depth));
                    }
                    globstar = Some(depth);
                }
                "**" => return Err(MaskError::InnerGlobstar(mask.to_string())),
                p if p.contains('*') => {
                    return Err(MaskError::PartialWildcard {
                        mask: mask.to_string(),
                        segment: p.to_string(),
                    });
                }
                p => segments.push(Segment::Literal(p.into())),
            }
        }
        Ok(Mask {
            raw: normalised,
            any: false,
            segments,
            globstar,
        })
    }

    /// The normalised mask text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// True for the match-everything mask `*`.
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// The depth of a trailing `**`, if the mask has one.
    pub fn globstar_depth(&self) -> Option<u32> {
        self.globstar
    }

    /// True if the mask contains no wildcard at all.
    pub fn is_exact(&self) -> bool {
        !self.any
            && self.globstar.is_none()
            && self
                .segments
                .iter()
                .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Straightforward matcher (the oracle the index is tested against).
    pub fn matches(&self, path: &str) -> bool {
        if self.any {
            return true;
        }
        let path = super::normalise(path);
        let parts: Vec<&str> = path[1..].split('/').collect();
        let prefix = self.segments.len();
        match self.globstar {
            None if parts.len() != prefix => return false,
            Some(depth) if parts.len() <= prefix || parts.len() - prefix > depth as usize => {
                return false;
            }
            _ => {}
        }
        self.segments
            .iter()
            .zip(&parts)
            .all(|(segment, part)| match segment {
                Segment::Star => true,
                Segment::Literal(lit) => **lit == **part,
            })
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happn_match_table_for_subscriptions() {
        // Rows of the original's match table, column "on() fires" (partial wildcards are
        // refused here instead of silently never firing).
        let rows = [
            ("/a/b", "/a/b", true),
            ("/a/b", "a/b", true),
            ("/a/b", "/a/b/", false),
            ("/a/b", "/A/B", false),
            ("/a/*", "/a/b", true),
            ("/a/*", "/a/b/c", false),
            ("/a/*", "/a/", true),
            ("/a/*", "/a", false),
            ("/a/*/c", "/a/b/c", true),
            ("/a/*/c", "/a/b/x/c", false),
            ("/*", "/a", true),
            ("/*", "/a/b", false),
            ("*", "/a/b/c", true),
            ("*/b", "/a/b", true),
            ("/*/*", "/a/b", true),
            ("/a/*/*", "/a/b", false),
            ("/a/**", "/a/b", true),
            ("/a/**", "/a/b/c/d/e/f", true),
            ("/a/**", "/a/b/c/d/e/f/g", false),
            ("/a/**", "/a", false),
            ("**", "/a/b", true),
            ("/a/*", "/a/*", true),
        ];
        for (mask, path, expected) in rows {
            assert_eq!(
                Mask::parse(mask).unwrap().matches(path),
                expected,
                "{mask} vs {path}"
            );
        }
    }

    #[test]
    fn bad_masks_are_refused_with_reasons() {
        assert!(matches!(
            Mask::parse("/a*"),
            Err(MaskError::PartialWildcard { .. })
        ));
        assert!(matches!(
            Mask::parse("/a/te*/event"),
            Err(MaskError::PartialWildcard { .. })
        ));
        assert!(matches!(
            Mask::parse("/a/**/b"),
            Err(MaskError::InnerGlobstar(_))
        ));
        assert_eq!(Mask::parse(""), Err(MaskError::Empty));
        assert_eq!(Mask::with_depth("/a/**", 0), Err(MaskError::BadDepth(0)));
        assert!(Mask::with_depth("/a/**", 2).unwrap().matches("/a/b/c"));
        assert!(!Mask::with_depth("/a/**", 2).unwrap().matches("/a/b/c/d"));
    }
}
