//! Which paths are replicated: the configured masks plus the replicator's channel, reduced
//! as the seed does (cluster-spec §3.6) but without its double-removal bug.

use crate::path::Mask;

/// The channel replicator messages travel on (delivered to peers only).
pub const REPLICATE_PATH: &str = crate::pubsub::PEERS_ONLY_PATH;

/// The masks a node subscribes to on every peer: `configured` plus [`REPLICATE_PATH`],
/// with `*` absorbing everything, duplicates dropped, and exact paths a wildcard of the same
/// depth already covers dropped (each once, however many wildcards cover it).
pub fn replicated_masks(configured: &[String]) -> Vec<String> {
    let mut paths: Vec<String> = configured.to_vec();
    paths.push(REPLICATE_PATH.to_string());
    if paths.len() == 1 {
        return paths;
    }
    if paths.iter().any(|p| p == "*") {
        return vec!["*".to_string()];
    }
    let mut unique: Vec<String> = Vec::new();
    for path in paths {
        if !unique.contains(&path) {
            unique.push(path);
        }
    }
    let wildcards: Vec<Mask> = unique
        .iter()
        .filter(|p| p.contains('*'))
        .filter_map(|p| Mask::parse(p).ok())
        .collect();
    let depth = |p: &str| p.matches('/').count();
    unique
        .into_iter()
        .filter(|path| {
            path.contains('*')
                || !wildcards
                    .iter()
                    .any(|w| depth(w.as_str()) == depth(path) && w.matches(path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(paths: &[&str]) -> Vec<String> {
        replicated_masks(&paths.iter().map(|p| p.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn the_seeds_examples() {
        assert_eq!(reduce(&[]), ["/__REPLICATE"]);
        assert_eq!(reduce(&["*", "/a"]), ["*"]);
        assert_eq!(
            reduce(&["/same/path", "/same/path"]),
            ["/same/path", "/__REPLICATE"]
        );
        assert_eq!(
            reduce(&["/same/*", "/same/path"]),
            ["/same/*", "/__REPLICATE"]
        );
        assert_eq!(
            reduce(&[
                "/same/*/with/*/more",
                "/same/path",
                "/same/path/with/some/more"
            ]),
            ["/same/*/with/*/more", "/same/path", "/__REPLICATE"]
        );
        let nine: Vec<String> = (1..=9)
            .map(|i| format!("/{}*", "*/".repeat(i - 1)))
            .collect();
        let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
        // `/*` already covers the replicator's channel.
        assert_eq!(reduce(&nine), nine);
    }

    /// The seed removes a path covered by two wildcards twice, deleting the list's last
    /// element the second time; here it is removed once and nothing else goes.
    #[test]
    fn a_path_covered_twice_is_removed_once() {
        assert_eq!(
            reduce(&["/a/*", "/*/b", "/a/b", "/keep/this/one"]),
            ["/a/*", "/*/b", "/keep/this/one", "/__REPLICATE"]
        );
    }
}
