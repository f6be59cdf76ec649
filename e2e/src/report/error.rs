//! The one error type of the report sinks: writing the JUnit file and pushing to a Pushgateway.
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

    #[error(
        "{set} is set but {missing} is not: set both PUSHGATEWAY_USER and PUSHGATEWAY_PASSWORD for basic auth, or neither"
    )]
    PartialCredentials { set: &'static str, missing: &'static str },

    #[error("{url:?} is not a Pushgateway URL ({reason}): pass a base URL such as http://localhost:9091")]
    InvalidUrl { url: String, reason: String },

    #[error(
        "could not reach the Pushgateway at {url} ({detail}): check that it is running and that --pushgateway points at it"
    )]
    Unreachable { url: String, detail: String },

    #[error(
        "the Pushgateway at {url} did not answer within {timeout:?}: check that it is healthy and reachable from this machine"
    )]
    Timeout { url: String, timeout: std::time::Duration },

    #[error(
        "the Pushgateway refused the credentials: set PUSHGATEWAY_USER and PUSHGATEWAY_PASSWORD (HTTP 401 from {url})"
    )]
    Unauthorized { url: String },

    #[error("the Pushgateway at {url} rejected the push with HTTP {status}: {first_line}")]
    Rejected { url: String, status: u16, first_line: String },

    #[error("could not build the HTTP client for the Pushgateway: {0}")]
    HttpClient(#[source] reqwest::Error),
}
