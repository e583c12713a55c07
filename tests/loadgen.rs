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
}
