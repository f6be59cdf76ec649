//! Waiting for an effect without a fixed sleep: poll a condition until it holds or a deadline
//! passes, and say what was awaited when it does not.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every few milliseconds (backing off to 100 ms) until it returns `Some`, or
/// fails after `deadline` with an error naming `what`.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() >= deadline {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
