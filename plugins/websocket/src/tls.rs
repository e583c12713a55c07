//! TLS for listeners: a rustls server config (ring provider only) from PEM files.

use std::sync::Arc;

use happn_cluster_sdk::{Error, Result, TlsFiles};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Loads the certificate chain and key and builds an acceptor. Errors name the file.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_path)
        .map_err(|e| {
            Error::bad_input(format!(
                "cannot read certPath {}: {e}",
                files.cert_path.display()
            ))
        })?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::bad_input(format!(
                "bad certificate in {}: {e}",
                files.cert_path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::bad_input(format!(
            "no certificate found in certPath {}",
            files.cert_path.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_path).map_err(|e| {
        Error::bad_input(format!(
            "cannot read a private key from keyPath {}: {e}",
            files.key_path.display()
        ))
    })?;
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::bad_input(format!(
                "certPath and keyPath do not form a usable pair: {e}"
            ))
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
