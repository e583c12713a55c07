//! The subscription index: a trie keyed by path segment with a `*` branch per node and the
//! trailing-`**` subscriptions kept at the node where their prefix ends.
//!
//! Matching walks the event path once, following at most the literal child and the `*` child
//! at each level: the cost depends on the path's depth and on how many wildcard branches
//! exist along it, not on the number of subscriptions. Insert and remove touch one branch;
//! nothing is cached, so subscription churn costs no cache flush. The no-match walk allocates
//! nothing.

use compact_str::CompactString;
use rustc_hash::FxHashMap;

use super::mask::{EventFilter, EventKind, Mask, Segment};

/// Identifies one subscription in an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubId(pub u64);

struct Entry<T> {
    id: SubId,
    filter: EventFilter,
    /// Only meaningful in a node's `globstar` list.
    depth: u32,
    value: T,
}

/// Literal children: a short inline list while small (most nodes have one child), a hash
/// map once wide. Keeps the trie compact so more of it stays in cache.
enum Children<T> {
    Few(Vec<(CompactString, Node<T>)>),
    Many(FxHashMap<CompactString, Node<T>>),
}

/// Children beyond this many move from the list to a hash map.
const FEW: usize = 4;

impl<T> Children<T> {
    fn get(&self, key: &str) -> Option<&Node<T>> {
        match self {
            Children::Few(list) => list.iter().find(|(k, _)| k.as_str() == key).map(|(_, n)| n),
            Children::Many(map) => map.get(key),
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Node<T>> {
        match self {
            Children::Few(list) => list
                .iter_mut()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, n)| n),
            Children::Many(map) => map.get_mut(key),
        }
    }

    fn get_or_insert(&mut self, key: &str) -> &mut Node<T> {
        if let Children::Few(list) = self
            && list.len() >= FEW
            && !list.iter().any(|(k, _)| k.as_str() == key)
        {
            let map: FxHashMap<CompactString, Node<T>> = std::mem::take(list).into_iter().collect();
            *self = Children::Many(map);
        }
        match self {
            Children::Few(list) => {
                let at = match list.iter().position(|(k, _)| k.as_str() == key) {
                    Some(at) => at,
                    None => {
                        list.push((CompactString::from(key), Node::default()));
                        list.len() - 1
                    }
                };
                &mut list[at].1
            }
            Children::Many(map) => map.entry(CompactString::from(key)).or_default(),
        }
    }

    fn remove(&mut self, key: &str) {
        match self {
            Children::Few(list) => {
                if let Some(at) = list.iter().position(|(k, _)| k.as_str() == key) {
                    list.swap_remove(at);
                }
            }
            Children::Many(map) => {
                map.remove(key);
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Children::Few(list) => list.is_empty(),
            Children::Many(map) => map.is_empty(),
        }
    }
}

/// A trie node. Kept small (keys inline, subscriber lists boxed) so more of the trie stays
/// in cache: the walk touches the lists only where a mask ends.
struct Node<T> {
    literal: Children<T>,
    star: Option<Box<Node<T>>>,
    leaves: Option<Box<Leaves<T>>>,
}

struct Leaves<T> {
    /// Subscriptions whose mask ends exactly here.
    exact: Vec<Entry<T>>,
    /// Subscriptions with a trailing `**` whose prefix ends here.
    globstar: Vec<Entry<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            literal: Children::Few(Vec::new()),
            star: None,
            leaves: None,
        }
    }
}

impl<T> Node<T> {
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.star.is_none() && self.leaves.is_none()
    }

    fn leaves_mut(&mut self) -> &mut Leaves<T> {
        self.leaves.get_or_insert_with(|| {
            Box::new(Leaves {
                exact: Vec::new(),
                globstar: Vec::new(),
            })
        })
    }

    /// Drops the leaf lists once both are empty.
    fn prune_leaves(&mut self) {
        if self
            .leaves
            .as_ref()
            .is_some_and(|l| l.exact.is_empty() && l.globstar.is_empty())
        {
            self.leaves = None;
        }
    }
}

#[derive(Clone, Copy)]
enum Slot {
    Any,
    Exact,
    Globstar,
}

