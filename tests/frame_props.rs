//! Property test: arbitrary request frames, sent through a real socket to a real node, never
//! panic the parser or the dispatcher. After every frame the session must still answer a
//! `describe`: a handler panic would end the session (`internal-error`) and fail the case.

mod common;

use std::time::Duration;

use common::{RawPeer, secure_config, test_config};
use happn_cluster::Node;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
        Just(json!(1e308)),
        Just(json!(u64::MAX)),
        "[a-z$_.*/@]{0,12}".prop_map(Value::from),
        Just(json!("(\\w{1,100}){1,100}")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$and".to_string()),
        Just("$or".to_string()),
        Just("$not".to_string()),
        Just("$regex".to_string()),
        Just("$in".to_string()),
        Just("$gt".to_string()),
        Just("$elemMatch".to_string()),
        Just("$exists".to_string()),
        Just("_meta.path".to_string()),
        "[a-z.$_]{1,8}",
    ]
}

fn path() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "(/[a-z0-9*@]{0,4}){0,6}".prop_map(Value::from),
        1 => "/(SET|REMOVE|ALL)@(/[a-z*]{0,3}){1,4}".prop_map(Value::from),
        1 => Just(json!("*")),
        1 => Just(json!("/_SYSTEM/_SECURITY/_USER/_ADMIN")),
        1 => scalar(),
    ]
}

fn options() -> impl Strategy<Value = Value> {
    let option_key = prop_oneof![
        Just("merge"),
        Just("increment"),
        Just("criteria"),
        Just("options"),
        Just("sort"),
        Just("limit"),
        Just("skip"),
        Just("fields"),
        Just("consistency"),
        Just("depth"),
        Just("referenceId"),
        Just("targetClients"),
        Just("meta"),
        Just("noStore"),
        Just("noPublish"),
        Just("publishResults"),
        Just("initialCallback"),
        Just("event_type"),
        Just("path_only"),
    ];
    prop::collection::vec((option_key, json_value()), 0..5).prop_map(|pairs| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<Map<_, _>>(),
        )
    })
}

fn action() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop_oneof![
            Just("set"), Just("get"), Just("count"), Just("remove"), Just("on"), Just("off"),
            Just("ack"), Just("login"), Just("describe"), Just("configure-session"),
            Just("disconnect-child-sessions"),
        ]
        .prop_map(Value::from),
        1 => scalar(),
    ]
}

fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (action(), path(), json_value(), options(), any::<u32>()).prop_map(
            |(action, path, data, options, id)| {
                json!({"action": action, "eventId": id, "path": path, "data": data, "options": options})
                    .to_string()
            }
        ),
        1 => ".{0,64}",
        1 => json_value().prop_map(|v| v.to_string()),
    ]
}

/// Sends `frame`, then a `describe`; true once the describe's reply arrives (the session
/// survived), false if the connection ended first.
async fn survives(peer: &mut RawPeer, frame: &str, sentinel: u64) -> bool {
    peer.send_text(frame).await;
    peer.send_json(json!({"action": "describe", "eventId": sentinel}))
        .await;
    loop {
        match peer.next_json().await {
            None => return false,
            Some(reply) => {
                if reply["eventKey"] == "server-side-disconnect" {
                    return false;
                }
                if reply["_meta"]["eventId"] == sentinel && reply["data"]["name"].is_string() {
                    return true;
                }
            }
        }
    }
}

fn run_cases(config: happn_cluster::config::Config, credentials: Option<(&str, &str)>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (node, peer) = runtime.block_on(async {
        let node = Node::start(config).await.unwrap();
        let mut peer = RawPeer::connect(&node).await;
        peer.send_json(
            json!({"action": "configure-session", "eventId": 1, "data": {"protocol": "happn_4"}}),
        )
        .await;
        peer.next_json().await.unwrap();
        let mut login = json!({"info": {}});
        if let Some((user, password)) = credentials {
            login = json!({"username": user, "password": password, "info": {}});
        }
        peer.send_json(json!({"action": "login", "eventId": 2, "data": login}))
            .await;
        assert_eq!(peer.next_json().await.unwrap()["_meta"]["status"], "ok");
        (node, peer)
    });
    let peer = std::sync::Mutex::new(peer);
    let sentinel = std::sync::atomic::AtomicU64::new(1 << 40);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&frame(), |frame| {
            let id = sentinel.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut peer = peer.lock().unwrap();
            let alive = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), survives(&mut peer, &frame, id))
                    .await
                    .unwrap_or(false)
            });
            prop_assert!(alive, "the session did not survive {}", frame);
            Ok(())
        })
        .unwrap();
    runtime.block_on(node.shutdown(Duration::from_secs(1)));
}

#[test]
fn arbitrary_frames_never_break_an_open_node_session() {
    run_cases(test_config(), None);
}

#[test]
fn arbitrary_frames_never_break_a_secure_admin_session() {
    run_cases(secure_config(), Some(("_ADMIN", "admin-pass")));
}
