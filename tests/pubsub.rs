//! Subscriptions and publication through the Rust client against a real node.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{RawPeer, client, eventually, start_node};
use happn_cluster::client::{Event, EventType, OnOptions, SetOptions, Status};
use happn_cluster::pubsub::{Publication, ReplicationSink};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

async fn next(rx: &mut UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("event arrives in time")
        .expect("stream open")
}

/// No event within 150 ms (a stream closed because its listener was removed counts too).
async fn nothing(rx: &mut UnboundedReceiver<Event>) {
    if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(150), rx.recv()).await {
        panic!("no event expected, got {event:?}");
    }
}

fn on(event_type: EventType) -> OnOptions {
    OnOptions {
        event_type,
        ..OnOptions::default()
    }
}

#[tokio::test]
async fn masks_event_types_and_meta() {
    let node = start_node().await;
    let sub = client(&node).await;
    let publisher = client(&node).await;
    let (_, mut star) = sub.on_stream("/a/*", on(EventType::All)).await.unwrap();
    let (_, mut sets) = sub.on_stream("/a/b", on(EventType::Set)).await.unwrap();
    let (_, mut removes) = sub.on_stream("/a/b", on(EventType::Remove)).await.unwrap();

    publisher.set("/a/b", json!({"v": 1})).await.unwrap();
    let e = next(&mut star).await;
    assert_eq!(e.data, json!({"v": 1}));
    assert_eq!(e.meta["channel"], "/ALL@/a/*");
    assert_eq!(e.meta["action"], "/SET@/a/b");
    assert_eq!(e.meta["path"], "/a/b");
    assert_eq!(e.meta["type"], "data");
    assert_eq!(
        e.meta["sessionId"],
        publisher.session_id().unwrap().as_str()
    );
    assert!(
        e.meta["publicationId"]
            .as_str()
            .unwrap()
            .starts_with(&publisher.session_id().unwrap())
    );
    assert!(e.meta["created"].is_i64() && e.meta["modified"].is_i64());
    assert_eq!(next(&mut sets).await.meta["channel"], "/SET@/a/b");
    nothing(&mut removes).await;

    publisher
        .set("/a/b/c", json!({"deeper": true}))
        .await
        .unwrap();
    nothing(&mut star).await; // `*` is exactly one segment for subscriptions

    publisher.remove("/a/b").await.unwrap();
    let e = next(&mut removes).await;
    assert_eq!(e.data, json!({"removed": 1}));
    assert_eq!(e.meta["action"], "/REMOVE@/a/b");
    assert_eq!(next(&mut star).await.data, json!({"removed": 1}));
    nothing(&mut sets).await;

    // A partial wildcard is refused instead of silently never firing.
    let err = sub
        .on_stream("/a*", OnOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("partial wildcard"), "{err}");
}

#[tokio::test]
async fn globstar_depth_on_all_and_off() {
    let node = start_node().await;
    let sub = client(&node).await;
    let publisher = client(&node).await;
    let (_, mut deep) = sub
        .on_stream(
            "/d/**",
            OnOptions {
                depth: Some(2),
                ..OnOptions::default()
            },
        )
        .await
        .unwrap();
    let (all_handle, mut all) = sub.on_stream("*", OnOptions::default()).await.unwrap();
    publisher.set("/d/1/2", json!({})).await.unwrap();
    let e = next(&mut deep).await;
    assert_eq!(e.meta["depth"], 2);
    assert_eq!(next(&mut all).await.meta["channel"], "/ALL@*");
    publisher.set("/d/1/2/3", json!({})).await.unwrap();
    nothing(&mut deep).await;
    next(&mut all).await;

    sub.off(all_handle).await.unwrap();
    publisher.set("/x", json!({})).await.unwrap();
    nothing(&mut all).await;
    assert_eq!(node.pubsub().subscription_count(), 1);
    sub.off_all().await.unwrap();
    assert_eq!(node.pubsub().subscription_count(), 0);
}

#[tokio::test]
async fn count_limited_subscriptions_stop() {
    let node = start_node().await;
    let sub = client(&node).await;
    let (_, mut twice) = sub
        .on_stream(
            "/c",
            OnOptions {
                count: 2,
                ..OnOptions::default()
            },
        )
        .await
        .unwrap();
    for i in 0..4 {
        sub.set("/c", json!({"i": i})).await.unwrap();
    }
    assert_eq!(next(&mut twice).await.data["i"], 0);
    assert_eq!(next(&mut twice).await.data["i"], 1);
    nothing(&mut twice).await;
    assert!(eventually(|| node.pubsub().subscription_count() == 0).await);
}

