//! Second-by-second figures of a run, gathered as requests finish: how many, how many failed,
//! and a latency histogram per second, for the progress line and the chart of throughput and
//! latency percentiles over time.
//!
//! goose keeps per-second data too, but inside its HTML report and dashboard; this is the
//! small part the tool needs at hand while the run goes. It is lock-free (one atomic add per
//! request and per bucket) so it never becomes the hot path's bottleneck.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Latency buckets: each 10 % wider than the last, from 10 µs; the last one holds everything
/// from about 2 minutes up.
const BUCKETS: usize = 170;
const FIRST_BUCKET_US: f64 = 10.0;
const GROWTH: f64 = 1.1;

fn bucket_of(latency: Duration) -> usize {
    let us = latency.as_secs_f64() * 1e6;
    if us <= FIRST_BUCKET_US {
        return 0;
    }
    (((us / FIRST_BUCKET_US).ln() / GROWTH.ln()).ceil() as usize).min(BUCKETS - 1)
}

/// The upper bound of a bucket.
fn bucket_upper(index: usize) -> Duration {
    Duration::from_secs_f64(FIRST_BUCKET_US * GROWTH.powi(index as i32) / 1e6)
}

struct Second {
    requests: AtomicU64,
    failures: AtomicU64,
    buckets: Vec<AtomicU32>,
}

impl Second {
    fn new() -> Second {
        Second {
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

/// What happened in one second of the run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SecondFigures {
    /// Seconds from the start of the run.
    pub second: u64,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

pub struct Timeline {
    started: Instant,
    seconds: Vec<Second>,
    /// When the first request started and the last one finished, in µs from `started`.
    first_start_us: AtomicU64,
    last_finish_us: AtomicU64,
}

impl Timeline {
    /// A timeline for a run of at most `longest` (later requests land in the last second).
    pub fn new(longest: Duration) -> Timeline {
        let count = longest.as_secs() as usize + 2;
        Timeline {
            started: Instant::now(),
            seconds: (0..count).map(|_| Second::new()).collect(),
            first_start_us: AtomicU64::new(u64::MAX),
            last_finish_us: AtomicU64::new(0),
        }
    }

    /// Counts one finished request.
    pub fn record(&self, finished: Instant, latency: Duration, failed: bool) {
        let index = (finished.saturating_duration_since(self.started).as_secs() as usize).min(self.seconds.len() - 1);
        let second = &self.seconds[index];
        second.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            second.failures.fetch_add(1, Ordering::Relaxed);
        }
        second.buckets[bucket_of(latency)].fetch_add(1, Ordering::Relaxed);
        let finish_us = finished.saturating_duration_since(self.started).as_micros() as u64;
        self.first_start_us.fetch_min(finish_us.saturating_sub(latency.as_micros() as u64), Ordering::Relaxed);
        self.last_finish_us.fetch_max(finish_us, Ordering::Relaxed);
    }

    /// From the first request's start to the last one's end: the time the load was on, which
    /// throughput is measured over (not goose's start-up and shut-down around it).
    pub fn active(&self) -> Duration {
        let first = self.first_start_us.load(Ordering::Relaxed);
        let last = self.last_finish_us.load(Ordering::Relaxed);
        Duration::from_micros(last.saturating_sub(first.min(last)))
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The figures of every second up to now (the current, unfinished one left out unless
    /// `include_current`), from the first second with a request to the last.
    pub fn figures(&self, include_current: bool) -> Vec<SecondFigures> {
        let now = self.started.elapsed().as_secs() as usize;
        let last = if include_current { now + 1 } else { now }.min(self.seconds.len());
        let all: Vec<SecondFigures> = self.seconds[..last]
            .iter()
            .enumerate()
            .map(|(index, second)| {
                let counts: Vec<u64> =
                    second.buckets.iter().map(|bucket| bucket.load(Ordering::Relaxed) as u64).collect();
                SecondFigures {
                    second: index as u64,
                    requests: second.requests.load(Ordering::Relaxed),
                    failures: second.failures.load(Ordering::Relaxed),
                    p50_ms: percentile_ms(&counts, 0.50),
                    p95_ms: percentile_ms(&counts, 0.95),
                    p99_ms: percentile_ms(&counts, 0.99),
                }
            })
            .collect();
        let first = all.iter().position(|second| second.requests > 0).unwrap_or(all.len());
        let end = all.iter().rposition(|second| second.requests > 0).map_or(first, |last| last + 1);
        all[first..end].to_vec()
    }

    /// Requests and failures so far.
    pub fn totals(&self) -> (u64, u64) {
        self.seconds.iter().fold((0, 0), |(requests, failures), second| {
            (requests + second.requests.load(Ordering::Relaxed), failures + second.failures.load(Ordering::Relaxed))
        })
    }
}

/// The latency at or under which `fraction` of the counted requests finished (a bucket's
/// upper bound, so at most 10 % high).
fn percentile_ms(counts: &[u64], fraction: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((total as f64) * fraction).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return bucket_upper(index).as_secs_f64() * 1e3;
        }
    }
    bucket_upper(BUCKETS - 1).as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_within_a_bucket_of_the_truth() {
        let timeline = Timeline::new(Duration::from_secs(10));
        let at = Instant::now();
        for ms in 1..=100 {
            timeline.record(at, Duration::from_millis(ms), ms > 98);
        }
        let figures = timeline.figures(true);
        assert_eq!(figures.len(), 1);
        let second = figures[0];
        assert_eq!((second.requests, second.failures), (100, 2));
        for (measured, truth) in [(second.p50_ms, 50.0), (second.p95_ms, 95.0), (second.p99_ms, 99.0)] {
            assert!(measured >= truth && measured <= truth * 1.1, "{measured} vs {truth}");
        }
        assert_eq!(timeline.totals(), (100, 2));
    }

    #[test]
    fn the_load_was_on_from_the_first_start_to_the_last_finish() {
        let timeline = Timeline::new(Duration::from_secs(10));
        let at = Instant::now() + Duration::from_secs(1);
        for ms in 1..=100 {
            timeline.record(at, Duration::from_millis(ms), false);
        }
        timeline.record(at + Duration::from_millis(50), Duration::from_millis(1), false);
        // The slowest request started 100 ms before `at`; the last finished 50 ms after it.
        assert_eq!(timeline.active(), Duration::from_millis(150));
    }

    #[test]
    fn a_request_after_the_expected_end_lands_in_the_last_second() {
        let timeline = Timeline::new(Duration::from_secs(1));
        timeline.record(Instant::now() + Duration::from_secs(60), Duration::from_micros(1), false);
        assert_eq!(timeline.totals(), (1, 0));
    }
}