struct Location {
    mask: Mask,
    slot: Slot,
    position: usize,
}

/// Finds every subscription whose mask matches an event path.
pub struct SubscriptionIndex<T> {
    root: Node<T>,
    any: Vec<Entry<T>>,
    locations: FxHashMap<SubId, Location>,
    next_id: u64,
}

impl<T> Default for SubscriptionIndex<T> {
    fn default() -> Self {
        SubscriptionIndex {
            root: Node::default(),
            any: Vec::new(),
            locations: FxHashMap::default(),
            next_id: 1,
        }
    }
}

impl<T> SubscriptionIndex<T> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of subscriptions held.
    pub fn len(&self) -> usize {
        self.locations.len()
    }

    /// True when no subscription is held.
    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    /// Adds a subscription and returns its id.
    pub fn insert(&mut self, mask: &Mask, filter: EventFilter, value: T) -> SubId {
        let id = SubId(self.next_id);
        self.next_id += 1;
        let depth = mask.globstar.unwrap_or(0);
        let entry = Entry {
            id,
            filter,
            depth,
            value,
        };
        let (slot, position) = if mask.any {
            self.any.push(entry);
            (Slot::Any, self.any.len() - 1)
        } else {
            let mut node = &mut self.root;
            for segment in &mask.segments {
                node = match segment {
                    Segment::Literal(lit) => node.literal.get_or_insert(lit),
                    Segment::Star => node.star.get_or_insert_with(Default::default),
                };
            }
            let leaves = node.leaves_mut();
            if mask.globstar.is_some() {
                leaves.globstar.push(entry);
                (Slot::Globstar, leaves.globstar.len() - 1)
            } else {
                leaves.exact.push(entry);
                (Slot::Exact, leaves.exact.len() - 1)
            }
        };
        self.locations.insert(
            id,
            Location {
                mask: mask.clone(),
                slot,
                position,
            },
        );
        id
    }

    /// Removes a subscription, returning its value if it was present.
    pub fn remove(&mut self, id: SubId) -> Option<T> {
        let location = self.locations.remove(&id)?;
        let position = location.position;
        let (removed, moved) = match location.slot {
            Slot::Any => take_at(&mut self.any, position),
            Slot::Exact | Slot::Globstar => {
                let globstar = matches!(location.slot, Slot::Globstar);
                remove_in(&mut self.root, &location.mask.segments, globstar, position)?
            }
        };
        if let Some(moved) = moved
            && let Some(loc) = self.locations.get_mut(&moved)
        {
            loc.position = position;
        }
        Some(removed)
    }

    /// The value stored for a subscription.
    pub fn get(&self, id: SubId) -> Option<&T> {
        let location = self.locations.get(&id)?;
        let list = match location.slot {
            Slot::Any => &self.any,
            slot => {
                let mut node = &self.root;
                for segment in &location.mask.segments {
                    node = child_of(node, segment)?;
                }
                let leaves = node.leaves.as_deref()?;
                if matches!(slot, Slot::Globstar) {
                    &leaves.globstar
                } else {
                    &leaves.exact
                }
            }
        };
        list.get(location.position).map(|e| &e.value)
    }

    /// Ids of every subscription whose value satisfies `predicate` (a full scan: for
    /// maintenance, never for the publish path).
    pub fn ids_where(&self, predicate: impl Fn(&T) -> bool) -> Vec<SubId> {
        let mut ids: Vec<SubId> = self
            .locations
            .keys()
            .copied()
            .filter(|id| self.get(*id).is_some_and(&predicate))
            .collect();
        ids.sort();
        ids
    }

    /// The mask a subscription was inserted with.
    pub fn mask_of(&self, id: SubId) -> Option<&Mask> {
        self.locations.get(&id).map(|l| &l.mask)
    }

    /// Calls `visit` for every subscription matching an event of `kind` at `path` (a path
    /// with or without its leading `/`). Allocation-free.
    pub fn for_each_match<'a>(
        &'a self,
        path: &str,
        kind: EventKind,
        mut visit: impl FnMut(SubId, &'a T),
    ) {
        for entry in &self.any {
            if entry.filter.accepts(kind) {
                visit(entry.id, &entry.value);
            }
        }
        let rest = path.strip_prefix('/').unwrap_or(path);
        walk(&self.root, rest, kind, &mut visit);
    }

    /// Collects the ids of every match (convenience for tests and cold paths).
    pub fn matches(&self, path: &str, kind: EventKind) -> Vec<SubId> {
        let mut out = Vec::new();
        self.for_each_match(path, kind, |id, _| out.push(id));
        out
    }
}

