//! The replication hot path, per event, in process: a local publication on the origin node
//! is fanned out to its peer link's session (encoded once), the frame is decoded as the peer
//! link's client decodes it, rebuilt into the origin's publication, and delivered to N local
//! subscribers on the receiving node (N = 0, 1, 10, 100). Sockets are left out: the load tool
//! measures those.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use happn_cluster::cluster::inbound::publication_from_event;
use happn_cluster::metrics::Metrics;
use happn_cluster::path::{EventFilter, EventKind, Mask};
use happn_cluster::protocol::Consistency;
use happn_cluster::pubsub::{Origin, PubSub, Publication, Recipient, Subscription};
use serde_json::{Map, Value, json};

/// A recipient that keeps the last frame (the peer link) or only counts (subscribers).
#[derive(Debug)]
struct Sink {
    id: String,
    peer: bool,
    last: Mutex<Option<Arc<str>>>,
    count: AtomicU64,
}

impl Sink {
    fn new(id: String, peer: bool) -> Arc<Sink> {
        Arc::new(Sink {
            id,
            peer,
            last: Mutex::new(None),
            count: AtomicU64::new(0),
        })
    }
}

impl Recipient for Sink {
    fn id(&self) -> &str {
        &self.id
    }
    fn send(&self, frame: Arc<str>) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed);
        if self.peer {
            *self.last.lock().unwrap() = Some(frame);
        }
        true
    }
    fn is_peer(&self) -> bool {
        self.peer
    }
    fn is_closed(&self) -> bool {
        false
    }
    fn may_receive(&self, _path: &str) -> bool {
        true
    }
}

fn subscription(recipient: Arc<Sink>, mask: &str) -> Subscription {
    Subscription {
        recipient,
        channel: format!("/ALL@{mask}").into(),
        mask: mask.into(),
        checked: false,
        merge: false,
        depth: None,
    }
}

fn publication(i: u64) -> Publication {
    Publication {
        kind: EventKind::Set,
        path: format!("/bench/{}", i % 64),
        data: json!({"value": i, "payload": "x".repeat(100)}),
        merge_data: None,
        created: Some(1),
        modified: Some(2),
        origin: Origin {
            node: "origin".into(),
            session_id: "s-1".into(),
            username: None,
        },
        publication_id: format!("s-1-{i}"),
        consistency: Consistency::Transactional,
        target_clients: None,
        meta: Map::new(),
        no_cluster: false,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("replication");
    group.sample_size(30);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (subscribers, kept) in [
        (0usize, false),
        (1, false),
        (10, false),
        (100, false),
        (0, true),
    ] {
        let origin = PubSub::new(Arc::new(Metrics::default()), Duration::from_secs(60));
        if kept {
            // As on a node with peers: every publication is numbered and kept for replay
            // (bounded by count, age and bytes).
            origin.enable_replay(
                "origin",
                happn_cluster::pubsub::ReplayLimits {
                    events: 10_000,
                    age: Duration::from_secs(60),
                    bytes: 64 * 1024 * 1024,
                },
            );
            origin.set_replay_active(true);
        }
        let name = if kept {
            "publish_to_remote_subscribers_replay_kept"
        } else {
            "publish_to_remote_subscribers"
        };
        let link = Sink::new("peer-link".into(), true);
        origin.subscribe(
            &Mask::parse("*").unwrap(),
            EventFilter::All,
            subscription(link.clone(), "*"),
        );
        let receiver = PubSub::new(Arc::new(Metrics::default()), Duration::from_secs(60));
        let sinks: Vec<Arc<Sink>> = (0..subscribers)
            .map(|i| Sink::new(format!("sub-{i}"), false))
            .collect();
        for sink in &sinks {
            receiver.subscribe(
                &Mask::parse("/bench/*").unwrap(),
                EventFilter::All,
                subscription(sink.clone(), "/bench/*"),
            );
        }
        let mut i = 0u64;
        group.bench_with_input(BenchmarkId::new(name, subscribers), &subscribers, |b, _| {
            b.iter(|| {
                i += 1;
                origin.publish(&publication(i));
                let frame = link.last.lock().unwrap().take().expect("the link got it");
                // What the peer link's client does with a frame.
                let mut event: Value = serde_json::from_str(&frame).expect("json");
                let meta = event
                    .get_mut("_meta")
                    .map(Value::take)
                    .unwrap_or(Value::Null);
                let data = event
                    .get_mut("data")
                    .map(Value::take)
                    .unwrap_or(Value::Null);
                let rebuilt = publication_from_event(data, &meta, "origin").expect("rebuilt");
                black_box(receiver.inject_remote(rebuilt));
            })
        });
        let delivered: u64 = sinks.iter().map(|s| s.count.load(Ordering::Relaxed)).sum();
        assert_eq!(
            delivered,
            i * subscribers as u64,
            "every event reached every subscriber"
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
