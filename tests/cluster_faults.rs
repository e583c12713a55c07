//! Faults injected for real into a running cluster, counted: peer links reset over and over
//! (`ss -K` on the nodes' internal ports) while writes flow. Every subscriber on every node
//! must see every write exactly once, in order: the receivers detect the gaps, and the
//! origin replays what they missed from its buffer.

mod common;

use common::faults::reset_connections;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions, OnOptions};
use happn_cluster::config::{Config, Millis};
use serde_json::{Value, json};

fn cluster_config(dir: &std::path::Path) -> Config {
    let mut config = common::sqlite_cluster_config(dir, 3);
    config
        .services
        .orchestrator
        .config
        .timing
        .keep_alive_threshold = Millis(2_000);
    config
}

/// What one subscriber saw of one origin's writes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tally {
    received: usize,
    duplicated: usize,
    out_of_order: usize,
    last: Option<u64>,
    seen: std::collections::BTreeSet<u64>,
}

impl Tally {
    fn add(&mut self, n: u64) {
        self.received += 1;
        if !self.seen.insert(n) {
            self.duplicated += 1;
        }
        if self.last.is_some_and(|last| n <= last) {
            self.out_of_order += 1;
        }
        self.last = Some(n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_links_reset_every_150ms_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let starts: Vec<_> = (0..3)
        .map(|_| tokio::spawn(Node::start(cluster_config(dir.path()))))
        .collect();
    let mut nodes: Vec<Node> = Vec::new();
    for start in starts {
        nodes.push(start.await.unwrap().expect("node stabilises"));
    }
    let mut tallies = Vec::new();
    let mut subscribers = Vec::new();
    for node in &nodes {
        let client = Client::connect(ClientOptions::new(common::url(node)))
            .await
            .unwrap();
        let tally: Arc<Mutex<Tally>> = Arc::default();
        let sink = tally.clone();
        client
            .on("/faults/*", OnOptions::default(), move |event| {
                if let Some(n) = event.data.get("n").and_then(Value::as_u64) {
                    sink.lock().unwrap().add(n);
                }
            })
            .await
            .unwrap();
        tallies.push(tally);
        subscribers.push(client);
    }
    let ports: Vec<u16> = nodes.iter().map(|n| n.peer_addr().port()).collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let resets = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let mut resets = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(150));
                for port in &ports {
                    if reset_connections(*port) {
                        resets += 1;
                    }
                }
            }
            resets
        })
    };
    const WRITES: u64 = 1_500;
    let writer = Client::connect(ClientOptions::new(common::url(&nodes[0])))
        .await
        .unwrap();
    let mut acknowledged = 0;
    for n in 0..WRITES {
        writer
            .set(&format!("/faults/{}", n % 50), json!({"n": n}))
            .await
            .expect("every write succeeds");
        acknowledged += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let resets = resets.await.unwrap();
    let complete = || {
        tallies
            .iter()
            .all(|t| t.lock().unwrap().seen.len() as u64 == WRITES)
    };
    for _ in 0..400 {
        if complete() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replayed = nodes[0].metrics().replayed_events.get();
    let requests: u64 = nodes
        .iter()
        .map(|n| n.metrics().replay_requests.get())
        .sum();
    println!(
        "writes acknowledged {acknowledged}, link resets {resets}, replay requests {requests}, events replayed {replayed}"
    );
    assert!(resets >= 10, "the faults happened ({resets} resets)");
    for (i, tally) in tallies.iter().enumerate() {
        let tally = tally.lock().unwrap().clone();
        let lost = WRITES as usize - tally.seen.len();
        println!(
            "node {i}: expected {WRITES}, received {}, lost {lost}, duplicated {}, out of order {}",
            tally.received, tally.duplicated, tally.out_of_order
        );
        assert_eq!(
            (lost, tally.duplicated, tally.out_of_order),
            (0, 0, 0),
            "node {i}"
        );
    }
    for node in nodes {
        assert_eq!(node.metrics().replication_lost.get(), 0);
        node.shutdown(Duration::from_secs(1)).await;
    }
}
