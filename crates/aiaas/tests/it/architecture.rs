//! ARCHITECTURE.md's crate graph is Cargo's: every workspace crate with exactly the workspace
//! crates it depends on (normal dependencies), as `cargo metadata` reports them.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Crate name -> the workspace crates it depends on, short names (`types` for `aiaas-types`).
type Graph = BTreeMap<String, Vec<String>>;

fn short(name: &str) -> String {
    name.strip_prefix("aiaas-").unwrap_or(name).to_string()
}

fn cargo_graph(root: &Path) -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut deps: Vec<String> = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|n| n.starts_with("aiaas"))
                .map(short)
                .collect();
            deps.sort();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

/// The lines of the graph in ARCHITECTURE.md, one crate each.
fn graph_lines(text: &str) -> Vec<&str> {
    let begin = text
        .find("<!-- crate graph: begin -->")
        .expect("a crate graph");
    let end = text.find("<!-- crate graph: end -->").expect("its end");
    text[begin..end]
        .lines()
        .filter(|l| l.starts_with("aiaas"))
        .collect()
}

fn documented_graph(text: &str) -> Graph {
    graph_lines(text)
        .into_iter()
        .map(|l| {
            let (name, deps) = l.split_once("<-").unwrap_or((l, ""));
            let deps = deps
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(String::from)
                .collect();
            (name.trim().to_string(), deps)
        })
        .collect()
}

#[test]
fn architecture_md_shows_the_cargo_graph_exactly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let documented = documented_graph(&text);
    let actual = cargo_graph(&root);
    assert_eq!(documented, actual, "update ARCHITECTURE.md's crate graph");
    // And it is layered: each crate depends only on crates listed above it.
    let order: Vec<&str> = graph_lines(&text)
        .into_iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    for (i, name) in order.iter().enumerate() {
        for dep in &documented[*name] {
            let above = order[..i].iter().any(|n| short(n) == *dep);
            assert!(above, "{name} depends on {dep}, which is not above it");
        }
    }
}
