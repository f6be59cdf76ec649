//! Charging a card: a PaymentIntent and its Charge, with the outcome the test card dictates.
//! Used by `POST /v1/payment_intents` and by invoice payment, so both decline alike.
//!
//! This is the benchmark's hot path, so a settled intent is never built as a `serde_json::Value`
//! tree: the typed `IntentOut`/`ChargeOut` below serialize straight to the text that is stored,
//! shared with the event and sent as the response. Only rare paths (declines, unconfirmed
//! intents) convert to a `Value`. `()` fields serialize as `null`.
//!
//! A confirmed intent emits `charge.succeeded` (or `charge.failed`) and its outcome
//! (`payment_intent.succeeded` or `.payment_failed`); Stripe's `payment_intent.created` for an
//! intent confirmed at creation is left out to keep the path lean (an unconfirmed intent does
//! emit it). A decline's 402 carries the charge id, the failed intent and the payment method.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::cards::{
    CARD_COUNTRY, CARD_EXPIRY, ChargeOutcome, TestCard, card_of, charge_outcome, decline_message, fingerprint,
};
use crate::stripe::context::Ctx;
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::params::MetadataPatch;
use crate::stripe::response::to_text;

/// What to charge.
#[derive(Debug, Clone, Default)]
pub struct ChargeRequest {
    /// Smallest currency unit.
    pub amount: i64,
    /// ISO code, lower case.
    pub currency: String,
    /// `cus_...`
    pub customer: Option<String>,
    /// `pm_...`, already stored.
    pub payment_method: Option<String>,
    /// Whether to attempt the charge now.
    pub confirm: bool,
    /// Whether the customer is absent (authentication cannot happen).
    pub off_session: bool,
    /// Free text.
    pub description: Option<String>,
    /// Metadata patch to apply.
    pub metadata: Option<MetadataPatch>,
    /// Time on the customer's clock.
    pub at: i64,
}

/// A created PaymentIntent: its stored text when it settled, else its value.
pub enum Charged {
    /// Succeeded; stored as this text.
    Settled(Arc<str>),
    /// Not attempted or waiting for action.
    Pending(Value),
}

impl Charged {
    /// The intent as a value (parses the text of a settled one).
    pub fn into_value(self) -> Value {
        match self {
            Charged::Settled(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
            Charged::Pending(value) => value,
        }
    }
}

#[derive(Serialize)]
struct IntentOut<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    amount_capturable: i64,
    amount_details: AmountDetails,
    amount_received: i64,
    application: (),
    application_fee_amount: (),
    automatic_payment_methods: (),
    canceled_at: (),
    cancellation_reason: (),
    capture_method: &'static str,
    client_secret: String,
    confirmation_method: &'static str,
    created: i64,
    currency: &'a str,
    customer: Option<&'a str>,
    customer_account: (),
    description: Option<&'a str>,
    excluded_payment_method_types: (),
    last_payment_error: Option<Value>,
    latest_charge: Option<&'a str>,
    livemode: bool,
    managed_payments: (),
    metadata: Value,
    next_action: Option<Value>,
    on_behalf_of: (),
    payment_method: Option<&'a str>,
    payment_method_configuration_details: (),
    payment_method_options: MethodOptions,
    payment_method_types: [&'static str; 1],
    processing: (),
    receipt_email: (),
    review: (),
    setup_future_usage: (),
    shipping: (),
    source: (),
    statement_descriptor: (),
    statement_descriptor_suffix: (),
    status: &'a str,
    transfer_data: (),
    transfer_group: (),
}

#[derive(Serialize)]
struct ChargeOut<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    amount_captured: i64,
    amount_refunded: i64,
    application: (),
    application_fee: (),
    application_fee_amount: (),
    balance_transaction: Option<String>,
    billing_details: &'a BillingDetails,
    calculated_statement_descriptor: &'static str,
    captured: bool,
    created: i64,
    currency: &'a str,
    customer: Option<&'a str>,
    description: Option<&'a str>,
    disputed: bool,
    failure_balance_transaction: (),
    failure_code: Option<&'a str>,
    failure_message: Option<&'a str>,
    fraud_details: Map<String, Value>,
    livemode: bool,
    metadata: &'a Value,
    on_behalf_of: (),
    outcome: Outcome<'a>,
    paid: bool,
    payment_intent: &'a str,
    payment_method: &'a str,
    payment_method_details: MethodDetails<'a>,
    receipt_email: (),
    receipt_number: (),
    receipt_url: String,
    refunded: bool,
    review: (),
    shipping: (),
    source_transfer: (),
    statement_descriptor: (),
    statement_descriptor_suffix: (),
    status: &'static str,
    transfer_data: (),
    transfer_group: (),
}

