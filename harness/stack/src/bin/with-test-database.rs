//! `with-test-database -- COMMAND [ARGS…]`: runs COMMAND with `DATABASE_URL` set to a fresh
//! database migrated with the service's migrations, on a PostgreSQL server from the provider
//! chain (`DATABASE_URL` of this process, Docker, or a throw-away local cluster), and removes it
//! all afterwards. Exits with COMMAND's exit code.
//!
//! For tools that need the schema to talk to, such as `cargo sqlx prepare --check`:
//!
//! ```sh
//! cargo run -p billing-stack --bin with-test-database -- cargo sqlx prepare --check --workspace
//! ```

use std::process::ExitCode;

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1).skip_while(|arg| arg == "--");
    let Some(program) = args.next() else {
        eprintln!(
            "usage: with-test-database -- COMMAND [ARGS...]  (runs COMMAND with DATABASE_URL set to a migrated database)"
        );
        return Ok(ExitCode::from(2));
    };
    let rest: Vec<String> = args.collect();
    let server = billing_testdb::PgServer::start().await?;
    let database = billing_stack::stack::fresh_database(&server).await?;
    let mut command = tokio::process::Command::new(&program);
    // Run by `cargo run`, this process carries the variables cargo sets for billing-stack; a cargo below would
    // rebuild what build scripts tracking them built.
    for name in billing_testdb::per_package_cargo_variables() {
        command.env_remove(name);
    }
    let status = command
        .args(&rest)
        .env("DATABASE_URL", &database.url)
        .status()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    drop(database);
    drop(server);
    Ok(ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)))
}
