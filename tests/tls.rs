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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_client_connects_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_self_signed(dir.path());
    let mut config = common::test_config();
    config.services.proxy.config.cert_path = Some(cert);
    config.services.proxy.config.key_path = Some(key);
    let node = Node::start(config).await.unwrap();
    let port = node.client_addr().unwrap().port();
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
    assert!(stdout.contains("tls ok"));
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

#[tokio::test]
async fn bad_certificates_fail_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let mut config = common::test_config();
    config.services.proxy.config.cert_path = Some(missing.clone());
    config.services.proxy.config.key_path = Some(missing.clone());
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
