//! Embedding: a program talks to its node through an in-process connection
//! (`Connection::in_process` + `Node::attach`), a session like any socket's.

mod common;

use std::time::Duration;

use happn_cluster::client::OnOptions;
use happn_cluster_sdk::{Connection, InProcessPeer};
use serde_json::{Value, json};

async fn reply(peer: &mut InProcessPeer) -> Value {
    let frame = tokio::time::timeout(Duration::from_secs(5), peer.recv())
        .await
        .expect("a reply in time")
        .expect("the session is open");
    serde_json::from_str(&frame).expect("JSON reply")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_connection_is_a_session() {
    let node = common::start_node().await;
    let watcher = common::client(&node).await;
    let (_, mut events) = watcher
        .on_stream("/embedded/*", OnOptions::default())
        .await
        .unwrap();

    let (connection, mut peer) = Connection::in_process(8, 1 << 20);
    node.attach(connection);
    let set = json!({"action": "set", "eventId": 7, "path": "/embedded/a", "data": {"n": 1}});
    assert!(peer.send(set.to_string()).await);
    let answer = reply(&mut peer).await;
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
    assert!(peer.send("{not json").await);
    let answer = reply(&mut peer).await;
    assert_eq!(answer["_meta"]["status"], "error", "{answer}");
    let get = json!({"action": "get", "eventId": 8, "path": "/embedded/a"});
    assert!(peer.send(get.to_string()).await);
    assert_eq!(reply(&mut peer).await["data"]["n"], 1);
    assert_eq!(
        node.sessions().len(),
        2,
        "the watcher and the attached session"
    );

    // Ending the connection ends the session.
    peer.close("embedder done").await;
    assert!(common::eventually(|| node.sessions().len() == 1).await);
}

/// The host ending the session (here: the node stopping) ends the peer's stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_connection_ends_when_the_node_stops() {
    let node = common::start_node().await;
    let (connection, mut peer) = Connection::in_process(8, 1 << 20);
    node.attach(connection);
    let describe = json!({"action": "describe", "eventId": 1});
    assert!(peer.send(describe.to_string()).await);
    assert_eq!(reply(&mut peer).await["_meta"]["status"], "ok");
    node.shutdown(Duration::from_millis(200)).await;
    let mut ended = false;
    for _ in 0..10 {
        match tokio::time::timeout(Duration::from_secs(2), peer.recv()).await {
            Ok(None) => {
                ended = true;
                break;
            }
            // The shutdown notice comes first.
            Ok(Some(_)) => {}
            Err(_) => break,
        }
    }
    assert!(ended, "recv ends once the node has stopped");
}
