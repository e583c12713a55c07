//! The attacks from the hardening review, replayed against real nodes through real sockets:
//! each test reproduces one hole and checks that it is closed.

mod common;

use common::http_request as http;

use std::time::{Duration, Instant};

use common::{RawPeer, client, eventually, login, secure_config, test_config, url};
use happn_cluster::Node;
use happn_cluster::config::Millis;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn error_message(reply: &Value) -> String {
    assert_eq!(reply["_meta"]["status"], "error", "{reply}");
    reply["_meta"]["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn http_login(node: &Node, username: &str, password: &str) -> (u16, String) {
    let addr = node.client_addr().unwrap();
    http(
        addr,
        &format!(
            "GET /auth/login?username={username}&password={password} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        ),
    )
    .await
}

fn with_lockout(
    mut config: happn_cluster::config::Config,
    lockout: Value,
) -> happn_cluster::config::Config {
    config.services.security.config.account_lockout =
        serde_json::from_value(lockout).expect("lockout config");
    config
}

/// `increment` request: adds `by` to the `counter` gauge at `path`.
async fn increment(
    client: &happn_cluster::client::Client,
    path: &str,
    by: Value,
) -> happn_cluster::sdk::Result<Value> {
    let mut options = Map::new();
    options.insert("increment".into(), by);
    client
        .request("set", Some(path), json!("counter"), Some(options))
        .await
}

// ---- 1. deep masks and paths --------------------------------------------------------------

#[tokio::test]
async fn deep_masks_are_refused_and_the_trie_survives_them_when_allowed() {
    let node = Node::start(test_config()).await.unwrap();
    let mut peer = RawPeer::connect(&node).await;
    peer.handshake().await;
    let deep = format!("/a/{}x", "b/".repeat(20_000));
    peer.send_json(
        json!({"action": "on", "eventId": 3, "path": format!("/ALL@{deep}"), "data": {}}),
    )
    .await;
    assert!(error_message(&peer.next_json().await.unwrap()).contains("maxPathBytes"));
    let many = format!("/a/{}x", "b/".repeat(300));
    peer.send_json(
        json!({"action": "on", "eventId": 3, "path": format!("/ALL@{many}"), "data": {}}),
    )
    .await;
    assert!(error_message(&peer.next_json().await.unwrap()).contains("maxPathSegments"));
    let long = format!("/{}", "x".repeat(9000));
    peer.send_json(json!({"action": "get", "eventId": 4, "path": long}))
        .await;
    assert!(error_message(&peer.next_json().await.unwrap()).contains("maxPathBytes"));
    // Criteria nesting is bounded too.
    let mut criteria = json!({"n": 1});
    for _ in 0..40 {
        criteria = json!({"$and": [criteria]});
    }
    peer.send_json(
        json!({"action": "get", "eventId": 5, "path": "/a/*", "options": {"criteria": criteria}}),
    )
    .await;
    assert!(error_message(&peer.next_json().await.unwrap()).contains("deeper"));
    node.shutdown(Duration::from_secs(1)).await;

    // With the limits lifted, the original attack (subscribe, off, disconnect) is harmless:
    // the trie never recurses per segment.
    let mut config = test_config();
    config.services.session.config.max_path_segments = 100_000;
    config.services.session.config.max_path_bytes = 1_000_000;
    let node = Node::start(config).await.unwrap();
    for round in 0..2 {
        let mut peer = RawPeer::connect(&node).await;
        peer.handshake().await;
        peer.send_json(
            json!({"action": "on", "eventId": 3, "path": format!("/ALL@{deep}"), "data": {}}),
        )
        .await;
        let reply = peer.next_json().await.unwrap();
        assert_eq!(reply["_meta"]["status"], "ok", "{reply}");
        let reference = reply["data"]["id"].clone();
        let writer = client(&node).await;
        writer.set(&deep, json!({"round": round})).await.unwrap();
        let event = peer.next_json().await.unwrap();
        assert_eq!(event["data"]["round"], round, "the deep subscription fires");
        if round == 0 {
            peer.send_json(json!({"action": "off", "eventId": 4, "path": format!("/ALL@{deep}"), "options": {"referenceId": reference}}))
                .await;
            assert_eq!(peer.next_json().await.unwrap()["_meta"]["status"], "ok");
        }
        // Round 1 just hangs up with the subscription in place.
    }
    let check = client(&node).await;
    check.set("/alive", json!({"ok": true})).await.unwrap();
    assert!(eventually(|| node.pubsub().subscription_count() == 0).await);
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 2. lockout bypass -----------------------------------------------------------------

#[tokio::test]
async fn junk_names_never_wash_out_a_real_accounts_failures_or_locks() {
    let config = with_lockout(
        secure_config(),
        json!({"attempts": 4, "unknownNamesTracked": 100, "failuresPerAddress": 0}),
    );
    let node = Node::start(config).await.unwrap();
    let flood = |from: usize| {
        let addr = node.client_addr().unwrap();
        async move {
            let mut tasks = Vec::new();
            for worker in 0..8 {
                tasks.push(tokio::spawn(async move {
                    for i in (from + worker..from + 1000).step_by(8) {
                        let (status, _) = http(addr, &format!("GET /auth/login?username=junk{i}&password=x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")).await;
                        assert_eq!(status, 401);
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        }
    };
    for _ in 0..2 {
        let (_, body) = http_login(&node, "reader", "wrong").await;
        assert!(body.contains("Invalid credentials"), "{body}");
    }
    flood(0).await;
    let (accounts, unknown, _) = node.security().lockout_tracked();
    assert!(unknown <= 100, "unknown names stay bounded: {unknown}");
    assert_eq!(accounts, 1, "the real account's failures are kept");
    for _ in 0..2 {
        let (_, body) = http_login(&node, "reader", "wrong").await;
        assert!(body.contains("Invalid credentials"), "{body}");
    }
    let (_, body) = http_login(&node, "reader", "reader-pass").await;
    assert!(
        body.contains("Account locked out"),
        "4 failures lock: {body}"
    );
    // A second flood cannot unlock it.
    flood(10_000).await;
    let (_, body) = http_login(&node, "reader", "reader-pass").await;
    assert!(body.contains("Account locked out"), "still locked: {body}");
    assert!(login(&node, "reader", "reader-pass").await.is_err());
    node.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_address_that_keeps_failing_is_refused_for_a_while() {
    let config = with_lockout(secure_config(), json!({"failuresPerAddress": 20}));
    let node = Node::start(config).await.unwrap();
    for i in 0..20 {
        http_login(&node, &format!("junk{i}"), "x").await;
    }
    let (status, body) = http_login(&node, "writer", "writer-pass").await;
    assert_eq!(status, 401);
    assert!(
        body.contains("too many failed logins from this address"),
        "{body}"
    );
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 3. correct passwords under concurrency --------------------------------------------

#[tokio::test]
async fn correct_passwords_are_never_locked_out_however_many_arrive_at_once() {
    let node = Node::start(secure_config()).await.unwrap();
    let mut sessions = Vec::new();
    for _ in 0..10 {
        let options = happn_cluster::client::ClientOptions::new(url(&node))
            .credentials("writer", "writer-pass");
        sessions.push(tokio::spawn(happn_cluster::client::Client::connect(
            options,
        )));
    }
    for session in sessions {
        session
            .await
            .unwrap()
            .expect("every correct login succeeds");
    }
    // A reconnect storm of 1,000 correct logins.
    let addr = node.client_addr().unwrap();
    let mut storm = Vec::new();
    for _ in 0..1000 {
        storm.push(tokio::spawn(async move {
            http(addr, "GET /auth/login?username=writer&password=writer-pass HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await
        }));
    }
    let mut ok = 0;
    for login in storm {
        let (status, body) = login.await.unwrap();
        assert_eq!(status, 200, "{body}");
        ok += 1;
    }
    assert_eq!(ok, 1000);
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 8. timing of unknown users --------------------------------------------------------

#[tokio::test]
async fn unknown_users_cost_as_much_to_refuse_as_known_ones() {
    let mut config = secure_config();
    config.services.security.config.pbkdf2_iterations = 50_000;
    let node = Node::start(config).await.unwrap();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        http_login(&node, "reader", "wrong").await;
        known.push(started.elapsed());
        let started = Instant::now();
        http_login(&node, &format!("nobody{i}"), "wrong").await;
        unknown.push(started.elapsed());
    }
    known.sort();
    unknown.sort();
    // Before the fix: 10,000-iteration dummy hashes, about 1/5 of the known cost here.
    assert!(
        unknown[1] * 2 > known[1],
        "unknown {:?} vs known {:?}",
        unknown[1],
        known[1]
    );
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 5. idle connections -----------------------------------------------------------------

#[tokio::test]
async fn idle_http_connections_unauthenticated_sockets_and_excess_connections_are_closed() {
    let mut config = secure_config();
    config.services.session.config.http_idle_timeout = Millis(300);
    config.services.session.config.login_timeout = Millis(300);
    config.services.session.config.max_connections = Some(4);
    // This test is about the listener's limit: no per-address share.
    config.services.session.config.max_connections_per_address = Some(0);
    let node = Node::start(config).await.unwrap();
    let addr = node.client_addr().unwrap();

    // A keep-alive socket that goes quiet is closed.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("pong"));
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "idle keep-alive closed: {closed:?}"
    );

    // A WebSocket that never logs in is told and closed.
    let mut peer = RawPeer::connect(&node).await;
    let notice = peer.next_json().await.expect("a notice before the close");
    assert_eq!(notice["eventKey"], "server-side-disconnect", "{notice}");
    assert_eq!(notice["data"]["reason"], "login-timeout");
    assert!(peer.next_json().await.is_none());

    // Over the limit: a clean 503, not a hang.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let (status, body) = http(addr, "GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("connection limit"));
    drop(held);
    let mut served = false;
    for _ in 0..50 {
        if http(
            addr,
            "GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await
        .0 == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "slots free again once connections close");
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 6. forged acknowledgements --------------------------------------------------------

async fn subscriber(node: &Node, mask: &str) -> RawPeer {
    let mut peer = RawPeer::connect(node).await;
    peer.handshake().await;
    peer.send_json(
        json!({"action": "on", "eventId": 3, "path": format!("/ALL@{mask}"), "data": {}}),
    )
    .await;
    assert_eq!(peer.next_json().await.unwrap()["_meta"]["status"], "ok");
    peer
}

async fn ack(peer: &mut RawPeer, id: &str, event_id: u64) {
    peer.send_json(json!({"action": "ack", "eventId": event_id, "data": id}))
        .await;
    assert_eq!(peer.next_json().await.unwrap()["_meta"]["status"], "ok");
}

#[tokio::test]
async fn acks_count_once_and_only_from_sessions_the_event_reached() {
    let node = Node::start(test_config()).await.unwrap();
    let mut subscribers = Vec::new();
    for _ in 0..3 {
        subscribers.push(subscriber(&node, "/acks/*").await);
    }
    let mut outsider = RawPeer::connect(&node).await;
    outsider.handshake().await;
    let mut publisher = RawPeer::connect(&node).await;
    publisher.handshake().await;
    publisher
        .send_json(json!({"action": "set", "eventId": 9, "path": "/acks/1", "data": {"v": 1}, "options": {"consistency": 3}}))
        .await;
    assert_eq!(
        publisher.next_json().await.unwrap()["_meta"]["status"],
        "ok"
    );
    let mut publication_id = String::new();
    for s in subscribers.iter_mut() {
        let event = s.next_json().await.unwrap();
        publication_id = event["_meta"]["publicationId"]
            .as_str()
            .unwrap()
            .to_string();
    }
    // One subscriber acks three times; a session the event never reached acks the
    // (predictable) id. Neither completes the publication.
    for i in 0..3 {
        ack(&mut subscribers[0], &publication_id, 20 + i).await;
    }
    ack(&mut outsider, &publication_id, 30).await;
    let early = tokio::time::timeout(Duration::from_millis(300), publisher.next_json()).await;
    assert!(early.is_err(), "no publication-ack yet: {early:?}");
    ack(&mut subscribers[1], &publication_id, 40).await;
    ack(&mut subscribers[2], &publication_id, 41).await;
    let done = publisher.next_json().await.unwrap();
    assert_eq!(done["action"], "publication-ack", "{done}");
    assert_eq!(done["status"], "ok");
    assert_eq!(done["result"]["acknowledged"], 3);
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 7. regex bombs ----------------------------------------------------------------------

#[tokio::test]
async fn regex_bombs_are_refused_and_other_sessions_keep_being_served() {
    let node = Node::start(test_config()).await.unwrap();
    let bystander = client(&node).await;
    bystander.set("/re/1", json!({"s": "hello"})).await.unwrap();
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let mut peer = RawPeer::connect(&node).await;
        peer.handshake().await;
        attackers.push(peer);
    }
    for peer in attackers.iter_mut() {
        for i in 0..25 {
            peer.send_json(json!({"action": "get", "eventId": 100 + i, "path": "/re/*",
                "options": {"criteria": {"s": {"$regex": "(\\w{1,100}){1,100}"}}}}))
                .await;
        }
    }
    // The bystander is served while the bombs are in flight.
    let served = tokio::time::timeout(Duration::from_secs(5), bystander.get("/re/1")).await;
    assert!(matches!(served, Ok(Ok(Some(_)))), "{served:?}");
    for peer in attackers.iter_mut() {
        for _ in 0..25 {
            let reply = peer.next_json().await.expect("every bomb is answered");
            assert!(error_message(&reply).contains("too complex"), "{reply}");
        }
    }
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 9. increment overflow ---------------------------------------------------------------

#[tokio::test]
async fn increment_overflow_is_an_error_and_writes_nothing() {
    let node = Node::start(test_config()).await.unwrap();
    let c = client(&node).await;
    increment(&c, "/gauges/g", json!(1e308)).await.unwrap();
    let err = increment(&c, "/gauges/g", json!(1e308)).await.unwrap_err();
    assert!(err.to_string().contains("overflows"), "{err}");
    assert_eq!(
        c.get("/gauges/g").await.unwrap().unwrap()["counter"]["value"],
        json!(1e308)
    );
    let err = increment(&c, "/gauges/g", json!(u64::MAX))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("2^63"), "{err}");
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 10. meta spoofing -------------------------------------------------------------------

#[tokio::test]
async fn clients_cannot_set_meta_keys_the_server_fills() {
    let node = Node::start(test_config()).await.unwrap();
    let mut watcher = subscriber(&node, "/spoof/*").await;
    let writer = client(&node).await;
    let mut options = Map::new();
    options.insert(
        "meta".into(),
        json!({"modifiedBy": "_ADMIN", "created": 1, "eventOrigin": "x", "custom": "kept"}),
    );
    writer
        .request("set", Some("/spoof/1"), json!({"v": 1}), Some(options))
        .await
        .unwrap();
    let event = watcher.next_json().await.unwrap();
    let meta = &event["_meta"];
    assert!(meta.get("modifiedBy").is_none(), "{event}");
    assert!(meta["created"].as_i64().unwrap() > 1_000_000, "{event}");
    assert!(meta.get("eventOrigin").is_none(), "{event}");
    assert_eq!(meta["custom"], "kept");
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 11. set-only users ------------------------------------------------------------------

#[tokio::test]
async fn writers_without_get_learn_nothing_from_their_replies() {
    let node = Node::start(secure_config()).await.unwrap();
    let admin = login(&node, "_ADMIN", "admin-pass").await.unwrap();
    let reply = admin
        .request("set", Some("/inbox/existing"), json!({"secret": 1}), None)
        .await
        .unwrap();
    assert!(
        reply["_meta"]["created"].is_i64(),
        "a reader sees the record meta: {reply}"
    );
    increment(&admin, "/inbox/counter", json!(41))
        .await
        .unwrap();
    let writer = login(&node, "writer", "writer-pass").await.unwrap();
    let reply = writer
        .request("set", Some("/inbox/existing"), json!({"mine": 2}), None)
        .await
        .unwrap();
    let meta = &reply["_meta"];
    assert!(
        meta.get("created").is_none() && meta.get("modified").is_none(),
        "{reply}"
    );
    assert_eq!(reply["data"]["mine"], 2, "{reply}");
    let reply = increment(&writer, "/inbox/counter", json!(0))
        .await
        .unwrap();
    assert!(
        reply["data"].get("value").is_none(),
        "no stored value leaks: {reply}"
    );
    assert_eq!(reply["data"]["gauge"], "counter");
    node.shutdown(Duration::from_secs(1)).await;
}

// ---- 12. health and metrics --------------------------------------------------------------

#[tokio::test]
async fn health_and_metrics_need_an_admin_token_on_a_secure_client_port() {
    let node = Node::start(secure_config()).await.unwrap();
    let client_port = node.client_addr().unwrap();
    let get = |addr, path: &str, token: Option<&str>| {
        let auth = token
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n{auth}connection: close\r\n\r\n");
        async move { http(addr, &request).await }
    };
    for path in ["/metrics", "/health"] {
        let (status, body) = get(client_port, path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(!body.contains("happn_sessions"));
        assert_eq!(
            get(node.peer_addr(), path, None).await.0,
            200,
            "internal port"
        );
    }
    let admin = login(&node, "_ADMIN", "admin-pass").await.unwrap();
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    let (status, body) = get(client_port, "/metrics", admin.token().as_deref()).await;
    assert_eq!(status, 200);
    assert!(body.contains("happn_sessions"));
    assert_eq!(
        get(client_port, "/health", reader.token().as_deref())
            .await
            .0,
        403
    );
    node.shutdown(Duration::from_secs(1)).await;

    let open = Node::start(test_config()).await.unwrap();
    assert_eq!(
        get(open.client_addr().unwrap(), "/metrics", None).await.0,
        200
    );
    open.shutdown(Duration::from_secs(1)).await;
}

/// ACKNOWLEDGED publications nobody acks cannot pile up without bound: one expiry loop
/// serves them all, and a publisher with 1,024 waiting is told at once for the next ones
/// (which are still stored and published).
#[tokio::test]
async fn unacknowledged_publications_are_bounded_per_publisher() {
    let node = Node::start(test_config()).await.unwrap();
    let _silent = subscriber(&node, "/flood/*").await;
    let mut publisher = RawPeer::connect(&node).await;
    publisher.handshake().await;
    const SENT: u64 = 1030;
    for i in 0..SENT {
        publisher
            .send_json(json!({"action": "set", "eventId": 100 + i, "path": format!("/flood/{i}"), "data": {}, "options": {"consistency": 3}}))
            .await;
    }
    let (mut replies, mut refused) = (0, 0);
    while replies < SENT || refused < SENT - 1024 {
        let frame = publisher.next_json().await.expect("a frame");
        if frame["action"] == "publication-ack" {
            assert_eq!(
                frame["error"], "too many unacknowledged publications pending for this session",
                "{frame}"
            );
            refused += 1;
        } else {
            assert_eq!(frame["_meta"]["status"], "ok", "{frame}");
            replies += 1;
        }
    }
    assert_eq!((replies, refused), (SENT, SENT - 1024));
    assert_eq!(node.pubsub().acks().pending(), 1024);
    let c = client(&node).await;
    assert_eq!(c.count("/flood/*", Default::default()).await.unwrap(), SENT);
    node.shutdown(Duration::from_secs(1)).await;
}
