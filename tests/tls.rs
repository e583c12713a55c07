//! TLS on the client port (`services.proxy.config.keyPath` / `certPath`).

mod common;

use std::process::Command;

use happn_cluster::Node;

fn write_self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// Runs `tests/compat/tls-check.js`: the npm client over `https` to `port`.
async fn npm_client_connects_over_tls(port: u16) {
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("tests/compat/tls-check.js")
            .env("HAPPN_PORT", port.to_string())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("tls ok"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_client_connects_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_self_signed(dir.path());
    let mut config = common::test_config();
    config.services.proxy.config.cert_path = Some(cert);
    config.services.proxy.config.key_path = Some(key);
    let node = Node::start(config).await.unwrap();
    let port = node.client_addr().unwrap().port();
    npm_client_connects_over_tls(port).await;
    // The Rust client over wss: accepted when told to trust self-signed certificates,
    // refused otherwise.
    let https = format!("https://127.0.0.1:{port}");
    let mut trusting = happn_cluster::client::ClientOptions::new(https.clone());
    trusting.allow_self_signed_certs = true;
    let rust_client = happn_cluster::client::Client::connect(trusting)
        .await
        .expect("wss with self-signed");
    assert_eq!(
        rust_client.get("/tls/check").await.unwrap().unwrap()["secure"],
        true
    );
    let mut strict = happn_cluster::client::ClientOptions::new(https);
    strict.reconnect = false;
    let err = happn_cluster::client::Client::connect(strict)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    // A plain-text client cannot talk to the TLS port.
    let plain = happn_cluster::client::Client::connect(happn_cluster::client::ClientOptions::new(
        common::url(&node),
    ))
    .await;
    assert!(plain.is_err());
}

/// As happn-3 does: keyPath and certPath naming files that do not exist yet get a generated
/// self-signed pair, and the npm client connects over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_and_certificate_files_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("tls/key.pem");
    let cert = dir.path().join("tls/cert.pem");
    let mut config = common::test_config();
    config.services.proxy.config.cert_path = Some(cert.clone());
    config.services.proxy.config.key_path = Some(key.clone());
    let node = Node::start(config).await.unwrap();
    assert!(
        std::fs::read_to_string(&cert)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the private key is private: {mode:o}");
    }
    npm_client_connects_over_tls(node.client_addr().unwrap().port()).await;
    node.shutdown(std::time::Duration::from_secs(1)).await;
    // The second start reuses the pair.
    let before = std::fs::read(&cert).unwrap();
    let mut config = common::test_config();
    config.services.proxy.config.cert_path = Some(cert.clone());
    config.services.proxy.config.key_path = Some(key);
    let node = Node::start(config).await.unwrap();
    assert_eq!(std::fs::read(&cert).unwrap(), before);
    node.shutdown(std::time::Duration::from_secs(1)).await;
}

/// rustls accepts only X.509 v3: a v1 certificate (common in old fixtures) fails the start
/// with an error that says so.
#[tokio::test]
async fn an_x509_v1_certificate_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let csr = dir.path().join("req.csr");
    let cert = dir.path().join("v1.pem");
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    let (key_s, csr_s, cert_s) = (
        key.to_str().unwrap(),
        csr.to_str().unwrap(),
        cert.to_str().unwrap(),
    );
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key_s,
        "-subj",
        "/CN=localhost",
        "-out",
        csr_s,
    ]);
    // `x509 -req` without extensions signs a version 1 certificate.
    run(&[
        "x509", "-req", "-days", "2", "-in", csr_s, "-signkey", key_s, "-out", cert_s,
    ]);
    let mut config = common::test_config();
    config.services.proxy.config.cert_path = Some(cert);
    config.services.proxy.config.key_path = Some(key);
    let err = Node::start(config).await.err().expect("start fails");
    assert!(err.to_string().contains("X.509 v1"), "{err}");
}

#[tokio::test]
async fn bad_certificates_fail_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("present.pem");
    std::fs::write(&present, "not a key").unwrap();
    let missing = dir.path().join("missing.pem");
    let mut config = common::test_config();
    config.services.proxy.config.cert_path = Some(missing.clone());
    config.services.proxy.config.key_path = Some(present);
    let err = Node::start(config).await.err().expect("start fails");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let mut config = common::test_config();
    config.services.proxy.config.cert_path = Some(garbage.clone());
    config.services.proxy.config.key_path = Some(garbage);
    let err = Node::start(config).await.err().expect("start fails");
    assert!(err.to_string().contains("garbage.pem"), "{err}");
}
