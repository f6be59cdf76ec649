//! SetupIntents: saving a card for off-session use, the declines Stripe gives at setup, and the
//! card saved that way charged later without the customer.

use crate::helpers::TestStripe;

#[tokio::test]
async fn a_good_card_is_set_up_attached_and_then_charged_off_session() {
    let stripe = TestStripe::start().await;
    let customer = stripe.customer("s@example.com").await;
    let setup = stripe
        .post(
            "/v1/setup_intents",
            &[
                ("customer", customer.as_str()),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
                ("usage", "off_session"),
            ],
        )
        .await;
    assert_eq!(setup.status, 200, "{}", setup.raw);
    assert!(setup.id().starts_with("seti_"));
    assert_eq!(setup.body["status"], "succeeded");
    assert_eq!(setup.body["usage"], "off_session");
    assert!(setup.body["client_secret"].as_str().unwrap().starts_with(&format!("{}_secret_", setup.id())));
    let pm = setup.body["payment_method"].as_str().unwrap().to_string();
    assert_eq!(stripe.get(&format!("/v1/payment_methods/{pm}")).await.body["customer"], customer.as_str());
    let types = stripe.event_types();
    for wanted in ["setup_intent.created", "payment_method.attached", "setup_intent.succeeded"] {
        assert!(types.contains(&wanted.to_string()), "{wanted} missing from {types:?}");
    }

    let charged = stripe
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2900"),
                ("currency", "usd"),
                ("customer", customer.as_str()),
                ("payment_method", pm.as_str()),
                ("confirm", "true"),
                ("off_session", "true"),
            ],
        )
        .await;
    assert_eq!(charged.status, 200, "{}", charged.raw);
    assert_eq!(charged.body["status"], "succeeded");
}

#[tokio::test]
async fn a_declining_card_fails_setup_with_a_card_error_carrying_the_setup_intent() {
    let stripe = TestStripe::start().await;
    let customer = stripe.customer("s@example.com").await;
    for (token, decline_code) in [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ] {
        let failed = stripe
            .post(
                "/v1/setup_intents",
                &[("customer", customer.as_str()), ("payment_method", token), ("confirm", "true")],
            )
            .await;
        assert_eq!(failed.status, 402, "{}", failed.raw);
        let error = &failed.body["error"];
        assert_eq!(error["type"], "card_error");
        assert_eq!(error["code"], "card_declined");
        assert_eq!(error["decline_code"], decline_code);
        assert_eq!(error["setup_intent"]["status"], "requires_payment_method");
        assert_eq!(error["setup_intent"]["last_setup_error"]["decline_code"], decline_code);
        assert!(error["setup_intent"]["payment_method"].is_null());
        let pm = error["payment_method"]["id"].as_str().unwrap();
        assert!(stripe.get(&format!("/v1/payment_methods/{pm}")).await.body["customer"].is_null(), "not attached");
        let stored = stripe.get(&format!("/v1/setup_intents/{}", error["setup_intent"]["id"].as_str().unwrap())).await;
        assert_eq!(stored.body["status"], "requires_payment_method");
    }
    assert_eq!(stripe.event_types().iter().filter(|t| *t == "setup_intent.setup_failed").count(), 2);
}

#[tokio::test]
async fn the_customer_fail_card_sets_up_but_its_later_charges_decline() {
    let stripe = TestStripe::start().await;
    let customer = stripe.customer("s@example.com").await;
    let setup = stripe
        .post(
            "/v1/setup_intents",
            &[("customer", customer.as_str()), ("payment_method", "pm_card_chargeCustomerFail"), ("confirm", "true")],
        )
        .await;
    assert_eq!(setup.body["status"], "succeeded", "{}", setup.raw);
    let pm = setup.body["payment_method"].as_str().unwrap();
    let charge = stripe
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("customer", &customer),
                ("payment_method", pm),
                ("confirm", "true"),
                ("off_session", "true"),
            ],
        )
        .await;
    assert_eq!((charge.status, charge.body["error"]["code"].as_str()), (402, Some("card_declined")));
}

#[tokio::test]
async fn a_setup_intent_is_confirmed_later_canceled_and_listed_by_customer() {
    let stripe = TestStripe::start().await;
    let customer = stripe.customer("s@example.com").await;
    let open =
        stripe.post("/v1/setup_intents", &[("customer", customer.as_str()), ("metadata[flow]", "settings")]).await;
    assert_eq!(open.body["status"], "requires_payment_method", "{}", open.raw);
    let no_method = stripe.post(&format!("/v1/setup_intents/{}/confirm", open.id()), &[]).await;
    assert_eq!((no_method.status, no_method.error_param()), (400, "payment_method"));

    let confirmed = stripe
        .post(&format!("/v1/setup_intents/{}/confirm", open.id()), &[("payment_method", "pm_card_mastercard")])
        .await;
    assert_eq!(confirmed.body["status"], "succeeded", "{}", confirmed.raw);
    let twice = stripe.post(&format!("/v1/setup_intents/{}/confirm", open.id()), &[]).await;
    assert_eq!(twice.status, 400);
    let cancel_done = stripe.post(&format!("/v1/setup_intents/{}/cancel", open.id()), &[]).await;
    assert_eq!(cancel_done.status, 400, "a succeeded SetupIntent cannot be canceled");

    let other = stripe.post("/v1/setup_intents", &[("customer", customer.as_str())]).await;
    let canceled =
        stripe.post(&format!("/v1/setup_intents/{}/cancel", other.id()), &[("cancellation_reason", "abandoned")]).await;
    assert_eq!(
        (canceled.body["status"].as_str(), canceled.body["cancellation_reason"].as_str()),
        (Some("canceled"), Some("abandoned"))
    );

    let listed = stripe.get(&format!("/v1/setup_intents?customer={customer}")).await;
    let ids: Vec<&str> = listed.body["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [other.id().as_str(), open.id().as_str()]);
}

#[tokio::test]
async fn a_card_that_needs_authentication_waits_for_action() {
    let stripe = TestStripe::start().await;
    let setup = stripe
        .post("/v1/setup_intents", &[("payment_method", "pm_card_authenticationRequired"), ("confirm", "true")])
        .await;
    assert_eq!(setup.status, 200, "{}", setup.raw);
    assert_eq!(setup.body["status"], "requires_action");
    assert_eq!(setup.body["next_action"]["type"], "use_stripe_sdk");
}

#[tokio::test]
async fn bad_setup_intent_input_names_the_param() {
    let stripe = TestStripe::start().await;
    let usage = stripe.post("/v1/setup_intents", &[("usage", "sometimes")]).await;
    assert_eq!((usage.status, usage.error_param()), (400, "usage"));
    let customer = stripe.post("/v1/setup_intents", &[("customer", "cus_nope")]).await;
    assert_eq!((customer.status, customer.error_param()), (404, "customer"));
    let method = stripe.post("/v1/setup_intents", &[("payment_method", "pm_nope")]).await;
    assert_eq!((method.status, method.error_param()), (404, "payment_method"));
}
