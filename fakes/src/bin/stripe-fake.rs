//! `stripe-fake`: the Stripe fake as a standalone server. Flags (or env vars) choose the address,
//! request logging, a webhook endpoint registered at start, the account's API version (and
//! whether versions it does not know are refused) and a retention limit; it prints the bound URL,
//! logs to stderr, and runs until Ctrl-C or SIGTERM.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use billing_fakes::StripeFake;
use billing_fakes::stripe::{AfterFinalRetry, InvoiceRetries};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A stateful fake of the Stripe API.
#[derive(Debug, Parser)]
#[command(name = "stripe-fake", version, about)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "STRIPE_FAKE_PORT", default_value_t = 12111)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "STRIPE_FAKE_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Log every request to stderr (costs throughput).
    #[arg(long, env = "STRIPE_FAKE_LOG_REQUESTS")]
    log_requests: bool,
    /// Register a webhook endpoint for all events at start.
    #[arg(long, env = "STRIPE_FAKE_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Worker threads serving requests (default: one per CPU).
    #[arg(long, env = "STRIPE_FAKE_THREADS")]
    threads: Option<usize>,
    /// Signing secret for --webhook-url (whsec_...); generated if absent.
    #[arg(long, env = "STRIPE_FAKE_WEBHOOK_SECRET", requires = "webhook_url")]
    webhook_secret: Option<String>,
    /// Keep at most N events, requests, idempotency results and webhook deliveries (the oldest
    /// are dropped and counted in GET /_fake/stats); objects are all kept. For long load runs.
    #[arg(long, env = "STRIPE_FAKE_RETAIN", value_name = "N")]
    retain: Option<usize>,
    /// The account's default API version (requests without Stripe-Version, events). Any
    /// well-formed version: one the fake does not know is answered in the shapes of the nearest
    /// older release it knows.
    #[arg(long, env = "STRIPE_FAKE_API_VERSION", default_value = billing_fakes::stripe::API_VERSION)]
    api_version: String,
    /// Refuse Stripe-Versions the fake does not know (400 listing the ones it does) instead of
    /// answering them in the shapes of the nearest older release it knows.
    #[arg(long, env = "STRIPE_FAKE_STRICT_API_VERSIONS")]
    strict_api_versions: bool,
    /// Days after the previous attempt at which a failed subscription invoice is tried again
    /// (comma-separated; `none` for no retries).
    #[arg(long, env = "STRIPE_FAKE_INVOICE_RETRY_DAYS", default_value = "3,5,7")]
    invoice_retry_days: String,
    /// What a subscription becomes when the last retry of its invoice failed: unpaid, canceled or
    /// past_due.
    #[arg(long, env = "STRIPE_FAKE_AFTER_FINAL_RETRY", default_value = "unpaid", value_parser = AfterFinalRetry::parse)]
    after_final_retry: AfterFinalRetry,
}

/// The fake keeps every object it creates, so under load its heap only grows. glibc grows a
/// thread's heap in small steps, one `mprotect` system call each; asking for 64 MiB of slack per
/// step removes most of those calls from the request path (measured: ~7% of CPU under wrk).
fn grow_heap_in_large_steps() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning and is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    grow_heap_in_large_steps();
    // One thread: everything runs on this one, with no hand-offs between threads at all.
    let mut runtime = match args.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads.max(1));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    runtime.enable_all().build().context("cannot start the async runtime")?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Info and above by default (RUST_LOG overrides): a Stripe-Version the fake does not know is
    // said once; each request only with --log-requests.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colours).with_writer(std::io::stderr).init();
    let mut builder = StripeFake::builder()
        .addr(SocketAddr::new(args.host, args.port))
        .api_version(&args.api_version)
        .context("--api-version / STRIPE_FAKE_API_VERSION")?
        .strict_api_versions(args.strict_api_versions)
        .invoice_retries(
            InvoiceRetries::parse_days(&args.invoice_retry_days)
                .and_then(|days| InvoiceRetries::new(days, args.after_final_retry))
                .map_err(|problem| {
                    anyhow::anyhow!("--invoice-retry-days / STRIPE_FAKE_INVOICE_RETRY_DAYS: {problem}")
                })?,
        );
    if let Some(n) = args.retain.filter(|n| *n > 0) {
        builder = builder.retain(n);
    }
    let fake = builder.start().await.map_err(|error| match error.kind() {
        std::io::ErrorKind::InvalidInput => anyhow::anyhow!("--api-version / STRIPE_FAKE_API_VERSION: {error}"),
        _ => anyhow::Error::new(error)
            .context(format!("cannot listen on {}:{}; is the port taken? try --port 0", args.host, args.port)),
    })?;
    fake.set_log_requests(args.log_requests);
    if let Some(url) = &args.webhook_url {
        let endpoint = fake.add_webhook_endpoint_with_secret(url, args.webhook_secret.as_deref());
        println!("stripe-fake webhook endpoint {} -> {} (secret {})", endpoint.id, endpoint.url, endpoint.secret);
    }
    println!("stripe-fake listening on {}", fake.base_url());
    shutdown_signal().await
}

/// Returns on Ctrl-C or SIGTERM (what containers and Kubernetes send).
async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("cannot wait for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}
