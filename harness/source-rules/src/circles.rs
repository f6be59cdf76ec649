//! Import circles: the strongly connected parts of the import graph (Tarjan's algorithm). A
//! circle is a set of two or more files each of which reaches every other through imports; its
//! size is how many files must be read together to understand any one of them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::imports::ImportGraph;

/// Files that import each other in a loop, and the imports among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    /// The files, sorted.
    pub files: Vec<PathBuf>,
    /// The imports between files of the circle: importer, imported, the paths named.
    pub arrows: Vec<(PathBuf, PathBuf, Vec<String>)>,
}

impl Circle {
    /// How many files it holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Never true: a circle has at least two files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The circle with its paths shown relative to `base`.
    pub fn display<'a>(&'a self, base: &'a Path) -> impl fmt::Display + 'a {
        CircleDisplay { circle: self, base }
    }
}

struct CircleDisplay<'a> {
    circle: &'a Circle,
    base: &'a Path,
}

impl fmt::Display for CircleDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |path: &Path| path.strip_prefix(self.base).unwrap_or(path).display().to_string();
        writeln!(f, "a circle of {} files:", self.circle.len())?;
        for (from, to, paths) in &self.circle.arrows {
            writeln!(f, "  {} -> {}: {}", short(from), short(to), paths.join(", "))?;
        }
        Ok(())
    }
}

impl ImportGraph {
    /// Every circle of the graph, the largest first.
    pub fn circles(&self) -> Vec<Circle> {
        let mut search =
            Tarjan { graph: self, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
        for file in self.imports.keys() {
            if !search.index.contains_key(file) {
                search.visit(file);
            }
        }
        let mut circles: Vec<Circle> = search
            .found
            .into_iter()
            .filter(|files| files.len() > 1)
            .map(|files| self.circle_of(files.into_iter().cloned().collect()))
            .collect();
        circles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.files.cmp(&b.files)));
        circles
    }

    fn circle_of(&self, files: BTreeSet<PathBuf>) -> Circle {
        let mut arrows = Vec::new();
        for from in &files {
            for (to, paths) in self.imports.get(from).into_iter().flatten() {
                if files.contains(to) {
                    arrows.push((from.clone(), to.clone(), paths.iter().cloned().collect()));
                }
            }
        }
        Circle { files: files.into_iter().collect(), arrows }
    }
}

struct Tarjan<'g> {
    graph: &'g ImportGraph,
    index: BTreeMap<&'g PathBuf, usize>,
    low: BTreeMap<&'g PathBuf, usize>,
    stack: Vec<&'g PathBuf>,
    found: Vec<Vec<&'g PathBuf>>,
}

impl<'g> Tarjan<'g> {
    fn visit(&mut self, file: &'g PathBuf) {
        let number = self.index.len();
        self.index.insert(file, number);
        self.low.insert(file, number);
        self.stack.push(file);
        for next in self.graph.imports.get(file).into_iter().flat_map(BTreeMap::keys) {
            if !self.index.contains_key(next) {
                self.visit(next);
                let low = self.low[file].min(self.low[next]);
                self.low.insert(file, low);
            } else if self.stack.contains(&next) {
                let low = self.low[file].min(self.index[next]);
                self.low.insert(file, low);
            }
        }
        if self.low[file] == self.index[file] {
            let at = self.stack.iter().rposition(|f| *f == file).unwrap_or(0);
            self.found.push(self.stack.split_off(at));
        }
    }
}
