//! The sweep of orphan Stripe customers: a signup creates its Stripe customer, then commits its
//! rows; a crash of the process between the two (or a database that failed the rows and could not
//! be asked whether to undo) leaves a Stripe customer that no customer row names. It has no card
//! and no charges, but it is clutter in the Dashboard and in every customer list.
//!
//! Every `ORPHAN_SWEEP_INTERVAL_MS`, one instance (a lease, [`sweep_round`]) lists the Stripe
//! customers created in a bounded window — `created[gte]` = now − `ORPHAN_SWEEP_MIN_AGE_SECS` −
//! `ORPHAN_SWEEP_LOOKBACK_SECS`, `created[lt]` = now − `ORPHAN_SWEEP_MIN_AGE_SECS` — page by page
//! (`starting_after`), keeps only those this service made for this database (`metadata[made_by]`
//! is this database's marker, [`load_marker`], and `metadata[customer_id]` a customer id), and
//! deletes those that no customer row names, neither by `stripe_customer_id` nor by the id in
//! their metadata. Customers made before the marker existed carry none and are never touched.
//!
//! **Why only past Stripe's idempotency-key retention, plus a margin.** A signup sends its Stripe
//! customer's creation under a key derived from the request (and the client's
//! `Idempotency-Key`): until Stripe forgets the key (24 hours), a keyed retry of that very signup
//! gets that very customer back — a replay of the first answer — and adopts it (commits a row
//! naming it). Deleting the customer earlier would make such a retry store a row pointing at a
//! deleted customer. After Stripe forgot the key, a retry makes a new customer, and the old one
//! can only stay an orphan. So a customer is deleted only once it is older than
//! `ORPHAN_SWEEP_MIN_AGE_SECS` (25 hours by default; refused below 24 hours and a minute): the
//! hour beyond the 24 covers clocks that disagree and a signup still running its creation.
//!
//! **Races, thought through.**
//! - *A signup committing while the sweep looks.* A signup commits a row naming the customer its
//!   creation returned: one Stripe made just now (created now: never in the window, which ends a
//!   day ago) or one Stripe replayed under the signup's key (the key is younger than 24 hours, so
//!   the customer is too: not in the window either). The sweep and a committing signup never look
//!   at the same customer while Stripe keeps keys for 24 hours.
//! - *Stripe keeping a key longer.* Stripe says keys may be pruned once they are *at least* 24
//!   hours old, so a replay may come later. A signup therefore never adopts a replayed customer
//!   that is gone: when Stripe's answer is a replay (`Idempotent-Replayed: true`), the signup asks
//!   Stripe for the customer, and if it was deleted (by this sweep, or by a failed signup's undo)
//!   it makes a new one under a new key. What is left is a replay landing between the signup's
//!   look and the sweep's delete (milliseconds) *and* beyond the minimum age; after each delete
//!   the sweep looks again and logs an error naming the customer if a row appeared meanwhile.
//!   Raise `ORPHAN_SWEEP_MIN_AGE_SECS` to make it rarer still.
//! - *Two instances sweeping.* The lease lets one instance sweep per interval; were two to
//!   overlap anyway, a customer deleted twice is a 404 for the second, counted by neither.
//! - *A customer row by another way* (a row whose `stripe_customer_id` was changed, a replayed
//!   signup stored under its metadata id): a row with the metadata's customer id protects the
//!   Stripe customer too. Only a customer that no row names in any way is deleted.
//!
//! With `STRIPE_TEST_CLOCK` (test mode), the list names the clock: Stripe leaves customers on test
//! clocks out of a list that does not, and their `created` is the clock's time, not real time. A
//! clock moved ahead makes customers look younger (swept later); a clock frozen in the past makes
//! them look older, so one may be swept within a day of its signup — a retry of that signup then
//! gets a new customer (the replay check above), never a row naming a deleted one.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::background::{Background, Stop};
use crate::state::AppState;
use crate::stripe::{StripeError, StripeList, page_path, path_segment};

/// The metadata key of the marker this service writes on the Stripe customers it creates.
pub const MADE_BY_KEY: &str = "made_by";

/// Customers listed per page (Stripe's most).
const PAGE: usize = 100;
/// Most pages one round reads; the rest waits for the next round.
const MAX_PAGES: usize = 1_000;
/// The lease's name in `background_leases`.
const LEASE: &str = "orphan_sweep";

/// The marker of the Stripe customers made for this database: `billing-service:<id>`, the id
/// from `service_identity` (migration 0007).
pub async fn load_marker(pool: &PgPool) -> Result<String, sqlx::Error> {
    let id = sqlx::query_scalar!("SELECT id FROM service_identity").fetch_one(pool).await?;
    Ok(format!("billing-service:{id}"))
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrphanSweepReport {
    /// Stripe customers in the window.
    pub listed: usize,
    /// Of them, made by this service for this database.
    pub ours: usize,
    /// Of those, named by a customer row: kept.
    pub with_a_row: usize,
    /// Deleted in Stripe.
    pub removed: usize,
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("Stripe failed to list the customers: {0}")]
    Stripe(#[from] StripeError),
}

/// A Stripe customer as the list gives it, the fields the sweep reads.
#[derive(Debug, Deserialize)]
struct Listed {
    id: String,
    created: i64,
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
}

/// One of ours: the Stripe customer and the customer id its signup gave it.
#[derive(Debug, Clone)]
struct Ours {
    stripe_customer: String,
    customer_id: Uuid,
}

/// The creation times the round looks at: `from <= created < until`, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    from: i64,
    until: i64,
}

