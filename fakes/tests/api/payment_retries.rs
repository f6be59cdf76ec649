//! Failed renewals tried again as the test clock moves (Stripe's retry schedule): `past_due`
//! while tries are left, `unpaid` (or `canceled`) after the last one, `active` again once a try
//! or a manual payment succeeds — with the invoice's `attempt_count` and `next_payment_attempt`,
//! and the events in Stripe's order. Clocks are advanced through the API and polled until ready.

use billing_fakes::StripeFake;
use billing_fakes::stripe::{AfterFinalRetry, InvoiceRetries};
use serde_json::{Value, json};

use crate::helpers::TestStripe;

const JAN_1_2026: i64 = 1_767_225_600;
const DAY: i64 = 86_400;
/// The first renewal of a monthly subscription started on 2026-01-01: 2026-02-01.
const RENEWAL: i64 = JAN_1_2026 + 31 * DAY;
/// The second: 2026-03-01.
const SECOND_RENEWAL: i64 = RENEWAL + 28 * DAY;

/// A Pro subscription on a clock at 2026-01-01, paid with a good card that then starts
/// declining: (clock, customer, subscription).
async fn pro_whose_card_starts_declining(stripe: &TestStripe) -> (String, String, String) {
    let (clock, customer, subscription) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    assert_eq!(subscription.body["status"], "active");
    stripe.switch_default_card(&customer, "pm_card_chargeDeclinedInsufficientFunds").await;
    (clock, customer, subscription.id())
}

async fn subscription(stripe: &TestStripe, id: &str) -> Value {
    stripe.get(&format!("/v1/subscriptions/{id}?expand[]=latest_invoice")).await.body
}

/// The events about one object of the fake, oldest first: (type, object).
fn events_about(stripe: &TestStripe, id: &str) -> Vec<(String, Value)> {
    stripe
        .fake
        .events()
        .into_iter()
        .filter(|event| event["data"]["object"]["id"] == id)
        .map(|event| (event["type"].as_str().unwrap_or_default().to_string(), event["data"]["object"].clone()))
        .collect()
}

#[tokio::test]
async fn a_declined_renewal_is_retried_3_5_and_7_days_apart_then_the_subscription_is_unpaid() {
    let stripe = TestStripe::start().await;
    let (clock, _, sub) = pro_whose_card_starts_declining(&stripe).await;

    stripe.advance_clock_over_http(&clock, RENEWAL + DAY).await;
    let past_due = subscription(&stripe, &sub).await;
    assert_eq!(past_due["status"], "past_due");
    let invoice = past_due["latest_invoice"]["id"].as_str().unwrap().to_string();
    assert_eq!(past_due["latest_invoice"]["attempt_count"], 1);
    assert_eq!(past_due["latest_invoice"]["next_payment_attempt"], RENEWAL + 3 * DAY);

    // Each retry is due a set number of days after the attempt before it.
    for (retry, (at, next)) in
        [(RENEWAL + 3 * DAY, json!(RENEWAL + 8 * DAY)), (RENEWAL + 8 * DAY, json!(RENEWAL + 15 * DAY))]
            .iter()
            .enumerate()
    {
        stripe.advance_clock_over_http(&clock, *at).await;
        let tried = stripe.get(&format!("/v1/invoices/{invoice}")).await.body;
        assert_eq!(tried["attempt_count"], retry as i64 + 2, "{tried}");
        assert_eq!(tried["next_payment_attempt"], *next, "{tried}");
        assert_eq!(tried["status"], "open");
        assert_eq!(subscription(&stripe, &sub).await["status"], "past_due");
    }

    stripe.advance_clock_over_http(&clock, RENEWAL + 15 * DAY).await;
    let unpaid = subscription(&stripe, &sub).await;
    assert_eq!(unpaid["status"], "unpaid");
    assert_eq!(unpaid["latest_invoice"]["id"], invoice.as_str(), "no new invoice before the next period");
    assert_eq!(unpaid["latest_invoice"]["status"], "open", "the invoice stays open");
    assert_eq!(unpaid["latest_invoice"]["attempt_count"], 4);
    assert_eq!(unpaid["latest_invoice"]["next_payment_attempt"], Value::Null);

    // Four failed attempts, each announced, then the subscription's move to unpaid, in that order.
    let failed: Vec<(i64, Value)> = events_about(&stripe, &invoice)
        .into_iter()
        .filter(|(kind, _)| kind == "invoice.payment_failed")
        .map(|(_, object)| (object["attempt_count"].as_i64().unwrap(), object["next_payment_attempt"].clone()))
        .collect();
    assert_eq!(
        failed,
        [
            (1, json!(RENEWAL + 3 * DAY)),
            (2, json!(RENEWAL + 8 * DAY)),
            (3, json!(RENEWAL + 15 * DAY)),
            (4, Value::Null)
        ]
    );
    let events = stripe.fake.events();
    let last_failure = events
        .iter()
        .rposition(|e| e["type"] == "invoice.payment_failed" && e["data"]["object"]["id"] == invoice.as_str())
        .unwrap();
    let to_unpaid = events
        .iter()
        .position(|e| e["type"] == "customer.subscription.updated" && e["data"]["object"]["status"] == "unpaid")
        .expect("customer.subscription.updated to unpaid");
    assert!(last_failure < to_unpaid, "the last failure is announced before the subscription turns unpaid");
    assert_eq!(events[to_unpaid]["data"]["previous_attributes"]["status"], "past_due");
    assert_eq!(events[to_unpaid]["created"], RENEWAL + 15 * DAY);
}

