//! Logging set-up: `tracing` to stderr, as text or JSON, filtered by `RUST_LOG`
//! (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init(format: &str) {
    init_with_default(format, "info");
}

/// Like [`init`], with another default level when `RUST_LOG` is unset.
pub fn init_with_default(format: &str, default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
