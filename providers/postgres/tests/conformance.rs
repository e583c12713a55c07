//! The postgres provider against the machine's PostgreSQL (scripts/test.sh makes sure it
//! runs; `HAPPN_TEST_POSTGRES_URL` overrides the URL).

use std::sync::Arc;

use happn_provider_postgres::{PostgresDatastore, PostgresSettings};

fn url() -> String {
    std::env::var("HAPPN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn unique_table(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_kit() {
    let table = unique_table("kit");
    let store = PostgresDatastore::connect(PostgresSettings {
        url: url(),
        table: table.clone(),
        max_connections: 10,
    })
    .await
    .expect("the test PostgreSQL is reachable (scripts/test.sh starts it)");
    let store = Arc::new(store);
    happn_cluster_sdk::testkit::run(store.clone()).await;
    store.drop_table().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_naming_the_url() {
    let started = std::time::Instant::now();
    let err = PostgresDatastore::connect(PostgresSettings {
        url: "postgres://postgres:hunter2@127.0.0.1:1/nope".into(),
        table: "t".into(),
        max_connections: 1,
    })
    .await
    .err()
    .expect("connect fails");
    let text = err.to_string();
    assert!(text.contains("127.0.0.1:1/nope"), "{text}");
    assert!(!text.contains("hunter2"), "passwords are redacted: {text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
