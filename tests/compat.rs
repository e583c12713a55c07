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

/// Runs an npm-client suite against `port`, prints its report, and fails unless every test
/// in it passed.
async fn assert_suite_passes(script: &'static str, port: u16, label: &str) {
    let started = std::time::Instant::now();
    let provider = label.to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("HAPPN_PORT", port.to_string())
            .env("HAPPN_PROVIDER", provider)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {label} ({:?})\n{stdout}", started.elapsed());
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "{label}: {script} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{label}: {stdout}");
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
    assert_suite_passes(
        "tests/compat/secure-suite.js",
        node.client_addr().unwrap().port(),
        "secure node",
    )
    .await;
    node.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_happn3_npm_client_passes_the_compatibility_suite() {
    require_client();
    let node = common::start_node().await;
    let port = node.client_addr().unwrap().port();
    assert_suite_passes("tests/compat/suite.js", port, "memory").await;
    node.shutdown(Duration::from_secs(2)).await;
}

/// A node configured in the seed's JSON shape with each real provider serves the npm client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_client_works_against_every_provider() {
    require_client();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = tempfile::tempdir().unwrap();
    let mongo_url = std::env::var("HAPPN_TEST_MONGO_URL")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?retryWrites=false".into());
    let postgres_url = std::env::var("HAPPN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let sqlite_file = dir.path().join("compat.sqlite").display().to_string();
    let providers = [
        (
            "happn-db-provider-mongo",
            serde_json::json!({"url": mongo_url, "database": "happn-compat", "collection": format!("c{stamp}")}),
        ),
        (
            "postgres",
            serde_json::json!({"url": postgres_url, "table": format!("compat_{stamp}")}),
        ),
        ("sqlite", serde_json::json!({"filename": sqlite_file})),
    ];
    for (provider, settings) in providers {
        let text = serde_json::json!({
            "host": "127.0.0.1",
            "port": 0,
            "services": {
                "proxy": {"config": {"host": "127.0.0.1", "port": 0}},
                "data": {"config": {"datastores": [
                    {"name": "main", "provider": provider, "settings": settings, "isDefault": true}
                ]}},
                "security": {"config": {"pbkdf2Iterations": 64}}
            }
        })
        .to_string();
        let config = happn_cluster::config::Config::from_json_str(&text)
            .unwrap()
            .config;
        let node = happn_cluster::Node::start(config)
            .await
            .unwrap_or_else(|e| panic!("{provider}: {e}"));
        assert_suite_passes(
            "tests/compat/suite.js",
            node.client_addr().unwrap().port(),
            provider,
        )
        .await;
        node.shutdown(Duration::from_secs(2)).await;
    }
    // Leave no test table behind in the shared PostgreSQL.
    let postgres = happn_provider_postgres::PostgresDatastore::connect(
        happn_provider_postgres::PostgresSettings {
            url: postgres_url,
            table: format!("compat_{stamp}"),
            max_connections: 1,
        },
    )
    .await
    .unwrap();
    postgres.drop_table().await.unwrap();
}
