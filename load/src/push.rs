//! Pushing a run's results to a Prometheus Pushgateway, through the workspace's one push
//! module ([`billing_stack::push`]): job `billing_load`, grouping key {scenario, environment,
//! worker}, PUT (a worker's next run replaces its group), basic auth from
//! `PUSHGATEWAY_USER`/`PUSHGATEWAY_PASSWORD`, retries. The local reports are written before the
//! push, so a failed push never loses them; it is reported with what to do.

use std::time::Duration;

use billing_stack::push::Pushgateway;
use prometheus_client::registry::Registry;

use crate::error::LoadError;
use crate::prometheus::{JOB, grouping};
use crate::summary::RunSummary;

/// Attempts at a push, and the wait before the second (doubling after).
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Pushes `registry` as `summary`'s group.
pub async fn push(url: &str, summary: &RunSummary, registry: &Registry) -> Result<(), LoadError> {
    let failed = |err: &dyn std::fmt::Display| {
        LoadError::Setup(anyhow::anyhow!(
            "the results of {} (worker {}) were not pushed to {url}: {err}; the reports are in {}",
            summary.scenario,
            summary.worker_index,
            summary.reports.get("json").map(String::as_str).unwrap_or("the report folder")
        ))
    };
    let gateway = Pushgateway::from_env(url).map_err(|err| failed(&err))?.with_retries(ATTEMPTS, FIRST_BACKOFF);
    let group = grouping(summary);
    let group: Vec<(&str, &str)> = group.iter().map(|(name, value)| (*name, value.as_str())).collect();
    gateway.push(JOB, &group, registry).await.map_err(|err| failed(&err))
}
