//! Payment intents: successful off-session charges and every kind of test-card decline.

use crate::helpers::TestStripe;

#[tokio::test]
async fn an_off_session_charge_on_the_default_card_succeeds_with_a_charge() {
    let stripe = TestStripe::start().await;
    let (customer, pm) = stripe.customer_with_card("a@example.com", "pm_card_visa").await;
    let intent = stripe
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2900"),
                ("currency", "usd"),
                ("customer", &customer),
                ("confirm", "true"),
                ("off_session", "true"),
                ("metadata[fix]", "f1"),
            ],
        )
        .await;
    assert_eq!(intent.status, 200, "{}", intent.raw);
    assert!(intent.id().starts_with("pi_"));
    assert_eq!(intent.body["status"], "succeeded");
    assert_eq!(intent.body["amount_received"], 2900);
    assert_eq!(intent.body["payment_method"], pm.as_str());
    assert_eq!(intent.body["metadata"]["fix"], "f1");
    assert!(intent.body["latest_charge"].as_str().unwrap().starts_with("ch_"));
    assert!(stripe.event_types().contains(&"payment_intent.succeeded".to_string()));
    let fetched = stripe.get(&format!("/v1/payment_intents/{}", intent.id())).await;
    assert_eq!(fetched.body, intent.body);
    let listed = stripe.get(&format!("/v1/payment_intents?customer={customer}")).await;
    assert_eq!(listed.body["data"][0]["id"], intent.id().as_str());
}

#[tokio::test]
async fn a_declined_card_is_a_402_card_error_with_decline_code_and_the_intent() {
    let stripe = TestStripe::start().await;
    let (customer, pm) = stripe.customer_with_card("a@example.com", "pm_card_chargeDeclined").await;
    let answer = stripe
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2900"),
                ("currency", "usd"),
                ("customer", &customer),
                ("payment_method", &pm),
                ("confirm", "true"),
                ("off_session", "true"),
            ],
        )
        .await;
    assert_eq!(answer.status, 402, "{}", answer.raw);
    let error = &answer.body["error"];
    assert_eq!(error["type"], "card_error");
    assert_eq!(error["code"], "card_declined");
    assert_eq!(error["decline_code"], "generic_decline");
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    // Stripe's error object names the failed charge (never null on a card decline).
    let charge = error["charge"].as_str().expect("error.charge is the charge id");
    assert_eq!(error["payment_intent"]["latest_charge"], charge);
    let failed = stripe.get(&format!("/v1/charges/{charge}")).await;
    assert_eq!(
        (failed.body["status"].as_str(), failed.body["failure_code"].as_str()),
        (Some("failed"), Some("card_declined"))
    );
    assert_eq!(error["payment_method"]["id"], pm.as_str());
    let id = error["payment_intent"]["id"].as_str().unwrap();
    assert_eq!(stripe.fake.object(id).unwrap()["last_payment_error"]["decline_code"], "generic_decline");
    assert!(stripe.event_types().contains(&"payment_intent.payment_failed".to_string()));
    assert!(stripe.event_types().contains(&"charge.failed".to_string()));
}

#[tokio::test]
async fn insufficient_funds_and_authentication_required_decline_with_their_codes() {
    let stripe = TestStripe::start().await;
    for (token, code, decline) in [
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_authenticationRequired", "authentication_required", "authentication_required"),
    ] {
        let (customer, _) = stripe.customer_with_card("a@example.com", token).await;
        let answer = stripe
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "5000"),
                    ("currency", "usd"),
                    ("customer", &customer),
                    ("confirm", "true"),
                    ("off_session", "true"),
                ],
            )
            .await;
        assert_eq!(answer.status, 402, "{}", answer.raw);
        assert_eq!(answer.body["error"]["code"], code);
        assert_eq!(answer.body["error"]["decline_code"], decline);
    }
}

#[tokio::test]
async fn an_unconfirmed_intent_waits_for_confirmation() {
    let stripe = TestStripe::start().await;
    let intent = stripe.post("/v1/payment_intents", &[("amount", "1000"), ("currency", "usd")]).await;
    assert_eq!(intent.status, 200, "{}", intent.raw);
    assert_eq!(intent.body["status"], "requires_payment_method");
    assert!(intent.body["client_secret"].as_str().unwrap().starts_with(&format!("{}_secret_", intent.id())));
}

#[tokio::test]
async fn bad_payment_intent_input_names_the_param() {
    let stripe = TestStripe::start().await;
    let no_amount = stripe.post("/v1/payment_intents", &[("currency", "usd")]).await;
    assert_eq!((no_amount.status, no_amount.error_param()), (400, "amount"));
    let bad_amount = stripe.post("/v1/payment_intents", &[("amount", "12.5"), ("currency", "usd")]).await;
    assert_eq!((bad_amount.status, bad_amount.error_param()), (400, "amount"));
    let no_method =
        stripe.post("/v1/payment_intents", &[("amount", "1000"), ("currency", "usd"), ("confirm", "true")]).await;
    assert_eq!((no_method.status, no_method.error_param()), (400, "payment_method"));
    let bad_bool =
        stripe.post("/v1/payment_intents", &[("amount", "1000"), ("currency", "usd"), ("confirm", "yes")]).await;
    assert_eq!((bad_bool.status, bad_bool.error_param()), (400, "confirm"));
}

#[tokio::test]
async fn off_session_takes_one_off_and_recurring_as_stripe_does_and_refuses_anything_else() {
    let stripe = TestStripe::start().await;
    let (customer, pm) = stripe.customer_with_card("a@example.com", "pm_card_authenticationRequired").await;
    let charge = |off_session: &'static str| {
        let (customer, pm) = (customer.clone(), pm.clone());
        let stripe = &stripe;
        async move {
            let form = [
                ("amount", "2900"),
                ("currency", "usd"),
                ("customer", customer.as_str()),
                ("payment_method", pm.as_str()),
                ("confirm", "true"),
                ("off_session", off_session),
            ];
            stripe.post("/v1/payment_intents", &form).await
        }
    };
    // A card that needs authentication fails off-session (nobody is there to authenticate) and
    // waits for the customer on-session: one_off and recurring are off-session.
    for off_session in ["true", "one_off", "recurring"] {
        let answer = charge(off_session).await;
        assert_eq!(answer.status, 402, "{off_session}: {}", answer.raw);
        assert_eq!(answer.body["error"]["code"], "authentication_required", "{off_session}");
    }
    let on_session = charge("false").await;
    assert_eq!((on_session.status, on_session.body["status"].as_str()), (200, Some("requires_action")));
    let refused = charge("sometimes").await;
    assert_eq!((refused.status, refused.error_param()), (400, "off_session"), "{}", refused.raw);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("one_off or recurring"));
}
