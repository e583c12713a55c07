//! The datastore conformance kit (feature `testkit`): one call runs the whole suite against a
//! provider, so any team can prove its own store.
//!
//! ```ignore
//! #[tokio::test]
//! async fn conformance() {
//!     let store = my_provider::connect(settings).await.unwrap();
//!     happn_cluster_sdk::testkit::run(store).await;
//! }
//! ```
//!
//! Every record the kit writes lives under `/kit/`; the store should hold nothing there when
//! the kit starts. A failed check panics with a message naming the check.

use std::sync::Arc;

use serde_json::{Map, Number, Value, json};

use crate::criteria::Criteria;
use crate::datastore::{Datastore, FindOptions, UpsertOptions};
use crate::error::Error;
use crate::pathquery::PathQuery;
use crate::record::{Record, wrap_data};

fn data(value: Value) -> Map<String, Value> {
    wrap_data(value)
}

fn q(path: &str) -> PathQuery {
    PathQuery::parse(path)
}

async fn put(store: &dyn Datastore, path: &str, value: Value) -> Record {
    store
        .upsert(path, data(value), &UpsertOptions::default())
        .await
        .unwrap_or_else(|e| panic!("upsert {path}: {e}"))
}

async fn find(store: &dyn Datastore, path: &str, options: FindOptions) -> Vec<Record> {
    store
        .find(&q(path), &options)
        .await
        .unwrap_or_else(|e| panic!("find {path}: {e}"))
}

fn paths(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.path.clone()).collect()
}

fn criteria(value: Value) -> Option<Criteria> {
    Some(Criteria::parse(&value).unwrap_or_else(|e| panic!("criteria {value}: {e}")))
}

/// Runs every check against `store`.
pub async fn run(store: Arc<dyn Datastore>) {
    let s = store.as_ref();
    upsert_and_meta(s).await;
    merge(s).await;
    if_absent(s).await;
    wildcards_and_literals(s).await;
    criteria_operators(s).await;
    sort_page_project(s).await;
    increments(store.clone()).await;
    extension_operators(s).await;
    concurrent_upserts(store.clone()).await;
    batches(s).await;
    large_and_unicode(s).await;
    removal(s).await;
    s.ping().await.unwrap_or_else(|e| panic!("ping: {e}"));
}

