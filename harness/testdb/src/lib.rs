//! Where the test database comes from. One provider chain, tried in order:
//!
//! 1. `DATABASE_URL` is set: use that server.
//! 2. a Docker engine answers: run PostgreSQL in a container (`BILLING_TESTDB_IMAGE`, default `postgres:16-alpine`)
//!    through the Engine API; if the container cannot be started, the chain says why and goes on.
//! 3. the PostgreSQL server binaries are installed: a throw-away cluster in a temporary directory, tuned for tests.
//! 4. none: one error naming the three fixes.
//!
//! `BILLING_TESTDB_PROVIDER=url|docker|local` forces one. On the server, each test gets its own database cloned from
//! a migrated template ([`PgServer::template`], [`PgServer::database_from_template`]), so tests run in parallel and
//! never see each other's rows.
//!
//! [`PgServer::shared`] is one server per process; `BILLING_TESTDB_SHARED_URL` ([`SHARED_URL_ENV`]) makes it one server
//! for every process of a run instead (set by the `with-shared-postgres` binary), and the databases a process made
//! there are dropped when it exits.

mod cargo_env;
mod config;
mod databases;
mod docker;
mod error;
mod local;
mod postgres_url;
mod ready;
mod server;
mod spawner;
mod sweep;

pub use cargo_env::per_package_cargo_variables;
pub use config::{DEFAULT_IMAGE, IMAGE_ENV, PG_BIN_ENV, PROVIDER_ENV, ProviderChoice, ProviderConfig, SHARED_URL_ENV};
pub use databases::TestDatabase;
pub use error::TestDbError;
pub use server::{PgServer, ProviderKind};
pub use spawner::spawn_tied_to_process;
pub use sweep::{process_is_alive, sweep_stale_clusters};
