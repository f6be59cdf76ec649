//! The webhook run's after-run outcome check: a webhook load run is not done when the requests
//! are answered.
//!
//! First, as Stripe does, every event that never got a 2xx answer is delivered again until it
//! does (a few attempts). Then, from the service's own API (so it works on a deployed target
//! too), for each Pro customer the run sent events about:
//! - the credits granted for this run's invoices equal 60 × the distinct paid invoices sent
//!   (the customers' real invoices in Stripe: each granted once, by Stripe's own delivery or
//!   the run's, whichever came first);
//! - every paid invoice was granted exactly once, and nothing else was granted (no credits for
//!   anything that is not one of the customer's invoices in Stripe, such as an invented one);
//! - no event was answered "applied" twice (however often it was delivered);
//! - the ledger is consistent: each entry's balance is the previous one plus its change, none
//!   is negative, and the newest is the balance the service reports.

use std::collections::{BTreeMap, BTreeSet};

use billing_stack::{ApiClient, ApiRequest};
use hyper::StatusCode;
use serde_json::Value;

use super::WebhookFixtures;
use crate::scenario::AfterRun;
use crate::summary::CheckResult;

/// Credits one paid Pro invoice grants.
pub const CREDITS_PER_PAID_INVOICE: i64 = billing_service::pricing::PRO_CREDITS_PER_INVOICE as i64;

/// Attempts at delivering an event that got no 2xx answer during the run.
const REDELIVERY_ATTEMPTS: u32 = 5;

/// What the outcome check found.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WebhookOutcome {
    pub events: usize,
    pub deliveries: u64,
    pub duplicate_deliveries: u64,
    pub redelivered_after_run: usize,
    pub distinct_paid_invoices: usize,
    pub credits_expected: i64,
    pub credits_granted: i64,
    pub ledgers_checked: usize,
    pub problems: Vec<String>,
}

impl WebhookOutcome {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The check as the run's summary reports it.
pub async fn check_result(after: &AfterRun, fixtures: &WebhookFixtures) -> CheckResult {
    match check(after, fixtures).await {
        Ok(outcome) => CheckResult {
            name: "webhook outcome".into(),
            passed: outcome.passed(),
            detail: format!(
                "{} events in {} deliveries ({} duplicates, {} redelivered after the run); {} distinct paid invoices; credits granted {} (expected {}); {} ledgers consistent",
                outcome.events,
                outcome.deliveries,
                outcome.duplicate_deliveries,
                outcome.redelivered_after_run,
                outcome.distinct_paid_invoices,
                outcome.credits_granted,
                outcome.credits_expected,
                outcome.ledgers_checked
            ),
            problems: outcome.problems,
        },
        Err(err) => CheckResult {
            name: "webhook outcome".into(),
            passed: false,
            detail: "the outcome could not be read back".into(),
            problems: vec![format!("{err:#}")],
        },
    }
}

/// Runs the check for this worker's events (of every round).
pub async fn check(after: &AfterRun, fixtures: &WebhookFixtures) -> anyhow::Result<WebhookOutcome> {
    let api = &after.api;
    let mut outcome =
        WebhookOutcome { redelivered_after_run: redeliver_unacknowledged(api, fixtures).await?, ..Default::default() };
    let events = fixtures.log.snapshot();
    outcome.events = events.len();
    outcome.deliveries = events.values().map(|record| record.deliveries as u64).sum();
    outcome.duplicate_deliveries = events.values().map(|record| record.deliveries.saturating_sub(1) as u64).sum();

    for (id, record) in &events {
        if record.acknowledged == 0 {
            outcome.problems.push(format!(
                "event {id} ({}) was never acknowledged, even after {REDELIVERY_ATTEMPTS} more deliveries",
                record.kind
            ));
        }
        if record.applied > 1 {
            outcome.problems.push(format!("event {id} ({}) was applied {} times", record.kind, record.applied));
        }
    }

    // The invoices this worker's run paid, per customer.
    let mut paid: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for record in events.values().filter(|record| record.acknowledged > 0) {
        if let Some(invoice) = &record.paid_invoice {
            paid.entry(record.customer).or_default().insert(invoice.clone());
        }
    }
    outcome.distinct_paid_invoices = paid.values().map(BTreeSet::len).sum();
    outcome.credits_expected = CREDITS_PER_PAID_INVOICE * outcome.distinct_paid_invoices as i64;

    let touched: BTreeSet<usize> = events.values().map(|record| record.customer).collect();
    for customer in touched {
        let fixture = &fixtures.customers[customer];
        // The customer's real paid invoices, as Stripe listed them (empty when not known).
        let in_stripe: BTreeSet<&String> = fixture.paid_invoices.iter().collect();
        let ledger = read_ledger(&api.with_key(&fixture.api_key)).await?;
        outcome.ledgers_checked += 1;
        outcome.problems.extend(ledger.inconsistencies(customer));
        let expected = paid.get(&customer).cloned().unwrap_or_default();
        let mut granted: BTreeMap<String, u32> = BTreeMap::new();
        for entry in ledger.entries.iter().filter(|entry| entry.source == "pro_invoice") {
            let Some(reference) = &entry.reference else { continue };
            if expected.contains(reference) {
                *granted.entry(reference.clone()).or_default() += 1;
                outcome.credits_granted += entry.delta;
            } else if !in_stripe.is_empty() && !in_stripe.contains(reference) {
                // Credits for something that is not one of the customer's invoices in Stripe.
                outcome.problems.push(format!(
                    "customer #{customer}: {reference} granted credits but no paid invoice of that id was sent \
                     (nor is it one of the customer's invoices in Stripe)"
                ));
                outcome.credits_granted += entry.delta;
            }
        }
        for (reference, times) in &granted {
            if *times > 1 {
                outcome
                    .problems
                    .push(format!("customer #{customer}: invoice {reference} granted credits {times} times"));
            }
        }
        for invoice in expected.iter().filter(|invoice| !granted.contains_key(*invoice)) {
            outcome.problems.push(format!("customer #{customer}: paid invoice {invoice} granted no credits"));
        }
    }
    if outcome.credits_granted != outcome.credits_expected {
        outcome.problems.insert(
            0,
            format!(
                "credits granted for this run's invoices: {}, expected {} (= {CREDITS_PER_PAID_INVOICE} x {} distinct paid invoices)",
                outcome.credits_granted, outcome.credits_expected, outcome.distinct_paid_invoices
            ),
        );
    }
    Ok(outcome)
}

/// Delivers again, as Stripe retries, each event no delivery of which was acknowledged.
async fn redeliver_unacknowledged(api: &ApiClient, fixtures: &WebhookFixtures) -> anyhow::Result<usize> {
    let unacknowledged: Vec<_> =
        fixtures.log.snapshot().into_iter().filter(|(_, record)| record.acknowledged == 0).collect();
    for (id, record) in &unacknowledged {
        for _ in 0..REDELIVERY_ATTEMPTS {
            let request = super::signed(&record.payload, &fixtures.secret);
            match api.execute(&request).await {
                Ok((status, body)) => {
                    fixtures.log.answered(id, Some(status), &body);
                    if status.is_success() {
                        break;
                    }
                }
                Err(_) => fixtures.log.answered(id, None, b""),
            }
        }
    }
    Ok(unacknowledged.len())
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub delta: i64,
    pub balance_after: i64,
    pub source: String,
    pub reference: Option<String>,
}

/// A customer's whole ledger, oldest first, and the balance the service reports.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
    pub balance: i64,
}

