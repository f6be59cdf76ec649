//! `/v1/setup_intents`: saving a card for later (off-session) payments. Confirming one verifies
//! the test card as Stripe test mode does: a good card makes it `succeeded` and attaches the
//! payment method to the customer (so it can be charged off-session later); a declining card
//! (`pm_card_chargeDeclined`, `…InsufficientFunds`) fails with a 402 `card_error` carrying the
//! SetupIntent, leaves it `requires_payment_method` with `last_setup_error`, and emits
//! `setup_intent.setup_failed`; a 3-D Secure card waits in `requires_action`.
//! `pm_card_chargeCustomerFail` sets up fine and declines every later charge.

use serde_json::{Value, json};

use crate::stripe::context::{Ctx, previous_attributes};
use crate::stripe::domain::cards::{ChargeOutcome, decline_message, setup_outcome_of};
use crate::stripe::domain::wallet::{attach_to, owner_of, resolve};
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand, get_expanded};
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;

const USAGES: [&str; 2] = ["off_session", "on_session"];
const CANCELLATION_REASONS: [&str; 3] = ["abandoned", "requested_by_customer", "duplicate"];

/// Reads the parameters Stripe accepts and the fake ignores.
fn ignored(p: &mut Params) -> Result<(), ApiError> {
    let _ = p.string("return_url")?;
    let _ = p.boolean("use_stripe_sdk")?;
    p.ignore("mandate_data");
    p.ignore("payment_method_options");
    p.ignore("payment_method_data");
    Ok(())
}

/// `POST /v1/setup_intents`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?.filter(|s| !s.is_empty());
    let payment_method = p.string("payment_method")?.filter(|s| !s.is_empty());
    let confirm = p.boolean("confirm")?.unwrap_or(false);
    let usage = p.string("usage")?.unwrap_or_else(|| "off_session".into());
    let description = p.clearable_string("description")?.flatten();
    let metadata = p.metadata()?;
    let types = p.string_array("payment_method_types")?;
    let _ = p.string_array("flow_directions")?;
    let _ = p.boolean("attach_to_self")?;
    let automatic = match p.object("automatic_payment_methods")? {
        Some(mut automatic) => {
            let enabled = automatic.boolean("enabled")?;
            let _ = automatic.string("allow_redirects")?;
            automatic.finish()?;
            enabled
        }
        None => None,
    };
    ignored(&mut p)?;
    let expansions = p.expand()?;
    p.finish()?;
    if !USAGES.contains(&usage.as_str()) {
        return Err(ApiError::param("usage", "Invalid usage: must be off_session or on_session."));
    }
    if let Some(types) = &types
        && types.iter().any(|t| t != "card")
    {
        return Err(ApiError::param(
            "payment_method_types",
            "The Stripe fake sets up cards only (payment_method_types[]=card).",
        ));
    }
    if let Some(customer) = &customer {
        ctx.store.get_kind(Kind::Customer, customer, "customer")?;
    }
    let payment_method = match payment_method {
        Some(pm) => Some(resolve(ctx, &pm, "payment_method")?),
        None => None,
    };
    let at = ctx.time_for_customer(customer.as_deref());
    let id = new_id(Kind::SetupIntent.prefix());
    let mut intent = json!({
        "id": id,
        "object": "setup_intent",
        "application": null,
        "automatic_payment_methods": automatic.map(|enabled| json!({ "enabled": enabled })),
        "cancellation_reason": null,
        "client_secret": format!("{id}_secret_{}", &new_id("x")[2..]),
        "created": at,
        "customer": customer,
        "description": description,
        "excluded_payment_method_types": null,
        "flow_directions": null,
        "last_setup_error": null,
        "latest_attempt": null,
        "livemode": false,
        "mandate": null,
        "metadata": {},
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": payment_method,
        "payment_method_configuration_details": null,
        "payment_method_options": { "card": { "mandate_options": null, "network": null, "request_three_d_secure": "automatic" } },
        "payment_method_types": ["card"],
        "single_use_mandate": null,
        "status": if payment_method.is_some() { "requires_confirmation" } else { "requires_payment_method" },
        "usage": usage,
    });
    if let Some(metadata) = metadata {
        metadata.apply(&mut intent);
    }
    let text = ctx.store.insert(Kind::SetupIntent, &intent);
    ctx.emit_text("setup_intent.created", text, None, at);
    if confirm {
        confirm_now(ctx, &mut intent, at)?;
    }
    expand(ctx.store, &mut intent, &expansions);
    Ok(intent)
}

