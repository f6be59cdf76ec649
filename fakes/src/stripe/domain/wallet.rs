//! Payment methods and whom they belong to: turning a test token into a stored `pm_...`,
//! attaching one to a customer, and the checks every resource that takes a payment method makes
//! (it exists; it is attached to this customer). Customers, payment methods, SetupIntents,
//! PaymentIntents and subscriptions all come through here, so they agree on the rules and the
//! error messages.

use serde::Deserialize;
use serde_json::{Value, json};

use super::cards::{card_details, card_for_token, payment_method_id};
use crate::stripe::context::{Ctx, unix_now};
use crate::stripe::error::ApiError;
use crate::stripe::kinds::Kind;
use crate::stripe::store::Store;

/// The id of a stored payment method, creating one if `id_or_token` is a test token.
pub fn resolve(ctx: &mut Ctx<'_>, id_or_token: &str, param: &str) -> Result<String, ApiError> {
    if let Some(card) = card_for_token(id_or_token) {
        let id = payment_method_id(card);
        let method = json!({
            "id": id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null},
                "email": null, "name": null, "phone": null, "tax_id": null,
            },
            "card": card_details(card),
            "created": unix_now(),
            "customer": null,
            "customer_account": null,
            "livemode": false,
            "metadata": {},
            "type": "card",
        });
        ctx.store.insert(Kind::PaymentMethod, &method);
        return Ok(id);
    }
    if !ctx.store.exists(Kind::PaymentMethod, id_or_token) {
        return Err(ApiError::no_such_in(Kind::PaymentMethod.label(), id_or_token, param));
    }
    Ok(id_or_token.to_string())
}

/// Attaches a stored payment method to a customer and emits `payment_method.attached`
/// (attaching it again to the same customer changes nothing).
pub fn attach_to(ctx: &mut Ctx<'_>, pm_id: &str, customer_id: &str) -> Result<Value, ApiError> {
    let mut method = ctx.store.get_kind(Kind::PaymentMethod, pm_id, "id")?;
    match method["customer"].as_str() {
        Some(owner) if owner == customer_id => return Ok(method),
        Some(_) => {
            return Err(ApiError::InvalidRequest(format!(
                "The payment method you provided has already been attached to a customer: {pm_id}."
            )));
        }
        None => {}
    }
    let now = ctx.time_for_customer(Some(customer_id));
    method["customer"] = json!(customer_id);
    let text = ctx.store.replace(&method).unwrap_or_default();
    ctx.emit_text("payment_method.attached", text, Some(json!({ "customer": null })), now);
    Ok(method)
}

/// The error Stripe gives when a payment method named for a customer is not theirs.
pub fn not_attached(param: &str, pm: &str) -> ApiError {
    ApiError::param(
        param,
        format!(
            "The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."
        ),
    )
}

#[derive(Deserialize)]
struct Owner {
    customer: Option<String>,
}

/// Fails unless payment method `pm` is attached to `customer`.
pub fn require_attached(store: &Store, pm: &str, customer: &str, param: &str) -> Result<(), ApiError> {
    match store.read::<Owner>(Kind::PaymentMethod, pm) {
        Some(Owner { customer: Some(owner) }) if owner == customer => Ok(()),
        _ => Err(not_attached(param, pm)),
    }
}

/// The customer a stored payment method is attached to.
pub fn owner_of(store: &Store, pm: &str) -> Option<String> {
    store.read::<Owner>(Kind::PaymentMethod, pm).and_then(|o| o.customer)
}

#[derive(Deserialize, Default)]
struct InvoiceSettings {
    default_payment_method: Option<String>,
}

/// What charging a customer needs to know about it, read in one pass over its stored text.
#[derive(Deserialize)]
pub struct Payer {
    #[serde(default)]
    invoice_settings: InvoiceSettings,
    /// The test clock it lives on.
    pub test_clock: Option<String>,
}

impl Payer {
    /// `invoice_settings.default_payment_method`.
    pub fn default_payment_method(self) -> Option<String> {
        self.invoice_settings.default_payment_method
    }
}

/// The customer's default payment method and clock, or `None` if there is no such customer.
pub fn payer(store: &Store, customer: &str) -> Option<Payer> {
    store.read::<Payer>(Kind::Customer, customer)
}

/// The customer's `invoice_settings.default_payment_method`.
pub fn default_payment_method(store: &Store, customer: &str) -> Option<String> {
    payer(store, customer)?.default_payment_method()
}