#[tokio::test]
async fn a_retry_after_the_card_is_fixed_pays_the_invoice_and_makes_the_subscription_active() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = pro_whose_card_starts_declining(&stripe).await;
    stripe.advance_clock_over_http(&clock, RENEWAL + DAY).await;
    let invoice = subscription(&stripe, &sub).await["latest_invoice"]["id"].as_str().unwrap().to_string();

    // The retry charges the default the customer has at the time of the retry.
    stripe.switch_default_card(&customer, "pm_card_mastercard").await;
    stripe.advance_clock_over_http(&clock, RENEWAL + 4 * DAY).await;

    let active = subscription(&stripe, &sub).await;
    assert_eq!(active["status"], "active");
    assert_eq!(active["latest_invoice"]["status"], "paid");
    assert_eq!(active["latest_invoice"]["attempt_count"], 2);
    assert_eq!(active["latest_invoice"]["amount_paid"], 59_900);
    assert_eq!(active["latest_invoice"]["next_payment_attempt"], Value::Null);
    let kinds: Vec<String> = events_about(&stripe, &invoice).into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(kinds[kinds.len() - 2..], ["invoice.paid", "invoice.payment_succeeded"], "{kinds:?}");
    let events = stripe.fake.events();
    let paid_at = events.iter().rposition(|e| e["type"] == "invoice.payment_succeeded").unwrap();
    let reactivated = &events[paid_at + 1];
    assert_eq!(reactivated["type"], "customer.subscription.updated", "{reactivated}");
    assert_eq!(reactivated["data"]["object"]["status"], "active");
    assert_eq!(reactivated["data"]["previous_attributes"]["status"], "past_due");
    assert_eq!(reactivated["created"], RENEWAL + 3 * DAY);

    // Paid: no more retries, and the next renewal is charged as usual.
    stripe.advance_clock_over_http(&clock, SECOND_RENEWAL + DAY).await;
    let renewed = subscription(&stripe, &sub).await;
    assert_eq!(
        (renewed["status"].clone(), renewed["latest_invoice"]["status"].clone()),
        (json!("active"), json!("paid"))
    );
}

