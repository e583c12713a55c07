//! Subscription matching: hit, no-match and match-under-churn at 1k, 10k, 100k and 1M
//! subscriptions. See `support/paths.rs` for the workload.

mod support {
    pub mod paths;
}

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use happn_cluster::path::{EventKind, SubscriptionIndex};
use support::paths::{Rng, Workload};

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("path_match");
    group.sample_size(30);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for &size in &SIZES {
        let workload = Workload::new(size, 42);
        let mut index = SubscriptionIndex::new();
        for (i, (mask, filter)) in workload.masks.iter().enumerate() {
            index.insert(mask, *filter, i as u32);
        }
        let mut rng = Rng::new(7);
        // Hit paths come from subscriptions that accept set events, so each matches at least one.
        let hits: Vec<String> = (0..1024)
            .map(|_| {
                loop {
                    let (mask, filter) = &workload.masks[rng.below(size as u64) as usize];
                    if filter.accepts(EventKind::Set) {
                        break workload.path_for(mask, &mut rng);
                    }
                }
            })
            .collect();
        let mut misses = Vec::new();
        while misses.len() < 1024 {
            let path = workload.random_path(&mut rng);
            if index.matches(&path, EventKind::Set).is_empty() {
                misses.push(path);
            }
        }
        let mean_hits = hits
            .iter()
            .map(|p| index.matches(p, EventKind::Set).len())
            .sum::<usize>() as f64
            / hits.len() as f64;
        eprintln!("{size} subscriptions: {mean_hits:.2} matches per hit path (set events)");

        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("hit", size), &size, |b, _| {
            b.iter(|| {
                i = (i + 1) & 1023;
                let mut n = 0u32;
                index.for_each_match(black_box(&hits[i]), EventKind::Set, |_, v| n ^= *v);
                n
            })
        });
        group.bench_with_input(BenchmarkId::new("no_match", size), &size, |b, _| {
            b.iter(|| {
                i = (i + 1) & 1023;
                let mut n = 0u32;
                index.for_each_match(black_box(&misses[i]), EventKind::Set, |_, v| n ^= *v);
                n
            })
        });

        // Churn: before every timed match, one subscription is added and one removed (in
        // the same tenants). Only the match is timed; the figure includes ~25 ns of clock
        // overhead.
        let churn = Workload::new(size.max(4096), 99);
        let mut live: std::collections::VecDeque<_> = churn
            .masks
            .iter()
            .take(2048)
            .map(|(m, f)| index.insert(m, *f, 0))
            .collect();
        let mut next = 2048;
        group.bench_with_input(
            BenchmarkId::new("match_under_churn", size),
            &size,
            |b, _| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        i = (i + 1) & 1023;
                        if let Some(old) = live.pop_front() {
                            index.remove(old);
                        }
                        let (mask, filter) = &churn.masks[next % churn.masks.len()];
                        next += 1;
                        live.push_back(index.insert(mask, *filter, 0));
                        let started = std::time::Instant::now();
                        let mut n = 0u32;
                        index.for_each_match(black_box(&hits[i]), EventKind::Set, |_, v| n ^= *v);
                        total += started.elapsed();
                        black_box(n);
                    }
                    total
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("subscribe_unsubscribe", size),
            &size,
            |b, _| {
                b.iter(|| {
                    if let Some(old) = live.pop_front() {
                        index.remove(old);
                    }
                    let (mask, filter) = &churn.masks[next % churn.masks.len()];
                    next += 1;
                    live.push_back(index.insert(mask, *filter, 0));
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
