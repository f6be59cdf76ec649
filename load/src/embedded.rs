//! The embedded target: the whole stack (a PostgreSQL cluster of its own, the Stripe and e-mail
//! fakes, the service) started for one run and stopped afterwards.
//!
//! By default the service is the release `billing-service` binary in a child process, so the
//! figures are about the build that ships and the tool does not share a runtime with it. Abuse
//! limits are turned off or set far out of reach (a load run is not an abuse), except in the
//! credential variant that verifies the limit, where they are set to the values it checks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use billing_service::Config;
use billing_stack::{ServiceBinary, ServiceRun, Stack, StackOptions};
use clap::ValueEnum;

use crate::error::LoadError;

/// Where the embedded stack's service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceMode {
    /// The release `billing-service` binary as a child process (built if stale): what the
    /// figures are about.
    Release,
    /// The debug binary as a child process (quicker to build).
    Debug,
    /// On the load tool's own runtime (no binary to build; the tool and the service share CPU).
    InProcess,
}

/// A rate no load run reaches.
const OUT_OF_REACH: u32 = 1_000_000_000;

/// The rate limits of the credential variant that verifies them: per minute and burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialLimit {
    pub per_minute: u32,
    pub burst: u32,
}

impl CredentialLimit {
    /// `PER_MINUTE/BURST`, e.g. `60/10`.
    pub fn parse(text: &str) -> Result<CredentialLimit, LoadError> {
        let bad =
            || LoadError::Usage(format!("--verify-rate-limit {text:?}: write it as PER_MINUTE/BURST, e.g. 60/10"));
        let (per_minute, burst) = text.split_once('/').ok_or_else(bad)?;
        let per_minute: u32 = per_minute.trim().parse().map_err(|_| bad())?;
        let burst: u32 = burst.trim().parse().map_err(|_| bad())?;
        if per_minute == 0 || burst == 0 {
            return Err(bad());
        }
        Ok(CredentialLimit { per_minute, burst })
    }
}

/// A started embedded stack and what the run needs to know about it.
pub struct Embedded {
    pub stack: Stack,
    /// The key the service signs credentials with, to verify them.
    pub signing_key: Option<Vec<u8>>,
}

/// The service's settings for a load run: abuse limits off, or the credential limits at
/// `limit` for the variant that verifies them.
pub fn configure_for_load(config: &mut Config, limit: Option<CredentialLimit>) {
    let (per_minute, burst) = limit.map_or((OUT_OF_REACH, OUT_OF_REACH), |limit| (limit.per_minute, limit.burst));
    // Signups per client IP: off (every load signup comes from 127.0.0.1).
    config.signup.rate_per_minute = 0;
    config.credentials.rate_per_minute = per_minute;
    config.credentials.burst = burst;
    // Per customer as well as per key: each key of the pool is a customer of its own, so the
    // per-key figures bound both.
    config.credentials.customer_rate_per_minute = per_minute;
    config.credentials.customer_burst = burst;
    config.api_keys.create_rate_per_hour = OUT_OF_REACH;
    config.database.max_connections = 32;
    config.log.format = "json".into();
}

/// Which service the embedded stack runs, and with what extra environment.
#[derive(Debug, Clone)]
pub struct EmbeddedService {
    pub binary: ServiceChoice,
    /// Set in the service's environment after the stack's own settings, so these win
    /// (`load compare --base-env/--candidate-env`).
    pub env: Vec<(String, String)>,
}

/// Where the embedded service comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceChoice {
    /// This checkout's binary, built by cargo if stale (or `BILLING_SERVICE_BIN`).
    Build(ServiceMode),
    /// A `billing-service` binary built elsewhere (another commit, another configuration).
    Binary(PathBuf),
}

impl EmbeddedService {
    pub fn of_mode(mode: ServiceMode) -> EmbeddedService {
        EmbeddedService { binary: ServiceChoice::Build(mode), env: Vec::new() }
    }
}