#[tokio::test]
async fn an_unpaid_subscription_bills_without_charging_and_is_active_again_once_its_invoice_is_paid() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = pro_whose_card_starts_declining(&stripe).await;
    stripe.advance_clock_over_http(&clock, RENEWAL + 15 * DAY).await;
    let first = subscription(&stripe, &sub).await["latest_invoice"]["id"].as_str().unwrap().to_string();
    assert_eq!(subscription(&stripe, &sub).await["status"], "unpaid");

    // A manual payment that fails is announced but leaves the schedule as it is.
    let declined = stripe.post(&format!("/v1/invoices/{first}/pay"), &[]).await;
    assert_eq!((declined.status, declined.body["error"]["decline_code"].clone()), (402, json!("insufficient_funds")));
    let after_manual = stripe.get(&format!("/v1/invoices/{first}")).await.body;
    assert_eq!(
        (after_manual["attempt_count"].clone(), after_manual["next_payment_attempt"].clone()),
        (json!(4), Value::Null)
    );

    // Unpaid: the next period is invoiced, the invoice is not charged, the subscription stays unpaid.
    stripe.advance_clock_over_http(&clock, SECOND_RENEWAL + DAY).await;
    let still = subscription(&stripe, &sub).await;
    assert_eq!(still["status"], "unpaid");
    assert_ne!(still["latest_invoice"]["id"], first.as_str());
    assert_eq!(still["latest_invoice"]["status"], "open");
    assert_eq!(still["latest_invoice"]["attempt_count"], 0);
    assert_eq!(still["latest_invoice"]["attempted"], false);
    let second = still["latest_invoice"]["id"].as_str().unwrap().to_string();

    // The customer fixes the card and pays: the subscription is active again.
    stripe.switch_default_card(&customer, "pm_card_visa").await;
    let paid = stripe.post(&format!("/v1/invoices/{second}/pay"), &[]).await;
    assert_eq!((paid.status, paid.body["status"].clone()), (200, json!("paid")), "{}", paid.raw);
    let active = subscription(&stripe, &sub).await;
    assert_eq!(active["status"], "active");
    let last = stripe.fake.events().last().cloned().unwrap();
    assert_eq!(
        (last["type"].clone(), last["data"]["previous_attributes"]["status"].clone()),
        (json!("customer.subscription.updated"), json!("unpaid"))
    );
}

#[tokio::test]
async fn the_schedule_and_the_final_step_are_settings_a_bad_one_is_refused_and_changes_nothing() {
    let stripe = TestStripe::start().await;
    let refused = stripe
        .send(stripe.http.post(stripe.url("/_fake/settings")).json(&json!({"invoice_retry_days": [0], "retain": 5})))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.raw);
    assert!(refused.raw.contains("1 to 60 days"), "{}", refused.raw);
    let wrong_step = stripe
        .send(stripe.http.post(stripe.url("/_fake/settings")).json(&json!({"after_final_retry": "cancelled"})))
        .await;
    assert_eq!(wrong_step.status, 400, "{}", wrong_step.raw);
    assert_eq!(stripe.fake.invoice_retries(), InvoiceRetries::default());
    assert_eq!(stripe.fake.stats().retain, None, "the refused request changed nothing else either");

    let settings = stripe
        .control_post("/_fake/settings", &json!({"invoice_retry_days": [1], "after_final_retry": "canceled"}))
        .await;
    assert_eq!(
        (settings["invoice_retry_days"].clone(), settings["after_final_retry"].clone()),
        (json!([1]), json!("canceled"))
    );

    let (clock, _, sub) = pro_whose_card_starts_declining(&stripe).await;
    stripe.advance_clock_over_http(&clock, RENEWAL + DAY).await;
    let canceled = subscription(&stripe, &sub).await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["ended_at"], RENEWAL + DAY);
    assert_eq!(canceled["cancellation_details"]["reason"], "payment_failed");
    assert_eq!(canceled["latest_invoice"]["attempt_count"], 2);
    assert!(stripe.event_types().contains(&"customer.subscription.deleted".to_string()));
}

#[tokio::test]
async fn with_no_retries_a_declined_renewal_makes_the_subscription_unpaid_at_once() {
    let fake = StripeFake::builder()
        .invoice_retries(InvoiceRetries::new(vec![], AfterFinalRetry::Unpaid).unwrap())
        .start()
        .await
        .unwrap();
    let stripe = TestStripe::on(fake);
    let (clock, _, sub) = pro_whose_card_starts_declining(&stripe).await;
    stripe.advance_clock_over_http(&clock, RENEWAL + DAY).await;
    let unpaid = subscription(&stripe, &sub).await;
    assert_eq!(unpaid["status"], "unpaid");
    assert_eq!(
        (unpaid["latest_invoice"]["attempt_count"].clone(), unpaid["latest_invoice"]["next_payment_attempt"].clone()),
        (json!(1), Value::Null)
    );
    let statuses: Vec<Value> = stripe
        .fake
        .events()
        .iter()
        .filter(|e| e["type"] == "customer.subscription.updated")
        .map(|e| e["data"]["object"]["status"].clone())
        .collect();
    assert_eq!(statuses[statuses.len() - 2..], [json!("past_due"), json!("unpaid")]);
}
