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
    let mut config = common::sqlite_cluster_config(dir, minimum);
    config.services.orchestrator.config.timing.health_report = Millis(1_000);
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

async fn eventually(check: impl FnMut() -> bool) -> bool {
    eventually_within(Duration::from_secs(5), check).await
}

/// Polls `check` until it holds or `limit` passes (big clusters converge slower on a busy
/// machine).
async fn eventually_within(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..(limit.as_millis() / 25) {
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
    let received2: Arc<Mutex<Received>> = Arc::default();
    for node in &nodes {
        let name = node.name().to_string();
        let sink = received2.clone();
        node.replicator()
            .on("custom/topic", move |payload, is_local, origin| {
                if payload.get("from").is_some() {
                    sink.lock().unwrap().entry(name.clone()).or_default().push((
                        payload.clone(),
                        is_local,
                        origin.to_string(),
                    ));
                }
            });
    }
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
    // Every node sending at once: each receives every message once, with the right origin.
    for node in &nodes {
        let replicator = node.replicator().clone();
        let name = node.name().to_string();
        tokio::spawn(async move { replicator.send("custom/topic", json!({"from": name})) });
    }
    assert!(eventually(|| sink_total(&received2) >= 9).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for node in &nodes {
        let got = received2.lock().unwrap()[node.name()].clone();
        assert_eq!(got.len(), 3, "{}", node.name());
        for (payload, is_local, origin) in got {
            assert_eq!(payload["from"], origin.as_str());
            assert_eq!(is_local, origin == node.name());
        }
    }
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

fn sink_total(received: &Arc<Mutex<Received>>) -> usize {
    received.lock().unwrap().values().map(Vec::len).sum()
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

fn secure_cluster_config(dir: &std::path::Path, minimum: u32) -> Config {
    let base = cluster_config(dir, minimum);
    let mut secure = common::secure_config();
    secure.services.data = base.services.data.clone();
    secure.services.orchestrator = base.services.orchestrator.clone();
    secure.services.replicator = base.services.replicator.clone();
    secure
}

/// `happn-cluster admin` runs in its own process against the database; its changes reach
/// live sessions on every running node through the change journal.
#[tokio::test]
async fn admin_cli_changes_in_another_process_reach_live_sessions_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let config = secure_cluster_config(dir.path(), 2);
    let nodes = start_all(vec![config.clone(), config.clone()]).await;
    let mut readers = Vec::new();
    for node in &nodes {
        readers.push(
            Client::connect(
                ClientOptions::new(client_url(node)).credentials("reader", "reader-pass"),
            )
            .await
            .unwrap(),
        );
    }
    let file = dir.path().join("admin.json");
    std::fs::write(&file, serde_json::to_string(&config).unwrap()).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
            .args(["--config"])
            .arg(&file)
            .args(["admin", "users", "remove", "reader"])
            .output()
            .expect("the admin command runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (i, reader) in readers.iter().enumerate() {
        assert!(
            eventually(|| reader.last_disconnect_reason().is_some()).await,
            "reader on node {i} ended"
        );
    }
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_node_restarted_under_the_same_endpoint_rejoins_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut fixed = cluster_config(dir.path(), 2);
    fixed.port = port;
    let nodes = start_all(vec![cluster_config(dir.path(), 2), fixed.clone()]).await;
    let mut nodes = nodes.into_iter();
    let stays = nodes.next().unwrap();
    let mut restarted = nodes.next().unwrap();
    for round in 0..3 {
        restarted.shutdown(Duration::from_secs(1)).await;
        restarted = Node::start(fixed.clone()).await.unwrap();
        assert!(
            eventually(|| stays.cluster().state() == Some(NodeState::Stable)
                && stays.cluster().status().members.len() == 2)
            .await,
            "round {round}"
        );
        let reader = Client::connect(ClientOptions::new(client_url(&restarted)))
            .await
            .unwrap();
        let events = subscribe(&reader, "/restart/*").await;
        let writer = Client::connect(ClientOptions::new(client_url(&stays)))
            .await
            .unwrap();
        writer
            .set(&format!("/restart/{round}"), json!({}))
            .await
            .unwrap();
        assert!(
            eventually(|| events.lock().unwrap().len() == 1).await,
            "round {round}"
        );
    }
    restarted.shutdown(Duration::from_secs(1)).await;
    stays.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_node_joins_a_running_cluster_and_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_all((0..4).map(|_| cluster_config(dir.path(), 2)).collect()).await;
    assert!(
        eventually(|| nodes
            .iter()
            .all(|n| n.cluster().status().members.len() == 4))
        .await
    );
    let joining = Node::start(cluster_config(dir.path(), 2)).await.unwrap();
    assert!(
        eventually(
            || nodes.iter().all(|n| n.cluster().status().members.len() == 5
                && n.cluster().state() == Some(NodeState::Stable))
        )
        .await
    );
    let reader = Client::connect(ClientOptions::new(client_url(&joining)))
        .await
        .unwrap();
    let events = subscribe(&reader, "/join/*").await;
    for (i, node) in nodes.iter().enumerate() {
        let writer = Client::connect(ClientOptions::new(client_url(node)))
            .await
            .unwrap();
        writer.set(&format!("/join/{i}"), json!({})).await.unwrap();
    }
    assert!(eventually(|| events.lock().unwrap().len() == 4).await);
    joining.shutdown(Duration::from_secs(1)).await;
    assert!(
        eventually(
            || nodes.iter().all(|n| n.cluster().status().members.len() == 4
                && n.cluster().state() == Some(NodeState::Stable))
        )
        .await
    );
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn membership_can_live_in_its_own_datastore() {
    let dir = tempfile::tempdir().unwrap();
    let membership =
        json!({"filename": dir.path().join("members.db").to_string_lossy(), "table": "members"});
    let configs = (0..2)
        .map(|_| {
            let mut config = cluster_config(dir.path(), 2);
            config
                .services
                .data
                .config
                .datastores
                .push(DatastoreConfig {
                    name: "membership".into(),
                    provider: Some("sqlite".into()),
                    patterns: vec!["/SYSTEM/DEPLOYMENT/*".into()],
                    settings: membership.clone(),
                    ..DatastoreConfig::default()
                });
            config
        })
        .collect();
    let nodes = start_all(configs).await;
    let open = |settings: Value| async move {
        let plugins = happn_cluster::sdk::registry::datastores();
        let sqlite = happn_cluster::sdk::registry::find(&plugins, "sqlite").unwrap();
        (sqlite.build)(happn_cluster::sdk::BuildContext::settings(settings))
            .await
            .unwrap()
    };
    let query = happn_cluster::sdk::PathQuery::parse("/SYSTEM/DEPLOYMENT/*");
    let members = open(membership.clone()).await;
    let found = members.find(&query, &Default::default()).await.unwrap();
    assert_eq!(found.len(), 2, "both keepalives in the membership store");
    let shared = open(
        json!({"filename": dir.path().join("cluster.db").to_string_lossy(), "table": "happn"}),
    )
    .await;
    assert!(
        shared
            .find(&query, &Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn tls_client_ports_static_discovery_and_announce_host() {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let members: Vec<Value> = ports
        .iter()
        .map(|p| json!({"name": format!("n{p}"), "service": "happn-cluster-node", "clusterName": "happn-cluster", "deployment": "Test-Deploy", "endpoint": format!("localhost:{p}")}))
        .collect();
    let configs = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let mut config = cluster_config(dir.path(), 2);
            config.port = *port;
            config.announce_host = Some("localhost".into());
            config.services.orchestrator.config.discovery.plugin = "static".into();
            config.services.orchestrator.config.discovery.settings = json!({"members": members});
            config.services.proxy.config.key_path = Some(dir.path().join(format!("key{i}.pem")));
            config.services.proxy.config.cert_path = Some(dir.path().join(format!("cert{i}.pem")));
            config
        })
        .collect();
    let nodes = start_all(configs).await;
    for node in &nodes {
        assert!(node.cluster().endpoint().starts_with("localhost:"));
        assert_eq!(node.cluster().status().members.len(), 2);
    }
    let tls = |node: &Node| {
        let mut options = ClientOptions::new(format!("https://{}", node.client_addr().unwrap()));
        options.allow_self_signed_certs = true;
        options
    };
    let reader = Client::connect(tls(&nodes[1])).await.unwrap();
    let events = subscribe(&reader, "/tls/*").await;
    let writer = Client::connect(tls(&nodes[0])).await.unwrap();
    writer.set("/tls/x", json!({"v": 1})).await.unwrap();
    assert!(eventually(|| events.lock().unwrap().len() == 1).await);
    // Clients may not write on the cluster's channel.
    assert!(
        writer
            .set("/__REPLICATE", json!({"topic": "x"}))
            .await
            .is_err()
    );
    // Per-peer replication series on /metrics.
    let (status, metrics) = common::http_get(nodes[1].peer_addr(), "/metrics").await;
    assert_eq!(status, 200);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("happn_peer_events_in_total{"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.ends_with(" 1"), "{line}");
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

/// The seed's big scenarios: ten nodes in two services all STABLE with ten peers; an 11th
/// joins (eleven peers everywhere) and leaves (ten again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_in_two_services_then_an_eleventh_joins_and_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let config = |service: &str| {
        let mut config = cluster_config(dir.path(), 1);
        let orchestrator = &mut config.services.orchestrator.config;
        orchestrator.service_name = service.into();
        orchestrator.cluster.clear();
        orchestrator.cluster.insert("service-a".into(), 4);
        orchestrator.cluster.insert("service-b".into(), 6);
        config
    };
    let configs = (0..10)
        .map(|i| config(if i < 4 { "service-a" } else { "service-b" }))
        .collect();
    let nodes = start_all(configs).await;
    let peers = |node: &Node| node.cluster().status().health.total_peers;
    assert!(
        eventually_within(Duration::from_secs(30), || nodes
            .iter()
            .all(|n| peers(n) == 10))
        .await
    );
    let eleventh = Node::start(config("service-b")).await.unwrap();
    assert!(
        eventually_within(Duration::from_secs(30), || nodes
            .iter()
            .all(|n| peers(n) == 11)
            && peers(&eleventh) == 11)
        .await
    );
    eleventh.shutdown(Duration::from_secs(1)).await;
    assert!(
        eventually_within(Duration::from_secs(30), || nodes
            .iter()
            .all(|n| peers(n) == 10 && n.cluster().state() == Some(NodeState::Stable)))
        .await
    );
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}

/// A node joins while another stops: the join succeeds and membership converges.
#[tokio::test]
async fn a_join_while_another_node_leaves_converges() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_all((0..3).map(|_| cluster_config(dir.path(), 2)).collect()).await;
    let leaving = nodes.pop().unwrap();
    let (joined, ()) = tokio::join!(Node::start(cluster_config(dir.path(), 2)), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        leaving.shutdown(Duration::from_secs(1)).await;
    });
    let joined = joined.unwrap();
    nodes.push(joined);
    assert!(
        eventually(
            || nodes.iter().all(|n| n.cluster().status().members.len() == 3
                && n.cluster().state() == Some(NodeState::Stable))
        )
        .await
    );
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
}
