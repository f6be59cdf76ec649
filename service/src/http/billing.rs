//! `POST /api/v1/billing/payment-method`, `POST|DELETE /api/v1/billing/subscription`: the
//! requests, read into a [`PaymentMethodRequest`], a [`SubscriptionRequest`] and a
//! [`CancelQuery`], and the answers of [`crate::billing`].

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use utoipa::IntoParams;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::billing::payment_method::{self, PaymentMethodAdded, parse_payment_method_id};
use crate::billing::subscription::{self, SubscriptionView};
use crate::error::{ApiError, ErrorBody};
use crate::http::auth::Authenticated;
use crate::http::openapi::bodies::JsonBodyRejections;
use crate::http::openapi::{IdempotencyKey, PaymentProviderFailed, ValidationFailed};
use crate::http::request::{Fields, JsonObject, OptionalClientKey, StrictQuery};
use crate::state::AppState;

/// `POST /api/v1/billing/payment-method`.
#[derive(Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodRequest {
    /// A Stripe payment method id (`pm_…`, or a test token such as `pm_card_visa`) that Stripe
    /// knows; one it does not know is 422 naming this field.
    #[schema(example = "pm_card_visa", max_length = 255, pattern = r"^pm_[A-Za-z0-9_]*$")]
    pub payment_method_id: String,
    /// Must be `true`: the customer agrees to be charged. Without it nothing is stored or sent.
    #[schema(schema_with = must_be_true)]
    pub billing_consent: bool,
}

fn must_be_true() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true])).build()
}

impl PaymentMethodRequest {
    /// The request, or a 422 naming every bad field (a consent that is not `true` among them).
    pub fn from_fields(mut fields: Fields) -> Result<PaymentMethodRequest, ApiError> {
        let payment_method = fields.required_str("payment_method_id");
        let payment_method = fields.parse("payment_method_id", payment_method, parse_payment_method_id);
        match fields.optional_bool("billing_consent") {
            Some(true) => {}
            Some(false) | None => fields.error(
                "billing_consent",
                "must be true: the customer has to agree to be charged before a payment method is stored",
            ),
        }
        fields.finish()?;
        let payment_method_id =
            payment_method.ok_or_else(|| ApiError::Internal("field errors were not reported".into()))?;
        Ok(PaymentMethodRequest { payment_method_id, billing_consent: true })
    }
}

/// The one plan with a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscribablePlan {
    Pro,
}

/// `POST /api/v1/billing/subscription`.
#[derive(Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub plan: SubscribablePlan,
}

impl SubscriptionRequest {
    /// The request, or a 422 naming every bad field.
    pub fn from_fields(mut fields: Fields) -> Result<SubscriptionRequest, ApiError> {
        let plan = fields.required_str("plan");
        if plan.as_deref().is_some_and(|plan| plan != "pro") {
            fields.error("plan", "must be \"pro\", the only plan with a subscription");
        }
        fields.finish()?;
        Ok(SubscriptionRequest { plan: SubscribablePlan::Pro })
    }
}

/// The query string of `DELETE /api/v1/billing/subscription` (any other parameter, or one
/// given twice, is 422).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// `true`: Pro until the period ends; `false` (the default): pay-as-you-go at once.
    #[param(nullable = false)]
    pub at_period_end: Option<bool>,
}

impl CancelQuery {
    /// The query, or a 422 naming the parameter that is unknown, repeated or invalid.
    pub fn from_query(query: Option<&str>) -> Result<CancelQuery, ApiError> {
        let query = StrictQuery::parse(query, &["at_period_end"])?;
        Ok(CancelQuery { at_period_end: Some(query.bool("at_period_end", false)?) })
    }
}

/// Attaches a card, makes it the default and records the customer's consent to be charged.
#[utoipa::path(
    post,
    path = "/api/v1/billing/payment-method",
    tag = "billing",
    params(IdempotencyKey),
    request_body = PaymentMethodRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The card is the default; a trial customer is now pay-as-you-go", body = PaymentMethodAdded),
        (status = 402, description = "Stripe refused the card (`card_declined`, with `decline_code`)", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 502, response = PaymentProviderFailed),
        JsonBodyRejections,
    ),
)]
pub async fn add_payment_method(
    State(state): State<AppState>,
    auth: Authenticated,
    OptionalClientKey(key): OptionalClientKey,
    body: JsonObject,
) -> Result<Json<PaymentMethodAdded>, ApiError> {
    let request = PaymentMethodRequest::from_fields(Fields::new(body))?;
    payment_method::add_payment_method(&state, auth.customer, &request.payment_method_id, key.as_ref()).await.map(Json)
}

/// Subscribes to Pro ($599 a month; 60 credits with each paid invoice, granted by the webhook).
#[utoipa::path(
    post,
    path = "/api/v1/billing/subscription",
    tag = "billing",
    request_body = SubscriptionRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Subscribed: the plan is Pro", body = SubscriptionView),
        (status = 200, description = "A retry that Stripe answered with the subscription already made", body = SubscriptionView),
        (status = 402, description = "No payment method (`payment_method_required`), or the first payment failed (`subscription_payment_failed`, `card_declined`)", body = ErrorBody),
        (status = 409, description = "Already subscribed (`already_subscribed`)", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 502, response = PaymentProviderFailed),
        JsonBodyRejections,
    ),
)]
pub async fn subscribe(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonObject,
) -> Result<(StatusCode, Json<SubscriptionView>), ApiError> {
    let SubscriptionRequest { plan: SubscribablePlan::Pro } = SubscriptionRequest::from_fields(Fields::new(body))?;
    let (made_now, view) = subscription::subscribe_to_pro(&state, auth.customer).await?;
    Ok((if made_now { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// Cancels Pro, at once or at the end of the period.
#[utoipa::path(
    delete,
    path = "/api/v1/billing/subscription",
    tag = "billing",
    params(CancelQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Cancelled, or already ended (in Stripe, or by an earlier cancel): the subscription as it now stands", body = SubscriptionView),
        (status = 404, description = "This customer never had a subscription (`not_found`)", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 502, response = PaymentProviderFailed),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authenticated,
    uri: Uri,
) -> Result<Json<SubscriptionView>, ApiError> {
    let query = CancelQuery::from_query(uri.query())?;
    subscription::cancel(&state, auth.customer, query.at_period_end.unwrap_or(false)).await.map(Json)
}

/// `POST /api/v1/billing/payment-method`, `POST|DELETE /api/v1/billing/subscription`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add_payment_method)).routes(routes!(subscribe, cancel))
}
