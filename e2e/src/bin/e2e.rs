//! `e2e`: the journey runner and the local stack.
//!
//! - `e2e run` runs the customer journeys (locally by default, each on a stack of its own;
//!   or against a deployed `--target`), prints a summary, optionally writes JUnit XML and
//!   pushes the results to a Prometheus Pushgateway; exits 1 when a journey failed.
//! - `e2e list` lists the journeys and what each needs.
//! - `e2e stack up` starts the local stack and runs until Ctrl-C.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "e2e", version, about = "Customer journeys for the billing service, and the local stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the journeys.
    Run(Box<billing_e2e::cli::RunArgs>),
    /// Lists the journeys.
    List,
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
    match cli.command {
        Command::Run(args) => {
            // The services' own logs would drown the summary; RUST_LOG brings them back.
            billing_service::telemetry::init_with_default("text", "error");
            match billing_e2e::cli::run(*args).await {
                Ok(all_passed) => std::process::exit(if all_passed { 0 } else { 1 }),
                // A setting that cannot be right: exit 2, as for a flag clap refuses.
                Err(err) if err.downcast_ref::<billing_e2e::cli::UsageError>().is_some() => {
                    eprintln!("error: {err}");
                    std::process::exit(2);
                }
                Err(err) => Err(err),
            }
        }
        Command::List => {
            billing_e2e::cli::list();
            Ok(())
        }
        Command::Stack { action: StackAction::Up(args) } => {
            billing_service::telemetry::init("text");
            billing_e2e::stack_up::run(args).await
        }
    }
}