async fn upsert_and_meta(s: &dyn Datastore) {
    let first = put(s, "/kit/meta/a", json!({"x": 1, "nested": {"y": [1, 2]}})).await;
    assert_eq!(first.path, "/kit/meta/a", "upsert returns the path");
    assert_eq!(
        first.created, first.modified,
        "a new record has created == modified"
    );
    assert_eq!(
        Value::Object(first.data.clone()),
        json!({"x": 1, "nested": {"y": [1, 2]}})
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let by = UpsertOptions {
        modified_by: Some("tester".into()),
        ..UpsertOptions::default()
    };
    let second = s
        .upsert("/kit/meta/a", data(json!({"z": 3})), &by)
        .await
        .expect("update");
    assert_eq!(second.created, first.created, "created is kept on update");
    assert!(
        second.modified > first.modified,
        "modified advances on update"
    );
    assert_eq!(
        Value::Object(second.data.clone()),
        json!({"z": 3}),
        "upsert replaces data"
    );
    assert_eq!(second.modified_by.as_deref(), Some("tester"));
    let read = s
        .find_one("/kit/meta/a")
        .await
        .expect("find_one")
        .expect("present");
    assert_eq!(read.data, second.data);
    assert_eq!(
        (read.created, read.modified),
        (second.created, second.modified)
    );
    assert_eq!(read.modified_by.as_deref(), Some("tester"));
    assert!(
        s.find_one("/kit/meta/missing")
            .await
            .expect("find_one")
            .is_none()
    );
    assert_eq!(s.count(&q("/kit/meta/*"), None).await.expect("count"), 1);
}

async fn merge(s: &dyn Datastore) {
    put(s, "/kit/merge/a", json!({"a": 1, "n": {"x": 1}})).await;
    let merged = s
        .upsert(
            "/kit/merge/a",
            data(json!({"b": 2, "n": {"y": 2}})),
            &UpsertOptions {
                merge: true,
                ..UpsertOptions::default()
            },
        )
        .await
        .expect("merge");
    assert_eq!(
        Value::Object(merged.data),
        json!({"a": 1, "b": 2, "n": {"y": 2}}),
        "merge is shallow (top-level keys)"
    );
    let stored = s
        .find_one("/kit/merge/a")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(
        Value::Object(stored.data),
        json!({"a": 1, "b": 2, "n": {"y": 2}}),
        "the merge was stored, not only returned"
    );
    let fresh = s
        .upsert(
            "/kit/merge/new",
            data(json!({"c": 3})),
            &UpsertOptions {
                merge: true,
                ..UpsertOptions::default()
            },
        )
        .await
        .expect("merge into nothing");
    assert_eq!(
        Value::Object(fresh.data),
        json!({"c": 3}),
        "merge into a missing record inserts"
    );
}

async fn if_absent(s: &dyn Datastore) {
    let only_create = UpsertOptions {
        if_absent: true,
        ..UpsertOptions::default()
    };
    let first = s
        .upsert("/kit/absent/a", data(json!({"v": 1})), &only_create)
        .await
        .expect("create");
    let second = s
        .upsert("/kit/absent/a", data(json!({"v": 2})), &only_create)
        .await
        .expect("create again");
    assert_eq!(
        second.data, first.data,
        "if_absent leaves an existing record untouched"
    );
    assert_eq!(second.created, first.created);
}

async fn wildcards_and_literals(s: &dyn Datastore) {
    for path in ["/kit/w/a", "/kit/w/a/b", "/kit/w/b", "/kit/W/a", "/kit/wx"] {
        put(s, path, json!({"p": path})).await;
    }
    let mut got = paths(&find(s, "/kit/w/*", FindOptions::default()).await);
    got.sort();
    assert_eq!(
        got,
        ["/kit/w/a", "/kit/w/a/b", "/kit/w/b"],
        "* crosses /, case-sensitive"
    );
    let mut got = paths(&find(s, "/kit/w*", FindOptions::default()).await);
    got.sort();
    assert_eq!(got.len(), 4, "partial wildcard {got:?}");
    assert_eq!(
        paths(&find(s, "/kit/w/a", FindOptions::default()).await),
        ["/kit/w/a"]
    );
    let mut got = paths(&find(s, "/kit/*/b", FindOptions::default()).await);
    got.sort();
    assert_eq!(got, ["/kit/w/a/b", "/kit/w/b"], "inner wildcard");

    // Characters that mean something to LIKE or regular expressions are literal in paths.
    for literal in ["%", "_", ".", "(", ")", "[", "]", "+", "?", "^", "$", "\\"] {
        let base = format!("/kit/lit/a{literal}b");
        put(s, &format!("{base}/1"), json!({})).await;
        put(s, &format!("/kit/lit/aXb/{}", literal.len()), json!({})).await;
        let got = paths(&find(s, &format!("{base}/*"), FindOptions::default()).await);
        assert_eq!(
            got,
            [format!("{base}/1")],
            "{literal:?} must not act as a wildcard"
        );
        assert!(
            s.find_one(&format!("{base}/1"))
                .await
                .expect("exact")
                .is_some(),
            "{literal:?} exact"
        );
        assert_eq!(
            s.count(&q(&format!("{base}/*")), None)
                .await
                .expect("count"),
            1,
            "{literal:?} count"
        );
    }
}

async fn criteria_operators(s: &dyn Datastore) {
    let people = [
        (
            "/kit/c/1",
            json!({"name": "alice", "age": 30, "tags": ["a", "x"], "addr": {"city": "Oslo", "zip": 100}, "score": 1.5}),
        ),
        (
            "/kit/c/2",
            json!({"name": "bob", "age": 40, "tags": ["b"], "addr": {"city": "Rome", "zip": 200}}),
        ),
        (
            "/kit/c/3",
            json!({"name": "Carol", "age": 50, "tags": [], "addr": {"city": "Oslo", "zip": 300}, "nil": null}),
        ),
    ];
    for (path, value) in &people {
        put(s, path, value.clone()).await;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let second = s
        .find_one("/kit/c/2")
        .await
        .expect("read")
        .expect("present");
    let check = |c: Value, want: &'static [&'static str]| (c, want);
    let cases = [
        check(json!({"name": "bob"}), &["/kit/c/2"]),
        check(json!({"age": {"$eq": 30}}), &["/kit/c/1"]),
        check(json!({"age": {"$ne": 30}}), &["/kit/c/2", "/kit/c/3"]),
        check(json!({"age": {"$gt": 30}}), &["/kit/c/2", "/kit/c/3"]),
        check(json!({"age": {"$gte": 40, "$lt": 50}}), &["/kit/c/2"]),
        check(json!({"age": {"$lte": 30}}), &["/kit/c/1"]),
        check(
            json!({"name": {"$in": ["alice", "Carol"]}}),
            &["/kit/c/1", "/kit/c/3"],
        ),
        check(json!({"name": {"$nin": ["alice", "Carol"]}}), &["/kit/c/2"]),
        check(json!({"score": {"$exists": true}}), &["/kit/c/1"]),
        check(
            json!({"score": {"$exists": false}}),
            &["/kit/c/2", "/kit/c/3"],
        ),
        check(
            json!({"name": {"$regex": "^c", "$options": "i"}}),
            &["/kit/c/3"],
        ),
        check(json!({"name": {"$regex": ["^B", "i"]}}), &["/kit/c/2"]),
        check(json!({"name": {"$regex": "^b"}}), &["/kit/c/2"]),
        check(
            json!({"$and": [{"age": {"$gt": 20}}, {"addr.city": "Oslo"}]}),
            &["/kit/c/1", "/kit/c/3"],
        ),
        check(
            json!({"$or": [{"name": "bob"}, {"addr.zip": 300}]}),
            &["/kit/c/2", "/kit/c/3"],
        ),
        check(json!({"age": {"$not": {"$gt": 35}}}), &["/kit/c/1"]),
        check(json!({"addr.city": "Rome"}), &["/kit/c/2"]),
        check(
            json!({"addr.zip": {"$gte": 200}}),
            &["/kit/c/2", "/kit/c/3"],
        ),
        check(json!({"tags": "x"}), &["/kit/c/1"]),
        check(json!({"_meta.path": "/kit/c/2"}), &["/kit/c/2"]),
        check(
            json!({"_meta.path": {"$regex": "^/kit/c/[12]$"}}),
            &["/kit/c/1", "/kit/c/2"],
        ),
        check(
            json!({"_meta.created": {"$gte": second.created}}),
            &["/kit/c/2", "/kit/c/3"],
        ),
        check(
            json!({"_meta.modified": {"$lt": second.modified}}),
            &["/kit/c/1"],
        ),
    ];
    for (c, want) in cases {
        let options = FindOptions {
            criteria: criteria(c.clone()),
            ..FindOptions::default()
        };
        let mut got = paths(&find(s, "/kit/c/*", options.clone()).await);
        got.sort();
        assert_eq!(got, want, "criteria {c}");
        let counted = s
            .count(&q("/kit/c/*"), options.criteria.as_ref())
            .await
            .unwrap_or_else(|e| panic!("count with {c}: {e}"));
        assert_eq!(counted as usize, want.len(), "count with criteria {c}");
    }
}

async fn sort_page_project(s: &dyn Datastore) {
    for (i, (name, rank)) in [("d", 4), ("a", 2), ("c", 3), ("b", 1)].iter().enumerate() {
        put(
            s,
            &format!("/kit/sort/{i}"),
            json!({"name": name, "rank": rank, "extra": true}),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let parse = |v: Value| crate::criteria::parse_sort(&v).expect("sort");
    let names = |records: Vec<Record>| {
        records
            .iter()
            .map(|r| {
                r.data
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    let by_name = FindOptions {
        sort: parse(json!({"name": 1})),
        ..FindOptions::default()
    };
    assert_eq!(
        names(find(s, "/kit/sort/*", by_name).await),
        ["a", "b", "c", "d"],
        "sort asc"
    );
    let by_rank_desc = FindOptions {
        sort: parse(json!({"rank": -1})),
        skip: Some(1),
        limit: Some(2),
        ..FindOptions::default()
    };
    assert_eq!(
        names(find(s, "/kit/sort/*", by_rank_desc).await),
        ["c", "a"],
        "sort desc, skip, limit"
    );
    let by_path_desc = FindOptions {
        sort: parse(json!({"_meta.path": -1})),
        ..FindOptions::default()
    };
    let got: Vec<String> = find(s, "/kit/sort/*", by_path_desc)
        .await
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        got,
        ["/kit/sort/3", "/kit/sort/2", "/kit/sort/1", "/kit/sort/0"],
        "sort by path descending"
    );
    let unlimited = FindOptions {
        limit: Some(0),
        ..FindOptions::default()
    };
    assert_eq!(
        find(s, "/kit/sort/*", unlimited).await.len(),
        4,
        "limit 0 means no limit"
    );
    let filtered_page = FindOptions {
        criteria: criteria(json!({"rank": {"$gte": 2}})),
        sort: parse(json!({"rank": 1})),
        limit: Some(2),
        ..FindOptions::default()
    };
    assert_eq!(
        names(find(s, "/kit/sort/*", filtered_page).await),
        ["a", "c"],
        "criteria with sort and limit"
    );
    let unsorted: Vec<String> = find(s, "/kit/sort/*", FindOptions::default())
        .await
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        unsorted,
        ["/kit/sort/0", "/kit/sort/1", "/kit/sort/2", "/kit/sort/3"],
        "default order is by path"
    );
    let by_created = FindOptions {
        sort: parse(json!({"_meta.created": -1})),
        limit: Some(1),
        ..FindOptions::default()
    };
    assert_eq!(
        names(find(s, "/kit/sort/*", by_created).await),
        ["b"],
        "sort by _meta.created"
    );
    let projected = FindOptions {
        sort: parse(json!({"name": 1})),
        fields: Some(
            crate::criteria::Projection::parse(&json!({"name": 1, "_meta": 1})).expect("fields"),
        ),
        ..FindOptions::default()
    };
    let first = find(s, "/kit/sort/*", projected).await.remove(0);
    assert_eq!(
        Value::Object(first.data),
        json!({"name": "a"}),
        "fields projection"
    );
    assert_eq!(first.path, "/kit/sort/1", "projection keeps the path");
}

async fn increments(store: Arc<dyn Datastore>) {
    let s = store.as_ref();
    let one: Number = 1.into();
    assert_eq!(
        s.increment("/kit/inc/a", "hits", &5.into(), None)
            .await
            .expect("inc"),
        5.into()
    );
    assert_eq!(
        s.increment("/kit/inc/a", "hits", &(-7).into(), None)
            .await
            .expect("inc"),
        (-2).into()
    );
    assert_eq!(
        s.increment("/kit/inc/a", "other", &one, None)
            .await
            .expect("inc"),
        1.into()
    );
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .increment("/kit/inc/b", "counter", &1.into(), None)
                .await
                .expect("concurrent increment")
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let record = s
        .find_one("/kit/inc/b")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(
        record.data["counter"]["value"],
        json!(100),
        "100 concurrent increments give 100"
    );
    let a = s
        .find_one("/kit/inc/a")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(a.data["hits"]["value"], json!(-2));
    assert_eq!(a.data["other"]["value"], json!(1), "gauges are independent");

    // Overflow is a clear error and leaves the stored value as it was.
    let big: Number = i64::MAX.into();
    assert_eq!(
        s.increment("/kit/inc/c", "big", &big, None)
            .await
            .expect("inc to the top"),
        big
    );
    let err = s
        .increment("/kit/inc/c", "big", &one, None)
        .await
        .expect_err("i64 overflow is refused");
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    let huge = Number::from_f64(1e308).expect("finite");
    s.increment("/kit/inc/c", "float", &huge, None)
        .await
        .expect("1e308");
    let err = s
        .increment("/kit/inc/c", "float", &huge, None)
        .await
        .expect_err("1e308 + 1e308 is refused");
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    let err = s
        .increment("/kit/inc/new", "g", &Number::from(u64::MAX), None)
        .await
        .expect_err("an amount above 2^63 is refused");
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    assert!(
        s.find_one("/kit/inc/new").await.expect("read").is_none(),
        "a refused increment creates nothing"
    );
    let c = s
        .find_one("/kit/inc/c")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(c.data["big"]["value"], json!(i64::MAX), "unchanged");
    assert_eq!(c.data["float"]["value"].as_f64(), Some(1e308), "unchanged");
}

/// `upsert_many`: each item gets what `upsert` would have returned, in order; repeated
/// paths apply in order; merges and `if_absent` behave as they do one by one.
async fn batches(s: &dyn Datastore) {
    use crate::datastore::UpsertItem;
    let item = |path: &str, value: Value, options: UpsertOptions| UpsertItem {
        path: path.into(),
        data: data(value),
        options,
    };
    let plain = UpsertOptions::default();
    let merge = UpsertOptions {
        merge: true,
        ..UpsertOptions::default()
    };
    let only_create = UpsertOptions {
        if_absent: true,
        ..UpsertOptions::default()
    };
    let existing = put(s, "/kit/batch/old", json!({"a": 1, "keep": true})).await;
    let by = UpsertOptions {
        modified_by: Some("batcher".into()),
        ..UpsertOptions::default()
    };
    let results = s
        .upsert_many(vec![
            item("/kit/batch/1", json!({"n": 1}), plain.clone()),
            item("/kit/batch/2", json!({"n": 2}), by),
            item("/kit/batch/old", json!({"b": 2}), merge.clone()),
            item("/kit/batch/old", json!({"c": 3}), merge.clone()),
            item("/kit/batch/1", json!({"n": 11}), plain.clone()),
            item("/kit/batch/2", json!({"n": 99}), only_create),
        ])
        .await;
    assert_eq!(results.len(), 6, "one result per item");
    let records: Vec<Record> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("batch item {i}: {e}")))
        .collect();
    let expected_paths = [
        "/kit/batch/1",
        "/kit/batch/2",
        "/kit/batch/old",
        "/kit/batch/old",
        "/kit/batch/1",
        "/kit/batch/2",
    ];
    assert_eq!(paths(&records), expected_paths, "results in item order");
    assert_eq!(records[1].modified_by.as_deref(), Some("batcher"));
    assert_eq!(
        records[2].created, existing.created,
        "created kept on update"
    );
    assert!(
        records[2].modified >= existing.modified,
        "modified advances"
    );
    assert_eq!(records[3].data["c"], json!(3));
    assert_eq!(records[3].data["b"], json!(2), "merges apply in order");
    assert_eq!(records[3].data["keep"], json!(true));
    assert_eq!(
        records[4].data["n"],
        json!(11),
        "a repeated path applies in order"
    );
    assert_eq!(records[4].created, records[0].created);
    assert_eq!(
        records[5].data["n"],
        json!(2),
        "if_absent leaves the record"
    );
    let stored = s
        .find_one("/kit/batch/1")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(stored.data["n"], json!(11), "the last write of a path wins");
    assert!(s.upsert_many(Vec::new()).await.is_empty());
    // Distinct paths written alike: what a native batch sends as one statement.
    let before = s
        .find_one("/kit/batch/old")
        .await
        .expect("read")
        .expect("present");
    let plain_batch: Vec<UpsertItem> = (0..10)
        .map(|i| item(&format!("/kit/batch/p{i}"), json!({"i": i}), plain.clone()))
        .chain([item(
            "/kit/batch/old",
            json!({"replaced": true}),
            plain.clone(),
        )])
        .collect();
    let records: Vec<Record> = s
        .upsert_many(plain_batch)
        .await
        .into_iter()
        .map(|r| r.expect("plain batch item"))
        .collect();
    for (i, record) in records.iter().take(10).enumerate() {
        assert_eq!(
            record.path,
            format!("/kit/batch/p{i}"),
            "results in item order"
        );
        assert_eq!(record.data["i"], json!(i));
    }
    assert_eq!(
        records[10].created, before.created,
        "created kept in a batch"
    );
    assert_eq!(records[10].data, data(json!({"replaced": true})));
    let merged: Vec<Record> = s
        .upsert_many(vec![
            item("/kit/batch/p0", json!({"m": 0}), merge.clone()),
            item("/kit/batch/p1", json!({"m": 1}), merge),
        ])
        .await
        .into_iter()
        .map(|r| r.expect("merge batch item"))
        .collect();
    assert_eq!(merged[1].data["i"], json!(1), "merged, not replaced");
    assert_eq!(merged[1].data["m"], json!(1));
    s.remove(&q("/kit/batch/*"), None).await.expect("clean up");
}

async fn concurrent_upserts(store: Arc<dyn Datastore>) {
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .upsert(
                    "/kit/race/one",
                    wrap_data(json!({"writer": i})),
                    &UpsertOptions::default(),
                )
                .await
                .expect("concurrent upsert")
        }));
    }
    let mut created = std::collections::BTreeSet::new();
    for task in tasks {
        created.insert(task.await.expect("task").created);
    }
    let count = store.count(&q("/kit/race/*"), None).await.expect("count");
    assert_eq!(count, 1, "concurrent upserts of one path leave one record");
    assert_eq!(
        created.len(),
        1,
        "every writer saw the one record's created time"
    );
    let last = store
        .find_one("/kit/race/one")
        .await
        .expect("read")
        .expect("present");
    let writer = last.data["writer"].as_i64().unwrap_or(-1);
    assert!(
        (0..50).contains(&writer),
        "the stored data came from one writer: {writer}"
    );
}

