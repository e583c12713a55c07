//! The load generator behind `happn-cluster bench`: N clients doing set/get in a closed
//! loop (each with `pipeline` requests in flight), M subscribers receiving every write's
//! event, against any happn endpoint (this server or the original Node happn-3). In cluster
//! mode the subscribers sit on the other nodes, so every event they count crossed nodes.
//! Prints a progress line every second and a report with throughput, latency percentiles
//! and, when the target exports `process_cpu_seconds_total` on `/metrics`, the server's CPU
//! time per operation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use happn_cluster_sdk::{Error, Result};
use serde_json::json;

use crate::client::{Client, ClientOptions, OnOptions};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Endpoint, e.g. `http://127.0.0.1:55000`.
    pub url: String,
    /// Clients issuing requests.
    pub clients: usize,
    /// Clients subscribed to every written path.
    pub subscribers: usize,
    /// Size of each written value in bytes.
    pub payload_bytes: usize,
    /// How long to run.
    pub duration: Duration,
    /// Fraction of requests that are gets (the rest are sets and finds).
    pub get_ratio: f64,
    /// Fraction of requests that are wildcard finds (`<prefix>/*`, limit 10).
    pub find_ratio: f64,
    /// Number of distinct paths written.
    pub paths: usize,
    /// Credentials for secure endpoints.
    pub username: Option<String>,
    /// Credentials for secure endpoints.
    pub password: Option<String>,
    /// For `https://` endpoints: accept self-signed certificates.
    pub allow_self_signed_certs: bool,
    /// Print a progress line every second.
    pub progress: bool,
    /// Requests each client keeps in flight.
    pub pipeline: usize,
    /// Cluster mode: the subscribers connect to these nodes (writers stay on `url`).
    pub subscriber_urls: Vec<String>,
    /// Open loop: requests per second across all workers (None: each worker sends its next
    /// request as soon as the last is answered). Latency compares servers fairly only at
    /// the same offered load.
    pub rate: Option<f64>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            url: "http://127.0.0.1:55000".into(),
            clients: 10,
            subscribers: 0,
            payload_bytes: 100,
            duration: Duration::from_secs(10),
            get_ratio: 0.5,
            find_ratio: 0.0,
            paths: 1000,
            username: None,
            password: None,
            allow_self_signed_certs: false,
            progress: true,
            pipeline: 1,
            subscriber_urls: Vec::new(),
            rate: None,
        }
    }
}

/// Latency percentiles of one operation, in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

impl Latency {
    fn from(mut samples: Vec<u64>) -> Self {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Latency {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Requests completed.
    pub ops: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Set latency.
    pub set: Latency,
    /// Get latency.
    pub get: Latency,
    /// Find (wildcard get) latency.
    pub find: Latency,
    /// Events received by subscribers.
    pub events: u64,
    /// Write-to-delivery latency seen by subscribers.
    pub delivery: Latency,
    /// CPU seconds the server (the `url` node) used during the run, when it exports them.
    pub server_cpu_seconds: Option<f64>,
    /// Cluster mode: events crossed nodes.
    pub cross_node: bool,
}

impl Report {
    /// Requests per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Events per second.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Server CPU time per request, in microseconds (when the server exports it).
    pub fn server_cpu_per_op_us(&self) -> Option<f64> {
        self.server_cpu_seconds
            .filter(|_| self.ops > 0)
            .map(|cpu| cpu * 1e6 / self.ops as f64)
    }
}

impl Latency {
    fn to_json(&self) -> serde_json::Value {
        json!({"count": self.count, "p50_us": self.p50, "p99_us": self.p99, "max_us": self.max})
    }
}

impl Report {
    /// The report as one JSON object (`happn-cluster bench --json`), for scripts.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "elapsed_s": self.elapsed.as_secs_f64(),
            "ops": self.ops,
            "ops_per_sec": self.ops_per_sec(),
            "errors": self.errors,
            "set": self.set.to_json(),
            "get": self.get.to_json(),
            "find": self.find.to_json(),
            "events": self.events,
            "events_per_sec": self.events_per_sec(),
            "delivery": self.delivery.to_json(),
            "server_cpu_seconds": self.server_cpu_seconds,
            "server_cpu_per_op_us": self.server_cpu_per_op_us(),
            "cross_node": self.cross_node,
        })
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = |v: u64| format!("{:.2} ms", v as f64 / 1000.0);
        writeln!(
            f,
            "requests: {} in {:.1}s = {:.0} ops/s ({} errors)",
            self.ops,
            self.elapsed.as_secs_f64(),
            self.ops_per_sec(),
            self.errors
        )?;
        for (name, l) in [("set", &self.set), ("get", &self.get), ("find", &self.find)] {
            if l.count > 0 {
                writeln!(
                    f,
                    "  {name}: n={} p50={} p99={} max={}",
                    l.count,
                    us(l.p50),
                    us(l.p99),
                    us(l.max)
                )?;
            }
        }
        if let (Some(cpu), Some(per_op)) = (self.server_cpu_seconds, self.server_cpu_per_op_us()) {
            writeln!(
                f,
                "server CPU: {per_op:.1} µs/op ({:.0}% of one core)",
                cpu * 100.0 / self.elapsed.as_secs_f64().max(1e-9)
            )?;
        }
        if self.events > 0 {
            writeln!(
                f,
                "{}: {} = {:.0}/s; delivery p50={} p99={} max={}",
                if self.cross_node {
                    "replicated events (cross-node)"
                } else {
                    "events"
                },
                self.events,
                self.events_per_sec(),
                us(self.delivery.p50),
                us(self.delivery.p99),
                us(self.delivery.max)
            )?;
        }
        Ok(())
    }
}

