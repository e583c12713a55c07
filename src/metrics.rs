//! Node counters, served on `/metrics` (Prometheus text) and `/health`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Subtracts one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    /// Sets the value.
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything the node counts.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Sessions currently connected.
    pub sessions: Gauge,
    /// Sessions accepted since start.
    pub sessions_total: Counter,
    /// Requests handled.
    pub requests: Counter,
    /// Microseconds spent handling requests (from frame to queued reply), summed.
    pub request_micros: Counter,
    /// Requests answered with an error.
    pub request_errors: Counter,
    /// Frames queued to clients.
    pub frames_out: Counter,
    /// Publications made.
    pub publications: Counter,
    /// Event frames queued to subscribers.
    pub deliveries: Counter,
    /// Sessions disconnected because their outbound queue was full.
    pub slow_consumer_disconnects: Counter,
    /// TRANSACTIONAL replies sent before every other local subscriber's copy was written
    /// (`transactionalWait` ran out).
    pub transactional_wait_timeouts: Counter,
    /// Frames refused for being larger than `maxMessageBytes`.
    pub oversized_frames: Counter,
    /// Secure sessions closed for not logging in before `loginTimeout`.
    pub login_timeouts: Counter,
    /// Cluster members known, this node included.
    pub cluster_members: Gauge,
    /// Full cluster peers, this node included.
    pub cluster_peers: Gauge,
    /// The node state: 0 STABLE, 1 SUBSCRIBING, 2 CONNECTING, 3 CONNECTING-INSUFFICIENT
    /// PEERS, 4 ISOLATED.
    pub cluster_state: Gauge,
    /// Events received from peers.
    pub replicated_in: Counter,
    /// Events from peers that could not be read.
    pub replication_errors: Counter,
    /// Peer links that dropped and were dialled again.
    pub peer_link_reconnects: Counter,
    /// Keepalive writes that failed.
    pub keepalive_failures: Counter,
    /// Member lookups that failed.
    pub membership_failures: Counter,
    /// Events replayed to peers that reconnected.
    pub replayed_events: Counter,
    /// Events a peer sent twice (after a replay) and were dropped here.
    pub replication_duplicates: Counter,
    /// Events missed for good: older than a peer's replay buffer.
    pub replication_lost: Counter,
    /// Replay requests made to peers.
    pub replay_requests: Counter,
    /// Peer handshakes refused (wrong key, wrong cluster, malformed, wrong port).
    pub peer_handshake_failures: Counter,
    /// Membership records ignored for a missing or wrong signature or an invalid field.
    pub membership_records_refused: Counter,
    /// Replay requests refused for exceeding the per-peer rate.
    pub replay_rate_limited: Counter,
    /// Publications dropped from the replay buffer to keep it within its byte bound.
    pub replay_evicted_bytes: Counter,
    /// Bytes of publications in the replay buffer now.
    pub replay_buffer_bytes: Gauge,
}

