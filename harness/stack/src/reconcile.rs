//! The reconciliation check every journey and load run can end with: money is neither lost nor
//! doubled, and every ledger adds up.
//!
//! It compares Stripe's PaymentIntents with the service's recorded charges, and checks the
//! ledger, reading the service's database directly:
//!
//! - every **succeeded PaymentIntent for a fix** (metadata `fix_id`, of one of the database's
//!   customers) has exactly one recorded charge, `succeeded`, with that PaymentIntent and the same
//!   amount — a charge made but never recorded is lost money;
//! - every **succeeded charge** names a PaymentIntent that exists in Stripe and succeeded for the
//!   same amount, and no two charges name the same one — a recorded charge never made, or one
//!   recorded twice, is doubled money;
//! - no charge is still **pending** (the check first waits, with a deadline, for the service's
//!   reconciler to settle what a fault left pending);
//! - a fix paid with a charge has a succeeded charge, and one paid with a credit has its ledger
//!   entry;
//! - every **ledger** is consistent: each entry's `balance_after` is the running sum of the
//!   deltas, never negative, so every balance equals the sum of its entries.
//!
//! It works against any deployment it can read: the local stack, or a staging service given
//! its `DATABASE_URL` and its Stripe test-mode key. On a shared database, where other runs and
//! real customers keep charging, [`reconcile_customers`] checks only the customers one journey
//! made: their charges, fixes and ledgers, and the PaymentIntents Stripe lists for them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sqlx::PgPool;

/// What the check looked at, and what it found wrong.
#[derive(Debug, Clone, Default)]
pub struct Reconciliation {
    /// Succeeded PaymentIntents of fixes of this database's customers.
    pub payment_intents: usize,
    /// Charges recorded (any status).
    pub charges: usize,
    /// Customers whose ledger was checked.
    pub ledgers: usize,
    /// Each problem, in a sentence naming the objects involved.
    pub problems: Vec<String>,
}

impl Reconciliation {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// An error listing every problem, when there is one.
    pub fn ensure_clean(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.is_clean(),
            "reconciliation failed ({} problems):\n  {}",
            self.problems.len(),
            self.problems.join("\n  ")
        );
        Ok(())
    }
}

impl std::fmt::Display for Reconciliation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} succeeded PaymentIntents, {} charges, {} ledgers: {}",
            self.payment_intents,
            self.charges,
            self.ledgers,
            if self.is_clean() { "clean".to_string() } else { format!("{} problems", self.problems.len()) }
        )
    }
}

/// Where Stripe is, for the check: the fake's URL or `https://api.stripe.com`, and a key.
#[derive(Debug, Clone)]
pub struct StripeAccess {
    pub api_base: String,
    pub secret_key: String,
}

/// How long the check waits for pending charges to settle before it counts them as problems.
pub const DEFAULT_SETTLE_DEADLINE: Duration = Duration::from_secs(60);

/// Waits (up to `settle_deadline`) for pending charges to settle, then runs every check over
/// every customer of the database.
pub async fn reconcile(
    pool: &PgPool,
    stripe: &StripeAccess,
    settle_deadline: Duration,
) -> anyhow::Result<Reconciliation> {
    reconcile_scope(pool, stripe, None, settle_deadline).await
}

/// [`reconcile`] for some customers only (the service's customer ids): what one journey made on
/// a database others use at the same time. Their PaymentIntents are listed per Stripe customer.
pub async fn reconcile_customers(
    pool: &PgPool,
    stripe: &StripeAccess,
    customers: &[uuid::Uuid],
    settle_deadline: Duration,
) -> anyhow::Result<Reconciliation> {
    reconcile_scope(pool, stripe, Some(customers.to_vec()), settle_deadline).await
}