#[derive(Serialize)]
struct Outcome<'a> {
    advice_code: (),
    network_advice_code: (),
    network_decline_code: (),
    network_status: &'static str,
    reason: Option<&'a str>,
    seller_message: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct MethodDetails<'a> {
    card: CardOut<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// The card as a charge describes it (the payment method's card plus how this charge used it).
#[derive(Serialize)]
struct CardOut<'a> {
    amount_authorized: i64,
    authorization_code: (),
    brand: &'a str,
    checks: Checks,
    country: &'static str,
    exp_month: i64,
    exp_year: i64,
    extended_authorization: Status,
    fingerprint: String,
    funding: &'a str,
    incremental_authorization: Status,
    installments: (),
    last4: &'a str,
    mandate: (),
    multicapture: Status,
    network: &'a str,
    network_token: NetworkToken,
    network_transaction_id: (),
    overcapture: Overcapture,
    regulated_status: &'static str,
    three_d_secure: (),
    wallet: (),
}

/// The `checks` of a test card (what the card hash of its payment method shows).
#[derive(Serialize)]
struct Checks {
    address_line1_check: (),
    address_postal_code_check: (),
    cvc_check: &'static str,
}

/// The billing details of a test card's payment method (the fake stores none).
#[derive(Serialize)]
struct BillingDetails {
    address: Address,
    email: (),
    name: (),
    phone: (),
    tax_id: (),
}

#[derive(Serialize)]
struct Address {
    city: (),
    country: (),
    line1: (),
    line2: (),
    postal_code: (),
    state: (),
}

const NO_BILLING_DETAILS: BillingDetails = BillingDetails {
    address: Address { city: (), country: (), line1: (), line2: (), postal_code: (), state: () },
    email: (),
    name: (),
    phone: (),
    tax_id: (),
};

/// An empty JSON object (`{}`), without an allocation.
#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct AmountDetails {
    tip: Empty,
}

#[derive(Serialize)]
struct MethodOptions {
    card: CardOptions,
}

#[derive(Serialize)]
struct CardOptions {
    request_three_d_secure: &'static str,
}

#[derive(Serialize)]
struct NetworkToken {
    used: bool,
}

#[derive(Serialize)]
struct Overcapture {
    maximum_amount_capturable: i64,
    status: &'static str,
}

