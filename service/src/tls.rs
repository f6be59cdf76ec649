//! Outgoing HTTPS (Stripe, the e-mail API): every HTTP client of this crate, and of the crates built on it (the
//! stack, the journeys, the load tool), comes from [`client_builder`].
//!
//! TLS is rustls with the `ring` provider, so nothing links the system OpenSSL (no `libssl-dev`, no `pkg-config`)
//! and nothing builds `aws-lc-sys` (a C and assembly build that costs minutes on two cores). reqwest is built with
//! `rustls-no-provider`, which leaves the choice of provider to the process: [`client_builder`] installs `ring` as
//! the process default, once, before the first client is built. A client built any other way before that panics
//! with reqwest's "No rustls crypto provider is configured", which is why there is one way.

use std::sync::Once;

/// A `reqwest::ClientBuilder` with rustls on the `ring` provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_ring_provider();
    // The one place a client is built directly (clippy.toml forbids it everywhere else).
    #[allow(clippy::disallowed_methods)]
    reqwest::Client::builder()
}

/// A client with reqwest's defaults (for tests and tools that need nothing more).
pub fn client() -> reqwest::Client {
    client_builder().build().expect("a client with default settings always builds")
}

fn install_ring_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means another crate's helper installed a provider first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_provider_is_ring_once_a_client_was_built() {
        let _client = super::client();
        let provider = rustls::crypto::CryptoProvider::get_default().expect("a provider is installed");
        let ring = rustls::crypto::ring::default_provider();
        let names = |p: &rustls::crypto::CryptoProvider| {
            p.cipher_suites.iter().map(|s| format!("{:?}", s.suite())).collect::<Vec<_>>()
        };
        assert_eq!(names(provider), names(&ring));
    }
}
