//! `happn-cluster dev --nodes N`: a local N-node cluster for development, one real node
//! process each (this binary), on one shared database: an embedded SQLite file by default,
//! or the PostgreSQL / MongoDB URL given. Prints a line per node whenever its state
//! changes; Ctrl-C (or SIGTERM) stops every node gracefully and removes what it created.

use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// `dev` options.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// The shared database: `sqlite` (a file in a temporary folder), `postgres://…` or
    /// `mongodb://…`.
    #[arg(long, default_value = "sqlite")]
    datastore: String,
    /// The first node's client port; node i uses this + i (0: any free ports).
    #[arg(long, default_value_t = 55000)]
    client_port: u16,
    /// The first node's internal port (peers, /health, /dashboard); node i uses this + i
    /// (0: any free ports).
    #[arg(long, default_value_t = 57000)]
    internal_port: u16,
    /// Turn security on (admin `_ADMIN`, password from --admin-password).
    #[arg(long)]
    secure: bool,
    /// The admin password on a secure dev cluster.
    #[arg(long, default_value = "happn")]
    admin_password: String,
    /// Keep the generated configs, logs and SQLite file after stopping (their folder is
    /// printed at start).
    #[arg(long)]
    keep: bool,
}

/// One node process of the dev cluster.
struct DevNode {
    name: String,
    client_port: u16,
    internal_port: u16,
    child: Option<Child>,
    last_line: String,
    /// Events received from peers at the last sample, and when.
    last_events: Option<(u64, Instant)>,
}

