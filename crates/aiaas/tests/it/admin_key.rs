//! The first admin key given to `aiaas serve` (`AIAAS_ADMIN_KEY`) instead of made into
//! `<data-dir>/admin.key`: how replicas that start together share one key from one Secret.

use crate::server::{ServerProcess, serve_on_loopback};

const SECRET: &str = "aiaas_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn a_given_admin_key_is_the_first_key_and_no_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &["--admin-key", SECRET]);
    assert!(!dir.path().join("admin.key").exists());
    assert_eq!(server.request("GET", "/api/v1/keys", b"").0, 401);
    server.key = SECRET.to_string();
    let keys = server.json("GET", "/api/v1/keys", b"");
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["role"], "admin");
    server.kill();
    // On a database with keys, the variable changes nothing (a rotated Secret does not add one).
    let other = SECRET.replace("0123", "4567");
    let mut again = ServerProcess::start(dir.path(), &["--admin-key", &other]);
    again.key = other;
    assert_eq!(again.request("GET", "/api/v1/keys", b"").0, 401);
    again.key = SECRET.to_string();
    assert_eq!(
        again
            .json("GET", "/api/v1/keys", b"")
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_admin_key_that_is_not_one_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = serve_on_loopback(dir.path())
        .env("AIAAS_ADMIN_KEY", "letmein")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("aiaas_ and 64 hex digits"), "{stderr}");
}
