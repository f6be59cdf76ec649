//! A crate's module tree, read from its sources: starting at each target's root (`src/lib.rs`,
//! `src/main.rs`, `src/bin/*.rs`), every `mod name;` is followed to its file (`name.rs`,
//! `name/mod.rs`, or a `#[path]`), and every inline `mod name { … }` becomes a module of its own
//! in the same file. Items under `#[cfg(test)]` are left out: tests only look inward.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::lexer::{after_closing, blanked, code_only, is_ident, without_test_items};

/// One module: where it is and its code (comments, literals and test items blanked).
#[derive(Debug, Clone)]
pub struct Module {
    /// `crate`, `crate::billing`, `crate::billing::charges` …
    pub path: String,
    /// The file it is written in (an inline module shares its parent's).
    pub file: PathBuf,
    /// Its own code: for a file module, the file without its inline modules' bodies.
    pub code: String,
    /// The names of the modules it declares.
    pub children: Vec<String>,
}

/// One target's modules (a library, or a binary: each is a crate of its own for `crate::`).
#[derive(Debug, Default)]
pub struct ModuleTree {
    /// The modules by path. A path has more than one module where `#[cfg]` picks one of several
    /// files (`#[cfg(feature = "docker")] mod docker;` beside a `#[path]` stand-in): each counts.
    pub modules: BTreeMap<String, Vec<Module>>,
}

/// A source file that could not be read, or a `mod` whose file is missing.
#[derive(Debug)]
pub struct ReadError {
    /// The file, or the module's expected file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for ReadError {}

/// The roots of a crate's targets under `crate_dir/src`: the library, the main binary, and the
/// binaries under `src/bin` (a file, or a folder with a `main.rs`).
pub fn target_roots(crate_dir: &Path) -> Vec<PathBuf> {
    let src = crate_dir.join("src");
    let mut roots: Vec<PathBuf> =
        ["lib.rs", "main.rs"].iter().map(|name| src.join(name)).filter(|p| p.is_file()).collect();
    if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
        let mut bins: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter_map(|path| {
                if path.extension().is_some_and(|e| e == "rs") {
                    Some(path)
                } else {
                    Some(path.join("main.rs")).filter(|main| main.is_file())
                }
            })
            .collect();
        bins.sort();
        roots.extend(bins);
    }
    roots
}

impl ModuleTree {
    /// Reads the tree under one target root.
    pub fn read(root: &Path) -> Result<ModuleTree, ReadError> {
        let mut tree = ModuleTree::default();
        let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
        tree.read_file("crate".to_string(), root, dir)?;
        Ok(tree)
    }

    /// Reads `file` as module `path`, whose `mod name;` children live in `child_dir`.
    fn read_file(&mut self, path: String, file: &Path, child_dir: PathBuf) -> Result<(), ReadError> {
        let text = std::fs::read_to_string(file)
            .map_err(|error| ReadError { path: file.to_path_buf(), reason: error.to_string() })?;
        let code = without_test_items(&code_only(&text));
        self.add_module(path, file, code, &text, child_dir)
    }

