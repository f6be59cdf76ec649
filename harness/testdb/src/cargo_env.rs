//! The variables `cargo run` and `cargo test` set for the package they run, which a command started from that process
//! must not inherit when it is cargo itself.
//!
//! Build scripts track some of them (ring's: `CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, …): a `cargo build` that
//! sees them rebuilds ring and everything above it, and the next build from a plain shell rebuilds it all again.
//! `with-shared-postgres` and `with-test-database`, run through `cargo run`, start cargo with them removed.

use std::ffi::OsString;

/// The names of the per-package variables in this process's environment (set by `cargo run` or `cargo test`).
pub fn per_package_cargo_variables() -> Vec<OsString> {
    std::env::vars_os().map(|(name, _)| name).filter(|name| is_per_package(&name.to_string_lossy())).collect()
}

fn is_per_package(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_"].iter().any(|prefix| name.starts_with(prefix))
        || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR", "LD_LIBRARY_PATH"]
            .contains(&name)
}

#[cfg(test)]
mod tests {
    use super::is_per_package;

    #[test]
    fn the_package_variables_go_and_the_rest_stay() {
        for gone in ["CARGO_PKG_NAME", "CARGO_MANIFEST_DIR", "CARGO_BIN_EXE_x", "OUT_DIR", "LD_LIBRARY_PATH"] {
            assert!(is_per_package(gone), "{gone}");
        }
        for kept in ["CARGO", "CARGO_HOME", "CARGO_TARGET_DIR", "PATH", "DATABASE_URL", "RUSTFLAGS"] {
            assert!(!is_per_package(kept), "{kept}");
        }
    }
}
