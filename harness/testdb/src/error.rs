//! The one error type of this crate. Every variant says what went wrong and what to do about it, because the person
//! reading it is usually looking at a failed test run, not at this code.

use std::process::ExitStatus;
use std::time::Duration;

/// Why no test database could be provided.
#[derive(Debug, thiserror::Error)]
pub enum TestDbError {
    /// The chain found nothing to run PostgreSQL on.
    #[error(
        "no PostgreSQL found: set DATABASE_URL to a server you own, start a Docker engine, or install the PostgreSQL \
         server package (apt-get install postgresql) (checked: {checked})"
    )]
    NoPostgres {
        /// What each provider found missing, for the curious.
        checked: String,
    },

    /// `BILLING_TESTDB_PROVIDER` holds something that is not a provider.
    #[error(
        "BILLING_TESTDB_PROVIDER={value:?} is not a provider: use `url`, `docker` or `local`, or unset it to try them in \
         that order"
    )]
    UnknownProvider {
        /// The value found in the environment.
        value: String,
    },

    /// `BILLING_TESTDB_PROVIDER` forces a provider that is not available here.
    #[error("BILLING_TESTDB_PROVIDER={provider} but {reason}: fix that, or unset BILLING_TESTDB_PROVIDER")]
    ForcedProviderUnavailable {
        /// `url`, `docker` or `local`.
        provider: &'static str,
        /// What is missing.
        reason: String,
    },

    /// The server named by `DATABASE_URL` does not answer.
    #[error(
        "cannot connect to DATABASE_URL ({url}): {source}; check that the server is running and that the URL is right, \
         or unset DATABASE_URL to use Docker or a local cluster"
    )]
    DatabaseUrlUnreachable {
        /// The URL, password hidden.
        url: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },

    /// The server named by `BILLING_TESTDB_SHARED_URL` does not answer.
    #[error(
        "cannot connect to BILLING_TESTDB_SHARED_URL ({url}), the server this run's test processes share: {source}; \
         was the run started by `with-shared-postgres` and is it still running? Unset BILLING_TESTDB_SHARED_URL to \
         let each process find a server of its own"
    )]
    SharedUrlUnreachable {
        /// The URL, password hidden.
        url: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },

    /// A `docker` command failed.
    #[error(
        "Docker: {action} failed: {detail}; check `docker info`, pull the image by hand, set BILLING_TESTDB_IMAGE, or \
         set BILLING_TESTDB_PROVIDER=local to use installed PostgreSQL binaries instead"
    )]
    Docker {
        /// What we were doing, e.g. "`docker run postgres:16-alpine`".
        action: String,
        /// The client's output or the I/O error.
        detail: String,
    },

    /// Root cannot run `initdb`/`postgres` and there is nobody to run them as.
    #[error(
        "running as root, but there is no `postgres` system user to run initdb and postgres as (they refuse to run as \
         root): install the PostgreSQL server package (it creates the user), create it (useradd --system postgres), or \
         run the tests as an ordinary user"
    )]
    RootWithoutPostgresUser,

    /// A file-system or process operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What we were doing, with the path involved.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// `initdb` failed.
    #[error(
        "initdb failed ({status}): {output}\nthe cluster directory must be writable by the user initdb runs as and \
         every parent directory traversable by it: point TMPDIR at such a directory (e.g. /tmp)"
    )]
    Initdb {
        /// Its exit status.
        status: ExitStatus,
        /// What it printed.
        output: String,
    },

    /// The postmaster exited before it accepted connections.
    #[error("postgres exited during start-up ({status}); the end of its log:\n{log_tail}")]
    ServerExited {
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },

    /// The server did not accept connections in time.
    #[error(
        "PostgreSQL did not accept connections within {waited:?} (last error: {last_error}); the machine may be \
         overloaded, or the server is stuck: its log says:\n{log_tail}"
    )]
    NotReady {
        /// How long we waited.
        waited: Duration,
        /// The last connection error.
        last_error: String,
        /// The end of the server's log, if we have one.
        log_tail: String,
    },

    /// A statement against the server failed.
    #[error("{action}: {source}")]
    Sql {
        /// What we were doing.
        action: String,
        /// What the server or driver said.
        #[source]
        source: sqlx::Error,
    },

    /// The caller's `prepare` (usually: run the migrations) failed on the template database.
    #[error(
        "preparing template database {template} failed: {source}; the half-made template was dropped and the next call \
         tries again"
    )]
    Prepare {
        /// The template database's name.
        template: String,
        /// The caller's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Something kept a connection to the template open, so it cannot be cloned.
    #[error(
        "could not clone template database {template} within {waited:?}: another session is connected to it; close \
         every pool opened on the template before `prepare` returns, and do not connect to templates"
    )]
    TemplateBusy {
        /// The template database's name.
        template: String,
        /// How long we retried.
        waited: Duration,
    },
}

impl TestDbError {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { action: action.into(), source }
    }

    pub(crate) fn sql(action: impl Into<String>, source: sqlx::Error) -> Self {
        Self::Sql { action: action.into(), source }
    }
}
