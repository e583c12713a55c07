//! The compatibility contract: the unmodified happn-3@13.12.1 npm client, driven by
//! `tests/compat/suite.js`, against a real node. `scripts/test.sh` installs the client.

mod common;

use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_happn3_npm_client_passes_the_compatibility_suite() {
    let modules = std::path::Path::new("tests/compat/node_modules/happn-3");
    assert!(
        modules.exists(),
        "tests/compat/node_modules is missing: run scripts/test.sh (it runs npm ci in tests/compat)"
    );
    let node = common::start_node().await;
    let port = node.client_addr().unwrap().port();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("tests/compat/suite.js")
            .env("HAPPN_PORT", port.to_string())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
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
