//! The open model: requests arrive at a rate, whatever the latency.
//!
//! goose has closed-model users only (each waits for its answer before the next request) and a
//! `--throttle-requests` ceiling, not an arrival rate. So every user of an open-model run asks
//! one shared [`Pacer`] for its next slot: slot *k* is when request *k* is due under the
//! schedule (a constant rate, or piecewise-linear stages like k6's `ramping-arrival-rate`).
//! The user sleeps until then and sends. When every user is busy because the target is slow,
//! slots fall behind: the request goes out late, its latency is counted **from the slot**, not
//! from when it went out (coordinated omission shown, not hidden), and the lateness is
//! reported so the report can say the target could not keep up.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// tokio's clock, so tests can move time by hand.
use tokio::time::Instant;

/// One stretch of the schedule: the rate goes linearly from `from` to `to` requests/s over
/// `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    pub duration: Duration,
    pub from: f64,
    pub to: f64,
}

/// When each request of an open-model run is due.
#[derive(Debug, Clone)]
pub struct ArrivalSchedule {
    /// Each stage with the time it starts and the arrivals due before it.
    stages: Vec<(RateStage, f64, f64)>,
    total_seconds: f64,
    total_arrivals: f64,
}

impl ArrivalSchedule {
    pub fn new(stages: Vec<RateStage>) -> ArrivalSchedule {
        let mut placed = Vec::with_capacity(stages.len());
        let (mut start, mut arrivals) = (0.0, 0.0);
        for stage in stages {
            let seconds = stage.duration.as_secs_f64();
            placed.push((stage, start, arrivals));
            start += seconds;
            arrivals += (stage.from + stage.to) / 2.0 * seconds;
        }
        ArrivalSchedule { stages: placed, total_seconds: start, total_arrivals: arrivals }
    }

    /// `rate` requests/s after a linear ramp from 0 over `ramp`, for `hold`.
    pub fn constant(rate: f64, ramp: Duration, hold: Duration) -> ArrivalSchedule {
        let mut stages = Vec::new();
        if !ramp.is_zero() {
            stages.push(RateStage { duration: ramp, from: 0.0, to: rate });
        }
        stages.push(RateStage { duration: hold, from: rate, to: rate });
        ArrivalSchedule::new(stages)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.total_seconds)
    }

    /// How many requests the schedule asks for in all.
    pub fn total_arrivals(&self) -> u64 {
        self.total_arrivals.floor() as u64
    }

    /// The highest rate any stage asks for.
    pub fn peak_rate(&self) -> f64 {
        self.stages.iter().map(|(stage, _, _)| stage.from.max(stage.to)).fold(0.0, f64::max)
    }

    /// Seconds from the start at which request `k` (from 0) is due; `None` past the end.
    pub fn due(&self, k: u64) -> Option<f64> {
        // Request k is due when k + 1 arrivals have accumulated... minus one: the first is
        // due at once only when the rate starts above zero, so use the k-th arrival's time.
        let target = k as f64;
        if target >= self.total_arrivals.floor() {
            return None;
        }
        for &(stage, start, before) in &self.stages {
            let seconds = stage.duration.as_secs_f64();
            let during = (stage.from + stage.to) / 2.0 * seconds;
            if target < before + during {
                let needed = target - before;
                let slope = if seconds > 0.0 { (stage.to - stage.from) / seconds } else { 0.0 };
                // needed = from·t + slope·t²/2, solved for t ≥ 0.
                let t = if slope.abs() < 1e-12 {
                    if stage.from > 0.0 { needed / stage.from } else { 0.0 }
                } else {
                    let discriminant = (stage.from * stage.from + 2.0 * slope * needed).max(0.0);
                    (discriminant.sqrt() - stage.from) / slope
                };
                return Some(start + t.clamp(0.0, seconds));
            }
        }
        None
    }
}

/// Hands out the schedule's slots to the users of a run, in order.
#[derive(Debug)]
pub struct Pacer {
    schedule: ArrivalSchedule,
    started: OnceLock<Instant>,
    next: AtomicU64,
    late: AtomicU64,
    worst_lateness_us: AtomicU64,
}

/// A request is "late" when it goes out more than this after its slot.
pub const LATE_AFTER: Duration = Duration::from_millis(2);

impl Pacer {
    pub fn new(schedule: ArrivalSchedule) -> Pacer {
        Pacer {
            schedule,
            started: OnceLock::new(),
            next: AtomicU64::new(0),
            late: AtomicU64::new(0),
            worst_lateness_us: AtomicU64::new(0),
        }
    }

    pub fn schedule(&self) -> &ArrivalSchedule {
        &self.schedule
    }

    /// When the schedule started (the first slot handed out), if it has.
    pub fn started(&self) -> Option<Instant> {
        self.started.get().copied()
    }

