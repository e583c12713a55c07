//! Query-path matching for get / count / remove: `*` matches any characters, `/` included,
//! and every other character is literal. Implemented once in the SDK (providers need it too)
//! and re-exported here.

pub use happn_cluster_sdk::pathquery::{PathQuery, WildcardPattern};

/// True if `path` matches the query `pattern` (`*` crosses `/`).
pub fn query_matches(pattern: &str, path: &str) -> bool {
    PathQuery::parse(pattern).matches(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happn_match_table_for_queries() {
        // Rows of the original's match table, column "get/remove/count".
        let rows = [
            ("/a/b", "/a/b", true),
            ("/a/b", "a/b", false),
            ("/a/b", "/a/b/", false),
            ("/a/b", "/A/B", false),
            ("/a/*", "/a/b", true),
            ("/a/*", "/a/b/c", true),
            ("/a/*", "/a/", true),
            ("/a/*", "/a", false),
            ("/a*", "/ab", true),
            ("/a*", "/a/b", true),
            ("/a/b*", "/a/bc", true),
            ("/a/*/c", "/a/b/x/c", true),
            ("/*", "/a/b", true),
            ("*", "/a/b/c", true),
            ("/a/*/*", "/a/b", false),
            ("/a/**", "/a/b/c/d/e/f/g", true),
            ("/a/*", "/A/b", false),
        ];
        for (pattern, path, expected) in rows {
            assert_eq!(
                query_matches(pattern, path),
                expected,
                "{pattern} vs {path}"
            );
        }
    }
}
