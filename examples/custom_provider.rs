//! A team's own datastore provider, end to end: the example provider crate in
//! `examples/journal-provider` (the memory store made durable by a journal file) registers
//! itself as `journal` when linked. This program proves it with the SDK's conformance kit,
//! serves the unmodified happn-3 npm client from it (the compatibility suite in
//! `tests/compat`, when Node.js and its `npm ci` are there), and shows that data written
//! through a node survives the node's restart.
//!
//! ```sh
//! (cd tests/compat && npm ci)   # optional: the npm client part
//! cargo run --example custom_provider
//! ```

use std::sync::Arc;
use std::time::Duration;

use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions};
use happn_cluster::config::{Config, DatastoreConfig};
// Linking the crate is what registers the provider (inventory, at link time).
use happn_provider_journal::JournalDatastore;
use serde_json::json;

fn config(journal: &std::path::Path) -> Config {
    Config::loopback(DatastoreConfig::new(
        "main",
        "journal",
        json!({"path": journal.to_string_lossy()}),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("happn-provider-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // 1. The conformance kit: every check the built-in providers pass.
    let store = JournalDatastore::open(dir.join("kit.journal"))?;
    happn_cluster_sdk::testkit::run(Arc::new(store)).await;
    println!("conformance kit: passed");

    // 2. A node on it, serving the npm client's suite.
    let journal = dir.join("node.journal");
    let node = Node::start(config(&journal)).await?;
    let port = node.client_addr().ok_or("no client port")?.port();
    println!("node on the journal provider: clients at 127.0.0.1:{port}");
    let suite = std::path::Path::new("tests/compat/node_modules/happn-3");
    if suite.exists() {
        let output = tokio::process::Command::new("node")
            .arg("tests/compat/suite.js")
            .env("HAPPN_PORT", port.to_string())
            .env("HAPPN_PROVIDER", "journal")
            .output()
            .await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary = stdout.lines().last().unwrap_or_default().to_string();
        if !output.status.success() || !stdout.contains(" passed, 0 failed") {
            return Err(format!(
                "the npm client suite failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        println!("happn-3 npm client suite: {summary}");
    } else {
        println!("happn-3 npm client suite: skipped (run `npm ci` in tests/compat)");
    }

    // 3. Durable: what a client wrote is there after a restart.
    let url = format!("http://127.0.0.1:{port}");
    let client = Client::connect(ClientOptions::new(url)).await?;
    client
        .set("/example/kept", json!({"written": "before the restart"}))
        .await?;
    client.disconnect().await;
    node.shutdown(Duration::from_secs(1)).await;
    let node = Node::start(config(&journal)).await?;
    let url = format!("http://{}", node.client_addr().ok_or("no client port")?);
    let client = Client::connect(ClientOptions::new(url)).await?;
    let kept = client.get("/example/kept").await?;
    client.disconnect().await;
    node.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(&dir);
    match kept {
        Some(value) if value["written"] == "before the restart" => {
            println!("after a restart the node still holds {}", value["written"]);
            println!("ok");
            Ok(())
        }
        other => Err(format!("lost across the restart: {other:?}").into()),
    }
}
