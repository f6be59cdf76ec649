//! Changing a subscription's items mid-period: prorations by the second, on the next invoice
//! (`create_prorations`), invoiced at once (`always_invoice`) or not at all (`none`); credits
//! carried in the customer's balance; `previous_attributes`; and the refusals.

use serde_json::Value;

use crate::helpers::{Answer, TestStripe};

const JAN_1_2026: i64 = 1_767_225_600;
const DAY: i64 = 86_400;
/// January has 31 days: the first period is Jan 1 → Feb 1.
const PERIOD: (i64, i64) = (JAN_1_2026, JAN_1_2026 + 31 * DAY);

/// Stripe's proration of `cents` for what is left of `PERIOD` after `from`, by the second.
fn prorated(cents: i64, from: i64) -> i64 {
    (cents as f64 * (PERIOD.1 - from) as f64 / (PERIOD.1 - PERIOD.0) as f64).round() as i64
}

async fn advance(stripe: &TestStripe, clock: &str, to: i64) {
    stripe.fake.advance_clock(clock, to).await.expect("the clock advances");
}

fn item_id(subscription: &Answer) -> String {
    subscription.body["items"]["data"][0]["id"].as_str().unwrap().to_string()
}

async fn pending_amounts(stripe: &TestStripe, customer: &str) -> Vec<i64> {
    let items = stripe.get(&format!("/v1/invoiceitems?customer={customer}&pending=true")).await;
    let mut amounts: Vec<i64> =
        items.body["data"].as_array().unwrap().iter().map(|i| i["amount"].as_i64().unwrap()).collect();
    amounts.sort();
    amounts
}

async fn newest_invoice(stripe: &TestStripe, subscription: &str) -> Value {
    stripe.get(&format!("/v1/invoices?subscription={subscription}&limit=1")).await.body["data"][0].clone()
}

#[tokio::test]
async fn a_quantity_change_leaves_second_based_prorations_for_the_next_invoice() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    let change_at = JAN_1_2026 + 10 * DAY;
    advance(&stripe, &clock, change_at).await;

    let updated = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[("items[0][id]", &item_id(&sub)), ("items[0][quantity]", "2")],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    assert_eq!(updated.body["items"]["data"][0]["quantity"], 2);
    assert_eq!(updated.body["items"]["data"][0]["id"], item_id(&sub).as_str(), "the item keeps its id");
    let credit = -prorated(59_900, change_at);
    let charge = prorated(119_800, change_at);
    assert_eq!((credit, charge), (-40_577, 81_155), "21 of 31 days left");
    assert_eq!(pending_amounts(&stripe, &customer).await, [credit, charge]);

    let event = stripe.fake.events().into_iter().rev().find(|e| e["type"] == "customer.subscription.updated").unwrap();
    assert_eq!(event["data"]["object"]["items"]["data"][0]["quantity"], 2);
    assert_eq!(event["data"]["previous_attributes"]["items"]["data"][0]["quantity"], 1);

    advance(&stripe, &clock, PERIOD.1 + DAY).await;
    let renewal = newest_invoice(&stripe, &sub.id()).await;
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    assert_eq!(renewal["status"], "paid");
    assert_eq!(renewal["amount_paid"], 119_800 + credit + charge);
    let lines = renewal["lines"]["data"].as_array().unwrap();
    let prorations: Vec<&Value> =
        lines.iter().filter(|l| l["parent"]["subscription_item_details"]["proration"] == true).collect();
    assert_eq!(prorations.len(), 2);
    assert_eq!(prorations[0]["period"]["start"], change_at);
    assert_eq!(prorations[0]["period"]["end"], PERIOD.1);
    assert!(pending_amounts(&stripe, &customer).await.is_empty(), "the renewal invoiced them");
}

#[tokio::test]
async fn an_explicit_proration_date_is_prorated_to_the_second() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    advance(&stripe, &clock, JAN_1_2026 + 3 * DAY).await;
    let date = JAN_1_2026 + 15 * DAY + 7;
    let updated = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[("items[0][id]", &item_id(&sub)), ("items[0][quantity]", "3"), ("proration_date", &date.to_string())],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    assert_eq!(pending_amounts(&stripe, &customer).await, [-prorated(59_900, date), prorated(179_700, date)]);
}

