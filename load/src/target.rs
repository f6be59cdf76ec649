//! Where the load goes: the [`Target`] (the embedded stack, or a deployed service with the keys
//! file and secrets it needs), its base URL, and the guard that keeps a run off production
//! unless someone says, on the command line, that they mean it.
//!
//! A target is "local" when its host is a loopback address or `localhost`; any other host must
//! be listed in `LOAD_ALLOWED_TARGETS` (comma-separated hosts, `host:port` or `*.example.com`)
//! or the run needs `--i-know-this-is-production`.

use std::net::IpAddr;
use std::path::PathBuf;

use url::Url;

use crate::embedded::{self, CredentialLimit, Embedded, EmbeddedService};
use crate::error::LoadError;
use crate::setup::KeysFile;

/// What to put load on.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// A stack of its own: PostgreSQL, the fakes and the service, started for the run.
    Embedded { service: EmbeddedService, limit: Option<CredentialLimit> },
    /// A deployed service.
    Deployed {
        url: String,
        keys_file: Option<PathBuf>,
        /// The target's webhook endpoint secret (`STRIPE_WEBHOOK_SECRET`).
        webhook_secret: Option<String>,
        /// The key it signs credentials with, to verify them (`CREDENTIAL_SIGNING_KEY`).
        signing_key: Option<Vec<u8>>,
        production_confirmed: bool,
    },
}

/// The target of a run: the embedded stack, or a deployed service with what it needs.
pub struct Target {
    pub base: BaseUrl,
    pub embedded: Option<Embedded>,
    pub keys_file: Option<KeysFile>,
    pub webhook_secret: Option<String>,
    pub signing_key: Option<Vec<u8>>,
}

/// What a scenario needs of a deployed target, beyond its URL (the embedded stack makes it all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// API keys made beforehand (`--keys-file`).
    pub api_keys: bool,
    /// The target's webhook endpoint secret, to sign events with.
    pub webhook_secret: bool,
}

impl Needs {
    /// Nothing beyond the URL.
    pub const NOTHING: Needs = Needs { api_keys: false, webhook_secret: false };

    /// What either needs.
    pub fn and(self, other: Needs) -> Needs {
        Needs { api_keys: self.api_keys || other.api_keys, webhook_secret: self.webhook_secret || other.webhook_secret }
    }
}

impl Target {
    /// Checks that a deployed target has what `what` (a scenario, or `all`) needs, before
    /// anything starts.
    pub fn check(spec: &TargetSpec, what: &str, needs: Needs) -> Result<(), LoadError> {
        let TargetSpec::Deployed { url, keys_file, webhook_secret, production_confirmed, .. } = spec else {
            return Ok(());
        };
        let base = BaseUrl::parse(url)?;
        guard_production(&base, std::env::var("LOAD_ALLOWED_TARGETS").ok().as_deref(), *production_confirmed)?;
        if needs.api_keys && keys_file.is_none() {
            return Err(LoadError::Usage(format!(
                "{what} against {url} needs API keys: make them with `scripts/create-load-test-keys --target {url} --output FILE`, then pass --keys-file FILE (or set LOAD_API_KEYS_FILE)"
            )));
        }
        if needs.webhook_secret && webhook_secret.is_none() {
            return Err(LoadError::Usage(format!(
                "{what} against {url} must be signed with the target's endpoint secret: set STRIPE_WEBHOOK_SECRET=whsec_… (from the target's Stripe webhook endpoint)"
            )));
        }
        Ok(())
    }

    /// Starts the embedded stack, or reads what a deployed target needs.
    pub async fn start(spec: &TargetSpec, what: &str, needs: Needs) -> Result<Target, LoadError> {
        Target::check(spec, what, needs)?;
        match spec {
            TargetSpec::Embedded { service, limit } => {
                let embedded = embedded::start(service, *limit).await?;
                Ok(Target {
                    base: BaseUrl::parse(&embedded.stack.service_url)?,
                    webhook_secret: Some(embedded.stack.webhook_secret.clone()),
                    signing_key: embedded.signing_key.clone(),
                    embedded: Some(embedded),
                    keys_file: None,
                })
            }
            TargetSpec::Deployed { url, keys_file, webhook_secret, signing_key, .. } => {
                let base = BaseUrl::parse(url)?;
                let keys_file = keys_file.as_deref().map(KeysFile::read).transpose()?;
                if let Some(file) = &keys_file
                    && BaseUrl::parse(&file.target)
                        .map(|made_on| made_on.authority() != base.authority())
                        .unwrap_or(true)
                {
                    return Err(LoadError::Usage(format!(
                        "the keys file was made for {}, not {url}: make one for this target with scripts/create-load-test-keys",
                        file.target
                    )));
                }
                Ok(Target {
                    base,
                    embedded: None,
                    keys_file,
                    webhook_secret: webhook_secret.clone(),
                    signing_key: signing_key.clone(),
                })
            }
        }
    }
}

