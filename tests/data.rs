//! Data operations through the Rust client against a real node.

mod common;

use common::{client, start_node};
use happn_cluster::client::{GetOptions, SetOptions};
use serde_json::{Value, json};

#[tokio::test]
async fn set_get_overwrite_and_meta() {
    let node = start_node().await;
    let c = client(&node).await;
    let first = c.set("/a/b", json!({"x": 1, "y": 2})).await.unwrap();
    assert_eq!(first["x"], 1);
    assert_eq!(first["_meta"]["path"], "/a/b");
    let created = first["_meta"]["created"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = c.set("/a/b", json!({"z": 3})).await.unwrap();
    assert_eq!(
        second["_meta"]["created"].as_i64().unwrap(),
        created,
        "created is kept"
    );
    assert!(
        second["_meta"]["modified"].as_i64().unwrap() > created,
        "modified advances"
    );
    let got = c.get("/a/b").await.unwrap().unwrap();
    assert_eq!(got["z"], 3);
    assert!(got.get("x").is_none(), "set overwrites");
    assert_eq!(c.get("/missing").await.unwrap(), None);
    // A missing leading slash addresses the same record.
    assert_eq!(c.get("a/b").await.unwrap().unwrap()["z"], 3);
    node.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn scalars_are_wrapped_and_merge_is_shallow() {
    let node = start_node().await;
    let c = client(&node).await;
    c.set("/s", json!("text")).await.unwrap();
    assert_eq!(c.get("/s").await.unwrap().unwrap()["value"], "text");
    c.set("/n", json!(null)).await.unwrap();
    assert_eq!(c.get("/n").await.unwrap().unwrap()["value"], Value::Null);
    c.set("/arr", json!([1, 2])).await.unwrap();
    assert_eq!(
        c.get("/arr").await.unwrap().unwrap()["value"],
        json!([1, 2])
    );

    c.set("/m", json!({"a": 1, "nested": {"k": 1}}))
        .await
        .unwrap();
    let merged = c
        .set_with(
            "/m",
            json!({"b": 2, "nested": {"j": 2}}),
            SetOptions {
                merge: true,
                ..SetOptions::default()
            },
        )
        .await
        .unwrap()
        .reply;
    assert_eq!(merged["a"], 1);
    assert_eq!(merged["b"], 2);
    assert_eq!(merged["nested"], json!({"j": 2}), "merge is top-level only");
}

#[tokio::test]
async fn wildcard_get_criteria_sort_paging_fields_and_count() {
    let node = start_node().await;
    let c = client(&node).await;
    for (i, name) in ["carol", "alice", "bob", "dave"].iter().enumerate() {
        c.set(
            &format!("/people/{i}"),
            json!({"name": name, "age": 20 + i * 10, "tags": ["t", name]}),
        )
        .await
        .unwrap();
    }
    c.set("/people/deep/x", json!({"name": "deep", "age": 99}))
        .await
        .unwrap();
    c.set("/other/1", json!({"name": "zed"})).await.unwrap();

    let all = c
        .get_many("/people/*", GetOptions::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 5, "query * crosses /");
    let none = c
        .get_many("/nothing/*", GetOptions::default())
        .await
        .unwrap();
    assert!(none.is_empty());

    let older = c
        .get_many(
            "/people/*",
            GetOptions {
                criteria: Some(json!({"age": {"$gte": 40}})),
                sort: Some(json!({"age": -1})),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap();
    let names: Vec<_> = older.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["deep", "dave", "bob"]);

    let page = c
        .get_many(
            "/people/*",
            GetOptions {
                sort: Some(json!({"name": 1})),
                skip: Some(1),
                limit: Some(2),
                fields: Some(json!({"name": 1})),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["name"], "bob");
    assert!(
        page[0].get("age").is_none(),
        "projection drops other fields"
    );
    assert_eq!(page[0]["_meta"]["path"], "/people/2", "_meta kept");

    let by_meta = c
        .get_many(
            "/people/*",
            GetOptions {
                criteria: Some(json!({"$or": [{"_meta.path": "/people/0"}, {"tags": "bob"}]})),
                sort: Some(json!({"_meta.path": 1})),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_meta.len(), 2);

    let regex = c
        .count(
            "/people/*",
            GetOptions {
                criteria: Some(json!({"name": {"$regex": ["^A", "i"]}})),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(regex, 1);
    assert_eq!(
        c.count("/people/*", GetOptions::default()).await.unwrap(),
        5
    );

    let mut paths = c.get_paths("/people/*").await.unwrap();
    paths.sort();
    assert_eq!(paths.len(), 5);
    assert_eq!(paths[0], "/people/0");

    let err = c
        .get_many(
            "/people/*",
            GetOptions {
                criteria: Some(json!({"age": {"$near": 1}})),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown criteria operator $near"),
        "{err}"
    );
}

#[tokio::test]
async fn increment_is_atomic_and_accepts_negatives() {
    let node = start_node().await;
    let c = client(&node).await;
    assert_eq!(c.increment("/g", "counter", 5).await.unwrap(), 5.into());
    assert_eq!(c.increment("/g", "counter", -7).await.unwrap(), (-2).into());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let c = common::client(&node).await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                c.increment("/g", "hits", 1).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let record = c.get("/g").await.unwrap().unwrap();
    assert_eq!(record["hits"]["value"], 100);
    assert_eq!(record["counter"]["value"], -2, "other gauges untouched");
    let bad = c
        .request(
            "set",
            Some("/g"),
            json!({"not": "a name"}),
            Some(serde_json::from_value(json!({"increment": 1})).unwrap()),
        )
        .await;
    assert!(bad.unwrap_err().to_string().contains("must be a string"));
}

#[tokio::test]
async fn remove_exact_and_wildcard_report_counts() {
    let node = start_node().await;
    let c = client(&node).await;
    for i in 0..3 {
        c.set(&format!("/r/{i}"), json!({"i": i})).await.unwrap();
    }
    assert_eq!(c.remove("/r/0").await.unwrap(), 1);
    assert_eq!(c.remove("/r/0").await.unwrap(), 0);
    assert_eq!(c.remove("/r/*").await.unwrap(), 2);
    assert_eq!(c.count("/r/*", GetOptions::default()).await.unwrap(), 0);
}

#[tokio::test]
async fn bad_paths_are_refused_with_happn_messages() {
    let node = start_node().await;
    let c = client(&node).await;
    let err = c.set("/a/*", json!({})).await.unwrap_err().to_string();
    assert!(err.contains("cannot contain the * wildcard"), "{err}");
    let err = c.set("/a/#", json!({})).await.unwrap_err().to_string();
    assert!(err.contains("Bad path, can only contain"), "{err}");
    let err = c.set("", json!({})).await.unwrap_err().to_string();
    assert!(err.contains("Bad path"), "{err}");
    // The session still works.
    c.set("/ok", json!({"fine": true})).await.unwrap();
}

#[tokio::test]
async fn large_and_unicode_documents_round_trip() {
    let node = start_node().await;
    let c = client(&node).await;
    let big = "x".repeat(1024 * 1024);
    c.set("/big", json!({"blob": big})).await.unwrap();
    assert_eq!(
        c.get("/big").await.unwrap().unwrap()["blob"]
            .as_str()
            .unwrap()
            .len(),
        1024 * 1024
    );
    let text = "héllo wörld — 你好 🌍";
    c.set("/unicode", json!({"text": text})).await.unwrap();
    assert_eq!(c.get("/unicode").await.unwrap().unwrap()["text"], text);
}
