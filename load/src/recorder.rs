//! What one stretch of load measured, gathered as requests finish: per endpoint the requests,
//! failures, 409s and 429s and a [`LatencyHistogram`]; per second of the run the same, for the
//! progress line and the chart; and when the load was on (the first request's start to the last
//! one's end), which throughput is measured over.
//!
//! goose keeps metrics too, but rounds its times into its own buckets and judges thresholds on
//! them; this tool judges everything (thresholds, baselines, comparisons, merged workers) on one
//! kind of histogram, so every percentile it prints comes from the same place. goose still gets
//! every request (`record_custom_request_duration`) for its HTML report and live dashboard.
//!
//! One mutex guards it all: a record is a few adds (well under a microsecond), and with the
//! load generator's runtime on two worker threads it is almost never contended — measured as
//! the same throughput as before against wrk (`load/README.md`, "Performance").

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::latency::LatencyHistogram;

/// How an answer counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Expected,
    /// 409: counted apart, not a failure.
    Conflict,
    /// 429: counted apart, not a failure.
    RateLimited,
    Failed,
}

/// One endpoint's tally.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointTally {
    pub requests: u64,
    pub failures: u64,
    pub conflicts: u64,
    pub rate_limited: u64,
    pub latency: LatencyHistogram,
}

impl EndpointTally {
    fn count(&mut self, outcome: Outcome, latency: Duration) {
        self.requests += 1;
        match outcome {
            Outcome::Expected => {}
            Outcome::Conflict => self.conflicts += 1,
            Outcome::RateLimited => self.rate_limited += 1,
            Outcome::Failed => self.failures += 1,
        }
        self.latency.record(latency);
    }

    pub fn add(&mut self, other: &EndpointTally) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.conflicts += other.conflicts;
        self.rate_limited += other.rate_limited;
        self.latency.add(&other.latency);
    }
}

/// One second of the run, as measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SecondFigures {
    /// Seconds since the Unix epoch (so workers' timelines line up when merged).
    #[serde(default)]
    pub unix_second: i64,
    pub requests: u64,
    pub failures: u64,
    /// The part of this second the load was on (1 but for the first and the last).
    #[serde(default = "whole_second")]
    pub covered: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Empty in summaries written before the tool kept it.
    #[serde(default)]
    pub latency: LatencyHistogram,
}

fn whole_second() -> f64 {
    1.0
}

impl SecondFigures {
    /// Requests per second of load in this second: a partial first or last second is scaled
    /// to what it covered, not drawn as a collapse.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.covered.max(f64::MIN_POSITIVE)
    }

    fn refresh_percentiles(&mut self) {
        self.p50_ms = self.latency.quantile_ms(0.50);
        self.p95_ms = self.latency.quantile_ms(0.95);
        self.p99_ms = self.latency.quantile_ms(0.99);
    }

    /// Adds another worker's same second.
    pub fn add(&mut self, other: &SecondFigures) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.covered = self.covered.max(other.covered);
        self.latency.add(&other.latency);
        self.refresh_percentiles();
    }
}

#[derive(Default)]
struct SecondTally {
    requests: u64,
    failures: u64,
    latency: LatencyHistogram,
}

#[derive(Default)]
struct Tallies {
    endpoints: BTreeMap<String, EndpointTally>,
    seconds: Vec<SecondTally>,
    first_start: Option<Duration>,
    last_finish: Option<Duration>,
}

/// Gathers a stretch of load.
pub struct Recorder {
    started: Instant,
    started_unix: f64,
    tallies: Mutex<Tallies>,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

/// What a stretch of load measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub endpoints: BTreeMap<String, EndpointTally>,
    /// From the first request's start to the last one's end.
    pub active: Duration,
    pub timeline: Vec<SecondFigures>,
}

