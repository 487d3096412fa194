//! What the binary's benches share: running the `aiaas` binary, timing its floor, fetching a
//! binary body.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Run the `aiaas` binary in `dir`; its standard output (a failure ends the bench with its
/// standard error).
pub fn aiaas(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_aiaas"))
        .args(args)
        .current_dir(dir)
        .env_remove("AIAAS_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aiaas {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Milliseconds `aiaas --version` takes, `runs` times: process start alone, the floor of a
/// start-up.
pub fn version_ms(runs: usize) -> Vec<f64> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_aiaas"))
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// The body of a GET of an archive (binary, sent with its length), with `key` unless it is
/// empty.
pub fn raw_get(addr: &str, key: &str, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = if key.is_empty() {
        String::new()
    } else {
        format!("Authorization: Bearer {key}\r\n")
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let start = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&response[..start]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-length"),
        "archives are sent with a length"
    );
    response[start..].to_vec()
}
