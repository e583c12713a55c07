//! The no-match walk of the subscription index performs no heap allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use happn_cluster::path::{EventFilter, EventKind, Mask, SubscriptionIndex};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn matching_allocates_nothing() {
    let mut index = SubscriptionIndex::new();
    for mask in ["/a/*/c", "/a/b/**", "/x/y", "/*/q/*", "*"] {
        index.insert(&Mask::parse(mask).unwrap(), EventFilter::All, mask.len());
    }
    let mut hits = 0;
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for path in ["/nothing/here/at/all", "/a/z/d", "/a/b/c", "/a/b/c/d/e"] {
        index.for_each_match(path, EventKind::Set, |_, _| hits += 1);
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "matching allocated");
    assert!(hits >= 4, "the walk really ran ({hits} hits)");
}
