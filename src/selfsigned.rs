//! A self-signed certificate for a client port whose `keyPath` and `certPath` do not exist
//! yet: happn-3 generates and writes the pair, and so does the node, so a config that names
//! the files works on first start. One file present without the other is an error.

use std::path::Path;

use happn_cluster_sdk::{Error, Result};

/// Writes a fresh self-signed pair (for `localhost`, `127.0.0.1` and the host name) when
/// neither file exists; returns true if it did.
pub fn ensure(key_path: &Path, cert_path: &Path) -> Result<bool> {
    match (key_path.exists(), cert_path.exists()) {
        (true, true) => return Ok(false),
        (false, false) => {}
        (true, false) | (false, true) => {
            let missing = if key_path.exists() {
                cert_path
            } else {
                key_path
            };
            return Err(Error::bad_input(format!(
                "{} does not exist while its pair does: give both keyPath and certPath, or \
                 neither file so that a self-signed pair is generated",
                missing.display()
            )));
        }
    }
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_string());
        }
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| Error::internal(format!("cannot generate a certificate: {e}")))?;
    write(
        key_path,
        certified.signing_key.serialize_pem().as_bytes(),
        true,
    )?;
    write(cert_path, certified.cert.pem().as_bytes(), false)?;
    tracing::warn!(
        key = %key_path.display(),
        cert = %cert_path.display(),
        "keyPath and certPath did not exist: wrote a self-signed pair (clients must trust it explicitly)"
    );
    Ok(true)
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::bad_input(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| Error::bad_input(format!("cannot write {}: {e}", path.display())))
}
