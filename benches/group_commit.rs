//! What gathering costs per write: writes through the group-commit layer to a store whose
//! batch write returns at once, with 1, 8 and 64 writers at a time (so batches of about
//! that size). Compare with `direct`, the same writes straight to the store: the
//! difference is the layer's overhead, which a real store's round trip (hundreds of
//! microseconds) dwarfs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use happn_cluster::data::group_commit::{BatchLimits, GroupCommit};
use happn_cluster::sdk::{
    Criteria, Datastore, Features, FindOptions, PathQuery, Record, Result, UpsertItem,
    UpsertOptions,
};
use serde_json::{Map, Number, Value};

/// A store that answers every write at once, as if its round trip were free.
struct Instant0;

fn record(path: &str, data: Map<String, Value>) -> Record {
    Record {
        path: path.to_string(),
        data,
        created: 1,
        modified: 1,
        modified_by: None,
    }
}

#[async_trait]
impl Datastore for Instant0 {
    fn provider(&self) -> &'static str {
        "instant"
    }
    fn features(&self) -> Features {
        Features {
            batch_writes: true,
            ..Features::default()
        }
    }
    async fn upsert(
        &self,
        path: &str,
        data: Map<String, Value>,
        _options: &UpsertOptions,
    ) -> Result<Record> {
        Ok(record(path, data))
    }
    async fn upsert_many(&self, items: Vec<UpsertItem>) -> Vec<Result<Record>> {
        items
            .into_iter()
            .map(|i| Ok(record(&i.path, i.data)))
            .collect()
    }
    async fn increment(
        &self,
        _path: &str,
        _gauge: &str,
        by: &Number,
        _modified_by: Option<&str>,
    ) -> Result<Number> {
        Ok(by.clone())
    }
    async fn find(&self, _query: &PathQuery, _options: &FindOptions) -> Result<Vec<Record>> {
        Ok(Vec::new())
    }
    async fn count(&self, _query: &PathQuery, _criteria: Option<&Criteria>) -> Result<u64> {
        Ok(0)
    }
    async fn remove(&self, _query: &PathQuery, _criteria: Option<&Criteria>) -> Result<u64> {
        Ok(0)
    }
}

/// Time for `writes` writes, `writers` at a time.
fn run(
    rt: &tokio::runtime::Runtime,
    store: Arc<dyn Datastore>,
    writers: usize,
    writes: u64,
) -> Duration {
    rt.block_on(async move {
        let rounds = (writes as usize).div_ceil(writers).max(1);
        let data: Map<String, Value> = serde_json::from_str(r#"{"v": "0123456789"}"#).unwrap();
        let started = Instant::now();
        for round in 0..rounds {
            let mut tasks = Vec::with_capacity(writers);
            for w in 0..writers {
                let store = store.clone();
                let data = data.clone();
                tasks.push(tokio::spawn(async move {
                    let path = format!("/bench/{w}/{round}");
                    store.upsert(&path, data, &UpsertOptions::default()).await
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
        }
        started.elapsed() * (writes as u32).max(1) / (rounds * writers) as u32
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("group_commit");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(2));
    for writers in [1usize, 8, 64] {
        let direct: Arc<dyn Datastore> = Arc::new(Instant0);
        let gathered: Arc<dyn Datastore> = Arc::new(GroupCommit::new(
            Arc::new(Instant0),
            BatchLimits {
                max_items: 64,
                in_flight: 1,
            },
        ));
        group.bench_with_input(BenchmarkId::new("direct", writers), &writers, |b, &w| {
            b.iter_custom(|iters| run(&rt, direct.clone(), w, iters))
        });
        group.bench_with_input(BenchmarkId::new("gathered", writers), &writers, |b, &w| {
            b.iter_custom(|iters| run(&rt, gathered.clone(), w, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
