//! Who is running, and what every goose user of one round of load shares: the target, the
//! run's identity (so names never collide across workers, users, iterations, rounds or runs),
//! the open-model pacer and the recorder.

use crate::arrival::Pacer;
use crate::recorder::Recorder;
use crate::target::BaseUrl;

/// Who is running: one round of one run of one worker among `workers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunIdentity {
    /// Short and random, the same for every worker of one run when given (`--run-id`), so a
    /// second run against the same service never reuses an e-mail or an event id.
    pub run_id: String,
    pub worker_index: usize,
    pub workers: usize,
    /// The round against this target: 0 for `load run`, 1, 2, … for the rounds of `load
    /// compare` (each round's goose users count their iterations from 1 again).
    pub round: u32,
}

impl RunIdentity {
    pub fn new(run_id: &str, worker_index: usize, workers: usize) -> RunIdentity {
        RunIdentity { run_id: run_id.to_string(), worker_index, workers, round: 0 }
    }

    /// A name unique to this run, worker, round, user and iteration:
    /// `{prefix}-{run}-w{worker}-u{user}-i{iteration}`, with `-r{round}` after the worker in
    /// a round of a comparison.
    pub fn unique(&self, prefix: &str, user: usize, iteration: u64) -> String {
        format!("{}-u{user}-i{iteration}", self.unique_prefix(prefix))
    }

    /// What every [`RunIdentity::unique`] name of this worker and round starts with.
    pub fn unique_prefix(&self, prefix: &str) -> String {
        match self.round {
            0 => format!("{prefix}-{}-w{}", self.run_id, self.worker_index),
            round => format!("{prefix}-{}-w{}-r{round}", self.run_id, self.worker_index),
        }
    }

    /// What every name of this worker starts with, whatever the round.
    pub fn worker_prefix(&self, prefix: &str) -> String {
        format!("{prefix}-{}-w{}", self.run_id, self.worker_index)
    }

    /// The same run in round `round`.
    pub fn in_round(&self, round: u32) -> RunIdentity {
        RunIdentity { round, ..self.clone() }
    }
}

/// What every goose user of one round shares.
pub struct RoundContext {
    pub base: BaseUrl,
    /// For `https://` targets; the hot path on `http://` has its own connections.
    pub http: reqwest::Client,
    pub run: RunIdentity,
    /// Present in an open-model run (`--rate`).
    pub pacer: Option<Pacer>,
    pub recorder: Recorder,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_to_worker_round_user_and_iteration() {
        let run = RunIdentity::new("ab12", 3, 4);
        assert_eq!(run.unique("load", 7, 9), "load-ab12-w3-u7-i9");
        let round = run.in_round(2);
        assert_eq!(round.unique("load", 7, 9), "load-ab12-w3-r2-u7-i9");
        assert!(round.unique("load", 7, 9).starts_with(&round.worker_prefix("load")));
    }
}
