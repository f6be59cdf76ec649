//! Charging a card: a PaymentIntent and its Charge, with the outcome the test card dictates.
//! Used by `POST /v1/payment_intents` and by invoice payment, so both decline alike.
//!
//! This is the benchmark's hot path, so a settled intent is never built as a `serde_json::Value`
//! tree: the typed `IntentOut`/`ChargeOut` below serialize straight to the text that is stored,
//! spliced into the event and sent as the response. Only rare paths (declines, unconfirmed
//! intents) convert to a `Value`. `()` fields serialize as `null`.
//!
//! A confirmed intent emits only its outcome (`payment_intent.succeeded` or `.payment_failed`);
//! Stripe's `payment_intent.created` and `charge.*` events are left out to keep the path lean
//! (an unconfirmed intent does emit `payment_intent.created`).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::cards::{ChargeOutcome, decline_message, outcome_of};
use super::context::Ctx;
use super::error::ApiError;
use super::ids::new_id;
use super::params::MetadataPatch;

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

/// A created PaymentIntent: its JSON text when it settled (and was stored as text), else its value.
pub enum Charged {
    /// Succeeded; stored as this text.
    Settled(String),
    /// Not attempted or waiting for action; stored as this value.
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
    amount_details: Value,
    amount_received: i64,
    application: (),
    application_fee_amount: (),
    automatic_payment_methods: (),
    canceled_at: (),
    cancellation_reason: (),
    capture_method: &'static str,
    client_secret: &'a str,
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
    metadata: &'a Value,
    next_action: Option<Value>,
    on_behalf_of: (),
    payment_method: Option<&'a str>,
    payment_method_configuration_details: (),
    payment_method_options: Value,
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
    balance_transaction: Option<String>,
    billing_details: &'a Value,
    captured: bool,
    created: i64,
    currency: &'a str,
    customer: Option<&'a str>,
    description: Option<&'a str>,
    disputed: bool,
    failure_code: Option<&'a str>,
    failure_message: Option<&'a str>,
    livemode: bool,
    metadata: &'a Value,
    outcome: Outcome<'a>,
    paid: bool,
    payment_intent: &'a str,
    payment_method: &'a str,
    payment_method_details: MethodDetails<'a>,
    refunded: bool,
    status: &'static str,
}

#[derive(Serialize)]
struct Outcome<'a> {
    network_status: &'static str,
    reason: Option<&'a str>,
    seller_message: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct MethodDetails<'a> {
    card: &'a Value,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Creates a PaymentIntent and, if confirmed, charges it. A decline stores the failed intent
/// and returns the `card_error` to answer with.
pub fn charge(ctx: &mut Ctx<'_>, request: ChargeRequest) -> Result<Charged, ApiError> {
    let id = new_id("pi");
    let client_secret = format!("{id}_secret_{}", &new_id("x")[2..]);
    let mut metadata = json!({ "metadata": {} });
    if let Some(patch) = request.metadata.clone() {
        patch.apply(&mut metadata);
    }
    let metadata = metadata["metadata"].take();
    let mut intent = IntentOut {
        id: &id,
        object: "payment_intent",
        amount: request.amount,
        amount_capturable: 0,
        amount_details: json!({ "tip": {} }),
        amount_received: 0,
        application: (),
        application_fee_amount: (),
        automatic_payment_methods: (),
        canceled_at: (),
        cancellation_reason: (),
        capture_method: "automatic",
        client_secret: &client_secret,
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
        metadata: &metadata,
        next_action: None,
        on_behalf_of: (),
        payment_method: request.payment_method.as_deref(),
        payment_method_configuration_details: (),
        payment_method_options: json!({ "card": { "request_three_d_secure": "automatic" } }),
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
    };
    let method = match (request.confirm, request.payment_method.as_deref().and_then(|pm| ctx.store.get(pm))) {
        (true, Some(method)) => method,
        _ => {
            let value = to_value(&intent);
            ctx.emit("payment_intent.created", &value, None, request.at);
            ctx.store.insert("payment_intent", value.clone());
            return Ok(Charged::Pending(value));
        }
    };

    let failure: Option<(&str, &str, &str)> = match outcome_of(method) {
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
            let value = to_value(&intent);
            ctx.emit("payment_intent.requires_action", &value, None, request.at);
            ctx.store.insert("payment_intent", value.clone());
            return Ok(Charged::Pending(value));
        }
    };
    let charge_id = new_id("ch");
    let succeeded = failure.is_none();
    let charge = ChargeOut {
        id: &charge_id,
        object: "charge",
        amount: request.amount,
        amount_captured: if succeeded { request.amount } else { 0 },
        amount_refunded: 0,
        balance_transaction: succeeded.then(|| new_id("txn")),
        billing_details: &method["billing_details"],
        captured: succeeded,
        created: request.at,
        currency: &request.currency,
        customer: request.customer.as_deref(),
        description: request.description.as_deref(),
        disputed: false,
        failure_code: failure.map(|f| f.0),
        failure_message: failure.map(|f| f.2),
        livemode: false,
        metadata: &metadata,
        outcome: Outcome {
            network_status: if succeeded { "approved_by_network" } else { "declined_by_network" },
            reason: failure.map(|f| f.1),
            seller_message: if succeeded {
                "Payment complete."
            } else {
                "The bank did not return any further details with this decline."
            },
            kind: if succeeded { "authorized" } else { "issuer_declined" },
        },
        paid: succeeded,
        payment_intent: &id,
        payment_method: method["id"].as_str().unwrap_or_default(),
        payment_method_details: MethodDetails { card: &method["card"], kind: "card" },
        refunded: false,
        status: if succeeded { "succeeded" } else { "failed" },
    };
    let charge_text = serde_json::to_string(&charge).unwrap_or_default();
    // Only a decline needs its own copy of the payment method (for the error body).
    let declined_method = failure.map(|_| method.clone());
    intent.latest_charge = Some(&charge_id);
    ctx.store.insert_frozen_text("charge", charge_id.clone(), charge_text);

    match (failure, declined_method) {
        (Some((code, decline_code, message)), Some(method)) => {
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
            let text = serde_json::to_string(&intent).unwrap_or_default();
            ctx.emit_text("payment_intent.payment_failed", &text, request.at);
            let value = serde_json::from_str(&text).unwrap_or(Value::Null);
            ctx.store.insert_frozen_text("payment_intent", id.clone(), text);
            Err(ApiError::Card {
                code: code.to_string(),
                decline_code: Some(decline_code.to_string()),
                message: message.to_string(),
                payment_intent: Some(Box::new(value)),
                payment_method: Some(Box::new(method)),
            })
        }
        _ => {
            intent.status = "succeeded";
            intent.amount_received = request.amount;
            let text = serde_json::to_string(&intent).unwrap_or_default();
            ctx.emit_text("payment_intent.succeeded", &text, request.at);
            ctx.store.insert_frozen_text("payment_intent", id.clone(), text.clone());
            Ok(Charged::Settled(text))
        }
    }
}

fn to_value(intent: &IntentOut<'_>) -> Value {
    serde_json::to_value(intent).unwrap_or(Value::Object(Map::new()))
}
