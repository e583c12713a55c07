//! `happn-cluster dev` and the cluster dashboard: dev clusters on PostgreSQL and MongoDB
//! (SecantusDB), nodes that stop when their supervisor is killed; the dashboard's event
//! stream over HTTP (secure nodes need an admin token),
//! and the page itself in a real browser against `happn-cluster dev --nodes 3 --secure`:
//! three members appear STABLE (in the page and in `happn-cluster status`), one node is
//! SIGKILLed and leaves the page, the dev command reports it, and Ctrl-C (SIGTERM) stops
//! the rest cleanly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::faults::Proc;

/// One `dev` status line: node name, whether STABLE, dashboard URL, pid.
#[derive(Debug, Clone)]
struct DevLine {
    name: String,
    stable: bool,
    dashboard: String,
    pid: u32,
}

fn parse_dev_line(line: &str) -> Option<DevLine> {
    let name = line.split_whitespace().next()?.to_string();
    let dashboard = line
        .split(" dashboard ")
        .nth(1)?
        .split_whitespace()
        .next()?;
    let pid = line.split("pid ").nth(1)?.trim().parse().ok()?;
    Some(DevLine {
        stable: line.contains(" STABLE "),
        name,
        dashboard: dashboard.to_string(),
        pid,
    })
}

/// Waits for output lines until `done` says so; panics with what was seen on timeout.
fn wait_for(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    within: Duration,
    mut done: impl FnMut(&[String]) -> bool,
) {
    let deadline = Instant::now() + within;
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("dev output so far:\n{}", seen.join("\n")),
        }
    }
}

fn latest(seen: &[String]) -> std::collections::BTreeMap<String, DevLine> {
    seen.iter()
        .filter_map(|l| parse_dev_line(l))
        .map(|l| (l.name.clone(), l))
        .collect()
}

/// The status line of a plain GET of `url`.
fn blocking_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}

/// An `_ADMIN` token from `GET /auth/login` on the node behind `internal` (http://host:port).
fn admin_token(internal: &str, password: &str) -> String {
    use std::io::{Read, Write};
    let authority = internal.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET /auth/login?username=_ADMIN&password={password} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let reply: serde_json::Value = serde_json::from_str(body).expect("a login reply");
    reply["data"].as_str().expect("a token").to_string()
}

fn chromium() -> PathBuf {
    let path =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (it installs Debian's chromium) or apt-get install -y chromium",
        path.display()
    );
    assert!(
        std::path::Path::new("tests/browser/node_modules/playwright-core").exists(),
        "playwright-core is missing: (cd tests/browser && npm ci)"
    );
    path
}

