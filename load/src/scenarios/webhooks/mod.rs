//! Webhooks: Stripe delivers signed events about customers and subscriptions that exist.
//!
//! Each delivery is signed as Stripe signs (`Stripe-Signature: t=…,v1=HMAC-SHA256`, with the
//! endpoint's secret) and is one of the events the service handles — subscription created,
//! updated and deleted, invoice paid, invoice payment failed, payment method attached and
//! detached — about one of the Pro customers the run set up. By default 10 % of deliveries
//! are duplicates: an event this user sent before, sent again (Stripe delivers at least once).
//!
//! The service checks a paid invoice with Stripe before it grants credits, so an `invoice.paid`
//! names one of the customer's real paid invoices, read from Stripe when the fixtures were made
//! ([`ProCustomer::paid_invoices`]); a customer whose invoices are not known (a keys file made
//! without Stripe access) gets invented ones, which must grant nothing.
//!
//! Every delivery and its answer goes into the [`DeliveryLog`], which the after-run outcome
//! check ([`outcome`]) reads: the run is not over when the requests are answered.

pub mod outcome;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use billing_fakes::stripe::stripe_signature;
use billing_stack::ApiRequest;
use bytes::Bytes;
use goose::prelude::*;
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::context::RoundContext;
use crate::error::LoadError;
use crate::scenario::{About, AfterRun, BoxFuture, Prepared, Scenario, Setup};
use crate::scenarios::common::{self, SentEvent};
use crate::setup::ProCustomer;
use crate::summary::CheckResult;
use crate::target::Needs;

pub const REQUEST: &str = "POST /api/webhooks/stripe";

/// Pro customers made on the embedded stack when `--fixtures` does not say.
const DEFAULT_PRO_CUSTOMERS: usize = 16;

static ABOUT: About = About {
    name: "webhooks",
    description: "Stripe-signed events (subscription created/updated/deleted, invoice paid/payment failed, payment method attached/detached) about Pro customers that exist, 10 % duplicates; after the run: credits = 60 x distinct paid invoices, no event applied twice, every ledger consistent",
    requests: &[REQUEST],
    weight_in_all: 2,
    // The embedded stack holds p95 41 ms on the reference machine: about 2x headroom.
    thresholds: &["p95<80ms", "error-rate<1%"],
    // Its events name the Pro customers of the keys file.
    needs: Needs { api_keys: true, webhook_secret: true },
};

pub struct Webhooks;

impl Scenario for Webhooks {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare<'a>(&'a self, setup: &'a Setup<'a>) -> BoxFuture<'a, Result<Arc<dyn Prepared>, LoadError>> {
        Box::pin(async move {
            let run = setup.run;
            let customers = match &setup.target.keys_file {
                Some(file) => crate::setup::shard(&file.pro_customers, run.worker_index, run.workers),
                None => {
                    let count = setup.options.fixtures.unwrap_or(DEFAULT_PRO_CUSTOMERS).max(1);
                    // The customers' paid invoices are read from the stack's Stripe, for the
                    // invoice.paid events to name (the service checks each with Stripe).
                    let stripe = setup.target.embedded.as_ref().map(|embedded| embedded.stack.stripe_api());
                    let customers = crate::setup::pro_customers(&setup.api, run, count, stripe.as_ref())
                        .await
                        .map_err(|err| LoadError::setup("making Pro customers on the embedded stack", err))?;
                    if let Some(embedded) = &setup.target.embedded {
                        // Their own first invoices' webhooks, before the timed part starts.
                        embedded
                            .stack
                            .wait_for_webhooks()
                            .await
                            .map_err(|err| LoadError::setup("waiting for set-up webhooks", err))?;
                    }
                    customers
                }
            };
            if customers.is_empty() {
                return Err(LoadError::Usage(format!(
                    "worker {} of {} has no Pro customer: the keys file needs at least one per worker (scripts/create-load-test-keys --pro-customers N)",
                    run.worker_index, run.workers
                )));
            }
            let secret = setup.target.webhook_secret.clone().ok_or_else(|| {
                LoadError::Usage(
                    "webhooks must be signed with the target's endpoint secret: set STRIPE_WEBHOOK_SECRET=whsec_…"
                        .into(),
                )
            })?;
            Ok(Arc::new(WebhookFixtures {
                secret,
                customers,
                duplicate_percent: setup.options.duplicates,
                log: DeliveryLog::default(),
            }) as Arc<dyn Prepared>)
        })
    }
}

pub struct WebhookFixtures {
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub secret: String,
    pub customers: Vec<ProCustomer>,
    /// Percent of deliveries that repeat an earlier event.
    pub duplicate_percent: u32,
    pub log: DeliveryLog,
}

