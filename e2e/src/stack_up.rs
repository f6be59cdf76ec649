//! `e2e stack up`: the local stack for exploring by hand and for load runs.

use std::time::Duration;

use clap::Args;

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
    let stack = Stack::start_owned(StackOptions {
        configure: Box::new(move |config| config.bind_addr.set_port(port)),
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
