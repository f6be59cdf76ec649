//! The workspace's source rules, one checker for every crate (issue 18):
//!
//! 1. **No import circle of more than three files.** Files that import each other in a loop
//!    can only be understood together; a crate keeps its layers one-way (shared parts a level
//!    below, as stripe-mock's `param/form/` does), and a circle, where one is right, stays small.
//! 2. **No function over 80 lines unless its doc comment says why.** Clippy counts the lines
//!    (`too-many-lines-threshold = 80` in `clippy.toml`, the lint on in `[workspace.lints]`);
//!    [`unexplained_lengths`] holds the `#[expect(clippy::too_many_lines)]` exceptions to the
//!    rule's terms.
//!
//! `tests/workspace.rs` applies both to every member of the workspace (`scripts/test` runs it in
//! CI); [`check_crate`] is the entry point. The import scan is textual, not a compiler pass:
//! [`modules`] reads the module tree from `mod` declarations, [`imports`] resolves `crate::`,
//! `super::`, `self::` and child-module paths to files, and [`circles`] finds the strongly
//! connected parts. Tests (`tests/`, `#[cfg(test)]`) are left out: they only look inward.
//! Module map, bottom up: `lexer` → `modules` → `imports` → `circles`; `long_functions` uses
//! `lexer` only.

pub mod circles;
pub mod imports;
pub mod lexer;
pub mod long_functions;
pub mod modules;

use std::path::{Path, PathBuf};

use circles::Circle;
use imports::ImportGraph;
use long_functions::UnexplainedLength;
pub use long_functions::unexplained_lengths;
use modules::{ModuleTree, ReadError, target_roots};

/// The most files an import circle may hold.
pub const MOST_FILES_IN_A_CIRCLE: usize = 3;

/// What the rules found in one crate.
#[derive(Debug)]
pub struct CrateReport {
    /// The crate's folder.
    pub dir: PathBuf,
    /// How many source files its targets are made of.
    pub files: usize,
    /// Its import circles, the largest first.
    pub circles: Vec<Circle>,
    /// Its long-function exceptions that break the rule's terms.
    pub unexplained_lengths: Vec<UnexplainedLength>,
}

impl CrateReport {
    /// How many files its largest circle holds (1 when it has none: each file is its own).
    pub fn largest_circle(&self) -> usize {
        self.circles.first().map_or(1, Circle::len)
    }
}

/// Reads a crate's sources (`crate_dir/src`) and applies both rules.
pub fn check_crate(crate_dir: &Path) -> Result<CrateReport, ReadError> {
    let mut graph = ImportGraph::default();
    for root in target_roots(crate_dir) {
        graph.add_tree(&ModuleTree::read(&root)?);
    }
    let mut unexplained = Vec::new();
    for file in rust_files(crate_dir) {
        let text = std::fs::read_to_string(&file)
            .map_err(|error| ReadError { path: file.clone(), reason: error.to_string() })?;
        unexplained.extend(unexplained_lengths(&file, &text));
    }
    Ok(CrateReport {
        dir: crate_dir.to_path_buf(),
        files: graph.imports.len(),
        circles: graph.circles(),
        unexplained_lengths: unexplained,
    })
}

/// Every `.rs` file under `dir` (sources, tests, benches, examples: clippy lints them all), sorted;
/// build output and installed packages are skipped.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != "node_modules" && !name.to_string_lossy().starts_with('.') {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
