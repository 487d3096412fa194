//! HTTPS: the server's certificate chain and key, read from PEM files, as a rustls acceptor.
//! TLS 1.2 and 1.3 with rustls's safe defaults; ALPN offers what the listener speaks (HTTP/1.1
//! for REST, h2 for gRPC).

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// What the accept loop needs to speak TLS.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
}

impl Tls {
    /// From a PEM certificate chain (the server's certificate first) and a PEM private key;
    /// a message naming the file and what is wrong with it otherwise.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read certificates from {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("{} holds no PEM certificate", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("cannot read a private key from {}: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
        config.alpn_protocols = Vec::new();
        Ok(Tls {
            config: Arc::new(config),
        })
    }

    /// An acceptor that offers `alpn` (`b"http/1.1"`, `b"h2"`).
    pub(crate) fn acceptor(&self, alpn: &[u8]) -> TlsAcceptor {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}