impl Metrics {
    /// Prometheus text exposition.
    pub fn prometheus(&self, subscriptions: usize) -> String {
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP happn_{name} {help}");
            let _ = writeln!(out, "# TYPE happn_{name} {kind}");
            let _ = writeln!(out, "happn_{name} {value}");
        };
        line(
            "sessions",
            "gauge",
            "Sessions currently connected.",
            self.sessions.get(),
        );
        line(
            "sessions_total",
            "counter",
            "Sessions accepted.",
            self.sessions_total.get(),
        );
        line(
            "requests_total",
            "counter",
            "Requests handled.",
            self.requests.get(),
        );
        line(
            "request_errors_total",
            "counter",
            "Requests answered with an error.",
            self.request_errors.get(),
        );
        line(
            "frames_out_total",
            "counter",
            "Frames queued to clients.",
            self.frames_out.get(),
        );
        line(
            "publications_total",
            "counter",
            "Publications made.",
            self.publications.get(),
        );
        line(
            "deliveries_total",
            "counter",
            "Event frames queued to subscribers.",
            self.deliveries.get(),
        );
        line(
            "slow_consumer_disconnects_total",
            "counter",
            "Sessions disconnected because their outbound queue was full.",
            self.slow_consumer_disconnects.get(),
        );
        line(
            "transactional_wait_timeouts_total",
            "counter",
            "TRANSACTIONAL replies sent before every local subscriber's copy was written.",
            self.transactional_wait_timeouts.get(),
        );
        line(
            "oversized_frames_total",
            "counter",
            "Frames refused for exceeding maxMessageBytes.",
            self.oversized_frames.get(),
        );
        line(
            "login_timeouts_total",
            "counter",
            "Secure sessions closed for not logging in before loginTimeout.",
            self.login_timeouts.get(),
        );
        line(
            "subscriptions",
            "gauge",
            "Live subscriptions.",
            subscriptions as u64,
        );
        let cluster: [(&str, &str, &str, u64); 17] = [
            (
                "replayed_events_total",
                "counter",
                "Events replayed to peers that reconnected.",
                self.replayed_events.get(),
            ),
            (
                "replication_duplicates_total",
                "counter",
                "Events received twice from a peer (after a replay) and dropped.",
                self.replication_duplicates.get(),
            ),
            (
                "replication_lost_total",
                "counter",
                "Events missed for good: older than a peer's replay buffer.",
                self.replication_lost.get(),
            ),
            (
                "replay_requests_total",
                "counter",
                "Replay requests made to peers.",
                self.replay_requests.get(),
            ),
            (
                "cluster_members",
                "gauge",
                "Cluster members known, this node included.",
                self.cluster_members.get(),
            ),
            (
                "cluster_peers",
                "gauge",
                "Full cluster peers, this node included.",
                self.cluster_peers.get(),
            ),
            (
                "cluster_state",
                "gauge",
                "Node state: 0 STABLE, 1 SUBSCRIBING, 2 CONNECTING, 3 CONNECTING-INSUFFICIENT PEERS, 4 ISOLATED.",
                self.cluster_state.get(),
            ),
            (
                "replicated_in_total",
                "counter",
                "Events received from peers.",
                self.replicated_in.get(),
            ),
            (
                "replication_errors_total",
                "counter",
                "Events from peers that could not be read.",
                self.replication_errors.get(),
            ),
            (
                "peer_link_reconnects_total",
                "counter",
                "Peer links that dropped and were dialled again.",
                self.peer_link_reconnects.get(),
            ),
            (
                "keepalive_failures_total",
                "counter",
                "Keepalive writes that failed.",
                self.keepalive_failures.get(),
            ),
            (
                "membership_failures_total",
                "counter",
                "Member lookups that failed.",
                self.membership_failures.get(),
            ),
            (
                "peer_handshake_failures_total",
                "counter",
                "Peer handshakes refused (wrong key or cluster, malformed, wrong port).",
                self.peer_handshake_failures.get(),
            ),
            (
                "membership_records_refused_total",
                "counter",
                "Membership records ignored: unsigned, wrongly signed or invalid.",
                self.membership_records_refused.get(),
            ),
            (
                "replay_rate_limited_total",
                "counter",
                "Replay requests refused for exceeding the per-peer rate.",
                self.replay_rate_limited.get(),
            ),
            (
                "replay_evicted_bytes_total",
                "counter",
                "Bytes of publications dropped from the replay buffer by its byte bound.",
                self.replay_evicted_bytes.get(),
            ),
            (
                "replay_buffer_bytes",
                "gauge",
                "Bytes of publications kept for peers to replay.",
                self.replay_buffer_bytes.get(),
            ),
        ];
        for (name, kind, help, value) in cluster {
            line(name, kind, help, value);
        }
        let _ = writeln!(
            out,
            "# HELP happn_request_duration_seconds Time from a request frame to its queued reply.\n# TYPE happn_request_duration_seconds summary\nhappn_request_duration_seconds_sum {:.6}\nhappn_request_duration_seconds_count {}",
            self.request_micros.get() as f64 / 1e6,
            self.requests.get()
        );
        out.push_str(&crate::process_stats::prometheus());
        out
    }
}
