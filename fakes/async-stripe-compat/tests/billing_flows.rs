//! async-stripe, the Rust Stripe client a Rust billing service uses, driving the Stripe fake over
//! real HTTP through the flows such a service makes: customers; a payment method attached and set
//! as the default; PaymentIntents charged off-session, one with a declining card; a subscription on
//! a test clock advanced to its renewal; invoices listed; refunds; and every webhook the fake
//! delivered checked with async-stripe's own verifier (`stripe_webhook::Webhook::construct_event`),
//! which also parses each event's object into async-stripe's types.
//!
//! Every response is parsed by async-stripe into its typed structs, so a field the fake leaves out
//! that the client requires, or a value it does not expect, fails here. async-stripe 1.0.0-rc.10
//! pins `2026-09-30.endive`, a version the fake does not know by name: it is answered in the
//! shapes of the nearest older one it knows.

use std::time::Duration;

use billing_fakes::StripeFake;
use billing_fakes_async_stripe::{Delivery, WebhookReceiver};
use futures_util::TryStreamExt;
use stripe::{Client, ClientBuilder, StripeError};
use stripe_billing::invoice::ListInvoice;
use stripe_billing::subscription::{CreateSubscription, CreateSubscriptionItems, RetrieveSubscription};
use stripe_billing::test_helpers_test_clock::{
    AdvanceTestHelpersTestClock, CreateTestHelpersTestClock, RetrieveTestHelpersTestClock,
};
use stripe_core::charge::RetrieveCharge;
use stripe_core::customer::{
    CreateCustomer, CreateCustomerInvoiceSettings, RetrieveCustomer, UpdateCustomer, UpdateCustomerInvoiceSettings,
};
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
use stripe_core::refund::CreateRefund;
use stripe_misc::webhook_endpoint::{CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents};
use stripe_payment::payment_method::AttachPaymentMethod;
use stripe_product::price::{CreatePrice, CreatePriceProductData, CreatePriceRecurring, CreatePriceRecurringInterval};
use stripe_shared::{
    ApiErrorsCode, ApiErrorsType, InvoiceBillingReason, InvoiceStatus, PaymentIntentStatus, SubscriptionStatus,
    TestHelpersTestClockStatus,
};
use stripe_types::{Currency, Expandable};
use stripe_webhook::{Event, EventObject, Webhook, WebhookError};

const KEY: &str = "sk_test_async_stripe";
/// 2026-01-01T00:00:00Z, where the test clock starts.
const JAN_1_2026: i64 = 1_767_225_600;
const DAY: i64 = 86_400;
const PRO_CENTS: i64 = 59_900;

/// A fake and an async-stripe client pointed at it.
async fn fake_and_client() -> (StripeFake, Client) {
    let fake = StripeFake::start().await.expect("the fake starts");
    let client = ClientBuilder::new(KEY).url(fake.base_url()).build().expect("async-stripe takes the fake's URL");
    (fake, client)
}

/// A card declined by the bank, as async-stripe reports it: the API error and its status.
fn card_error(result: Result<impl std::fmt::Debug, StripeError>) -> (Box<stripe_shared::ApiErrors>, u16) {
    match result {
        Err(StripeError::Stripe(error, status)) => (error, status),
        other => panic!("expected Stripe's card error, got {other:?}"),
    }
}

/// A receiver and an endpoint for all events pointing at it; returns the receiver and the
/// endpoint's signing secret.
async fn webhook_endpoint(client: &Client) -> (WebhookReceiver, String) {
    let receiver = WebhookReceiver::start().await.expect("the receiver listens");
    let endpoint = CreateWebhookEndpoint::new(vec![CreateWebhookEndpointEnabledEvents::All], receiver.url.as_str())
        .send(client)
        .await
        .expect("webhook endpoint created");
    (receiver, endpoint.secret.expect("the signing secret, in the create response only"))
}

/// The events delivered to one endpoint that verify with `secret` and parse into async-stripe's types.
fn verified_with(secret: &str, deliveries: &[Delivery]) -> Vec<Event> {
    deliveries.iter().filter_map(|d| Webhook::construct_event(&d.payload, &d.signature, secret).ok()).collect()
}

fn types(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.type_.to_string()).collect()
}