    /// Adds one module whose code is `code` (from `file`, whose full text is `text`), and its children.
    fn add_module(
        &mut self,
        path: String,
        file: &Path,
        mut code: String,
        text: &str,
        child_dir: PathBuf,
    ) -> Result<(), ReadError> {
        let mut children = Vec::new();
        let mut pending_files = Vec::new();
        let mut inline = Vec::new();
        for declaration in mod_declarations(&code) {
            children.push(declaration.name.clone());
            let child_path = format!("{path}::{}", declaration.name);
            match declaration.body {
                Some(body) => {
                    // The inline module's code is the file's, blanked outside its body, so byte
                    // offsets still point into the file.
                    let mut child_code = blanked(&code[..body.start]);
                    child_code.push_str(&code[body.clone()]);
                    child_code.push_str(&blanked(&code[body.end..]));
                    inline.push((body, child_path, child_code, declaration.name));
                }
                None => {
                    let attribute_path = path_attribute(text, declaration.line_start);
                    let child_file = match attribute_path {
                        Some(relative) => file.parent().unwrap_or(Path::new(".")).join(relative),
                        None => {
                            let flat = child_dir.join(format!("{}.rs", declaration.name));
                            if flat.is_file() { flat } else { child_dir.join(&declaration.name).join("mod.rs") }
                        }
                    };
                    pending_files.push((child_path, child_file, declaration.name));
                }
            }
        }
        for (body, child_path, child_code, name) in inline {
            let blank = blanked(&code[body.clone()]);
            code.replace_range(body, &blank);
            self.add_module(child_path, file, child_code, text, child_dir.join(name))?;
        }
        let module = Module { path: path.clone(), file: file.to_path_buf(), code, children };
        self.modules.entry(path).or_default().push(module);
        for (child_path, child_file, name) in pending_files {
            let grandchild_dir = match child_file.file_name().and_then(|n| n.to_str()) {
                Some("mod.rs") => child_file.parent().unwrap_or(Path::new(".")).to_path_buf(),
                _ => child_file.with_extension(""),
            };
            if !child_file.is_file() {
                return Err(ReadError {
                    path: child_file,
                    reason: format!("`mod {name};` in {} has no file", file.display()),
                });
            }
            self.read_file(child_path, &child_file, grandchild_dir)?;
        }
        Ok(())
    }

    /// The module a path (`crate::a::b::Item`) lands in: its longest prefix that is a module
    /// (each of them, where `#[cfg]` chooses between files).
    pub fn owner_of(&self, path: &str) -> Option<&[Module]> {
        let mut prefix = path;
        loop {
            if let Some(modules) = self.modules.get(prefix) {
                return Some(modules);
            }
            prefix = &prefix[..prefix.rfind("::")?];
        }
    }
}

/// A `mod name;` or `mod name { … }` in a module's code.
struct ModDeclaration {
    name: String,
    /// Where the declaration's line starts (its attributes are on the lines above).
    line_start: usize,
    /// An inline module's body, between its braces.
    body: Option<std::ops::Range<usize>>,
}

/// The module declarations directly in `code` (not those inside an inline module's body).
fn mod_declarations(code: &str) -> Vec<ModDeclaration> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = code[at..].find("mod ") {
        let start = at + offset;
        at = start + 4;
        let line_start = code[..start].rfind('\n').map_or(0, |n| n + 1);
        if code[..start].ends_with(|c: char| is_ident(c) || c == ':' || c == '.')
            || !only_attributes_and_visibility(&code[line_start..start])
        {
            continue;
        }
        let rest = &code[at..];
        let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        let after = rest[name.len()..].trim_start();
        if name.is_empty() {
            continue;
        }
        if after.starts_with(';') {
            found.push(ModDeclaration { name, line_start, body: None });
        } else if after.starts_with('{') {
            let open = at + name.len() + (rest[name.len()..].len() - after.len());
            let close = after_closing(code, open);
            found.push(ModDeclaration { name, line_start, body: Some(open + 1..close - 1) });
            at = close;
        }
    }
    found
}

/// Whether what stands before `mod` on its line is nothing, attributes and a visibility
/// (`#[cfg(x)] pub(crate) mod y;`), so the `mod` declares a module.
fn only_attributes_and_visibility(prefix: &str) -> bool {
    let mut rest = prefix.trim();
    while rest.starts_with("#[") {
        rest = rest[after_closing(rest, 1)..].trim_start();
    }
    rest.is_empty() || rest == "pub" || (rest.starts_with("pub(") && rest.ends_with(')'))
}

/// The `#[path = "…"]` among the attribute lines right above `line_start` in `text`.
fn path_attribute(text: &str, line_start: usize) -> Option<String> {
    let above = &text[..line_start];
    for line in above.lines().rev() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("#[path") {
            return rest.split('"').nth(1).map(str::to_string);
        }
        if !line.starts_with("#[") && !line.starts_with("///") {
            return None;
        }
    }
    None
}
