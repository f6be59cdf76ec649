//! Payment methods: test tokens, attach, detach, defaults and listing.

use crate::helpers::TestStripe;

#[tokio::test]
async fn attaching_a_test_token_creates_a_card_payment_method_for_the_customer() {
    let stripe = TestStripe::start().await;
    let customer = stripe.customer("a@example.com").await;
    let attached = stripe.post("/v1/payment_methods/pm_card_mastercard/attach", &[("customer", &customer)]).await;
    assert_eq!(attached.status, 200, "{}", attached.raw);
    let pm = attached.id();
    assert!(pm.starts_with("pm_"));
    assert_eq!(attached.body["object"], "payment_method");
    assert_eq!(attached.body["type"], "card");
    assert_eq!(attached.body["card"]["brand"], "mastercard");
    assert_eq!(attached.body["card"]["last4"], "4444");
    assert!(attached.body["card"]["exp_year"].as_i64().unwrap() > 2026);
    assert_eq!(attached.body["customer"], customer.as_str());
    assert!(stripe.event_types().contains(&"payment_method.attached".to_string()));

    let fetched = stripe.get(&format!("/v1/payment_methods/{pm}")).await;
    assert_eq!(fetched.body, attached.body);
}

#[tokio::test]
async fn a_declining_card_attaches_fine() {
    let stripe = TestStripe::start().await;
    let customer = stripe.customer("a@example.com").await;
    let attached = stripe.post("/v1/payment_methods/pm_card_chargeDeclined/attach", &[("customer", &customer)]).await;
    assert_eq!(attached.status, 200, "{}", attached.raw);
}

#[tokio::test]
async fn a_customers_payment_methods_are_listed_both_ways() {
    let stripe = TestStripe::start().await;
    let (customer, pm) = stripe.customer_with_card("a@example.com", "pm_card_visa").await;
    let other = stripe.customer("b@example.com").await;
    stripe.post("/v1/payment_methods/pm_card_visa/attach", &[("customer", &other)]).await;

    let nested = stripe.get(&format!("/v1/customers/{customer}/payment_methods")).await;
    assert_eq!(nested.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(nested.body["data"][0]["id"], pm.as_str());
    let flat = stripe.get(&format!("/v1/payment_methods?customer={customer}&type=card")).await;
    assert_eq!(flat.body["data"], nested.body["data"]);
}

#[tokio::test]
async fn detaching_clears_the_customer_and_the_default() {
    let stripe = TestStripe::start().await;
    let (customer, pm) = stripe.customer_with_card("a@example.com", "pm_card_visa").await;
    let detached = stripe.post(&format!("/v1/payment_methods/{pm}/detach"), &[]).await;
    assert_eq!(detached.status, 200, "{}", detached.raw);
    assert!(detached.body["customer"].is_null());
    assert!(stripe.fake.object(&customer).unwrap()["invoice_settings"]["default_payment_method"].is_null());
    assert!(stripe.event_types().contains(&"payment_method.detached".to_string()));
    assert_eq!(stripe.post(&format!("/v1/payment_methods/{pm}/detach"), &[]).await.status, 400);
}

#[tokio::test]
async fn a_default_payment_method_must_belong_to_the_customer() {
    let stripe = TestStripe::start().await;
    let (_, pm) = stripe.customer_with_card("a@example.com", "pm_card_visa").await;
    let other = stripe.customer("b@example.com").await;
    let answer =
        stripe.post(&format!("/v1/customers/{other}"), &[("invoice_settings[default_payment_method]", &pm)]).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_param(), "invoice_settings[default_payment_method]");
}

#[tokio::test]
async fn attaching_to_an_unknown_customer_is_a_404_naming_customer() {
    let stripe = TestStripe::start().await;
    let answer = stripe.post("/v1/payment_methods/pm_card_visa/attach", &[("customer", "cus_missing")]).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.error_param(), "customer");
}