fn take_at<T>(list: &mut Vec<Entry<T>>, position: usize) -> (T, Option<SubId>) {
    let removed = list.swap_remove(position);
    let moved = list.get(position).map(|e| e.id);
    (removed.value, moved)
}

/// The child a mask segment leads to.
fn child_of<'a, T>(node: &'a Node<T>, segment: &Segment) -> Option<&'a Node<T>> {
    match segment {
        Segment::Literal(lit) => node.literal.get(lit),
        Segment::Star => node.star.as_deref(),
    }
}

/// True if a node holds nothing but the one child on a mask's route (so it can go once that
/// child goes).
fn only_holds_route<T>(node: &Node<T>) -> bool {
    let children = match &node.literal {
        Children::Few(list) => list.len(),
        Children::Many(map) => map.len(),
    } + usize::from(node.star.is_some());
    node.leaves.is_none() && children == 1
}

/// Removes the entry at `position` of the leaf list `segments` leads to, then prunes the
/// branch that became empty. Iterative: the mask's length never sizes the call stack.
fn remove_in<T>(
    root: &mut Node<T>,
    segments: &[Segment],
    globstar: bool,
    position: usize,
) -> Option<(T, Option<SubId>)> {
    // Where to cut once the entry is gone: the deepest node on the route that keeps other
    // content, and the index of the segment leading out of it.
    let mut cut = 0;
    let mut node: &Node<T> = root;
    for (depth, segment) in segments.iter().enumerate() {
        if depth > 0 && !only_holds_route(node) {
            cut = depth;
        }
        node = child_of(node, segment)?;
    }
    let target_only_entry = node.literal.is_empty()
        && node.star.is_none()
        && node
            .leaves
            .as_deref()
            .is_some_and(|l| l.exact.len() + l.globstar.len() == 1 && position == 0);

    let mut target = &mut *root;
    for segment in segments {
        target = match segment {
            Segment::Literal(lit) => target.literal.get_mut(lit)?,
            Segment::Star => target.star.as_deref_mut()?,
        };
    }
    let leaves = target.leaves.as_deref_mut()?;
    let list = if globstar {
        &mut leaves.globstar
    } else {
        &mut leaves.exact
    };
    if position >= list.len() {
        return None;
    }
    let taken = take_at(list, position);
    target.prune_leaves();

    if target_only_entry && !segments.is_empty() {
        // Everything below `cut` held only this route: drop it in one piece.
        let mut keep = &mut *root;
        for segment in &segments[..cut] {
            keep = match segment {
                Segment::Literal(lit) => keep.literal.get_mut(lit)?,
                Segment::Star => keep.star.as_deref_mut()?,
            };
        }
        match &segments[cut] {
            Segment::Literal(lit) => keep.literal.remove(lit),
            Segment::Star => keep.star = None,
        }
    }
    Some(taken)
}

impl<T> Drop for Node<T> {
    /// Iterative, so dropping a deep branch never recurses once per level.
    fn drop(&mut self) {
        if self.literal.is_empty() && self.star.is_none() {
            return;
        }
        let mut pending: Vec<Node<T>> = Vec::new();
        self.take_children(&mut pending);
        while let Some(mut node) = pending.pop() {
            node.take_children(&mut pending);
        }
    }
}

impl<T> Node<T> {
    fn take_children(&mut self, into: &mut Vec<Node<T>>) {
        match std::mem::replace(&mut self.literal, Children::Few(Vec::new())) {
            Children::Few(list) => into.extend(list.into_iter().map(|(_, n)| n)),
            Children::Many(map) => into.extend(map.into_values()),
        }
        if let Some(star) = self.star.take() {
            into.push(*star);
        }
    }
}

