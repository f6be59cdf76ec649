//! Readiness: whether the database answers within a second (what `GET /readyz` reports; the
//! process answering at all is `/healthz`, and the metrics are [`crate::metrics`]).

use std::time::Duration;

use sqlx::PgPool;

/// How the database answered the readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseProbe {
    Ok,
    Error,
    /// No answer within a second.
    Timeout,
}

/// Asks the database for one row, waiting at most a second.
pub async fn probe_database(pool: &PgPool) -> DatabaseProbe {
    let probe = tokio::time::timeout(Duration::from_secs(1), sqlx::query!("SELECT 1 AS ready").fetch_one(pool)).await;
    match probe {
        Ok(Ok(_)) => DatabaseProbe::Ok,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness probe: database error");
            DatabaseProbe::Error
        }
        Err(_) => DatabaseProbe::Timeout,
    }
}