/// Waits until the fake has made every delivery (10 s at most), then checks that every delivery
/// to `receiver` verifies with async-stripe's verifier and `secret` and parses into its types, and
/// that events of each `wanted` type are among them; returns the events.
async fn every_delivery_verified(
    fake: &StripeFake,
    receiver: &WebhookReceiver,
    secret: &str,
    wanted: &[&str],
) -> Vec<Event> {
    fake.wait_for_deliveries_idle(Duration::from_secs(10)).await.expect("the fake made every delivery");
    let deliveries = receiver.deliveries();
    let events = verified_with(secret, &deliveries);
    for wanted in wanted {
        assert!(
            types(&events).iter().any(|t| t == wanted),
            "{wanted} delivered and verified; got {:?}",
            types(&events)
        );
    }
    for delivery in &deliveries {
        if let Err(error) = Webhook::construct_event(&delivery.payload, &delivery.signature, secret) {
            panic!("a delivery async-stripe refuses ({error:?}): {}", delivery.payload);
        }
    }
    events
}

fn id_of<T: stripe_types::Object>(expandable: &Expandable<T>) -> String
where
    T::Id: ToString,
{
    match expandable {
        Expandable::Id(id) => id.to_string(),
        Expandable::Object(object) => object.id().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_gets_a_default_card_and_is_charged_off_session_and_refunded() {
    let (fake, client) = fake_and_client().await;
    let (receiver, secret) = webhook_endpoint(&client).await;
    let customer = CreateCustomer::new()
        .email("ada@example.com")
        .name("Ada")
        .metadata([("app_customer".to_string(), "42".to_string())])
        .send(&client)
        .await
        .expect("customer created");
    assert!(customer.id.as_str().starts_with("cus_"));
    assert_eq!(customer.metadata.as_ref().and_then(|m| m.get("app_customer")).map(String::as_str), Some("42"));

    let card = AttachPaymentMethod::new("pm_card_visa").customer(customer.id.as_str()).send(&client).await.unwrap();
    assert_eq!(card.card.as_ref().map(|c| c.last4.as_str()), Some("4242"));
    assert_eq!(card.customer.as_ref().map(id_of), Some(customer.id.to_string()));

    let mut settings = UpdateCustomerInvoiceSettings::new();
    settings.default_payment_method = Some(card.id.to_string());
    let updated = UpdateCustomer::new(customer.id.clone()).invoice_settings(settings).send(&client).await.unwrap();
    let default = updated.invoice_settings.as_ref().and_then(|s| s.default_payment_method.as_ref()).map(id_of);
    assert_eq!(default, Some(card.id.to_string()), "set as the default");
    let read_back = RetrieveCustomer::new(customer.id.clone()).send(&client).await.unwrap();
    assert!(
        matches!(read_back, stripe_core::customer::RetrieveCustomerReturned::Customer(ref c) if c.id == customer.id),
        "{read_back:?}"
    );

    // No payment_method: the customer's default card is charged, off-session, as a renewal would.
    let intent = CreatePaymentIntent::new(2_900, Currency::USD)
        .customer(customer.id.as_str())
        .confirm(true)
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .send(&client)
        .await
        .expect("charged");
    assert_eq!((intent.status, intent.amount_received), (PaymentIntentStatus::Succeeded, 2_900));
    let charge = intent.latest_charge.as_ref().map(id_of).expect("the intent names its charge");

    let partial = CreateRefund::new().payment_intent(intent.id.as_str()).amount(1_000).send(&client).await.unwrap();
    assert_eq!((partial.status.as_deref(), partial.amount), (Some("succeeded"), 1_000));
    let too_much = card_error(CreateRefund::new().charge(charge.as_str()).amount(5_000).send(&client).await);
    assert_eq!((too_much.1, too_much.0.type_.clone()), (400, ApiErrorsType::InvalidRequestError));
    assert_eq!(too_much.0.code, Some(ApiErrorsCode::AmountTooLarge));
    CreateRefund::new().charge(charge.as_str()).send(&client).await.expect("the rest refunded");
    let refunded = RetrieveCharge::new(charge.as_str()).send(&client).await.unwrap();
    assert_eq!((refunded.amount_refunded, refunded.refunded), (2_900, true));

    let wanted = ["customer.updated", "payment_intent.succeeded", "charge.refunded", "refund.created"];
    every_delivery_verified(&fake, &receiver, &secret, &wanted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declining_card_fails_off_session_with_the_charge_and_the_payment_intent() {
    let (fake, client) = fake_and_client().await;
    let (receiver, secret) = webhook_endpoint(&client).await;
    let customer = CreateCustomer::new().email("broke@example.com").send(&client).await.unwrap();
    let card =
        AttachPaymentMethod::new("pm_card_chargeDeclined").customer(customer.id.as_str()).send(&client).await.unwrap();
    // A declining card attaches fine and fails when charged, as in Stripe's test mode.
    let declined = CreatePaymentIntent::new(2_900, Currency::USD)
        .customer(customer.id.as_str())
        .payment_method(card.id.as_str())
        .confirm(true)
        .off_session(CreatePaymentIntentOffSession::OneOff)
        .send(&client)
        .await;
    let (error, status) = card_error(declined);
    assert_eq!((status, error.type_.clone()), (402, ApiErrorsType::CardError));
    assert_eq!(error.code, Some(ApiErrorsCode::CardDeclined));
    assert_eq!(error.decline_code.as_deref(), Some("generic_decline"));
    let charge = error.charge.clone().expect("the failed charge's id");
    let intent = error.payment_intent.as_ref().expect("the PaymentIntent, whole");
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(intent.latest_charge.as_ref().map(id_of), Some(charge.clone()));
    assert_eq!(error.payment_method.as_ref().map(|m| m.id.clone()), Some(card.id));
    let failed = RetrieveCharge::new(charge.as_str()).send(&client).await.unwrap();
    assert_eq!(failed.status, stripe_shared::ChargeStatus::Failed);

    let events =
        every_delivery_verified(&fake, &receiver, &secret, &["payment_intent.payment_failed", "charge.failed"]).await;
    let failure = events.iter().find_map(|e| match &e.data.object {
        EventObject::PaymentIntentPaymentFailed(intent) => Some(intent),
        _ => None,
    });
    let last_error = failure.and_then(|intent| intent.last_payment_error.as_ref()).expect("the intent's last error");
    assert_eq!(last_error.decline_code.as_deref(), Some("generic_decline"));
}

/// Advances a test clock to `target` and waits (10 s at most) until it is ready again. While it
/// advances the clock still shows where it was, and says where it is going.
async fn advance_until_ready(client: &Client, clock: &stripe_shared::TestHelpersTestClockId, target: i64) {
    let advancing = AdvanceTestHelpersTestClock::new(clock.clone(), target).send(client).await.unwrap();
    assert_eq!(advancing.status, TestHelpersTestClockStatus::Advancing);
    assert_eq!(advancing.status_details.advancing.as_ref().map(|a| a.target_frozen_time), Some(target));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = RetrieveTestHelpersTestClock::new(clock.clone()).send(client).await.unwrap();
        if now.status == TestHelpersTestClockStatus::Ready {
            assert_eq!(now.frozen_time, target, "the clock stands at its target once ready");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the test clock is still {:?} after 10 s", now.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_on_a_test_clock_renews_and_its_invoices_are_listed() {
    let (fake, client) = fake_and_client().await;
    let (receiver, secret) = webhook_endpoint(&client).await;
    let clock = CreateTestHelpersTestClock::new(JAN_1_2026).name("renewal").send(&client).await.unwrap();
    assert_eq!(clock.status, TestHelpersTestClockStatus::Ready);
    let mut settings = CreateCustomerInvoiceSettings::new();
    settings.default_payment_method = Some("pm_card_visa".to_string());
    let customer = CreateCustomer::new()
        .email("pro@example.com")
        .test_clock(clock.id.as_str())
        .payment_method("pm_card_visa")
        .invoice_settings(settings)
        .send(&client)
        .await
        .unwrap();
    let price = CreatePrice::new(Currency::USD)
        .unit_amount(PRO_CENTS)
        .recurring(CreatePriceRecurring::new(CreatePriceRecurringInterval::Month))
        .product_data(CreatePriceProductData::new("Pro"))
        .lookup_key("pro_monthly")
        .send(&client)
        .await
        .unwrap();
    let mut item = CreateSubscriptionItems::new();
    item.price = Some(price.id.to_string());
    let subscription = CreateSubscription::new()
        .customer(customer.id.as_str())
        .items(vec![item])
        .expand(vec!["latest_invoice".to_string()])
        .send(&client)
        .await
        .unwrap();
    assert_eq!(subscription.status, SubscriptionStatus::Active);
    let first_invoice = match subscription.latest_invoice.as_ref() {
        Some(Expandable::Object(invoice)) => invoice,
        other => panic!("latest_invoice expanded: {other:?}"),
    };
    assert_eq!((first_invoice.status.as_ref(), first_invoice.amount_paid), (Some(&InvoiceStatus::Paid), PRO_CENTS));
    let first_period_end = subscription.items.data[0].current_period_end;
    assert_eq!(subscription.items.data[0].current_period_start, JAN_1_2026);

    advance_until_ready(&client, &clock.id, JAN_1_2026 + 32 * DAY).await;

    let renewed = RetrieveSubscription::new(subscription.id.clone()).send(&client).await.unwrap();
    assert_eq!(renewed.status, SubscriptionStatus::Active);
    assert_eq!(renewed.items.data[0].current_period_start, first_period_end, "the next period began");
    let invoices = ListInvoice::new().subscription(subscription.id.as_str()).send(&client).await.unwrap();
    assert_eq!(invoices.data.len(), 2, "the first invoice and the renewal");
    let renewal = &invoices.data[0];
    assert_eq!(renewal.billing_reason, Some(InvoiceBillingReason::SubscriptionCycle));
    assert_eq!((renewal.status.as_ref(), renewal.amount_paid), (Some(&InvoiceStatus::Paid), PRO_CENTS));
    let by_customer = ListInvoice::new().customer(customer.id.as_str()).limit(1).send(&client).await.unwrap();
    assert_eq!((by_customer.data.len(), by_customer.has_more), (1, true), "paged by the limit");
    assert_eq!(by_customer.data[0].id, renewal.id, "newest first");
    // async-stripe's own paging (starting_after the last id of each page) walks both invoices.
    let all: Vec<_> = ListInvoice::new()
        .customer(customer.id.as_str())
        .limit(1)
        .paginate()
        .stream(&client)
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|invoice| invoice.id.clone()).collect();
    assert_eq!(ids, [renewal.id.clone(), first_invoice.id.clone()], "every invoice once, newest first");

    let wanted = [
        "customer.subscription.created",
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.ready",
    ];
    let events = every_delivery_verified(&fake, &receiver, &secret, &wanted).await;
    let paid: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.data.object {
            EventObject::InvoicePaid(invoice) => invoice.id.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(paid.len(), 2, "the first invoice and the renewal are paid: {paid:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_verify_with_async_stripes_own_verifier_also_for_an_endpoint_pinned_to_its_version() {
    let (fake, client) = fake_and_client().await;
    let (receiver, secret) = webhook_endpoint(&client).await;
    // An endpoint pinned to the version async-stripe is built for: unknown to the fake by name.
    let pinned_receiver = WebhookReceiver::start().await.unwrap();
    let pinned =
        CreateWebhookEndpoint::new(vec![CreateWebhookEndpointEnabledEvents::All], pinned_receiver.url.as_str())
            .api_version(stripe_shared::version::VERSION)
            .send(&client)
            .await
            .unwrap();
    assert_eq!(pinned.api_version.as_deref(), Some(stripe_shared::version::VERSION.as_str()));
    let pinned_secret = pinned.secret.clone().expect("the pinned endpoint's secret");

    let customer = CreateCustomer::new().email("hooks@example.com").send(&client).await.unwrap();
    AttachPaymentMethod::new("pm_card_visa").customer(customer.id.as_str()).send(&client).await.unwrap();
    let intent = CreatePaymentIntent::new(1_500, Currency::USD)
        .customer(customer.id.as_str())
        .payment_method("pm_card_visa")
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    CreateRefund::new().payment_intent(intent.id.as_str()).send(&client).await.unwrap();

    let wanted =
        ["customer.created", "payment_method.attached", "charge.succeeded", "charge.refunded", "refund.created"];
    let mine = every_delivery_verified(&fake, &receiver, &secret, &wanted).await;
    let theirs = every_delivery_verified(&fake, &pinned_receiver, &pinned_secret, &wanted).await;
    let ids = |events: &[Event]| events.iter().map(|e| e.id.to_string()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(ids(&mine), ids(&theirs), "the same events to both endpoints (deliveries come in any order)");
    assert!(theirs.iter().all(|e| e.api_version == Some(stripe_shared::version::VERSION)), "named in its version");
    for event in &mine {
        match &event.data.object {
            EventObject::CustomerCreated(created) => assert_eq!(created.id, customer.id),
            EventObject::ChargeRefunded(charge) => assert!(charge.refunded && charge.amount_refunded == 1_500),
            _ => {}
        }
    }

    let deliveries = receiver.deliveries();
    let created = deliveries
        .iter()
        .find(|d| types(&verified_with(&secret, std::slice::from_ref(*d))) == ["customer.created"])
        .expect("customer.created delivered");
    let wrong_secret = Webhook::construct_event(&created.payload, &created.signature, &pinned_secret);
    assert!(matches!(wrong_secret, Err(WebhookError::BadSignature)), "{wrong_secret:?}");
    let tampered = created.payload.replacen("hooks@example.com", "evil@example.com", 1);
    assert_ne!(tampered, created.payload);
    let tampered = Webhook::construct_event(&tampered, &created.signature, &secret);
    assert!(matches!(tampered, Err(WebhookError::BadSignature)), "{tampered:?}");
}