#[tokio::test]
async fn initial_values_and_merge_subscribers() {
    let node = start_node().await;
    let c = client(&node).await;
    c.set("/i/1", json!({"n": 1})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3)).await;
    c.set("/i/2", json!({"n": 2})).await.unwrap();
    c.set("/i/2/deeper", json!({"n": 3})).await.unwrap();
    let (_, initial) = c
        .on(
            "/i/*",
            OnOptions {
                initial_values: true,
                ..OnOptions::default()
            },
            |_| {},
        )
        .await
        .unwrap();
    let ns: Vec<_> = initial.iter().map(|i| i["n"].as_i64().unwrap()).collect();
    // Ordered by modified; only records the mask fires for (the original also returned
    // /i/2/deeper because its initial query let `*` cross `/`).
    assert_eq!(ns, [1, 2]);
    assert_eq!(initial[0]["_meta"]["path"], "/i/1");

    // Separate sessions: one session gets one event per channel.
    let other = client(&node).await;
    let (_, mut merged) = c
        .on_stream(
            "/i/1",
            OnOptions {
                merge: true,
                ..OnOptions::default()
            },
        )
        .await
        .unwrap();
    let (_, mut plain) = other.on_stream("/i/1", OnOptions::default()).await.unwrap();
    c.set_with(
        "/i/1",
        json!({"m": 9}),
        SetOptions {
            merge: true,
            ..SetOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        next(&mut merged).await.data,
        json!({"m": 9}),
        "merge subscribers get the posted fields"
    );
    assert_eq!(
        next(&mut plain).await.data,
        json!({"n": 1, "m": 9}),
        "others get the merged record"
    );
}

#[tokio::test]
async fn no_publish_publish_only_target_clients_and_custom_meta() {
    let node = start_node().await;
    let a = client(&node).await;
    let b = client(&node).await;
    let (_, mut a_events) = a.on_stream("/t/*", OnOptions::default()).await.unwrap();
    let (_, mut b_events) = b.on_stream("/t/*", OnOptions::default()).await.unwrap();

    a.set_with(
        "/t/quiet",
        json!({}),
        SetOptions {
            no_publish: true,
            ..SetOptions::default()
        },
    )
    .await
    .unwrap();
    nothing(&mut a_events).await;
    assert!(a.get("/t/quiet").await.unwrap().is_some());

    let reply = a.publish("/t/flash", json!({"hello": 1})).await.unwrap();
    assert_eq!(reply["_meta"]["path"], "/t/flash");
    assert_eq!(next(&mut a_events).await.data, json!({"hello": 1}));
    next(&mut b_events).await;
    assert!(
        a.get("/t/flash").await.unwrap().is_none(),
        "publish stores nothing"
    );

    let mut meta = serde_json::Map::new();
    meta.insert("custom".into(), json!("yes"));
    meta.insert("path".into(), json!("/forged"));
    a.set_with(
        "/t/only-b",
        json!({}),
        SetOptions {
            target_clients: Some(vec![b.session_id().unwrap()]),
            meta: Some(meta),
            ..SetOptions::default()
        },
    )
    .await
    .unwrap();
    let e = next(&mut b_events).await;
    assert_eq!(e.meta["custom"], "yes");
    assert_eq!(
        e.meta["path"], "/t/only-b",
        "reserved meta keys cannot be overridden"
    );
    nothing(&mut a_events).await;
}

