//! Which file imports which: every path a module names through `crate::` (or `$crate::`),
//! `super::`, `self::`, or one of its own child modules — in a `use`, braces expanded, or inline
//! in code — lands in the module that is its longest module prefix, and that module's file is
//! imported. A `mod name;` declaration is not an import; a `pub use name::Item` re-export is.
//! Naming an item through a re-export imports the file that re-exports it, as a reader follows
//! it: the re-exporting file is what the importer depends on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::lexer::is_ident;
use crate::modules::{Module, ModuleTree};

/// The files a crate's files import: file → the files it imports, with the paths that tie them.
#[derive(Debug, Default, Clone)]
pub struct ImportGraph {
    /// Every file of the crate, each with the files it imports (never itself) and, for each of
    /// those, the paths it names there.
    pub imports: BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>,
}

impl ImportGraph {
    /// Adds one target's modules (a crate's library and binaries share no `crate::`).
    pub fn add_tree(&mut self, tree: &ModuleTree) {
        for module in tree.modules.values().flatten() {
            let imports = self.imports.entry(module.file.clone()).or_default();
            for path in named_paths(module) {
                for target in tree.owner_of(&path).into_iter().flatten() {
                    if target.file != module.file {
                        imports.entry(target.file.clone()).or_default().insert(path.clone());
                    }
                }
            }
        }
    }

    /// Every file, with the files it imports.
    pub fn files(&self) -> impl Iterator<Item = (&PathBuf, impl Iterator<Item = &PathBuf>)> {
        self.imports.iter().map(|(file, targets)| (file, targets.keys()))
    }
}

/// The absolute paths (`crate::a::b::c`) that a module's code names.
fn named_paths(module: &Module) -> Vec<String> {
    let code = &module.code;
    let mut paths = Vec::new();
    let mut starts: Vec<&str> = vec!["crate", "super", "self"];
    starts.extend(module.children.iter().map(String::as_str));
    for start in starts {
        let needle = format!("{start}::");
        for (at, _) in code.match_indices(&needle) {
            let before = code[..at].chars().next_back();
            // `a::crate::` cannot occur, but `other::self_` or `x.child::` is not a path start;
            // `$crate::` is `crate::` in a macro.
            if before.is_some_and(|c| is_ident(c) || c == ':' || c == '.') {
                continue;
            }
            let mut found = Vec::new();
            expand(&code[at..], &mut Vec::new(), &mut found);
            paths.extend(found.iter().filter_map(|path| absolute(&module.path, path)));
        }
    }
    paths
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
        let rest = &text[at..];
        if rest.trim_start().starts_with("::") {
            let after = rest.trim_start()[2..].trim_start();
            let skipped = rest.len() - after.len();
            if after.starts_with('{') {
                at += skipped + 1;
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
            } else if after.starts_with(is_ident) {
                at += skipped;
                continue;
            }
        }
        if prefix.len() > base {
            out.push(prefix.join("::"));
        }
        break;
    }
    prefix.truncate(base);
    at
}

/// Resolves a path that starts with `crate`, `super`, `self` or a child module's name against
/// the module it appears in.
fn absolute(module: &str, path: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if segments.first() == Some(&"crate") {
        segments.remove(0);
        vec!["crate"]
    } else {
        module.split("::").collect()
    };
    loop {
        match segments.first() {
            Some(&"super") => {
                segments.remove(0);
                base.pop()?;
                if base.is_empty() {
                    return None;
                }
            }
            Some(&"self") => {
                segments.remove(0);
            }
            _ => break,
        }
    }
    base.extend(segments);
    Some(base.join("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        expand(text, &mut Vec::new(), &mut out);
        out
    }

    #[test]
    fn braces_are_expanded_into_every_path() {
        assert_eq!(
            expanded("crate::a::{b, c::{d, self}, e::F as G};"),
            ["crate::a::b", "crate::a::c::d", "crate::a::c::self", "crate::a::e::F"]
        );
        assert_eq!(expanded("crate::a::b::c(x)"), ["crate::a::b::c"]);
        assert_eq!(expanded("crate::{\n    a::b,\n    c,\n};"), ["crate::a::b", "crate::c"]);
    }

    #[test]
    fn relative_paths_resolve_against_their_module() {
        assert_eq!(absolute("crate::a::b", "super::c::D").as_deref(), Some("crate::a::c::D"));
        assert_eq!(absolute("crate::a::b", "super::super::x").as_deref(), Some("crate::x"));
        assert_eq!(absolute("crate::a", "self::child::X").as_deref(), Some("crate::a::child::X"));
        assert_eq!(absolute("crate::a", "child::X").as_deref(), Some("crate::a::child::X"));
        assert_eq!(absolute("crate::a", "crate::z").as_deref(), Some("crate::z"));
        assert_eq!(absolute("crate", "super::x"), None);
    }
}
