//! Database failures: a node whose database cannot be reached at start-up fails fast naming
//! the URL; an outage during operation gives clients clear errors, the node keeps running,
//! and it recovers by itself when the database returns, with nothing half-written.
//! Uses a private SecantusDB server (`SECANTUS_PYTHON`, set by scripts/test.sh).

mod common;

use common::faults::{free_port, start_secantus};

use std::process::{Child, Command};
use std::time::Duration;

use happn_cluster::Node;
use happn_cluster::config::DatastoreConfig;
use happn_cluster::sdk::Error;
use serde_json::json;

fn mongo_config(port: u16, collection: &str) -> happn_cluster::config::Config {
    let mut config = common::test_config();
    config.services.data.config.datastores = vec![DatastoreConfig {
        name: "mongo".into(),
        provider: Some("happn-db-provider-mongo".into()),
        settings: json!({
            "url": format!("mongodb://127.0.0.1:{port}/?retryWrites=false&serverSelectionTimeoutMS=1500"),
            "database": "outage",
            "collection": collection,
        }),
        patterns: vec![],
        is_default: true,
        ..DatastoreConfig::default()
    }];
    config
}

#[tokio::test]
async fn an_unreachable_database_fails_the_node_fast() {
    let port = free_port();
    let started = std::time::Instant::now();
    let err = Node::start(mongo_config(port, "x"))
        .await
        .err()
        .expect("start fails");
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")),
        "names the URL: {text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "fails fast, took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_clear_errors_and_recovers() {
    let port = free_port();
    let storage = tempfile::tempdir().unwrap();
    let mut server = start_secantus(port, storage.path());
    let node = Node::start(mongo_config(port, "docs"))
        .await
        .expect("node starts");
    let client = common::client(&node).await;
    client
        .set("/o/before", json!({"kept": true}))
        .await
        .unwrap();

    // Stop the database (gracefully, as an operator would).
    Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    server.wait().unwrap();
    let err = client
        .set("/o/during", json!({"lost": true}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "clear error: {err}");
    assert!(err.to_string().contains("unavailable"), "{err}");
    let base = node.client_addr().unwrap();
    assert_eq!(health_status(base).await, 503, "/health reports the outage");
    assert!(client.get("/o/before").await.is_err());

    let _server = Restart(start_secantus(port, storage.path()));
    let mut recovered = false;
    for _ in 0..60 {
        if client.set("/o/after", json!({"back": true})).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the node recovered by itself");
    assert_eq!(
        client.get("/o/before").await.unwrap().unwrap()["kept"],
        true
    );
    assert!(
        client.get("/o/during").await.unwrap().is_none(),
        "nothing half-written"
    );
    assert_eq!(health_status(base).await, 200);
}

/// Kills the restarted server when the test ends.
struct Restart(Child);

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn health_status(addr: std::net::SocketAddr) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text[9..12].parse().unwrap()
}
