//! Waiting for a freshly started server: poll by connecting, with a deadline and a short back-off, never a fixed
//! sleep; stop early when the server process is already gone.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::error::TestDbError;

/// How long one connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `url`, giving up after [`CONNECT_TIMEOUT`].
pub(crate) async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// Polls until `url` accepts a connection. `still_running` is asked before every attempt and returns the error to
/// give up with when the server process has exited; `log_tail` fills in the error when the deadline passes.
pub(crate) async fn wait_until_ready(
    url: &str,
    deadline: Duration,
    mut still_running: impl FnMut() -> Result<(), TestDbError>,
    log_tail: impl Fn() -> String,
) -> Result<(), TestDbError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        still_running()?;
        let last_error = match connect(url).await {
            Ok(connection) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Err(error) => error.to_string(),
        };
        if started.elapsed() >= deadline {
            return Err(TestDbError::NotReady { waited: started.elapsed(), last_error, log_tail: log_tail() });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