async fn large_and_unicode(s: &dyn Datastore) {
    let blob = "x".repeat(1024 * 1024);
    put(s, "/kit/big/a", json!({"blob": blob})).await;
    let read = s
        .find_one("/kit/big/a")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(
        read.data["blob"].as_str().map(str::len),
        Some(1024 * 1024),
        "1 MB document"
    );
    let text = "héllo — 你好 🌍 \u{7f} \t \"quoted\" \\";
    put(s, "/kit/uni/a", json!({"text": text, "ключ": "значение"})).await;
    let read = s
        .find_one("/kit/uni/a")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(read.data["text"], text, "unicode round-trips");
    assert_eq!(read.data["ключ"], "значение", "unicode keys round-trip");
    let found = find(
        s,
        "/kit/uni/*",
        FindOptions {
            criteria: criteria(json!({"text": text})),
            ..FindOptions::default()
        },
    )
    .await;
    assert_eq!(found.len(), 1, "criteria on unicode values");
}

/// happn-3's extra operators (LokiJS's set) work in every store: pushed down where the
/// database knows them, evaluated in process otherwise.
async fn extension_operators(s: &dyn Datastore) {
    put(
        s,
        "/kit/ext/1",
        json!({"tags": ["red", "blue"], "name": "alpha"}),
    )
    .await;
    put(s, "/kit/ext/2", json!({"tags": ["green"], "name": "beta"})).await;
    put(s, "/kit/ext/3", json!({"tags": [], "name": "gamma ray"})).await;
    let any = criteria(json!({"tags": {"$containsAny": ["blue", "green"]}}));
    let found = find(
        s,
        "/kit/ext/*",
        FindOptions {
            criteria: any.clone(),
            sort: vec![crate::criteria::SortKey {
                field: "path".into(),
                descending: true,
            }],
            limit: Some(1),
            ..FindOptions::default()
        },
    )
    .await;
    let paths: Vec<&str> = found.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/kit/ext/2"], "$containsAny with sort and limit");
    assert_eq!(
        s.count(&q("/kit/ext/*"), any.as_ref())
            .await
            .expect("count"),
        2
    );
    let none = criteria(json!({"tags": {"$containsNone": ["red", "green"]}}));
    assert_eq!(
        s.count(&q("/kit/ext/*"), none.as_ref())
            .await
            .expect("count"),
        1
    );
    let text = criteria(json!({"name": {"$containsString": "ray"}}));
    assert_eq!(
        s.remove(&q("/kit/ext/*"), text.as_ref())
            .await
            .expect("remove"),
        1,
        "remove by $containsString"
    );
    assert_eq!(s.remove(&q("/kit/ext/*"), None).await.expect("cleanup"), 2);
}

