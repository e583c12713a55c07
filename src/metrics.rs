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
    /// Frames refused for being larger than `maxMessageBytes`.
    pub oversized_frames: Counter,
    /// Secure sessions closed for not logging in before `loginTimeout`.
    pub login_timeouts: Counter,
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
        out
    }
}
