//! The layering ARCHITECTURE.md states, checked on the source: a module
//! imports only modules of its own layer or below. The layers, bottom up:
//!
//! 1. `model`: the pure domain;
//! 2. `store`: the only code that names sled or touches the log files;
//! 3. what the commit pipeline takes as given: `error` (the one error
//!    type), `validate` (the only maker of a `ValidWrite`), `sync` and
//!    `space` (the durability and disk-space seams);
//! 4. `commit`: the single writer;
//! 5. the read side and the services;
//! 6. the binaries' glue: `server`, `cli`.

use std::{collections::BTreeMap, path::Path};

/// Each top-level module of the daemon's library and its layer.
const LAYERS: &[(&str, u8)] = &[
    ("model", 1),
    ("store", 2),
    ("error", 3),
    ("validate", 3),
    ("sync", 3),
    ("space", 3),
    ("commit", 4),
    ("budget", 5),
    ("conn", 5),
    ("metrics", 5),
    ("views", 5),
    ("query", 5),
    ("subscribe", 5),
    ("compliance", 5),
    ("checkpoint", 5),
    ("cosigned", 5),
    ("audit", 5),
    ("backup", 5),
    ("scrub", 5),
    ("access", 5),
    ("config", 5),
    ("tls", 5),
    ("telemetry", 5),
    ("service", 5),
    ("service_manager", 5),
    ("cluster", 5),
    ("forward", 5),
    ("freshness", 5),
    ("replication", 6),
    ("web", 5),
    ("server", 6),
    ("cli", 6),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The top-level modules a source file names through `crate::`.
fn imports(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::b, c, d::{e, f}}`: the names at depth 0.
            let mut depth = 0;
            let mut name = String::new();
            let mut at_start = true;
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_start = true,
                    c if depth == 0 && at_start && (c.is_alphanumeric() || c == '_') => {
                        name.push(c)
                    }
                    c if depth == 0 && at_start && !c.is_whitespace() && !name.is_empty() => {
                        out.push(std::mem::take(&mut name));
                        at_start = false;
                        let _ = c;
                    }
                    _ => {}
                }
                if at_start && ch == ',' && !name.is_empty() {
                    out.push(std::mem::take(&mut name));
                }
            }
            if !name.is_empty() {
                out.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

/// Every `.rs` file under `dir` with its top-level module.
fn sources(dir: &Path, module: Option<&str>, out: &mut Vec<(String, String, String)>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let top = module.map_or_else(|| name.clone(), str::to_owned);
        if path.is_dir() {
            sources(&path, Some(&top), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            // Unit tests may reach up (a test starts a daemon).
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            // Comments may name any module (doc links).
            let text: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            out.push((path.display().to_string(), top, text));
        }
    }
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, None, &mut files);
    let mut wrong = BTreeMap::new();
    for (path, module, text) in &files {
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let Some(own) = layer(module) else {
            panic!(
                "{path}: module {module} has no layer in this test's table (and ARCHITECTURE.md)"
            );
        };
        for import in imports(text) {
            match layer(&import) {
                Some(l) if l > own => {
                    wrong.insert(
                        format!("{path}: {module} (layer {own}) imports {import} (layer {l})"),
                        (),
                    );
                }
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.into_keys().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, None, &mut files);
    let mut edges = std::collections::BTreeSet::new();
    for (_, module, text) in &files {
        for import in imports(text) {
            if import != *module && layer(&import).is_some() {
                edges.insert((module.clone(), import));
            }
        }
    }
    // Any circle passes through a pair within one layer (imports only go
    // down or sideways), so look for a path back from each sideways edge.
    let mut circles = Vec::new();
    for (from, to) in &edges {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![to.clone()];
        while let Some(m) = todo.pop() {
            if m == *from {
                circles.push(format!("{from} -> {to} -> … -> {from}"));
                break;
            }
            if seen.insert(m.clone()) {
                todo.extend(
                    edges
                        .iter()
                        .filter(|(a, _)| *a == m)
                        .map(|(_, b)| b.clone()),
                );
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_import_reader_sees_grouped_and_plain_paths() {
    let found = imports("use crate::{a::b, c, d::{e, f}};\nfn x() { crate::g::h(); }");
    assert_eq!(found, ["a", "c", "d", "g"]);
}
