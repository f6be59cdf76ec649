//! The long-function rule's second half. Clippy's `too_many_lines` (threshold 80 in the
//! workspace's `clippy.toml`, switched on in its `[workspace.lints]`) refuses a function over 80
//! lines of code; one that is right to be long says so with `#[expect(clippy::too_many_lines)]`.
//! This scan holds that exception to the rule's terms: the function's `///` doc comment must say
//! why it is long (it contains the word "long"), the attribute must sit on a function (not on a
//! module, an impl or the crate, where it would wave through everything below), and `allow` is
//! refused, since an `expect` that no longer fires fails the build and so is removed in time.

use std::path::Path;

use crate::lexer::code_only;

/// One `too_many_lines` exception that breaks the rule's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexplainedLength {
    /// The file.
    pub file: std::path::PathBuf,
    /// The attribute's line, from 1.
    pub line: usize,
    /// What is wrong and how to mend it.
    pub problem: String,
}

const LINT: &str = "clippy::too_many_lines";

/// The exceptions to the long-function rule in one file's text that break its terms.
pub fn unexplained_lengths(file: &Path, text: &str) -> Vec<UnexplainedLength> {
    let code = code_only(text);
    let code_lines: Vec<&str> = code.lines().collect();
    let text_lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (number, line) in code_lines.iter().enumerate() {
        let attribute = line.trim();
        if !attribute.contains(LINT) || !attribute.starts_with("#") {
            continue;
        }
        let mut problem = |problem: String| {
            found.push(UnexplainedLength { file: file.to_path_buf(), line: number + 1, problem });
        };
        if attribute.starts_with("#!") {
            problem(format!(
                "`{attribute}` waives the rule for a whole module: put `#[expect({LINT})]` on each long function"
            ));
            continue;
        }
        if !attribute.starts_with("#[expect(") {
            problem(format!("`{attribute}`: use `#[expect({LINT})]`, which fails once the function is short again"));
            continue;
        }
        let item = code_lines[number + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty() && !l.starts_with("#["))
            .unwrap_or_default();
        if !declares_function(item) {
            problem(format!("`#[expect({LINT})]` is on `{item}`: put it on the long function itself"));
            continue;
        }
        let doc: String = text_lines[..number]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("///") || l.starts_with("#["))
            .filter(|l| l.starts_with("///"))
            .map(str::to_lowercase)
            .collect();
        if !doc.contains("long") {
            problem(format!("`{item}` is long by exception: say in its `///` doc comment why it is long"));
        }
    }
    found
}

/// Whether a line starts a function (after its visibility and qualifiers).
fn declares_function(line: &str) -> bool {
    let mut words = line.split_whitespace();
    words
        .find(|w| !w.starts_with("pub") && !matches!(*w, "async" | "const" | "unsafe" | "extern" | "\"C\"" | "default"))
        .is_some_and(|w| w == "fn")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        unexplained_lengths(Path::new("x.rs"), text).into_iter().map(|p| p.problem).collect()
    }

    #[test]
    fn a_long_function_whose_doc_says_why_passes() {
        let text = "/// Runs it.\n///\n/// Long because every step must be in order.\n#[expect(clippy::too_many_lines)]\npub async fn run() {}\n";
        assert_eq!(problems(text), Vec::<String>::new());
    }

    #[test]
    fn a_long_function_without_a_reason_is_named() {
        let text = "/// Runs it.\n#[expect(clippy::too_many_lines)]\nfn run() {}\n";
        let found = problems(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("fn run()"), "{found:?}");
    }

    #[test]
    fn allow_and_module_wide_waivers_are_refused() {
        assert_eq!(problems("/// Long, sorry.\n#[allow(clippy::too_many_lines)]\nfn run() {}\n").len(), 1);
        assert_eq!(problems("#![allow(clippy::too_many_lines)]\n").len(), 1);
        assert_eq!(problems("/// Long.\n#[expect(clippy::too_many_lines)]\nimpl X {}\n").len(), 1);
    }

    #[test]
    fn mentions_in_comments_and_strings_are_not_attributes() {
        assert_eq!(
            problems("// #[allow(clippy::too_many_lines)]\nlet s = \"#[allow(clippy::too_many_lines)]\";\n").len(),
            0
        );
    }
}
