//! Group commit: writes that arrive while a batch to the same store is in flight are
//! gathered and sent as one [`Datastore::upsert_many`] (one round trip, one commit); a write
//! that finds the store idle goes at once. No timer: at low load nothing waits.
//!
//! Each caller gets its own record or error, after its batch committed. Writes to one path
//! are applied in arrival order: a path is in at most one batch in flight, and a batch holds
//! each path once (a later write to it waits for the next batch).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use happn_cluster_sdk::{
    Criteria, Datastore, Error, Features, FindOptions, PathQuery, Record, Result, UpsertItem,
    UpsertOptions,
};
use serde_json::{Map, Number, Value};
use tokio::sync::oneshot;

/// How a store's writes are gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most writes in one batch.
    pub max_items: usize,
    /// Most batches in flight at once.
    pub in_flight: usize,
}

struct Pending {
    item: UpsertItem,
    reply: oneshot::Sender<Result<Record>>,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
    /// Batches being written now.
    in_flight: usize,
    /// Paths in those batches.
    busy: HashSet<String>,
}

struct Shared {
    inner: Arc<dyn Datastore>,
    limits: BatchLimits,
    queue: Mutex<Queue>,
}

/// A datastore whose upserts are gathered into batches; every other operation goes straight
/// to the store it wraps.
pub struct GroupCommit {
    shared: Arc<Shared>,
}

impl GroupCommit {
    /// Gathers `inner`'s upserts within `limits`.
    pub fn new(inner: Arc<dyn Datastore>, limits: BatchLimits) -> GroupCommit {
        GroupCommit {
            shared: Arc::new(Shared {
                inner,
                limits: BatchLimits {
                    max_items: limits.max_items.max(1),
                    in_flight: limits.in_flight.max(1),
                },
                queue: Mutex::new(Queue::default()),
            }),
        }
    }
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the next batch, oldest first: at most `max_items`, each path once, none whose
    /// path is in flight or already passed over (so a path's writes keep their order).
    fn next_batch(&self, queue: &mut Queue) -> Vec<Pending> {
        let mut batch = Vec::new();
        let mut blocked: HashSet<String> = HashSet::new();
        let mut kept = VecDeque::with_capacity(queue.pending.len());
        while let Some(pending) = queue.pending.pop_front() {
            let path = &pending.item.path;
            if batch.len() < self.limits.max_items
                && !queue.busy.contains(path)
                && !blocked.contains(path)
            {
                blocked.insert(path.clone());
                batch.push(pending);
            } else {
                blocked.insert(path.clone());
                kept.push_back(pending);
            }
            if batch.len() == self.limits.max_items {
                break;
            }
        }
        kept.append(&mut queue.pending);
        queue.pending = kept;
        for pending in &batch {
            queue.busy.insert(pending.item.path.clone());
        }
        batch
    }

    /// Writes batches until nothing is left that may go now; ends its turn in flight.
    async fn drain(self: Arc<Self>) {
        loop {
            let batch = {
                let mut queue = self.queue();
                let batch = self.next_batch(&mut queue);
                if batch.is_empty() {
                    queue.in_flight -= 1;
                    return;
                }
                batch
            };
            let (items, replies): (Vec<UpsertItem>, Vec<_>) =
                batch.into_iter().map(|p| (p.item, p.reply)).unzip();
            let paths: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
            let mut results = self.inner.upsert_many(items).await.into_iter();
            {
                let mut queue = self.queue();
                for path in &paths {
                    queue.busy.remove(path);
                }
            }
            for reply in replies {
                let result = results.next().unwrap_or_else(|| {
                    Err(Error::internal(
                        "the datastore returned fewer results than the batch had writes",
                    ))
                });
                // A caller that gave up no longer listens; its write still happened.
                let _ = reply.send(result);
            }
        }
    }
}

/// A write that went straight through: when it ends (or its caller goes away), its path is
/// free again and whatever gathered behind it is written.
struct DirectTurn {
    shared: Arc<Shared>,
    path: String,
}

impl Drop for DirectTurn {
    fn drop(&mut self) {
        let more = {
            let mut queue = self.shared.queue();
            queue.busy.remove(&self.path);
            if queue.pending.is_empty() {
                queue.in_flight -= 1;
                false
            } else {
                true
            }
        };
        if more {
            // The turn in flight passes to a drain task.
            tokio::spawn(self.shared.clone().drain());
        }
    }
}

