//! The reference `memory` store passes the conformance kit.

use std::sync::Arc;

use happn_cluster_sdk::memory::MemoryDatastore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_passes_the_conformance_kit() {
    happn_cluster_sdk::testkit::run(Arc::new(MemoryDatastore::new())).await;
}