impl Recorder {
    pub fn new() -> Recorder {
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_secs_f64())
            .unwrap_or_default();
        Recorder { started: Instant::now(), started_unix, tallies: Mutex::default() }
    }

    /// Counts one request to `endpoint` that finished at `finished` after `latency`.
    pub fn record(&self, endpoint: &str, finished: Instant, latency: Duration, outcome: Outcome) {
        let finish = finished.saturating_duration_since(self.started);
        let start = finish.saturating_sub(latency);
        let second = finish.as_secs() as usize;
        let mut tallies = self.tallies.lock().expect("the recorder is never poisoned");
        match tallies.endpoints.get_mut(endpoint) {
            Some(tally) => tally.count(outcome, latency),
            None => {
                let mut tally = EndpointTally::default();
                tally.count(outcome, latency);
                tallies.endpoints.insert(endpoint.to_string(), tally);
            }
        }
        if tallies.seconds.len() <= second {
            tallies.seconds.resize_with(second + 1, SecondTally::default);
        }
        let this_second = &mut tallies.seconds[second];
        this_second.requests += 1;
        if outcome == Outcome::Failed {
            this_second.failures += 1;
        }
        this_second.latency.record(latency);
        tallies.first_start = Some(tallies.first_start.map_or(start, |first| first.min(start)));
        tallies.last_finish = Some(tallies.last_finish.map_or(finish, |last| last.max(finish)));
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Requests and failures so far.
    pub fn totals(&self) -> (u64, u64) {
        let tallies = self.tallies.lock().expect("the recorder is never poisoned");
        tallies
            .endpoints
            .values()
            .fold((0, 0), |(requests, failures), tally| (requests + tally.requests, failures + tally.failures))
    }

    /// The last whole second so far: its requests and p95, for the progress line.
    pub fn last_second(&self) -> Option<(u64, f64)> {
        let now = self.started.elapsed().as_secs() as usize;
        let tallies = self.tallies.lock().expect("the recorder is never poisoned");
        let second = tallies.seconds.get(now.checked_sub(1)?)?;
        Some((second.requests, second.latency.quantile_ms(0.95)))
    }

    /// Everything measured.
    pub fn measured(&self) -> Measured {
        let tallies = self.tallies.lock().expect("the recorder is never poisoned");
        let (Some(first), Some(last)) = (tallies.first_start, tallies.last_finish) else {
            return Measured::default();
        };
        let active = last.saturating_sub(first);
        let timeline = tallies
            .seconds
            .iter()
            .enumerate()
            .filter(|(_, second)| second.requests > 0)
            .map(|(index, second)| {
                // The part of [index, index + 1) the load was on.
                let from = first.as_secs_f64().max(index as f64);
                let to = last.as_secs_f64().min(index as f64 + 1.0);
                let mut figures = SecondFigures {
                    unix_second: (self.started_unix + index as f64).floor() as i64,
                    requests: second.requests,
                    failures: second.failures,
                    covered: (to - from).clamp(0.0, 1.0),
                    p50_ms: 0.0,
                    p95_ms: 0.0,
                    p99_ms: 0.0,
                    latency: second.latency.clone(),
                };
                figures.refresh_percentiles();
                figures
            })
            .collect();
        Measured { endpoints: tallies.endpoints.clone(), active, timeline }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tallied_per_endpoint_and_per_second() {
        let recorder = Recorder::new();
        let at = Instant::now() + Duration::from_millis(1500);
        for ms in 1..=100 {
            let outcome = if ms > 98 { Outcome::Failed } else { Outcome::Expected };
            recorder.record("POST /a", at, Duration::from_millis(ms), outcome);
        }
        recorder.record("GET /b", at, Duration::from_millis(1), Outcome::Conflict);
        let measured = recorder.measured();
        let a = &measured.endpoints["POST /a"];
        assert_eq!((a.requests, a.failures, a.conflicts), (100, 2, 0));
        assert_eq!(measured.endpoints["GET /b"].conflicts, 1);
        assert!((a.latency.quantile_ms(0.95) - 95.0).abs() < 0.1);
        assert_eq!(measured.timeline.len(), 1);
        assert_eq!(measured.timeline[0].requests, 101);
        assert_eq!(recorder.totals(), (101, 2));
    }

    #[test]
    fn the_load_was_on_from_the_first_start_to_the_last_finish() {
        let recorder = Recorder::new();
        let at = Instant::now() + Duration::from_secs(1);
        for ms in 1..=100 {
            recorder.record("x", at, Duration::from_millis(ms), Outcome::Expected);
        }
        recorder.record("x", at + Duration::from_millis(50), Duration::from_millis(1), Outcome::Expected);
        // The slowest request started 100 ms before `at`; the last finished 50 ms after it.
        assert_eq!(recorder.measured().active, Duration::from_millis(150));
    }

    #[test]
    fn a_partial_last_second_is_scaled_to_what_it_covered() {
        let recorder = Recorder::new();
        let base = Instant::now();
        // 100 requests a second for two seconds, then 10 in the first 100 ms of the third.
        for i in 0..200u64 {
            recorder.record("x", base + Duration::from_millis(i * 10 + 5), Duration::from_millis(1), Outcome::Expected);
        }
        for i in 0..10u64 {
            recorder.record(
                "x",
                base + Duration::from_millis(2000 + i * 10),
                Duration::from_millis(1),
                Outcome::Expected,
            );
        }
        let timeline = recorder.measured().timeline;
        let last = timeline.last().unwrap();
        assert_eq!(last.requests, 10);
        assert!(last.covered < 0.2, "{}", last.covered);
        assert!((last.rate() - 100.0).abs() < 15.0, "a partial second is scaled: {}", last.rate());
        assert!((timeline[1].rate() - 100.0).abs() < 1.0);
    }
}