/// The kinds of events sent, with their share of new events (out of 100).
pub const EVENT_MIX: [(&str, u64); 7] = [
    ("invoice.paid", 40),
    ("customer.subscription.updated", 20),
    ("invoice.payment_failed", 10),
    ("customer.subscription.created", 8),
    ("customer.subscription.deleted", 2),
    ("payment_method.attached", 12),
    ("payment_method.detached", 8),
];

/// What happened to one event.
#[derive(Debug, Clone, Default)]
pub struct EventRecord {
    pub kind: String,
    /// The invoice of an `invoice.paid` event, when it is one of the customer's real paid
    /// invoices (an invented one must grant nothing).
    pub paid_invoice: Option<String>,
    pub customer: usize,
    pub payload: Bytes,
    pub deliveries: u32,
    /// Deliveries answered 2xx.
    pub acknowledged: u32,
    /// Answers that said the event was applied (`"outcome": "applied"`).
    pub applied: u32,
}

/// Every event of the run and its deliveries.
#[derive(Default)]
pub struct DeliveryLog {
    events: Mutex<HashMap<String, EventRecord>>,
}

impl DeliveryLog {
    fn first_delivery(&self, id: &str, record: EventRecord) {
        self.events.lock().expect("the log is never poisoned").insert(id.to_string(), record);
    }

    /// Records a delivery's answer (`None`: no answer at all).
    pub fn answered(&self, id: &str, status: Option<StatusCode>, body: &[u8]) {
        let mut events = self.events.lock().expect("the log is never poisoned");
        let Some(record) = events.get_mut(id) else { return };
        record.deliveries += 1;
        if status.is_some_and(|status| status.is_success()) {
            record.acknowledged += 1;
            let outcome: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            if outcome["outcome"] == "applied" {
                record.applied += 1;
            }
        }
    }

    pub fn snapshot(&self) -> HashMap<String, EventRecord> {
        self.events.lock().expect("the log is never poisoned").clone()
    }
}

impl Prepared for WebhookFixtures {
    fn step<'a>(&'a self, user: &'a mut GooseUser, round: &'a RoundContext) -> BoxFuture<'a, TransactionResult> {
        Box::pin(deliver(self, user, round))
    }

    fn after_run<'a>(&'a self, after: &'a AfterRun) -> BoxFuture<'a, Vec<CheckResult>> {
        Box::pin(async move { vec![outcome::check_result(after, self).await] })
    }
}

async fn deliver(fixtures: &WebhookFixtures, user: &mut GooseUser, context: &RoundContext) -> TransactionResult {
    let Some(started) = common::start_clock(context).await else { return common::idle().await };
    let state = common::state(user);
    state.iteration += 1;
    let (user_index, iteration) = (state.user, state.iteration);
    let roll = spread(user_index as u64, iteration);
    let duplicate = (roll % 100) < fixtures.duplicate_percent as u64 && !state.recent_events.is_empty();
    let event = if duplicate {
        state.recent_events[(roll / 100) as usize % state.recent_events.len()].clone()
    } else {
        let customer = (user_index + iteration as usize) % fixtures.customers.len();
        let kind = pick_kind(roll / 100);
        let suffix = context.run.unique("load", user_index, iteration).replace('-', "_");
        let now = chrono::Utc::now().timestamp();
        let pro = &fixtures.customers[customer];
        let real_invoice = (!pro.paid_invoices.is_empty())
            .then(|| pro.paid_invoices[(roll / 10_000) as usize % pro.paid_invoices.len()].clone());
        let invoice = real_invoice.clone().unwrap_or_else(|| format!("in_{suffix}"));
        let (id, event) = event(kind, &suffix, pro, &invoice, now);
        let payload = Bytes::from(serde_json::to_vec(&event).expect("a JSON value serializes"));
        let paid_invoice = real_invoice.filter(|_| kind == "invoice.paid");
        fixtures.log.first_delivery(
            &id,
            EventRecord { kind: kind.into(), paid_invoice, customer, payload: payload.clone(), ..Default::default() },
        );
        let sent = SentEvent { id, payload };
        // A handful per user is enough to draw duplicates from.
        if state.recent_events.len() == 8 {
            state.recent_events.remove(0);
        }
        state.recent_events.push(sent.clone());
        sent
    };
    let request = signed(&event.payload, &fixtures.secret);
    let result = common::send_and_record(user, context, started, REQUEST, &request, None, |answer| {
        common::expect(StatusCode::OK, answer, |body| {
            let body: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_string())?;
            match body["outcome"].as_str() {
                Some("applied" | "duplicate" | "ignored") if body["event"] == event.id.as_str() => Ok(()),
                _ => Err("no outcome for the event".into()),
            }
        })
    })
    .await;
    match &result {
        Ok(Some(answer)) => fixtures.log.answered(&event.id, Some(answer.status), &answer.body),
        _ => fixtures.log.answered(&event.id, None, b""),
    }
    result.map(|_| ())
}