impl Window {
    fn ending_before(now: DateTime<Utc>, min_age_secs: u64, lookback_secs: u64) -> Window {
        let until = now.timestamp().saturating_sub(i64::try_from(min_age_secs).unwrap_or(i64::MAX));
        Window { from: until.saturating_sub(i64::try_from(lookback_secs).unwrap_or(i64::MAX)), until }
    }

    /// The list of the customers created in the window (on `test_clock`, if any).
    fn list_path(&self, test_clock: Option<&str>) -> String {
        let mut path =
            format!("/v1/customers?limit={PAGE}&created%5Bgte%5D={}&created%5Blt%5D={}", self.from, self.until);
        if let Some(clock) = test_clock {
            path.push_str(&format!("&test_clock={}", path_segment(clock)));
        }
        path
    }
}

impl Ours {
    /// The customer when this service made it for this database and it is old enough (the list's
    /// own filter is checked again: nothing younger is ever deleted).
    fn of(listed: &Listed, marker: &str, window: Window) -> Option<Ours> {
        let made_here = listed.metadata.get(MADE_BY_KEY).and_then(Value::as_str) == Some(marker);
        let customer_id = listed.metadata.get("customer_id").and_then(Value::as_str)?.parse().ok()?;
        (made_here && listed.created < window.until).then(|| Ours { stripe_customer: listed.id.clone(), customer_id })
    }
}

/// One round, unless another instance holds the lease: `None` then. The round holds the lease
/// for `lease` (the sweeper: a little under its interval, so its own next round finds it free).
pub async fn sweep_round(state: &AppState, lease: Duration) -> Result<Option<OrphanSweepReport>, SweepError> {
    let now = state.clock.now();
    let held_for = lease;
    let until = now + chrono::Duration::from_std(held_for).unwrap_or(chrono::Duration::zero());
    let claimed = sqlx::query_scalar!(
        "INSERT INTO background_leases (name, held_until) VALUES ($1, $3)
         ON CONFLICT (name) DO UPDATE SET held_until = EXCLUDED.held_until WHERE background_leases.held_until <= $2
         RETURNING name",
        LEASE,
        now,
        until
    )
    .fetch_optional(&state.pool)
    .await?;
    match claimed {
        Some(_) => sweep_orphans(state).await.map(Some),
        None => Ok(None),
    }
}

/// Lists the window's Stripe customers page by page and deletes ours that no row names (see the
/// module's documentation). A customer whose delete fails is left for the next round.
pub async fn sweep_orphans(state: &AppState) -> Result<OrphanSweepReport, SweepError> {
    let config = &state.config.orphan_sweep;
    let window = Window::ending_before(state.clock.now(), config.min_age_secs, config.lookback_secs);
    let list = window.list_path(state.config.stripe.test_clock.as_deref());
    let mut report = OrphanSweepReport::default();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page: StripeList<Listed> = state.stripe.get(&page_path(&list, after.as_deref())).await?;
        let next = page.next_after(|customer| &customer.id);
        report.listed += page.data.len();
        let ours: Vec<Ours> = page.data.iter().filter_map(|c| Ours::of(c, &state.stripe_marker, window)).collect();
        let count = ours.len();
        let orphans = without_rows(&state.pool, ours).await?;
        report.ours += count;
        report.with_a_row += count - orphans.len();
        for orphan in orphans {
            if remove(state, &orphan).await {
                report.removed += 1;
            }
        }
        if next.is_none() {
            return Ok(report);
        }
        after = next;
    }
    tracing::warn!(pages = MAX_PAGES, ?report, "the orphan sweep stopped at its page limit; the next round goes on");
    Ok(report)
}

/// Those of `ours` that no customer row names, by Stripe customer or by customer id.
async fn without_rows(pool: &PgPool, ours: Vec<Ours>) -> Result<Vec<Ours>, sqlx::Error> {
    if ours.is_empty() {
        return Ok(ours);
    }
    let stripe_ids: Vec<String> = ours.iter().map(|o| o.stripe_customer.clone()).collect();
    let customer_ids: Vec<Uuid> = ours.iter().map(|o| o.customer_id).collect();
    let rows = sqlx::query!(
        "SELECT id, stripe_customer_id FROM customers WHERE stripe_customer_id = ANY($1) OR id = ANY($2)",
        &stripe_ids,
        &customer_ids
    )
    .fetch_all(pool)
    .await?;
    let named: HashSet<&str> = rows.iter().filter_map(|row| row.stripe_customer_id.as_deref()).collect();
    let ids: HashSet<Uuid> = rows.iter().map(|row| row.id).collect();
    Ok(ours
        .into_iter()
        .filter(|o| !named.contains(o.stripe_customer.as_str()) && !ids.contains(&o.customer_id))
        .collect())
}

