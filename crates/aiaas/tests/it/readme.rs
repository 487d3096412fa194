//! The README as a newcomer follows it: `aiaas serve --demo` prints what the README promises,
//! then every `sh` block of the README runs, in order, in one shell, against that server (the
//! `cargo` commands excepted: CI runs those itself). The blocks are read from the README, so an
//! edit there that breaks an example fails here. Synopses are `text` blocks and are not run.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const README: &str = include_str!("../../../../README.md");
/// The address the README's examples name; replaced by the test server's.
const README_ADDR: &str = "127.0.0.1:8080";

/// The README's `sh` blocks, in order, without those that run `cargo`.
fn examples(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                if !block.trim_start().starts_with("cargo ") {
                    blocks.push(std::mem::take(block));
                }
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_readme_examples_run_in_order_on_a_demo_server() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The examples run from a checkout's root: its datasets and test fixtures are there.
    for folder in ["datasets", "tests"] {
        std::os::unix::fs::symlink(repo.join(folder), work.join(folder)).unwrap();
    }
    let log = std::fs::File::create(work.join("server.log")).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_aiaas"))
        .args([
            "serve",
            "--demo",
            "--addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
        ])
        .current_dir(work)
        .env("AIAAS_THREADS", "2")
        .env("AIAAS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    // What it prints, up to the end of the request to paste.
    let mut printed = String::new();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    while !printed.contains("\"data\": [") {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let _ = server.kill();
            panic!("the demo server stopped; it printed:\n{printed}");
        }
        printed.push_str(&line);
    }
    let base = printed
        .lines()
        .find_map(|l| l.strip_prefix("aiaas listening on "))
        .expect("the address")
        .to_string();
    for promised in [
        format!("{base}/docs"),
        format!("{base}/api/v1/models"),
        format!("{base}/v2/models/iris"),
        "export AIAAS_API_KEY=$(cat aiaas-data/admin.key)".to_string(),
        format!("{base}/v2/models/iris/infer"),
    ] {
        assert!(printed.contains(&promised), "{promised:?} in:\n{printed}");
    }
    // The request it printed, pasted as printed, comes first.
    let pasted: String = printed
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("export AIAAS_API_KEY"))
        .collect::<Vec<_>>()
        .join("\n");
    let addr = base.trim_start_matches("http://");
    let script = format!(
        "set -euo pipefail\n\
         # Any HTTP error fails the walk-through.\n\
         curl() {{ command curl --silent --show-error --fail-with-body \"$@\"; echo; }}\n\
         {pasted}\n{}",
        examples(README).join("\n").replace(README_ADDR, addr)
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_aiaas")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work)
        .env("PATH", path)
        .env_remove("AIAAS_API_KEY")
        .env_remove("AIAAS_URL")
        .output()
        .expect("bash runs");
    let _ = server.kill();
    let _ = server.wait();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's examples failed:\n--- script\n{script}\n--- stdout\n{said}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("\"model_name\":\"iris\""), "{said}");
    assert!(
        said.contains("registered") || said.contains("wine-small"),
        "{said}"
    );

    // The server said it was ready once, when it was, counting versions; its configuration is
    // fields a person reads.
    let log = std::fs::read_to_string(work.join("server.log")).unwrap();
    let ready: Vec<&str> = log.lines().filter(|l| l.contains(" ready")).collect();
    assert_eq!(ready.len(), 1, "{log}");
    assert!(ready[0].contains("versions=2"), "{}", ready[0]);
    let configuration = log.lines().find(|l| l.contains("configuration")).unwrap();
    assert!(configuration.contains("workers=1"), "{configuration}");
    assert!(!log.contains("Config {"), "Debug structs in the log: {log}");
}

#[test]
fn examples_are_the_sh_blocks_without_cargo() {
    let readme = "```sh\ncargo test\n```\n```sh\ncurl a \\\n  b\n```\n```text\naiaas [--x]\n```\n";
    assert_eq!(examples(readme), ["curl a \\\n  b\n"]);
}

/// Beside each of the two commands, the README says how long its first run takes.
#[test]
fn the_two_commands_say_how_long_they_take() {
    for command in [
        "cargo run --release -- serve --demo",
        "cargo test --workspace",
    ] {
        let after = README
            .split_once(&format!("```sh\n{command}\n```\n"))
            .unwrap_or_else(|| panic!("{command:?} is not a block of its own"))
            .1;
        let next_paragraph = after.trim_start().split("\n\n").next().unwrap();
        assert!(
            next_paragraph.contains("minutes") && next_paragraph.contains("clean clone"),
            "{command:?} is followed by {next_paragraph:?}"
        );
    }
}

/// The README's `serve` synopsis names every flag of `aiaas serve --help` (the global ones,
/// which every command takes, excepted).
#[test]
fn the_serve_synopsis_names_every_flag() {
    let flags = |args: &[&str]| -> Vec<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_aiaas"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|w| w.trim_end_matches(',').to_string())
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .collect()
    };
    let global = flags(&["--help"]);
    let serve: Vec<String> = flags(&["serve", "--help"])
        .into_iter()
        .filter(|f| !global.contains(f))
        .collect();
    assert!(serve.len() > 10, "{serve:?}");
    let synopsis = README
        .split_once("```text\naiaas serve ")
        .expect("the serve synopsis")
        .1
        .split_once("```")
        .unwrap()
        .0;
    for flag in serve {
        assert!(synopsis.contains(&flag), "{flag} is not in the synopsis");
    }
}
