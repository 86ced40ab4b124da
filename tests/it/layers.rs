//! The layers of `src/` (DESIGN.md, "Layout"; README, "Architecture"): a
//! module imports only the layers below it, never a sibling of its own layer
//! unless the table says so; an engine folder imports its engine core and
//! never another engine; `main.rs` only the command line. Read from the
//! code's own `use` lines and paths, so an upward import fails here naming
//! the file and the import.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::repo;

/// The layers, lowest first: the top-level modules of each.
const LAYERS: &[&[&str]] = &[
    // leaves: value types, catalog model, identifiers, dates, checksum
    // definition, redaction, errors
    &["model", "error", "ident", "dates", "checksum", "redact"],
    // the pipeline file; the engines (core + one folder per engine)
    &["config", "engines"],
    // schema model work, the session and step helpers, what a run leaves on disk
    &["schema", "session", "records"],
    // explain, FK-closure subsets, staging and replay
    &["plan", "subset", "stage"],
    // the executor, validation, `barge copy`
    &["run", "validate", "copy"],
    // one file per verb
    &["cli"],
];

/// Imports between modules of one layer that the layering allows.
const SIBLINGS: &[(&str, &str)] = &[
    // `barge copy` moves its data as a pipeline run.
    ("copy", "run"),
];

/// Leaves may import other leaves.
const LEAVES: usize = 0;

/// Engine folders under `src/engines/`.
const ENGINES: &[&str] = &["postgres", "mysql", "sqlite", "duckdb", "files"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/engines/mysql/sink.rs` is
/// `engines::mysql::sink`, `src/engines/mysql/mod.rs` is `engines::mysql`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// The code of a Rust file without comments and string or char literals
/// (so paths in docs and messages are not read as imports).
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if let Some(hashes) = raw_string_start(rest) {
            let closing = format!("\"{}", "#".repeat(hashes));
            let open = 2 + hashes;
            let end = rest[open..]
                .find(&closing)
                .map_or(rest.len(), |e| open + e + closing.len());
            out.push_str("\"\"");
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            let end = (j + 1).min(rest.len());
            out.push_str("\"\"");
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if let Some(len) = char_literal(rest) {
            out.push_str("' '");
            i += len;
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, ...: the number of `#`.
fn raw_string_start(rest: &str) -> Option<usize> {
    let after = rest.strip_prefix('r')?;
    let hashes = after.chars().take_while(|c| *c == '#').count();
    after[hashes..].starts_with('"').then_some(hashes)
}

/// The length of a char literal at the start of `rest` (not a lifetime).
fn char_literal(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let (_, c) = chars.next()?;
    if c == '\\' {
        // The escaped character is at 2; the closing quote comes after it.
        let close = rest.get(3..)?.find('\'')?;
        return Some(3 + close + 1);
    }
    let (i, next) = chars.next()?;
    (next == '\'').then_some(i + 1)
}

/// The paths `use` trees name, flattened: `use crate::a::{b, c::d};` gives
/// `crate::a::b` and `crate::a::c::d`.
fn flatten_use(tree: &str) -> Vec<String> {
    // One space between words, none around `::`, braces and commas.
    let mut tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    for token in ["::", "{", "}", ","] {
        tree = tree
            .replace(&format!(" {token}"), token)
            .replace(&format!("{token} "), token);
    }
    fn walk(prefix: &str, tree: &str, out: &mut Vec<String>) {
        match tree.find('{') {
            None => {
                let leaf = tree.split(" as ").next().unwrap_or(tree);
                out.push(join(prefix, leaf));
            }
            Some(open) => {
                let head = tree[..open].trim_end_matches("::");
                let inner = &tree[open + 1..tree.len() - 1];
                let prefix = join(prefix, head);
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            if !inner[start..i].is_empty() {
                                walk(&prefix, &inner[start..i], out);
                            }
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                if !inner[start..].is_empty() {
                    walk(&prefix, &inner[start..], out);
                }
            }
        }
    }
    fn join(prefix: &str, rest: &str) -> String {
        match (prefix.is_empty(), rest) {
            (true, _) => rest.to_string(),
            (false, "self") => prefix.to_string(),
            (false, _) => format!("{prefix}::{rest}"),
        }
    }
    let mut out = Vec::new();
    walk("", &tree, &mut out);
    out
}

/// The crate paths `code` names: in `use` items and inline
/// (`crate::x::y`, `super::x`, `self::x`).
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    // `use` items (possibly `pub use`, over several lines).
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let Some(end) = after.find(';') else { break };
        paths.extend(flatten_use(&after[..end]));
        rest = &after[end..];
    }
    // Inline paths anywhere (a `use` line's are found again: harmless).
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(found) = code[from..].find(root) {
            let start = from + found;
            let before = code[..start].chars().next_back();
            from = start + root.len();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            paths.push(code[start..end].trim_end_matches(':').to_string());
        }
    }
    paths
}

