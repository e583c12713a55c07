//! Real processes, real faults, counted: a 3-node cluster on PostgreSQL (one node's clock
//! 30 s off) with subscribers on every node; one node SIGKILLed mid-write and restarted
//! under the same endpoint; one node SIGSTOPped and resumed. Every write succeeds, no
//! subscriber on a running node loses or repeats an event, the dead member leaves within
//! `keepAliveThreshold`, and the restarted node re-joins and serves.

mod common;

use common::faults::{Proc, free_port};

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use happn_cluster::client::{Client, ClientOptions, OnOptions};
use serde_json::{Value, json};

struct Cluster {
    dir: tempfile::TempDir,
    ports: Vec<(u16, u16)>,
    table: String,
}

impl Cluster {
    fn new(nodes: usize) -> Cluster {
        Cluster {
            dir: tempfile::tempdir().unwrap(),
            ports: (0..nodes).map(|_| (free_port(), free_port())).collect(),
            table: format!("faults_{}_{}", std::process::id(), free_port()),
        }
    }

    fn start(&self, i: usize, clock_offset_ms: i64) -> Proc {
        self.start_with(i, clock_offset_ms, json!({}))
    }

    /// Starts node `i` with `session` as its `services.session.config`.
    fn start_with(&self, i: usize, clock_offset_ms: i64, session: Value) -> Proc {
        let url = std::env::var("HAPPN_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let (internal, client) = self.ports[i];
        let config = json!({
            "name": format!("fault-node-{i}"),
            "host": "127.0.0.1",
            "port": internal,
            "services": {
                "data": {"config": {"datastores": [{"name": "pg", "provider": "postgres", "isDefault": true, "settings": {"url": url, "table": self.table}}]}},
                "proxy": {"config": {"port": client, "host": "127.0.0.1"}},
                "session": {"config": session},
                "orchestrator": {"config": {
                    "deployment": format!("Faults-{}", self.table),
                    "timing": {"keepAliveThreshold": 2000, "keepAlive": 300, "memberRefresh": 300, "healthReport": 2000, "stabiliseTimeout": 60000},
                    "cluster": {"happn-cluster-node": self.ports.len()},
                    "clusterSecret": common::CLUSTER_SECRET
                }}
            }
        });
        let path = self.dir.path().join(format!("node-{i}.json"));
        std::fs::write(&path, config.to_string()).unwrap();
        Proc(
            Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
                .arg("--config")
                .arg(&path)
                .env("HAPPN_TEST_CLOCK_OFFSET_MS", clock_offset_ms.to_string())
                .stdout(Stdio::null())
                .stderr(match std::env::var("HAPPN_TEST_LOG_DIR") {
                    // Node logs for debugging a failure: HAPPN_TEST_LOG_DIR=/tmp/logs.
                    Ok(dir) => std::fs::File::create(format!("{dir}/{}-node-{i}.log", self.table))
                        .map(Stdio::from)
                        .unwrap_or_else(|_| Stdio::null()),
                    Err(_) => Stdio::null(),
                })
                .spawn()
                .expect("node process starts"),
        )
    }

    fn client_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i].1)
    }

    async fn health(&self, i: usize) -> Option<Value> {
        let addr = format!("127.0.0.1:{}", self.ports[i].0).parse().unwrap();
        if std::net::TcpStream::connect(addr).is_err() {
            return None;
        }
        let (_, body) = common::http_get(addr, "/health").await;
        serde_json::from_str(&body).ok()
    }

    async fn members(&self, i: usize) -> usize {
        self.health(i)
            .await
            .and_then(|h| h["members"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    async fn stable(&self, i: usize) -> bool {
        self.health(i).await.is_some_and(|h| h["state"] == "STABLE")
    }
}

async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// (received, distinct, duplicated, out of order) for one subscriber.
type Counts = Arc<
    Mutex<(
        usize,
        std::collections::BTreeSet<u64>,
        usize,
        usize,
        Option<u64>,
    )>,
>;

async fn subscriber(url: &str) -> (Client, Counts) {
    let client = Client::connect(ClientOptions::new(url)).await.unwrap();
    let counts: Counts = Arc::default();
    let sink = counts.clone();
    client
        .on("/load/*", OnOptions::default(), move |event| {
            if let Some(n) = event.data.get("n").and_then(Value::as_u64) {
                let mut c = sink.lock().unwrap();
                c.0 += 1;
                if !c.1.insert(n) {
                    c.2 += 1;
                }
                if c.4.is_some_and(|last| n <= last) {
                    c.3 += 1;
                }
                c.4 = Some(n);
            }
        })
        .await
        .unwrap();
    (client, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_write_loses_nothing_for_the_others_and_rejoins() {
    let cluster = Cluster::new(3);
    // Node 1 runs with its clock 30 s ahead: liveness never compares clocks.
    let mut procs = [
        Some(cluster.start(0, 0)),
        Some(cluster.start(1, 30_000)),
        Some(cluster.start(2, 0)),
    ];
    assert!(
        wait_until(Duration::from_secs(60), || async {
            cluster.stable(0).await && cluster.stable(1).await && cluster.stable(2).await
        })
        .await
        .is_some(),
        "the cluster stabilises"
    );
    // No flapping with the skewed clock: three members throughout two seconds.
    for _ in 0..10 {
        assert_eq!(cluster.members(0).await, 3);
        assert_eq!(cluster.members(1).await, 3);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_s0, counts0) = subscriber(&cluster.client_url(0)).await;
    let (_s1, counts1) = subscriber(&cluster.client_url(1)).await;
    let writer = Client::connect(ClientOptions::new(cluster.client_url(0)))
        .await
        .unwrap();
    const WRITES: u64 = 1_000;
    let mut acknowledged = 0;
    let mut left_after = None;
    for n in 0..WRITES {
        if n == 300 {
            // SIGKILL: no clean leave, the keepalive record stays behind.
            if let Some(mut proc) = procs[2].take() {
                let _ = proc.0.kill();
                let _ = proc.0.wait();
            }
            let killed_at = Instant::now();
            let watcher = cluster.ports[0].0;
            left_after = Some(tokio::spawn(async move {
                let addr = format!("127.0.0.1:{watcher}").parse().unwrap();
                loop {
                    let (_, body) = common::http_get(addr, "/health").await;
                    let members = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|h| h["members"].as_array().map(Vec::len));
                    if members == Some(2) || killed_at.elapsed() > Duration::from_secs(30) {
                        return killed_at.elapsed();
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }));
        }
        writer
            .set(&format!("/load/{}", n % 20), json!({"n": n}))
            .await
            .expect("every write succeeds while a node dies");
        acknowledged += 1;
    }
    let noticed = left_after.unwrap().await.unwrap();
    let done = || {
        counts0.lock().unwrap().1.len() as u64 == WRITES
            && counts1.lock().unwrap().1.len() as u64 == WRITES
    };
    let _ = wait_until(Duration::from_secs(20), || async { done() }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, counts) in [&counts0, &counts1].iter().enumerate() {
        let c = counts.lock().unwrap();
        let lost = WRITES as usize - c.1.len();
        println!(
            "subscriber on node {i}: expected {WRITES}, received {}, lost {lost}, duplicated {}, out of order {}",
            c.0, c.2, c.3
        );
        assert_eq!((lost, c.2, c.3), (0, 0, 0), "node {i}");
    }
    assert_eq!(acknowledged, WRITES);
    println!("dead member left the member list after {noticed:?} (keepAliveThreshold 2 s)");
    assert!(noticed < Duration::from_secs(30), "the dead member left");

    // Restart under the same endpoint: it re-joins and serves.
    procs[2] = Some(cluster.start(2, 0));
    let rejoined = wait_until(Duration::from_secs(60), || async {
        cluster.stable(2).await && cluster.stable(0).await && cluster.members(0).await == 3
    })
    .await
    .expect("the restarted node re-joins");
    println!("restarted node STABLE and serving after {rejoined:?}");
    let (_s2, counts2) = subscriber(&cluster.client_url(2)).await;
    for n in WRITES..WRITES + 50 {
        writer
            .set(&format!("/load/{}", n % 20), json!({"n": n}))
            .await
            .unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(10), || async {
            counts2.lock().unwrap().1.len() == 50
        })
        .await
        .is_some(),
        "the restarted node's subscriber sees new writes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_does_not_stall_the_others_and_catches_up() {
    let cluster = Cluster::new(3);
    // The stopped node catches up in a burst (its peers replay 400 events of 64 KiB, about
    // 25 MiB) and passes it on to its local subscriber, a client in this test process that
    // may read slower than that: its outbound budget holds the whole burst, so the
    // slow-consumer cut (8 MiB by default) does not turn the catch-up into a client's loss.
    let procs = [
        cluster.start(0, 0),
        cluster.start_with(1, 0, json!({"outboundQueueBytes": 64 * 1024 * 1024})),
        cluster.start(2, 0),
    ];
    assert!(
        wait_until(Duration::from_secs(60), || async {
            cluster.stable(0).await && cluster.stable(1).await && cluster.stable(2).await
        })
        .await
        .is_some()
    );
    let (_s2, counts2) = subscriber(&cluster.client_url(2)).await;
    let (_s1, counts1) = subscriber(&cluster.client_url(1)).await;
    let writer = Client::connect(ClientOptions::new(cluster.client_url(0)))
        .await
        .unwrap();
    const WRITES: u64 = 600;
    let pid = procs[1].0.id().to_string();
    // 64 KiB events: more than the kernel's socket buffers hold while the peer is stopped,
    // so node 0 cuts its link as a slow consumer and the gap must be replayed.
    let pad = "x".repeat(64 * 1024);
    for n in 0..WRITES {
        if n == 100 {
            Command::new("kill").args(["-STOP", &pid]).status().unwrap();
        }
        if n == 500 {
            Command::new("kill").args(["-CONT", &pid]).status().unwrap();
        }
        writer
            .set(&format!("/load/{}", n % 20), json!({"n": n, "pad": pad}))
            .await
            .expect("a stopped peer never blocks the writer");
    }
    let caught_up = wait_until(Duration::from_secs(90), || async {
        counts1.lock().unwrap().1.len() as u64 == WRITES
            && counts2.lock().unwrap().1.len() as u64 == WRITES
    })
    .await;
    println!("the stopped node's subscriber caught up {caught_up:?} after the writes");
    for (name, counts) in [("running node 2", &counts2), ("stopped node 1", &counts1)] {
        let c = counts.lock().unwrap();
        let lost = WRITES as usize - c.1.len();
        println!(
            "subscriber on {name}: expected {WRITES}, received {}, lost {lost}, duplicated {}, out of order {}",
            c.0, c.2, c.3
        );
        assert_eq!((lost, c.2, c.3), (0, 0, 0), "{name}");
    }
    let addr = format!("127.0.0.1:{}", cluster.ports[0].0).parse().unwrap();
    let (_, metrics) = common::http_get(addr, "/metrics").await;
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    println!(
        "node 0: slow peers cut {}, events replayed {}, replay buffer depth {}",
        value("happn_slow_consumer_disconnects_total"),
        value("happn_replayed_events_total"),
        value("happn_replay_buffer_depth")
    );
    assert!(
        value("happn_slow_consumer_disconnects_total") >= 1,
        "the stalled peer was cut"
    );
    assert!(
        value("happn_replayed_events_total") >= 1,
        "and resumed through the replay buffer"
    );
    drop(procs);
}

/// A rolling restart under load: each node in turn gets SIGTERM (a graceful leave: its
/// keepalive is withdrawn, so the others drop it at once, without waiting out the
/// threshold) and is started again, while a writer on one running node writes and a
/// subscriber on the other running node counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_nothing_for_connected_subscribers() {
    let cluster = Cluster::new(3);
    let mut procs: Vec<Option<Proc>> = (0..3).map(|i| Some(cluster.start(i, 0))).collect();
    assert!(
        wait_until(Duration::from_secs(60), || async {
            cluster.stable(0).await && cluster.stable(1).await && cluster.stable(2).await
        })
        .await
        .is_some()
    );
    const WRITES: u64 = 300;
    for (phase, slot) in procs.iter_mut().enumerate() {
        let (writer_node, reader_node) = ((phase + 1) % 3, (phase + 2) % 3);
        let (_reader, counts) = subscriber(&cluster.client_url(reader_node)).await;
        let writer = Client::connect(ClientOptions::new(cluster.client_url(writer_node)))
            .await
            .unwrap();
        let base = phase as u64 * WRITES;
        let mut left_after = None;
        for n in base..base + WRITES {
            if n == base + 50 {
                let pid = slot.as_ref().map(|p| p.0.id().to_string()).unwrap();
                let sent = Instant::now();
                Command::new("kill").args(["-TERM", &pid]).status().unwrap();
                if let Some(mut proc) = slot.take() {
                    let _ = proc.0.wait();
                }
                left_after = wait_until(Duration::from_secs(10), || async {
                    cluster.members(writer_node).await == 2
                })
                .await
                .map(|_| sent.elapsed());
                *slot = Some(cluster.start(phase, 0));
            }
            writer
                .set(&format!("/load/{}", n % 20), json!({"n": n}))
                .await
                .expect("writes succeed through the restart");
        }
        let _ = wait_until(Duration::from_secs(20), || async {
            counts.lock().unwrap().1.len() as u64 == WRITES
        })
        .await;
        let c = counts.lock().unwrap().clone();
        let lost = WRITES as usize - c.1.len();
        println!(
            "restart of node {phase}: subscriber on node {reader_node}: expected {WRITES}, received {}, lost {lost}, duplicated {}, out of order {}; the leave was seen after {left_after:?}",
            c.0, c.2, c.3
        );
        assert_eq!((lost, c.2, c.3), (0, 0, 0), "phase {phase}");
        assert!(left_after.is_some(), "the graceful leave was seen");
        assert!(
            wait_until(Duration::from_secs(60), || async {
                cluster.stable(0).await && cluster.stable(1).await && cluster.stable(2).await
            })
            .await
            .is_some(),
            "phase {phase}: the restarted node re-joins"
        );
    }
}
