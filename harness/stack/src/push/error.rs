//! Why a push (or a delete) did not land. Each message says what went wrong and what to do, because the person
//! reading it is usually looking at a CI log or a load run's output, not at this code.

use std::time::Duration;

/// Why the Pushgateway did not take a push or a delete.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "{url:?} is not a Pushgateway URL ({reason}): pass a base URL such as http://localhost:9091 (a path prefix \
         is fine, a query or fragment is not)"
    )]
    InvalidUrl { url: String, reason: String },

    #[error(
        "{set} is set but {missing} is not: set both PUSHGATEWAY_USER and PUSHGATEWAY_PASSWORD for basic auth, or \
         neither"
    )]
    PartialCredentials { set: &'static str, missing: &'static str },

    #[error("could not build the HTTP client for the Pushgateway: {0}")]
    HttpClient(#[source] reqwest::Error),

    #[error("could not encode the metrics in the Prometheus text format (a custom metric's encoder failed)")]
    Encode(#[source] std::fmt::Error),

    #[error(
        "could not reach the Pushgateway at {url}{} ({detail}): check that it is running and that the URL points \
         at it",
        after(*.attempts)
    )]
    Unreachable { url: String, detail: String, attempts: u32 },

    #[error(
        "the Pushgateway at {url} did not answer within {timeout:?}{}: check that it is healthy and reachable from \
         this machine",
        after(*.attempts)
    )]
    Timeout { url: String, timeout: Duration, attempts: u32 },

    #[error(
        "the Pushgateway refused the credentials: set PUSHGATEWAY_USER and PUSHGATEWAY_PASSWORD to a user its \
         web config allows (HTTP 401 from {url})"
    )]
    Unauthorized { url: String },

    #[error("the Pushgateway at {url} rejected the request with HTTP {status}{}: {first_line}", after(*.attempts))]
    Rejected { url: String, status: u16, first_line: String, attempts: u32 },
}

impl PushError {
    /// Whether another attempt may succeed: the gateway was unreachable, slow, or failed on its side (5xx). A 4xx
    /// says the request itself is wrong, and sending it again changes nothing.
    pub fn is_transient(&self) -> bool {
        match self {
            PushError::Unreachable { .. } | PushError::Timeout { .. } => true,
            PushError::Rejected { status, .. } => *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn with_attempts(mut self, made: u32) -> Self {
        if let PushError::Unreachable { attempts, .. }
        | PushError::Timeout { attempts, .. }
        | PushError::Rejected { attempts, .. } = &mut self
        {
            *attempts = made;
        }
        self
    }
}

fn after(attempts: u32) -> String {
    if attempts > 1 { format!(" after {attempts} attempts") } else { String::new() }
}
