//! Per-path ordering of write and publication. A write's event is published after its
//! commit; without a guard, two writes to one path could commit in one order and publish in
//! the other (the first caller not yet scheduled when the second's batch committed), and a
//! subscriber mirroring the store from events would end on a stale value. Holding the
//! path's guard from before the write until its event is published keeps both orders the
//! same. Paths share a fixed set of stripes, so the guard costs one uncontended lock.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

/// Stripes of the guard: paths that hash alike wait for each other, which only costs when
/// both are written at the same moment.
const STRIPES: usize = 1024;

/// The per-path guards.
pub struct PathOrder {
    stripes: Vec<Arc<Mutex<()>>>,
}

impl Default for PathOrder {
    fn default() -> Self {
        PathOrder {
            stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
        }
    }
}

impl PathOrder {
    /// Waits for `path`'s turn; hold the guard until the write's event is published.
    pub async fn lock(&self, path: &str) -> OwnedMutexGuard<()> {
        let mut hasher = rustc_hash::FxHasher::default();
        path.hash(&mut hasher);
        let stripe = (hasher.finish() as usize) % STRIPES;
        self.stripes[stripe].clone().lock_owned().await
    }
}
