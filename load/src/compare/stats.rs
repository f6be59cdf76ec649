//! The statistics of `load compare`: for each figure, the candidate/base ratio with a
//! confidence interval over the rounds, and a verdict against a minimum effect.
//!
//! ## The method, and why
//!
//! The rounds come in **pairs** — one base round and one candidate round, run back to back in
//! a random order — so whatever else the machine does at that moment hits both. A figure is
//! always computed over *pooled* rounds: throughput as all requests over all load time, a
//! latency percentile as the percentile of the **merged histogram** of the rounds (never an
//! average of per-round percentiles), the error rate as all failures over all requests.
//!
//! The interval is a **paired bootstrap**: draw the pairs again with replacement, pool each
//! side's drawn rounds, and take the candidate/base ratio (on a log scale; the error rate as a
//! difference in points); the spread of those ratios over many draws is the interval. Resampling
//! whole pairs keeps what the two sides of a pair share; pooling keeps percentiles coming from
//! merged histograms, which a rank test on per-round figures (Mann–Whitney, Hodges–Lehmann)
//! could not do, and it makes no assumption about the shape of the noise (a busy machine's
//! noise is skewed and heavy-tailed, not normal). A plain percentile bootstrap is too narrow
//! with the handful of pairs a comparison can afford (it behaves like a z interval with n in
//! place of n − 1); this uses Hesterberg's **expanded percentile interval** (Hesterberg 2015,
//! "What teachers should know about the bootstrap", §4.3): the percentiles taken at α′ with
//! z(α′/2) = √(n/(n−1)) · t(α/2, n−1), which has the small-sample coverage of a t interval.
//!
//! ## The verdicts
//! With the minimum effect m (5 % by default) and the interval [lo, hi] of the ratio:
//! - **regressed**: the whole interval is beyond 1 + m in the bad direction (beyond 1 − m for
//!   throughput, which is better higher);
//! - **improved**: the whole interval is beyond it in the good direction;
//! - **no change**: the whole interval is within 1 ± m;
//! - **inconclusive**: none of these; the report gives the rounds that would settle it at the
//!   noise seen (the interval narrows as 1/√n).
//!
//! The error rate is judged on the difference in percentage points, with m/10 points (0.5 by
//! default) as its minimum effect.
//!
//! ## Too few pairs for any verdict
//! Below [`min_pairs`] (6 at 95 %) every verdict is **inconclusive**. Every bootstrap draw is
//! made of the same few pairs, so the interval can never reach beyond their own range: three
//! pairs leaning the same way by chance (one time in four under no change at all) were called a
//! regression — an A/A run on a busy machine got "REGRESSED, 0.69 (0.56–0.88)" from three pairs.
//! The floor is the one a distribution-free test of the pairs sets: the order within a pair is
//! random, so under no change each pair leans either way with even odds, and fewer than
//! log₂(2/α) pairs cannot all lean one way rarely enough, whatever the interval's shape.
//!
//! ## The pairs must agree with a regression
//! From the floor on, a **regressed** or **improved** verdict also needs the pairs behind it: the
//! exact Wilcoxon signed-rank test of the per-pair effects (each pair's own candidate/base ratio)
//! must put the lean beyond one tail of the interval, or the verdict is inconclusive with a note
//! saying how many pairs lean that way ([`gate`] has the case that made it necessary: a p50 in
//! two modes). "No change" is left to the interval: a per-pair test of equivalence would need
//! each round's own p95 within the band, which short rounds' tails rarely are, and the costly
//! wrong answer on a shared machine is the false regression that turns CI red. A t
//! interval on the per-pair ratios was tried as a floor instead, and rejected: it is wider than
//! the pooled bootstrap (per-round percentiles are noisier than merged ones) and at 8 pairs it
//! missed a 10 % slowdown the bootstrap finds.
//!
//! Prior art read first: criterion compares two samples with a bootstrap and a noise
//! threshold in the same way (but on one machine's sequential runs, not interleaved pairs);
//! Bencher's threshold models (t-test, log-normal, IQR) judge one new figure against a history,
//! which is the absolute-baseline question this tool stopped asking; Apache Otava finds change
//! points in a series, for the nightly trend in Prometheus rather than for a gate.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::latency::LatencyHistogram;

/// What one round measured of one endpoint, as the statistics need it.
#[derive(Debug, Clone, Default)]
pub struct RoundSample {
    pub requests: u64,
    pub failures: u64,
    /// The time the load was on.
    pub seconds: f64,
    pub latency: LatencyHistogram,
    /// CPU seconds the server side spent (when it could be read).
    pub cpu_seconds: Option<f64>,
}

/// A figure compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    Throughput,
    P50,
    P95,
    P99,
    ErrorRate,
    /// The server side's CPU time per request, in µs ([`crate::cpu`]).
    CpuPerRequest,
}

