//! A database outage under a running cluster (a private SecantusDB, and a private PostgreSQL
//! instance, each stopped for longer than `keepAliveThreshold` and started again on the same
//! storage): membership does not flap, `/health` reports the outage, the peer links are
//! untouched (no reconnect storm), and replication keeps working through it for `noStore`
//! publications.

mod common;

use common::faults::{free_port, start_secantus};

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions, OnOptions};
use happn_cluster::config::{DatastoreConfig, Millis};
use serde_json::{Value, json};

fn mongo_store(port: u16) -> DatastoreConfig {
    DatastoreConfig {
        name: "mongo".into(),
        provider: Some("mongo".into()),
        settings: json!({
            "url": format!("mongodb://127.0.0.1:{port}/?retryWrites=false&serverSelectionTimeoutMS=500"),
            "database": "cluster_outage",
            "collection": "happn",
        }),
        is_default: true,
        ..DatastoreConfig::default()
    }
}

fn postgres_store(port: u16) -> DatastoreConfig {
    DatastoreConfig {
        name: "pg".into(),
        provider: Some("postgres".into()),
        settings: json!({"url": format!("postgres://postgres@127.0.0.1:{port}/postgres"), "table": "happn"}),
        is_default: true,
        ..DatastoreConfig::default()
    }
}

fn config(store: DatastoreConfig) -> happn_cluster::config::Config {
    let mut config = common::test_config();
    config.services.data.config.datastores = vec![store];
    let orchestrator = &mut config.services.orchestrator.config;
    orchestrator.cluster.insert("happn-cluster-node".into(), 2);
    orchestrator.cluster_secret = Some(common::CLUSTER_SECRET.into());
    orchestrator.timing.keep_alive = Millis(200);
    orchestrator.timing.keep_alive_threshold = Millis(1_000);
    orchestrator.timing.member_refresh = Millis(200);
    orchestrator.timing.stabilise_timeout = Some(Millis(30_000));
    config
}

/// A database the test can stop and start again on the same storage.
trait Database {
    fn start(&mut self);
    fn stop(&mut self);
}

struct Secantus {
    port: u16,
    storage: tempfile::TempDir,
    child: Option<Child>,
}

impl Database for Secantus {
    fn start(&mut self) {
        self.child = Some(start_secantus(self.port, self.storage.path()));
    }
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Secantus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private PostgreSQL instance (initdb in a temporary directory, run as the `postgres`
/// user), so stopping it does not disturb the rest of the suite.
struct Postgres {
    port: u16,
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    running: bool,
}

impl Postgres {
    fn new(port: u16) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let pg = Postgres {
            port,
            dir,
            bin,
            running: false,
        };
        let status = pg
            .as_postgres(
                &["initdb", "-D"],
                &[pg.data()],
                &["-A", "trust", "-U", "postgres"],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb");
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn as_postgres(&self, head: &[&str], middle: &[String], tail: &[&str]) -> Command {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(head[0]))
            .args(&head[1..])
            .args(middle)
            .args(tail);
        command
    }
}

impl Database for Postgres {
    fn start(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").to_string_lossy().into_owned();
        let status = self
            .as_postgres(
                &["pg_ctl", "-D"],
                &[self.data(), "-o".into(), options, "-l".into(), log],
                &["-w", "start"],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start");
        self.running = true;
    }
    fn stop(&mut self) {
        if self.running {
            let _ = self
                .as_postgres(
                    &["pg_ctl", "-D"],
                    &[self.data()],
                    &["-m", "immediate", "-w", "stop"],
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            self.running = false;
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secantusdb_outage_neither_flaps_membership_nor_storms_reconnects() {
    let port = free_port();
    let mut db = Secantus {
        port,
        storage: tempfile::tempdir().unwrap(),
        child: None,
    };
    db.start();
    outage(&mut db, mongo_store(port)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_neither_flaps_membership_nor_storms_reconnects() {
    let port = free_port();
    let mut db = Postgres::new(port);
    db.start();
    outage(&mut db, postgres_store(port)).await;
}

async fn outage(db: &mut dyn Database, store: DatastoreConfig) {
    let (a, b) = tokio::join!(
        Node::start(config(store.clone())),
        Node::start(config(store))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let reconnects_before =
        a.metrics().peer_link_reconnects.get() + b.metrics().peer_link_reconnects.get();
    let reader = Client::connect(ClientOptions::new(common::url(&b)))
        .await
        .unwrap();
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sink = seen.clone();
    reader
        .on("/outage/*", OnOptions::default(), move |e| {
            if let Some(n) = e.data.get("n").and_then(Value::as_u64) {
                sink.lock().unwrap().push(n);
            }
        })
        .await
        .unwrap();
    let writer = Client::connect(ClientOptions::new(common::url(&a)))
        .await
        .unwrap();

    // The outage: three keepalive thresholds long.
    db.stop();
    let mut lowest_members = usize::MAX;
    for n in 0..15u64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        lowest_members = lowest_members
            .min(a.cluster().status().members.len())
            .min(b.cluster().status().members.len());
        // Publications need no database: they still cross nodes.
        writer.publish("/outage/p", json!({"n": n})).await.unwrap();
    }
    let (status, body) = common::http_get(a.peer_addr(), "/health").await;
    assert_eq!(status, 503, "the outage is reported: {body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert!(health["datastore"].is_string(), "{body}");
    assert_eq!(lowest_members, 2, "no member dropped during the outage");
    assert!(
        a.metrics().membership_failures.get() > 0,
        "lookups failed and were counted"
    );

    // Recovery: healthy again, members stayed, links were never re-dialled.
    db.start();
    let mut healthy = false;
    for _ in 0..150 {
        let (status, _) = common::http_get(a.peer_addr(), "/health").await;
        if status == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "healthy again after the database returns");
    for _ in 0..10 {
        assert_eq!(a.cluster().status().members.len(), 2);
        assert_eq!(b.cluster().status().members.len(), 2);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reconnects_after =
        a.metrics().peer_link_reconnects.get() + b.metrics().peer_link_reconnects.get();
    assert_eq!(reconnects_after, reconnects_before, "no reconnect storm");
    assert_eq!(*seen.lock().unwrap(), (0..15).collect::<Vec<_>>());
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
    db.stop();
}