    /// Waits for the next slot and returns when it was due; `None` when the schedule is over.
    pub async fn next_slot(&self) -> Option<Instant> {
        let started = *self.started.get_or_init(Instant::now);
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let due = started + Duration::from_secs_f64(self.schedule.due(k)?);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(due).await;
        } else {
            let lateness = now - due;
            if lateness > LATE_AFTER {
                self.late.fetch_add(1, Ordering::Relaxed);
                self.worst_lateness_us.fetch_max(lateness.as_micros() as u64, Ordering::Relaxed);
            }
        }
        Some(due)
    }

    /// How the run kept to the schedule.
    pub fn keeping(&self) -> PacerReport {
        PacerReport {
            asked_rate: self.schedule.peak_rate(),
            scheduled: self.schedule.total_arrivals(),
            handed_out: self.next.load(Ordering::Relaxed).min(self.schedule.total_arrivals()),
            late: self.late.load(Ordering::Relaxed),
            worst_lateness: Duration::from_micros(self.worst_lateness_us.load(Ordering::Relaxed)),
            schedule_seconds: self.schedule.duration().as_secs_f64(),
        }
    }
}

/// How an open-model run kept to its schedule.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PacerReport {
    /// The rate asked for (the peak of the schedule), requests/s.
    pub asked_rate: f64,
    /// Requests the schedule asked for.
    pub scheduled: u64,
    /// Slots handed to users (requests started).
    pub handed_out: u64,
    /// Requests that went out more than [`LATE_AFTER`] after their slot: every user was busy.
    pub late: u64,
    pub worst_lateness: Duration,
    pub schedule_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_rate_spaces_requests_evenly() {
        let schedule = ArrivalSchedule::constant(100.0, Duration::ZERO, Duration::from_secs(2));
        assert_eq!(schedule.total_arrivals(), 200);
        assert_eq!(schedule.due(0), Some(0.0));
        assert!((schedule.due(50).unwrap() - 0.5).abs() < 1e-9);
        assert!((schedule.due(199).unwrap() - 1.99).abs() < 1e-9);
        assert_eq!(schedule.due(200), None);
    }

    #[test]
    fn a_ramp_starts_slow_and_reaches_the_rate() {
        // 0 → 100/s over 2 s is 100 arrivals; then 100/s for 1 s.
        let schedule = ArrivalSchedule::constant(100.0, Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(schedule.total_arrivals(), 200);
        // Half the ramp's arrivals come in its last 29 % (the area grows with t²).
        assert!((schedule.due(25).unwrap() - 1.0).abs() < 1e-9);
        assert!((schedule.due(100).unwrap() - 2.0).abs() < 1e-9);
        assert!((schedule.due(150).unwrap() - 2.5).abs() < 1e-9);
        let times: Vec<f64> = (0..200).map(|k| schedule.due(k).unwrap()).collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "slots never go back in time");
    }

    #[test]
    fn stages_ramp_down_too() {
        let schedule = ArrivalSchedule::new(vec![
            RateStage { duration: Duration::from_secs(1), from: 0.0, to: 100.0 },
            RateStage { duration: Duration::from_secs(1), from: 100.0, to: 100.0 },
            RateStage { duration: Duration::from_secs(1), from: 100.0, to: 0.0 },
        ]);
        assert_eq!(schedule.total_arrivals(), 200);
        assert_eq!(schedule.peak_rate(), 100.0);
        assert!((schedule.due(150).unwrap() - 2.0).abs() < 0.01);
        assert!(schedule.due(199).unwrap() < 3.0);
    }

    #[tokio::test]
    async fn the_pacer_counts_requests_that_go_out_late() {
        let pacer = Pacer::new(ArrivalSchedule::constant(1000.0, Duration::ZERO, Duration::from_secs(1)));
        // The schedule started 100 ms ago and no user has come for a slot since: the first one is long past.
        let started = Instant::now() - Duration::from_millis(100);
        pacer.started.set(started).unwrap();
        let due = pacer.next_slot().await.unwrap();
        assert_eq!(due, started, "the first slot is the schedule's start");
        assert!(Instant::now() - due >= Duration::from_millis(100));
        let keeping = pacer.keeping();
        assert_eq!(keeping.late, 1);
        assert!(keeping.worst_lateness >= Duration::from_millis(100));
        // A slot still to come is waited for, and not late.
        let fresh = Pacer::new(ArrivalSchedule::constant(1000.0, Duration::ZERO, Duration::from_secs(1)));
        fresh.started.set(Instant::now() + Duration::from_millis(20)).unwrap();
        let due = fresh.next_slot().await.unwrap();
        assert!(Instant::now() >= due, "next_slot returns once the slot has come");
        assert_eq!(fresh.keeping().late, 0);
    }
}