#[async_trait]
impl Datastore for GroupCommit {
    fn provider(&self) -> &'static str {
        self.shared.inner.provider()
    }

    async fn upsert(
        &self,
        path: &str,
        data: Map<String, Value>,
        options: &UpsertOptions,
    ) -> Result<Record> {
        // An idle store: this write goes straight through, on the caller's task (no
        // handoff); writes arriving meanwhile gather behind it.
        let alone = {
            let mut queue = self.shared.queue();
            let idle = queue.in_flight == 0 && queue.pending.is_empty();
            if idle {
                queue.in_flight += 1;
                queue.busy.insert(path.to_string());
            }
            idle
        };
        if alone {
            let _turn = DirectTurn {
                shared: self.shared.clone(),
                path: path.to_string(),
            };
            return self.shared.inner.upsert(path, data, options).await;
        }
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.shared.queue();
            queue.pending.push_back(Pending {
                item: UpsertItem {
                    path: path.to_string(),
                    data,
                    options: options.clone(),
                },
                reply,
            });
            if queue.in_flight < self.shared.limits.in_flight {
                queue.in_flight += 1;
                true
            } else {
                false
            }
        };
        if start {
            // Its own task: the batch is written even if this caller goes away, and the
            // caller is answered as soon as its own batch commits.
            tokio::spawn(self.shared.clone().drain());
        }
        answer
            .await
            .unwrap_or_else(|_| Err(Error::internal("the write batch was dropped")))
    }

    async fn upsert_many(&self, items: Vec<UpsertItem>) -> Vec<Result<Record>> {
        self.shared.inner.upsert_many(items).await
    }

    async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: &Number,
        modified_by: Option<&str>,
    ) -> Result<Number> {
        self.shared
            .inner
            .increment(path, gauge, by, modified_by)
            .await
    }

    async fn find(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>> {
        self.shared.inner.find(query, options).await
    }

    async fn find_one(&self, path: &str) -> Result<Option<Record>> {
        self.shared.inner.find_one(path).await
    }

    async fn count(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        self.shared.inner.count(query, criteria).await
    }

    async fn remove(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        self.shared.inner.remove(query, criteria).await
    }

    fn features(&self) -> Features {
        self.shared.inner.features()
    }

    async fn aggregate(
        &self,
        query: &PathQuery,
        criteria: Option<&Criteria>,
        pipeline: &[Value],
    ) -> Result<Vec<Value>> {
        self.shared.inner.aggregate(query, criteria, pipeline).await
    }

    async fn ping(&self) -> Result<()> {
        self.shared.inner.ping().await
    }

    async fn close(&self) {
        self.shared.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use happn_cluster_sdk::memory::MemoryDatastore;
    use serde_json::json;

    /// Counts the batches the wrapped store receives.
    struct Counting {
        inner: MemoryDatastore,
        batches: Mutex<Vec<usize>>,
        direct: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl Datastore for Counting {
        fn provider(&self) -> &'static str {
            "counting"
        }
        async fn upsert(
            &self,
            path: &str,
            data: Map<String, Value>,
            options: &UpsertOptions,
        ) -> Result<Record> {
            self.direct
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // As slow as a batch: writes pile up behind it too.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.inner.upsert(path, data, options).await
        }
        async fn upsert_many(&self, items: Vec<UpsertItem>) -> Vec<Result<Record>> {
            self.batches.lock().unwrap().push(items.len());
            // A slow round trip, so writes pile up behind it.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let mut out = Vec::new();
            for item in items {
                out.push(if item.path.ends_with("/bad") {
                    Err(Error::bad_input("bad item"))
                } else {
                    self.inner
                        .upsert(&item.path, item.data, &item.options)
                        .await
                });
            }
            out
        }
        async fn increment(
            &self,
            path: &str,
            gauge: &str,
            by: &Number,
            modified_by: Option<&str>,
        ) -> Result<Number> {
            self.inner.increment(path, gauge, by, modified_by).await
        }
        async fn find(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>> {
            self.inner.find(query, options).await
        }
        async fn count(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
            self.inner.count(query, criteria).await
        }
        async fn remove(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
            self.inner.remove(query, criteria).await
        }
    }

    #[tokio::test]
    async fn writes_gather_behind_a_batch_in_flight_and_each_gets_its_own_result() {
        let counting = Arc::new(Counting {
            inner: MemoryDatastore::new(),
            batches: Mutex::new(Vec::new()),
            direct: std::sync::atomic::AtomicUsize::new(0),
        });
        let store = Arc::new(GroupCommit::new(
            counting.clone(),
            BatchLimits {
                max_items: 64,
                in_flight: 1,
            },
        ));
        // Idle: the first write goes straight through, at once.
        let first = store
            .upsert(
                "/a/0",
                json!({"n": 0}).as_object().unwrap().clone(),
                &Default::default(),
            )
            .await
            .unwrap();
        assert_eq!(first.path, "/a/0");
        assert!(counting.batches.lock().unwrap().is_empty());
        assert_eq!(
            counting.direct.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // 40 writers at once, one of them bad, three to one path.
        let mut tasks = Vec::new();
        for i in 0..40 {
            let store = store.clone();
            let path = match i {
                13 => "/a/bad".to_string(),
                20..=22 => "/a/same".to_string(),
                _ => format!("/a/{i}"),
            };
            tasks.push(tokio::spawn(async move {
                let data = json!({"n": i}).as_object().unwrap().clone();
                (i, store.upsert(&path, data, &Default::default()).await)
            }));
            tokio::task::yield_now().await;
        }
        for task in tasks {
            let (i, result) = task.await.unwrap();
            match i {
                13 => assert!(result.is_err(), "the bad item fails alone"),
                _ => assert_eq!(result.unwrap().data["n"], json!(i), "its own record"),
            }
        }
        let batches = counting.batches.lock().unwrap().clone();
        let direct = counting.direct.load(std::sync::atomic::Ordering::Relaxed);
        assert!(batches.len() < 20, "gathered into few batches: {batches:?}");
        assert!(
            direct <= 2,
            "only writes to an idle store go straight through: {direct}"
        );
        assert_eq!(batches.iter().sum::<usize>() + direct, 41);
        let same = counting.inner.find_one("/a/same").await.unwrap().unwrap();
        assert_eq!(
            same.data["n"],
            json!(22),
            "one path's writes apply in arrival order"
        );
    }
}