fn micros_since_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// The server's `process_cpu_seconds_total` from `/metrics` (plain http endpoints; a
/// token when the node is secure); None when it does not export it.
async fn server_cpu(url: &str, token: Option<&str>) -> Option<f64> {
    let (status, body) = crate::client::http::get(url, "/metrics", token)
        .await
        .ok()?;
    (status == 200)
        .then(|| crate::process_stats::parse_cpu_seconds(&body))
        .flatten()
}

async fn connect(options: &LoadOptions) -> Result<Client> {
    connect_to(options, &options.url).await
}

async fn connect_to(options: &LoadOptions, url: &str) -> Result<Client> {
    let mut client_options = ClientOptions::new(url.to_string());
    client_options.username = options.username.clone();
    client_options.password = options.password.clone();
    client_options.allow_self_signed_certs = options.allow_self_signed_certs;
    client_options.reconnect = false;
    client_options.call_timeout = Duration::from_secs(30);
    Client::connect(client_options).await
}

/// Runs the load and returns the report.
pub async fn run(options: LoadOptions) -> Result<Report> {
    if options.clients == 0 {
        return Err(Error::bad_input("--clients must be at least 1"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let run_id = format!("{:x}", micros_since_epoch());
    let prefix = format!("/bench/{run_id}");

    let mut subscriber_tasks = Vec::new();
    for i in 0..options.subscribers {
        let client = match options.subscriber_urls.as_slice() {
            [] => connect(&options).await?,
            urls => connect_to(&options, &urls[i % urls.len()]).await?,
        };
        let (_, mut stream) = client
            .on_stream(&format!("{prefix}/*"), OnOptions::default())
            .await?;
        let stop = stop.clone();
        let events = events.clone();
        subscriber_tasks.push(tokio::spawn(async move {
            let mut delivery = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), stream.recv()).await {
                    Ok(Some(event)) => {
                        events.fetch_add(1, Ordering::Relaxed);
                        if let Some(sent) = event
                            .data
                            .get("t")
                            .and_then(|t| t.as_u64())
                            .filter(|t| *t > 0)
                        {
                            delivery.push(micros_since_epoch().saturating_sub(sent));
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            drop(client);
            delivery
        }));
    }

    let payload = "x".repeat(options.payload_bytes);
    let mut workers = Vec::new();
    let mut clients = Vec::new();
    let pipeline = options.pipeline.max(1);
    for worker in 0..options.clients * pipeline {
        if worker % pipeline == 0 {
            clients.push(connect(&options).await?);
        }
        let client = clients[clients.len() - 1].clone();
        let stop = stop.clone();
        let ops = ops.clone();
        let payload = payload.clone();
        let prefix = prefix.clone();
        let paths = options.paths.max(1);
        let get_ratio = options.get_ratio;
        let find_ratio = options.find_ratio;
        // Each worker's share of the rate, as the gap between its requests.
        let period = options
            .rate
            .filter(|rate| *rate > 0.0)
            .map(|rate| Duration::from_secs_f64((options.clients * pipeline) as f64 / rate));
        workers.push(tokio::spawn(async move {
            let mut next_at = tokio::time::Instant::now();
            let mut sets = Vec::new();
            let mut gets = Vec::new();
            let mut finds = Vec::new();
            let mut errors = 0u64;
            let mut n: u64 = worker as u64 * 7919;
            // Seed the paths this worker reads.
            let _ = client
                .set(
                    &format!("{prefix}/{}", n as usize % paths),
                    json!({"p": payload, "t": 0}),
                )
                .await;
            while !stop.load(Ordering::Relaxed) {
                if let Some(period) = period {
                    next_at += period;
                    tokio::time::sleep_until(next_at).await;
                }
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let path = format!("{prefix}/{}", (n >> 33) as usize % paths);
                let draw = (n >> 11) as f64 / (1u64 << 53) as f64;
                let is_get = draw < get_ratio;
                let is_find = !is_get && draw < get_ratio + find_ratio;
                let started = Instant::now();
                let outcome = if is_get {
                    client.get(&path).await.map(|_| ())
                } else if is_find {
                    let options = crate::client::GetOptions {
                        limit: Some(10),
                        ..Default::default()
                    };
                    client
                        .get_many(&format!("{prefix}/*"), options)
                        .await
                        .map(|_| ())
                } else {
                    client
                        .set(&path, json!({"p": payload, "t": micros_since_epoch()}))
                        .await
                        .map(|_| ())
                };
                let took = started.elapsed().as_micros() as u64;
                match outcome {
                    Ok(()) => {
                        if is_get {
                            gets.push(took)
                        } else if is_find {
                            finds.push(took)
                        } else {
                            sets.push(took)
                        }
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors += 1;
                        // A lost connection fails at once: do not spin on it.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (sets, gets, finds, errors)
        }));
    }

    let token = clients.first().and_then(Client::token);
    let cpu_before = server_cpu(&options.url, token.as_deref()).await;
    let started = Instant::now();
    let mut last_ops = 0;
    let mut last_events = 0;
    while started.elapsed() < options.duration {
        tokio::time::sleep(Duration::from_secs(1).min(options.duration)).await;
        if options.progress {
            let now_ops = ops.load(Ordering::Relaxed);
            let now_events = events.load(Ordering::Relaxed);
            eprintln!(
                "[{:>4.1}s] {:>8} ops ({:>7}/s)  {:>8} events ({:>7}/s)",
                started.elapsed().as_secs_f64(),
                now_ops,
                now_ops - last_ops,
                now_events,
                now_events - last_events
            );
            last_ops = now_ops;
            last_events = now_events;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut report = Report {
        elapsed,
        ..Report::default()
    };
    let (mut sets, mut gets, mut finds) = (Vec::new(), Vec::new(), Vec::new());
    for worker in workers {
        let (s, g, f, e) = worker
            .await
            .map_err(|e| Error::internal(format!("worker failed: {e}")))?;
        sets.extend(s);
        gets.extend(g);
        finds.extend(f);
        report.errors += e;
    }
    let cpu_after = server_cpu(&options.url, token.as_deref()).await;
    report.server_cpu_seconds = cpu_before.zip(cpu_after).map(|(a, b)| (b - a).max(0.0));
    report.cross_node = !options.subscriber_urls.is_empty();
    for client in clients {
        client.disconnect().await;
    }
    let mut delivery = Vec::new();
    for task in subscriber_tasks {
        delivery.extend(
            task.await
                .map_err(|e| Error::internal(format!("subscriber failed: {e}")))?,
        );
    }
    report.ops = (sets.len() + gets.len() + finds.len()) as u64;
    report.events = events.load(Ordering::Relaxed);
    report.set = Latency::from(sets);
    report.get = Latency::from(gets);
    report.find = Latency::from(finds);
    report.delivery = Latency::from(delivery);
    Ok(report)
}
