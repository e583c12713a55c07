//! Custom cluster events with the replicator API: two nodes in this process share one
//! SQLite file (their membership and their data), form a cluster, and trade messages on a
//! topic of their own. Every node, the sender included, sees each message once, and knows
//! whether it was its own.
//!
//! ```sh
//! cargo run --example replicator_events
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster::Node;
use happn_cluster::config::{Config, DatastoreConfig, Millis};
use serde_json::{Value, json};

fn node_config(dir: &std::path::Path, name: &str) -> Config {
    let mut config = Config::loopback(DatastoreConfig::new(
        "shared",
        "sqlite",
        json!({"filename": dir.join("example.sqlite").to_string_lossy()}),
    ));
    config.name = Some(name.into());
    let orchestrator = &mut config.services.orchestrator.config;
    orchestrator.cluster.insert("happn-cluster-node".into(), 2);
    // Every node of a cluster holds the same secret (`happn-cluster secret` makes one).
    orchestrator.cluster_secret = Some("replicator-example-secret-0123".into());
    orchestrator.timing.keep_alive = Millis(200);
    orchestrator.timing.keep_alive_threshold = Millis(1_000);
    orchestrator.timing.member_refresh = Millis(200);
    config
}

type Seen = Arc<Mutex<Vec<(String, Value, bool)>>>;

fn listen(node: &Node, seen: &Seen) {
    let seen = seen.clone();
    let name = node.name().to_string();
    node.replicator()
        .on("deployments", move |payload, is_local, origin| {
            println!("{name}: deployment {payload} from {origin} (local: {is_local})");
            seen.lock()
                .unwrap()
                .push((name.clone(), payload.clone(), is_local));
        });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("happn-replicator-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Both nodes start at once: each waits for the other before it opens its client port.
    let (a, b) = tokio::join!(
        Node::start(node_config(&dir, "node-a")),
        Node::start(node_config(&dir, "node-b"))
    );
    let (a, b) = (a?, b?);
    println!("cluster of 2 is STABLE: {} and {}", a.name(), b.name());

    let seen: Seen = Arc::default();
    listen(&a, &seen);
    listen(&b, &seen);
    a.replicator().send(
        "deployments",
        json!({"service": "billing", "version": "1.4.2"}),
    )?;
    b.replicator().send(
        "deployments",
        json!({"service": "search", "version": "7.0.0"}),
    )?;

    // Two messages, each seen by both nodes: four deliveries.
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.lock().unwrap().clone();
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(&dir);
    let local = seen.iter().filter(|(_, _, is_local)| *is_local).count();
    if seen.len() != 4 || local != 2 {
        return Err(format!("expected 4 deliveries (2 local), saw {seen:?}").into());
    }
    println!("ok: every node saw both deployments once");
    Ok(())
}
