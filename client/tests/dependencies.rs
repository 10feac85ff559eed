//! The SDK stays an SDK: neither truce-client's own dependencies
//! (client/Cargo.toml) nor anything they pull in (the workspace's
//! Cargo.lock, followed from truce-client) include the command line's
//! crates, which live in truce-cli (client/cli/).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Crates of the `truce` application, never of the SDK.
const CLI_ONLY: &[&str] = &[
    "clap",
    "indicatif",
    "plotters",
    "csv",
    "geojson",
    "tabwriter",
    "console",
    "truce-cli",
];

/// Kept out of the SDK's own manifest (the house rule: anyhow in binaries
/// only), though prost's derive pulls it in at build time.
const NOT_DIRECT: &[&str] = &["anyhow"];

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every dependency key in the manifest's dependency tables.
fn manifest_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line.trim_matches(['[', ']']).ends_with("dependencies");
            continue;
        }
        if in_dependencies && let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            let name = key.strip_suffix(".workspace").unwrap_or(key);
            if !name.is_empty() && !name.starts_with('#') {
                out.insert(name.to_owned());
            }
        }
    }
    out
}

/// Cargo.lock's packages and the names of their dependencies.
fn lock_graph(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in package.lines().map(str::trim) {
            if let Some(n) = line.strip_prefix("name = ") {
                name = Some(n.trim_matches('"').to_owned());
            } else if line.starts_with("dependencies = [") {
                in_deps = true;
            } else if in_deps && line.starts_with(']') {
                in_deps = false;
            } else if in_deps {
                // `"name"` or `"name version"` (when versions differ).
                let dep = line.trim_matches([',', '"']);
                deps.extend(dep.split_whitespace().next().map(str::to_owned));
            }
        }
        if let Some(n) = name {
            graph.entry(n).or_default().extend(deps);
        }
    }
    graph
}

#[test]
fn the_manifest_names_no_cli_crate() {
    let deps = manifest_dependencies(&read("Cargo.toml"));
    assert!(deps.contains("tonic"), "the parse found {deps:?}");
    for name in CLI_ONLY.iter().chain(NOT_DIRECT) {
        assert!(!deps.contains(*name), "truce-client depends on {name}");
    }
}

#[test]
fn nothing_truce_client_pulls_in_is_a_cli_crate() {
    let graph = lock_graph(&read("../Cargo.lock"));
    let mut seen = BTreeSet::new();
    let mut todo = vec!["truce-client".to_owned()];
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(graph.get(&name).into_iter().flatten().cloned());
        }
    }
    assert!(seen.contains("tonic"), "the walk found {seen:?}");
    for name in CLI_ONLY {
        assert!(!seen.contains(*name), "truce-client pulls in {name}");
    }
}
