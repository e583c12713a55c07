//! The sqlite provider passes the conformance kit, on a file (WAL) and in memory, and two
//! handles on one file (two node processes) see each other's writes.

use std::sync::Arc;

use happn_cluster_sdk::{Datastore, UpsertOptions, wrap_data};
use happn_provider_sqlite::{SqliteDatastore, SqliteSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_passes_the_conformance_kit() {
    let dir = tempfile::tempdir().unwrap();
    let filename = dir.path().join("kit.sqlite").display().to_string();
    let store = SqliteDatastore::open(SqliteSettings {
        filename,
        table: "happn".into(),
    })
    .await
    .unwrap();
    happn_cluster_sdk::testkit::run(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_passes_the_conformance_kit() {
    let store = SqliteDatastore::open(SqliteSettings {
        filename: ":memory:".into(),
        table: "kit".into(),
    })
    .await
    .unwrap();
    happn_cluster_sdk::testkit::run(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let filename = dir.path().join("shared.sqlite").display().to_string();
    let settings = SqliteSettings {
        filename,
        table: "happn".into(),
    };
    let a: Arc<dyn Datastore> = Arc::new(SqliteDatastore::open(settings.clone()).await.unwrap());
    let b: Arc<dyn Datastore> = Arc::new(SqliteDatastore::open(settings).await.unwrap());
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                store
                    .increment("/shared", "n", &1.into(), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let record = a.find_one("/shared").await.unwrap().unwrap();
    assert_eq!(record.data["n"]["value"], 100);
    b.upsert(
        "/from-b",
        wrap_data(serde_json::json!({"x": 1})),
        &UpsertOptions::default(),
    )
    .await
    .unwrap();
    assert!(a.find_one("/from-b").await.unwrap().is_some());
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let err = SqliteDatastore::open(SqliteSettings {
        filename: ":memory:".into(),
        table: "bad name;".into(),
    })
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("table name"), "{err}");
    let err = SqliteDatastore::open(SqliteSettings {
        filename: "/nonexistent-dir/x/y.sqlite".into(),
        table: "t".into(),
    })
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("/nonexistent-dir/x/y.sqlite"),
        "{err}"
    );
}
