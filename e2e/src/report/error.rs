//! The error type of the JUnit report sink (a push fails with `billing_stack::push::PushError`).
//!
//! Each message says what went wrong and what to do about it, because the person reading it is
//! usually looking at a CI log, not at this code.

use std::path::PathBuf;

/// Why a run's results could not be written or pushed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "could not write the JUnit report to {path}: {source}; check that the directory is writable or pass another --junit path"
    )]
    WriteJunit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