/// The request that delivers `payload`, signed now with `secret`.
pub fn signed(payload: &Bytes, secret: &str) -> ApiRequest {
    let signature = stripe_signature(payload, secret, chrono::Utc::now().timestamp());
    ApiRequest::stripe_webhook(payload.clone(), &signature)
}

fn spread(user: u64, iteration: u64) -> u64 {
    let mut x = (user << 32 | (iteration & 0xFFFF_FFFF)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn pick_kind(roll: u64) -> &'static str {
    let mut left = roll % 100;
    for (kind, share) in EVENT_MIX {
        if left < share {
            return kind;
        }
        left -= share;
    }
    EVENT_MIX[0].0
}

/// A Stripe event of `kind` about `customer` (an invoice event about `invoice`), with the other
/// ids ending in `suffix`; its id and body.
pub fn event(kind: &str, suffix: &str, customer: &ProCustomer, invoice: &str, now: i64) -> (String, Value) {
    let id = format!("evt_{suffix}");
    let month = 30 * 24 * 3600;
    let price = billing_service::pricing::PRO_MONTHLY_PRICE.0;
    let subscription = json!({
        "id": customer.subscription_id, "object": "subscription", "customer": customer.stripe_customer_id,
        "status": "active", "cancel_at_period_end": false, "collection_method": "charge_automatically",
        "created": now - month, "current_period_start": now, "current_period_end": now + month,
        "currency": "usd", "livemode": false, "metadata": {},
        "items": {"object": "list", "data": [{"object": "subscription_item", "quantity": 1,
            "current_period_start": now, "current_period_end": now + month,
            "price": {"id": "price_pro_monthly", "object": "price", "lookup_key": "pro_monthly", "unit_amount": price,
                      "currency": "usd", "recurring": {"interval": "month", "interval_count": 1}}}]},
    });
    let invoice = |paid: bool| {
        json!({
            "id": invoice, "object": "invoice", "customer": customer.stripe_customer_id,
            "subscription": customer.subscription_id,
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": customer.subscription_id, "metadata": {}}},
            "status": if paid { "paid" } else { "open" }, "paid": paid, "attempt_count": 1,
            "amount_due": price, "amount_paid": if paid { price } else { 0 }, "amount_remaining": if paid { 0 } else { price },
            "currency": "usd", "billing_reason": "subscription_cycle", "collection_method": "charge_automatically",
            "created": now, "period_start": now - month, "period_end": now, "livemode": false, "metadata": {},
        })
    };
    let payment_method = |attached: bool| {
        json!({
            "id": format!("pm_{suffix}"), "object": "payment_method", "type": "card",
            "customer": if attached { json!(customer.stripe_customer_id) } else { Value::Null },
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "funding": "credit", "country": "US"},
            "billing_details": {"email": null, "name": null}, "created": now, "livemode": false, "metadata": {},
        })
    };
    let object = match kind {
        "invoice.paid" => invoice(true),
        "invoice.payment_failed" => invoice(false),
        "payment_method.attached" => payment_method(true),
        "payment_method.detached" => payment_method(false),
        _ => subscription,
    };
    let event = json!({
        "id": id, "object": "event", "api_version": "2025-03-31.basil", "created": now, "livemode": false,
        "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": kind,
        "data": {"object": object},
    });
    (id, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_mix_adds_up_to_every_kind_the_service_handles() {
        assert_eq!(EVENT_MIX.iter().map(|(_, share)| share).sum::<u64>(), 100);
        let kinds: std::collections::BTreeSet<&str> = (0..1000).map(pick_kind).collect();
        assert_eq!(kinds.len(), EVENT_MIX.len());
    }

    #[test]
    fn an_event_names_its_customer_and_subscription() {
        let customer = ProCustomer {
            stripe_customer_id: "cus_1".into(),
            subscription_id: "sub_1".into(),
            api_key: "bk_x".into(),
            paid_invoices: vec!["in_1".into()],
        };
        let (id, paid) = event("invoice.paid", "load_r_w0_u1_i2", &customer, "in_1", 1_700_000_000);
        assert_eq!(id, "evt_load_r_w0_u1_i2");
        assert_eq!(paid["data"]["object"]["id"], "in_1");
        assert_eq!(paid["data"]["object"]["customer"], "cus_1");
        assert_eq!(paid["data"]["object"]["subscription"], "sub_1");
        assert_eq!(paid["data"]["object"]["status"], "paid");
        let (_, updated) = event("customer.subscription.updated", "x", &customer, "in_1", 1);
        assert_eq!(updated["data"]["object"]["id"], "sub_1");
    }
}
