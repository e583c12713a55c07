//! Group commit on the real stores: concurrent writers gathered into batches keep each
//! path's order (store and events agree), one bad item fails alone, every acknowledged set
//! survives a `kill -9` of the node in the middle of batched writes, and three node
//! processes write one SQLite file at once.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::faults::{free_port, ports_open, spawn_node};
use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions};
use happn_cluster::config::DatastoreConfig;
use serde_json::{Value, json};

fn postgres_url() -> String {
    std::env::var("HAPPN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn postgres_store(table: &str) -> DatastoreConfig {
    DatastoreConfig {
        is_default: true,
        ..DatastoreConfig::new(
            "pg",
            "postgres",
            json!({"url": postgres_url(), "table": table}),
        )
    }
}

fn sqlite_store(dir: &std::path::Path) -> DatastoreConfig {
    DatastoreConfig {
        is_default: true,
        ..DatastoreConfig::new(
            "file",
            "sqlite",
            json!({"filename": dir.join("gc.db").to_string_lossy(), "table": "happn"}),
        )
    }
}

/// 16 writers, 40 sets each over 4 shared paths, one subscriber: every set succeeds, each
/// writer's sets to a path reach the subscriber in the order written, and the stored value
/// of each path is the last event of that path.
async fn writers_keep_per_path_order(store: DatastoreConfig, label: &str) {
    let mut config = common::test_config();
    config.services.data.config.datastores = vec![store];
    let node = Node::start(config).await.unwrap();
    let events: Arc<Mutex<Vec<(String, i64, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let subscriber = common::client(&node).await;
    let sink = events.clone();
    subscriber
        .on("/gc/order/*", Default::default(), move |event| {
            let path = event.path().unwrap_or_default().to_string();
            let writer = event.data["writer"].as_i64().unwrap_or(-1);
            let seq = event.data["seq"].as_i64().unwrap_or(-1);
            sink.lock().unwrap().push((path, writer, seq));
        })
        .await
        .unwrap();
    let mut writers = Vec::new();
    for w in 0..16i64 {
        let client = common::client(&node).await;
        writers.push(tokio::spawn(async move {
            for seq in 0..40i64 {
                let path = format!("/gc/order/{}", (w + seq) % 4);
                client
                    .set(&path, json!({"writer": w, "seq": seq}))
                    .await
                    .unwrap_or_else(|e| panic!("set {path}: {e}"));
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while events.lock().unwrap().len() < 640 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 640, "{label}: one event per set");
    let mut last: HashMap<(String, i64), i64> = HashMap::new();
    let mut last_of_path: HashMap<String, (i64, i64)> = HashMap::new();
    for (path, writer, seq) in &events {
        let previous = last.insert((path.clone(), *writer), *seq);
        assert!(
            previous.is_none_or(|p| p < *seq),
            "{label}: writer {writer}'s sets to {path} arrive in order"
        );
        last_of_path.insert(path.clone(), (*writer, *seq));
    }
    let reader = common::client(&node).await;
    for (path, (writer, seq)) in last_of_path {
        let stored = reader.get(&path).await.unwrap().expect("stored");
        assert_eq!(
            (stored["writer"].as_i64(), stored["seq"].as_i64()),
            (Some(writer), Some(seq)),
            "{label}: {path} holds what its last event said"
        );
    }
    node.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_keep_per_path_order() {
    writers_keep_per_path_order(
        postgres_store(&format!("gc_order_{}", std::process::id())),
        "postgres",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batches_keep_per_path_order() {
    let dir = tempfile::tempdir().unwrap();
    writers_keep_per_path_order(sqlite_store(dir.path()), "sqlite").await;
}

/// A batch holding one value PostgreSQL refuses (a NUL character in JSON text) fails that
/// write alone; the others written with it succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_item_fails_alone() {
    let mut config = common::test_config();
    config.services.data.config.datastores =
        vec![postgres_store(&format!("gc_bad_{}", std::process::id()))];
    let node = Node::start(config).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = common::client(&node).await;
        tasks.push(tokio::spawn(async move {
            let value = if i == 7 {
                json!({"text": "nul \u{0000} inside"})
            } else {
                json!({"i": i})
            };
            (i, client.set(&format!("/gc/bad/{i}"), value).await)
        }));
    }
    let mut failed = Vec::new();
    for task in tasks {
        let (i, result) = task.await.unwrap();
        if result.is_err() {
            failed.push(i);
        }
    }
    assert_eq!(failed, [7], "only the bad write fails");
    let reader = common::client(&node).await;
    for i in (0..24).filter(|i| *i != 7) {
        assert!(reader.get(&format!("/gc/bad/{i}")).await.unwrap().is_some());
    }
    node.shutdown(Duration::from_secs(1)).await;
}

async fn wait_ports(ports: &[u16]) {
    assert!(
        ports_open(ports, Duration::from_secs(60)).await,
        "client ports open"
    );
}

/// 16 writers on a node process (PostgreSQL); the node is killed with SIGKILL while they
/// write. Every set that was acknowledged is in the database afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_set_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let table = format!("gc_kill_{}", std::process::id());
    let (internal, client_port) = (free_port(), free_port());
    let path = dir.path().join("node.json");
    std::fs::write(
        &path,
        json!({
            "name": "gc-kill",
            "host": "127.0.0.1",
            "port": internal,
            "services": {
                "data": {"config": {"datastores": [{"name": "pg", "provider": "postgres", "isDefault": true,
                    "settings": {"url": postgres_url(), "table": table}}]}},
                "proxy": {"config": {"port": client_port, "host": "127.0.0.1"}}
            }
        })
        .to_string(),
    )
    .unwrap();
    let mut node = spawn_node(&path);
    wait_ports(&[client_port]).await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..16 {
        let mut options = ClientOptions::new(format!("http://127.0.0.1:{client_port}"));
        options.reconnect = false;
        options.call_timeout = Duration::from_secs(5);
        let client = Client::connect(options).await.unwrap();
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            for seq in 0.. {
                let path = format!("/gc/kill/{w}/{seq}");
                match client.set(&path, json!({"w": w, "seq": seq})).await {
                    Ok(_) => acknowledged.lock().unwrap().push(path),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let _ = node.0.kill();
    let _ = node.0.wait();
    for writer in writers {
        let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 100,
        "writes were under way: {}",
        acknowledged.len()
    );
    let plugins = happn_cluster::sdk::registry::datastores();
    let postgres = happn_cluster::sdk::registry::find(&plugins, "postgres").unwrap();
    let store = (postgres.build)(happn_cluster::sdk::BuildContext::settings(
        json!({"url": postgres_url(), "table": table}),
    ))
    .await
    .unwrap();
    let stored: std::collections::HashSet<String> = store
        .find(
            &happn_cluster::sdk::PathQuery::parse("/gc/kill/*"),
            &Default::default(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|p| !stored.contains(*p))
        .collect();
    println!(
        "acknowledged {}, stored {}, lost {}",
        acknowledged.len(),
        stored.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}

/// Three node processes on one SQLite file, each with 8 writers at once: every set is
/// acknowledged and stored, and a subscriber on each node sees every node's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_write_one_sqlite_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let deployment = format!("GC-{}", std::process::id());
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let mut nodes = Vec::new();
    for (i, (internal, client)) in ports.iter().enumerate() {
        let path = dir.path().join(format!("node-{i}.json"));
        std::fs::write(
            &path,
            json!({
                "name": format!("gc-node-{i}"),
                "host": "127.0.0.1",
                "port": internal,
                "services": {
                    "data": {"config": {"datastores": [{"name": "file", "provider": "sqlite", "isDefault": true,
                        "settings": {"filename": db.to_string_lossy(), "table": "happn"}}]}},
                    "proxy": {"config": {"port": client, "host": "127.0.0.1"}},
                    "orchestrator": {"config": {
                        "deployment": deployment,
                        "clusterSecret": common::CLUSTER_SECRET,
                        "timing": {"keepAliveThreshold": 2000, "keepAlive": 300, "memberRefresh": 300},
                        "cluster": {"happn-cluster-node": 3}
                    }}
                }
            })
            .to_string(),
        )
        .unwrap();
        nodes.push(spawn_node(&path));
    }
    let client_ports: Vec<u16> = ports.iter().map(|(_, c)| *c).collect();
    wait_ports(&client_ports).await;
    let mut counters = Vec::new();
    let mut subscribers = Vec::new();
    for port in &client_ports {
        let client = Client::connect(ClientOptions::new(format!("http://127.0.0.1:{port}")))
            .await
            .unwrap();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        client
            .on("/gc/files/*", Default::default(), move |_| {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            })
            .await
            .unwrap();
        counters.push(seen);
        subscribers.push(client);
    }
    let mut writers = Vec::new();
    for (n, port) in client_ports.iter().enumerate() {
        for w in 0..8 {
            let client = Client::connect(ClientOptions::new(format!("http://127.0.0.1:{port}")))
                .await
                .unwrap();
            writers.push(tokio::spawn(async move {
                for seq in 0..25 {
                    client
                        .set(&format!("/gc/files/{n}-{w}-{seq}"), json!({"seq": seq}))
                        .await
                        .unwrap_or_else(|e| panic!("node {n} writer {w}: {e}"));
                }
            }));
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let expected = 3 * 8 * 25;
    let deadline = Instant::now() + Duration::from_secs(20);
    while counters
        .iter()
        .any(|c| c.load(std::sync::atomic::Ordering::Relaxed) < expected)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (i, counter) in counters.iter().enumerate() {
        assert_eq!(
            counter.load(std::sync::atomic::Ordering::Relaxed),
            expected,
            "node {i}'s subscriber sees every node's writes once"
        );
    }
    let count: Value = subscribers[0]
        .request("count", Some("/gc/files/*"), Value::Null, None)
        .await
        .unwrap();
    assert_eq!(count["data"]["value"], json!(expected), "{count}");
    drop(nodes);
}