/// Runs the dev cluster until a signal.
pub fn run(args: DevArgs) -> ExitCode {
    if args.nodes == 0 || args.nodes > 32 {
        eprintln!("error: --nodes must be between 1 and 32");
        return ExitCode::from(2);
    }
    let datastore = match datastore(&args.datastore) {
        Ok(datastore) => datastore,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let folder = std::env::temp_dir().join(format!("happn-dev-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&folder) {
        eprintln!("error: cannot create {}: {e}", folder.display());
        return ExitCode::FAILURE;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find this program's path: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ports = match ports(args.client_port, args.internal_port, args.nodes) {
        Ok(ports) => ports,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "happn-cluster dev: {} nodes on {} (files in {})",
        args.nodes,
        describe(&datastore, &folder),
        folder.display()
    );
    let mut nodes = Vec::new();
    for (i, (client_port, internal_port)) in ports.into_iter().enumerate() {
        let name = format!("dev-{}", i + 1);
        let config = node_config(
            &args,
            &name,
            client_port,
            internal_port,
            &datastore,
            &folder,
        );
        let started = std::fs::write(folder.join(format!("{name}.json")), config.to_string())
            .map_err(|e| e.to_string())
            .and_then(|_| spawn(&exe, &folder, &name).map_err(|e| e.to_string()));
        match started {
            Ok(child) => nodes.push(DevNode {
                name,
                client_port,
                internal_port,
                child: Some(child),
                last_line: String::new(),
                last_events: None,
            }),
            Err(e) => {
                eprintln!("error: cannot start {name}: {e}");
                stop(&mut nodes);
                return ExitCode::FAILURE;
            }
        }
    }
    if args.secure {
        println!(
            "secure: log in as _ADMIN / {} (dashboard, clients)",
            args.admin_password
        );
    }
    let outcome = watch(&mut nodes);
    stop(&mut nodes);
    if args.keep {
        println!("kept {}", folder.display());
    } else {
        let _ = std::fs::remove_dir_all(&folder);
    }
    outcome
}

/// The datastore entry every node shares.
fn datastore(spec: &str) -> Result<Value, String> {
    if spec == "sqlite" {
        return Ok(json!({"provider": "sqlite"}));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(
            json!({"provider": "postgres", "settings": {"url": spec, "table": "happn_dev"}}),
        );
    }
    if spec.starts_with("mongodb://") || spec.starts_with("mongodb+srv://") {
        return Ok(
            json!({"provider": "mongo", "settings": {"url": spec, "database": "happn_dev", "collection": "happn_dev"}}),
        );
    }
    Err(format!(
        "--datastore {spec:?}: expected sqlite, postgres://… or mongodb://…"
    ))
}

fn describe(datastore: &Value, folder: &Path) -> String {
    match datastore["provider"].as_str() {
        Some("sqlite") => format!("SQLite {}", folder.join("dev.sqlite").display()),
        _ => happn_cluster_sdk::registry::redact_url(
            datastore["settings"]["url"].as_str().unwrap_or_default(),
        ),
    }
}

/// Client and internal ports per node: consecutive from the bases, or free ones for 0
/// (each held until all are chosen, so no two nodes get the same one).
fn ports(client: u16, internal: u16, nodes: usize) -> Result<Vec<(u16, u16)>, String> {
    let mut held = Vec::new();
    let mut pick = |base: u16, i: usize| -> Result<u16, String> {
        if base != 0 {
            return base
                .checked_add(i as u16)
                .ok_or_else(|| format!("port {base} + {i} is past 65535"));
        }
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        held.push(listener);
        Ok(port)
    };
    (0..nodes)
        .map(|i| Ok((pick(client, i)?, pick(internal, i)?)))
        .collect()
}

fn node_config(
    args: &DevArgs,
    name: &str,
    client_port: u16,
    internal_port: u16,
    datastore: &Value,
    folder: &Path,
) -> Value {
    let mut store = datastore.clone();
    store["name"] = "shared".into();
    store["isDefault"] = true.into();
    if store["provider"] == "sqlite" {
        store["settings"] =
            json!({"filename": folder.join("dev.sqlite").to_string_lossy(), "table": "happn_dev"});
    }
    json!({
        "name": name,
        "host": "127.0.0.1",
        "port": internal_port,
        "secure": args.secure,
        "services": {
            "security": {"config": {"adminUser": {"username": "_ADMIN", "password": args.admin_password}}},
            "data": {"config": {"datastores": [store]}},
            "proxy": {"config": {"host": "127.0.0.1", "port": client_port}},
            "orchestrator": {"config": {
                "deployment": format!("dev-{}", std::process::id()),
                "clusterSecret": dev_secret(),
                "cluster": {"happn-cluster-node": args.nodes},
                "timing": {"keepAlive": 1000, "keepAliveThreshold": 3000, "memberRefresh": 1000, "healthReport": 10000}
            }},
            "replicator": {"config": {"securityChangesetReplicateInterval": 500}}
        }
    })
}

/// The cluster secret of this dev run: random, shared by its nodes, gone with it.
fn dev_secret() -> &'static str {
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SECRET.get_or_init(|| {
        happn_cluster::trust::key::generate_secret()
            .unwrap_or_else(|_| uuid::Uuid::new_v4().simple().to_string())
    })
}

fn spawn(exe: &Path, folder: &Path, name: &str) -> std::io::Result<Child> {
    let log = std::fs::File::create(folder.join(format!("{name}.log")))?;
    let mut command = Command::new(exe);
    command
        .arg("--config")
        .arg(folder.join(format!("{name}.json")))
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    stop_with_parent(&mut command);
    command.spawn()
}

/// A node outlives no supervisor: if `dev` itself dies (SIGKILL, a crash), the kernel sends
/// each node SIGTERM, and it shuts down gracefully instead of running on unwatched.
#[cfg(target_os = "linux")]
fn stop_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
    // which is async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_command: &mut Command) {}

/// Shows each node's line until a signal (success) or every node has exited (failure). On
/// a terminal the lines are redrawn in place every half second, with sessions and
/// replicated events per second; otherwise (pipes, logs) a line is printed when it changes.
fn watch(nodes: &mut [DevNode]) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    runtime.block_on(async {
        let signal = super::wait_for_signal();
        tokio::pin!(signal);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut drawn = false;
        loop {
            tokio::select! {
                _ = &mut signal => {
                    println!("stopping {} nodes…", nodes.len());
                    return ExitCode::SUCCESS;
                }
                _ = tick.tick() => {}
            }
            let mut frame = String::new();
            if terminal && drawn {
                // Back to the first node's line.
                frame.push_str(&format!("\x1b[{}A", nodes.len()));
            }
            for node in nodes.iter_mut() {
                let (line, live) = node_line(node).await;
                if terminal {
                    frame.push_str(&format!("\r\x1b[2K{line}  {live}\n"));
                } else if line != node.last_line {
                    frame.push_str(&line);
                    frame.push('\n');
                }
                node.last_line = line;
            }
            print!("{frame}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
            drawn = true;
            if nodes.iter().all(|n| n.child.is_none()) {
                eprintln!("every node has exited (logs are kept with --keep)");
                return ExitCode::FAILURE;
            }
        }
    })
}

/// One node's status line, and its live figures (sessions, replicated events/s).
async fn node_line(node: &mut DevNode) -> (String, String) {
    if let Some(child) = node.child.as_mut()
        && let Ok(Some(status)) = child.try_wait()
    {
        node.child = None;
        return (format!("{:<7} EXITED ({status})", node.name), String::new());
    }
    let Some(pid) = node.child.as_ref().map(Child::id) else {
        return (node.last_line.clone(), String::new());
    };
    let internal = format!("http://127.0.0.1:{}", node.internal_port);
    let health = happn_cluster::status::health(&internal, None)
        .await
        .ok()
        .map(|(_, health)| health);
    let state = health
        .as_ref()
        .and_then(|h| {
            let state = h["state"].as_str()?;
            let peers = h["peers"].as_u64().unwrap_or(0);
            Some(format!("{state} · {peers} full peers"))
        })
        .unwrap_or_else(|| "STARTING".into());
    let live = health
        .as_ref()
        .map(|h| live_figures(node, h))
        .unwrap_or_default();
    let line = format!(
        "{:<7} {:<40} clients http://127.0.0.1:{}  dashboard {internal}/dashboard  pid {pid}",
        node.name, state, node.client_port,
    );
    (line, live)
}

/// `3 sessions · 1200 ev/s` (events received from peers), from two `/health` samples.
fn live_figures(node: &mut DevNode, health: &Value) -> String {
    let events: u64 = health["members"]
        .as_array()
        .map(|members| members.iter().filter_map(|m| m["eventsIn"].as_u64()).sum())
        .unwrap_or(0);
    let now = Instant::now();
    let rate = node
        .last_events
        .map(|(before, at)| {
            events.saturating_sub(before) as f64 / now.duration_since(at).as_secs_f64().max(1e-3)
        })
        .unwrap_or(0.0);
    node.last_events = Some((events, now));
    format!("{} sessions · {rate:.0} ev/s in", health["sessions"])
}

/// Stops every node: SIGTERM, then SIGKILL for any still running after 10 s.
fn stop(nodes: &mut [DevNode]) {
    for node in nodes.iter() {
        if let Some(child) = &node.child {
            terminate(child.id());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for node in nodes.iter_mut() {
        let Some(mut child) = node.child.take() else {
            continue;
        };
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        println!("{:<7} stopped", node.name);
    }
}

fn terminate(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill(2) with a pid this process spawned and still owns (not yet reaped).
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}
