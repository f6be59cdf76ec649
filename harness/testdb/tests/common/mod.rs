//! Helpers shared by the test binaries of this crate.

use std::time::{Duration, Instant};

/// Polls `condition` until it holds or `deadline` passes; never a fixed sleep.
pub async fn eventually(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}
