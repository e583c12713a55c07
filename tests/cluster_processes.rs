//! Three `happn-cluster` processes from seed-shaped JSON configs on one real database form a
//! cluster: a lone node keeps its client port shut until the minimum has joined; then the
//! unmodified happn-3 client on each node sees every other node's writes, merges,
//! publishes and removes exactly once, in per-origin order; `/health` says STABLE.

mod common;

use common::faults::{Proc, free_port, port_open, reset_connections, spawn_node};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn node_config(i: usize, internal: u16, client: u16, datastore: &Value) -> Value {
    json!({
        "name": format!("proc-node-{i}"),
        "host": "127.0.0.1",
        "port": internal,
        "secure": true,
        "services": {
            "security": {"config": {"adminUser": {"username": "_ADMIN", "password": "cluster-pass"}, "pbkdf2Iterations": 64}},
            "data": {"config": {"datastores": [datastore]}},
            "proxy": {"config": {"port": client, "host": "127.0.0.1"}},
            "orchestrator": {"config": {
                "deployment": format!("Proc-{}", std::process::id()),
                "replicate": ["*"],
                "timing": {"keepAliveThreshold": 2000, "keepAlive": 300, "memberRefresh": 300, "healthReport": 2000, "stabiliseTimeout": 60000},
                "cluster": {"happn-cluster-node": 3}
            }},
            "replicator": {"config": {"securityChangesetReplicateInterval": 200}}
        }
    })
}

async fn run_cluster(datastore: Value, label: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let start = |i: usize| {
        let path = dir.path().join(format!("node-{i}.json"));
        let (internal, client) = ports[i];
        std::fs::write(
            &path,
            node_config(i, internal, client, &datastore).to_string(),
        )
        .unwrap();
        spawn_node(&path)
    };
    let first = start(0);
    // Alone, the first node opens its internal port but keeps the client port shut.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !port_open(ports[0].0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        port_open(ports[0].0),
        "{label}: internal port opens at once"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        !port_open(ports[0].1),
        "{label}: client port shut until the minimum joins"
    );
    let (status, body) = common::http_get(
        format!("127.0.0.1:{}", ports[0].0).parse().unwrap(),
        "/health",
    )
    .await;
    assert_eq!(status, 503, "{label}: {body}");
    let rest = [start(1), start(2)];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ports.iter().all(|(_, c)| port_open(*c)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ports.iter().all(|(_, c)| port_open(*c)),
        "{label}: every client port opens"
    );
    let token = common::http_login(
        format!("127.0.0.1:{}", ports[0].1).parse().unwrap(),
        "_ADMIN",
        "cluster-pass",
    )
    .await
    .expect("an admin token");
    for (internal, _) in &ports {
        // The full report needs an admin token on a secure node's internal port.
        let (status, body) = common::http_get_with_token(
            format!("127.0.0.1:{internal}").parse().unwrap(),
            "/health",
            &token,
        )
        .await;
        assert_eq!(status, 200, "{label}: {body}");
        let health: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(health["state"], "STABLE");
        assert_eq!(health["report"]["TOTAL_CLUSTER_PEERS"], 3);
    }
    let client_ports = ports
        .iter()
        .map(|(_, c)| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("tests/compat/cluster-check.js")
            .env("HAPPN_PORTS", client_ports)
            .env("HAPPN_PASSWORD", "cluster-pass")
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{label}: {stdout}");
    assert!(output.status.success(), "{label}:\n{stdout}\n{stderr}");
    drop(rest);
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_on_postgres_form_a_cluster_for_the_npm_client() {
    let url = std::env::var("HAPPN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let table = format!("cluster_proc_{}", std::process::id());
    run_cluster(
        json!({"name": "pg", "provider": "postgres", "isDefault": true, "settings": {"url": url, "table": table}}),
        "postgres",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_on_secantusdb_form_a_cluster_for_the_npm_client() {
    let url = std::env::var("HAPPN_TEST_MONGO_URL")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?retryWrites=false".into());
    let collection = format!("cluster_proc_{}", std::process::id());
    run_cluster(
        json!({"name": "mongo", "provider": "mongo", "isDefault": true, "settings": {"url": url, "database": "happn_cluster_test", "collection": collection}}),
        "secantusdb",
    )
    .await;
}

/// The bar, on PostgreSQL with the npm client on every node: peer links reset every
/// 150 ms during 1,500 sequential writes; every subscriber sees every write once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_subscribers_miss_nothing_while_peer_links_are_reset_every_150ms() {
    let url = std::env::var("HAPPN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let table = format!("cluster_resets_{}", std::process::id());
    let datastore = json!({"name": "pg", "provider": "postgres", "isDefault": true, "settings": {"url": url, "table": table}});
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let _procs: Vec<Proc> = (0..3)
        .map(|i| {
            let (internal, client) = ports[i];
            let mut config = node_config(i, internal, client, &datastore);
            config["secure"] = json!(false);
            let path = dir.path().join(format!("node-{i}.json"));
            std::fs::write(&path, config.to_string()).unwrap();
            spawn_node(&path)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ports.iter().all(|(_, c)| port_open(*c)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ports.iter().all(|(_, c)| port_open(*c)),
        "the cluster serves"
    );
    let client_ports = ports
        .iter()
        .map(|(_, c)| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut npm = tokio::process::Command::new("node")
        .arg("tests/compat/cluster-faults.js")
        .env("HAPPN_PORTS", client_ports)
        .env("HAPPN_WRITES", "1500")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    // Reset the peer links every 150 ms until the npm run ends.
    let internal: Vec<u16> = ports.iter().map(|(i, _)| *i).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let resets = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let mut rounds = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(150));
                if internal.iter().all(|p| reset_connections(*p)) {
                    rounds += 1;
                }
            }
            rounds
        })
    };
    let status = tokio::time::timeout(Duration::from_secs(300), npm.wait())
        .await
        .expect("the npm run ends")
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = resets.await.unwrap();
    let mut stdout = String::new();
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    if let Some(mut out) = npm.stdout.take() {
        let _ = out.read_to_string(&mut stdout).await;
    }
    if let Some(mut err) = npm.stderr.take() {
        let _ = err.read_to_string(&mut stderr).await;
    }
    let mut replayed = 0u64;
    for (port, _) in &ports {
        let (_, metrics) =
            common::http_get(format!("127.0.0.1:{port}").parse().unwrap(), "/metrics").await;
        replayed += metrics
            .lines()
            .find_map(|l| l.strip_prefix("happn_replayed_events_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    println!("{stdout}reset rounds {rounds}, events replayed {replayed}");
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(rounds >= 10, "the links were reset ({rounds} rounds)");
}
