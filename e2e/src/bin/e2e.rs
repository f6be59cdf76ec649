//! `e2e`: the journey runner and the local stack.
//!
//! `e2e stack up` starts PostgreSQL (from the provider chain), the Stripe and e-mail fakes and
//! the billing service, prints their URLs and a ready-to-use API key, and runs until Ctrl-C.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "e2e", version, about = "Customer journeys for the billing service, and the local stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The local stack.
    Stack {
        #[command(subcommand)]
        action: StackAction,
    },
}

#[derive(Subcommand)]
enum StackAction {
    /// Starts the stack, prints its URLs and credentials, and runs until Ctrl-C.
    Up(billing_e2e::stack_up::StackUpArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    billing_service::telemetry::init("text");
    match cli.command {
        Command::Stack { action: StackAction::Up(args) } => billing_e2e::stack_up::run(args).await,
    }
}
