//! Three `happn-cluster` processes from seed-shaped JSON configs on one real database form a
//! cluster: a lone node keeps its client port shut until the minimum has joined; then the
//! unmodified happn-3 client on each node sees every other node's writes, merges,
//! publishes and removes exactly once, in per-origin order; `/health` says STABLE.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
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
        Proc(
            Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
                .arg("--config")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("node process starts"),
        )
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
    for (internal, _) in &ports {
        let (status, body) =
            common::http_get(format!("127.0.0.1:{internal}").parse().unwrap(), "/health").await;
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
