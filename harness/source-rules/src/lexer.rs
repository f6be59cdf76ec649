//! Rust source with everything that is not code blanked out: comments, and the contents of string
//! and char literals, become spaces (newlines are kept, and each character becomes as many spaces
//! as it has bytes, so lines and byte offsets still match the file).
//! The other scans can then look for `crate::`, `mod x;` and braces without being fooled by
//! a doc comment or a `"{"`.
//!
//! Hand-written rather than `syn`: the scans need tokens, not a syntax tree, and a parser crate
//! would be the only dependency of a crate every test build compiles.

/// `text` with comments and literal contents replaced by spaces, newlines kept.
pub fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = block_comment(&chars, i, &mut out);
        } else if c == '"' {
            out.push('"');
            i = string_body(&chars, i + 1, 0, &mut out);
        } else if !after_ident && let Some((hashes, quote)) = raw_string_start(&chars, i) {
            out.extend(&chars[i..=quote]);
            i = string_body(&chars, quote + 1, hashes, &mut out);
        } else if c == '\''
            && let Some(end) = char_literal_end(&chars, i)
        {
            out.push('\'');
            for &inner in &chars[i + 1..end] {
                blank(&mut out, inner);
            }
            out.push('\'');
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether `c` can be part of an identifier.
pub fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn blank(out: &mut String, c: char) {
    if c == '\n' {
        out.push('\n');
    } else {
        out.extend(std::iter::repeat_n(' ', c.len_utf8()));
    }
}

/// `text` blanked whole: spaces, newlines kept, byte offsets kept.
pub fn blanked(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        blank(&mut out, c);
    }
    out
}

/// Blanks a (nestable) `/* … */` comment starting at `start`; returns the index after it.
fn block_comment(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            out.push_str("  ");
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            out.push_str("  ");
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            blank(out, chars[i]);
            i += 1;
        }
    }
    i
}

/// `r"`, `r#"`, `br##"` …: the number of hashes and the index of the opening quote.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut at = i;
    if chars.get(at) == Some(&'b') || chars.get(at) == Some(&'c') {
        at += 1;
    }
    if chars.get(at) != Some(&'r') {
        return None;
    }
    at += 1;
    let hashes = chars[at..].iter().take_while(|c| **c == '#').count();
    (chars.get(at + hashes) == Some(&'"')).then_some((hashes, at + hashes))
}

/// Blanks a string's contents from `i` (just after the opening quote) through its closing quote
/// (escapes count only when `hashes` is 0, a raw string has none); returns the index after it.
fn string_body(chars: &[char], mut i: usize, hashes: usize, out: &mut String) -> usize {
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && hashes == 0 {
            blank(out, c);
            if let Some(&escaped) = chars.get(i + 1) {
                blank(out, escaped);
            }
            i += 2;
        } else if c == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            out.push('"');
            out.extend(std::iter::repeat_n('#', hashes));
            return i + 1 + hashes;
        } else {
            blank(out, c);
            i += 1;
        }
    }
    i
}

/// Where a char literal opened at `i` closes, or `None` for a lifetime or label (`'a`).
fn char_literal_end(chars: &[char], i: usize) -> Option<usize> {
    match chars.get(i + 1) {
        Some('\\') => (i + 2..chars.len()).find(|&k| chars[k] == '\''),
        Some(_) if chars.get(i + 2) == Some(&'\'') => Some(i + 2),
        _ => None,
    }
}

/// `code` without the items under a `#[cfg(test)]` attribute (test modules, test-only helpers):
/// they only look inward, and a `mod tests;` they declare is no part of the crate's layering.
/// The removed text is blanked, newlines kept.
pub fn without_test_items(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(found) = out[from..].find("#[cfg(test)]") {
        let start = from + found;
        let end = item_end(&out, start + "#[cfg(test)]".len());
        let blank = blanked(&out[start..end]);
        out.replace_range(start..end, &blank);
        from = start + blank.len();
    }
    out
}

/// The end of the item that starts at or after `from`: its first `;` outside any brackets, or
/// the brace that closes its first block, whichever comes first.
pub fn item_end(code: &str, from: usize) -> usize {
    let mut depth = 0usize;
    for (offset, c) in code[from..].char_indices() {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && c == '}' {
                    return from + offset + 1;
                }
            }
            ';' if depth == 0 => return from + offset + 1,
            _ => {}
        }
    }
    code.len()
}

/// The index just after the bracket that closes the one at `open` (`(`, `[` or `{`), or the end.
pub fn after_closing(code: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (offset, c) in code[open..].char_indices() {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return open + offset + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_literal_contents_are_blanked_and_lines_kept() {
        let text = "let a = \"crate::x {\"; // crate::y {\n/* crate::z\n { */ let b = '{';\nlet c = r#\"}\"#;";
        let code = code_only(text);
        assert_eq!(code.lines().count(), text.lines().count());
        assert!(!code.contains("crate::"), "{code}");
        assert!(!code.contains('{') && !code.contains('}'), "{code}");
        assert!(code.contains("let a") && code.contains("let b") && code.contains("let c"), "{code}");
    }

    #[test]
    fn lifetimes_and_escaped_quotes_do_not_open_literals() {
        let code = code_only("fn f<'a>(x: &'a str) -> char { let q = '\\''; let s = \"\\\"\"; x; '}' }");
        assert_eq!(code.matches('{').count(), 1, "{code}");
        assert_eq!(code.matches('}').count(), 1, "{code}");
    }

    #[test]
    fn test_items_are_removed_and_the_rest_kept() {
        let code =
            "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n#[cfg(test)]\nmod more;\nuse crate::c;\n";
        let kept = without_test_items(code);
        assert!(kept.contains("crate::a") && kept.contains("crate::c"), "{kept}");
        assert!(!kept.contains("crate::b") && !kept.contains("mod more"), "{kept}");
        assert_eq!(kept.lines().count(), code.lines().count());
    }
}
