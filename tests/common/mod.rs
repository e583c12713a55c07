//! Shared helpers for black-box tests: nodes on 127.0.0.1:0 with the embedded store, clients,
//! and a raw WebSocket peer for protocol-level tests.

#![allow(dead_code)]

pub mod faults;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions};
use happn_cluster::config::{Config, DatastoreConfig, Millis};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A config for a test node: loopback, ephemeral ports, memory store.
pub fn test_config() -> Config {
    let mut config = Config::loopback(DatastoreConfig::new("memory", "memory", Value::Null));
    config.services.session.config.ping_interval = Millis(25_000);
    // Cheap hashing keeps tests fast; production keeps happn's 10000 iterations.
    config.services.security.config.pbkdf2_iterations = 64;
    config
}

/// A cluster test node: [`test_config`] on the shared SQLite file `dir/cluster.db`, at
/// least `minimum` members of the default service, fast membership timings (a dead member
/// leaves after 1 s) and 20 s to stabilise.
pub fn sqlite_cluster_config(dir: &std::path::Path, minimum: u32) -> Config {
    let mut config = test_config();
    config.services.data.config.datastores = vec![DatastoreConfig {
        is_default: true,
        ..DatastoreConfig::new(
            "shared",
            "sqlite",
            serde_json::json!({"filename": dir.join("cluster.db").to_string_lossy(), "table": "happn"}),
        )
    }];
    let orchestrator = &mut config.services.orchestrator.config;
    orchestrator
        .cluster
        .insert("happn-cluster-node".into(), minimum);
    orchestrator.timing.keep_alive = Millis(200);
    orchestrator.timing.keep_alive_threshold = Millis(1_000);
    orchestrator.timing.member_refresh = Millis(200);
    orchestrator.timing.stabilise_timeout = Some(Millis(20_000));
    orchestrator.cluster_secret = Some(CLUSTER_SECRET.into());
    config
}

/// The cluster secret of the test clusters.
pub const CLUSTER_SECRET: &str = "test-cluster-secret-0123456789";

/// A secure test node with two groups and two users:
/// `reader` (group `readers`: get+on `/shared/*`, prohibit get `/shared/secret/*`) and
/// `writer` (group `writers`: everything on `/shared/*`, set on `/inbox/*`).
pub fn secure_config() -> Config {
    let mut config = test_config();
    config.secure = true;
    let security: happn_cluster::config::SecurityConfig =
        serde_json::from_value(serde_json::json!({
            "adminUser": {"password": "admin-pass"},
            "pbkdf2Iterations": 64,
            "groups": [
                {"name": "readers", "permissions": {
                    "/shared/*": {"actions": ["get", "on"]},
                    "/shared/secret/*": {"prohibit": ["get", "on"]}
                }},
                {"name": "writers", "permissions": {
                    "/shared/*": {"actions": ["*"]},
                    "/inbox/*": {"actions": ["set"]}
                }}
            ],
            "users": [
                {"username": "reader", "password": "reader-pass", "groups": ["readers"]},
                {"username": "writer", "password": "writer-pass", "groups": ["writers"]}
            ]
        }))
        .expect("valid security config");
    config.services.security.config = security;
    config
}

/// A client logged in with username and password.
pub async fn login(
    node: &Node,
    username: &str,
    password: &str,
) -> happn_cluster::sdk::Result<Client> {
    Client::connect(ClientOptions::new(url(node)).credentials(username, password)).await
}

/// Starts a node with [`test_config`].
pub async fn start_node() -> Node {
    Node::start(test_config()).await.expect("node starts")
}

/// The client URL of a node.
pub fn url(node: &Node) -> String {
    format!("http://{}", node.client_addr().expect("client port open"))
}

/// A connected Rust client.
pub async fn client(node: &Node) -> Client {
    Client::connect(ClientOptions::new(url(node)))
        .await
        .expect("client connects")
}

/// A raw WebSocket to the node's client port, for protocol-level tests.
pub struct RawPeer {
    pub ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawPeer {
    pub async fn connect(node: &Node) -> RawPeer {
        let url = format!("ws://{}/primus?_primuscb=test", node.client_addr().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connects");
        RawPeer { ws }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next JSON frame that is not a primus heartbeat (None on close or timeout).
    pub async fn next_json(&mut self) -> Option<Value> {
        loop {
            let value = self.next_json_raw().await?;
            if !value
                .as_str()
                .is_some_and(|s| s.starts_with("primus::ping::"))
            {
                return Some(value);
            }
        }
    }

    /// The next JSON frame, heartbeats included (None on close or timeout).
    pub async fn next_json_raw(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => {
                    return Some(serde_json::from_str(text.as_str()).expect("server sends JSON"));
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Runs the handshake the happn client performs and returns the session id.
    pub async fn handshake(&mut self) -> String {
        self.send_json(serde_json::json!({"action": "configure-session", "eventId": 1, "data": {"protocol": "happn_4"}})).await;
        self.next_json().await.unwrap();
        self.send_json(serde_json::json!({"action": "login", "eventId": 2, "data": {"info": {}}}))
            .await;
        let reply = self.next_json().await.unwrap();
        reply["data"]["id"].as_str().unwrap().to_string()
    }
}

/// Waits until `check` holds or two seconds pass.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

/// `GET path` on its own HTTP/1.1 connection to `addr`; returns (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
    )
    .await
}

/// One raw HTTP/1.1 request on its own connection; returns (status, body).
pub async fn http_request(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    http_request_from(None, addr, request).await
}

/// [`http_request`] from the local address `source` (another 127.0.0.0/8 address, say).
pub async fn http_request_from(
    source: Option<&str>,
    addr: std::net::SocketAddr,
    request: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = match source {
        Some(source) => {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind(format!("{source}:0").parse().expect("a source address"))
                .expect("bind");
            socket.connect(addr).await.expect("connect")
        }
        None => tokio::net::TcpStream::connect(addr).await.expect("connect"),
    };
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

/// `POST /auth/login` at `addr`; the token, or the status and body of a refusal.
pub async fn http_login(
    addr: std::net::SocketAddr,
    username: &str,
    password: &str,
) -> Result<String, (u16, String)> {
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = http_request(addr, &request).await;
    if status != 200 {
        return Err((status, body));
    }
    let reply: Value = serde_json::from_str(&body).map_err(|_| (status, body.clone()))?;
    Ok(reply["data"].as_str().unwrap_or_default().to_string())
}

/// `GET path` at `addr` with a bearer token; returns (status, body).
pub async fn http_get_with_token(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
) -> (u16, String) {
    http_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"),
    )
    .await
}