/// A decline: `(code, decline_code, message)`.
type Failure = (&'static str, &'static str, &'static str);

/// Creates a PaymentIntent and, if confirmed, charges it. A decline stores the failed intent
/// and returns the `card_error` to answer with.
pub fn charge(ctx: &mut Ctx<'_>, request: ChargeRequest) -> Result<Charged, ApiError> {
    let id = new_id("pi");
    let mut metadata = json!({ "metadata": {} });
    if let Some(patch) = request.metadata.clone() {
        patch.apply(&mut metadata);
    }
    let mut intent = new_intent(&id, &request, metadata["metadata"].take());
    let pm = request.payment_method.as_deref().filter(|pm| ctx.store.exists(Kind::PaymentMethod, pm));
    // Every stored payment method is a test card named by its id: no read of the object.
    let card = match (request.confirm, pm.and_then(|pm| card_of(pm).map(|card| (pm, card)))) {
        (true, Some(found)) => found,
        _ => return Ok(Charged::Pending(store_pending(ctx, &intent, "payment_intent.created", request.at))),
    };
    let failure: Option<Failure> = match charge_outcome(card.1.last4) {
        ChargeOutcome::Succeeds => None,
        ChargeOutcome::Declines(code) => Some(("card_declined", code, decline_message(code))),
        ChargeOutcome::RequiresAuthentication if request.off_session => Some((
            "authentication_required",
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        )),
        ChargeOutcome::RequiresAuthentication => {
            intent.status = "requires_action";
            intent.next_action = Some(json!({ "type": "use_stripe_sdk", "use_stripe_sdk": {} }));
            return Ok(Charged::Pending(store_pending(ctx, &intent, "payment_intent.requires_action", request.at)));
        }
    };
    let charge_id = new_id("ch");
    let charge_text = charge_text(&charge_id, &request, &intent, card, failure);
    let customer = request.customer.as_deref();
    ctx.store.insert_text(Kind::Charge, &charge_id, charge_text.clone(), &[customer, Some(&id)]);
    let charge_event = if failure.is_none() { "charge.succeeded" } else { "charge.failed" };
    ctx.emit_text(charge_event, charge_text, None, request.at);
    intent.latest_charge = Some(&charge_id);

    match failure {
        Some(failure) => {
            let method = ctx.store.get(card.0).unwrap_or_default();
            Err(store_declined(ctx, intent, method, failure, &charge_id, request.at))
        }
        None => {
            intent.status = "succeeded";
            intent.amount_received = request.amount;
            let text = to_text(&intent, 1_536);
            ctx.store.insert_text(Kind::PaymentIntent, &id, text.clone(), &[customer]);
            ctx.emit_text("payment_intent.succeeded", text.clone(), None, request.at);
            Ok(Charged::Settled(text))
        }
    }
}

fn new_intent<'a>(id: &'a str, request: &'a ChargeRequest, metadata: Value) -> IntentOut<'a> {
    IntentOut {
        id,
        object: "payment_intent",
        amount: request.amount,
        amount_capturable: 0,
        amount_details: AmountDetails { tip: Empty {} },
        amount_received: 0,
        application: (),
        application_fee_amount: (),
        automatic_payment_methods: (),
        canceled_at: (),
        cancellation_reason: (),
        capture_method: "automatic",
        client_secret: format!("{id}_secret_{}", &new_id("x")[2..]),
        confirmation_method: "automatic",
        created: request.at,
        currency: &request.currency,
        customer: request.customer.as_deref(),
        customer_account: (),
        description: request.description.as_deref(),
        excluded_payment_method_types: (),
        last_payment_error: None,
        latest_charge: None,
        livemode: false,
        managed_payments: (),
        metadata,
        next_action: None,
        on_behalf_of: (),
        payment_method: request.payment_method.as_deref(),
        payment_method_configuration_details: (),
        payment_method_options: MethodOptions { card: CardOptions { request_three_d_secure: "automatic" } },
        payment_method_types: ["card"],
        processing: (),
        receipt_email: (),
        review: (),
        setup_future_usage: (),
        shipping: (),
        source: (),
        statement_descriptor: (),
        statement_descriptor_suffix: (),
        status: if request.payment_method.is_some() { "requires_confirmation" } else { "requires_payment_method" },
        transfer_data: (),
        transfer_group: (),
    }
}

/// Stores an intent that did not settle (not confirmed, or waiting for authentication).
fn store_pending(ctx: &mut Ctx<'_>, intent: &IntentOut<'_>, event: &'static str, at: i64) -> Value {
    let value = serde_json::to_value(intent).unwrap_or(Value::Object(Map::new()));
    let text = ctx.store.insert(Kind::PaymentIntent, &value);
    ctx.emit_text(event, text, None, at);
    value
}

fn charge_text(
    charge_id: &str,
    request: &ChargeRequest,
    intent: &IntentOut<'_>,
    (payment_method, card): (&str, &TestCard),
    failure: Option<Failure>,
) -> Arc<str> {
    let succeeded = failure.is_none();
    let charge = ChargeOut {
        id: charge_id,
        object: "charge",
        amount: request.amount,
        amount_captured: if succeeded { request.amount } else { 0 },
        amount_refunded: 0,
        application: (),
        application_fee: (),
        application_fee_amount: (),
        balance_transaction: succeeded.then(|| new_id("txn")),
        billing_details: &NO_BILLING_DETAILS,
        calculated_statement_descriptor: "BILLING FAKE",
        captured: succeeded,
        created: request.at,
        currency: &request.currency,
        customer: request.customer.as_deref(),
        description: request.description.as_deref(),
        disputed: false,
        failure_balance_transaction: (),
        failure_code: failure.map(|f| f.0),
        failure_message: failure.map(|f| f.2),
        fraud_details: Map::new(),
        livemode: false,
        metadata: &intent.metadata,
        on_behalf_of: (),
        outcome: outcome(failure),
        paid: succeeded,
        payment_intent: intent.id,
        payment_method,
        payment_method_details: MethodDetails { card: card_out(card, request.amount, succeeded), kind: "card" },
        receipt_email: (),
        receipt_number: (),
        receipt_url: format!("https://pay.stripe.com/receipts/fake/{charge_id}"),
        refunded: false,
        review: (),
        shipping: (),
        source_transfer: (),
        statement_descriptor: (),
        statement_descriptor_suffix: (),
        status: if succeeded { "succeeded" } else { "failed" },
        transfer_data: (),
        transfer_group: (),
    };
    to_text(&charge, 2_048)
}

fn outcome(failure: Option<Failure>) -> Outcome<'static> {
    let succeeded = failure.is_none();
    Outcome {
        advice_code: (),
        network_advice_code: (),
        network_decline_code: (),
        network_status: if succeeded { "approved_by_network" } else { "declined_by_network" },
        reason: failure.map(|f| f.1),
        seller_message: if succeeded {
            "Payment complete."
        } else {
            "The bank did not return any further details with this decline."
        },
        kind: if succeeded { "authorized" } else { "issuer_declined" },
    }
}