#[tokio::test]
async fn events_arrive_in_publish_order_for_every_subscriber() {
    let node = start_node().await;
    let subs = [client(&node).await, client(&node).await];
    let mut streams = Vec::new();
    for s in &subs {
        streams.push(
            s.on_stream("/order/*", OnOptions::default())
                .await
                .unwrap()
                .1,
        );
    }
    let mut writers = Vec::new();
    for w in 0..4 {
        let c = client(&node).await;
        writers.push(tokio::spawn(async move {
            for i in 0..50 {
                c.set(&format!("/order/{w}"), json!({"w": w, "i": i}))
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let mut seen: Vec<Vec<(i64, i64)>> = Vec::new();
    for stream in &mut streams {
        let mut events = Vec::new();
        for _ in 0..200 {
            let e = next(stream).await;
            events.push((e.data["w"].as_i64().unwrap(), e.data["i"].as_i64().unwrap()));
        }
        for w in 0..4 {
            let per_writer: Vec<i64> = events
                .iter()
                .filter(|(x, _)| *x == w)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(
                per_writer,
                (0..50).collect::<Vec<_>>(),
                "writer {w} in order"
            );
        }
        seen.push(events);
    }
    assert_eq!(seen[0], seen[1], "both subscribers saw one global order");
}

#[tokio::test]
async fn consistency_levels() {
    let node = start_node().await;
    let writer = client(&node).await;
    let sub = client(&node).await;
    let (_, mut events) = sub.on_stream("/q/*", OnOptions::default()).await.unwrap();

    // TRANSACTIONAL: the writer's own subscription sees the event before the reply.
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    writer
        .on("/q/*", OnOptions::default(), move |_| {
            o.lock().unwrap().push("event")
        })
        .await
        .unwrap();
    let reply = writer.set("/q/tx", json!({})).await.unwrap();
    order.lock().unwrap().push("reply");
    assert_eq!(*order.lock().unwrap(), ["event", "reply"]);
    assert_eq!(reply["_meta"]["published"], true);
    next(&mut events).await;

    for level in [0u8, 1] {
        let written = writer
            .set_with(
                &format!("/q/{level}"),
                json!({}),
                SetOptions {
                    consistency: Some(level),
                    ..SetOptions::default()
                },
            )
            .await
            .unwrap();
        let e = next(&mut events).await;
        assert_eq!(e.meta["consistency"], level);
        if level == 1 {
            let results = written.publication.unwrap().unwrap();
            assert_eq!(results["successful"], 2, "{results}");
        }
    }

    // ACKNOWLEDGED: both subscribers ack, the writer learns how many did.
    let written = writer
        .set_with(
            "/q/3",
            json!({}),
            SetOptions {
                consistency: Some(3),
                ..SetOptions::default()
            },
        )
        .await
        .unwrap();
    let results = written.publication.unwrap().unwrap();
    assert_eq!(results["acknowledged"], 2, "{results}");
    assert_eq!(next(&mut events).await.meta["consistency"], 3);

    let with_results = writer
        .set_with(
            "/q/r",
            json!({}),
            SetOptions {
                publish_results: true,
                ..SetOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        with_results.reply["_meta"]["publishResults"]["successful"],
        2
    );
}

#[tokio::test]
async fn reconnect_resubscribes() {
    let node = start_node().await;
    let sub = client(&node).await;
    let writer = client(&node).await;
    let (_, mut events) = sub.on_stream("/re/*", OnOptions::default()).await.unwrap();
    let old_session = sub.session_id().unwrap();
    // The server drops the subscriber's session (reconnect allowed).
    for s in node.sessions() {
        if s.id == old_session {
            s.terminate("test-kick", true);
        }
    }
    assert!(eventually(|| sub.session_id().is_some_and(|id| id != old_session)).await);
    assert!(sub.wait_for(Status::Active, Duration::from_secs(5)).await);
    assert_eq!(sub.last_disconnect_reason().as_deref(), Some("test-kick"));
    // Wait until the re-subscription is in place.
    assert!(eventually(|| node.pubsub().subscription_count() == 1).await);
    writer.set("/re/1", json!({"back": true})).await.unwrap();
    assert_eq!(next(&mut events).await.data, json!({"back": true}));
}

struct Recorder(Mutex<Vec<Publication>>);

impl ReplicationSink for Recorder {
    fn publication(&self, publication: &Publication) {
        self.0.lock().unwrap().push(publication.clone());
    }
}

#[tokio::test]
async fn replication_hooks() {
    let node = start_node().await;
    let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
    node.pubsub().set_replication_sink(recorder.clone());
    let c = client(&node).await;
    let (_, mut events) = c.on_stream("/rep/*", OnOptions::default()).await.unwrap();
    c.set_with(
        "/rep/1",
        json!({"a": 1}),
        SetOptions {
            no_cluster: true,
            ..SetOptions::default()
        },
    )
    .await
    .unwrap();
    next(&mut events).await;
    {
        let seen = recorder.0.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/rep/1");
        assert!(seen[0].no_cluster);
        assert_eq!(seen[0].origin.session_id, c.session_id().unwrap());
        assert_eq!(seen[0].origin.node, node.name());
    }
    // A publication from another node reaches local subscribers but is not re-sent.
    let mut remote = recorder.0.lock().unwrap()[0].clone();
    remote.path = "/rep/2".into();
    remote.data = json!({"from": "elsewhere"});
    remote.origin.node = "other-node".into();
    remote.no_cluster = false;
    let results = node.pubsub().inject_remote(remote.clone());
    assert_eq!(results.successful, 1);
    assert_eq!(next(&mut events).await.data, json!({"from": "elsewhere"}));
    assert_eq!(
        recorder.0.lock().unwrap().len(),
        1,
        "remote publications never reach the sink"
    );
    // Publications serialize for the wire between nodes.
    let text = serde_json::to_string(&remote).unwrap();
    let back: Publication = serde_json::from_str(&text).unwrap();
    assert_eq!(back, remote);
    let _: Value = serde_json::from_str(&text).unwrap();
}

/// happn-3 clients send `off` without a `referenceId` when the last handler of a channel
/// goes: every subscription the session holds on that channel is removed, others stay.
#[tokio::test]
async fn off_without_a_reference_removes_the_sessions_subscriptions_on_that_channel() {
    let node = start_node().await;
    let mut peer = RawPeer::connect(&node).await;
    peer.handshake().await;
    for (event_id, path) in [
        (3, "/ALL@/refless/*"),
        (4, "/ALL@/refless/*"),
        (5, "/ALL@/kept/*"),
    ] {
        peer.send_json(json!({"action": "on", "eventId": event_id, "path": path, "data": {}}))
            .await;
        assert_eq!(peer.next_json().await.unwrap()["_meta"]["status"], "ok");
    }
    assert_eq!(node.pubsub().subscription_count(), 3);
    peer.send_json(
        json!({"action": "off", "eventId": 6, "path": "/ALL@/refless/*", "options": {}}),
    )
    .await;
    let reply = peer.next_json().await.unwrap();
    assert_eq!(reply["_meta"]["status"], "ok", "{reply}");
    assert_eq!(reply["data"]["removed"], 2);
    assert_eq!(node.pubsub().subscription_count(), 1);
    node.shutdown(std::time::Duration::from_secs(1)).await;
}

/// happn-3's `services.publisher.config.publicationOptions.acknowledgeTimeout` sets how long
/// an ACKNOWLEDGED publication waits; `publishResults.queued` counts the recipients.
#[tokio::test]
async fn acknowledge_timeout_is_configurable_and_publish_results_count_queued() {
    let text = r#"{"host": "127.0.0.1", "port": 0,
        "services": {"proxy": {"config": {"host": "127.0.0.1", "port": 0}},
                     "data": {"config": {"datastores": [{"name": "m", "provider": "memory"}]}},
                     "publisher": {"config": {"publicationOptions": {"acknowledgeTimeout": 300}}}}}"#;
    let config = happn_cluster::config::Config::from_json_str(text)
        .unwrap()
        .config;
    let node = happn_cluster::Node::start(config).await.unwrap();
    let mut subscriber = RawPeer::connect(&node).await;
    subscriber.handshake().await;
    subscriber
        .send_json(json!({"action": "on", "eventId": 3, "path": "/ALL@/ackt/*", "data": {}}))
        .await;
    assert_eq!(
        subscriber.next_json().await.unwrap()["_meta"]["status"],
        "ok"
    );
    let mut publisher = RawPeer::connect(&node).await;
    publisher.handshake().await;
    publisher
        .send_json(json!({"action": "set", "eventId": 7, "path": "/ackt/1", "data": {}, "options": {"publishResults": true}}))
        .await;
    let reply = publisher.next_json().await.unwrap();
    assert_eq!(reply["_meta"]["publishResults"]["queued"], 1, "{reply}");
    assert_eq!(reply["_meta"]["publishResults"]["successful"], 1);
    publisher
        .send_json(json!({"action": "set", "eventId": 8, "path": "/ackt/2", "data": {}, "options": {"consistency": 3}}))
        .await;
    assert_eq!(
        publisher.next_json().await.unwrap()["_meta"]["status"],
        "ok"
    );
    // The subscriber never acks: the publisher hears so after 300 ms, not 60 s.
    let started = std::time::Instant::now();
    let failed = publisher
        .next_json()
        .await
        .expect("publication-ack within 5 s");
    assert_eq!(failed["action"], "publication-ack", "{failed}");
    assert_eq!(failed["error"], "unacknowledged publication");
    assert!(started.elapsed() < Duration::from_secs(5));
    node.shutdown(Duration::from_secs(1)).await;
}
