//! When a failed e-mail is tried again: exponential backoff (base, 2 × base, 4 × base, …,
//! capped at an hour), and a last attempt after which the message is given up on.
//!
//! No jitter: retries of different messages are already spread by their send times, and a
//! deterministic schedule lets tests move a `ManualClock` to exactly the next attempt.

use std::time::Duration;

use crate::config::OutboxConfig;

/// The longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(60 * 60);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again once this much time has passed.
    RetryIn(Duration),
    /// That was the last attempt allowed.
    GiveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_delay: Duration,
    pub max_attempts: u32,
}

impl RetryPolicy {
    pub fn from_config(config: &OutboxConfig) -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(config.retry_base_ms),
            max_attempts: config.max_attempts.max(1),
        }
    }

    /// The decision after `attempts` attempts (counting the one that just failed).
    pub fn after_failure(&self, attempts: u32) -> AfterFailure {
        if attempts >= self.max_attempts {
            return AfterFailure::GiveUp;
        }
        let doublings = attempts.saturating_sub(1).min(31);
        let delay = self.base_delay.saturating_mul(1 << doublings).min(MAX_DELAY);
        AfterFailure::RetryIn(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy { base_delay: Duration::from_secs(30), max_attempts: 4 }
    }

    #[test]
    fn each_failure_doubles_the_wait_until_the_last_attempt_gives_up() {
        let decisions: Vec<AfterFailure> = (1..=4).map(|attempts| policy().after_failure(attempts)).collect();
        assert_eq!(
            decisions,
            [
                AfterFailure::RetryIn(Duration::from_secs(30)),
                AfterFailure::RetryIn(Duration::from_secs(60)),
                AfterFailure::RetryIn(Duration::from_secs(120)),
                AfterFailure::GiveUp,
            ]
        );
    }

    #[test]
    fn the_wait_never_exceeds_an_hour() {
        let patient = RetryPolicy { max_attempts: 100, ..policy() };
        assert_eq!(patient.after_failure(60), AfterFailure::RetryIn(MAX_DELAY));
    }
}
