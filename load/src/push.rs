//! Pushing a run's results to a Prometheus Pushgateway, through the workspace's one push
//! module ([`billing_stack::push`]): job `billing_load`, grouping key {scenario, environment,
//! run_id, worker}, PUT, basic auth from `PUSHGATEWAY_USER`/`PUSHGATEWAY_PASSWORD`, retries.
//! The local reports are written before the push, so a failed push never loses them; it is
//! reported with what to do.
//!
//! **A run's groups never mix with an earlier run's.** After its own push, each worker lists
//! the job's groups and deletes those of the same scenario and environment whose run started
//! before this one (`billing_load_run_timestamp_seconds`) under another run id. So the groups a
//! sum sees are one run's workers — a 2-worker run after a 4-worker run leaves no worker 2 or 3
//! behind — and the gateway holds at most one run per scenario and environment. Workers of the
//! same run (the same `--run-id`) never delete each other; a run still going whose start is
//! *later* is never touched.

use std::time::Duration;

use billing_stack::push::Pushgateway;
use prometheus_client::registry::Registry;

use crate::error::LoadError;
use crate::prometheus::{JOB, RUN_TIMESTAMP, grouping};
use crate::summary::RunSummary;

/// Attempts at a push, and the wait before the second (doubling after).
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Pushes `registry` as `summary`'s group, then removes what earlier runs left.
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
    gateway.push(JOB, &group, registry).await.map_err(|err| failed(&err))?;
    remove_earlier_runs(&gateway, summary).await.map_err(|err| {
        LoadError::Setup(anyhow::anyhow!(
            "the results of {} were pushed to {url}, but an earlier run's groups could not be removed ({err}): sums over workers may include them until the next run",
            summary.scenario
        ))
    })
}

/// Deletes the groups of the same scenario and environment that a run which started before
/// this one left under another run id.
async fn remove_earlier_runs(
    gateway: &Pushgateway,
    summary: &RunSummary,
) -> Result<(), billing_stack::push::PushError> {
    let started =
        chrono::DateTime::parse_from_rfc3339(&summary.started_at).map(|at| at.timestamp() as f64).unwrap_or(0.0);
    for group in gateway.groups(JOB).await? {
        let label = |name: &str| group.labels.get(name).map(String::as_str);
        let same_slot =
            label("scenario") == Some(summary.scenario.as_str()) && label("environment") == Some(&summary.environment);
        let earlier = group.values.get(RUN_TIMESTAMP).is_none_or(|at| *at < started);
        if same_slot && label("run_id") != Some(summary.run_id.as_str()) && earlier {
            gateway.delete(JOB, &group.grouping()).await?;
        }
    }
    Ok(())
}
