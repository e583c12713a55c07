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
    if certs.iter().any(|c| is_x509_v1(c.as_ref())) {
        return Err(Error::bad_input(format!(
            "certPath {}: an X.509 v1 certificate, which the TLS stack (rustls/webpki) refuses: \
             only v3 certificates are accepted. Reissue it as v3 (openssl req -x509 … makes v3), \
             or remove both files and the node generates a self-signed v3 pair",
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

/// True for an X.509 v1 certificate: its TBSCertificate has no `[0]` version field.
fn is_x509_v1(der: &[u8]) -> bool {
    /// The content of the DER element at the start of `bytes`, if it has `tag`.
    fn enter(bytes: &[u8], tag: u8) -> Option<&[u8]> {
        let (&first, rest) = bytes.split_first()?;
        if first != tag {
            return None;
        }
        let (&len, rest) = rest.split_first()?;
        if len < 0x80 {
            return rest.get(..usize::from(len));
        }
        let count = usize::from(len & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (octets, rest) = (rest.get(..count)?, rest.get(count..)?);
        let length = octets
            .iter()
            .fold(0usize, |n, b| (n << 8) | usize::from(*b));
        rest.get(..length)
    }
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    enter(der, SEQUENCE)
        .and_then(|certificate| enter(certificate, SEQUENCE))
        .and_then(|tbs| tbs.first().copied())
        .is_some_and(|first| first != VERSION)
}

/// A client TLS config (ring provider, webpki roots). With `allow_self_signed` the server's
/// certificate chain is not checked against authorities (signatures still are).
pub fn client_config(allow_self_signed: bool) -> Result<Arc<tokio_rustls::rustls::ClientConfig>> {
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup: {e}")))?;
    let config = if allow_self_signed {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Accepts any server certificate (for `allowSelfSignedCerts`), still checking handshake
/// signatures with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

impl tokio_rustls::rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &tokio_rustls::rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: tokio_rustls::rustls::pki_types::UnixTime,
    ) -> std::result::Result<
        tokio_rustls::rustls::client::danger::ServerCertVerified,
        tokio_rustls::rustls::Error,
    > {
        Ok(tokio_rustls::rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> std::result::Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> std::result::Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<tokio_rustls::rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