/// Verifies the intent's payment method and records the outcome (see the module doc).
fn confirm_now(ctx: &mut Ctx<'_>, intent: &mut Value, at: i64) -> Result<(), ApiError> {
    let Some(pm) = intent["payment_method"].as_str().map(str::to_string) else {
        return Err(ApiError::param(
            "payment_method",
            "You cannot confirm this SetupIntent because it's missing a payment method. Update the SetupIntent \
             with a payment method and then confirm it again.",
        ));
    };
    let customer = intent["customer"].as_str().map(str::to_string);
    if let (Some(customer), Some(owner)) = (&customer, owner_of(ctx.store, &pm))
        && owner != *customer
    {
        return Err(ApiError::param(
            "payment_method",
            format!("The provided PaymentMethod {pm} belongs to a different customer."),
        ));
    }
    let method = ctx.store.get_kind(Kind::PaymentMethod, &pm, "payment_method")?;
    let before = intent.clone();
    match setup_outcome_of(&method) {
        ChargeOutcome::Succeeds => {
            if let Some(customer) = &customer {
                attach_to(ctx, &pm, customer)?;
            }
            intent["status"] = json!("succeeded");
            intent["last_setup_error"] = Value::Null;
            intent["next_action"] = Value::Null;
            let text = ctx.store.replace(intent).unwrap_or_default();
            ctx.emit_text("setup_intent.succeeded", text, previous_attributes(&before, intent), at);
            Ok(())
        }
        ChargeOutcome::RequiresAuthentication => {
            intent["status"] = json!("requires_action");
            intent["next_action"] = json!({ "type": "use_stripe_sdk", "use_stripe_sdk": {} });
            let text = ctx.store.replace(intent).unwrap_or_default();
            ctx.emit_text("setup_intent.requires_action", text, previous_attributes(&before, intent), at);
            Ok(())
        }
        ChargeOutcome::Declines(decline_code) => {
            let message = decline_message(decline_code);
            intent["status"] = json!("requires_payment_method");
            intent["payment_method"] = Value::Null;
            intent["last_setup_error"] = json!({
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": message,
                "payment_method": method,
            });
            let text = ctx.store.replace(intent).unwrap_or_default();
            ctx.emit_text("setup_intent.setup_failed", text, previous_attributes(&before, intent), at);
            Err(ApiError::Card {
                code: "card_declined".into(),
                decline_code: Some(decline_code.into()),
                message: message.into(),
                charge: None,
                payment_intent: None,
                setup_intent: Some(Box::new(intent.clone())),
                payment_method: Some(Box::new(method)),
            })
        }
    }
}

fn require_open(intent: &Value, action: &str) -> Result<(), ApiError> {
    let status = intent["status"].as_str().unwrap_or_default();
    if matches!(status, "succeeded" | "canceled") {
        return Err(ApiError::InvalidRequest(format!(
            "You cannot {action} this SetupIntent because it has a status of {status}."
        )));
    }
    Ok(())
}

