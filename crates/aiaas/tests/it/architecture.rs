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

/// The modules of one crate's `src/` by path (`quant::x86_64::avx2`), with their code minus
/// comments and unit tests.
fn crate_modules(src: &Path) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            modules.insert(parts.join("::"), code_of(&text).to_string());
        }
    }
    modules
}

/// `text` up to its unit tests, without `//` comments.
fn code_of(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The other modules of the crate that `code` (module `me`) names through `crate::` or
/// `super::` paths; the crate root, which only declares and re-exports, is left out.
fn references(me: &str, code: &str, modules: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(me))] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            let paths: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group[..group.find('}').unwrap_or(0)].split(',').collect()
            } else {
                vec![rest]
            };
            for path in paths {
                let mut parts = base.clone();
                parts.extend(
                    path.trim()
                        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                        .next()
                        .unwrap_or("")
                        .split("::")
                        .filter(|p| !p.is_empty())
                        .map(String::from),
                );
                let module = (1..=parts.len())
                    .rev()
                    .map(|k| parts[..k].join("::"))
                    .find(|m| modules.contains_key(m));
                if let Some(m) = module.filter(|m| m != me && !m.is_empty()) {
                    found.push(m);
                }
            }
        }
    }
    found
}

fn parent(module: &str) -> Vec<String> {
    let mut parts: Vec<String> = module.split("::").map(String::from).collect();
    parts.pop();
    parts
}

/// A cycle in `graph`, if it has one.
fn cycle(graph: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, Vec<String>>,
        done: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.iter().any(|n| n == node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.push(node.to_string());
        None
    }
    let mut done = Vec::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// Within each crate, files do not import each other in a circle (shared code lives below
/// both), and no file is longer than about 700 lines before its unit tests.
#[test]
fn files_import_one_way_and_stay_short() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        let modules = crate_modules(&src);
        let graph: BTreeMap<String, Vec<String>> = modules
            .iter()
            .filter(|(m, _)| !m.is_empty())
            .map(|(m, code)| (m.clone(), references(m, code, &modules)))
            .collect();
        assert_eq!(cycle(&graph), None, "an import cycle in {}", src.display());
        for (module, code) in &modules {
            let lines = code.lines().count();
            assert!(lines <= 750, "{} {module}: {lines} lines", src.display());
        }
    }
}