/// Where `word` starts as a whole word in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if boundary(before) && boundary(after) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// `path` as seen from module `here`, resolved to a path from the crate
/// root (`None` when it names no module of this crate).
fn resolve(path: &str, here: &[String]) -> Option<Vec<String>> {
    let mut segments = path.split("::").filter(|s| !s.is_empty());
    let mut base: Vec<String> = match segments.next()? {
        "crate" => vec![],
        "self" => here.to_vec(),
        "super" => here[..here.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    for segment in segments {
        match segment {
            "super" => {
                base.pop()?;
            }
            "*" => break,
            s => base.push(s.to_string()),
        }
    }
    Some(base)
}

/// Why importing `target` from module `here` breaks the layers, if it does.
fn violation(here: &[String], target: &[String]) -> Option<String> {
    let from = here.first()?.as_str();
    let to = target.first()?.as_str();
    if from == "main" {
        return (to != "cli").then(|| "main.rs may import only cli".to_string());
    }
    if from == "lib" || from == to {
        // Inside one module: engine folders still keep to themselves.
        if from == "engines" {
            return engine_violation(here, target);
        }
        return None;
    }
    let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) else {
        return Some(format!("'{from}' or '{to}' has no layer in the table"));
    };
    if b < a || (a == LEAVES && b == LEAVES) || SIBLINGS.contains(&(from, to)) {
        return None;
    }
    Some(if b == a {
        format!("'{from}' and '{to}' are one layer ({a}), and '{from}' may not import '{to}'")
    } else {
        format!("'{from}' (layer {a}) imports '{to}' (layer {b}), a layer above it")
    })
}

/// Engine folders import their engine core, never another engine; the
/// core imports engine folders only in `engines/mod.rs` (the registry).
fn engine_violation(here: &[String], target: &[String]) -> Option<String> {
    let folder = |path: &[String]| {
        path.get(1)
            .filter(|p| ENGINES.contains(&p.as_str()))
            .cloned()
    };
    match (folder(here), folder(target)) {
        (Some(a), Some(b)) if a != b => Some(format!(
            "engine '{a}' imports engine '{b}': an engine knows its engine core only"
        )),
        (None, Some(b)) if here.len() > 1 => Some(format!(
            "the engine core imports engine '{b}' outside the registry (engines/mod.rs)"
        )),
        _ => None,
    }
}

/// Every import of `src/` that breaks the layers, as `file: import: why`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        let here = module_path(src, &file);
        let code = code_only(&text);
        // An inline `mod tests { ... }` is a module below the file's.
        let (body, tests) = match code.find("mod tests {") {
            Some(at) => code.split_at(at),
            None => (code.as_str(), ""),
        };
        let mut tests_here = here.clone();
        tests_here.push("tests".into());
        for (code, module) in [(body, &here), (tests, &tests_here)] {
            for path in named_paths(code) {
                let Some(target) = resolve(&path, module) else {
                    continue;
                };
                if let Some(why) = violation(&here, &target) {
                    let shown = file
                        .strip_prefix(src.parent().unwrap_or(src))
                        .unwrap_or(&file);
                    found.insert(format!("{}: {path}: {why}", shown.display()));
                }
            }
        }
    }
    found.into_iter().collect()
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let found = violations(&repo().join("src"));
    assert!(
        found.is_empty(),
        "{} import(s) break the layers (README, Architecture):\n  {}",
        found.len(),
        found.join("\n  ")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    let src = repo().join("src");
    let missing: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_path(&src, f).first().cloned())
        .filter(|m| m != "main" && m != "lib" && layer_of(m).is_none())
        .collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

/// The checker itself: an upward import, an engine importing another, a
/// sibling import and a path in a comment or a string.
#[test]
fn the_checker_catches_what_it_must() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    let write = |path: &str, text: &str| {
        let path = src.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("dir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "engines/mysql/sink.rs",
        "use crate::run::progress::StepProgress;\nuse super::super::postgres::types;\n// crate::stage in a comment\nfn f() { let _ = \"crate::cli\"; }\n",
    );
    write(
        "engines/sink.rs",
        "use super::{hooks::LoadHooks, mysql::sink};\n",
    );
    write(
        "engines/mod.rs",
        "pub mod mysql;\nuse self::postgres::PostgresDialect;\n",
    );
    write(
        "validate/mod.rs",
        "use crate::{run::executor, session::Session};\n",
    );
    write("copy.rs", "fn f() { crate::run::run_pipeline(); }\n");
    write(
        "model/mod.rs",
        "use crate::error::Error;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::config::X;\n}\n",
    );
    let found = violations(&src);
    let expected = [
        "src/engines/mysql/sink.rs: crate::run::progress::StepProgress: 'engines' (layer 1) imports 'run' (layer 4), a layer above it",
        "src/engines/mysql/sink.rs: super::super::postgres::types: engine 'mysql' imports engine 'postgres': an engine knows its engine core only",
        "src/engines/sink.rs: super::mysql::sink: the engine core imports engine 'mysql' outside the registry (engines/mod.rs)",
        "src/model/mod.rs: crate::config::X: 'model' (layer 0) imports 'config' (layer 1), a layer above it",
        "src/validate/mod.rs: crate::run::executor: 'validate' and 'run' are one layer (4), and 'validate' may not import 'run'",
    ];
    assert_eq!(found, expected);
}