fn card_out(card: &TestCard, amount: i64, succeeded: bool) -> CardOut<'_> {
    CardOut {
        amount_authorized: if succeeded { amount } else { 0 },
        authorization_code: (),
        brand: card.brand,
        checks: Checks { address_line1_check: (), address_postal_code_check: (), cvc_check: "pass" },
        country: CARD_COUNTRY,
        exp_month: CARD_EXPIRY.0,
        exp_year: CARD_EXPIRY.1,
        extended_authorization: Status { status: "disabled" },
        fingerprint: fingerprint(card),
        funding: card.funding,
        incremental_authorization: Status { status: "unavailable" },
        installments: (),
        last4: card.last4,
        mandate: (),
        multicapture: Status { status: "unavailable" },
        network: card.brand,
        network_token: NetworkToken { used: false },
        network_transaction_id: (),
        overcapture: Overcapture { maximum_amount_capturable: amount, status: "unavailable" },
        regulated_status: "unregulated",
        three_d_secure: (),
        wallet: (),
    }
}

/// Stores a declined intent and builds the 402 that carries it.
fn store_declined(
    ctx: &mut Ctx<'_>,
    mut intent: IntentOut<'_>,
    method: Value,
    (code, decline_code, message): Failure,
    charge_id: &str,
    at: i64,
) -> ApiError {
    intent.status = "requires_payment_method";
    intent.payment_method = None;
    intent.last_payment_error = Some(json!({
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": message,
        "charge": charge_id,
        "payment_method": method,
    }));
    let text = to_text(&intent, 1_536);
    ctx.store.insert_text(Kind::PaymentIntent, intent.id, text.clone(), &[intent.customer]);
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    ctx.emit_text("payment_intent.payment_failed", text, None, at);
    ApiError::Card {
        code: code.to_string(),
        decline_code: Some(decline_code.to_string()),
        message: message.to_string(),
        charge: Some(charge_id.to_string()),
        payment_intent: Some(Box::new(value)),
        setup_intent: None,
        payment_method: Some(Box::new(method)),
    }
}
