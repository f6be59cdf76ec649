//! `POST /v1/invoices/create_preview`: the next invoice of a subscription, with the prorations a
//! change would make (exactly what the change then bills), a new subscription's first invoice, and
//! "no upcoming invoice" when there is none. A preview stores nothing.

use crate::helpers::TestStripe;

const JAN_1_2026: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

#[tokio::test]
async fn the_preview_of_an_unchanged_subscription_is_its_next_renewal_and_stores_nothing() {
    let stripe = TestStripe::start().await;
    let (_, _, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    let events_before = stripe.fake.events().len();
    let preview = stripe.post("/v1/invoices/create_preview", &[("subscription", sub.id().as_str())]).await;
    assert_eq!(preview.status, 200, "{}", preview.raw);
    assert_eq!(preview.body["object"], "invoice");
    assert!(preview.id().starts_with("upcoming_in_"));
    assert_eq!(preview.body["status"], "draft");
    assert_eq!(preview.body["billing_reason"], "subscription_cycle");
    assert_eq!(preview.body["amount_due"], 59_900);
    assert_eq!(preview.body["created"], JAN_1_2026 + 31 * DAY);
    let line = &preview.body["lines"]["data"][0];
    assert_eq!(line["period"]["start"], JAN_1_2026 + 31 * DAY);
    assert_eq!(line["period"]["end"], JAN_1_2026 + 59 * DAY);
    assert_eq!(stripe.get(&format!("/v1/invoices/{}", preview.id())).await.status, 404);
    assert_eq!(
        stripe.get(&format!("/v1/invoices?subscription={}", sub.id())).await.body["data"].as_array().unwrap().len(),
        1
    );
    assert_eq!(stripe.fake.events().len(), events_before, "a preview emits no event");
}

#[tokio::test]
async fn a_previewed_change_shows_the_prorations_the_change_then_bills() {
    let stripe = TestStripe::start().await;
    let (clock, _, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    stripe.fake.advance_clock(&clock, JAN_1_2026 + 10 * DAY).await.unwrap();
    let item = sub.body["items"]["data"][0]["id"].as_str().unwrap().to_string();
    let date = (JAN_1_2026 + 12 * DAY).to_string();
    let preview = stripe
        .post(
            "/v1/invoices/create_preview",
            &[
                ("subscription", sub.id().as_str()),
                ("subscription_details[items][0][id]", &item),
                ("subscription_details[items][0][quantity]", "2"),
                ("subscription_details[proration_date]", &date),
            ],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.raw);
    assert_eq!(preview.body["parent"]["subscription_details"]["subscription_proration_date"].to_string(), date);
    let lines = preview.body["lines"]["data"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "two prorations and the next period at the new quantity");
    assert_eq!(lines[2]["amount"], 119_800);
    let previewed_total = preview.body["total"].as_i64().unwrap();
    assert_eq!(stripe.get(&format!("/v1/subscriptions/{}", sub.id())).await.body["items"]["data"][0]["quantity"], 1);

    let updated = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[("items[0][id]", &item), ("items[0][quantity]", "2"), ("proration_date", &date)],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    stripe.fake.advance_clock(&clock, JAN_1_2026 + 32 * DAY).await.unwrap();
    let renewal = stripe.get(&format!("/v1/invoices?subscription={}&limit=1", sub.id())).await.body["data"][0].clone();
    assert_eq!(renewal["total"], previewed_total);
}

#[tokio::test]
async fn an_always_invoice_preview_is_the_invoice_the_change_would_issue_now() {
    let stripe = TestStripe::start().await;
    let (clock, _, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    stripe.fake.advance_clock(&clock, JAN_1_2026 + 10 * DAY).await.unwrap();
    let premium = stripe.monthly_price("Premium", 99_900).await;
    let item = sub.body["items"]["data"][0]["id"].as_str().unwrap().to_string();
    let preview = stripe
        .post(
            "/v1/invoices/create_preview",
            &[
                ("subscription", sub.id().as_str()),
                ("subscription_details[items][0][id]", &item),
                ("subscription_details[items][0][price]", &premium),
                ("subscription_details[proration_behavior]", "always_invoice"),
            ],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.raw);
    assert_eq!(preview.body["billing_reason"], "subscription_update");
    assert_eq!(preview.body["lines"]["data"].as_array().unwrap().len(), 2);
    let updated = stripe
        .post(
            &format!("/v1/subscriptions/{}", sub.id()),
            &[("items[0][id]", &item), ("items[0][price]", &premium), ("proration_behavior", "always_invoice")],
        )
        .await;
    let invoice = stripe.get(&format!("/v1/invoices/{}", updated.body["latest_invoice"].as_str().unwrap())).await;
    assert_eq!(invoice.body["total"], preview.body["total"]);
}

#[tokio::test]
async fn a_customer_alone_previews_its_subscription_and_new_items_preview_a_first_invoice() {
    let stripe = TestStripe::start().await;
    let (_, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    let by_customer = stripe.post("/v1/invoices/create_preview", &[("customer", customer.as_str())]).await;
    assert_eq!(by_customer.status, 200, "{}", by_customer.raw);
    assert_eq!(by_customer.body["parent"]["subscription_details"]["subscription"], sub.id().as_str());

    let newcomer = stripe.customer("new@example.com").await;
    let seats = stripe.monthly_price("Seats", 1_000).await;
    let first = stripe
        .post(
            "/v1/invoices/create_preview",
            &[
                ("customer", newcomer.as_str()),
                ("subscription_details[items][0][price]", seats.as_str()),
                ("subscription_details[items][0][quantity]", "3"),
            ],
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.raw);
    assert_eq!(first.body["billing_reason"], "subscription_create");
    assert_eq!(first.body["amount_due"], 3_000);
    assert!(first.body["parent"]["subscription_details"]["subscription"].is_null());
}

#[tokio::test]
async fn no_upcoming_invoice_is_a_404_invoice_upcoming_none() {
    let stripe = TestStripe::start().await;
    let (_, customer, sub) = stripe.pro_on_clock(JAN_1_2026, "pm_card_visa").await;
    stripe.post(&format!("/v1/subscriptions/{}", sub.id()), &[("cancel_at_period_end", "true")]).await;
    for form in [vec![("subscription", sub.id())], vec![("customer", customer.clone())]] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let none = stripe.post("/v1/invoices/create_preview", &form).await;
        assert_eq!(none.status, 404, "{}", none.raw);
        assert_eq!(none.body["error"]["code"], "invoice_upcoming_none");
        assert_eq!(none.body["error"]["message"], format!("No upcoming invoices for customer: {customer}"));
    }
    let nothing = stripe.post("/v1/invoices/create_preview", &[]).await;
    assert_eq!((nothing.status, nothing.error_param()), (400, "customer"));
}
