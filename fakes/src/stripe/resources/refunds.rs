//! `/v1/refunds`: giving money back, in full or in part, for a charge named directly (`charge`)
//! or through its PaymentIntent (`payment_intent`). Card refunds succeed at once, as in Stripe test
//! mode: the charge's `amount_refunded` grows, `refunded` turns true once nothing is left, and
//! `refund.created` and `charge.refunded` are emitted. Refusals are Stripe's: more than is left
//! (`amount_too_large`), a charge already refunded (`charge_already_refunded`), a charge that did
//! not succeed. Lists filter by `charge` and `payment_intent` (indexed); `POST /{id}` updates
//! metadata.

use serde_json::{Value, json};

use crate::stripe::context::Ctx;
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;
use crate::stripe::store::first_given;

const REASONS: [&str; 4] = ["duplicate", "fraudulent", "requested_by_customer", "expired_uncaptured_charge"];

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// The charge a refund request names, directly or through its PaymentIntent.
fn charge_to_refund(ctx: &Ctx<'_>, charge: Option<String>, payment_intent: Option<String>) -> Result<Value, ApiError> {
    let from_intent = match &payment_intent {
        Some(id) => {
            let intent = ctx.store.get_kind(Kind::PaymentIntent, id, "payment_intent")?;
            match (intent["status"].as_str(), intent["latest_charge"].as_str()) {
                (Some("succeeded"), Some(charge)) => Some(charge.to_string()),
                _ => {
                    return Err(ApiError::param(
                        "payment_intent",
                        format!("This PaymentIntent ({id}) does not have a successful charge to refund."),
                    ));
                }
            }
        }
        None => None,
    };
    let charge_id = match (charge, from_intent) {
        (Some(charge), Some(from_intent)) if charge != from_intent => {
            return Err(ApiError::param(
                "charge",
                format!(
                    "The charge {charge} does not belong to the PaymentIntent {}.",
                    payment_intent.unwrap_or_default()
                ),
            ));
        }
        (Some(charge), _) => charge,
        (None, Some(from_intent)) => from_intent,
        (None, None) => {
            return Err(ApiError::InvalidParam {
                param: "charge".into(),
                message: "One of the following params should be provided for this request: payment_intent or charge."
                    .into(),
                code: "parameter_missing",
            });
        }
    };
    let charge = ctx.store.get_kind(Kind::Charge, &charge_id, "charge")?;
    if charge["status"] != "succeeded" {
        return Err(ApiError::param(
            "charge",
            format!("Charge {charge_id} did not succeed, so there is nothing to refund."),
        ));
    }
    if charge["refunded"] == true {
        return Err(ApiError::InvalidParam {
            param: "charge".into(),
            message: format!("Charge {charge_id} has already been refunded."),
            code: "charge_already_refunded",
        });
    }
    Ok(charge)
}

/// `POST /v1/refunds`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let charge = p.string("charge")?.filter(|s| !s.is_empty());
    let payment_intent = p.string("payment_intent")?.filter(|s| !s.is_empty());
    let amount = p.integer("amount")?;
    let reason = p.string("reason")?.filter(|s| !s.is_empty());
    let metadata = p.metadata()?;
    let _ = p.string("instructions_email")?;
    let _ = p.boolean("refund_application_fee")?;
    let _ = p.boolean("reverse_transfer")?;
    let expansions = p.expand()?;
    p.finish()?;
    if let Some(reason) = &reason
        && !REASONS.contains(&reason.as_str())
    {
        return Err(ApiError::param("reason", format!("Invalid reason: must be one of {}.", REASONS.join(", "))));
    }

    let mut charge = charge_to_refund(ctx, charge, payment_intent)?;
    let charged = charge["amount"].as_i64().unwrap_or_default();
    let already = charge["amount_refunded"].as_i64().unwrap_or_default();
    let left = charged - already;
    let amount = amount.unwrap_or(left);
    if amount <= 0 {
        return Err(ApiError::param("amount", "Invalid amount: a refund must be a positive integer in cents."));
    }
    if amount > left {
        return Err(ApiError::InvalidParam {
            param: "amount".into(),
            message: format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({}).",
                dollars(amount),
                dollars(left)
            ),
            code: "amount_too_large",
        });
    }
    let at = ctx.time_for_customer(charge["customer"].as_str());
    let mut refund = json!({
        "id": new_id(Kind::Refund.prefix()),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "charge": charge["id"],
        "created": at,
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_account": null,
        "destination_details": { "card": { "type": "refund" }, "type": "card" },
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    });
    if let Some(metadata) = metadata {
        metadata.apply(&mut refund);
    }
    let text = ctx.store.insert(Kind::Refund, &refund);
    ctx.emit_text("refund.created", text, None, at);

    let previous = json!({ "amount_refunded": already, "refunded": false });
    charge["amount_refunded"] = json!(already + amount);
    charge["refunded"] = json!(already + amount == charged);
    let text = ctx.store.replace(&charge).unwrap_or_default();
    ctx.emit_text("charge.refunded", text, Some(previous), at);

    expand(ctx.store, &mut refund, &expansions);
    Ok(refund)
}

/// `GET /v1/refunds/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    expand::retrieve(ctx.store, Kind::Refund, id, p)
}

/// `POST /v1/refunds/{id}`: only `metadata` can change.
pub fn update(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let metadata = p.metadata()?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut refund = ctx.store.get_kind(Kind::Refund, id, "id")?;
    if let Some(metadata) = metadata {
        let before = refund["metadata"].clone();
        metadata.apply(&mut refund);
        if refund["metadata"] != before {
            let text = ctx.store.replace(&refund).unwrap_or_default();
            let at = ctx.time_for_customer(refund["customer"].as_str());
            ctx.emit_text("refund.updated", text, Some(json!({ "metadata": before })), at);
        }
    }
    expand(ctx.store, &mut refund, &expansions);
    Ok(refund)
}

/// `GET /v1/refunds` (filters: `charge`, `payment_intent`)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let charge = p.string("charge")?;
    let payment_intent = p.string("payment_intent")?;
    let filter = first_given(&[("charge", charge.as_deref()), ("payment_intent", payment_intent.as_deref())]);
    expand::list(ctx.store, Kind::Refund, "/v1/refunds", p, filter, |refund| {
        payment_intent.as_ref().is_none_or(|pi| refund["payment_intent"] == pi.as_str())
    })
}