/// `scope`: the customers to check, all when `None` (bound as SQL `NULL`, which each query
/// reads as "no filter").
async fn reconcile_scope(
    pool: &PgPool,
    stripe: &StripeAccess,
    scope: Option<Vec<uuid::Uuid>>,
    settle_deadline: Duration,
) -> anyhow::Result<Reconciliation> {
    wait_for_no_pending_charges(pool, &scope, settle_deadline).await?;
    let mut report = Reconciliation::default();
    let rows: Vec<(uuid::Uuid, Option<String>)> =
        sqlx::query_as("SELECT id, stripe_customer_id FROM customers WHERE $1::uuid[] IS NULL OR id = ANY($1)")
            .bind(&scope)
            .fetch_all(pool)
            .await?;
    let customers: BTreeSet<String> = rows.iter().map(|(id, _)| id.to_string()).collect();
    let intents = match &scope {
        None => succeeded_fix_intents(stripe, &customers, &[]).await?,
        Some(_) => {
            let mut intents = BTreeMap::new();
            for stripe_customer in rows.iter().filter_map(|(_, stripe_id)| stripe_id.as_deref()) {
                intents.extend(succeeded_fix_intents(stripe, &customers, &[("customer", stripe_customer)]).await?);
            }
            intents
        }
    };
    report.payment_intents = intents.len();
    check_charges(pool, &scope, &intents, &mut report).await?;
    check_fixes(pool, &scope, &mut report).await?;
    check_ledgers(pool, &scope, &mut report).await?;
    Ok(report)
}

async fn wait_for_no_pending_charges(
    pool: &PgPool,
    scope: &Option<Vec<uuid::Uuid>>,
    deadline: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM charges WHERE status = 'pending' AND ($1::uuid[] IS NULL OR customer_id = ANY($1))",
        )
        .bind(scope)
        .fetch_one(pool)
        .await?;
        if pending == 0 || started.elapsed() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Deserialize)]
