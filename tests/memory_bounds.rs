//! Memory the node holds for what clients do, measured on a real node process (the
//! `happn-cluster` binary) through its resident set size: a client that stops reading cannot
//! make the node buffer its replies, and idle connections stay small.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// A node process on a free client port, killed when dropped.
struct NodeProcess {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start(session: serde_json::Value) -> NodeProcess {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = json!({
        "host": "127.0.0.1", "port": free_port(),
        "services": {
            "proxy": {"config": {"host": "127.0.0.1", "port": port}},
            "session": {"config": session},
            "data": {"config": {"datastores": [{"name": "mem", "provider": "memory", "isDefault": true}]}}
        }
    });
    let file = dir.path().join("node.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node binary starts");
    // Owned at once, so the process is killed and reaped on every path.
    let mut node = NodeProcess {
        child,
        port,
        _dir: dir,
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return node;
        }
        if let Ok(Some(status)) = node.child.try_wait() {
            panic!("the node exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the node did not open port {port}");
}

/// Resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16) -> Ws {
    let url = format!("ws://127.0.0.1:{port}/primus?_primuscb=test");
    tokio_tungstenite::connect_async(url).await.expect("ws").0
}

async fn handshake(ws: &mut Ws) {
    for frame in [
        json!({"action": "configure-session", "eventId": 1, "data": {"protocol": "happn_4"}}),
        json!({"action": "login", "eventId": 2, "data": {"info": {}}}),
    ] {
        ws.send(Message::text(frame.to_string())).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_cannot_make_the_node_buffer_its_replies() {
    let node = start(json!({})).await;
    let url = format!("http://127.0.0.1:{}", node.port);
    let writer =
        happn_cluster::client::Client::connect(happn_cluster::client::ClientOptions::new(&url))
            .await
            .unwrap();
    let big = "x".repeat(5 * 1024 * 1024);
    writer.set("/big", json!({"blob": big})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(node.child.id());

    // The attack: 300 gets of a 5 MB record (18 KB of requests), and never read a reply.
    let mut ws = connect(node.port).await;
    handshake(&mut ws).await;
    for i in 0..300 {
        let get = json!({"action": "get", "eventId": 10 + i, "path": "/big"});
        if tokio::time::timeout(
            Duration::from_secs(2),
            ws.send(Message::text(get.to_string())),
        )
        .await
        .is_err()
        {
            break; // the node stopped reading us: backpressure reached the socket
        }
    }
    let mut peak = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        peak = peak.max(rss_kib(node.child.id()));
    }
    let grown_mib = peak.saturating_sub(before) / 1024;
    println!("RSS before {before} KiB, peak {peak} KiB: grew {grown_mib} MiB");
    // Before the byte bound: 75 MB → 1.6 GB. Now a few replies' worth at most.
    assert!(grown_mib < 120, "node grew by {grown_mib} MiB");
    // The node keeps serving others.
    assert_eq!(
        writer.get("/big").await.unwrap().unwrap()["blob"]
            .as_str()
            .map(str::len),
        Some(big.len())
    );
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_costs_at_most_16_kib() {
    let node = start(json!({})).await;
    // Warm up: the first connections allocate the runtime's pools.
    let mut sockets = Vec::new();
    for _ in 0..50 {
        let mut ws = connect(node.port).await;
        handshake(&mut ws).await;
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(node.child.id());
    const N: u64 = 1000;
    for _ in 0..N {
        let mut ws = connect(node.port).await;
        handshake(&mut ws).await;
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(node.child.id());
    let per_connection = (after.saturating_sub(before)) * 1024 / N;
    println!(
        "{N} idle logged-in connections: {before} KiB → {after} KiB, {per_connection} bytes each"
    );
    assert!(
        per_connection <= 16 * 1024,
        "{per_connection} bytes per idle connection"
    );
    drop(sockets);
}