impl Figure {
    /// The figures of an endpoint.
    pub const ALL: [Figure; 5] = [Figure::Throughput, Figure::P50, Figure::P95, Figure::P99, Figure::ErrorRate];

    pub fn label(self) -> &'static str {
        match self {
            Figure::Throughput => "throughput",
            Figure::P50 => "p50",
            Figure::P95 => "p95",
            Figure::P99 => "p99",
            Figure::ErrorRate => "error rate",
            Figure::CpuPerRequest => "CPU per request",
        }
    }

    fn quantile(self) -> Option<f64> {
        match self {
            Figure::P50 => Some(0.50),
            Figure::P95 => Some(0.95),
            Figure::P99 => Some(0.99),
            _ => None,
        }
    }

    /// Whether a higher value is worse.
    pub fn higher_is_worse(self) -> bool {
        self != Figure::Throughput
    }

    /// Whether it is compared as a difference (the error rate) rather than a ratio.
    pub fn is_difference(self) -> bool {
        self == Figure::ErrorRate
    }

    /// The figure over the rounds `weights` picks (weight = times drawn): req/s, ms, or %.
    fn pooled(self, rounds: &PooledSide, weights: &[u32]) -> Option<f64> {
        match self {
            Figure::Throughput => {
                let (requests, seconds) =
                    weights.iter().zip(&rounds.samples).fold((0.0, 0.0), |(r, s), (w, sample)| {
                        (r + *w as f64 * sample.requests as f64, s + *w as f64 * sample.seconds)
                    });
                (seconds > 0.0).then(|| requests / seconds)
            }
            Figure::ErrorRate => {
                let (failures, requests) =
                    weights.iter().zip(&rounds.samples).fold((0.0, 0.0), |(f, r), (w, sample)| {
                        (f + *w as f64 * sample.failures as f64, r + *w as f64 * sample.requests as f64)
                    });
                (requests > 0.0).then(|| failures * 100.0 / requests)
            }
            Figure::CpuPerRequest => {
                let mut cpu = 0.0;
                let mut requests = 0.0;
                for (weight, sample) in weights.iter().zip(&rounds.samples).filter(|(w, _)| **w > 0) {
                    cpu += *weight as f64 * sample.cpu_seconds?;
                    requests += *weight as f64 * sample.requests as f64;
                }
                (requests > 0.0).then(|| cpu * 1e6 / requests)
            }
            _ => rounds.quantile_ms(weights, self.quantile().expect("a percentile")),
        }
    }
}

/// One side's rounds, with every round's histogram laid on a common grid of values as
/// cumulative counts, so a bootstrap draw finds a percentile of the merged rounds by a binary
/// search over weighted sums (the sum is as monotone as each round's counts).
struct PooledSide {
    samples: Vec<RoundSample>,
    /// Every value (µs) any round recorded, ascending.
    grid: Vec<u64>,
    /// Per round, per grid value: the requests at or under it.
    cumulative: Vec<Vec<u64>>,
}

impl PooledSide {
    fn new(samples: &[RoundSample]) -> PooledSide {
        let mut grid: Vec<u64> =
            samples.iter().flat_map(|sample| sample.latency.recorded().map(|(us, _)| us)).collect();
        grid.sort_unstable();
        grid.dedup();
        let cumulative = samples
            .iter()
            .map(|sample| {
                let mut counts = vec![0; grid.len()];
                for (us, count) in sample.latency.recorded() {
                    counts[grid.binary_search(&us).expect("every value is on the grid")] = count;
                }
                let mut running = 0;
                counts
                    .into_iter()
                    .map(|count| {
                        running += count;
                        running
                    })
                    .collect()
            })
            .collect();
        PooledSide { samples: samples.to_vec(), grid, cumulative }
    }

    /// The `fraction` quantile of the merged histogram of the rounds `weights` picks, in ms.
    fn quantile_ms(&self, weights: &[u32], fraction: f64) -> Option<f64> {
        let at_or_below = |index: usize| -> u64 {
            weights.iter().zip(&self.cumulative).map(|(w, cumulative)| *w as u64 * cumulative[index]).sum()
        };
        let last = self.grid.len().checked_sub(1)?;
        let total = at_or_below(last);
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * fraction).ceil().max(1.0) as u64;
        // The first grid value with at least `rank` requests at or under it.
        let (mut low, mut high) = (0, last);
        while low < high {
            let middle = (low + high) / 2;
            if at_or_below(middle) < rank { low = middle + 1 } else { high = middle }
        }
        Some(self.grid[low] as f64 / 1e3)
    }
}

/// How a figure compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regressed,
    Improved,
    NoChange,
    Inconclusive,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved",
            Verdict::NoChange => "no change",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// The settings of the statistics.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The smallest change that matters, as a fraction (0.05 for 5 %).
    pub min_effect: f64,
    /// The interval's confidence, as a fraction (0.95).
    pub confidence: f64,
    pub resamples: usize,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { min_effect: 0.05, confidence: 0.95, resamples: 4000, seed: 1 }
    }
}

