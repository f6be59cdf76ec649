//! The per-API-key rate limit of credential exchanges: a token bucket per key, in memory.
//!
//! Each key has a bucket holding up to `burst` tokens, refilled at `rate_per_minute / 60`
//! tokens a second; an exchange takes one token, and without one it is refused with the time
//! until the next token (the `Retry-After` of the 429, in whole seconds rounded up).
//!
//! The buckets live in this process: with N instances behind a load balancer a key can make
//! up to N times the rate. A multi-instance deployment that needs an exact global limit would
//! keep the buckets in Redis or PostgreSQL instead; this is the cheap, per-instance version.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Above this many buckets, full (idle) ones are dropped: a bucket that has refilled holds no
/// information, so forgetting it changes no decision.
const PRUNE_ABOVE: usize = 10_000;

pub struct RateLimiter {
    tokens_per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A refusal: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up (what `Retry-After` carries), at least 1.
    pub fn whole_secs(self) -> u64 {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1)
    }
}

impl RateLimiter {
    /// `rate_per_minute` and `burst` are at least 1 (the configuration enforces it).
    pub fn new(rate_per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            tokens_per_sec: f64::from(rate_per_minute.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until there is one.
    pub fn try_acquire(&self, key: Uuid, now: Instant) -> Result<(), RetryAfter> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < self.burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: self.burst, updated: now });
        bucket.tokens = self.refilled(*bucket, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(RetryAfter(Duration::from_secs_f64((1.0 - bucket.tokens) / self.tokens_per_sec)))
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.tokens_per_sec).min(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_at_once_then_waits_for_the_rate() {
        let limiter = RateLimiter::new(60, 3);
        let now = Instant::now();
        let key = Uuid::new_v4();
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire(key, now), Ok(()));
        }
        let refused = limiter.try_acquire(key, now).unwrap_err();
        assert_eq!(refused.whole_secs(), 1);
        assert_eq!(limiter.try_acquire(key, now + Duration::from_millis(1_000)), Ok(()));
        assert!(limiter.try_acquire(key, now + Duration::from_millis(1_000)).is_err());
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        let limiter = RateLimiter::new(1, 1);
        let now = Instant::now();
        let key = Uuid::new_v4();
        limiter.try_acquire(key, now).unwrap();
        assert_eq!(limiter.try_acquire(key, now + Duration::from_millis(500)).unwrap_err().whole_secs(), 60);
        assert_eq!(RetryAfter(Duration::from_millis(1)).whole_secs(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(2_001)).whole_secs(), 3);
    }

    #[test]
    fn keys_do_not_share_a_bucket() {
        let limiter = RateLimiter::new(1, 1);
        let now = Instant::now();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        limiter.try_acquire(a, now).unwrap();
        assert!(limiter.try_acquire(a, now).is_err());
        assert_eq!(limiter.try_acquire(b, now), Ok(()));
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_the_burst() {
        let limiter = RateLimiter::new(600, 2);
        let now = Instant::now();
        let key = Uuid::new_v4();
        limiter.try_acquire(key, now).unwrap();
        let later = now + Duration::from_secs(3_600);
        assert!(limiter.try_acquire(key, later).is_ok());
        assert!(limiter.try_acquire(key, later).is_ok());
        assert!(limiter.try_acquire(key, later).is_err());
    }
}
