//! Bad input, slow consumers, heartbeats, HTTP routes and graceful shutdown, at the protocol
//! level with a raw WebSocket.

mod common;

use std::time::Duration;

use common::{RawPeer, client, eventually, start_node, test_config};
use futures_util::SinkExt;
use happn_cluster::Node;
use happn_cluster::config::Millis;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn error_message(reply: &Value) -> &str {
    assert_eq!(reply["_meta"]["status"], "error", "{reply}");
    reply["_meta"]["error"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn every_bad_input_gets_an_error_reply_and_the_session_survives() {
    let node = start_node().await;
    let mut peer = RawPeer::connect(&node).await;
    peer.handshake().await;

    peer.send_text(r#"{"action":"get","eventId":10, "path": "/x", oops}"#)
        .await;
    let reply = peer.next_json().await.unwrap();
    assert_eq!(reply["_meta"]["eventId"], 10);
    assert!(error_message(&reply).starts_with("malformed JSON"));

    peer.send_json(json!({"action": "fly", "eventId": 11}))
        .await;
    let reply = peer.next_json().await.unwrap();
    assert_eq!(reply["_meta"]["eventId"], 11);
    // The original sends nothing for an unknown action (the client times out after 60 s);
    // here the caller gets an error at once.
    assert_eq!(error_message(&reply), "unknown action: fly");

    peer.send_json(json!({"action": "set", "eventId": 12, "path": 42, "data": {}}))
        .await;
    let reply = peer.next_json().await.unwrap();
    assert!(error_message(&reply).contains("must be a string"));

    peer.send_json(json!({"action": "set", "eventId": 13, "data": {}}))
        .await;
    let reply = peer.next_json().await.unwrap();
    assert!(error_message(&reply).contains("needs a path"));

    peer.send_json(json!({"action": "set", "eventId": 14, "path": "/x", "options": "nope"}))
        .await;
    assert!(error_message(&peer.next_json().await.unwrap()).contains("options must be an object"));

    peer.send_json(json!({"action": "get", "eventId": 15, "path": "/x", "options": {"options": {"limit": -1}}})).await;
    assert!(error_message(&peer.next_json().await.unwrap()).contains("limit"));

    peer.send_json(
        json!({"action": "set", "eventId": 16, "path": "/x", "options": {"consistency": 9}}),
    )
    .await;
    assert!(error_message(&peer.next_json().await.unwrap()).contains("consistency"));

    peer.send_json(json!([1, 2, 3])).await;
    assert!(error_message(&peer.next_json().await.unwrap()).contains("JSON object"));

    peer.ws
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    assert!(error_message(&peer.next_json().await.unwrap()).contains("binary"));

    peer.send_json(
        json!({"action": "configure-session", "eventId": 17, "data": {"protocol": "happn_9"}}),
    )
    .await;
    assert_eq!(
        error_message(&peer.next_json().await.unwrap()),
        "unknown inbound protocol: happn_9"
    );

    // Still usable.
    peer.send_json(json!({"action": "set", "eventId": 20, "path": "/fine", "data": {"ok": true}}))
        .await;
    let reply = peer.next_json().await.unwrap();
    assert_eq!(reply["_meta"]["status"], "ok");
    assert_eq!(reply["data"]["ok"], true);
    assert!(node.metrics().request_errors.get() >= 10);
}

#[tokio::test]
async fn oversized_messages_are_refused_with_the_request_id() {
    let mut config = test_config();
    config.services.session.config.max_message_bytes = 64 * 1024;
    let node = Node::start(config).await.unwrap();
    let mut peer = RawPeer::connect(&node).await;
    peer.handshake().await;
    let big = "y".repeat(100 * 1024);
    peer.send_json(json!({"action": "set", "eventId": 30, "path": "/big", "data": {"blob": big}}))
        .await;
    let reply = peer.next_json().await.unwrap();
    assert_eq!(reply["_meta"]["eventId"], 30);
    assert!(error_message(&reply).contains("exceeds the limit of 65536 bytes"));
    assert_eq!(node.metrics().oversized_frames.get(), 1);
    peer.send_json(json!({"action": "get", "eventId": 31, "path": "/big"}))
        .await;
    let reply = peer.next_json().await.unwrap();
    assert_eq!(reply["_meta"]["status"], "ok");
    assert_eq!(reply["data"], Value::Null, "nothing was written");
}

#[tokio::test]
async fn a_slow_subscriber_is_disconnected_without_stalling_others() {
    let mut config = test_config();
    config.services.session.config.outbound_queue = 8;
    let node = Node::start(config).await.unwrap();
    // A subscriber that never reads its socket.
    let mut slow = RawPeer::connect(&node).await;
    slow.handshake().await;
    slow.send_json(json!({"action": "on", "eventId": 3, "path": "/ALL@/flood/*", "data": null}))
        .await;
    slow.next_json().await.unwrap();
    let fast = client(&node).await;
    let (_, mut events) = fast
        .on_stream("/flood/*", Default::default())
        .await
        .unwrap();
    let writer = client(&node).await;
    let payload = "z".repeat(64 * 1024);
    for i in 0..400 {
        writer
            .set(
                &format!("/flood/{}", i % 4),
                json!({"i": i, "pad": payload}),
            )
            .await
            .unwrap();
    }
    for _ in 0..400 {
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
    }
    assert!(
        eventually(|| node.metrics().slow_consumer_disconnects.get() == 1).await,
        "the slow subscriber was disconnected"
    );
    assert!(eventually(|| node.sessions().len() == 2).await);
}

#[tokio::test]
async fn server_heartbeats_and_dead_peers() {
    let mut config = test_config();
    config.services.session.config.ping_interval = Millis(100);
    let node = Node::start(config).await.unwrap();
    let mut peer = RawPeer::connect(&node).await;
    // The first frames the server sends unprompted are primus pings (JSON strings).
    let ping = loop {
        let message = tokio::time::timeout(
            Duration::from_secs(2),
            futures_util::StreamExt::next(&mut peer.ws),
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        if let Message::Text(text) = message {
            break text.as_str().to_string();
        }
    };
    assert!(ping.starts_with("\"primus::ping::"), "{ping}");
    // A peer that never answers is dropped after ~2.5 intervals.
    assert!(
        eventually(|| node.sessions().is_empty()).await,
        "silent peer dropped"
    );
    // A legacy client ping gets a pong.
    let mut legacy = RawPeer::connect(&node).await;
    legacy.send_text("\"primus::ping::12345\"").await;
    let pong = loop {
        let value = legacy.next_json_raw().await.unwrap();
        if value != json!("primus::ping::")
            && value
                .as_str()
                .is_some_and(|s| s.starts_with("primus::pong::"))
        {
            break value;
        }
    };
    assert_eq!(pong, "primus::pong::12345");
}

#[tokio::test]
async fn http_routes() {
    let node = start_node().await;
    let base = format!("http://{}", node.client_addr().unwrap());
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move { http_get(&url).await }
    };
    assert_eq!(get("/ping").await, (200, "pong".to_string()));
    let (status, body) = get("/version").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["version"],
        "13.12.1"
    );
    let (status, body) = get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ok"
    );
    let (status, body) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("happn_sessions 0"), "{body}");
    assert_eq!(get("/nope").await.0, 404);
}

