//! `aiaas serve` as a real child process, and a minimal HTTP/1.1 client over `std::net`, for
//! tests that kill the server with SIGKILL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `aiaas serve`; killed with SIGKILL when dropped.
pub struct ServerProcess {
    pub child: Child,
    /// `host:port`.
    pub addr: String,
    /// `http://` or `https://` and the address.
    pub url: String,
    /// `host:port` of V2 over gRPC.
    pub grpc_addr: String,
    /// The admin key of its data directory (empty with `--no-auth`).
    pub key: String,
}

/// `aiaas serve` over `data_dir` on free loopback ports (REST and gRPC), to be started.
pub fn serve_on_loopback(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aiaas"));
    command
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir);
    command
}

impl ServerProcess {
    /// Start `aiaas serve` on a free port over `data_dir`, and wait until it listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        Self::spawn(data_dir, extra, true)
    }

    /// Start `aiaas serve --role worker` (which serves no gRPC) with `extra`, and wait until it
    /// listens.
    #[allow(dead_code)] // The interop tests' `cluster` uses it.
    pub fn start_worker(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        Self::spawn(data_dir, &[&["--role", "worker"], extra].concat(), false)
    }

    fn spawn(data_dir: &Path, extra: &[&str], grpc: bool) -> ServerProcess {
        let mut child = serve_on_loopback(data_dir)
            .args(extra)
            .env("AIAAS_THREADS", "1")
            .env("AIAAS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiaas serve starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let mut grpc_line = String::new();
        if grpc {
            stdout.read_line(&mut grpc_line).unwrap();
        }
        let grpc_addr = match grpc {
            true => grpc_line
                .trim()
                .strip_prefix("aiaas gRPC listening on ")
                .unwrap_or_else(|| panic!("unexpected second line {grpc_line:?}"))
                .to_string(),
            false => String::new(),
        };
        let url = line
            .trim()
            .strip_prefix("aiaas listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let addr = url.split_once("://").expect("a URL").1.to_string();
        // What it prints later (the demo's lines) is read and dropped: a closed pipe would make
        // its next line fail.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        // Written before the server says it listens.
        let key = std::fs::read_to_string(data_dir.join("admin.key"))
            .unwrap_or_default()
            .trim()
            .to_string();
        ServerProcess {
            child,
            addr,
            url,
            grpc_addr,
            key,
        }
    }

    /// Runs `aiaas` in `dir` with `args` and this server's admin key (`--server` says where).
    pub fn aiaas(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_aiaas"))
            .args(args)
            .current_dir(dir)
            .env("AIAAS_THREADS", "2")
            .env_remove("AIAAS_URL")
            .env("AIAAS_API_KEY", &self.key)
            .output()
            .expect("the aiaas binary runs")
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// A request with the admin key.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        request(&self.addr, &self.key, method, path, body)
    }

    pub fn json(&self, method: &str, path: &str, body: &[u8]) -> serde_json::Value {
        let (status, text) = self.request(method, path, body);
        assert!(status < 300, "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Poll the job until `done` says so or 60 s pass.
    pub fn wait_job(
        &self,
        id: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let job = self.json("GET", &format!("/api/v1/jobs/{id}"), b"");
            if done(&job) {
                return job;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "job never got there: {job}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close` and `key` (none if empty); returns the status
/// and the body.
pub fn request(addr: &str, key: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = if key.is_empty() {
        String::new()
    } else {
        format!("Authorization: Bearer {key}\r\n")
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// The `data` of output `name` in a V2 infer answer.
pub fn output_data(answer: &serde_json::Value, name: &str) -> serde_json::Value {
    let outputs = answer["outputs"]
        .as_array()
        .expect("a V2 answer has outputs");
    let output = outputs.iter().find(|o| o["name"] == name);
    output.unwrap_or_else(|| panic!("no output {name} in {answer}"))["data"].clone()
}