/// A parsed `http://` or `https://` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    url: Url,
    /// `host:port` as the Host header carries it (the port only when not the default).
    authority: String,
    /// `host:port` with the port always present, to connect to.
    socket: String,
    /// The path the service lives under, without a trailing slash (usually empty).
    prefix: String,
}

impl BaseUrl {
    pub fn parse(text: &str) -> Result<BaseUrl, LoadError> {
        let url = Url::parse(text).map_err(|err| {
            LoadError::Usage(format!("--target {text:?} is not a URL ({err}): give one like http://127.0.0.1:8080"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(LoadError::Usage(format!("--target {text:?} must start with http:// or https://")));
        }
        let host = url
            .host_str()
            .ok_or_else(|| {
                LoadError::Usage(format!("--target {text:?} has no host: give one like http://127.0.0.1:8080"))
            })?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let socket = format!("{}:{port}", host.trim_start_matches('[').trim_end_matches(']'));
        let socket = if host.starts_with('[') { format!("{host}:{port}") } else { socket };
        let prefix = url.path().trim_end_matches('/').to_string();
        Ok(BaseUrl { url, authority, socket, prefix })
    }

    pub fn is_tls(&self) -> bool {
        self.url.scheme() == "https"
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    pub fn socket_authority(&self) -> String {
        self.socket.clone()
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The request target for a path of the service (`/api/v1/usage` → `/prefix/api/v1/usage`).
    pub fn path_for(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The full URL for a path of the service.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}://{}{}{path}", self.url.scheme(), self.authority, self.prefix)
    }

    /// The base URL as text, without a trailing slash.
    pub fn as_str(&self) -> String {
        format!("{}://{}{}", self.url.scheme(), self.authority, self.prefix)
    }

    /// Whether the host is this machine.
    pub fn is_local(&self) -> bool {
        let host = self.host().trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// Refuses a non-local target that is not listed in `allowed` (the value of
/// `LOAD_ALLOWED_TARGETS`) unless `production_confirmed`.
pub fn guard_production(base: &BaseUrl, allowed: Option<&str>, production_confirmed: bool) -> Result<(), LoadError> {
    if base.is_local() || production_confirmed {
        return Ok(());
    }
    let listed = allowed.unwrap_or_default().split(',').map(str::trim).filter(|entry| !entry.is_empty()).any(|entry| {
        let entry = entry.to_ascii_lowercase();
        let host = base.host().to_ascii_lowercase();
        match entry.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => entry == host || entry == base.authority().to_ascii_lowercase(),
        }
    });
    if listed {
        return Ok(());
    }
    Err(LoadError::Usage(format!(
        "{} is not a local target and is not listed in LOAD_ALLOWED_TARGETS: if it is a staging service, add its host \
         there (e.g. LOAD_ALLOWED_TARGETS={}); if it really is production, pass --i-know-this-is-production",
        base.as_str(),
        base.host()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(text: &str) -> BaseUrl {
        BaseUrl::parse(text).unwrap()
    }

    #[test]
    fn loopback_hosts_are_local_and_need_no_confirmation() {
        for url in ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9000/", "http://127.1.2.3"] {
            assert!(base(url).is_local(), "{url}");
            guard_production(&base(url), None, false).unwrap();
        }
    }

    #[test]
    fn a_remote_host_is_refused_unless_listed_or_confirmed() {
        let staging = base("https://billing.staging.example.com");
        let refused = guard_production(&staging, None, false).unwrap_err();
        assert!(refused.to_string().contains("--i-know-this-is-production"), "{refused}");
        assert!(refused.to_string().contains("LOAD_ALLOWED_TARGETS"), "{refused}");
        guard_production(&staging, Some("billing.staging.example.com"), false).unwrap();
        guard_production(&staging, Some("other.example.com, *.staging.example.com"), false).unwrap();
        guard_production(&staging, Some("example.org"), true).unwrap();
        assert!(guard_production(&staging, Some("*.example.org,staging.example.com"), false).is_err());
    }

    #[test]
    fn paths_join_the_base_url_prefix() {
        let prefixed = base("http://10.0.0.1:8080/billing/");
        assert_eq!(prefixed.path_for("/healthz"), "/billing/healthz");
        assert_eq!(prefixed.url_for("/healthz"), "http://10.0.0.1:8080/billing/healthz");
        assert_eq!(prefixed.socket_authority(), "10.0.0.1:8080");
        assert_eq!(base("https://example.com").socket_authority(), "example.com:443");
        assert_eq!(base("https://example.com").authority(), "example.com");
    }

    #[test]
    fn a_target_that_is_not_an_http_url_is_a_usage_error() {
        for bad in ["127.0.0.1:8080", "ftp://example.com", "http://"] {
            assert!(matches!(BaseUrl::parse(bad), Err(LoadError::Usage(_))), "{bad}");
        }
    }
}
