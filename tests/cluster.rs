//! The cluster, in process: nodes on one shared SQLite file find each other through
//! keepalive records, link up, replicate events, gate their client ports on stability,
//! replicate security changes, and carry replicator messages.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions, Event, OnOptions, SetOptions};
use happn_cluster::cluster::NodeState;
use happn_cluster::config::{Config, DatastoreConfig, Millis};
use serde_json::{Value, json};

/// A cluster node config over the SQLite file in `dir`, with quick timings.
fn cluster_config(dir: &std::path::Path, minimum: u32) -> Config {
    let mut config = common::test_config();
    config.services.data.config.datastores = vec![DatastoreConfig {
        name: "shared".into(),
        provider: Some("sqlite".into()),
        is_default: true,
        settings: json!({"filename": dir.join("cluster.db").to_string_lossy(), "table": "happn"}),
        ..DatastoreConfig::default()
    }];
    let orchestrator = &mut config.services.orchestrator.config;
    orchestrator
        .cluster
        .insert("happn-cluster-node".into(), minimum);
    orchestrator.timing.keep_alive = Millis(200);
    orchestrator.timing.keep_alive_threshold = Millis(1_000);
    orchestrator.timing.member_refresh = Millis(200);
    orchestrator.timing.health_report = Millis(1_000);
    orchestrator.timing.stabilise_timeout = Some(Millis(20_000));
    config
        .services
        .replicator
        .config
        .security_changeset_replicate_interval = Millis(100);
    config
}

async fn start_all(configs: Vec<Config>) -> Vec<Node> {
    let starts = configs
        .into_iter()
        .map(|c| tokio::spawn(Node::start(c)))
        .collect::<Vec<_>>();
    let mut nodes = Vec::new();
    for start in starts {
        nodes.push(start.await.expect("start task").expect("node stabilises"));
    }
    nodes
}

fn client_url(node: &Node) -> String {
    common::url(node)
}

/// Replicator messages by receiving node: (payload, is_local, origin).
type Received = HashMap<String, Vec<(Value, bool, String)>>;

/// Events by subscriber, recorded as they arrive.
type Seen = Arc<Mutex<Vec<Event>>>;

async fn subscribe(client: &Client, mask: &str) -> Seen {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    client
        .on(mask, OnOptions::default(), move |event| {
            sink.lock().unwrap().push(event)
        })
        .await
        .expect("subscribes");
    seen
}

