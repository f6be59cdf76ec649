//! `e2e stack up`: the local stack for exploring by hand and for load runs.
//!
//! The service reads its settings from the environment, as the `billing-service` binary does
//! (`billing-service --help` lists them), except those the stack wires itself: the database,
//! the Stripe and e-mail fakes, the webhook secret and the bind address. So a load run can say, for
//! example, `CREDENTIAL_RATE_PER_MINUTE=100000000 e2e stack up`.

use std::time::Duration;

use billing_service::Config;
use clap::{Args, Parser};

use crate::stack::{Stack, StackOptions};

#[derive(Debug, Args)]
pub struct StackUpArgs {
    /// Port of the billing service (0 = any free port).
    #[arg(long, env = "STACK_SERVICE_PORT", default_value_t = 0)]
    pub service_port: u16,
    /// Sign up one customer and print its API key.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub demo_customer: bool,
    /// Stop by itself after this many seconds (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub exit_after_secs: u64,
}

pub async fn run(args: StackUpArgs) -> anyhow::Result<()> {
    let port = args.service_port;
    // Report a bad setting before starting anything.
    service_config_from_env(&Config::for_tests("postgres://checking", "http://checking"))
        .map_err(|err| anyhow::anyhow!("a billing-service setting in the environment is invalid: {err}"))?;
    let stack = Stack::start_owned(StackOptions {
        configure: Box::new(move |config| {
            config.bind_addr.set_port(port);
            *config = service_config_from_env(config).expect("the settings were checked before the stack started");
        }),
        ..Default::default()
    })
    .await?;
    println!("billing service   {}", stack.service_url);
    println!("stripe fake       {}", stack.stripe.base_url());
    println!("e-mail fake       {}", stack.email.base_url());
    println!("database          {}", stack.database.url);
    if args.demo_customer {
        let (signup, _) = stack.signed_up_customer("demo@example.com").await?;
        println!("demo customer     {} (API key: {})", signup.email, signup.api_key);
    }
    println!("stack is up; press Ctrl-C to stop");
    if args.exit_after_secs > 0 {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = tokio::time::sleep(Duration::from_secs(args.exit_after_secs)) => {}
        }
    } else {
        tokio::signal::ctrl_c().await?;
    }
    println!("stopping");
    drop(stack);
    Ok(())
}

/// The service's configuration from the environment, with the stack's own wiring in `wired`
/// taking precedence.
fn service_config_from_env(wired: &Config) -> Result<Config, clap::Error> {
    let mut flags = vec![
        "billing-service".to_string(),
        format!("--bind-addr={}", wired.bind_addr),
        format!("--database-url={}", wired.database_url),
        format!("--stripe-api-base={}", wired.stripe_api_base),
        format!("--stripe-secret-key={}", wired.stripe_secret_key),
    ];
    // The e-mail API is the stack's fake too.
    if let Some(email) = &wired.email_api_base {
        flags.push(format!("--email-api-base={email}"));
    }
    if let Some(key) = &wired.email_api_key {
        flags.push(format!("--email-api-key={key}"));
    }
    Config::try_parse_from(flags)
}