/// Pending branches of a match walk; inline up to this many, so common walks never allocate.
type Pending<'a, 'p, T> = smallvec::SmallVec<[(&'a Node<T>, &'p str); 8]>;

/// Visits every subscription under `root` matching the path `rest` (without its leading
/// `/`). Iterative: depth-first with an explicit stack, literal branches before `*`.
fn walk<'a, 'p, T>(
    root: &'a Node<T>,
    rest: &'p str,
    kind: EventKind,
    visit: &mut impl FnMut(SubId, &'a T),
) {
    let mut pending: Pending<'a, 'p, T> = smallvec::smallvec![(root, rest)];
    // `rest` is the remainder of the path after `node`'s segment: at least one more segment.
    while let Some((node, rest)) = pending.pop() {
        if let Some(leaves) = node.leaves.as_deref()
            && !leaves.globstar.is_empty()
        {
            let remaining = rest.bytes().filter(|b| *b == b'/').count() as u32 + 1;
            for entry in &leaves.globstar {
                if entry.depth >= remaining && entry.filter.accepts(kind) {
                    visit(entry.id, &entry.value);
                }
            }
        }
        let (segment, tail) = match rest.find('/') {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let literal = node.literal.get(segment);
        let star = node.star.as_deref();
        match tail {
            None => {
                for child in [literal, star].into_iter().flatten() {
                    if let Some(leaves) = child.leaves.as_deref() {
                        for entry in &leaves.exact {
                            if entry.filter.accepts(kind) {
                                visit(entry.id, &entry.value);
                            }
                        }
                    }
                }
            }
            Some(tail) => {
                // Pushed in reverse so the literal branch is walked first.
                if let Some(star) = star {
                    pending.push((star, tail));
                }
                if let Some(literal) = literal {
                    pending.push((literal, tail));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn matches_and_filters() {
        let mut index = SubscriptionIndex::new();
        let a = index.insert(&Mask::parse("/a/*").unwrap(), EventFilter::All, "a");
        let b = index.insert(&Mask::parse("/a/b").unwrap(), EventFilter::Remove, "b");
        let c = index.insert(&Mask::parse("/a/**").unwrap(), EventFilter::Set, "c");
        let d = index.insert(&Mask::parse("*").unwrap(), EventFilter::All, "d");
        let got: BTreeSet<_> = index.matches("/a/b", EventKind::Set).into_iter().collect();
        assert_eq!(got, BTreeSet::from([a, c, d]));
        let got: BTreeSet<_> = index
            .matches("a/b", EventKind::Remove)
            .into_iter()
            .collect();
        assert_eq!(got, BTreeSet::from([a, b, d]));
        assert_eq!(index.get(c), Some(&"c"));
        assert_eq!(index.remove(a), Some("a"));
        assert_eq!(index.remove(a), None);
        let got: BTreeSet<_> = index.matches("/a/b", EventKind::Set).into_iter().collect();
        assert_eq!(got, BTreeSet::from([c, d]));
        index.remove(b);
        index.remove(c);
        index.remove(d);
        assert!(index.is_empty());
        assert!(index.root.is_empty(), "empty branches are pruned");
    }

    #[test]
    fn wide_nodes_switch_to_a_map_and_back_to_empty() {
        let mut index = SubscriptionIndex::new();
        let ids: Vec<SubId> = (0..40)
            .map(|i| {
                index.insert(
                    &Mask::parse(&format!("/w/c{i}/*")).unwrap(),
                    EventFilter::All,
                    i,
                )
            })
            .collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                index.matches(&format!("/w/c{i}/x"), EventKind::Set),
                vec![*id]
            );
        }
        assert!(index.matches("/w/c40/x", EventKind::Set).is_empty());
        for id in ids {
            assert!(index.remove(id).is_some());
        }
        assert!(index.root.is_empty(), "pruned");
    }

    /// A mask far deeper than any limit a node would accept: insert, match, remove and drop
    /// on a thread with a small stack, so any recursion per segment would overflow it.
    #[test]
    fn deep_masks_never_recurse_per_segment() {
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| {
                let deep = format!("/a/{}x", "b/".repeat(50_000));
                let mask = Mask::parse(&deep).unwrap();
                let mut index = SubscriptionIndex::new();
                let id = index.insert(&mask, EventFilter::All, 1u8);
                let side = index.insert(&Mask::parse("/a/*").unwrap(), EventFilter::All, 2u8);
                assert_eq!(index.matches(&deep, EventKind::Set), vec![id]);
                let starred = format!("/a/{}*", "*/".repeat(50_000));
                let star_id = index.insert(&Mask::parse(&starred).unwrap(), EventFilter::All, 3u8);
                assert_eq!(index.matches(&deep, EventKind::Set), vec![id, star_id]);
                assert_eq!(index.remove(id), Some(1));
                assert_eq!(index.matches(&deep, EventKind::Set), vec![star_id]);
                assert_eq!(index.matches("/a/q", EventKind::Set), vec![side]);
                // Dropping the index with a deep branch still in it.
                drop(index);
                let mut index = SubscriptionIndex::new();
                let id = index.insert(&mask, EventFilter::All, 1u8);
                assert_eq!(index.remove(id), Some(1));
                assert!(index.root.is_empty(), "the deep branch is pruned");
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
    }

    fn segment() -> impl Strategy<Value = String> {
        // Enough distinct literals for nodes to outgrow the inline child list.
        prop_oneof![
            1 => Just(String::new()),
            2 => Just("*".to_string()),
            6 => (0u8..6).prop_map(|i| format!("s{i}")),
        ]
    }

    fn mask_text() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just("*".to_string()),
            8 => (proptest::collection::vec(segment(), 0..4), any::<bool>()).prop_map(|(segs, glob)| {
                let mut s = String::new();
                for seg in &segs {
                    s.push('/');
                    s.push_str(seg);
                }
                if glob || segs.is_empty() {
                    s.push_str("/**");
                }
                s
            }),
        ]
    }

    fn path_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                1 => Just(String::new()),
                1 => Just("*".to_string()),
                6 => (0u8..6).prop_map(|i| format!("s{i}")),
            ],
            1..7,
        )
        .prop_map(|segs: Vec<String>| format!("/{}", segs.join("/")))
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(String, u32, u8),
        Remove(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (mask_text(), 1u32..4, 0u8..3).prop_map(|(m, d, f)| Step::Insert(m, d, f)),
            1 => (0usize..64).prop_map(Step::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The trie agrees with the naive matcher through any sequence of inserts and removes.
        #[test]
        fn index_agrees_with_naive_oracle(
            steps in proptest::collection::vec(step(), 1..40),
            paths in proptest::collection::vec(path_text(), 1..12),
        ) {
            let mut index = SubscriptionIndex::new();
            let mut live: Vec<(SubId, Mask, EventFilter)> = Vec::new();
            for step in steps {
                match step {
                    Step::Insert(text, depth, f) => {
                        let mask = Mask::with_depth(&text, depth).unwrap();
                        let filter = [EventFilter::Set, EventFilter::Remove, EventFilter::All][f as usize];
                        let id = index.insert(&mask, filter, 0u8);
                        live.push((id, mask, filter));
                    }
                    Step::Remove(i) if !live.is_empty() => {
                        let (id, _, _) = live.remove(i % live.len());
                        prop_assert!(index.remove(id).is_some());
                    }
                    Step::Remove(_) => {}
                }
            }
            prop_assert_eq!(index.len(), live.len());
            for path in &paths {
                for kind in [EventKind::Set, EventKind::Remove] {
                    let got: BTreeSet<SubId> = index.matches(path, kind).into_iter().collect();
                    let want: BTreeSet<SubId> = live
                        .iter()
                        .filter(|(_, mask, filter)| filter.accepts(kind) && mask.matches(path))
                        .map(|(id, _, _)| *id)
                        .collect();
                    prop_assert_eq!(got, want, "path {}", path);
                }
            }
            for (id, _, _) in &live {
                prop_assert!(index.get(*id).is_some());
            }
        }
    }
}
