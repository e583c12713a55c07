//! The mongo provider against a MongoDB-wire server (scripts/test.sh starts SecantusDB on
//! 127.0.0.1:27017; `HAPPN_TEST_MONGO_URL` overrides the URL).

use std::sync::Arc;

use happn_provider_mongo::{MongoDatastore, MongoSettings};

fn url() -> String {
    std::env::var("HAPPN_TEST_MONGO_URL")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?retryWrites=false".into())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_passes_the_conformance_kit() {
    let store = MongoDatastore::connect(MongoSettings {
        url: url(),
        database: "happn-test".into(),
        collection: unique("kit"),
    })
    .await
    .expect("the test MongoDB server is reachable (scripts/test.sh starts SecantusDB)");
    let store = Arc::new(store);
    happn_cluster_sdk::testkit::run(store.clone()).await;
    store.drop_collection().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_naming_the_url() {
    let started = std::time::Instant::now();
    let err = MongoDatastore::connect(MongoSettings {
        url: "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=1000".into(),
        database: "x".into(),
        collection: "y".into(),
    })
    .await
    .err()
    .expect("connect fails");
    let text = err.to_string();
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A collection written by the original happn-cluster provider (numbers as doubles, a
/// `modifiedBy`, an ObjectId `_id`) reads as it should.
#[tokio::test]
async fn documents_written_by_the_original_provider_are_readable() {
    use happn_cluster_sdk::{Datastore, FindOptions, PathQuery};
    use mongodb::bson::doc;
    let collection_name = unique("legacy");
    let client = mongodb::Client::with_uri_str(url()).await.unwrap();
    let raw = client
        .database("happn-test")
        .collection::<mongodb::bson::Document>(&collection_name);
    raw.insert_one(doc! {
        "path": "/legacy/device/1",
        "data": {"name": "pump", "readings": [1, 2.5]},
        "created": 1_700_000_000_000.0_f64,
        "modified": 1_700_000_000_500.0_f64,
        "modifiedBy": "_ADMIN",
    })
    .await
    .unwrap();
    let store = MongoDatastore::connect(MongoSettings {
        url: url(),
        database: "happn-test".into(),
        collection: collection_name,
    })
    .await
    .unwrap();
    let record = store
        .find_one("/legacy/device/1")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(record.data["name"], "pump");
    assert_eq!(record.created, 1_700_000_000_000);
    assert_eq!(record.modified, 1_700_000_000_500);
    assert_eq!(record.modified_by.as_deref(), Some("_ADMIN"));
    let found = store
        .find(&PathQuery::parse("/legacy/*"), &FindOptions::default())
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    store.drop_collection().await.unwrap();
}