pub async fn start(service: &EmbeddedService, limit: Option<CredentialLimit>) -> Result<Embedded, LoadError> {
    let run = match &service.binary {
        ServiceChoice::Build(ServiceMode::InProcess) => {
            if !service.env.is_empty() {
                return Err(LoadError::Usage(
                    "service environment variables need the service as a process, not --service in-process".into(),
                ));
            }
            ServiceRun::InProcess
        }
        ServiceChoice::Build(mode) => {
            let profile = if *mode == ServiceMode::Release {
                billing_stack::Profile::Release
            } else {
                billing_stack::Profile::Debug
            };
            let binary = ServiceBinary::build(profile)
                .await
                .map_err(|err| LoadError::setup("building the billing-service binary", err))?;
            ServiceRun::Process(with_env(binary, &service.env))
        }
        ServiceChoice::Binary(path) => {
            if !path.is_file() {
                return Err(LoadError::Usage(format!(
                    "{} is not a billing-service binary: build one with `cargo build --release --bin billing-service` (scripts/load-compare builds a git ref's)",
                    path.display()
                )));
            }
            ServiceRun::Process(with_env(ServiceBinary { path: path.clone(), env: Vec::new() }, &service.env))
        }
    };
    let signing_key = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&signing_key);
    let options = StackOptions {
        configure: Box::new(move |config| {
            configure_for_load(config, limit);
            *seen.lock().expect("not poisoned") = config.credentials.signing_key.clone();
        }),
        service: run,
        ..Default::default()
    };
    let stack =
        Stack::start_owned(options).await.map_err(|err| LoadError::setup("starting the embedded stack", err))?;
    let signing_key = signing_key.lock().expect("not poisoned").take().map(String::into_bytes);
    Ok(Embedded { stack, signing_key })
}

/// The binary with the load run's environment: quiet logs, then what was asked for.
fn with_env(binary: ServiceBinary, env: &[(String, String)]) -> ServiceBinary {
    // Per-request info logs cost the service more than some requests do.
    let mut binary = binary.with_env("RUST_LOG", "warn");
    for (name, value) in env {
        binary = binary.with_env(name, value);
    }
    binary
}

/// `KEY=VALUE`, as `--base-env` and `--candidate-env` take it.
pub fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok((name.to_string(), value.to_string()))
        }
        _ => Err(format!("{text:?}: write it as NAME=VALUE, e.g. API_KEY_CACHE_TTL_MS=0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_is_written_per_minute_slash_burst() {
        assert_eq!(CredentialLimit::parse("60/10").unwrap(), CredentialLimit { per_minute: 60, burst: 10 });
        for bad in ["60", "a/b", "0/10", "60/0", ""] {
            assert!(CredentialLimit::parse(bad).unwrap_err().to_string().contains("60/10"), "{bad}");
        }
    }

    #[test]
    fn service_environment_is_name_equals_value() {
        assert_eq!(parse_env("A_B=1=2").unwrap(), ("A_B".into(), "1=2".into()));
        assert_eq!(parse_env("EMPTY=").unwrap(), ("EMPTY".into(), String::new()));
        for bad in ["=1", "NOVALUE", "A-B=1"] {
            assert!(parse_env(bad).unwrap_err().contains("NAME=VALUE"), "{bad}");
        }
    }

    #[test]
    fn load_runs_turn_abuse_limits_off_unless_verifying_them() {
        let mut config = Config::for_tests("postgres://x", "http://x");
        config.signup.rate_per_minute = 10;
        configure_for_load(&mut config, None);
        assert_eq!(config.signup.rate_per_minute, 0);
        assert_eq!(config.credentials.rate_per_minute, OUT_OF_REACH);
        assert_eq!(config.credentials.customer_rate_per_minute, OUT_OF_REACH);
        assert_eq!(config.api_keys.create_rate_per_hour, OUT_OF_REACH);
        configure_for_load(&mut config, Some(CredentialLimit { per_minute: 60, burst: 10 }));
        assert_eq!((config.credentials.rate_per_minute, config.credentials.burst), (60, 10));
        assert_eq!((config.credentials.customer_rate_per_minute, config.credentials.customer_burst), (60, 10));
    }
}