#[tokio::test]
async fn a_price_change_with_always_invoice_is_invoiced_and_paid_at_once() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    let premium = stripe.monthly_price("Premium", 99_900).await;
    let change_at = JAN_1_2026 + 10 * DAY;
    advance(&stripe, &clock, change_at).await;
    let updated = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[
                ("items[0][id]", &item_id(&sub)),
                ("items[0][price]", &premium),
                ("proration_behavior", "always_invoice"),
            ],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    assert_eq!(updated.body["items"]["data"][0]["price"]["id"], premium.as_str());
    assert_eq!(updated.body["items"]["data"][0]["plan"]["amount"], 99_900);
    let invoice = stripe.get(&format!("/v1/invoices/{}", updated.body["latest_invoice"].as_str().unwrap())).await.body;
    assert_eq!(invoice["billing_reason"], "subscription_update");
    assert_eq!(invoice["status"], "paid");
    let net = prorated(99_900, change_at) - prorated(59_900, change_at);
    assert_eq!(invoice["amount_paid"], net);
    assert_eq!(invoice["lines"]["data"].as_array().unwrap().len(), 2);
    assert!(pending_amounts(&stripe, &customer).await.is_empty());
    let previous =
        stripe.fake.events().into_iter().rev().find(|e| e["type"] == "customer.subscription.updated").unwrap();
    assert_eq!(previous["data"]["previous_attributes"]["items"]["data"][0]["price"]["unit_amount"], 59_900);
}

#[tokio::test]
async fn a_downgrade_credit_goes_to_the_customer_balance_and_pays_later_invoices() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    let basic = stripe.monthly_price("Basic", 9_900).await;
    let change_at = JAN_1_2026 + 10 * DAY;
    advance(&stripe, &clock, change_at).await;
    let updated = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[("items[0][id]", &item_id(&sub)), ("items[0][price]", &basic), ("proration_behavior", "always_invoice")],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    let credit = prorated(9_900, change_at) - prorated(59_900, change_at);
    let invoice = stripe.get(&format!("/v1/invoices/{}", updated.body["latest_invoice"].as_str().unwrap())).await.body;
    assert_eq!((invoice["total"].as_i64(), invoice["amount_due"].as_i64()), (Some(credit), Some(0)));
    assert_eq!(invoice["status"], "paid");
    assert_eq!(stripe.get(&format!("/v1/customers/{customer}")).await.body["balance"], credit);

    advance(&stripe, &clock, PERIOD.1 + DAY).await;
    let renewal = newest_invoice(&stripe, &sub.id()).await;
    assert_eq!(renewal["total"], 9_900);
    assert_eq!(renewal["starting_balance"], credit);
    assert_eq!(renewal["amount_due"], 0, "the credit pays it");
    assert_eq!(renewal["ending_balance"], credit + 9_900);
    assert_eq!(stripe.get(&format!("/v1/customers/{customer}")).await.body["balance"], credit + 9_900);
}

#[tokio::test]
async fn proration_behavior_none_changes_the_items_without_prorations() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    advance(&stripe, &clock, JAN_1_2026 + 10 * DAY).await;
    let updated = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[("items[0][id]", &item_id(&sub)), ("items[0][quantity]", "2"), ("proration_behavior", "none")],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    assert!(pending_amounts(&stripe, &customer).await.is_empty());
    advance(&stripe, &clock, PERIOD.1 + DAY).await;
    assert_eq!(newest_invoice(&stripe, &sub.id()).await["amount_paid"], 119_800);
}

