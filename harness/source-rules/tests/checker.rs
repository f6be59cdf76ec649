//! The checker on small made-up crates: each rule fails where it should and passes where it should.

use std::path::Path;

use billing_source_rules::check_crate;

/// Writes `files` (path under the crate, text) into a fresh crate folder.
fn crate_of(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn circle_sizes(dir: &Path) -> Vec<usize> {
    check_crate(dir).unwrap().circles.iter().map(|c| c.len()).collect()
}

#[test]
fn a_loop_of_four_files_through_use_paths_is_one_circle_of_four() {
    let dir = crate_of(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\n"),
        ("src/a.rs", "use crate::b::B;\npub struct A;\n"),
        ("src/b.rs", "use crate::{c::C, x};\npub struct B;\n"),
        ("src/c.rs", "pub fn c() { crate::d::d(); }\npub struct C;\n"),
        ("src/d.rs", "use super::a::A;\npub fn d() {}\n"),
    ]);
    let report = check_crate(dir.path()).unwrap();
    assert_eq!(report.files, 5);
    assert_eq!(circle_sizes(dir.path()), [4]);
    let text = report.circles[0].display(dir.path()).to_string();
    assert!(text.contains("src/d.rs -> src/a.rs: crate::a::A"), "{text}");
}

#[test]
fn one_way_imports_make_no_circle() {
    let dir = crate_of(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\npub use a::A;\n"),
        ("src/a.rs", "use crate::b::B;\npub struct A(B);\n"),
        ("src/b.rs", "pub struct B;\n"),
    ]);
    assert_eq!(circle_sizes(dir.path()), Vec::<usize>::new());
}

#[test]
fn naming_an_item_through_a_re_export_imports_the_file_that_re_exports_it() {
    // lib.rs re-exports `a::A`; `b` takes it from there; lib.rs also re-exports `b`.
    let dir = crate_of(&[
        ("src/lib.rs", "mod a;\nmod b;\npub use a::A;\npub use b::B;\n"),
        ("src/a.rs", "pub struct A;\n"),
        ("src/b.rs", "use crate::A;\npub struct B(A);\n"),
    ]);
    let report = check_crate(dir.path()).unwrap();
    assert_eq!(circle_sizes(dir.path()), [2]);
    let files: Vec<String> =
        report.circles[0].files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(files, ["b.rs", "lib.rs"]);
}

#[test]
fn parent_and_child_modules_in_both_layouts_and_relative_paths_are_followed() {
    let dir = crate_of(&[
        ("src/lib.rs", "pub mod billing;\npub mod fixes;\n"),
        ("src/billing/mod.rs", "pub mod charges;\npub fn router() { charges::charge(); }\n"),
        ("src/billing/charges.rs", "pub fn charge() { crate::fixes::fix(); }\n"),
        ("src/fixes.rs", "mod record;\npub fn fix() { self::record::r(); }\n"),
        ("src/fixes/record.rs", "pub fn r() { super::super::billing::router(); }\n"),
    ]);
    assert_eq!(circle_sizes(dir.path()), [4]);
}

#[test]
fn comments_strings_and_test_modules_import_nothing() {
    let dir = crate_of(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        ("src/a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "src/b.rs",
            "//! See [`crate::a::A`].\npub struct B;\nconst S: &str = \"crate::a::A\";\n/* crate::a */\n\
             #[cfg(test)]\nmod tests {\n    use crate::a::A;\n}\n#[cfg(test)]\nmod more;\n",
        ),
    ]);
    assert_eq!(circle_sizes(dir.path()), Vec::<usize>::new());
}

#[test]
fn an_inline_module_is_a_module_of_the_same_file() {
    let dir = crate_of(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        ("src/a.rs", "pub mod inner {\n    pub fn f() { super::super::b::g(); }\n}\n"),
        ("src/b.rs", "pub fn g() {}\n"),
    ]);
    let report = check_crate(dir.path()).unwrap();
    assert!(report.circles.is_empty());
    let graph_text = format!("{report:?}");
    assert!(graph_text.contains("files: 3"), "{graph_text}");
}

#[test]
fn binaries_are_crates_of_their_own() {
    // `crate::run` in the binary's `cli` module is the binary's root, not the library's.
    let dir = crate_of(&[
        ("src/lib.rs", "pub mod a;\npub fn run() {}\n"),
        ("src/a.rs", "pub fn a() { crate::run(); }\n"),
        ("src/main.rs", "mod cli;\nfn run() {}\nfn main() { cli::go(); }\n"),
        ("src/cli.rs", "pub fn go() { crate::run(); }\n"),
    ]);
    let report = check_crate(dir.path()).unwrap();
    assert_eq!(report.files, 4);
    assert_eq!(report.circles.len(), 1, "{report:?}");
    let files: Vec<String> =
        report.circles[0].files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(files, ["cli.rs", "main.rs"]);
}

#[test]
fn a_missing_module_file_is_an_error_that_names_it() {
    let dir = crate_of(&[("src/lib.rs", "mod gone;\n")]);
    let error = check_crate(dir.path()).unwrap_err().to_string();
    assert!(error.contains("gone") && error.contains("has no file"), "{error}");
}

#[test]
fn long_function_exceptions_without_a_reason_are_found_in_tests_too() {
    let dir = crate_of(&[
        ("src/lib.rs", "/// Long because it must be.\n#[expect(clippy::too_many_lines)]\npub fn fine() {}\n"),
        ("tests/journey.rs", "#[expect(clippy::too_many_lines)]\n#[test]\nfn unexplained() {}\n"),
    ]);
    let found = check_crate(dir.path()).unwrap().unexplained_lengths;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].file.ends_with("tests/journey.rs") && found[0].line == 1, "{found:?}");
}

#[test]
fn each_file_a_cfg_can_choose_for_a_module_is_read() {
    let dir = crate_of(&[
        (
            "src/lib.rs",
            "mod server;\n#[cfg(feature = \"docker\")]\nmod docker;\n#[cfg(not(feature = \"docker\"))]\n#[path = \"docker_off.rs\"]\nmod docker;\n",
        ),
        ("src/server.rs", "use crate::docker::Container;\npub struct Server;\n"),
        ("src/docker.rs", "pub struct Container;\n"),
        ("src/docker_off.rs", "pub struct Container(crate::server::Server);\n"),
    ]);
    let report = check_crate(dir.path()).unwrap();
    assert_eq!(report.files, 4);
    let files: Vec<Vec<String>> = report
        .circles
        .iter()
        .map(|c| c.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into()).collect())
        .collect();
    assert_eq!(files, [["docker_off.rs", "server.rs"]]);
}
