//! Credential vending: `POST /api/v1/credentials/exchange` trades an API key for short-lived,
//! signed credentials, one per provider asked for (see [`token`] for their format).
//!
//! The rules: providers come from an allow-list (`CREDENTIAL_PROVIDERS`); a lifetime is
//! between `CREDENTIAL_MIN_TTL_SECS` and `CREDENTIAL_MAX_TTL_SECS` (900 s when not asked);
//! each API key is rate-limited, and so is each customer over all their keys, so more keys do
//! not buy more rate (see [`crate::rate_limit`], per instance); and a customer who can
//! neither spend credits nor be charged gets 402, with the way out.
//!
//! Revocation: a credential is verified with the signing key alone, offline, so one vended
//! before its API key was revoked stays valid until it expires. The ceiling bounds that:
//! `CREDENTIAL_MAX_TTL_SECS` is 900 s (15 minutes, the default lifetime) unless a deployment
//! sets it otherwise, not an hour. A revocation list was the other way; it was not taken,
//! because every provider would then have to ask the service (or keep a list in step with
//! it) on each use, and a credential would stop verifying whenever the service is away — the
//! coupling short-lived signed credentials exist to avoid. A deployment that needs a tighter
//! bound lowers the ceiling (vending is cheap: see the README's figures).
//!
//! This is the hottest path of the service, so a vending touches no database when the key is
//! in the auth cache ([`crate::api_keys::cache`]): the key, its customer and their billing
//! standing come from memory, the rate limit is in memory, and a credential is a signature
//! over its claims, not a stored row.

pub mod exchange;
pub mod token;

use crate::config::CredentialConfig;
use uuid::Uuid;

use crate::domain::CustomerId;
use crate::rate_limit::RateLimiter;
use token::SigningKey;

/// Lifetime of a credential when the request does not say (within the configured bounds).
pub const DEFAULT_TTL_SECS: u64 = 900;

/// The vending policy and its in-memory state, built once from the configuration.
pub struct CredentialVending {
    providers: Vec<String>,
    min_ttl_secs: u64,
    max_ttl_secs: u64,
    signing_key: SigningKey,
    limiter: RateLimiter<Uuid>,
    customer_limiter: RateLimiter<CustomerId>,
}

impl CredentialVending {
    /// Checks the credential settings; a missing signing key is replaced by a random one, with
    /// a warning.
    pub fn from_config(config: &CredentialConfig) -> Result<CredentialVending, String> {
        let providers: Vec<String> = config
            .providers
            .iter()
            .map(|provider| provider.trim().to_string())
            .filter(|provider| !provider.is_empty())
            .collect();
        if providers.is_empty() {
            return Err("CREDENTIAL_PROVIDERS is empty: list the providers to vend for, e.g. github,npm".into());
        }
        if let Some(bad) = providers.iter().find(|provider| !is_provider_name(provider)) {
            return Err(format!(
                "CREDENTIAL_PROVIDERS has `{bad}`: provider names are lowercase letters, digits, `-` and `_`"
            ));
        }
        if config.min_ttl_secs == 0 || config.min_ttl_secs > config.max_ttl_secs {
            return Err(format!(
                "CREDENTIAL_MIN_TTL_SECS ({}) must be at least 1 and at most CREDENTIAL_MAX_TTL_SECS ({})",
                config.min_ttl_secs, config.max_ttl_secs
            ));
        }
        let signing_key = match &config.signing_key {
            Some(raw) => SigningKey::parse(raw)?,
            None => {
                tracing::warn!(
                    "CREDENTIAL_SIGNING_KEY is not set: signing credentials with a random key of this process; \
                     they will not verify on other instances or after a restart"
                );
                SigningKey::random()
            }
        };
        Ok(CredentialVending {
            providers,
            min_ttl_secs: config.min_ttl_secs,
            max_ttl_secs: config.max_ttl_secs,
            signing_key,
            limiter: RateLimiter::new(config.rate_per_minute, config.burst),
            customer_limiter: RateLimiter::new(config.customer_rate_per_minute, config.customer_burst),
        })
    }

    /// The key credentials are signed with (a verifier needs the same).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    pub fn providers(&self) -> &[String] {
        &self.providers
    }

    pub fn ttl_bounds_secs(&self) -> (u64, u64) {
        (self.min_ttl_secs, self.max_ttl_secs)
    }

    pub fn default_ttl_secs(&self) -> u64 {
        DEFAULT_TTL_SECS.clamp(self.min_ttl_secs, self.max_ttl_secs)
    }

    /// The per-key limit.
    pub fn limiter(&self) -> &RateLimiter<Uuid> {
        &self.limiter
    }

    /// The per-customer limit, over all of a customer's keys.
    pub fn customer_limiter(&self) -> &RateLimiter<CustomerId> {
        &self.customer_limiter
    }
}

fn is_provider_name(name: &str) -> bool {
    name.len() <= 40 && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config() -> CredentialConfig {
        Config::for_tests("postgres://unused", "http://unused").credentials
    }

    #[test]
    fn the_default_policy_vends_for_four_providers_for_60_to_900_seconds() {
        let vending = CredentialVending::from_config(&config()).unwrap();
        assert_eq!(vending.providers(), ["github", "gitlab", "npm", "pypi"]);
        assert_eq!(vending.ttl_bounds_secs(), (60, 900));
        assert_eq!(vending.default_ttl_secs(), 900);
    }

    #[test]
    fn the_default_lifetime_stays_within_narrower_bounds() {
        let mut config = config();
        config.max_ttl_secs = 300;
        assert_eq!(CredentialVending::from_config(&config).unwrap().default_ttl_secs(), 300);
    }

    #[test]
    fn bad_settings_are_refused_with_what_to_change() {
        let refused = |change: fn(&mut CredentialConfig)| {
            let mut config = config();
            change(&mut config);
            CredentialVending::from_config(&config).err().unwrap()
        };
        assert!(refused(|c| c.providers = vec![]).contains("CREDENTIAL_PROVIDERS"));
        assert!(refused(|c| c.providers = vec!["GitHub".into()]).contains("`GitHub`"));
        assert!(refused(|c| c.min_ttl_secs = 4000).contains("CREDENTIAL_MIN_TTL_SECS"));
        assert!(refused(|c| c.signing_key = Some("short".into())).contains("at least 32 bytes"));
    }

    #[test]
    fn without_a_signing_key_a_random_one_is_used() {
        let mut config = config();
        config.signing_key = None;
        let a = CredentialVending::from_config(&config).unwrap();
        let b = CredentialVending::from_config(&config).unwrap();
        assert_ne!(a.signing_key().as_bytes(), b.signing_key().as_bytes());
    }
}
