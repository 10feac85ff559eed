//! The SDK's modules in layers, checked on the source: each module of
//! client/src imports (`crate::NAME`) only modules below it, so no two
//! import each other.

use std::path::Path;

/// From the bottom up.
const LAYERS: &[&str] = &[
    "verify",
    "error",
    "connect",
    "client",
    "subscription",
    "write_stream",
];

#[test]
fn each_module_imports_only_those_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<String> = std::fs::read_dir(&src)
        .expect("client/src")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".rs") && n != "lib.rs")
        .collect();
    files.sort();
    for file in &files {
        let module = file.trim_end_matches(".rs");
        let level = LAYERS
            .iter()
            .position(|l| *l == module)
            .unwrap_or_else(|| panic!("{file} is not in LAYERS"));
        let text = std::fs::read_to_string(src.join(file)).expect("readable");
        // Code only: doc links may point anywhere.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        // `crate::NAME` anywhere, or NAME as a word in a `use crate::{..};`.
        let uses: Vec<&str> = code
            .split("use crate::")
            .skip(1)
            .filter_map(|rest| rest.split(';').next())
            .collect();
        for (i, other) in LAYERS.iter().enumerate() {
            let named = code.contains(&format!("crate::{other}"))
                || uses.iter().any(|u| {
                    u.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .any(|w| w == *other)
                });
            assert!(
                !named || i < level,
                "{file} imports {other}, which is not below it"
            );
        }
    }
}