/// One figure's comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Comparison {
    pub figure: Figure,
    /// Pooled over every round: req/s, ms or %.
    pub base: Option<f64>,
    pub candidate: Option<f64>,
    /// candidate / base (for the error rate: candidate − base, in points).
    pub estimate: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub verdict: Verdict,
    /// For an inconclusive verdict: the pairs of rounds that would settle it at the noise
    /// seen; `None` when none would (the change sits on the minimum effect itself).
    pub pairs_needed: Option<u64>,
    /// Why, in words, when there is something to say (no samples, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Compares one figure over paired rounds: `base[i]` and `candidate[i]` ran as pair `i`.
pub fn compare(figure: Figure, base: &[RoundSample], candidate: &[RoundSample], settings: &Settings) -> Comparison {
    assert_eq!(base.len(), candidate.len(), "rounds come in pairs");
    let pairs = base.len();
    let (base, candidate) = (PooledSide::new(base), PooledSide::new(candidate));
    let all = vec![1; pairs];
    let (base_value, candidate_value) = (figure.pooled(&base, &all), figure.pooled(&candidate, &all));
    let nothing = |note: &str| Comparison {
        figure,
        base: base_value,
        candidate: candidate_value,
        estimate: None,
        low: None,
        high: None,
        verdict: Verdict::Inconclusive,
        pairs_needed: None,
        note: Some(note.to_string()),
    };
    let (Some(base_value), Some(candidate_value)) = (base_value, candidate_value) else {
        return nothing("no samples on one side");
    };
    if pairs < 2 {
        return nothing("one pair of rounds gives no interval");
    }
    // The effect, on the scale it is judged on: the log of the ratio, or the difference.
    let effect = |base: f64, candidate: f64| -> Option<f64> {
        if figure.is_difference() {
            Some(candidate - base)
        } else if base > 0.0 && candidate > 0.0 {
            Some((candidate / base).ln())
        } else {
            None
        }
    };
    let Some(point) = effect(base_value, candidate_value) else {
        return nothing("a figure of zero has no ratio");
    };
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let mut weights = vec![0u32; pairs];
    let mut draws = Vec::with_capacity(settings.resamples);
    for _ in 0..settings.resamples {
        weights.iter_mut().for_each(|weight| *weight = 0);
        for _ in 0..pairs {
            weights[rng.random_range(0..pairs)] += 1;
        }
        if let (Some(b), Some(c)) = (figure.pooled(&base, &weights), figure.pooled(&candidate, &weights))
            && let Some(drawn) = effect(b, c)
        {
            draws.push(drawn);
        }
    }
    if draws.len() < settings.resamples / 2 {
        return nothing("too few rounds with samples to draw from");
    }
    draws.sort_by(f64::total_cmp);
    let tail = expanded_tail(pairs, settings.confidence);
    let (low, high) = (percentile(&draws, tail), percentile(&draws, 1.0 - tail));
    let (verdict, pairs_needed) = judge(figure, point, low, high, pairs, settings.min_effect);
    // Each pair's own effect, for the check that the pairs agree with a directional verdict.
    let per_pair: Vec<f64> = (0..pairs)
        .filter_map(|pair| {
            let mut one = vec![0; pairs];
            one[pair] = 1;
            effect(figure.pooled(&base, &one)?, figure.pooled(&candidate, &one)?)
        })
        .collect();
    let (verdict, pairs_needed, note) = gate(figure, verdict, pairs_needed, &per_pair, pairs, settings.confidence);
    let shown = |x: f64| if figure.is_difference() { x } else { x.exp() };
    Comparison {
        figure,
        base: Some(base_value),
        candidate: Some(candidate_value),
        estimate: Some(shown(point)),
        low: Some(shown(low)),
        high: Some(shown(high)),
        verdict,
        pairs_needed,
        note,
    }
}

