//! What every goose user of a run shares: the target, the run's identity (so names never
//! collide across workers, users, iterations or runs), the open-model pacer, the timeline,
//! and the fixtures each scenario needs (API keys, Pro customers and the webhook secret).

use std::sync::Arc;

use crate::arrival::Pacer;
use crate::scenarios::credential_vending::VendingFixtures;
use crate::scenarios::webhooks::WebhookFixtures;
use crate::target::BaseUrl;
use crate::timeline::Timeline;

/// Who is running: one run of one worker among `workers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunIdentity {
    /// Short and random, the same for every worker of one run when given (`--run-id`), so a
    /// second run against the same service never reuses an e-mail or an event id.
    pub run_id: String,
    pub worker_index: usize,
    pub workers: usize,
}

impl RunIdentity {
    /// A name unique to this run, worker, user and iteration: `{prefix}-{run}-w{worker}-u{user}-i{iteration}`.
    pub fn unique(&self, prefix: &str, user: usize, iteration: u64) -> String {
        format!("{prefix}-{}-w{}-u{user}-i{iteration}", self.run_id, self.worker_index)
    }
}

pub struct LoadContext {
    pub base: BaseUrl,
    /// For `https://` targets and for set-up; the hot path on `http://` has its own
    /// connections.
    pub http: reqwest::Client,
    pub run: RunIdentity,
    /// Present in an open-model run (`--rate`).
    pub pacer: Option<Pacer>,
    pub timeline: Timeline,
    pub vending: Option<VendingFixtures>,
    pub webhooks: Option<WebhookFixtures>,
}

pub type SharedContext = Arc<LoadContext>;
