//! The source rules on every crate of the workspace, as CI runs them: a crate added to the
//! workspace's `members` is checked without a line here.

use std::path::{Path, PathBuf};

use billing_source_rules::{MOST_FILES_IN_A_CIRCLE, check_crate};

/// Crates held to another limit than [`MOST_FILES_IN_A_CIRCLE`]: (folder, the most files a circle
/// of theirs may hold, why). A looser limit is a debt with a date: the test fails when the crate
/// does better than its limit, so the limit only ever comes down.
const OTHER_LIMITS: &[(&str, usize, &str)] = &[
    ("fakes", 1, "the fake is an acyclic tower: no circle at all"),
    ("harness/source-rules", 1, "the checker itself: lexer, modules, imports, circles, one way"),
];

/// Crates whose `Cargo.toml` does not inherit the workspace's lints yet, and why. Each is a debt
/// with a date: the test fails once the crate inherits them, so the entry is removed.
const LINTS_NOT_YET_INHERITED: &[(&str, &str)] = &[];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn members() -> Vec<String> {
    let manifest: toml::Table = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap().parse().unwrap();
    manifest["workspace"]["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect()
}

#[test]
fn no_crate_has_an_import_circle_of_more_than_three_files() {
    let workspace = workspace();
    let members = members();
    assert!(members.len() >= 6, "the workspace's members were not read: {members:?}");
    let mut broken = Vec::new();
    for member in &members {
        let report = check_crate(&workspace.join(member)).unwrap_or_else(|error| panic!("{member}: {error}"));
        assert!(report.files >= 5, "{member}: the scan found only {} files", report.files);
        let (limit, why) = OTHER_LIMITS
            .iter()
            .find(|(name, ..)| name == member)
            .map_or((MOST_FILES_IN_A_CIRCLE, "the workspace's rule"), |(_, limit, why)| (*limit, *why));
        let largest = report.largest_circle();
        println!("{member}: {} files, largest circle {largest} (limit {limit}: {why})", report.files);
        for circle in &report.circles {
            print!("  {}", circle.display(&workspace));
        }
        if largest > limit {
            let circles: Vec<String> =
                report.circles.iter().filter(|c| c.len() > limit).map(|c| c.display(&workspace).to_string()).collect();
            broken.push(format!(
                "{member}: the most files a circle may hold is {limit} ({why}); move what two files share a level \
                 down, or import it from where it lives:\n{}",
                circles.join("")
            ));
        } else if limit > MOST_FILES_IN_A_CIRCLE && largest < limit {
            broken.push(format!(
                "{member}: its largest circle is down to {largest} files: lower its limit in OTHER_LIMITS to {}",
                largest.max(MOST_FILES_IN_A_CIRCLE)
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn every_long_function_says_why_it_is_long() {
    let workspace = workspace();
    let mut unexplained = Vec::new();
    for member in members() {
        let report = check_crate(&workspace.join(&member)).unwrap();
        for found in report.unexplained_lengths {
            let file = found.file.strip_prefix(&workspace).unwrap_or(&found.file).display().to_string();
            unexplained.push(format!("{file}:{}: {}", found.line, found.problem));
        }
    }
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}

#[test]
fn the_long_function_lint_is_on_at_80_lines_for_every_crate() {
    let workspace = workspace();
    let clippy: toml::Table = std::fs::read_to_string(workspace.join("clippy.toml")).unwrap().parse().unwrap();
    assert_eq!(clippy.get("too-many-lines-threshold").and_then(toml::Value::as_integer), Some(80), "clippy.toml");
    let root: toml::Table = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap().parse().unwrap();
    let level = root["workspace"].get("lints").and_then(|l| l.get("clippy")).and_then(|c| c.get("too_many_lines"));
    assert!(
        matches!(level.and_then(toml::Value::as_str), Some("warn" | "deny")),
        "the root Cargo.toml's [workspace.lints.clippy] must switch on too_many_lines (it is pedantic): {level:?}"
    );
    for member in members() {
        let manifest: toml::Table =
            std::fs::read_to_string(workspace.join(&member).join("Cargo.toml")).unwrap().parse().unwrap();
        let inherits = manifest.get("lints").and_then(|l| l.get("workspace")).and_then(toml::Value::as_bool);
        match LINTS_NOT_YET_INHERITED.iter().find(|(name, _)| *name == member) {
            None => assert_eq!(inherits, Some(true), "{member}/Cargo.toml needs `[lints] workspace = true`"),
            Some((_, why)) => assert_ne!(
                inherits,
                Some(true),
                "{member} inherits the workspace's lints now: remove it from LINTS_NOT_YET_INHERITED ({why})"
            ),
        }
    }
}
