//! Embedding a node with only the plugins you choose. A program that depends on
//! happn-cluster this way links the embedded SQLite provider and nothing else (no MongoDB,
//! no PostgreSQL drivers in the binary):
//!
//! ```toml
//! [dependencies]
//! happn-cluster = { version = "0.1", default-features = false, features = ["sqlite"] }
//! ```
//!
//! This example is built the same way:
//!
//! ```sh
//! cargo run --example embed_node --no-default-features --features sqlite
//! ```
//!
//! It lists the datastore providers that are linked, starts a node on a SQLite file, talks
//! to it in process (through `Node::attach`, no socket) and over its client port (the Rust
//! client), and stops it.

use std::time::Duration;

use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions};
use happn_cluster::config::{Config, DatastoreConfig};
use happn_cluster_sdk::{Connection, DatastorePlugin};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let linked: Vec<&str> = happn_cluster_sdk::inventory::iter::<DatastorePlugin>
        .into_iter()
        .map(|p| p.name)
        .collect();
    println!("linked datastore providers: {linked:?}");

    let file = std::env::temp_dir().join(format!("happn-embed-{}.sqlite", std::process::id()));
    let mut config = Config::loopback(DatastoreConfig::new(
        "local",
        "sqlite",
        json!({"filename": file.to_string_lossy()}),
    ));
    config.name = Some("embedded".into());
    let node = Node::start(config).await?;
    let client_url = format!("http://{}", node.client_addr().ok_or("no client port")?);
    println!("node {} serves clients at {client_url}", node.name());

    // In process: the program's own session, no socket.
    let (connection, mut session) = Connection::in_process(8, 1 << 20);
    node.attach(connection);
    let set = json!({"action": "set", "eventId": 1, "path": "/embedded/greeting", "data": {"text": "hello"}});
    session.send(set.to_string()).await;
    match session.recv().await {
        Some(reply) => println!("in-process set answered: {reply}"),
        None => return Err("the in-process session ended without a reply".into()),
    }

    // Over the socket: what any happn client sees.
    let client = Client::connect(ClientOptions::new(client_url)).await?;
    let record = client.get("/embedded/greeting").await?;
    let text = record.as_ref().map(|r| r["text"].clone());
    println!("client read back: {text:?}");
    if text != Some(json!("hello")) {
        return Err("the client did not read what the program wrote".into());
    }
    client.disconnect().await;
    session.close("done").await;
    node.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_file(&file);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let unchosen: Vec<&str> = [
        ("mongo", cfg!(feature = "mongo")),
        ("postgres", cfg!(feature = "postgres")),
    ]
    .into_iter()
    .filter(|(name, chosen)| !chosen && linked.contains(name))
    .map(|(name, _)| name)
    .collect();
    if !unchosen.is_empty() {
        return Err(format!("providers that were not chosen are linked: {unchosen:?}").into());
    }
    println!("ok");
    Ok(())
}
