//! Rules about the fake's own source that a reviewer would otherwise have to re-check by hand:
//! no two modules import each other, directly or round a longer loop (shared parts live a level
//! below, as stripe-mock does); and no function is longer than 80 lines unless its doc comment
//! says why it is long.
//!
//! The scan is textual: `use` paths and inline `super::`/`crate::` paths are resolved to the file
//! that defines the module, and string, char and comment contents are skipped when braces are
//! counted. Test modules (`#[cfg(test)]` and below) are left out: they only look inward.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LONGEST: usize = 80;

/// Every library source file under `src/` (not the binaries), as (module path, text before tests).
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    files
        .into_iter()
        .filter(|file| !file.starts_with(src.join("bin")))
        .map(|file| {
            let relative = file.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let module = std::iter::once("crate".to_string()).chain(parts).collect::<Vec<_>>().join("::");
            let text = std::fs::read_to_string(&file).unwrap();
            let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            (module, before_tests)
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The absolute paths a source text names through `crate::` or `super::`, braces expanded.
fn referenced_paths(module: &str, text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for start in ["crate::", "super::"] {
        for (at, _) in text.match_indices(start) {
            if text[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            expand(&text[at..], &mut Vec::new(), &mut paths);
        }
    }
    paths.into_iter().filter_map(|path| absolute(module, &path)).collect()
}

/// Reads `a::b::{c, d::e}` at the start of `text` into every full path it names; returns how
/// many bytes it read.
fn expand(text: &str, prefix: &mut Vec<String>, out: &mut Vec<String>) -> usize {
    let base = prefix.len();
    let mut at = 0;
    loop {
        let ident: String = text[at..].chars().take_while(|c| is_ident(*c)).collect();
        at += ident.len();
        if !ident.is_empty() {
            prefix.push(ident);
        }
        if text[at..].starts_with("::{") {
            at += 3;
            loop {
                at += text[at..].len() - text[at..].trim_start().len();
                at += expand(&text[at..], prefix, out);
                at += text[at..].len() - text[at..].trim_start().len();
                if text[at..].starts_with(',') {
                    at += 1;
                } else {
                    at += usize::from(text[at..].starts_with('}'));
                    break;
                }
            }
            break;
        } else if text[at..].starts_with("::") && text[at + 2..].starts_with(is_ident) {
            at += 2;
        } else {
            out.push(prefix.join("::"));
            break;
        }
    }
    prefix.truncate(base);
    at
}

/// Resolves `super::`/`crate::` against the module the path appears in.
fn absolute(module: &str, path: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if segments.first() == Some(&"crate") {
        segments.remove(0);
        vec!["crate"]
    } else {
        module.split("::").collect()
    };
    while segments.first() == Some(&"super") {
        segments.remove(0);
        base.pop()?;
    }
    base.extend(segments);
    Some(base.join("::"))
}

/// The module a path lands in: its longest prefix that is a module.
fn owning_module<'m>(path: &str, modules: &'m BTreeMap<String, String>) -> Option<&'m String> {
    modules.keys().filter(|m| path == m.as_str() || path.starts_with(&format!("{m}::"))).max_by_key(|m| m.len())
}

fn is_ancestor(ancestor: &str, of: &str) -> bool {
    of.starts_with(&format!("{ancestor}::"))
}

#[test]
fn the_fakes_modules_import_each_other_in_no_cycle() {
    let modules = modules();
    let mut graph: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
    for (module, text) in &modules {
        let targets = graph.entry(module).or_default();
        for path in referenced_paths(module, text) {
            let Some(target) = owning_module(&path, &modules) else { continue };
            // A parent module only declares and re-exports its children; naming it is not depending
            // on a sibling, and its `pub use` edges would otherwise make every child a cycle.
            if target != module && !is_ancestor(target, module) {
                targets.insert(target);
            }
        }
    }
    assert!(graph.len() > 40, "the scan found too few modules: {:?}", graph.keys());
    let mut state: BTreeMap<&String, u8> = BTreeMap::new();
    let mut stack = Vec::new();
    for module in graph.keys() {
        if let Some(cycle) = find_cycle(module, &graph, &mut state, &mut stack) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

fn find_cycle<'g>(
    module: &'g String,
    graph: &BTreeMap<&'g String, BTreeSet<&'g String>>,
    state: &mut BTreeMap<&'g String, u8>,
    stack: &mut Vec<&'g String>,
) -> Option<Vec<String>> {
    match state.get(module) {
        Some(2) => return None,
        Some(1) => {
            let from = stack.iter().position(|m| *m == module).unwrap_or(0);
            let mut cycle: Vec<String> = stack[from..].iter().map(|m| m.to_string()).collect();
            cycle.push(module.clone());
            return Some(cycle);
        }
        _ => {}
    }
    state.insert(module, 1);
    stack.push(module);
    for next in graph.get(module).into_iter().flatten() {
        if let Some(cycle) = find_cycle(next, graph, state, stack) {
            return Some(cycle);
        }
    }
    stack.pop();
    state.insert(module, 2);
    None
}

/// The text with string, char and comment contents blanked out (braces in them do not count).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '"'
            || (c == 'r'
                && chars.get(i + 1).is_some_and(|n| *n == '#' || *n == '"')
                && !chars.get(i.wrapping_sub(1)).is_some_and(|p| is_ident(*p)))
        {
            let hashes = if c == 'r' {
                let mut n = 0;
                i += 1;
                while chars.get(i) == Some(&'#') {
                    n += 1;
                    i += 1;
                }
                n
            } else {
                0
            };
            i += 1;
            while i < chars.len() {
                if chars[i] == '\\' && hashes == 0 {
                    i += 2;
                    continue;
                }
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push_str("\"\"");
            continue;
        }
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                continue;
            }
            if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[test]
fn no_function_is_longer_than_80_lines_unless_its_doc_comment_says_why() {
    let mut too_long = Vec::new();
    for (module, text) in modules() {
        let code = code_only(&text);
        let lines: Vec<&str> = code.lines().collect();
        let original: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let declares = ["fn ", "pub fn ", "pub(crate) fn ", "async fn ", "pub async fn "]
                .iter()
                .any(|p| trimmed.starts_with(p));
            if !declares {
                continue;
            }
            let mut depth = 0i32;
            let mut opened = false;
            let mut end = start;
            'scan: for (n, body_line) in lines.iter().enumerate().skip(start) {
                for c in body_line.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        ';' if !opened => break 'scan,
                        _ => {}
                    }
                    if opened && depth == 0 {
                        end = n;
                        break 'scan;
                    }
                }
            }
            let length = end.saturating_sub(start) + 1;
            if length > LONGEST {
                let doc: String = original[..start]
                    .iter()
                    .rev()
                    .take_while(|l| l.trim_start().starts_with("///") || l.trim_start().starts_with("#["))
                    .map(|l| l.to_lowercase())
                    .collect();
                if !doc.contains("long") {
                    too_long.push(format!("{module}: `{}` is {length} lines", trimmed.trim_end_matches('{').trim()));
                }
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "split these, or say in their doc comment why they are long:\n{}",
        too_long.join("\n")
    );
}
