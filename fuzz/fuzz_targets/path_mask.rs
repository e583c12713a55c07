//! Path and mask parsing, the subscription trie and query matching: no input may panic, and
//! the trie must agree with the straightforward matcher.
#![no_main]

use happn_cluster::path::{self, EventFilter, EventKind, Mask, PathLimits, SubscriptionIndex};
use happn_cluster_sdk::PathQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The input is a list of masks, then one path after the last newline.
    let (masks, event_path) = text.rsplit_once('\n').unwrap_or((text, "/a/b"));
    let _ = PathLimits::default().check(event_path);
    let _ = path::validate(event_path, false);
    let query = PathQuery::parse(event_path);
    let _ = query.matches(masks);
    if let PathQuery::Wildcard(pattern) = &query {
        let _ = pattern.to_regex();
        let _ = pattern.to_like('\\');
    }
    let mut index = SubscriptionIndex::new();
    let mut live = Vec::new();
    for (i, line) in masks.lines().take(64).enumerate() {
        let depth = (i as u32 % 7) + 1;
        if let Ok(mask) = Mask::with_depth(line, depth) {
            let id = index.insert(&mask, EventFilter::All, i);
            live.push((id, mask));
        }
    }
    let mut got = index.matches(event_path, EventKind::Set);
    got.sort();
    let mut want: Vec<_> = live
        .iter()
        .filter(|(_, m)| m.matches(event_path))
        .map(|(id, _)| *id)
        .collect();
    want.sort();
    assert_eq!(got, want, "trie and oracle disagree");
    for (id, _) in live.iter().step_by(2) {
        assert!(index.remove(*id).is_some());
    }
});
