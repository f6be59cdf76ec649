//! `e2e stack up`: the local stack for exploring by hand, for load runs, and standing in for a
//! deployed service (its Stripe fake standing in for Stripe test mode).
//!
//! It prints what a release manager is given for a staging deployment — the service's URL, the
//! Stripe API base, a test-mode key, the signing secret of the service's webhook endpoint and an
//! existing customer's API key — and the `e2e run --target …` line that validates it with them.
//!
//! It runs until Ctrl-C (SIGINT) or SIGTERM (what containers and Kubernetes send), then stops
//! cleanly: the service stops, the PostgreSQL cluster is shut down and its directory removed,
//! and the process exits 0. A signal during start-up stops it just as cleanly.
//!
//! The service reads its settings from the environment, as the `billing-service` binary does
//! (`billing-service --help` lists them), except those the stack wires itself: the database,
//! the Stripe and e-mail fakes, the webhook secret and the bind address. So a load run can say, for
//! example, `CREDENTIAL_RATE_PER_MINUTE=100000000 e2e stack up`.

use std::io::Write;
use std::time::Duration;

use billing_service::Config;
use clap::{Args, Parser};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::journeys::world::WEBHOOK_PATH;
use crate::stack::{Stack, StackOptions};

#[derive(Debug, Args)]
pub struct StackUpArgs {
    /// Port of the billing service (0 = any free port).
    #[arg(long, env = "STACK_SERVICE_PORT", default_value_t = 0)]
    pub service_port: u16,
    /// Sign up one customer and print its API key.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub demo_customer: bool,
    /// Stop by itself after this many seconds (0 = run until Ctrl-C or SIGTERM).
    #[arg(long, default_value_t = 0)]
    pub exit_after_secs: u64,
}

/// What ends `stack up`: Ctrl-C, SIGTERM, or the `--exit-after-secs` deadline.
struct StopRequest {
    terminate: Signal,
    exit_after: Option<Duration>,
}

impl StopRequest {
    /// Listens from now on, so a signal during start-up is not lost (nor kills the process
    /// with the cluster still on disk).
    fn listen(exit_after_secs: u64) -> anyhow::Result<StopRequest> {
        let terminate =
            signal(SignalKind::terminate()).map_err(|err| anyhow::anyhow!("cannot listen for SIGTERM: {err}"))?;
        Ok(StopRequest { terminate, exit_after: (exit_after_secs > 0).then(|| Duration::from_secs(exit_after_secs)) })
    }

    /// Resolves when a stop is asked for, naming what asked.
    async fn requested(&mut self) -> &'static str {
        let exit_after = self.exit_after;
        let deadline = async move {
            match exit_after {
                Some(after) => tokio::time::sleep(after).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = self.terminate.recv() => "SIGTERM",
            _ = deadline => "--exit-after-secs",
        }
    }
}

pub async fn run(args: StackUpArgs) -> anyhow::Result<()> {
    let mut stop = StopRequest::listen(args.exit_after_secs)?;
    let port = args.service_port;
    // Report a bad setting before starting anything.
    service_config_from_env(&Config::for_tests("postgres://checking", "http://checking"))
        .map_err(|err| anyhow::anyhow!("a billing-service setting in the environment is invalid: {err}"))?;
    let starting = Stack::start_owned(StackOptions {
        configure: Box::new(move |config| {
            config.server.bind_addr.set_port(port);
            *config = service_config_from_env(config).expect("the settings were checked before the stack started");
        }),
        ..Default::default()
    });
    let stack = tokio::select! {
        stack = starting => stack?,
        by = stop.requested() => {
            // Dropping the half-started stack removes whatever it had made.
            println!("stopping ({by}) before the stack was up");
            return Ok(());
        }
    };
    let stripe_api_base = stack.stripe.base_url();
    println!("billing service   {}", stack.service_url);
    println!("stripe fake       {stripe_api_base}");
    println!("stripe secret key {}", stack.config.stripe.secret_key);
    println!("webhook secret    {}", stack.webhook_secret);
    println!("stripe test clock {}", stack.stripe_clock);
    println!("e-mail fake       {}", stack.email.base_url());
    println!("database          {}", stack.database.url);
    let demo_key = if args.demo_customer {
        let (signup, _) = stack.signed_up_customer("demo@example.com").await?;
        println!("demo customer     {} (API key: {})", signup.email, signup.api_key);
        Some(signup.api_key)
    } else {
        None
    };
    println!();
    println!(
        "Validate it as a deployed service, given what a release manager is given for staging (the Stripe fake \
         stands in for Stripe test mode; Stripe delivers events to {}{WEBHOOK_PATH}):",
        stack.service_url
    );
    println!(
        "  STRIPE_API_BASE={stripe_api_base} STRIPE_SECRET_KEY={} STRIPE_WEBHOOK_SECRET={} e2e run --target {}{}",
        stack.config.stripe.secret_key,
        stack.webhook_secret,
        stack.service_url,
        demo_key.map(|key| format!(" --api-key {key}")).unwrap_or_default()
    );
    println!("stack is up; press Ctrl-C or send SIGTERM to stop");
    let by = stop.requested().await;
    // Whoever read our output may be gone by now (a closed pipe): stopping cleanly matters more.
    let _ = writeln!(std::io::stdout(), "stopping ({by})");
    drop(stack);
    let _ = writeln!(std::io::stdout(), "stopped");
    Ok(())
}

/// The service's configuration from the environment, with the stack's own wiring in `wired`
/// taking precedence.
fn service_config_from_env(wired: &Config) -> Result<Config, clap::Error> {
    let mut flags = vec![
        "billing-service".to_string(),
        format!("--bind-addr={}", wired.server.bind_addr),
        format!("--database-url={}", wired.database.url),
        format!("--stripe-api-base={}", wired.stripe.api_base),
        format!("--stripe-secret-key={}", wired.stripe.secret_key),
    ];
    // The e-mail API is the stack's fake too.
    if let Some(email) = &wired.email.api_base {
        flags.push(format!("--email-api-base={email}"));
    }
    if let Some(key) = &wired.email.api_key {
        flags.push(format!("--email-api-key={key}"));
    }
    Config::try_parse_from(flags)
}
