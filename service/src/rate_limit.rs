//! Rate limits: a token bucket per key (an API key, a customer, a client IP), in memory.
//!
//! Each key has a bucket holding up to `burst` tokens, refilled at a steady rate; a request
//! takes one token, and without one it is refused with the time until the next token (the
//! `Retry-After` of the 429, in whole seconds rounded up).
//!
//! Memory and time are bounded whatever the number of keys (an attacker can bring many IPs):
//! once there are [`PRUNE_ABOVE`] buckets (then twice as many as the last prune left), refilled
//! ones are dropped (they hold no information), and if more than half of [`MAX_BUCKETS`] remain,
//! the least recently used half goes too, which at worst gives a key that comes back a fresh
//! burst. A prune is O(buckets) and comes after as many new keys, so O(1) a request on average.
//!
//! The buckets live in this process: with N instances behind a load balancer a key can make
//! up to N times the rate. A multi-instance deployment that needs an exact global limit would
//! keep the buckets in Redis or PostgreSQL instead; this is the cheap, per-instance version.
//!
//! Why not `governor` (the kept crate for this, GCRA keyed limiters): its keyed state stores
//! forget only keys that are as good as fresh (`retain_recent`), with no bound on how many keys
//! are live, so a flood of new client addresses inside one refill period grows memory without
//! limit; the least-recently-used cut above is what bounds it. Its time comes from a clock type
//! of its own, where these limiters take `now` as an argument (the tests drive time by hand and
//! the credential limits share one `Instant` per request). The bucket itself is a dozen lines.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many buckets, full (idle) ones are dropped.
const PRUNE_ABOVE: usize = 10_000;
/// Most buckets kept: beyond, the least recently used half goes.
const MAX_BUCKETS: usize = 100_000;

pub struct RateLimiter<K> {
    tokens_per_sec: f64,
    burst: f64,
    buckets: Mutex<Buckets<K>>,
}

struct Buckets<K> {
    by_key: HashMap<K, Bucket>,
    /// The size at which the next prune runs: at least twice what the last one left, so
    /// pruning costs O(1) per request on average however many keys are active.
    prune_at: usize,
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

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate_per_minute` a minute on average, `burst` at once (both at least 1).
    pub fn new(rate_per_minute: u32, burst: u32) -> RateLimiter<K> {
        RateLimiter::with_rate(f64::from(rate_per_minute.max(1)) / 60.0, burst)
    }

    /// `rate_per_hour` an hour on average, `burst` at once (both at least 1).
    pub fn per_hour(rate_per_hour: u32, burst: u32) -> RateLimiter<K> {
        RateLimiter::with_rate(f64::from(rate_per_hour.max(1)) / 3600.0, burst)
    }

    fn with_rate(tokens_per_sec: f64, burst: u32) -> RateLimiter<K> {
        RateLimiter {
            tokens_per_sec,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(Buckets { by_key: HashMap::new(), prune_at: PRUNE_ABOVE }),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until there is one.
    pub fn try_acquire(&self, key: K, now: Instant) -> Result<(), RetryAfter> {
        let mut guard = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Buckets { by_key: buckets, prune_at } = &mut *guard;
        if buckets.len() >= *prune_at {
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < self.burst);
            if buckets.len() > MAX_BUCKETS / 2 {
                let mut ages: Vec<Instant> = buckets.values().map(|bucket| bucket.updated).collect();
                let middle = ages.len() / 2;
                let (_, median, _) = ages.select_nth_unstable(middle);
                let median = *median;
                buckets.retain(|_, bucket| bucket.updated > median);
            }
            *prune_at = (buckets.len() * 2).clamp(PRUNE_ABOVE, MAX_BUCKETS);
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

    /// Gives back a token taken by [`RateLimiter::try_acquire`] for a request that a later
    /// limit refused, so one refusal does not cost the key twice.
    pub fn give_back(&self, key: &K) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(bucket) = buckets.by_key.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(self.burst);
        }
    }

    /// How many keys have a bucket now.
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.tokens_per_sec).min(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_key_gets_its_burst_at_once_then_waits_for_the_rate() {
        let limiter = RateLimiter::<Uuid>::new(60, 3);
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
        let limiter = RateLimiter::<Uuid>::new(1, 1);
        let now = Instant::now();
        let key = Uuid::new_v4();
        limiter.try_acquire(key, now).unwrap();
        assert_eq!(limiter.try_acquire(key, now + Duration::from_millis(500)).unwrap_err().whole_secs(), 60);
        assert_eq!(RetryAfter(Duration::from_millis(1)).whole_secs(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(2_001)).whole_secs(), 3);
    }

    #[test]
    fn keys_do_not_share_a_bucket() {
        let limiter = RateLimiter::<Uuid>::new(1, 1);
        let now = Instant::now();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        limiter.try_acquire(a, now).unwrap();
        assert!(limiter.try_acquire(a, now).is_err());
        assert_eq!(limiter.try_acquire(b, now), Ok(()));
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_the_burst() {
        let limiter = RateLimiter::<Uuid>::new(600, 2);
        let now = Instant::now();
        let key = Uuid::new_v4();
        limiter.try_acquire(key, now).unwrap();
        let later = now + Duration::from_secs(3_600);
        assert!(limiter.try_acquire(key, later).is_ok());
        assert!(limiter.try_acquire(key, later).is_ok());
        assert!(limiter.try_acquire(key, later).is_err());
    }

    #[test]
    fn memory_stays_bounded_however_many_keys_come() {
        let limiter = RateLimiter::<u64>::new(1, 10);
        let start = Instant::now();
        for key in 0..(MAX_BUCKETS as u64 + 50_000) {
            let _ = limiter.try_acquire(key, start + Duration::from_nanos(key));
        }
        assert!(limiter.len() <= MAX_BUCKETS, "{} buckets", limiter.len());
        // The newest keys are still limited: their buckets were kept.
        let newest = MAX_BUCKETS as u64 + 49_999;
        for _ in 0..9 {
            limiter.try_acquire(newest, start).unwrap();
        }
        assert!(limiter.try_acquire(newest, start).is_err());
    }

    #[test]
    fn an_hourly_limit_refills_over_the_hour() {
        let limiter = RateLimiter::<u8>::per_hour(6, 1);
        let now = Instant::now();
        limiter.try_acquire(1, now).unwrap();
        assert_eq!(limiter.try_acquire(1, now).unwrap_err().whole_secs(), 600);
        assert!(limiter.try_acquire(1, now + Duration::from_secs(600)).is_ok());
    }
}