async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn three_nodes_replicate_every_write_exactly_once_with_the_origins_meta() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_all((0..3).map(|_| cluster_config(dir.path(), 3)).collect()).await;
    for node in &nodes {
        assert_eq!(node.cluster().state(), Some(NodeState::Stable));
        assert_eq!(node.cluster().status().members.len(), 3);
        assert!(node.client_addr().is_some());
    }
    let mut clients = Vec::new();
    let mut seen = Vec::new();
    for node in &nodes {
        let client = Client::connect(ClientOptions::new(client_url(node)))
            .await
            .unwrap();
        seen.push(subscribe(&client, "/data/*").await);
        clients.push(client);
    }
    // Writes of every kind through node 0; one local write on node 1 outside the masks'
    // reach is not possible with `*`, so a noCluster write shows locality instead.
    clients[0].set("/data/a", json!({"v": 1})).await.unwrap();
    clients[0]
        .set_with(
            "/data/a",
            json!({"w": 2}),
            SetOptions {
                merge: true,
                ..SetOptions::default()
            },
        )
        .await
        .unwrap();
    clients[0]
        .publish("/data/p", json!({"msg": "hi"}))
        .await
        .unwrap();
    clients[0].increment("/data/c", "hits", 3).await.unwrap();
    clients[0].remove("/data/a").await.unwrap();
    clients[1]
        .set_with(
            "/data/local",
            json!({}),
            SetOptions {
                no_cluster: true,
                ..SetOptions::default()
            },
        )
        .await
        .unwrap();

    for (i, events) in seen.iter().enumerate() {
        let expected = if i == 1 { 6 } else { 5 };
        assert!(
            eventually(|| events.lock().unwrap().len() >= expected).await,
            "node {i} saw {:?}",
            events
                .lock()
                .unwrap()
                .iter()
                .map(|e| e.meta["action"].clone())
                .collect::<Vec<_>>()
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let origin: Vec<Event> = seen[0].lock().unwrap().clone();
    for (i, events) in seen.iter().enumerate().skip(1) {
        let events = events.lock().unwrap().clone();
        let replicated: Vec<&Event> = events
            .iter()
            .filter(|e| e.path() != Some("/data/local"))
            .collect();
        assert_eq!(replicated.len(), 5, "node {i}: each write once");
        for (original, copy) in origin.iter().zip(replicated) {
            let strip = |meta: &Value| {
                let mut meta = meta.clone();
                meta.as_object_mut().unwrap().remove("sessionId");
                meta
            };
            assert_eq!(strip(&original.meta), strip(&copy.meta), "node {i}");
            assert_eq!(original.data, copy.data, "node {i}");
        }
    }
    assert!(
        seen[0]
            .lock()
            .unwrap()
            .iter()
            .all(|e| e.path() != Some("/data/local"))
    );
    assert!(
        seen[2]
            .lock()
            .unwrap()
            .iter()
            .all(|e| e.path() != Some("/data/local"))
    );

    // The keepalive records are reserved: a client cannot see or delete them.
    let all = clients[0].get_many("*", Default::default()).await.unwrap();
    assert!(
        all.iter()
            .all(|r| !r["_meta"]["path"].as_str().unwrap().starts_with("/SYSTEM"))
    );

    // A clean stop removes the node at once (no waiting for the threshold).
    let mut nodes = nodes;
    let leaving = nodes.pop().unwrap();
    leaving.shutdown(Duration::from_secs(2)).await;
    assert!(
        eventually(|| nodes
            .iter()
            .all(|n| n.cluster().status().members.len() == 2))
        .await
    );
    for node in nodes {
        node.shutdown(Duration::from_secs(2)).await;
    }
}

#[tokio::test]
async fn the_client_port_opens_only_once_the_minimum_has_joined() {
    let dir = tempfile::tempdir().unwrap();
    let first = tokio::spawn(Node::start(cluster_config(dir.path(), 2)));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!first.is_finished(), "a lone node waits for its peer");
    let second = Node::start(cluster_config(dir.path(), 2)).await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert!(first.client_addr().is_some() && second.client_addr().is_some());
    let (status, body) = common::http_get(first.peer_addr(), "/health").await;
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["state"], "STABLE");
    assert_eq!(health["report"]["TOTAL_CLUSTER_PEERS"], 2);
    first.shutdown(Duration::from_secs(2)).await;
    second.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_node_that_cannot_stabilise_stops_with_stabilise_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cluster_config(dir.path(), 2);
    config.services.orchestrator.config.timing.stabilise_timeout = Some(Millis(600));
    let error = Node::start(config).await.err().expect("no peer: no start");
    assert!(
        error.to_string().contains("failed to stabilise in time"),
        "{error}"
    );
    // It left nothing behind: a new node on the same file stabilises alone.
    let alone = Node::start(cluster_config(dir.path(), 1)).await.unwrap();
    assert_eq!(alone.cluster().status().members.len(), 1);
    alone.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn other_deployments_and_cluster_names_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let a = cluster_config(dir.path(), 1);
    let mut b = cluster_config(dir.path(), 1);
    b.services.orchestrator.config.deployment = "Other-Deploy".into();
    let mut c = cluster_config(dir.path(), 1);
    c.services.orchestrator.config.cluster_name = "another-cluster".into();
    let nodes = start_all(vec![a, b, c]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    for node in &nodes {
        assert_eq!(node.cluster().status().members.len(), 1, "{}", node.name());
    }
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn replicator_messages_reach_every_node_once() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_all((0..3).map(|_| cluster_config(dir.path(), 3)).collect()).await;
    let received: Arc<Mutex<Received>> = Arc::default();
    for node in &nodes {
        let name = node.name().to_string();
        let sink = received.clone();
        node.replicator()
            .on("custom/topic", move |payload, is_local, origin| {
                sink.lock().unwrap().entry(name.clone()).or_default().push((
                    payload.clone(),
                    is_local,
                    origin.to_string(),
                ));
            });
    }
    // A client subscribed to everything never sees replicator traffic.
    let watcher = Client::connect(ClientOptions::new(client_url(&nodes[1])))
        .await
        .unwrap();
    let everything = subscribe(&watcher, "*").await;
    nodes[0]
        .replicator()
        .send("custom/topic", json!({"n": 1}))
        .unwrap();
    assert!(
        eventually(|| received
            .lock()
            .unwrap()
            .values()
            .map(Vec::len)
            .sum::<usize>()
            >= 3)
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = received.lock().unwrap().clone();
    for node in &nodes {
        let got = &received[node.name()];
        assert_eq!(got.len(), 1, "{}: once", node.name());
        assert_eq!(got[0].0, json!({"n": 1}));
        assert_eq!(
            got[0].1,
            node.name() == nodes[0].name(),
            "is_local only on the sender"
        );
        assert_eq!(got[0].2, nodes[0].name());
    }
    assert!(everything.lock().unwrap().is_empty());
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn security_changes_on_one_node_reach_live_sessions_on_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let configs = (0..2)
        .map(|_| {
            let mut config = cluster_config(dir.path(), 2);
            let mut secure = common::secure_config();
            secure.services.data = config.services.data.clone();
            secure.services.orchestrator = config.services.orchestrator.clone();
            secure.services.replicator = config.services.replicator.clone();
            config = secure;
            config
        })
        .collect();
    let nodes = start_all(configs).await;
    // The reader, on node 1, subscribed to what it may read.
    let reader = Client::connect(
        ClientOptions::new(client_url(&nodes[1])).credentials("reader", "reader-pass"),
    )
    .await
    .unwrap();
    let events = subscribe(&reader, "/shared/*").await;
    // A write through node 0 by the writer reaches the reader on node 1.
    let writer = Client::connect(
        ClientOptions::new(client_url(&nodes[0])).credentials("writer", "writer-pass"),
    )
    .await
    .unwrap();
    writer.set("/shared/x", json!({"v": 1})).await.unwrap();
    assert!(eventually(|| events.lock().unwrap().len() == 1).await);
    assert_eq!(
        events.lock().unwrap()[0].meta["eventOrigin"]["username"],
        "writer"
    );
    // Deleting the reader through node 0 ends its session on node 1.
    nodes[0].security().delete_user("reader").await.unwrap();
    assert!(
        eventually(|| reader.last_disconnect_reason().is_some()).await,
        "the reader's session on the other node ended"
    );
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn only_events_on_the_replicate_masks_cross_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let configs = (0..2)
        .map(|_| {
            let mut config = cluster_config(dir.path(), 2);
            config.services.orchestrator.config.replicate = vec!["/*/*/this".into()];
            config
        })
        .collect();
    let nodes = start_all(configs).await;
    let writer = Client::connect(ClientOptions::new(client_url(&nodes[0])))
        .await
        .unwrap();
    let reader = Client::connect(ClientOptions::new(client_url(&nodes[1])))
        .await
        .unwrap();
    let events = subscribe(&reader, "**").await;
    writer
        .set("/something/else", json!({"local": true}))
        .await
        .unwrap();
    writer
        .set("/something/like/this", json!({"crosses": true}))
        .await
        .unwrap();
    assert!(eventually(|| !events.lock().unwrap().is_empty()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paths: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.path().map(str::to_string))
        .collect();
    assert_eq!(paths, vec!["/something/like/this"]);
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_deferred_client_port_opens_when_the_program_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cluster_config(dir.path(), 1);
    config.services.proxy.config.defer = true;
    let mut node = Node::start(config).await.unwrap();
    assert_eq!(node.cluster().state(), Some(NodeState::Stable));
    assert!(node.client_addr().is_none(), "deferred: still shut");
    let address = node.start_client_port().await.unwrap();
    assert_eq!(node.client_addr(), Some(address));
    assert_eq!(
        node.start_client_port().await.unwrap(),
        address,
        "idempotent"
    );
    let client = Client::connect(ClientOptions::new(client_url(&node)))
        .await
        .unwrap();
    client.set("/deferred", json!({"ok": true})).await.unwrap();
    node.shutdown(Duration::from_secs(1)).await;
}
