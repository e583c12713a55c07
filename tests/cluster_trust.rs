//! Cluster trust, attacked as an ordinary user, an anonymous client and a local process
//! would: a login that claims to be a peer, a membership row forged into the real database,
//! a rogue endpoint the node is made to dial, wrong keys on the internal port, replay of
//! targeted events, `_ADMIN` locked out by guesses spread over the nodes. Each test failed
//! on the code before peers had to prove the cluster key.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::faults::{free_port, port_open, spawn_node};
use futures_util::{SinkExt, StreamExt};
use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions, SetOptions};
use happn_cluster::config::Config;
use happn_cluster::sdk::Error;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "test-cluster-secret-0123456789";
const ADMIN_PASSWORD: &str = "cluster-admin-pass";

/// A listener standing in for a rogue endpoint: it accepts WebSockets, answers every happn
/// request with success (a forged proof for `peer-hello`), and records what it receives.
struct Rogue {
    port: u16,
    connections: Arc<AtomicUsize>,
    frames: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Rogue {
    async fn start() -> Rogue {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (connections.clone(), frames.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    while let Some(Ok(message)) = ws.next().await {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        seen.lock().unwrap().push(text.to_string());
                        let Ok(request) = serde_json::from_str::<Value>(text.as_str()) else {
                            continue;
                        };
                        let action = request["action"].as_str().unwrap_or_default();
                        let data = match action {
                            "peer-hello" => json!({
                                "nonce": "ab".repeat(32),
                                "key": request["data"]["keys"][0],
                                "identity": {"name": "rogue", "clusterName": "happn-cluster",
                                    "serviceName": "happn-cluster-node", "endpoint": format!("127.0.0.1:{port}")},
                                "proof": "00".repeat(32),
                            }),
                            _ => json!({"id": "rogue-session", "happn": {"name": "rogue"}}),
                        };
                        let reply = json!({"data": data, "_meta": {"type": "response", "status": "ok",
                            "published": false, "eventId": request["eventId"], "action": action}});
                        if ws.send(Message::text(reply.to_string())).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Rogue {
            port,
            connections,
            frames,
            task,
        }
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn actions(&self) -> Vec<String> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .filter_map(|f| serde_json::from_str::<Value>(f).ok())
            .filter_map(|v| v["action"].as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A login `info` claiming to be a cluster peer at `endpoint`.
fn peer_claim(endpoint: &str) -> Value {
    json!({"name": "evil", "clusterName": "happn-cluster", "serviceName": "happn-cluster-node", "endpoint": endpoint})
}

/// The seed-shaped JSON config of cluster node `i` on the SQLite file `db`.
fn process_config(
    i: usize,
    internal: u16,
    client: u16,
    db: &std::path::Path,
    deployment: &str,
) -> Value {
    json!({
        "name": format!("trust-node-{i}"),
        "host": "127.0.0.1",
        "port": internal,
        "secure": true,
        "services": {
            "security": {"config": {
                "adminUser": {"username": "_ADMIN", "password": ADMIN_PASSWORD},
                "pbkdf2Iterations": 64,
                "groups": [{"name": "setters", "permissions": {"/x/*": {"actions": ["set"]}}}],
                "users": [{"username": "mallory", "password": "mallory-pass", "groups": ["setters"]}]
            }},
            "data": {"config": {"datastores": [{"name": "shared", "provider": "sqlite", "isDefault": true,
                "settings": {"filename": db.to_string_lossy(), "table": "happn"}}]}},
            "proxy": {"config": {"port": client, "host": "127.0.0.1"}},
            "orchestrator": {"config": {
                "deployment": deployment,
                "clusterSecret": SECRET,
                "replicate": ["*"],
                "timing": {"keepAliveThreshold": 2000, "keepAlive": 200, "memberRefresh": 200, "healthReport": 2000, "stabiliseTimeout": 60000},
                "cluster": {"happn-cluster-node": 2}
            }},
            "replicator": {"config": {"securityChangesetReplicateInterval": 200}}
        }
    })
}

async fn wait_for(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited {limit:?} for: {what}");
}

fn addr(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// `POST /auth/login` on `port`; the token.
async fn http_login(port: u16, username: &str, password: &str) -> Result<String, (u16, String)> {
    common::http_login(addr(port), username, password).await
}

/// `GET path` with an admin token.
async fn get_with_token(port: u16, path: &str, token: &str) -> (u16, String) {
    common::http_get_with_token(addr(port), path, token).await
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn healthy_pair(internal: u16, token: &str) -> bool {
    let (status, body) = get_with_token(internal, "/health", token).await;
    let health: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    status == 200
        && health["report"]["TOTAL_CLUSTER_PEERS"] == 2
        && health["members"].as_array().is_some_and(|m| m.len() == 2)
}

/// Two secure node processes on one SQLite file. A set-only user claims to be a peer (on
/// the client and the internal port), a membership row for a rogue endpoint is written
/// straight into the database, `_ADMIN` is locked out by guesses spread over both nodes; the
/// rogue listeners see no connection, the cluster stays a pair, and a restarted node
/// rejoins although `_ADMIN` is locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_forged_rows_and_admin_lockout_neither_add_members_nor_leak_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let deployment = format!("Trust-{}", std::process::id());
    let ports: Vec<(u16, u16)> = (0..2).map(|_| (free_port(), free_port())).collect();
    let paths: Vec<_> = (0..2)
        .map(|i| {
            let path = dir.path().join(format!("node-{i}.json"));
            let (internal, client) = ports[i];
            std::fs::write(
                &path,
                process_config(i, internal, client, &db, &deployment).to_string(),
            )
            .unwrap();
            path
        })
        .collect();
    let _first = spawn_node(&paths[0]);
    let mut second = spawn_node(&paths[1]);
    wait_for(
        "both client ports open",
        Duration::from_secs(60),
        async || ports.iter().all(|(_, c)| port_open(*c)),
    )
    .await;
    let token = http_login(ports[0].1, "_ADMIN", ADMIN_PASSWORD)
        .await
        .expect("admin token");

    // Claims: a set-only user says it is a peer, on the client port and on the internal port.
    let claimed = Rogue::start().await;
    let mut claimants = Vec::new();
    for port in [ports[0].1, ports[0].0, ports[1].0] {
        let mut options = ClientOptions::new(format!("http://127.0.0.1:{port}"))
            .credentials("mallory", "mallory-pass");
        options.info = peer_claim(&claimed.endpoint());
        options.reconnect = false;
        claimants.push(
            Client::connect(options)
                .await
                .expect("an ordinary login still works"),
        );
    }
    // A row for another rogue endpoint, written into the shared table with a made-up
    // signature and a heartbeat that advances.
    let forged = Rogue::start().await;
    let plugins = happn_cluster::sdk::registry::datastores();
    let sqlite = happn_cluster::sdk::registry::find(&plugins, "sqlite").unwrap();
    let store = (sqlite.build)(happn_cluster::sdk::BuildContext::settings(
        json!({"filename": db.to_string_lossy(), "table": "happn"}),
    ))
    .await
    .unwrap();
    let row = format!(
        "/SYSTEM/DEPLOYMENT/{deployment}/happn-cluster-node/{}",
        forged.endpoint()
    );
    for beat in 1..=15u64 {
        let data = json!({"service": "happn-cluster-node", "endpoint": forged.endpoint(), "name": "forged",
            "clusterName": "happn-cluster", "beat": beat, "epoch": "e", "signature": format!("{}:{}", "0".repeat(16), "1".repeat(64))});
        store
            .upsert(&row, data.as_object().unwrap().clone(), &Default::default())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        claimed.connections.load(Ordering::SeqCst),
        0,
        "a claimed endpoint is never dialled"
    );
    assert_eq!(
        forged.connections.load(Ordering::SeqCst),
        0,
        "a forged row is never dialled"
    );
    for (internal, _) in &ports {
        assert!(
            healthy_pair(*internal, &token).await,
            "still exactly two members, both peers"
        );
    }
    let (_, metrics) = common::http_get(addr(ports[0].0), "/metrics").await;
    assert!(
        metric(&metrics, "happn_membership_records_refused_total") > 0,
        "{metrics}"
    );
    // The claimants are ordinary clients: no replay, no handshake, no peer rights.
    for claimant in &claimants {
        let replay = claimant
            .request("replay", None, json!({"epoch": "", "after": 0}), None)
            .await;
        assert!(matches!(replay, Err(Error::Forbidden(_))), "{replay:?}");
        let subscribe = claimant
            .request(
                "set",
                Some("/__REPLICATE"),
                json!({"topic": "/security/dataChanged"}),
                None,
            )
            .await;
        assert!(
            subscribe.is_err(),
            "the replication channel is closed to clients"
        );
    }

    // `_ADMIN` guesses, two on each node: with the lockout shared, the account locks (four
    // attempts), where per-node counting would have allowed eight.
    for (_, client) in &ports {
        for _ in 0..2 {
            let guess = Client::connect(
                ClientOptions::new(format!("http://127.0.0.1:{client}"))
                    .credentials("_ADMIN", "wrong"),
            )
            .await;
            assert!(guess.is_err());
        }
    }
    // Outcomes cross the peer links in milliseconds. Probing with the right password before
    // they arrived would succeed and clear the count, so give them a moment, then probe once.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let locked = matches!(
        http_login(ports[0].1, "_ADMIN", ADMIN_PASSWORD).await,
        Err((_, body)) if body.contains("locked")
    );
    assert!(locked, "guesses on both nodes add up to a lockout");
    // A node restarting while `_ADMIN` is locked rejoins: peers never log in as `_ADMIN`.
    let _ = second.0.kill();
    let _ = second.0.wait();
    wait_for(
        "the pair notices the loss",
        Duration::from_secs(20),
        async || !healthy_pair(ports[0].0, &token).await,
    )
    .await;
    second = spawn_node(&paths[1]);
    wait_for(
        "the restarted node rejoins",
        Duration::from_secs(40),
        async || healthy_pair(ports[0].0, &token).await,
    )
    .await;
    assert_eq!(claimed.connections.load(Ordering::SeqCst), 0);
    assert_eq!(forged.connections.load(Ordering::SeqCst), 0);
    let text = claimed.frames.lock().unwrap().concat() + &forged.frames.lock().unwrap().concat();
    assert!(!text.contains(ADMIN_PASSWORD));
    drop(second);
}

/// A config for an in-process cluster node on `dir`'s SQLite file with the cluster secret.
fn trusted_config(dir: &std::path::Path, minimum: u32) -> Config {
    let mut config = common::sqlite_cluster_config(dir, minimum);
    config.services.orchestrator.config.cluster_secret = Some(SECRET.into());
    config
}

/// A rogue endpoint the node does dial (a static member list names it) receives a nonce
/// and key ids, nothing else: no login, no credential, no subscription, even though it
/// answers everything with success and forges a proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialled_rogue_endpoint_receives_only_a_nonce() {
    let rogue = Rogue::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = trusted_config(dir.path(), 1);
    config.secure = true;
    config.services.security.config.admin_user.password = ADMIN_PASSWORD.into();
    config.services.orchestrator.config.discovery.plugin = "static".into();
    config.services.orchestrator.config.discovery.settings = json!({"members": [
        {"name": "rogue", "service": "happn-cluster-node", "clusterName": "happn-cluster",
         "deployment": "Test-Deploy", "endpoint": rogue.endpoint()}
    ]});
    // The rogue never becomes a peer, so the node never stabilises: it gives up after
    // `stabiliseTimeout`, having dialled the rogue every retry meanwhile.
    config.services.orchestrator.config.timing.stabilise_timeout =
        Some(happn_cluster::config::Millis(3_000));
    let started = Node::start(config).await;
    wait_for(
        "the node dials the listed endpoint again",
        Duration::from_secs(10),
        async || {
            rogue
                .actions()
                .iter()
                .filter(|a| *a == "peer-hello")
                .count()
                >= 2
        },
    )
    .await;
    if let Ok(node) = started {
        let member = node
            .cluster()
            .status()
            .members
            .into_iter()
            .find(|m| m.endpoint == rogue.endpoint());
        assert!(
            member.is_some_and(|m| !m.peer && !m.connected_to),
            "the rogue is no peer"
        );
        node.shutdown(Duration::from_secs(1)).await;
    }
    let actions = rogue.actions();
    assert!(
        actions.iter().filter(|a| *a == "peer-hello").count() >= 2,
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .all(|a| ["configure-session", "describe", "peer-hello"].contains(&a.as_str())),
        "no proof, login or subscription reaches it: {actions:?}"
    );
    let text = rogue.frames.lock().unwrap().concat();
    assert!(
        !text.contains(ADMIN_PASSWORD) && !text.contains("password") && !text.contains(SECRET),
        "{text}"
    );
    let hello = rogue
        .frames
        .lock()
        .unwrap()
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .find(|f| f["action"] == "peer-hello")
        .unwrap();
    let mut keys: Vec<&String> = hello["data"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["keys", "nonce"]);
}

/// On an insecure cluster an anonymous client claiming to be a peer stays a client; the
/// internal port refuses handshakes without the key (and closes the connection), and the
/// client port refuses them outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_insecure_cluster_nothing_a_client_says_makes_it_a_peer() {
    let dir = tempfile::tempdir().unwrap();
    let rogue = Rogue::start().await;
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(Node::start(trusted_config(dir.path(), 2)));
    }
    let mut started = Vec::new();
    for node in nodes {
        started.push(node);
    }
    let (a, b) = tokio::join!(started.remove(0), started.remove(0));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut options = ClientOptions::new(format!("http://{}", a.peer_addr()));
    options.info = peer_claim(&rogue.endpoint());
    let claimant = Client::connect(options).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(rogue.connections.load(Ordering::SeqCst), 0);
    assert_eq!(a.cluster().status().members.len(), 2);
    let replay = claimant
        .request("replay", None, json!({"epoch": "", "after": 0}), None)
        .await;
    assert!(matches!(replay, Err(Error::Forbidden(_))), "{replay:?}");

    // A handshake with a key the cluster does not hold: refused, counted, connection closed.
    let wrong = authority_of(
        "not the cluster's secret!",
        happn_cluster::trust::KeySource::ClusterSecret,
    );
    let (mut raw, reply) = send_hello(a.peer_addr(), &wrong).await;
    assert_eq!(reply["_meta"]["status"], "error", "{reply}");
    assert!(closes(&mut raw).await, "the connection ends");
    // On the client port, no peer handshake at all, even with the right key.
    let right = a.cluster().authority().clone();
    let (_, reply) = send_hello(a.client_addr().unwrap(), &right).await;
    assert!(
        reply["_meta"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("internal port"),
        "{reply}"
    );
    let (_, metrics) = common::http_get(a.peer_addr(), "/metrics").await;
    assert!(
        metric(&metrics, "happn_peer_handshake_failures_total") >= 2,
        "{metrics}"
    );
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
}

/// A peer authority of node "x" holding the key of `secret` for cluster "happn-cluster".
fn authority_of(
    secret: &str,
    source: happn_cluster::trust::KeySource,
) -> happn_cluster::trust::PeerAuthority {
    happn_cluster::trust::PeerAuthority::new(
        Arc::new(happn_cluster::trust::ClusterKeys::derive(
            "happn-cluster",
            secret,
            &[],
            source,
        )),
        happn_cluster::trust::PeerIdentity::new(
            "x",
            "happn-cluster",
            "happn-cluster-node",
            "127.0.0.1:9",
        )
        .unwrap(),
    )
}

/// Sends `authority`'s `peer-hello` on a raw WebSocket to `addr`; the socket and the reply.
async fn send_hello(
    addr: SocketAddr,
    authority: &happn_cluster::trust::PeerAuthority,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Value,
) {
    let mut raw = raw_ws(addr).await;
    let (hello, _) = authority.hello();
    raw.send(Message::text(
        json!({"action": "peer-hello", "eventId": 1, "data": hello}).to_string(),
    ))
    .await
    .unwrap();
    let reply = next_reply(&mut raw).await.expect("a reply to the hello");
    (raw, reply)
}

async fn raw_ws(
    addr: SocketAddr,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(format!("ws://{addr}/primus"))
        .await
        .expect("ws connects")
        .0
}

/// True when the server closes the connection within five seconds (notices before the
/// close are skipped).
async fn closes(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The next reply frame (heartbeats skipped); None when the connection ends.
async fn next_reply(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(text.as_str()).ok()?;
            if value.is_object() {
                return Some(value);
            }
        }
    }
}

/// A client of node `node`'s internal port that proved membership with the cluster key
/// (it holds the secret: a real peer for the test's purposes).
async fn proven_peer(node: &Node) -> Client {
    let authority = happn_cluster::trust::PeerAuthority::new(
        node.cluster().authority().keys().clone().into(),
        happn_cluster::trust::PeerIdentity::new(
            "test-peer",
            "happn-cluster",
            "happn-cluster-node",
            "127.0.0.1:1",
        )
        .unwrap(),
    );
    let mut options = ClientOptions::new(format!("http://{}", node.peer_addr()));
    options.authenticator = Some(Arc::new(happn_cluster::cluster::peer_proof::PeerProof {
        authority: Arc::new(authority),
        endpoint: node.cluster().endpoint().to_string(),
    }));
    options.reconnect = false;
    Client::connect(options)
        .await
        .expect("a holder of the key proves membership")
}

/// Replay applies live delivery's rules: an event targeted at another session reaches a
/// peer neither live nor replayed; a peer link carries replication only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_follows_the_live_delivery_rules() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(trusted_config(dir.path(), 1)).await.unwrap();
    let peer = proven_peer(&node).await;
    let head = peer
        .request("replay", None, json!({"head": true}), None)
        .await
        .unwrap();
    let epoch = head["data"]["epoch"].as_str().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    peer.on("*", Default::default(), move |event| {
        sink.lock()
            .unwrap()
            .push(event.path().unwrap_or_default().to_string());
    })
    .await
    .unwrap();
    let writer = common::client(&node).await;
    let bystander = common::client(&node).await;
    writer.set("/t/open", json!({"v": 1})).await.unwrap();
    let targeted = SetOptions {
        target_clients: Some(vec![bystander.session_id().unwrap()]),
        ..SetOptions::default()
    };
    writer
        .set_with("/t/targeted", json!({"v": 2}), targeted)
        .await
        .unwrap();
    writer.set("/t/last", json!({"v": 3})).await.unwrap();
    wait_for("live events", Duration::from_secs(5), async || {
        seen.lock().unwrap().len() >= 2
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        ["/t/open", "/t/last"],
        "live delivery skips the targeted event"
    );
    let replayed = peer
        .request("replay", None, json!({"epoch": epoch, "after": 0}), None)
        .await
        .unwrap();
    assert_eq!(replayed["data"]["sent"], 2, "{replayed}");
    wait_for("replayed events", Duration::from_secs(5), async || {
        seen.lock().unwrap().len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        ["/t/open", "/t/last", "/t/open", "/t/last"]
    );
    // A peer link carries replication only.
    let write = peer.set("/t/from-peer", json!(1)).await;
    assert!(matches!(write, Err(Error::Forbidden(_))), "{write:?}");
    let read = peer
        .request("get", Some("/t/open"), Value::Null, None)
        .await;
    assert!(matches!(read, Err(Error::Forbidden(_))), "{read:?}");
    node.shutdown(Duration::from_secs(1)).await;
}

/// Bounds: subscriptions per session, connections per address, a non-numeric increment,
/// and what an anonymous caller of a secure internal port learns from `/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_addresses_are_bounded_and_anonymous_health_is_brief() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = trusted_config(dir.path(), 1);
    config.secure = true;
    config.services.security.config.admin_user.password = ADMIN_PASSWORD.into();
    config.services.session.config.max_subscriptions = 20;
    config.services.session.config.max_connections = Some(50);
    config.services.session.config.max_connections_per_address = Some(3);
    let node = Node::start(config).await.unwrap();
    let admin = common::login(&node, "_ADMIN", ADMIN_PASSWORD)
        .await
        .unwrap();
    for i in 0..20 {
        admin
            .on(&format!("/s/{i}"), Default::default(), |_| {})
            .await
            .unwrap();
    }
    let over = admin.on("/s/20", Default::default(), |_| {}).await;
    assert!(
        matches!(&over, Err(Error::BadInput(m)) if m.contains("subscription limit")),
        "{over:?}"
    );
    let increment = admin
        .request(
            "set",
            Some("/counters/c"),
            json!("hits"),
            Some(json!({"increment": "x"}).as_object().unwrap().clone()),
        )
        .await;
    assert!(
        matches!(increment, Err(Error::BadInput(_))),
        "a string amount is a 400: {increment:?}"
    );

    // Anonymous /health on the internal port: the state, no members, endpoints or errors.
    let (status, body) = common::http_get(node.peer_addr(), "/health").await;
    let brief: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(brief["state"], "STABLE");
    assert!(
        brief.get("members").is_none() && brief.get("report").is_none(),
        "{body}"
    );
    let token = admin.session().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = get_with_token(node.peer_addr().port(), "/health", &token).await;
    let full: Value = serde_json::from_str(&body).unwrap();
    assert!(full["members"].is_array(), "{body}");

    // Connections per address: the admin client holds one slot of 127.0.0.1.
    let client_addr = node.client_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(raw_ws(client_addr).await);
    }
    let (status, body) = common::http_get(client_addr, "/ping").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("your address"), "{body}");
    // Another address is served.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let stream = socket.connect(client_addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{client_addr}/primus"), stream)
        .await
        .expect("another address connects");
    drop(ws);
    drop(held);
    node.shutdown(Duration::from_secs(1)).await;
}

/// `config check` prints the effective config without a secret in it.
#[test]
fn config_check_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        json!({
            "secure": true,
            "services": {
                "security": {"config": {"adminUser": {"password": "admin-secret-pw"}, "sessionTokenSecret": "token-secret-value",
                    "users": [{"username": "u", "password": "user-secret-pw"}]}},
                "orchestrator": {"config": {"clusterSecret": SECRET}},
                "data": {"config": {"datastores": [{"name": "pg", "provider": "postgres",
                    "settings": {"url": "postgres://app:db-secret-pw@127.0.0.1:5432/test"}}]}}
            }
        })
        .to_string(),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
        .args(["--config", path.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for secret in [
        "admin-secret-pw",
        "token-secret-value",
        "user-secret-pw",
        SECRET,
        "db-secret-pw",
    ] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
    assert!(stdout.contains("<redacted>"));
    let secret = Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
        .arg("secret")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&secret.stdout).trim().len() >= 43,
        "32 random bytes in base64"
    );
}

