//! Refunds: full and partial, by PaymentIntent or by charge; the charge's refunded amounts; the
//! events; and Stripe's refusals (too much, twice, nothing to refund).

use crate::helpers::TestStripe;

async fn paid_intent(stripe: &TestStripe, cents: i64) -> (String, String) {
    let (customer, _) = stripe.customer_with_card("r@example.com", "pm_card_visa").await;
    let intent = stripe.charge(&customer, cents).await;
    assert_eq!(intent.status, 200, "{}", intent.raw);
    (intent.id(), intent.body["latest_charge"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_full_refund_by_payment_intent_refunds_the_whole_charge_and_emits_both_events() {
    let stripe = TestStripe::start().await;
    let (intent, charge) = paid_intent(&stripe, 2900).await;
    let refund = stripe.post("/v1/refunds", &[("payment_intent", intent.as_str()), ("reason", "duplicate")]).await;
    assert_eq!(refund.status, 200, "{}", refund.raw);
    assert!(refund.id().starts_with("re_"));
    assert_eq!(refund.body["object"], "refund");
    assert_eq!(refund.body["amount"], 2900);
    assert_eq!(refund.body["status"], "succeeded");
    assert_eq!(refund.body["charge"], charge.as_str());
    assert_eq!(refund.body["payment_intent"], intent.as_str());
    assert_eq!(refund.body["reason"], "duplicate");

    let charged = stripe.get(&format!("/v1/charges/{charge}")).await;
    assert_eq!(charged.body["amount_refunded"], 2900);
    assert_eq!(charged.body["refunded"], true);
    let events = stripe.fake.events();
    let refunded = events.iter().find(|e| e["type"] == "charge.refunded").expect("charge.refunded");
    assert_eq!(refunded["data"]["object"]["amount_refunded"], 2900);
    assert_eq!(refunded["data"]["previous_attributes"]["amount_refunded"], 0);
    let created = events.iter().find(|e| e["type"] == "refund.created").expect("refund.created");
    assert_eq!(created["data"]["object"]["id"], refund.id().as_str());
}

#[tokio::test]
async fn partial_refunds_add_up_and_the_charge_is_refunded_only_when_nothing_is_left() {
    let stripe = TestStripe::start().await;
    let (intent, charge) = paid_intent(&stripe, 5000).await;
    let first = stripe.post("/v1/refunds", &[("charge", charge.as_str()), ("amount", "1500")]).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    let after_first = stripe.get(&format!("/v1/charges/{charge}")).await;
    assert_eq!(
        (after_first.body["amount_refunded"].as_i64(), after_first.body["refunded"].as_bool()),
        (Some(1500), Some(false))
    );

    let too_much = stripe.post("/v1/refunds", &[("payment_intent", intent.as_str()), ("amount", "3501")]).await;
    assert_eq!(too_much.status, 400, "{}", too_much.raw);
    assert_eq!(too_much.error_param(), "amount");
    assert_eq!(too_much.body["error"]["code"], "amount_too_large");
    assert_eq!(
        too_much.body["error"]["message"],
        "Refund amount ($35.01) is greater than unrefunded amount on charge ($35.00)."
    );

    let rest = stripe.post("/v1/refunds", &[("payment_intent", intent.as_str())]).await;
    assert_eq!(rest.body["amount"], 3500, "{}", rest.raw);
    let refunded = stripe.get(&format!("/v1/charges/{charge}")).await;
    assert_eq!(
        (refunded.body["amount_refunded"].as_i64(), refunded.body["refunded"].as_bool()),
        (Some(5000), Some(true))
    );

    let again = stripe.post("/v1/refunds", &[("charge", charge.as_str()), ("amount", "1")]).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["error"]["code"], "charge_already_refunded");
    assert_eq!(again.body["error"]["message"], format!("Charge {charge} has already been refunded."));

    let listed = stripe.get(&format!("/v1/refunds?payment_intent={intent}")).await;
    let amounts: Vec<i64> =
        listed.body["data"].as_array().unwrap().iter().map(|r| r["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, [3500, 1500], "newest first");
    assert_eq!(stripe.get(&format!("/v1/refunds?charge={charge}")).await.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(stripe.get(&format!("/v1/refunds/{}", first.id())).await.body["amount"], 1500);
}

#[tokio::test]
async fn refund_metadata_can_be_updated() {
    let stripe = TestStripe::start().await;
    let (intent, _) = paid_intent(&stripe, 1000).await;
    let refund = stripe.post("/v1/refunds", &[("payment_intent", intent.as_str()), ("metadata[ticket]", "T-1")]).await;
    assert_eq!(refund.body["metadata"]["ticket"], "T-1");
    let updated = stripe.post(&format!("/v1/refunds/{}", refund.id()), &[("metadata[ticket]", "T-2")]).await;
    assert_eq!(updated.body["metadata"]["ticket"], "T-2", "{}", updated.raw);
    assert_eq!(stripe.event_types().last().map(String::as_str), Some("refund.updated"));
}

#[tokio::test]
async fn what_cannot_be_refunded_is_refused_naming_the_param() {
    let stripe = TestStripe::start().await;
    let neither = stripe.post("/v1/refunds", &[("amount", "100")]).await;
    assert_eq!((neither.status, neither.error_param()), (400, "charge"), "{}", neither.raw);
    let unknown = stripe.post("/v1/refunds", &[("payment_intent", "pi_nope")]).await;
    assert_eq!((unknown.status, unknown.error_param()), (404, "payment_intent"));

    let unconfirmed = stripe.post("/v1/payment_intents", &[("amount", "1000"), ("currency", "usd")]).await.id();
    let not_paid = stripe.post("/v1/refunds", &[("payment_intent", unconfirmed.as_str())]).await;
    assert_eq!((not_paid.status, not_paid.error_param()), (400, "payment_intent"), "{}", not_paid.raw);

    let (customer, _) = stripe.customer_with_card("d@example.com", "pm_card_chargeDeclined").await;
    let declined = stripe.charge(&customer, 1000).await;
    let failed_charge = declined.body["error"]["charge"].as_str().unwrap().to_string();
    let failed = stripe.post("/v1/refunds", &[("charge", failed_charge.as_str())]).await;
    assert_eq!((failed.status, failed.error_param()), (400, "charge"), "{}", failed.raw);

    let (intent, _) = paid_intent(&stripe, 1000).await;
    for amount in ["0", "-5"] {
        let bad = stripe.post("/v1/refunds", &[("payment_intent", intent.as_str()), ("amount", amount)]).await;
        assert_eq!((bad.status, bad.error_param()), (400, "amount"));
    }
    let bad_reason = stripe.post("/v1/refunds", &[("payment_intent", intent.as_str()), ("reason", "bored")]).await;
    assert_eq!((bad_reason.status, bad_reason.error_param()), (400, "reason"));
    assert_eq!(stripe.get("/v1/refunds").await.body["data"].as_array().unwrap().len(), 0, "nothing was refunded");
}
