//! HTTPS: `aiaas serve --tls-cert --tls-key` with a certificate signed by a test CA; the CLI
//! (with `--ca-cert`) and `tritonclient` (https) work against it, and a client that does not
//! trust the CA, or speaks plain HTTP, gets nowhere.

use crate::server::ServerProcess;
use crate::tritonclient::{check_with_tritonclient, tritonclient_available};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::Path;

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

#[test]
fn the_cli_and_tritonclient_speak_https_to_a_server_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    make_certificates(work);
    let (cert, key, ca) = (
        work.join("server.pem"),
        work.join("server.key"),
        work.join("ca.pem"),
    );
    let server = ServerProcess::start(
        &work.join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let ca = ca.to_str().unwrap();

    let listed = server.aiaas(
        work,
        &["models", "list", "--server", &server.url, "--ca-cert", ca],
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    // A client that does not trust the CA is refused by its own TLS check.
    let untrusted = server.aiaas(work, &["models", "list", "--server", &server.url]);
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success(), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    // Plain HTTP to the TLS port gets no answer.
    let plain = format!("http://{}", server.addr);
    let out = server.aiaas(work, &["models", "list", "--server", &plain]);
    assert!(!out.status.success());

    if tritonclient_available() {
        check_with_tritonclient(&server, work, &["--ca-cert", ca]);
    }
}

#[test]
fn a_certificate_that_cannot_be_read_stops_the_server_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    for cert in [missing.clone(), dir.path().join("empty.pem")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aiaas"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&missing)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(cert.to_str().unwrap()), "{stderr}");
    }
}
