//! The one latency histogram of the tool: an HdrHistogram of microseconds with three significant
//! digits (every value kept within 0.1 %), from 1 µs up, growing as slower requests come.
//!
//! Everything that reports a latency percentile reads it from one of these — a run's endpoints,
//! each second of the timeline, a comparison's rounds, the workers `load merge` combines — so a
//! percentile of several parts is always the percentile of their **merged** histogram (counts
//! added), never an average of percentiles, which has no meaning.
//!
//! In `summary.json` a histogram is the list of its recorded values and their counts
//! (`[[µs, count], …]`, a few hundred pairs for a typical endpoint): readable, and read back
//! into the same buckets.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::de::Error as _;

/// Significant digits every recorded value keeps.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies, in microseconds.
#[derive(Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> LatencyHistogram {
        LatencyHistogram::new()
    }
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatencyHistogram({} values, p50 {:?}, max {:?})", self.len(), self.quantile(0.5), self.max())
    }
}

impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &LatencyHistogram) -> bool {
        self.len() == other.len() && self.recorded().eq(other.recorded())
    }
}

impl LatencyHistogram {
    pub fn new() -> LatencyHistogram {
        let mut histogram = Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits are allowed");
        histogram.auto(true);
        LatencyHistogram { histogram }
    }

    pub fn record(&mut self, latency: Duration) {
        self.record_us(latency.as_micros().min(u64::MAX as u128) as u64, 1);
    }

    /// `count` requests that took `us` microseconds (a 0 counts as 1 µs).
    pub fn record_us(&mut self, us: u64, count: u64) {
        self.histogram.record_n(us.max(1), count).expect("an auto-resizing histogram takes any value");
    }

    /// Adds every value of `other`.
    pub fn add(&mut self, other: &LatencyHistogram) {
        self.histogram.add(&other.histogram).expect("auto-resizing histograms of the same precision add");
    }

    /// The merged histogram of `parts`.
    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a LatencyHistogram>) -> LatencyHistogram {
        let mut all = LatencyHistogram::new();
        for part in parts {
            all.add(part);
        }
        all
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The latency at or under which `fraction` of the requests finished; zero when empty.
    pub fn quantile(&self, fraction: f64) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.histogram.value_at_quantile(fraction))
    }

    /// The same, in milliseconds.
    pub fn quantile_ms(&self, fraction: f64) -> f64 {
        self.quantile(fraction).as_secs_f64() * 1e3
    }

    pub fn max(&self) -> Duration {
        if self.is_empty() { Duration::ZERO } else { Duration::from_micros(self.histogram.max()) }
    }

    pub fn min(&self) -> Duration {
        if self.is_empty() { Duration::ZERO } else { Duration::from_micros(self.histogram.min()) }
    }

    pub fn mean_ms(&self) -> f64 {
        if self.is_empty() { 0.0 } else { self.histogram.mean() / 1e3 }
    }

    /// Requests at or under `bound`: a cumulative bucket of the Prometheus histogram.
    pub fn count_at_or_below(&self, bound: Duration) -> u64 {
        let us = bound.as_micros().min(u64::MAX as u128) as u64;
        if self.is_empty() || us == 0 {
            return 0;
        }
        self.histogram.count_between(0, us)
    }

    /// Every recorded value (the highest of its bucket, µs) and its count, lowest first.
    pub fn recorded(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.histogram
            .iter_recorded()
            .map(|value| (self.histogram.highest_equivalent(value.value_iterated_to()), value.count_at_value()))
    }
}

impl serde::Serialize for LatencyHistogram {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.recorded().map(|(us, count)| [us, count]))
    }
}

impl<'de> serde::Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<LatencyHistogram, D::Error> {
        let pairs: Vec<[u64; 2]> = serde::Deserialize::deserialize(deserializer)?;
        let mut histogram = LatencyHistogram::new();
        for [us, count] in pairs {
            if count == 0 {
                return Err(D::Error::custom(format!("a latency of {us} µs recorded 0 times")));
            }
            histogram.record_us(us, count);
        }
        Ok(histogram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of_ms(values: impl IntoIterator<Item = u64>) -> LatencyHistogram {
        let mut histogram = LatencyHistogram::new();
        for ms in values {
            histogram.record(Duration::from_millis(ms));
        }
        histogram
    }

    #[test]
    fn percentiles_are_within_a_thousandth_of_the_truth() {
        let histogram = of_ms(1..=1000);
        for (fraction, truth) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let measured = histogram.quantile_ms(fraction);
            assert!((measured - truth).abs() <= truth * 0.001, "p{fraction}: {measured} vs {truth}");
        }
        assert_eq!(histogram.len(), 1000);
    }

    #[test]
    fn the_percentile_of_merged_parts_is_not_the_average_of_their_percentiles() {
        // A big fast part and a small slow one: the average of the two p95s says 25.5 ms,
        // while 95 % of all requests took 1 ms.
        let fast = of_ms(std::iter::repeat_n(1, 1000));
        let slow = of_ms(std::iter::repeat_n(50, 40));
        let average = (fast.quantile_ms(0.95) + slow.quantile_ms(0.95)) / 2.0;
        let merged = LatencyHistogram::merged([&fast, &slow]);
        assert!((merged.quantile_ms(0.95) - 1.0).abs() < 0.01, "{}", merged.quantile_ms(0.95));
        assert!(average > 25.0);
        assert_eq!(merged.len(), 1040);
    }

    #[test]
    fn a_histogram_reads_back_from_json_into_the_same_buckets() {
        let histogram = of_ms([1, 2, 2, 3, 250, 9000]);
        let text = serde_json::to_string(&histogram).unwrap();
        let back: LatencyHistogram = serde_json::from_str(&text).unwrap();
        assert_eq!(back, histogram);
        assert_eq!(back.quantile(0.99), histogram.quantile(0.99));
        assert!(serde_json::from_str::<LatencyHistogram>("[[5, 0]]").is_err());
    }

    #[test]
    fn cumulative_buckets_count_what_is_at_or_below_the_bound() {
        let histogram = of_ms([1, 2, 3, 10]);
        assert_eq!(histogram.count_at_or_below(Duration::from_micros(2_002)), 2);
        assert_eq!(histogram.count_at_or_below(Duration::from_millis(100)), 4);
        assert_eq!(histogram.count_at_or_below(Duration::ZERO), 0);
    }
}