/// Peak resident memory of process `pid` (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// One user overwriting a 5 MB record 120 times on a node with a peer: the replay buffer
/// stays within its byte bound (64 MiB by default) and the node's peak RSS with it (it
/// reached 738 MB when the buffer was bounded by count alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_overwrites_stay_within_the_replay_buffer_byte_bound() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let deployment = format!("Bytes-{}", std::process::id());
    let ports: Vec<(u16, u16)> = (0..2).map(|_| (free_port(), free_port())).collect();
    let mut nodes = Vec::new();
    for (i, (internal, client)) in ports.iter().enumerate() {
        let path = dir.path().join(format!("node-{i}.json"));
        std::fs::write(
            &path,
            process_config(i, *internal, *client, &db, &deployment).to_string(),
        )
        .unwrap();
        nodes.push(spawn_node(&path));
    }
    wait_for(
        "both client ports open",
        Duration::from_secs(60),
        async || ports.iter().all(|(_, c)| port_open(*c)),
    )
    .await;
    let writer = Client::connect(
        ClientOptions::new(format!("http://127.0.0.1:{}", ports[0].1))
            .credentials("mallory", "mallory-pass"),
    )
    .await
    .unwrap();
    let record = json!({"blob": "x".repeat(5 * 1024 * 1024)});
    for _ in 0..120 {
        writer.set("/x/big", record.clone()).await.unwrap();
    }
    let (_, metrics) = common::http_get(addr(ports[0].0), "/metrics").await;
    let kept = metric(&metrics, "happn_replay_buffer_bytes");
    assert!(kept > 0 && kept <= 64 * 1024 * 1024, "{kept} bytes kept");
    assert!(
        metric(&metrics, "happn_replay_evicted_bytes_total") > 400 * 1024 * 1024,
        "{metrics}"
    );
    let peak = peak_rss(nodes[0].0.id());
    println!("peak RSS of the writing node: {} MB", peak / 1_000_000);
    assert!(
        peak > 0 && peak < 400 * 1024 * 1024,
        "peak RSS {} MB",
        peak / 1_000_000
    );
}

