//! Helpers for tests that run real processes and inject real faults.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free TCP port on 127.0.0.1 (released before it is used, so a rare race is possible).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the `happn-cluster` binary with `config` (output discarded); killed when dropped.
pub fn spawn_node(config: &Path) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_happn-cluster"))
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node process starts"),
    )
}

/// Waits until every port accepts connections, at most `limit`; true when they all do.
pub async fn ports_open(ports: &[u16], limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while !ports.iter().all(|p| port_open(*p)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ports.iter().all(|p| port_open(*p))
}

/// True once something accepts connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Resets every TCP connection on `port`, both directions (`ss -K`, as root); true when
/// `ss` ran.
pub fn reset_connections(port: u16) -> bool {
    Command::new("ss")
        .args(["-K", &format!("( dport = :{port} or sport = :{port} )")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts a private SecantusDB on `port` with its data in `storage` (`SECANTUS_PYTHON`, set
/// by scripts/test.sh), and waits until it accepts connections.
pub fn start_secantus(port: u16, storage: &Path) -> Child {
    let python = std::env::var("SECANTUS_PYTHON").unwrap_or_else(|_| ".tmp/venv/bin/python".into());
    let mut child = Command::new(python)
        .args([
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .arg("--storage-path")
        .arg(storage)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("SecantusDB starts (run scripts/test.sh to install it)");
    for _ in 0..150 {
        if port_open(port) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("SecantusDB did not start on port {port}");
}