/// What the interval's verdict becomes once the pairs are asked too: below [`min_pairs`] every
/// verdict is inconclusive; a regression or an improvement must also be where the pairs lean,
/// by the exact Wilcoxon signed-rank test of the per-pair effects at one tail of the interval.
///
/// That second check is for figures the bootstrap is overconfident about: a percentile of a
/// side's merged rounds jumps between modes when the rounds are bimodal (a healthz p50 of
/// 0.40 ms or 0.56 ms per round, as the scheduler places the processes on a busy machine), so
/// an A/A run whose base rounds fell mostly in one mode and candidate rounds in the other got
/// "REGRESSED, p50 1.40 (1.08–1.75)" from six pairs that did not all lean that way. The rank
/// test assumes only what the design guarantees (the order within a pair is random, so under
/// no change each pair's effect is as likely to be either sign).
fn gate(
    figure: Figure,
    verdict: Verdict,
    pairs_needed: Option<u64>,
    per_pair: &[f64],
    pairs: usize,
    confidence: f64,
) -> (Verdict, Option<u64>, Option<String>) {
    let floor = min_pairs(confidence);
    if pairs < floor {
        // The pairs it needs are at least the floor (none, when the change sits on the
        // minimum effect itself).
        let needed = match (verdict, pairs_needed) {
            (Verdict::Inconclusive, None) => None,
            (_, needed) => Some(needed.unwrap_or(0).max(floor as u64)),
        };
        let note = format!(
            "{pairs} pairs of rounds settle nothing at {}% confidence: {floor} or more are needed, however narrow the interval",
            confidence * 100.0
        );
        return (Verdict::Inconclusive, needed, Some(note));
    }
    if !matches!(verdict, Verdict::Regressed | Verdict::Improved) {
        return (verdict, pairs_needed, None);
    }
    let upward = (verdict == Verdict::Regressed) == figure.higher_is_worse();
    let p = signed_rank_p(per_pair, upward);
    if p <= (1.0 - confidence) / 2.0 {
        return (verdict, pairs_needed, None);
    }
    let leaning = per_pair.iter().filter(|effect| (**effect > 0.0) == upward && **effect != 0.0).count();
    let note = format!(
        "the interval says {}, but only {leaning} of {} pairs lean that way (signed-rank p = {p:.3}): the rounds \
         disagree more than the pooled figure shows",
        verdict.label().to_lowercase(),
        per_pair.len()
    );
    (Verdict::Inconclusive, Some(pairs_needed_by_pairs(per_pair, pairs, confidence)), Some(note))
}

