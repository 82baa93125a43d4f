//! The crate's layering, checked on its source (the floors of `lib.rs`):
//!
//! - no module uses a module on a higher floor (every `crate::...` path and `super::` of
//!   the code, test modules left out);
//! - no handler file uses another handler file;
//! - `live` does not use `http`;
//! - every module under `src/` has a floor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The floor of each top-level module: 0 domain and error, 1 store, 2 service, 3 http and
/// live, 4 lambda.
const FLOORS: &[(&str, u8)] = &[
    // 0: the domain, the error type, and the client protocol re-exported from
    // nsauth-protocol.
    ("account", 0),
    ("apikey", 0),
    ("attributes", 0),
    ("role", 0),
    ("clock", 0),
    ("config", 0),
    ("enrol", 0),
    ("enrolment", 0),
    ("error", 0),
    ("ids", 0),
    ("links", 0),
    ("qr", 0),
    ("server", 0),
    ("session", 0),
    ("settings", 0),
    ("transaction", 0),
    ("signing", 0),
    ("usercontext", 0),
    ("wire", 0),
    ("vash", 0),
    ("proximity", 0),
    ("rotation", 0),
    ("pull", 0),
    // 1: storage and the outside services.
    ("aws", 1),
    ("geoip", 1),
    ("push", 1),
    ("store", 1),
    // 2: the use cases.
    ("deps", 2),
    ("service", 2),
    // 3: the ways in.
    ("http", 3),
    ("live", 3),
    // 4: the entry points.
    ("lambda", 4),
];

fn floor(module: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|(_, f)| *f)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file: without comments and without its test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names with `crate::`, also inside `use` groups
/// (`use crate::{a, b::c}`).
fn named_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
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

struct File {
    /// Path under src/, with `/`.
    path: String,
    module: String,
    code: String,
}

fn files() -> Vec<File> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "lib.rs" {
                return None; // declares the floors; uses nothing
            }
            let module = rel
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string();
            let code = code(&std::fs::read_to_string(&p).unwrap());
            Some(File {
                path: rel,
                module,
                code,
            })
        })
        .collect()
}

#[test]
fn every_module_has_a_floor() {
    for f in files() {
        assert!(
            floor(&f.module).is_some(),
            "{}: module `{}` is on no floor; add it to FLOORS here and to lib.rs",
            f.path,
            f.module
        );
    }
    // And the table names only modules that exist (or are re-exported by lib.rs).
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let reexported: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub use nsauth_protocol::{"))
        .flat_map(|l| l.trim_end_matches("};").split(','))
        .map(str::trim)
        .collect();
    for (m, _) in FLOORS {
        assert!(
            lib.contains(&format!("pub mod {m};")) || reexported.contains(m),
            "FLOORS names `{m}`, which lib.rs does not declare"
        );
    }
}

#[test]
fn no_module_uses_a_higher_floor() {
    let mut offences = BTreeMap::new();
    for f in files() {
        let own = floor(&f.module).unwrap_or(0);
        for used in named_modules(&f.code) {
            match floor(&used) {
                Some(u) if u > own => {
                    offences
                        .entry(f.path.clone())
                        .or_insert_with(Vec::new)
                        .push(format!("{used} (floor {u} > {own})"));
                }
                Some(_) => {}
                None => {
                    offences
                        .entry(f.path.clone())
                        .or_insert_with(Vec::new)
                        .push(format!("{used} (no floor)"));
                }
            }
        }
    }
    assert!(offences.is_empty(), "uses of higher floors: {offences:#?}");
}

#[test]
fn handler_files_do_not_use_each_other() {
    for f in files()
        .iter()
        .filter(|f| f.path.starts_with("http/handlers/"))
    {
        if f.path == "http/handlers/mod.rs" {
            continue;
        }
        assert!(
            !f.code.contains("handlers::") && !f.code.contains("super::"),
            "{} uses another handler file; share through http::request or http::response",
            f.path
        );
    }
}

#[test]
fn live_does_not_use_http() {
    for f in files().iter().filter(|f| f.module == "live") {
        assert!(
            !named_modules(&f.code).iter().any(|m| m == "http"),
            "{} uses http; live calls services",
            f.path
        );
    }
}

#[test]
fn the_checker_sees_what_it_checks() {
    // The parser itself: plain paths, `use` groups, comments and test modules.
    assert_eq!(
        named_modules("use crate::store::Store;\nlet x = crate::http::error::response(e);"),
        vec!["store", "http"]
    );
    assert_eq!(
        named_modules("use crate::{deps::Deps, session};"),
        vec!["deps", "session"]
    );
    let c = code("use crate::ids::Hsid; // crate::http\n#[cfg(test)]\nuse crate::lambda;");
    assert_eq!(named_modules(&c), vec!["ids"]);
    // And the floors are the ones the crate documents.
    assert!(floor("session") < floor("store"));
    assert!(floor("store") < floor("service"));
    assert!(floor("service") < floor("http"));
    assert_eq!(floor("http"), floor("live"));
    assert!(floor("live") < floor("lambda"));
}
