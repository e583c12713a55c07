//! The load generator drives a real node and reports what it measured.

mod common;

use std::time::Duration;

use happn_cluster::loadgen::{LoadOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_tool_reports_requests_and_events() {
    let node = common::start_node().await;
    let report = run(LoadOptions {
        url: common::url(&node),
        clients: 2,
        subscribers: 1,
        payload_bytes: 64,
        duration: Duration::from_millis(400),
        get_ratio: 0.5,
        paths: 10,
        progress: false,
        ..LoadOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(report.errors, 0);
    assert!(report.ops > 0);
    assert!(report.set.count > 0 && report.get.count > 0);
    assert!(report.events > 0, "the subscriber saw the writes");
    assert!(report.set.p50 <= report.set.p99 && report.set.p99 <= report.set.max);
    let text = report.to_string();
    assert!(text.contains("ops/s") && text.contains("p99="), "{text}");
    // `bench --json` prints the same figures for scripts (scripts/bench-compare.sh).
    let json = report.to_json();
    assert_eq!(json["ops"], report.ops);
    assert_eq!(json["events"], report.events);
    assert_eq!(json["set"]["count"], report.set.count);
    assert_eq!(json["set"]["p99_us"], report.set.p99);
    assert_eq!(json["delivery"]["p50_us"], report.delivery.p50);
    assert!(json["ops_per_sec"].as_f64().unwrap() > 0.0);
}

/// Server CPU per operation comes from the target's `/metrics`; `--pipeline` keeps several
/// requests in flight per client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_tool_reports_server_cpu_and_pipelines_requests() {
    let node = common::start_node().await;
    let report = run(LoadOptions {
        url: common::url(&node),
        clients: 1,
        pipeline: 4,
        duration: Duration::from_millis(500),
        paths: 10,
        progress: false,
        ..LoadOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(report.errors, 0);
    assert!(report.ops > 0);
    // In process the "server" is this test process, so the figure also counts the load
    // tool; what is checked is that it is read and reported.
    let per_op = report
        .server_cpu_per_op_us()
        .expect("the node exports process CPU");
    assert!(per_op > 0.0);
    assert!(report.to_string().contains("µs/op"), "{report}");
    let (status, metrics) = common::http_get(node.peer_addr(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("process_resident_memory_bytes "));
}

/// Cluster mode: writers on one node, subscribers on the other; every event counted crossed
/// nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_tool_cluster_mode_counts_cross_node_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        let mut config = common::test_config();
        config.services.data.config.datastores = vec![happn_cluster::config::DatastoreConfig {
            name: "shared".into(),
            provider: Some("sqlite".into()),
            is_default: true,
            settings: serde_json::json!({"filename": dir.path().join("c.db").to_string_lossy(), "table": "happn"}),
            ..Default::default()
        }];
        let orchestrator = &mut config.services.orchestrator.config;
        orchestrator.cluster.insert("happn-cluster-node".into(), 2);
        orchestrator.cluster_secret = Some(common::CLUSTER_SECRET.into());
        orchestrator.timing.keep_alive = happn_cluster::config::Millis(200);
        orchestrator.timing.member_refresh = happn_cluster::config::Millis(200);
        config
    };
    let (a, b) = tokio::join!(
        happn_cluster::Node::start(config()),
        happn_cluster::Node::start(config())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let report = run(LoadOptions {
        url: common::url(&a),
        subscriber_urls: vec![common::url(&b)],
        clients: 2,
        subscribers: 1,
        get_ratio: 0.0,
        duration: Duration::from_millis(600),
        paths: 10,
        progress: false,
        ..LoadOptions::default()
    })
    .await
    .unwrap();
    assert!(report.events > 0, "events crossed nodes");
    assert!(report.delivery.count > 0);
    assert!(report.to_string().contains("cross-node"), "{report}");
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
}

/// `--rate` paces the workers (open loop): a closed loop on this node does thousands of
/// requests in the same time, a paced run stays at its rate (checked from above only, so a
/// slow machine cannot fail it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_tool_paces_requests_at_a_rate() {
    let node = common::start_node().await;
    let report = run(LoadOptions {
        url: common::url(&node),
        clients: 2,
        subscribers: 1,
        get_ratio: 0.0,
        duration: Duration::from_millis(1000),
        paths: 10,
        progress: false,
        rate: Some(100.0),
        ..LoadOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(report.errors, 0);
    assert!(report.ops > 0);
    assert!(
        report.ops <= 130,
        "100 requests/s for 1 s (plus the seeding writes): {} requests",
        report.ops
    );
    assert!(report.events > 0 && report.events <= 130, "{report}");
}