impl Ledger {
    /// Where the ledger does not add up.
    pub fn inconsistencies(&self, customer: usize) -> Vec<String> {
        let mut problems = Vec::new();
        let mut running = 0;
        for entry in &self.entries {
            running += entry.delta;
            if entry.balance_after != running {
                problems.push(format!(
                    "customer #{customer}: ledger entry {} says balance {} but the entries add up to {running}",
                    entry.id, entry.balance_after
                ));
                running = entry.balance_after;
            }
            if entry.balance_after < 0 {
                problems.push(format!("customer #{customer}: ledger entry {} leaves a negative balance", entry.id));
            }
        }
        if running != self.balance {
            problems
                .push(format!("customer #{customer}: balance {} but the ledger adds up to {running}", self.balance));
        }
        problems
    }
}

/// Reads every page of a customer's ledger through `GET /api/v1/usage`.
pub async fn read_ledger(customer: &ApiClient) -> anyhow::Result<Ledger> {
    let mut entries = Vec::new();
    let mut before = None;
    let mut balance = None;
    loop {
        let request = ApiRequest::usage(Some(200), before);
        let (status, body) = customer.execute(&request).await?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "reading a ledger back answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let page: Value = serde_json::from_slice(&body)?;
        balance.get_or_insert(page["credit_balance"].as_i64().unwrap_or_default());
        let transactions: Vec<LedgerEntry> = serde_json::from_value(page["transactions"].clone())?;
        entries.extend(transactions);
        match page["next_before"].as_i64() {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    // Pages come newest first.
    entries.sort_by_key(|entry| entry.id);
    Ok(Ledger { entries, balance: balance.unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, delta: i64, balance_after: i64) -> LedgerEntry {
        LedgerEntry { id, delta, balance_after, source: "pro_invoice".into(), reference: None }
    }

    #[test]
    fn a_ledger_that_adds_up_is_consistent() {
        let ledger = Ledger { entries: vec![entry(1, 5, 5), entry(2, 60, 65), entry(3, -1, 64)], balance: 64 };
        assert!(ledger.inconsistencies(0).is_empty());
    }

    #[test]
    fn a_ledger_whose_balances_skip_is_not() {
        let ledger = Ledger { entries: vec![entry(1, 5, 5), entry(2, 60, 125)], balance: 125 };
        let problems = ledger.inconsistencies(3);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("entry 2"));
        let ledger = Ledger { entries: vec![entry(1, 5, 5)], balance: 65 };
        assert!(ledger.inconsistencies(0)[0].contains("balance 65"));
    }
}
