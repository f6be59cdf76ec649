//! The embedded target: the whole stack (a PostgreSQL cluster of its own, the Stripe and e-mail
//! fakes, the service) started for one run and stopped afterwards.
//!
//! By default the service is the release `billing-service` binary in a child process, so the
//! figures are about the build that ships and the tool does not share a runtime with it. Abuse
//! limits are turned off or set far out of reach (a load run is not an abuse), except in the
//! credential variant that verifies the limit, where they are set to the values it checks.

use std::sync::{Arc, Mutex};

use billing_stack::{ServiceBinary, ServiceRun, Stack, StackOptions};

use crate::cli::ServiceMode;
use crate::error::LoadError;

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

/// The service's environment for a load run: limits off, or at `limit` for the variant.
pub fn service_env(limit: Option<CredentialLimit>) -> Vec<(String, String)> {
    let (per_minute, burst) = limit.map_or((OUT_OF_REACH, OUT_OF_REACH), |limit| (limit.per_minute, limit.burst));
    [
        // Signups per client IP: off (every load signup comes from 127.0.0.1).
        ("SIGNUP_RATE_PER_MINUTE", "0".to_string()),
        ("CREDENTIAL_RATE_PER_MINUTE", per_minute.to_string()),
        ("CREDENTIAL_BURST", burst.to_string()),
        // Per customer as well as per key: each key of the pool is a customer of its own, so
        // the per-key figures bound both.
        ("CREDENTIAL_CUSTOMER_RATE_PER_MINUTE", per_minute.to_string()),
        ("CREDENTIAL_CUSTOMER_BURST", burst.to_string()),
        ("API_KEY_CREATE_RATE_PER_HOUR", OUT_OF_REACH.to_string()),
        ("DB_MAX_CONNECTIONS", "32".to_string()),
        ("LOG_FORMAT", "json".to_string()),
        // Per-request info logs cost the service more than some requests do.
        ("RUST_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

pub async fn start(mode: ServiceMode, limit: Option<CredentialLimit>) -> Result<Embedded, LoadError> {
    let service = match mode {
        ServiceMode::InProcess => ServiceRun::InProcess,
        ServiceMode::Release | ServiceMode::Debug => {
            let profile = if mode == ServiceMode::Release {
                billing_stack::Profile::Release
            } else {
                billing_stack::Profile::Debug
            };
            let mut binary = ServiceBinary::build(profile)
                .await
                .map_err(|err| LoadError::setup("building the billing-service binary", err))?;
            binary.env.extend(service_env(limit));
            ServiceRun::Process(binary)
        }
    };
    let signing_key = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&signing_key);
    let options = StackOptions {
        configure: Box::new(move |config| {
            let (per_minute, burst) =
                limit.map_or((OUT_OF_REACH, OUT_OF_REACH), |limit| (limit.per_minute, limit.burst));
            config.credential_rate_per_minute = per_minute;
            config.credential_burst = burst;
            config.db_max_connections = 32;
            *seen.lock().expect("not poisoned") = config.credential_signing_key.clone();
        }),
        service,
        ..Default::default()
    };
    let stack =
        Stack::start_owned(options).await.map_err(|err| LoadError::setup("starting the embedded stack", err))?;
    let signing_key = signing_key.lock().expect("not poisoned").take().map(String::into_bytes);
    Ok(Embedded { stack, signing_key })
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
    fn load_runs_turn_abuse_limits_off_unless_verifying_them() {
        let env: std::collections::HashMap<_, _> = service_env(None).into_iter().collect();
        assert_eq!(env["SIGNUP_RATE_PER_MINUTE"], "0");
        assert_eq!(env["CREDENTIAL_RATE_PER_MINUTE"], OUT_OF_REACH.to_string());
        assert_eq!(env["CREDENTIAL_CUSTOMER_RATE_PER_MINUTE"], OUT_OF_REACH.to_string());
        let env: std::collections::HashMap<_, _> =
            service_env(Some(CredentialLimit { per_minute: 60, burst: 10 })).into_iter().collect();
        assert_eq!(env["CREDENTIAL_RATE_PER_MINUTE"], "60");
        assert_eq!(env["CREDENTIAL_BURST"], "10");
        assert_eq!(env["CREDENTIAL_CUSTOMER_RATE_PER_MINUTE"], "60");
    }
}