fn login_request(username: &str, password: &str) -> String {
    let body = json!({"username": username, "password": password}).to_string();
    format!(
        "POST /auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// 3,000 `/auth/login` attempts from one address, each abandoned at once, with real
/// PBKDF2 costs: a correct login from another address is served within 2 s (it waited 19 s
/// behind them before logins were admitted per address with a deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_burst_from_one_address_does_not_delay_logins_from_another() {
    let mut config = common::secure_config();
    config.services.security.config.pbkdf2_iterations = 10_000;
    let node = Node::start(config).await.unwrap();
    let target = node.client_addr().unwrap();
    let burst = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut tasks = Vec::new();
        for i in 0..3_000 {
            tasks.push(tokio::spawn(async move {
                if let Ok(mut stream) = tokio::net::TcpStream::connect(target).await {
                    let _ = stream
                        .write_all(login_request(&format!("guess{i}"), "wrong").as_bytes())
                        .await;
                    // Abandoned: the connection closes without waiting for the answer.
                }
            }));
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let began = Instant::now();
    let (status, body) = common::http_request_from(
        Some("127.0.0.2"),
        target,
        &login_request("writer", "writer-pass"),
    )
    .await;
    let took = began.elapsed();
    assert_eq!(status, 200, "{body}");
    println!("login from another address during the burst: {took:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    burst.await.unwrap();
    node.shutdown(Duration::from_secs(1)).await;
}

/// Without a cluster secret, and with happn's public default admin password as the only
/// other candidate, nodes run alone: neither dials the other nor accepts the other's hello.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_without_a_secret_and_with_the_default_admin_password_run_alone() {
    let dir = tempfile::tempdir().unwrap();
    let lone = || {
        let mut config = common::sqlite_cluster_config(dir.path(), 1);
        config.services.orchestrator.config.cluster_secret = None;
        config
    };
    let a = Node::start(lone()).await.unwrap();
    let b = Node::start(lone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    for node in [&a, &b] {
        assert_eq!(node.cluster().status().members.len(), 1, "alone");
        let (_, metrics) = common::http_get(node.peer_addr(), "/metrics").await;
        assert!(
            metric(&metrics, "happn_membership_records_refused_total") > 0,
            "{metrics}"
        );
    }
    // Even a peer holding the default-derived key is refused: the node holds none.
    let default_key = authority_of("happn", happn_cluster::trust::KeySource::AdminPassword);
    let (_, reply) = send_hello(a.peer_addr(), &default_key).await;
    assert_eq!(reply["_meta"]["status"], "error", "{reply}");
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
}
