//! Embedding: a program talks to its node through an in-process connection
//! (`Node::attach`), a session like any socket's.

mod common;

use std::time::Duration;

use happn_cluster::client::OnOptions;
use happn_cluster_sdk::{ByteBudget, Connection, ConnectionInfo, Inbound, Outbound, Terminator};
use serde_json::{Value, json};
use tokio::sync::mpsc;

async fn reply(from_session: &mut mpsc::Receiver<Outbound>) -> Value {
    let frame = tokio::time::timeout(Duration::from_secs(5), from_session.recv())
        .await
        .expect("a reply in time");
    match frame {
        Some(Outbound::Text(text)) => serde_json::from_str(&text).expect("JSON reply"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_connection_is_a_session() {
    let node = common::start_node().await;
    let watcher = common::client(&node).await;
    let (_, mut events) = watcher
        .on_stream("/embedded/*", OnOptions::default())
        .await
        .unwrap();

    let (to_session, inbound) = mpsc::channel(8);
    let (outbound, mut from_session) = mpsc::channel(8);
    let (terminator, _terminated) = Terminator::new();
    node.attach(Connection {
        info: ConnectionInfo::default(),
        outbound,
        outbound_bytes: ByteBudget::new(1 << 20),
        inbound,
        inbound_bytes: ByteBudget::new(1 << 20),
        terminator,
    });
    let set = json!({"action": "set", "eventId": 7, "path": "/embedded/a", "data": {"n": 1}});
    to_session
        .send(Inbound::Text(set.to_string()))
        .await
        .unwrap();
    let answer = reply(&mut from_session).await;
    assert_eq!(answer["_meta"]["status"], "ok", "{answer}");
    assert_eq!(answer["_meta"]["eventId"], 7);
    assert_eq!(answer["data"]["n"], 1);

    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event.data["n"], 1,
        "a socket client saw the in-process write"
    );

    // A bad frame gets an error reply and the session keeps serving.
    to_session
        .send(Inbound::Text("{not json".into()))
        .await
        .unwrap();
    let answer = reply(&mut from_session).await;
    assert_eq!(answer["_meta"]["status"], "error", "{answer}");
    let get = json!({"action": "get", "eventId": 8, "path": "/embedded/a"});
    to_session
        .send(Inbound::Text(get.to_string()))
        .await
        .unwrap();
    assert_eq!(reply(&mut from_session).await["data"]["n"], 1);
    assert_eq!(
        node.sessions().len(),
        2,
        "the watcher and the attached session"
    );

    // Ending the connection ends the session.
    to_session
        .send(Inbound::Closed("embedder done".into()))
        .await
        .unwrap();
    assert!(common::eventually(|| node.sessions().len() == 1).await);
}
