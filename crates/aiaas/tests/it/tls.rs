//! HTTPS: `aiaas serve --tls-cert --tls-key` with a certificate signed by a test CA; the CLI
//! (with `--ca-cert`) works against it, and a client that does not trust the CA, or speaks plain
//! HTTP, gets nowhere. (`tritonclient` over https is in the `interop` tests.)

use crate::certificates::https_server;

#[test]
fn the_cli_speaks_https_to_a_server_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let (server, ca) = https_server(work);
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
}

#[test]
fn a_certificate_that_cannot_be_read_stops_the_server_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    for cert in [missing.clone(), dir.path().join("empty.pem")] {
        let out = crate::server::serve_on_loopback(&dir.path().join("data"))
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
