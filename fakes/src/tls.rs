//! HTTP clients of the fakes (webhook deliveries) and their tests: rustls with the `ring` provider, installed as the
//! process default once before the first client is built, since reqwest is built without a provider of its own (no
//! system OpenSSL, no `aws-lc-sys`). The service has the same helper; this crate does not depend on the service.

use std::sync::Once;

/// A `reqwest::ClientBuilder` with rustls on the `ring` provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means another crate's helper installed a provider first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    // The one place a client is built directly (clippy.toml forbids it everywhere else).
    #[allow(clippy::disallowed_methods)]
    reqwest::Client::builder()
}

/// A client with reqwest's defaults.
pub fn client() -> reqwest::Client {
    client_builder().build().expect("a client with default settings always builds")
}
