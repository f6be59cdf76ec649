//! Fault injection: "the next N requests matching METHOD PATH fail like this".
//!
//! The builder reads like the sentence a test means:
//! `Fault::on("POST", "/v1/customers").times(2).status(500)`. Matching is by method (`*` for
//! any) and by exact path or a prefix ending in `*`. Faults are checked before authentication,
//! since they stand for the network or Stripe itself misbehaving.
//!
//! By default a fault strikes *instead of* the request: nothing is carried out. With
//! [`Fault::after_success`] it strikes *after* it: the request is carried out in full (objects
//! stored, money moved, events emitted, the idempotency result remembered) and only the answer is
//! lost: a 500, a dropped connection, or an answer that comes too late for the client. That is the
//! failure a payment client must survive without charging twice (retry with the same
//! Idempotency-Key and get the first result back).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultEffect {
    /// Answer with this status and a Stripe-shaped error body.
    Error {
        /// HTTP status.
        status: u16,
        /// Stripe error `type` (`api_error`, `card_error`, …).
        error_type: String,
        /// Stripe error `code`, if any.
        code: Option<String>,
    },
    /// Wait this long, then answer normally.
    Latency {
        /// Milliseconds to wait.
        millis: u64,
    },
    /// Close the connection without answering.
    DropConnection,
}

/// A fault waiting for matching requests. Build with [`Fault::on`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method, or `*`.
    pub method: String,
    /// Exact path, or a prefix ending in `*`.
    pub path: String,
    /// How many more matching requests it affects.
    #[serde(default = "one")]
    pub times: u32,
    /// What it does.
    #[serde(default = "server_error")]
    pub effect: FaultEffect,
    /// Whether the request is carried out first and only its answer fails.
    #[serde(default)]
    pub after_success: bool,
}

/// A fault that matched a request: what it does, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Strike {
    /// What it does.
    pub effect: FaultEffect,
    /// After the request was carried out (else instead of it).
    pub after_success: bool,
}

impl Strike {
    /// How the request log describes it (`after_success: status 500`).
    pub fn describe(&self) -> String {
        let effect = match &self.effect {
            FaultEffect::Error { status, error_type, code: Some(code) } => {
                format!("status {status} {error_type} {code}")
            }
            FaultEffect::Error { status, error_type, code: None } => format!("status {status} {error_type}"),
            FaultEffect::Latency { millis } => format!("latency {millis} ms"),
            FaultEffect::DropConnection => "drop_connection".to_string(),
        };
        if self.after_success { format!("after_success: {effect}") } else { effect }
    }
}

fn one() -> u32 {
    1
}

fn server_error() -> FaultEffect {
    FaultEffect::Error { status: 500, error_type: "api_error".into(), code: None }
}

impl Fault {
    /// A fault on requests with this method (`*` for any) and path (exact, or prefix ending in `*`).
    /// By default it fails the next one request with a 500 `api_error`.
    pub fn on(method: &str, path: &str) -> Fault {
        Fault {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            times: 1,
            effect: server_error(),
            after_success: false,
        }
    }

    /// Affects the next `n` matching requests instead of one.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = n;
        self
    }

    /// Fails with this status and an `api_error` body.
    pub fn status(mut self, status: u16) -> Fault {
        self.effect = FaultEffect::Error { status, error_type: "api_error".into(), code: None };
        self
    }

    /// Fails with this status, Stripe error type and code (e.g. `402, "card_error", "card_declined"`).
    pub fn stripe_error(mut self, status: u16, error_type: &str, code: &str) -> Fault {
        self.effect = FaultEffect::Error { status, error_type: error_type.into(), code: Some(code.into()) };
        self
    }

    /// Delays the response by `delay`, then answers normally.
    pub fn latency(mut self, delay: Duration) -> Fault {
        self.effect = FaultEffect::Latency { millis: delay.as_millis() as u64 };
        self
    }

    /// Closes the connection without a response.
    pub fn drop_connection(mut self) -> Fault {
        self.effect = FaultEffect::DropConnection;
        self
    }

    /// Carries the request out in full first, then fails only the answer with the effect chosen
    /// next: `.after_success().status(500)`, `.after_success().drop_connection()`,
    /// `.after_success().latency(d)` (the answer comes after `d`, when the client may have given up).
    pub fn after_success(mut self) -> Fault {
        self.after_success = true;
        self
    }

    /// Holds the answer for an hour: the client times out (with [`Fault::after_success`], after the
    /// request was carried out).
    pub fn hang(self) -> Fault {
        self.latency(Duration::from_secs(3_600))
    }

    /// Whether this fault applies to a request.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_matches = self.method == "*" || self.method.eq_ignore_ascii_case(method);
        let path_matches = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        };
        self.times > 0 && method_matches && path_matches
    }
}

impl FaultEffect {
    /// The error an `Error` effect answers with.
    pub fn to_error(&self) -> Option<ApiError> {
        match self {
            FaultEffect::Error { status, error_type, code } => Some(ApiError::Injected {
                status: *status,
                kind: error_type.clone(),
                code: code.clone(),
                message: match code {
                    Some(code) => format!("Injected fault: {code}."),
                    None => "An error occurred with our connection to Stripe. (injected fault)".to_string(),
                },
            }),
            _ => None,
        }
    }
}

/// Takes one use of the first fault matching the request, if any.
pub fn take_matching(faults: &mut Vec<Fault>, method: &str, path: &str) -> Option<Strike> {
    let index = faults.iter().position(|fault| fault.matches(method, path))?;
    let fault = &mut faults[index];
    fault.times -= 1;
    let strike = Strike { effect: fault.effect.clone(), after_success: fault.after_success };
    if fault.times == 0 {
        faults.remove(index);
    }
    Some(strike)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_fault_matches_paths_below_it() {
        let fault = Fault::on("*", "/v1/customers/*");
        assert!(fault.matches("GET", "/v1/customers/cus_1"));
        assert!(!fault.matches("GET", "/v1/customers"));
    }

    #[test]
    fn a_fault_is_used_up_after_its_times() {
        let mut faults = vec![Fault::on("POST", "/v1/customers").times(2).after_success().status(503)];
        assert_eq!(
            take_matching(&mut faults, "POST", "/v1/customers").map(|s| s.describe()).as_deref(),
            Some("after_success: status 503 api_error")
        );
        assert!(take_matching(&mut faults, "POST", "/v1/customers").is_some());
        assert!(take_matching(&mut faults, "POST", "/v1/customers").is_none());
    }
}