/// The pairs at which the per-pair effects' t interval, at the noise seen, would leave zero.
fn pairs_needed_by_pairs(per_pair: &[f64], pairs: usize, confidence: f64) -> u64 {
    let n = per_pair.len().max(2) as f64;
    let mean = per_pair.iter().sum::<f64>() / n;
    let variance = per_pair.iter().map(|effect| (effect - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = StudentsT::new(0.0, 1.0, n - 1.0).expect("positive degrees").inverse_cdf(0.5 + confidence / 2.0);
    let needed = if mean.abs() < 1e-12 { 1e9 } else { (t * variance.sqrt() / mean.abs()).powi(2).ceil() };
    needed.max(pairs as f64 + 1.0).min(1e9) as u64
}

/// The one-sided p-value of the exact Wilcoxon signed-rank test that `effects` lean upward (or
/// downward): the chance, with every sign a fair coin, of a rank sum on that side at least the
/// one seen. Zero effects are dropped; tied magnitudes share their mean rank.
pub fn signed_rank_p(effects: &[f64], upward: bool) -> f64 {
    let mut magnitudes: Vec<(f64, bool)> = effects
        .iter()
        .filter(|effect| **effect != 0.0)
        .map(|effect| (effect.abs(), (*effect > 0.0) == upward))
        .collect();
    if magnitudes.is_empty() {
        return 1.0;
    }
    magnitudes.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Doubled mean ranks, so ties stay integers: positions a..=b (from 1) share (a + b) / 2.
    let mut ranks = vec![0usize; magnitudes.len()];
    let mut start = 0;
    while start < magnitudes.len() {
        let end =
            (start..magnitudes.len()).take_while(|&i| magnitudes[i].0 == magnitudes[start].0).last().unwrap_or(start);
        (start..=end).for_each(|i| ranks[i] = start + 1 + end + 1);
        start = end + 1;
    }
    let seen: usize = ranks.iter().zip(&magnitudes).filter(|(_, (_, leans))| *leans).map(|(rank, _)| rank).sum();
    // The null distribution of the doubled rank sum: each rank in or out with even odds.
    let total: usize = ranks.iter().sum();
    let mut chances = vec![0.0f64; total + 1];
    chances[0] = 1.0;
    let mut reach = 0;
    for &rank in &ranks {
        for sum in (0..=reach).rev() {
            let here = chances[sum] / 2.0;
            chances[sum] = here;
            chances[sum + rank] += here;
        }
        reach += rank;
    }
    chances[seen..].iter().sum::<f64>().min(1.0)
}

/// The fewest pairs for any verdict but inconclusive at `confidence`: the smallest n for which
/// n pairs all leaning the same way by chance (½ⁿ under no change, the order within a pair being
/// random) is rarer than one tail of the interval, (1 − confidence)/2. 6 at 95 %, 8 at 99 %.
pub fn min_pairs(confidence: f64) -> usize {
    let tail = ((1.0 - confidence) / 2.0).clamp(f64::MIN_POSITIVE, 0.5);
    // A hair of slack so that a tail of exactly 2⁻ⁿ (e.g. 75 %: ⅛) needs n, not n + 1.
    ((1.0 / tail).log2() - 1e-9).ceil().max(2.0) as usize
}

/// The tail probability of Hesterberg's expanded percentile interval for `n` pairs.
pub fn expanded_tail(n: usize, confidence: f64) -> f64 {
    let alpha = 1.0 - confidence;
    let degrees = (n.max(2) - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, degrees).expect("positive degrees of freedom").inverse_cdf(1.0 - alpha / 2.0);
    let z = (n.max(2) as f64 / degrees).sqrt() * t;
    1.0 - Normal::standard().cdf(z)
}

/// The `fraction` percentile of sorted `values`, interpolated.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let at = fraction.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (below, above) = (at.floor() as usize, at.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (at - below as f64)
}

/// The verdict for an interval [low, high] around `point` (log ratios, or differences in
/// points for the error rate), and for an inconclusive one the pairs that would settle it.
fn judge(figure: Figure, point: f64, low: f64, high: f64, pairs: usize, min_effect: f64) -> (Verdict, Option<u64>) {
    // The band of "no change" on the judged scale.
    let (lower, upper) = if figure.is_difference() {
        (-min_effect * 10.0, min_effect * 10.0)
    } else {
        ((1.0 - min_effect).ln(), (1.0 + min_effect).ln())
    };
    let (worse_beyond, better_beyond) =
        if figure.higher_is_worse() { (low > upper, high < lower) } else { (high < lower, low > upper) };
    if worse_beyond {
        return (Verdict::Regressed, None);
    }
    if better_beyond {
        return (Verdict::Improved, None);
    }
    if low >= lower && high <= upper {
        return (Verdict::NoChange, None);
    }
    // How narrow the interval must get for the verdict the point estimate leans to.
    let room = if point > upper {
        point - upper
    } else if point < lower {
        lower - point
    } else {
        (point - lower).min(upper - point)
    };
    let half_width = (high - low) / 2.0;
    if room < 1e-4 || half_width <= 0.0 {
        return (Verdict::Inconclusive, None);
    }
    let needed = (pairs as f64 * (half_width / room).powi(2)).ceil();
    (Verdict::Inconclusive, Some(needed.max(pairs as f64 + 1.0).min(1e9) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::distr::{Distribution, Uniform};
    use std::time::Duration;

    /// A round of `requests` latencies drawn around `median_ms` with a log-normal spread
    /// (`tail` > 0 adds a Pareto tail to one request in twenty), over `seconds`.
    fn round(rng: &mut StdRng, median_ms: f64, spread: f64, tail: f64, requests: u64, seconds: f64) -> RoundSample {
        let uniform = Uniform::new(0.0f64, 1.0).unwrap();
        let mut latency = LatencyHistogram::new();
        for _ in 0..requests {
            // Box–Muller for a normal draw.
            let (u, v): (f64, f64) = (uniform.sample(rng).max(1e-12), uniform.sample(rng));
            let normal = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
            let mut ms = median_ms * (spread * normal).exp();
            if tail > 0.0 && uniform.sample(rng) < 0.05 {
                ms *= uniform.sample(rng).max(1e-6).powf(-1.0 / tail);
            }
            latency.record(Duration::from_secs_f64(ms / 1e3));
        }
        RoundSample { requests, failures: 0, seconds, latency, cpu_seconds: None }
    }

    /// `pairs` pairs on a noisy machine: each pair shares a machine speed drawn anew (±15 %),
    /// each round adds its own noise (±3 %); the candidate is `effect` slower (1.10 = 10 %).
    fn experiment(seed: u64, pairs: usize, effect: f64, tail: f64) -> (Vec<RoundSample>, Vec<RoundSample>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let uniform = Uniform::new(-1.0f64, 1.0).unwrap();
        let (mut base, mut candidate) = (Vec::new(), Vec::new());
        for _ in 0..pairs {
            let machine = 1.0 + 0.15 * uniform.sample(&mut rng);
            for (side, slower) in [(&mut base, 1.0), (&mut candidate, effect)] {
                let own = 1.0 + 0.03 * uniform.sample(&mut rng);
                let median = 2.0 * machine * own * slower;
                let requests = (20_000.0 / (machine * own * slower)) as u64;
                side.push(round(&mut rng, median, 0.3, tail, requests / 10, 1.0));
            }
        }
        (base, candidate)
    }

    type Verdicts = std::collections::BTreeMap<&'static str, Vec<Verdict>>;

    /// Each figure's verdicts over ten experiments of `effect`.
    fn verdicts_of(effect: f64, tail: f64) -> Verdicts {
        let mut seen = std::collections::BTreeMap::new();
        for seed in 0..10 {
            let (base, candidate) = experiment(seed, 8, effect, tail);
            for figure in Figure::ALL {
                let settings = Settings { resamples: 1000, seed, ..Settings::default() };
                let verdict = compare(figure, &base, &candidate, &settings).verdict;
                seen.entry(figure.label()).or_insert_with(Vec::new).push(verdict);
            }
        }
        seen
    }

    fn verdicts(effect: f64, tail: f64, figure: Figure) -> Vec<Verdict> {
        thread_local! {
            static SEEN: std::cell::RefCell<std::collections::BTreeMap<(u64, u64), Verdicts>> = Default::default();
        }
        SEEN.with(|seen| {
            seen.borrow_mut().entry((effect.to_bits(), tail.to_bits())).or_insert_with(|| verdicts_of(effect, tail))
                [figure.label()]
            .clone()
        })
    }

    #[test]
    fn the_same_distribution_on_both_sides_never_regresses_and_mostly_shows_no_change() {
        for figure in [Figure::Throughput, Figure::P50, Figure::P95] {
            let seen = verdicts(1.0, 0.0, figure);
            assert!(!seen.contains(&Verdict::Regressed), "{figure:?}: {seen:?}");
            assert!(!seen.contains(&Verdict::Improved), "{figure:?}: {seen:?}");
            let unchanged = seen.iter().filter(|verdict| **verdict == Verdict::NoChange).count();
            assert!(unchanged >= 7, "{figure:?}: {seen:?}");
        }
    }

    #[test]
    fn a_3_percent_slowdown_is_below_the_minimum_effect_and_never_called_a_regression() {
        for figure in [Figure::Throughput, Figure::P95] {
            let seen = verdicts(1.03, 0.0, figure);
            assert!(!seen.contains(&Verdict::Regressed), "{figure:?}: {seen:?}");
        }
    }

    #[test]
    fn a_10_percent_slowdown_regresses_throughput_and_latency() {
        for figure in [Figure::Throughput, Figure::P50, Figure::P95] {
            let seen = verdicts(1.10, 0.0, figure);
            let regressed = seen.iter().filter(|verdict| **verdict == Verdict::Regressed).count();
            assert!(regressed >= 9, "{figure:?}: {seen:?}");
            assert!(!seen.contains(&Verdict::Improved) && !seen.contains(&Verdict::NoChange), "{seen:?}");
        }
    }

    #[test]
    fn a_30_percent_slowdown_regresses_every_time_and_a_30_percent_speedup_improves() {
        for figure in [Figure::Throughput, Figure::P50, Figure::P95, Figure::P99] {
            assert!(verdicts(1.30, 0.0, figure).iter().all(|v| *v == Verdict::Regressed), "{figure:?}");
            assert!(verdicts(1.0 / 1.30, 0.0, figure).iter().all(|v| *v == Verdict::Improved), "{figure:?}");
        }
    }

    #[test]
    fn heavy_tails_make_p99_inconclusive_rather_than_wrong() {
        // A Pareto tail of index 1.2 (infinite variance) on the same distribution both sides.
        let seen = verdicts(1.0, 1.2, Figure::P99);
        assert!(!seen.contains(&Verdict::Regressed) && !seen.contains(&Verdict::Improved), "{seen:?}");
        let (base, candidate) = experiment(3, 8, 1.0, 1.2);
        let p99 = compare(Figure::P99, &base, &candidate, &Settings::default());
        if p99.verdict == Verdict::Inconclusive {
            assert!(p99.pairs_needed.is_none_or(|needed| needed > 8), "{p99:?}");
        }
    }

    #[test]
    fn the_interval_holds_the_true_ratio_and_the_estimate() {
        let mut covered = 0;
        for seed in 0..20 {
            let (base, candidate) = experiment(100 + seed, 8, 1.15, 0.0);
            let comparison =
                compare(Figure::P50, &base, &candidate, &Settings { resamples: 1000, seed, ..Settings::default() });
            let (low, high, estimate) =
                (comparison.low.unwrap(), comparison.high.unwrap(), comparison.estimate.unwrap());
            assert!(low <= estimate && estimate <= high, "{comparison:?}");
            if low <= 1.15 && 1.15 <= high {
                covered += 1;
            }
        }
        assert!(covered >= 17, "a 95 % interval held the true ratio {covered} times in 20");
    }

    #[test]
    fn percentiles_come_from_merged_rounds_not_averaged_ones() {
        let mut fast = LatencyHistogram::new();
        for _ in 0..1000 {
            fast.record(Duration::from_millis(1));
        }
        let mut slow = LatencyHistogram::new();
        for _ in 0..40 {
            slow.record(Duration::from_millis(50));
        }
        let rounds = [
            RoundSample { requests: 1000, failures: 0, seconds: 1.0, latency: fast, cpu_seconds: Some(0.5) },
            RoundSample { requests: 40, failures: 0, seconds: 1.0, latency: slow, cpu_seconds: Some(0.02) },
        ];
        let side = PooledSide::new(&rounds);
        let p95 = Figure::P95.pooled(&side, &[1, 1]).unwrap();
        assert!((p95 - 1.0).abs() < 0.01, "the merged p95 is 1 ms, not the 25 ms average: {p95}");
        assert_eq!(Figure::Throughput.pooled(&side, &[1, 1]), Some(520.0));
        assert_eq!(Figure::Throughput.pooled(&side, &[2, 0]), Some(1000.0));
        // CPU per request pooled: 0.52 s over 1,040 requests is 500 µs.
        assert!((Figure::CpuPerRequest.pooled(&side, &[1, 1]).unwrap() - 500.0).abs() < 1e-9);
    }

    #[test]
    fn the_error_rate_is_judged_in_points() {
        let with_failures = |failures| RoundSample {
            requests: 1000,
            failures,
            seconds: 1.0,
            latency: LatencyHistogram::default(),
            cpu_seconds: None,
        };
        let base: Vec<_> = (0..6).map(|_| with_failures(0)).collect();
        let same = compare(Figure::ErrorRate, &base, &base, &Settings::default());
        assert_eq!(same.verdict, Verdict::NoChange);
        let worse: Vec<_> = (0..6).map(|i| with_failures(30 + i)).collect();
        let comparison = compare(Figure::ErrorRate, &base, &worse, &Settings::default());
        assert_eq!(comparison.verdict, Verdict::Regressed, "{comparison:?}");
        assert!((comparison.estimate.unwrap() - 3.25).abs() < 0.01);
    }

    #[test]
    fn an_inconclusive_verdict_says_how_many_pairs_would_settle_it() {
        assert_eq!(judge(Figure::P95, 0.0, -0.02, 0.02, 8, 0.05).0, Verdict::NoChange);
        let (verdict, needed) = judge(Figure::P95, 0.0, -0.08, 0.08, 8, 0.05);
        assert_eq!(verdict, Verdict::Inconclusive);
        // Half-width 0.08 must shrink to under ln(1.05) ≈ 0.049: about (0.08/0.049)² × 8 pairs.
        assert!((20..=23).contains(&needed.unwrap()), "{needed:?}");
        // A change right on the minimum effect can never be settled.
        assert_eq!(judge(Figure::P95, 1.05f64.ln(), 0.0, 0.1, 8, 0.05), (Verdict::Inconclusive, None));
        assert_eq!(judge(Figure::Throughput, -0.2, -0.25, -0.15, 8, 0.05).0, Verdict::Regressed);
        assert_eq!(judge(Figure::P95, -0.2, -0.25, -0.15, 8, 0.05).0, Verdict::Improved);
    }

    #[test]
    fn the_fewest_pairs_for_a_verdict_follow_the_confidence() {
        assert_eq!(min_pairs(0.95), 6);
        assert_eq!(min_pairs(0.99), 8);
        assert_eq!(min_pairs(0.90), 5);
        assert_eq!(min_pairs(0.75), 3);
        assert_eq!(min_pairs(0.50), 2);
    }

    /// `pairs` pairs of throughput-only rounds whose candidate/base ratios are `ratios`.
    fn leaning(ratios: &[f64]) -> (Vec<RoundSample>, Vec<RoundSample>) {
        let side = |requests: f64| RoundSample {
            requests: requests as u64,
            failures: 0,
            seconds: 1.0,
            latency: LatencyHistogram::default(),
            cpu_seconds: None,
        };
        let base: Vec<_> = (0..ratios.len()).map(|i| side(10_000.0 + 500.0 * i as f64)).collect();
        let candidate = ratios.iter().zip(&base).map(|(ratio, b)| side(b.requests as f64 * ratio)).collect();
        (base, candidate)
    }

    #[test]
    fn three_pairs_leaning_the_same_way_are_inconclusive_not_a_regression() {
        // The A/A run the flake hunt saw: three pairs, the candidate slower in each (0.69, 0.56–0.88).
        let (base, candidate) = leaning(&[0.60, 0.70, 0.78]);
        let comparison = compare(Figure::Throughput, &base, &candidate, &Settings::default());
        assert_eq!(comparison.verdict, Verdict::Inconclusive, "{comparison:?}");
        assert!(comparison.pairs_needed.is_some_and(|needed| needed >= 6), "{comparison:?}");
        assert!(comparison.note.as_deref().is_some_and(|note| note.contains("6 or more")), "{comparison:?}");
        // The interval itself is still shown, and it still lies below the band: only the verdict waits.
        assert!(comparison.high.unwrap() < 0.95, "{comparison:?}");
        // Six pairs as far beyond the band are a regression.
        let (base, candidate) = leaning(&[0.60, 0.70, 0.78, 0.65, 0.74, 0.69]);
        let comparison = compare(Figure::Throughput, &base, &candidate, &Settings::default());
        assert_eq!(comparison.verdict, Verdict::Regressed, "{comparison:?}");
        assert_eq!(comparison.note, None);
        // And a no-change needs as many: three pairs within a hair of 1 are not "no change".
        let (base, candidate) = leaning(&[1.001, 0.999, 1.0]);
        assert_eq!(compare(Figure::Throughput, &base, &candidate, &Settings::default()).verdict, Verdict::Inconclusive);
        let (base, candidate) = leaning(&[1.001, 0.999, 1.0, 1.002, 0.998, 1.0]);
        assert_eq!(compare(Figure::Throughput, &base, &candidate, &Settings::default()).verdict, Verdict::NoChange);
    }

    #[test]
    fn the_signed_rank_test_is_exact() {
        // Six pairs all leaning up: one chance in 64.
        assert!((signed_rank_p(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], true) - 1.0 / 64.0).abs() < 1e-12);
        assert!((signed_rank_p(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], false) - 1.0).abs() < 1e-12);
        // Ranks 1 (down), 2, 3, 4 (up): the sums of 9 or more of {1,2,3,4} are {2,3,4} and all: 2 in 16.
        assert!((signed_rank_p(&[-0.5, 1.0, 2.0, 3.0], true) - 2.0 / 16.0).abs() < 1e-12);
        // Tied magnitudes share a rank: two of three up is as likely as not.
        assert!((signed_rank_p(&[1.0, 1.0, -1.0], true) - 0.5).abs() < 1e-12);
        // Zeros say nothing.
        assert_eq!(signed_rank_p(&[0.0, 0.0], true), 1.0);
        assert!((signed_rank_p(&[0.0, 0.3, 0.0], true) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_percentile_the_pairs_do_not_all_move_is_not_called_a_regression() {
        // Five pairs where the candidate's rounds ran 50 % slower and one where it ran 3 % faster: each round a
        // wide spread of latencies, so the merged p50 moves smoothly with the mix the bootstrap draws and the
        // pooled interval alone lies beyond the band.
        let mut rng = StdRng::seed_from_u64(7);
        let sides = |rng: &mut StdRng, medians: [f64; 6]| -> Vec<RoundSample> {
            medians.iter().map(|median| round(rng, *median, 0.3, 0.0, 2000, 1.0)).collect()
        };
        let base = sides(&mut rng, [1.0; 6]);
        let candidate = sides(&mut rng, [1.5, 1.5, 1.5, 1.5, 1.5, 0.97]);
        let comparison = compare(Figure::P50, &base, &candidate, &Settings::default());
        assert_eq!(comparison.verdict, Verdict::Inconclusive, "{comparison:?}");
        assert!(comparison.low.unwrap() > 1.05, "the pooled interval alone would call it a regression: {comparison:?}");
        let note = comparison.note.as_deref().unwrap_or_default();
        assert!(note.contains("only 5 of 6 pairs lean that way"), "{note}");
        assert!(comparison.pairs_needed.is_some_and(|needed| needed > 6), "{comparison:?}");
        // When every pair moves, it is one.
        let candidate = sides(&mut rng, [1.4, 1.4, 1.4, 1.4, 1.4, 1.1]);
        let comparison = compare(Figure::P50, &base, &candidate, &Settings::default());
        assert_eq!(comparison.verdict, Verdict::Regressed, "{comparison:?}");
    }

    #[test]
    fn on_a_machine_noisier_than_any_pairing_helps_the_fewest_pairs_rarely_call_a_change() {
        // Every round slowed independently by up to 40 %, nothing shared within a pair, no change at all:
        // the worst case for a paired design. At the floor of 6 pairs, a verdict beyond the band is rare.
        let uniform = Uniform::new(0.6f64, 1.0).unwrap();
        let mut wrong = 0;
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(1000 + seed);
            let ratios: Vec<f64> = (0..6).map(|_| uniform.sample(&mut rng) / uniform.sample(&mut rng)).collect();
            let (base, candidate) = leaning(&ratios);
            let settings = Settings { resamples: 1000, seed, ..Settings::default() };
            let verdict = compare(Figure::Throughput, &base, &candidate, &settings).verdict;
            if matches!(verdict, Verdict::Regressed | Verdict::Improved) {
                wrong += 1;
            }
        }
        assert!(wrong <= 10, "{wrong} of 200 A/A comparisons of 6 pairs were called a change");
    }

    #[test]
    fn the_expanded_interval_is_wider_for_fewer_pairs() {
        // n = 8: √(8/7) · t(0.975, 7) ≈ 2.53, a tail of about 0.57 %.
        assert!((expanded_tail(8, 0.95) - 0.0057).abs() < 0.0005, "{}", expanded_tail(8, 0.95));
        assert!(expanded_tail(3, 0.95) < expanded_tail(8, 0.95));
        assert!((expanded_tail(10_000, 0.95) - 0.025).abs() < 0.001);
    }
}