#[tokio::test]
async fn adding_and_removing_items_prorates_only_what_changed() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    let seats = stripe.monthly_price("Seats", 1_000).await;
    let change_at = JAN_1_2026 + 10 * DAY;
    advance(&stripe, &clock, change_at).await;
    let added = stripe
        .post(&format!("/v1/subscriptions/{}", sub.id()), &[("items[0][price]", &seats), ("items[0][quantity]", "5")])
        .await;
    assert_eq!(added.status, 200, "{}", added.raw);
    assert_eq!(added.body["items"]["data"].as_array().unwrap().len(), 2);
    assert_eq!(pending_amounts(&stripe, &customer).await, [prorated(5_000, change_at)]);

    let seats_item = added.body["items"]["data"][1]["id"].as_str().unwrap().to_string();
    let removed = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[("items[0][id]", &seats_item), ("items[0][deleted]", "true")],
        )
        .await;
    assert_eq!(removed.body["items"]["data"].as_array().unwrap().len(), 1, "{}", removed.raw);
    assert_eq!(pending_amounts(&stripe, &customer).await, [-prorated(5_000, change_at), prorated(5_000, change_at)]);
}

#[tokio::test]
async fn a_declined_always_invoice_update_with_error_if_incomplete_changes_nothing() {
    let stripe = TestStripe::start().await;
    let (clock, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    let declining =
        stripe.post("/v1/payment_methods/pm_card_chargeDeclined/attach", &[("customer", &customer)]).await.id();
    stripe
        .post(&format!("/v1/customers/{customer}"), &[("invoice_settings[default_payment_method]", &declining)])
        .await;
    advance(&stripe, &clock, JAN_1_2026 + 10 * DAY).await;
    let refused = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[
                ("items[0][id]", &item_id(&sub)),
                ("items[0][quantity]", "2"),
                ("proration_behavior", "always_invoice"),
                ("payment_behavior", "error_if_incomplete"),
            ],
        )
        .await;
    assert_eq!(refused.status, 402, "{}", refused.raw);
    assert!(refused.body["error"]["charge"].as_str().unwrap().starts_with("ch_"));
    let unchanged = stripe.get(&format!("/v1/subscriptions/{}", sub.id())).await;
    assert_eq!(unchanged.body["items"]["data"][0]["quantity"], 1);
    assert_eq!(unchanged.body["status"], "active");
    assert_eq!(newest_invoice(&stripe, &sub.id()).await["status"], "void");

    let allowed = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[("items[0][id]", &item_id(&sub)), ("items[0][quantity]", "2"), ("proration_behavior", "always_invoice")],
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.raw);
    assert_eq!(allowed.body["status"], "past_due", "allow_incomplete keeps the change and goes past_due");
}

/// A form as pairs.
type Form<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test]
async fn impossible_item_changes_are_refused_naming_the_param() {
    let stripe = TestStripe::start().await;
    let (_, _, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    let path = format!("/v1/subscriptions/{}", sub.id());
    let item = item_id(&sub);
    let yearly = stripe
        .post(
            "/v1/prices",
            &[
                ("unit_amount", "500000"),
                ("currency", "usd"),
                ("recurring[interval]", "year"),
                ("product_data[name]", "Y"),
            ],
        )
        .await
        .id();
    let pro = sub.body["items"]["data"][0]["price"]["id"].as_str().unwrap().to_string();
    let cases: Vec<(Form, u16, &str)> = vec![
        (vec![("items[0][id]", "si_nope"), ("items[0][quantity]", "2")], 404, "items[0][id]"),
        (vec![("items[0][id]", &item), ("items[0][price]", &yearly)], 400, "items[0][price]"),
        (vec![("items[0][id]", &item), ("items[0][quantity]", "0")], 400, "items[0][quantity]"),
        (vec![("items[0][price]", &pro)], 400, "items"),
        (vec![("items[0][id]", &item), ("items[0][deleted]", "true")], 400, "items"),
        (vec![("items[0][id]", &item), ("proration_behavior", "sometimes")], 400, "proration_behavior"),
        (vec![("items[0][id]", &item), ("items[0][quantity]", "2"), ("proration_date", "1")], 400, "proration_date"),
    ];
    for (form, status, param) in cases {
        let answer = stripe.post(&path, &form).await;
        assert_eq!((answer.status, answer.error_param()), (status, param), "{form:?}: {}", answer.raw);
    }
    assert_eq!(stripe.get(&path).await.body["items"]["data"][0]["quantity"], 1, "nothing changed");
}
