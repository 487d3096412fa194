//! A test certificate authority, a server certificate it signed, and a server that uses it.

use crate::server::ServerProcess;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};

/// `aiaas serve` over HTTPS with a certificate made in `work` (data in `work/data`), and the
/// CA file a client must trust.
pub fn https_server(work: &Path) -> (ServerProcess, PathBuf) {
    make_certificates(work);
    let (cert, key) = (work.join("server.pem"), work.join("server.key"));
    let server = ServerProcess::start(
        &work.join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    (server, work.join("ca.pem"))
}

/// Writes a CA (`ca.pem`) and a server certificate it signed for localhost and 127.0.0.1
/// (`server.pem`, `server.key`) into `dir`.
fn make_certificates(dir: &Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "aiaas test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let server =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
}