/// Starts `happn-cluster dev` with `args` on free ports; its stdout lines arrive on the
/// receiver.
fn start_dev(args: &[&str]) -> (Proc, mpsc::Receiver<String>) {
    let mut dev = Proc(
        Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
            .arg("dev")
            .args(args)
            .args(["--client-port", "0", "--internal-port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dev starts"),
    );
    let stdout = dev.0.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (dev, lines)
}

/// Waits until the dev cluster shows `nodes` STABLE nodes.
fn wait_stable(lines: &mpsc::Receiver<String>, seen: &mut Vec<String>, nodes: usize) {
    wait_for(lines, seen, Duration::from_secs(60), |seen| {
        let latest = latest(seen);
        latest.len() == nodes && latest.values().all(|n| n.stable)
    });
}

/// SIGTERM, as Ctrl-C would; returns the exit status once the remaining output is read.
fn stop_dev(
    dev: &mut Proc,
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
) -> std::process::ExitStatus {
    // SAFETY: kill(2) on the child this test spawned and has not reaped.
    unsafe {
        libc::kill(dev.0.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = dev.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "dev did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
        seen.push(line);
    }
    status
}

#[test]
fn dev_clusters_run_on_postgres_and_mongodb() {
    let postgres = std::env::var("HAPPN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mongo = std::env::var("HAPPN_TEST_MONGO_URL")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?retryWrites=false".into());
    for url in [postgres, mongo] {
        let (mut dev, lines) = start_dev(&["--nodes", "2", "--datastore", &url]);
        let mut seen = Vec::new();
        wait_stable(&lines, &mut seen, 2);
        let scheme = url.split("://").next().unwrap_or_default();
        assert!(seen[0].contains(scheme), "the store is named: {}", seen[0]);
        let status = stop_dev(&mut dev, &lines, &mut seen);
        assert!(status.success(), "{url}: {status}\n{}", seen.join("\n"));
        assert_eq!(
            seen.iter().filter(|l| l.ends_with("stopped")).count(),
            2,
            "{}",
            seen.join("\n")
        );
    }
}

/// Gone for good: a node process has exited (a zombie nobody reaps counts as exited).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// If the dev supervisor itself is SIGKILLed, its nodes do not run on unwatched: each gets
/// SIGTERM from the kernel and stops.
#[test]
fn dev_nodes_stop_when_the_supervisor_is_killed() {
    let (mut dev, lines) = start_dev(&["--nodes", "2"]);
    let mut seen = Vec::new();
    wait_stable(&lines, &mut seen, 2);
    let pids: Vec<u32> = latest(&seen).values().map(|n| n.pid).collect();
    assert_eq!(pids.len(), 2);
    dev.0.kill().unwrap();
    dev.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pids.iter().all(|pid| exited(*pid)) {
        assert!(
            Instant::now() < deadline,
            "nodes {pids:?} outlived their supervisor"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // What the killed supervisor could not remove.
    if let Some(folder) = seen[0]
        .split("(files in ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let _ = std::fs::remove_dir_all(folder);
    }
}

#[test]
fn the_dashboard_tracks_a_live_cluster_in_a_real_browser() {
    let chromium = chromium();
    let (mut dev, lines) =
        start_dev(&["--nodes", "3", "--secure", "--admin-password", "dash-pass"]);
    let mut seen = Vec::new();
    wait_stable(&lines, &mut seen, 3);

    let folder = seen[0]
        .split("(files in ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(')'))
        .map(PathBuf::from)
        .expect("the first line names the dev folder");
    assert!(folder.join("dev.sqlite").exists(), "the shared SQLite file");
    let nodes = latest(&seen);
    let (watched, victim) = (&nodes["dev-1"], &nodes["dev-3"]);

    let status_line = blocking_get(&watched.dashboard);
    assert!(
        status_line.starts_with("HTTP/1.1 200"),
        "{}: {status_line}\ndev output:\n{}",
        watched.dashboard,
        seen.join("\n")
    );
    // `happn-cluster status` shows the same cluster, as a table and as JSON.
    let internal = watched
        .dashboard
        .strip_suffix("/dashboard")
        .expect("a dashboard URL")
        .to_string();
    // A secure node's internal port tells anonymous callers the state only.
    let brief = Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
        .args(["status", "--url", &internal, "--interval", "0s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&brief.stdout);
    assert!(
        text.contains("STABLE") && text.contains("--token"),
        "{text}"
    );
    assert!(
        !text.contains("dev-2"),
        "no members without a token: {text}"
    );
    let token = admin_token(&internal, "dash-pass");
    let table = Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
        .args([
            "status",
            "--url",
            &internal,
            "--interval",
            "300ms",
            "--token",
            &token,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "status: {text}");
    assert!(
        text.starts_with("node dev-1 ") && text.contains(": STABLE"),
        "{text}"
    );
    for name in ["dev-1", "dev-2", "dev-3"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && l.contains("PEER")),
            "{name} in {text}"
        );
    }
    let json = Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
        .args([
            "status",
            "--url",
            &internal,
            "--interval",
            "0s",
            "--json",
            "--token",
            &token,
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status --json");
    assert_eq!(json["httpStatus"], 200);
    assert_eq!(json["health"]["members"].as_array().map(Vec::len), Some(3));
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Command::new("node")
        .arg("tests/browser/dashboard.js")
        .env("DASHBOARD_URL", &watched.dashboard)
        .env("EXPECT_MEMBERS", "3")
        .env("KILL_PID", victim.pid.to_string())
        .env("KILL_NAME", &victim.name)
        .env("ADMIN_PASSWORD", "dash-pass")
        .env("SHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs the browser script");
    let report = String::from_utf8_lossy(&browser.stdout).to_string();
    assert!(
        browser.status.success(),
        "browser run failed:\n{report}\n{}\ndev output:\n{}",
        String::from_utf8_lossy(&browser.stderr),
        seen.join("\n")
    );
    let steps: Vec<serde_json::Value> = report
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no {name} step in {report}"))
            .clone()
    };
    // The page lists this node first, then the others by name.
    assert_eq!(
        step("stable")["members"],
        serde_json::json!(["dev-1", "dev-2", "dev-3"])
    );
    assert_eq!(
        step("left")["members"],
        serde_json::json!(["dev-1", "dev-2"])
    );
    for shot in ["dashboard-stable.png", "dashboard-after-kill.png"] {
        let size = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{shot} was saved ({size} bytes)");
    }

    // The dev command saw its node die and keeps the others running.
    wait_for(&lines, &mut seen, Duration::from_secs(10), |seen| {
        seen.iter()
            .any(|l| l.starts_with("dev-3") && l.contains("EXITED"))
    });
    // Ctrl-C (SIGTERM here) stops the rest cleanly and removes the folder.
    let status = stop_dev(&mut dev, &lines, &mut seen);
    assert!(status.success(), "dev exits 0 after a signal: {status}");
    for name in ["dev-1", "dev-2"] {
        assert!(
            seen.iter()
                .any(|l| l.starts_with(name) && l.ends_with("stopped")),
            "{name} stopped:\n{}",
            seen.join("\n")
        );
    }
    assert!(!folder.exists(), "the dev folder is removed");
}

/// The event stream sends this node's view every second; on a secure node only to an
/// admin token, and the dashboard is not served on the client port at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_stream_needs_an_admin_token_on_a_secure_node() {
    let node = happn_cluster::Node::start(common::secure_config())
        .await
        .unwrap();
    let internal = node.peer_addr();
    let (status, page) = common::http_get(internal, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(page.contains("<canvas id=\"events-plot\"") && page.contains("\"secure\":true"));
    let (status, _) = common::http_get(node.client_addr().unwrap(), "/dashboard").await;
    assert_eq!(status, 404, "the client port does not serve the dashboard");

    let (status, _) = common::http_get(internal, "/dashboard/events").await;
    assert_eq!(status, 401, "no token, no stream");
    let admin_client = common::login(&node, "_ADMIN", "admin-pass").await.unwrap();
    let reader_client = common::login(&node, "reader", "reader-pass").await.unwrap();
    let admin = admin_client.token().expect("admin token");
    let reader = reader_client.token().expect("reader token");
    let (status, _) =
        common::http_get(internal, &format!("/dashboard/events?happn_token={reader}")).await;
    assert_eq!(status, 403, "a non-admin token is refused");

    // Two snapshots a second apart, each a full view with counters.
    let url = format!("http://{internal}");
    let mut stream = tokio::net::TcpStream::connect(internal).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!("GET /dashboard/events?happn_token={admin} HTTP/1.1\r\nhost: {url}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut received = String::new();
    let mut buffer = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(5);
    while received.matches("data: {").count() < 2 && Instant::now() < deadline {
        let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stream stays open: {received}");
        received.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert!(
        received.contains("content-type: text/event-stream"),
        "{received}"
    );
    let snapshots: Vec<serde_json::Value> = received
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(snapshots.len() >= 2, "{received}");
    assert!(snapshots[1]["at"].as_i64() > snapshots[0]["at"].as_i64());
    assert!(snapshots[0]["counters"]["requests"].is_u64());
    assert_eq!(snapshots[0]["name"], node.name());
    // A dashboard left open does not hold up the node's stop, and its stream ends.
    tokio::time::timeout(
        Duration::from_secs(15),
        node.shutdown(Duration::from_secs(1)),
    )
    .await
    .expect("shutdown with an open dashboard stream");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true), "the stream closes when the node stops");
}