#[tokio::test]
async fn graceful_shutdown_tells_clients_and_closes() {
    let node = start_node().await;
    let c = client(&node).await;
    c.set("/before", json!({})).await.unwrap();
    node.shutdown(Duration::from_secs(2)).await;
    assert!(eventually(|| c.last_disconnect_reason().as_deref() == Some("server-shutdown")).await);
    assert!(c.set("/after", json!({})).await.is_err());
}

async fn http_get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn a_peer_close_is_answered_and_the_connection_released() {
    let node = start_node().await;
    for _ in 0..3 {
        let mut peer = RawPeer::connect(&node).await;
        peer.handshake().await;
        peer.ws.send(Message::Close(None)).await.unwrap();
        // The server completes the close handshake and drops the socket promptly.
        let ended = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match futures_util::StreamExt::next(&mut peer.ws).await {
                    None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "server released the connection");
    }
    assert!(eventually(|| node.sessions().is_empty()).await);
}

/// A taken client port: fail at once by default; with `portAvailablePingTimeout` the node
/// waits for it to free, as happn-3 does, and names the port when it never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_fails_at_once_or_is_retried_when_configured() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let config_for = |timeout: u64| {
        let mut config = test_config();
        config.services.proxy.config.port = port;
        config.services.proxy.config.port_available_ping_timeout = Millis(timeout);
        config.services.proxy.config.port_available_ping_interval = Millis(100);
        config
    };
    let err = Node::start(config_for(0)).await.err().expect("taken");
    assert!(err.to_string().contains("cannot listen"), "{err}");
    let err = Node::start(config_for(300))
        .await
        .err()
        .expect("still taken");
    assert!(
        err.to_string()
            .contains(&format!("port {port} not available")),
        "{err}"
    );
    // Freed while the node waits: it starts on that port.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        drop(holder);
    });
    let node = Node::start(config_for(5000))
        .await
        .expect("starts once the port frees");
    assert_eq!(node.client_addr().unwrap().port(), port);
    release.join().unwrap();
    node.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn browser_client_is_a_clear_404() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = start_node().await;
    let mut stream = tokio::net::TcpStream::connect(node.client_addr().unwrap())
        .await
        .unwrap();
    stream
        .write_all(b"GET /browser_client HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(
        text.contains("browser client bundle is not served"),
        "{text}"
    );
    node.shutdown(Duration::from_secs(1)).await;
}