async fn removal(s: &dyn Datastore) {
    for i in 0..5 {
        put(s, &format!("/kit/rm/{i}"), json!({"i": i})).await;
    }
    put(s, "/kit/rmx", json!({})).await;
    // With criteria only the matching records go: pushed-down and in-process forms.
    for (criteria_doc, expected) in [
        (json!({"i": {"$gte": 3}}), 2),
        (json!({"i": {"$regex": "^never$"}}), 0),
        (json!({"$or": [{"i": 1}, {"_meta.path": "/kit/rmc/2"}]}), 2),
    ] {
        for i in 0..5 {
            put(s, &format!("/kit/rmc/{i}"), json!({"i": i})).await;
        }
        let removed = s
            .remove(&q("/kit/rmc/*"), criteria(criteria_doc.clone()).as_ref())
            .await
            .expect("remove with criteria");
        assert_eq!(removed, expected, "removed by {criteria_doc}");
        assert_eq!(
            s.count(&q("/kit/rmc/*"), None).await.expect("count"),
            5 - expected,
            "the rest stay ({criteria_doc})"
        );
        s.remove(&q("/kit/rmc/*"), None).await.expect("cleanup");
    }
    assert_eq!(
        s.remove(&q("/kit/rm/0"), None).await.expect("remove"),
        1,
        "exact remove"
    );
    assert_eq!(
        s.remove(&q("/kit/rm/0"), None).await.expect("remove"),
        0,
        "removing nothing"
    );
    assert_eq!(
        s.remove(&q("/kit/rm/*"), None).await.expect("remove"),
        4,
        "wildcard remove count"
    );
    assert!(
        s.find_one("/kit/rmx").await.expect("read").is_some(),
        "only matches are removed"
    );
    let everything = s.remove(&q("/kit/*"), None).await.expect("remove all");
    assert!(everything > 10, "cleanup removed {everything}");
    assert_eq!(s.count(&q("/kit/*"), None).await.expect("count"), 0);
}