struct Intent {
    id: String,
    amount: i64,
    status: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct IntentPage {
    data: Vec<Intent>,
    #[serde(default)]
    has_more: bool,
}

/// Every succeeded PaymentIntent that is a fix's, of one of `customers`, by id; `filter` narrows
/// Stripe's list (e.g. to one Stripe customer).
async fn succeeded_fix_intents(
    stripe: &StripeAccess,
    customers: &BTreeSet<String>,
    filter: &[(&str, &str)],
) -> anyhow::Result<BTreeMap<String, Intent>> {
    let http = billing_service::tls::client_builder().timeout(Duration::from_secs(30)).build()?;
    let mut found = BTreeMap::new();
    let mut starting_after: Option<String> = None;
    loop {
        let mut request = http
            .get(format!("{}/v1/payment_intents", stripe.api_base.trim_end_matches('/')))
            .bearer_auth(&stripe.secret_key)
            .query(&[("limit", "100")])
            .query(filter);
        if let Some(after) = &starting_after {
            request = request.query(&[("starting_after", after)]);
        }
        let response = request.send().await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "listing PaymentIntents answered {status}: {}", response.text().await?);
        let page: IntentPage = response.json().await?;
        starting_after = page.data.last().map(|intent| intent.id.clone());
        for intent in page.data {
            let ours = intent.metadata.contains_key("fix_id")
                && intent.metadata.get("customer_id").is_some_and(|customer| customers.contains(customer));
            if ours && intent.status == "succeeded" {
                found.insert(intent.id.clone(), intent);
            }
        }
        if !page.has_more || starting_after.is_none() {
            return Ok(found);
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
struct ChargeRow {
    id: uuid::Uuid,
    fix_id: uuid::Uuid,
    amount_cents: i64,
    status: String,
    stripe_payment_intent_id: Option<String>,
}

async fn check_charges(
    pool: &PgPool,
    scope: &Option<Vec<uuid::Uuid>>,
    intents: &BTreeMap<String, Intent>,
    report: &mut Reconciliation,
) -> anyhow::Result<()> {
    let charges: Vec<ChargeRow> = sqlx::query_as(
        "SELECT id, fix_id, amount_cents, status, stripe_payment_intent_id FROM charges
         WHERE $1::uuid[] IS NULL OR customer_id = ANY($1)",
    )
    .bind(scope)
    .fetch_all(pool)
    .await?;
    report.charges = charges.len();
    let mut recorded: BTreeMap<&str, Vec<&ChargeRow>> = BTreeMap::new();
    for charge in &charges {
        match (charge.status.as_str(), &charge.stripe_payment_intent_id) {
            ("succeeded", Some(intent)) => recorded.entry(intent.as_str()).or_default().push(charge),
            ("succeeded", None) => {
                report.problems.push(format!("charge {} succeeded without a PaymentIntent", charge.id))
            }
            ("pending", _) => report.problems.push(format!(
                "charge {} of fix {} is still pending: its outcome was never settled",
                charge.id, charge.fix_id
            )),
            _ => {}
        }
    }
    for (id, intent) in intents {
        match recorded.get(id.as_str()).map(Vec::as_slice) {
            None | Some([]) => report.problems.push(format!(
                "PaymentIntent {id} charged {} cents for fix {} but no charge records it (lost money)",
                intent.amount,
                intent.metadata.get("fix_id").map_or("?", String::as_str)
            )),
            Some([charge]) if charge.amount_cents != intent.amount => report.problems.push(format!(
                "charge {} records {} cents but PaymentIntent {id} charged {}",
                charge.id, charge.amount_cents, intent.amount
            )),
            Some([_]) => {}
            Some(many) => report.problems.push(format!(
                "PaymentIntent {id} is recorded by {} charges (doubled money): {:?}",
                many.len(),
                many.iter().map(|charge| charge.id).collect::<Vec<_>>()
            )),
        }
    }
    for (intent, charges) in &recorded {
        if !intents.contains_key(*intent) {
            for charge in charges {
                report.problems.push(format!(
                    "charge {} is recorded as succeeded but PaymentIntent {intent} did not succeed in Stripe",
                    charge.id
                ));
            }
        }
    }
    Ok(())
}

async fn check_fixes(
    pool: &PgPool,
    scope: &Option<Vec<uuid::Uuid>>,
    report: &mut Reconciliation,
) -> anyhow::Result<()> {
    let broken: Vec<(uuid::Uuid, String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT f.id, f.paid_with, f.status, c.status, f.ledger_entry_id IS NOT NULL
         FROM fixes f LEFT JOIN charges c ON c.id = f.charge_id
         WHERE ($1::uuid[] IS NULL OR f.customer_id = ANY($1))
           AND ((f.status = 'paid' AND f.paid_with = 'charge' AND c.status IS DISTINCT FROM 'succeeded')
             OR (f.status = 'paid' AND f.paid_with = 'credit' AND f.ledger_entry_id IS NULL)
             OR (f.status = 'failed' AND c.status = 'succeeded'))",
    )
    .bind(scope)
    .fetch_all(pool)
    .await?;
    for (fix, paid_with, status, charge_status, has_entry) in broken {
        report.problems.push(format!(
            "fix {fix} is {status} (paid with {paid_with}) but its charge is {} and it {} a ledger entry",
            charge_status.as_deref().unwrap_or("missing"),
            if has_entry { "has" } else { "has no" }
        ));
    }
    Ok(())
}

async fn check_ledgers(
    pool: &PgPool,
    scope: &Option<Vec<uuid::Uuid>>,
    report: &mut Reconciliation,
) -> anyhow::Result<()> {
    report.ledgers = usize::try_from(
        sqlx::query_scalar::<_, i64>(
            "SELECT count(DISTINCT customer_id) FROM ledger_entries WHERE $1::uuid[] IS NULL OR customer_id = ANY($1)",
        )
        .bind(scope)
        .fetch_one(pool)
        .await?,
    )
    .unwrap_or(0);
    let broken: Vec<(uuid::Uuid, i64, i32, i64)> = sqlx::query_as(
        "SELECT customer_id, id, balance_after, running FROM (
             SELECT customer_id, id, balance_after,
                    sum(delta) OVER (PARTITION BY customer_id ORDER BY id)::bigint AS running
             FROM ledger_entries WHERE $1::uuid[] IS NULL OR customer_id = ANY($1)) entries
         WHERE balance_after <> running OR balance_after < 0
         ORDER BY customer_id, id LIMIT 100",
    )
    .bind(scope)
    .fetch_all(pool)
    .await?;
    for (customer, entry, balance_after, running) in broken {
        report.problems.push(format!(
            "ledger of customer {customer}: entry {entry} says the balance is {balance_after}, its entries add up to {running}"
        ));
    }
    Ok(())
}
