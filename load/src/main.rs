//! `load`: parses the command line and hands it to the library; prints the verdict and exits
//! 0 (passed), 1 (a threshold, a regression or an after-run check failed), 2 (usage or set-up
//! error, with what to do) or 3 (`load compare` could not tell).

use std::process::ExitCode;

use billing_load::cli::{Cli, Command};
use billing_load::error::{EXIT_PASSED, EXIT_USAGE, LoadError};
use billing_load::report::tables;
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { EXIT_USAGE } else { EXIT_PASSED });
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
    let code = runtime.block_on(async {
        match cli.command {
            Command::List => {
                print!("{}", billing_load::list::text());
                Ok(EXIT_PASSED)
            }
            Command::Keys(args) => billing_load::keys::create(args).await.map(|file| {
                println!(
                    "{} API keys and {} Pro customers made on {}",
                    file.api_keys.len(),
                    file.pro_customers.len(),
                    file.target
                );
                EXIT_PASSED
            }),
            Command::Run(args) => billing_load::run::run(*args).await.map(|finished| {
                print!("{}", tables::text(&finished.summary));
                if let Some(failure) = &finished.push_failure {
                    eprintln!("load: {failure}");
                }
                finished.exit_code()
            }),
            Command::Compare(args) => billing_load::compare::compare(*args).await.map(|report| {
                print!("{}", billing_load::compare::report::text(&report));
                report.outcome.exit_code()
            }),
            Command::Merge(args) => billing_load::merge::merge(args).map(|summary| {
                print!("{}", tables::text(&summary));
                if summary.passed() { EXIT_PASSED } else { billing_load::error::EXIT_FAILED }
            }),
        }
    });
    // The embedded stack's tasks end with the runtime.
    runtime.shutdown_background();
    match code {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("load: {err}");
            ExitCode::from(match err {
                LoadError::Usage(_) | LoadError::Setup(_) => EXIT_USAGE,
            })
        }
    }
}
