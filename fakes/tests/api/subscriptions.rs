//! Subscriptions and their invoices: first payment, declines, cancellation, listing.

use serde_json::Value;

use crate::helpers::TestStripe;

async fn subscribe(stripe: &TestStripe, customer: &str, price: &str, extra: &[(&str, &str)]) -> crate::helpers::Answer {
    let mut form = vec![("customer", customer), ("items[0][price]", price)];
    form.extend_from_slice(extra);
    stripe.post("/v1/subscriptions", &form).await
}

#[tokio::test]
async fn a_pro_subscription_starts_active_with_a_paid_first_invoice() {
    let stripe = TestStripe::start().await;
    let (customer, _) = stripe.customer_with_card("a@example.com", "pm_card_visa").await;
    let price = stripe.pro_price().await;
    let sub = subscribe(
        &stripe,
        &customer,
        &price,
        &[("metadata[plan]", "pro"), ("expand[]", "latest_invoice.payment_intent")],
    )
    .await;
    assert_eq!(sub.status, 200, "{}", sub.raw);
    let body = &sub.body;
    assert!(sub.id().starts_with("sub_"));
    assert_eq!(body["status"], "active");
    assert_eq!(body["metadata"]["plan"], "pro");
    // Since 2025-03-31.basil the period is on each item, not on the subscription.
    assert!(body.get("current_period_end").is_none(), "{body}");
    let start = body["items"]["data"][0]["current_period_start"].as_i64().unwrap();
    let end = body["items"]["data"][0]["current_period_end"].as_i64().unwrap();
    assert!(end - start >= 28 * 86_400 && end - start <= 31 * 86_400);
    assert_eq!(body["items"]["data"][0]["price"]["id"], price.as_str());

    let invoice = &body["latest_invoice"];
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["billing_reason"], "subscription_create");
    assert_eq!(invoice["amount_due"], 59900);
    assert_eq!(invoice["amount_paid"], 59900);
    // Since 2025-03-31.basil an invoice names its subscription under `parent`.
    assert_eq!(invoice["parent"]["subscription_details"]["subscription"], sub.id().as_str());
    assert_eq!(invoice["customer"], customer.as_str());
    assert_eq!(invoice["lines"]["data"][0]["period"]["end"], end);
    assert_eq!(invoice["payment_intent"]["status"], "succeeded");

    let types = stripe.event_types();
    for expected in [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    ] {
        assert!(types.contains(&expected.to_string()), "{expected} missing from {types:?}");
    }
}

#[tokio::test]
async fn a_subscription_on_a_declining_card_is_incomplete_with_an_open_invoice() {
    let stripe = TestStripe::start().await;
    let (customer, _) = stripe.customer_with_card("a@example.com", "pm_card_chargeDeclined").await;
    let price = stripe.pro_price().await;
    let sub = subscribe(&stripe, &customer, &price, &[("expand[]", "latest_invoice")]).await;
    assert_eq!(sub.status, 200, "{}", sub.raw);
    assert_eq!(sub.body["status"], "incomplete");
    assert_eq!(sub.body["latest_invoice"]["status"], "open");
    assert!(stripe.event_types().contains(&"invoice.payment_failed".to_string()));
}

