//! The per-request path, in process: a request frame is queued to a session as the
//! transport queues it, parsed, checked (path limits; on the secure node the logged-in
//! user's permissions), handled against the memory store, and its reply encoded and queued
//! back. Sockets are left out: `happn-cluster bench` measures those.
//!
//! Scenarios: `set` and `get` of a 100-byte payload on an open node, and `set` on a secure
//! node as a user whose group grants `/shared/*` (so every request is authorised).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use happn_cluster::Node;
use happn_cluster::config::{Config, DatastoreConfig};
use happn_cluster_sdk::{Connection, InProcessPeer};
use serde_json::{Value, json};

/// One in-process session, held from the transport's side.
struct Wire {
    peer: InProcessPeer,
    next_id: u64,
}

impl Wire {
    fn attach(node: &Node) -> Wire {
        let (connection, peer) = Connection::in_process(64, 8 << 20);
        node.attach(connection);
        Wire { peer, next_id: 1 }
    }

    /// Sends one request and returns its reply text.
    async fn request(&mut self, action: &str, path: &str, data: Value) -> Arc<str> {
        self.next_id += 1;
        let frame = json!({
            "action": action, "eventId": self.next_id, "path": path, "data": data,
            "options": {}, "sessionId": null,
        })
        .to_string();
        self.send_text(frame).await
    }

    async fn send_text(&mut self, frame: String) -> Arc<str> {
        assert!(self.peer.send(frame).await, "session ended");
        self.peer.recv().await.expect("a reply")
    }
}

fn config(secure: bool) -> Config {
    let mut config = Config::loopback(DatastoreConfig::new("memory", "memory", Value::Null));
    config.secure = secure;
    if secure {
        config.services.security.config = serde_json::from_value(json!({
            "pbkdf2Iterations": 64,
            "groups": [{"name": "writers", "permissions": {"/shared/*": {"actions": ["*"]}}}],
            "users": [{"username": "writer", "password": "writer-pass", "groups": ["writers"]}],
        }))
        .expect("bench security config");
    }
    config
}

/// Runs `iters` requests, each built by `request`, and returns the time they took.
fn timed<F>(runtime: &tokio::runtime::Runtime, wire: &mut Wire, iters: u64, request: F) -> Duration
where
    F: Fn(u64) -> (&'static str, String, Value),
{
    runtime.block_on(async {
        let started = Instant::now();
        for i in 0..iters {
            let (action, path, data) = request(i);
            black_box(wire.request(action, &path, data).await);
        }
        started.elapsed()
    })
}

fn bench_requests(c: &mut Criterion) {
    // One thread: the bench and the session task take turns on it, so the figures are the
    // work of a request, not the cost of waking a parked worker thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _inside = runtime.enter();
    let payload = "x".repeat(100);
    let mut group = c.benchmark_group("request");

    let open = runtime
        .block_on(Node::start(config(false)))
        .expect("open node");
    let mut wire = Wire::attach(&open);
    for i in 0..1000 {
        runtime.block_on(wire.request("set", &format!("/bench/{i}"), json!({"p": payload})));
    }
    group.bench_function("set, open node", |b| {
        b.iter_custom(|iters| {
            timed(&runtime, &mut wire, iters, |i| {
                ("set", format!("/bench/{}", i % 1000), json!({"p": payload}))
            })
        })
    });
    group.bench_function("get, open node", |b| {
        b.iter_custom(|iters| {
            timed(&runtime, &mut wire, iters, |i| {
                ("get", format!("/bench/{}", i % 1000), Value::Null)
            })
        })
    });

    let secure = runtime
        .block_on(Node::start(config(true)))
        .expect("secure node");
    let mut wire = Wire::attach(&secure);
    let login = json!({
        "action": "login", "eventId": 1,
        "data": {"username": "writer", "password": "writer-pass"}, "options": {},
    });
    let reply = runtime.block_on(wire.send_text(login.to_string()));
    assert!(reply.contains("\"status\":\"ok\""), "login failed: {reply}");
    group.bench_function("set, secure node (authorised)", |b| {
        b.iter_custom(|iters| {
            timed(&runtime, &mut wire, iters, |i| {
                (
                    "set",
                    format!("/shared/{}", i % 1000),
                    json!({"p": payload}),
                )
            })
        })
    });
    group.finish();
    drop(wire);
    runtime.block_on(async {
        open.shutdown(Duration::from_millis(100)).await;
        secure.shutdown(Duration::from_millis(100)).await;
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_requests
}
criterion_main!(benches);
