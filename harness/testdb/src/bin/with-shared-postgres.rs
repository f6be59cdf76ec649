//! `with-shared-postgres -- COMMAND [ARGS…]`: runs COMMAND with `BILLING_TESTDB_SHARED_URL` set to a PostgreSQL
//! server from the provider chain (`DATABASE_URL`, Docker, or a throw-away local cluster), then stops what it
//! started and exits with COMMAND's exit code.
//!
//! Every test process COMMAND starts then shares that server through [`billing_testdb::PgServer::shared`] instead of
//! starting one of its own. That is what a runner with a process per test needs: under cargo-nextest each of the
//! workspace's few hundred database tests would otherwise `initdb` a cluster and migrate a template.
//!
//! ```sh
//! target/debug/with-shared-postgres -- cargo nextest run --workspace
//! ```

use std::process::ExitCode;

use billing_testdb::{PgServer, SHARED_URL_ENV};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).skip_while(|arg| arg == "--");
    let Some(program) = args.next() else {
        eprintln!(
            "usage: with-shared-postgres -- COMMAND [ARGS...]  (runs COMMAND with {SHARED_URL_ENV} set to a PostgreSQL \
             server its test processes share)"
        );
        return ExitCode::from(2);
    };
    let server = match PgServer::start().await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("with-shared-postgres: {error}");
            return ExitCode::from(2);
        }
    };
    let mut command = tokio::process::Command::new(&program);
    // Run by `cargo run`, this process carries the variables cargo sets for billing-testdb; a cargo below would
    // rebuild what build scripts tracking them built.
    for name in billing_testdb::per_package_cargo_variables() {
        command.env_remove(name);
    }
    let status = command.args(args).env(SHARED_URL_ENV, server.admin_url()).status().await;
    drop(server);
    match status {
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
        Err(error) => {
            eprintln!("with-shared-postgres: cannot run {program}: {error}");
            ExitCode::from(2)
        }
    }
}
