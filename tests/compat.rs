//! The compatibility contract: the unmodified happn-3@13.12.1 npm client, driven by
//! `tests/compat/suite.js`, against a real node. `scripts/test.sh` installs the client.

mod common;

use std::process::Command;
use std::time::Duration;

fn require_client() {
    let modules = std::path::Path::new("tests/compat/node_modules/happn-3");
    assert!(
        modules.exists(),
        "tests/compat/node_modules is missing: run scripts/test.sh (it runs npm ci in tests/compat)"
    );
}

async fn run_suite(script: &'static str, port: u16) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("HAPPN_PORT", port.to_string())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_happn3_npm_client_passes_the_secure_suite() {
    require_client();
    let node = happn_cluster::Node::start(common::secure_config())
        .await
        .unwrap();
    node.security()
        .upsert_user("locky", Some("locky-pass"), serde_json::Value::Null)
        .await
        .unwrap();
    let output = run_suite(
        "tests/compat/secure-suite.js",
        node.client_addr().unwrap().port(),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "secure suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"));
    node.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_happn3_npm_client_passes_the_compatibility_suite() {
    require_client();
    let node = common::start_node().await;
    let port = node.client_addr().unwrap().port();
    let output = run_suite("tests/compat/suite.js", port).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "compatibility suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"));
    node.shutdown(Duration::from_secs(2)).await;
}
