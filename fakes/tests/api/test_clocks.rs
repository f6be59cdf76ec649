//! Test clocks: advancing renews, bills every period, fails on declines and ends cancelled subscriptions.

use std::time::Duration;

use crate::helpers::TestStripe;

const JAN_1_2026: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

async fn clock(stripe: &TestStripe) -> String {
    let clock = stripe
        .post("/v1/test_helpers/test_clocks", &[("frozen_time", &JAN_1_2026.to_string()), ("name", "journey")])
        .await;
    assert_eq!(clock.status, 200, "{}", clock.raw);
    assert_eq!(clock.body["object"], "test_helpers.test_clock");
    assert_eq!(clock.body["status"], "ready");
    clock.id()
}

async fn customer_on_clock(stripe: &TestStripe, clock: &str, token: &str) -> String {
    let customer = stripe
        .post(
            "/v1/customers",
            &[
                ("email", "c@example.com"),
                ("test_clock", clock),
                ("payment_method", token),
                ("invoice_settings[default_payment_method]", token),
            ],
        )
        .await;
    assert_eq!(customer.status, 200, "{}", customer.raw);
    assert_eq!(customer.body["created"], JAN_1_2026);
    customer.id()
}

async fn subscribe(stripe: &TestStripe, customer: &str) -> String {
    let price = stripe.pro_price().await;
    let sub = stripe.post("/v1/subscriptions", &[("customer", customer), ("items[0][price]", &price)]).await;
    assert_eq!(sub.status, 200, "{}", sub.raw);
    assert_eq!(sub.body["items"]["data"][0]["current_period_start"], JAN_1_2026);
    sub.id()
}

#[tokio::test]
async fn advancing_over_the_api_reports_advancing_then_ready_and_renews() {
    let stripe = TestStripe::start().await;
    let clock = clock(&stripe).await;
    let customer = customer_on_clock(&stripe, &clock, "pm_card_visa").await;
    let sub = subscribe(&stripe, &customer).await;

    let target = JAN_1_2026 + 32 * DAY;
    let advanced = stripe
        .post(&format!("/v1/test_helpers/test_clocks/{clock}/advance"), &[("frozen_time", &target.to_string())])
        .await;
    assert_eq!(advanced.status, 200, "{}", advanced.raw);
    assert_eq!(advanced.body["status"], "advancing");
    // Poll (with a bound) until the background advance finishes.
    let mut ready = false;
    for _ in 0..500 {
        let fetched = stripe.get(&format!("/v1/test_helpers/test_clocks/{clock}")).await;
        if fetched.body["status"] == "ready" {
            assert_eq!(fetched.body["frozen_time"], target);
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "clock never became ready");

    let renewed = stripe.get(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(renewed.body["status"], "active");
    assert_eq!(renewed.body["items"]["data"][0]["current_period_start"], JAN_1_2026 + 31 * DAY);
    let invoices = stripe.get(&format!("/v1/invoices?subscription={sub}")).await;
    let newest = &invoices.body["data"][0];
    assert_eq!(newest["billing_reason"], "subscription_cycle");
    assert_eq!(newest["status"], "paid");
    assert_eq!(newest["created"], JAN_1_2026 + 31 * DAY);
    assert_eq!(newest["period_start"], JAN_1_2026);
    assert_eq!(newest["period_end"], JAN_1_2026 + 31 * DAY);
    assert_eq!(renewed.body["latest_invoice"], newest["id"]);
}

#[tokio::test]
async fn advancing_across_several_periods_bills_each_one() {
    let stripe = TestStripe::start().await;
    let clock = clock(&stripe).await;
    let customer = customer_on_clock(&stripe, &clock, "pm_card_visa").await;
    let sub = subscribe(&stripe, &customer).await;
    let ready = stripe.fake.advance_clock(&clock, JAN_1_2026 + 100 * DAY).await.unwrap();
    assert_eq!(ready["status"], "ready");
    let invoices = stripe.get(&format!("/v1/invoices?subscription={sub}")).await;
    // January (create), February, March, April.
    assert_eq!(invoices.body["data"].as_array().unwrap().len(), 4);
    let paid = stripe.event_types().iter().filter(|t| *t == "invoice.paid").count();
    assert_eq!(paid, 4);
}

#[tokio::test]
async fn a_declining_renewal_leaves_the_invoice_open_and_the_subscription_past_due() {
    let stripe = TestStripe::start().await;
    let clock = clock(&stripe).await;
    let customer = customer_on_clock(&stripe, &clock, "pm_card_visa").await;
    let sub = subscribe(&stripe, &customer).await;
    let declining =
        stripe.post("/v1/payment_methods/pm_card_chargeDeclined/attach", &[("customer", &customer)]).await.id();
    stripe
        .post(&format!("/v1/customers/{customer}"), &[("invoice_settings[default_payment_method]", &declining)])
        .await;

    stripe.fake.advance_clock(&clock, JAN_1_2026 + 35 * DAY).await.unwrap();
    let renewed = stripe.get(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice")).await;
    assert_eq!(renewed.body["status"], "past_due");
    assert_eq!(renewed.body["latest_invoice"]["status"], "open");
    assert_eq!(renewed.body["latest_invoice"]["billing_reason"], "subscription_cycle");
    assert!(stripe.event_types().contains(&"invoice.payment_failed".to_string()));
}

#[tokio::test]
async fn a_subscription_set_to_cancel_at_period_end_ends_when_the_clock_passes_it() {
    let stripe = TestStripe::start().await;
    let clock = clock(&stripe).await;
    let customer = customer_on_clock(&stripe, &clock, "pm_card_visa").await;
    let sub = subscribe(&stripe, &customer).await;
    stripe.post(&format!("/v1/subscriptions/{sub}"), &[("cancel_at_period_end", "true")]).await;

    stripe.fake.advance_clock(&clock, JAN_1_2026 + 10 * DAY).await.unwrap();
    assert_eq!(stripe.get(&format!("/v1/subscriptions/{sub}")).await.body["status"], "active");
    stripe.fake.advance_clock(&clock, JAN_1_2026 + 40 * DAY).await.unwrap();
    let ended = stripe.get(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(ended.body["status"], "canceled");
    assert_eq!(ended.body["ended_at"], JAN_1_2026 + 31 * DAY);
    assert!(stripe.event_types().contains(&"customer.subscription.deleted".to_string()));
    assert_eq!(stripe.get(&format!("/v1/invoices?subscription={sub}")).await.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_clock_cannot_go_backwards_and_can_be_listed_and_deleted() {
    let stripe = TestStripe::start().await;
    let clock = clock(&stripe).await;
    let back = stripe.post(&format!("/v1/test_helpers/test_clocks/{clock}/advance"), &[("frozen_time", "100")]).await;
    assert_eq!((back.status, back.error_param()), (400, "frozen_time"));
    assert_eq!(stripe.get("/v1/test_helpers/test_clocks").await.body["data"][0]["id"], clock.as_str());
    let deleted = stripe.delete(&format!("/v1/test_helpers/test_clocks/{clock}")).await;
    assert_eq!(deleted.body["deleted"], true);
    assert_eq!(stripe.get(&format!("/v1/test_helpers/test_clocks/{clock}")).await.status, 404);
}