/// `POST /v1/setup_intents/{id}/confirm` (`payment_method` may be given here)
pub fn confirm(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let payment_method = p.string("payment_method")?.filter(|s| !s.is_empty());
    ignored(&mut p)?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut intent = ctx.store.get_kind(Kind::SetupIntent, id, "id")?;
    require_open(&intent, "confirm")?;
    if let Some(pm) = payment_method {
        intent["payment_method"] = json!(resolve(ctx, &pm, "payment_method")?);
    }
    let at = ctx.time_for_customer(intent["customer"].as_str());
    confirm_now(ctx, &mut intent, at)?;
    expand(ctx.store, &mut intent, &expansions);
    Ok(intent)
}

/// `POST /v1/setup_intents/{id}/cancel`
pub fn cancel(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let reason = p.string("cancellation_reason")?.filter(|s| !s.is_empty());
    let expansions = p.expand()?;
    p.finish()?;
    if let Some(reason) = &reason
        && !CANCELLATION_REASONS.contains(&reason.as_str())
    {
        return Err(ApiError::param(
            "cancellation_reason",
            format!("Invalid cancellation_reason: must be one of {}.", CANCELLATION_REASONS.join(", ")),
        ));
    }
    let mut intent = ctx.store.get_kind(Kind::SetupIntent, id, "id")?;
    require_open(&intent, "cancel")?;
    let before = intent.clone();
    intent["status"] = json!("canceled");
    intent["cancellation_reason"] = json!(reason);
    intent["next_action"] = Value::Null;
    let text = ctx.store.replace(&intent).unwrap_or_default();
    let at = ctx.time_for_customer(intent["customer"].as_str());
    ctx.emit_text("setup_intent.canceled", text, previous_attributes(&before, &intent), at);
    expand(ctx.store, &mut intent, &expansions);
    Ok(intent)
}

/// `POST /v1/setup_intents/{id}`: `customer`, `payment_method`, `description`, `metadata`.
pub fn update(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?.filter(|s| !s.is_empty());
    let payment_method = p.string("payment_method")?.filter(|s| !s.is_empty());
    let description = p.clearable_string("description")?;
    let metadata = p.metadata()?;
    let _ = p.string_array("payment_method_types")?;
    ignored(&mut p)?;
    let expansions = p.expand()?;
    p.finish()?;
    let before = ctx.store.get_kind(Kind::SetupIntent, id, "id")?;
    let mut intent = before.clone();
    if customer.is_some() || payment_method.is_some() {
        require_open(&intent, "update")?;
    }
    if let Some(customer) = customer {
        ctx.store.get_kind(Kind::Customer, &customer, "customer")?;
        intent["customer"] = json!(customer);
    }
    if let Some(pm) = payment_method {
        intent["payment_method"] = json!(resolve(ctx, &pm, "payment_method")?);
        if intent["status"] == "requires_payment_method" {
            intent["status"] = json!("requires_confirmation");
        }
    }
    if let Some(description) = description {
        intent["description"] = json!(description);
    }
    if let Some(metadata) = metadata {
        metadata.apply(&mut intent);
    }
    let text = ctx.store.replace(&intent).unwrap_or_default();
    if let Some(previous) = previous_attributes(&before, &intent) {
        let at = ctx.time_for_customer(intent["customer"].as_str());
        ctx.emit_text("setup_intent.updated", text, Some(previous), at);
    }
    expand(ctx.store, &mut intent, &expansions);
    Ok(intent)
}

/// `GET /v1/setup_intents/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    let _ = p.string("client_secret")?;
    p.finish()?;
    get_expanded(ctx.store, Kind::SetupIntent, id, &expansions)
}

/// `GET /v1/setup_intents` (filters: `customer`, indexed; `payment_method`)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?;
    let payment_method = p.string("payment_method")?;
    let _ = p.boolean("attach_to_self")?;
    let filter = customer.as_deref().map(|c| ("customer", c));
    expand::list(ctx.store, Kind::SetupIntent, "/v1/setup_intents", p, filter, |intent| {
        payment_method.as_ref().is_none_or(|pm| intent["payment_method"] == pm.as_str())
    })
}