/// Deletes one orphan in Stripe; true when this call deleted it. Looks again afterwards, and
/// says loudly when a signup adopted it meanwhile (see the module's races).
async fn remove(state: &AppState, orphan: &Ours) -> bool {
    let (stripe_customer, customer_id) = (&orphan.stripe_customer, orphan.customer_id);
    let path = format!("/v1/customers/{}", path_segment(stripe_customer));
    match state.stripe.delete::<Value>(&path).await {
        Ok(answer) if answer["deleted"] == true => {
            state.metrics.orphan_customer_removed();
            tracing::info!(%stripe_customer, %customer_id, "an orphan Stripe customer (no customer row) was deleted");
        }
        Ok(answer) => {
            tracing::warn!(%stripe_customer, %answer, "Stripe did not say the orphan customer was deleted");
            return false;
        }
        Err(error) if error.is_not_found() => return false,
        Err(error) => {
            tracing::warn!(%stripe_customer, %error, "could not delete an orphan Stripe customer; the next round tries again");
            return false;
        }
    }
    match without_rows(&state.pool, vec![orphan.clone()]).await {
        Ok(still) if still.is_empty() => tracing::error!(
            %stripe_customer, %customer_id,
            "a signup adopted the Stripe customer the orphan sweep deleted at the same moment: give customer {customer_id} a new Stripe customer"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%stripe_customer, %error, "could not look again after deleting an orphan"),
    }
    true
}

/// The running sweep.
pub struct OrphanSweeper(Background);

impl OrphanSweeper {
    /// Starts the sweep (a round now, then every interval), or says it is off
    /// (`ORPHAN_SWEEP_INTERVAL_MS=0`) and returns `None`.
    pub fn start(state: AppState) -> Option<OrphanSweeper> {
        if state.config.orphan_sweep.interval_ms == 0 {
            tracing::info!("ORPHAN_SWEEP_INTERVAL_MS=0: the sweep of orphan Stripe customers is off");
            return None;
        }
        Some(OrphanSweeper(Background::spawn("orphan sweep", |stop| run(state, stop))))
    }

    /// Asks the sweep to stop and waits until it has (a round in progress finishes).
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

async fn run(state: AppState, mut stop: Stop) {
    let interval = state.config.orphan_sweep.interval();
    tracing::info!(
        ?interval,
        min_age_secs = state.config.orphan_sweep.min_age_secs,
        "orphan Stripe customer sweep started"
    );
    loop {
        match sweep_round(&state, interval * 9 / 10).await {
            Ok(Some(report)) if report.ours > 0 => tracing::info!(?report, "orphan sweep round"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "orphan sweep round failed; trying again at the next interval"),
        }
        if stop.pause(interval).await {
            break;
        }
    }
    tracing::info!("orphan Stripe customer sweep stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, created: i64, made_by: &str, customer_id: &str) -> Listed {
        let metadata = serde_json::json!({ MADE_BY_KEY: made_by, "customer_id": customer_id });
        Listed { id: id.into(), created, metadata: metadata.as_object().unwrap().clone() }
    }

    #[test]
    fn the_window_ends_the_minimum_age_ago_and_reaches_back_the_lookback() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let window = Window::ending_before(now, 90_000, 172_800);
        assert_eq!(window, Window { from: 1_000_000 - 90_000 - 172_800, until: 1_000_000 - 90_000 });
        let path = page_path(&window.list_path(Some("clock_1")), Some("cus_9"));
        assert_eq!(
            path,
            "/v1/customers?limit=100&created%5Bgte%5D=737200&created%5Blt%5D=910000&test_clock=clock_1&starting_after=cus_9"
        );
    }

    #[test]
    fn only_customers_made_for_this_database_and_old_enough_are_ours() {
        let window = Window { from: 0, until: 100 };
        let id = "3f1c9a4e-7d2b-4c55-9e0a-1b2c3d4e5f60";
        assert!(Ours::of(&listed("cus_1", 99, "billing-service:a", id), "billing-service:a", window).is_some());
        assert!(Ours::of(&listed("cus_2", 100, "billing-service:a", id), "billing-service:a", window).is_none());
        assert!(Ours::of(&listed("cus_3", 99, "billing-service:b", id), "billing-service:a", window).is_none());
        assert!(Ours::of(&listed("cus_4", 99, "billing-service:a", "42"), "billing-service:a", window).is_none());
        let unmarked = Listed { id: "cus_5".into(), created: 1, metadata: serde_json::Map::new() };
        assert!(Ours::of(&unmarked, "billing-service:a", window).is_none());
    }
}