#[tokio::test]
async fn error_if_incomplete_turns_a_decline_into_a_402_and_keeps_no_subscription() {
    let stripe = TestStripe::start().await;
    let (customer, _) = stripe.customer_with_card("a@example.com", "pm_card_chargeDeclinedInsufficientFunds").await;
    let price = stripe.pro_price().await;
    let answer = subscribe(&stripe, &customer, &price, &[("payment_behavior", "error_if_incomplete")]).await;
    assert_eq!(answer.status, 402, "{}", answer.raw);
    assert_eq!(answer.body["error"]["decline_code"], "insufficient_funds");
    let list = stripe.get(&format!("/v1/subscriptions?customer={customer}&status=all")).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn an_explicit_default_payment_method_is_used_over_the_customers() {
    let stripe = TestStripe::start().await;
    let (customer, _) = stripe.customer_with_card("a@example.com", "pm_card_chargeDeclined").await;
    let good = stripe.post("/v1/payment_methods/pm_card_visa/attach", &[("customer", &customer)]).await.id();
    let price = stripe.pro_price().await;
    let sub = subscribe(&stripe, &customer, &price, &[("default_payment_method", &good)]).await;
    assert_eq!(sub.body["status"], "active", "{}", sub.raw);
    assert_eq!(sub.body["default_payment_method"], good.as_str());
}

#[tokio::test]
async fn cancel_at_period_end_is_an_update_and_delete_cancels_now() {
    let stripe = TestStripe::start().await;
    let (customer, _) = stripe.customer_with_card("a@example.com", "pm_card_visa").await;
    let price = stripe.pro_price().await;
    let id = subscribe(&stripe, &customer, &price, &[]).await.id();

    let updated = stripe.post(&format!("/v1/subscriptions/{id}"), &[("cancel_at_period_end", "true")]).await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    assert_eq!(updated.body["cancel_at_period_end"], true);
    assert_eq!(updated.body["status"], "active");
    assert_eq!(updated.body["cancel_at"], updated.body["items"]["data"][0]["current_period_end"]);
    let event = stripe.fake.events().pop().unwrap();
    assert_eq!(event["type"], "customer.subscription.updated");
    assert_eq!(event["data"]["previous_attributes"]["cancel_at_period_end"], false);

    let canceled = stripe.delete(&format!("/v1/subscriptions/{id}")).await;
    assert_eq!(canceled.status, 200, "{}", canceled.raw);
    assert_eq!(canceled.body["status"], "canceled");
    assert!(canceled.body["ended_at"].is_i64());
    assert_eq!(stripe.fake.events().pop().unwrap()["type"], "customer.subscription.deleted");
    assert_eq!(stripe.delete(&format!("/v1/subscriptions/{id}")).await.status, 400);
}

#[tokio::test]
async fn subscriptions_and_invoices_are_listed_by_customer() {
    let stripe = TestStripe::start().await;
    let (customer, _) = stripe.customer_with_card("a@example.com", "pm_card_visa").await;
    let (other, _) = stripe.customer_with_card("b@example.com", "pm_card_visa").await;
    let price = stripe.pro_price().await;
    let mine = subscribe(&stripe, &customer, &price, &[]).await.id();
    subscribe(&stripe, &other, &price, &[]).await;

    let subs = stripe.get(&format!("/v1/subscriptions?customer={customer}")).await;
    let ids: Vec<&Value> = subs.body["data"].as_array().unwrap().iter().map(|s| &s["id"]).collect();
    assert_eq!(ids, [&Value::from(mine.clone())]);
    let invoices = stripe.get(&format!("/v1/invoices?subscription={mine}")).await;
    assert_eq!(invoices.body["data"].as_array().unwrap().len(), 1);
    let invoice_id = invoices.body["data"][0]["id"].as_str().unwrap();
    assert_eq!(stripe.get(&format!("/v1/invoices/{invoice_id}")).await.body["customer"], customer.as_str());
    assert_eq!(stripe.get(&format!("/v1/invoices?customer={other}")).await.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_subscription_input_names_the_param() {
    let stripe = TestStripe::start().await;
    let customer = stripe.customer("a@example.com").await;
    let no_items = stripe.post("/v1/subscriptions", &[("customer", &customer)]).await;
    assert_eq!((no_items.status, no_items.error_param()), (400, "items"));
    let bad_price =
        stripe.post("/v1/subscriptions", &[("customer", &customer), ("items[0][price]", "price_nope")]).await;
    assert_eq!((bad_price.status, bad_price.error_param()), (404, "items[0][price]"));
    let no_customer = stripe.post("/v1/subscriptions", &[("customer", "cus_nope"), ("items[0][price]", "x")]).await;
    assert_eq!(no_customer.status, 404);
}
