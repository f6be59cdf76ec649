//! The service's Stripe client: a thin typed layer over Stripe's REST API.
//!
//! Requests are `application/x-www-form-urlencoded` with Stripe's nested keys
//! (`metadata[source]=…`); every mutating call carries an `Idempotency-Key`, so a retried call
//! never creates a second object or a second charge. The secret key is sent as a bearer token
//! and never logged.
//!
//! Calls in flight are bounded (`STRIPE_MAX_CONCURRENCY`): a call that finds no free slot within
//! `STRIPE_QUEUE_TIMEOUT_MS` fails with [`StripeError::Busy`] without sending anything, so a
//! slow Stripe cannot pile up unbounded work (connections, memory, waiting clients).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;

/// What went wrong talking to Stripe.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error object.
    #[error("Stripe answered {}: {} {:?} {}", .0.status, .0.kind, .0.code, .0.message)]
    Api(Box<StripeApiError>),
    /// No usable answer: connection refused or dropped, timeout.
    #[error("Stripe could not be reached: {0}")]
    Transport(String),
    /// An answer we could not read.
    #[error("Stripe's answer could not be read: {0}")]
    Decode(String),
    /// Not sent: every slot for Stripe calls was busy (see `STRIPE_MAX_CONCURRENCY`).
    #[error("too many Stripe calls in flight: this one was not sent")]
    Busy,
}

/// Stripe's error object, the fields we read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeApiError {
    pub status: u16,
    /// `type`: `card_error`, `invalid_request_error`, `api_error`, `idempotency_error`…
    pub kind: String,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: String,
    /// The PaymentIntent the error is about (a declined charge carries it).
    pub payment_intent: Option<String>,
}

impl StripeError {
    /// A card was declined (Stripe's `card_error`): the customer's problem, not ours.
    pub fn is_card_error(&self) -> bool {
        matches!(self, StripeError::Api(error) if error.kind == "card_error")
    }

    /// Whether Stripe's answer proves that nothing was charged: a declined card, or a request
    /// Stripe refused as invalid before acting on it. Anything else (no answer, a timeout, a 5xx,
    /// a key still in use by a concurrent request) leaves the outcome unknown.
    pub fn proves_nothing_was_charged(&self) -> bool {
        match self {
            StripeError::Api(error) => {
                error.kind == "card_error"
                    || (error.kind == "invalid_request_error" && matches!(error.status, 400 | 404))
            }
            // Not sent at all.
            StripeError::Busy => true,
            StripeError::Transport(_) | StripeError::Decode(_) => false,
        }
    }

    /// Whether the request may have been carried out although no answer says so: no answer, an
    /// unreadable one, a 5xx, or a 409 (the idempotency key is in use by a request Stripe is
    /// still running). Sending it again with the same key then learns the outcome.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            StripeError::Transport(_) | StripeError::Decode(_) => true,
            StripeError::Api(error) => error.status >= 500 || error.status == 409,
            StripeError::Busy => false,
        }
    }

    /// Whether Stripe answered that the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StripeError::Api(error) if error.status == 404)
    }

    pub fn decline_code(&self) -> Option<&str> {
        match self {
            StripeError::Api(error) => error.decline_code.as_deref().or(error.code.as_deref()),
            _ => None,
        }
    }

    pub fn decline_message(&self) -> String {
        match self {
            StripeError::Api(error) => format!(
                "the card was declined ({}): {} Add another payment method with POST /api/v1/billing/payment-method.",
                self.decline_code().unwrap_or("declined"),
                error.message
            ),
            other => other.to_string(),
        }
    }
}

/// Form parameters in order, with Stripe's bracketed keys (`metadata[fix_id]`), sent as
/// `application/x-www-form-urlencoded` by reqwest's encoder.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Form {
        Form::default()
    }

    pub fn set(mut self, key: &str, value: impl ToString) -> Form {
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    pub fn metadata(self, key: &str, value: impl ToString) -> Form {
        self.set(&format!("metadata[{key}]"), value)
    }
}

/// An id as a URL path segment: ids are `[A-Za-z0-9_]`; anything else is percent-encoded, so an
/// id can never change the path it is put in.
pub fn path_segment(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// A Stripe customer, the fields we read.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeCustomer {
    pub id: String,
}

/// A Stripe list object.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeList<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

impl<T> StripeList<T> {
    /// The cursor of the next page (`starting_after`): the last object's id, while Stripe says
    /// there is more.
    pub fn next_after(&self, id: impl Fn(&T) -> &str) -> Option<String> {
        self.data.last().filter(|_| self.has_more).map(|last| id(last).to_string())
    }
}

/// The page of the list at `path` (with its query) after the object `after`, or its first page.
pub fn page_path(path: &str, after: Option<&str>) -> String {
    match after {
        Some(after) => format!("{path}&starting_after={}", path_segment(after)),
        None => path.to_string(),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripePrice {
    pub id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StripeCard {
    #[serde(default)]
    pub brand: String,
    #[serde(default)]
    pub last4: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripePaymentMethod {
    pub id: String,
    #[serde(default)]
    pub card: Option<StripeCard>,
}

/// A PaymentIntent, the fields the service reads and checks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StripePaymentIntent {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub amount: i64,
    #[serde(default)]
    pub currency: String,
    /// The customer's id (or the expanded customer).
    #[serde(default, deserialize_with = "id_or_object")]
    pub customer: Option<String>,
    #[serde(default, deserialize_with = "metadata")]
    pub metadata: BTreeMap<String, String>,
    /// Why the last attempt failed, when it did.
    #[serde(default)]
    pub last_payment_error: Option<StripePaymentError>,
}

/// A PaymentIntent's `last_payment_error`, the fields we read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StripePaymentError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// An invoice, the fields the service checks before it grants credits for it.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeInvoice {
    pub id: String,
    #[serde(default, deserialize_with = "id_or_object")]
    pub customer: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Where API versions before 2025-03-31 put the subscription.
    #[serde(default, deserialize_with = "id_or_object")]
    pub subscription: Option<String>,
    /// Where newer ones put it: `parent.subscription_details.subscription`.
    #[serde(default)]
    pub parent: Option<Value>,
}

impl StripeInvoice {
    /// The subscription the invoice bills, wherever the API version puts it.
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription.as_deref().or_else(|| {
            let named = &self.parent.as_ref()?["subscription_details"]["subscription"];
            named.as_str().or_else(|| named["id"].as_str())
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeSubscriptionItem {
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeSubscription {
    pub id: String,
    /// The customer's id (or the expanded customer).
    #[serde(default, deserialize_with = "id_or_object")]
    pub customer: Option<String>,
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub current_period_end: Option<i64>,
    #[serde(default)]
    pub items: Option<StripeList<StripeSubscriptionItem>>,
    #[serde(default, deserialize_with = "metadata")]
    pub metadata: BTreeMap<String, String>,
}

/// Stripe's `metadata`: string values by key (a missing or `null` one is empty; a value that
/// is not a string is left out, since Stripe never sends one).
fn metadata<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    let Some(Value::Object(map)) = value else { return Ok(BTreeMap::new()) };
    Ok(map.into_iter().filter_map(|(key, value)| Some((key, value.as_str()?.to_string()))).collect())
}

/// An id field that Stripe may expand into the object it names.
fn id_or_object<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| value.as_str().or_else(|| value["id"].as_str()).map(str::to_string)))
}

impl StripeSubscription {
    /// Whether two fetches of a subscription say the same about it (what the service stores).
    pub fn same_state(&self, other: &StripeSubscription) -> bool {
        self.status == other.status
            && self.cancel_at_period_end == other.cancel_at_period_end
            && self.period_end() == other.period_end()
    }

    /// The period end, where the API version puts it (on the subscription in older versions,
    /// on its items in newer ones).
    pub fn period_end(&self) -> Option<i64> {
        self.current_period_end.or_else(|| self.items.as_ref()?.data.first()?.current_period_end)
    }
}

#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base_url: String,
    secret_key: String,
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl StripeClient {
    /// A client with at most `max_in_flight` calls at once, each waiting at most `queue_timeout`
    /// for its turn.
    pub fn new(
        base_url: &str,
        secret_key: &str,
        timeout: Duration,
        max_in_flight: usize,
        queue_timeout: Duration,
    ) -> Result<StripeClient, StripeError> {
        let http = crate::tls::client_builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|err| StripeError::Transport(err.to_string()))?;
        Ok(StripeClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key: secret_key.to_string(),
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
            queue_timeout,
        })
    }

    /// `POST /v1/customers`; says whether Stripe replayed an earlier answer under the key.
    pub async fn create_customer(
        &self,
        form: Form,
        idempotency_key: &str,
    ) -> Result<(StripeCustomer, bool), StripeError> {
        self.post_noting_replay("/v1/customers", form, idempotency_key).await
    }

    /// `POST /v1/payment_methods/{id}/attach`, under the caller's idempotency key (one key per
    /// intent: never one derived from the card, which a later request may attach again).
    pub async fn attach_payment_method(
        &self,
        payment_method: &str,
        customer: &str,
        idempotency_key: &str,
    ) -> Result<StripePaymentMethod, StripeError> {
        let form = Form::new().set("customer", customer);
        self.post(&format!("/v1/payment_methods/{}/attach", path_segment(payment_method)), form, idempotency_key).await
    }

    /// Makes a payment method the customer's default for invoices and off-session charges.
    pub async fn set_default_payment_method(
        &self,
        customer: &str,
        payment_method: &str,
        idempotency_key: &str,
    ) -> Result<StripeCustomer, StripeError> {
        let form = Form::new().set("invoice_settings[default_payment_method]", payment_method);
        self.post(&format!("/v1/customers/{}", path_segment(customer)), form, idempotency_key).await
    }

    /// The active price with `lookup_key`, if there is one.
    pub async fn find_price(&self, lookup_key: &str) -> Result<Option<StripePrice>, StripeError> {
        let list: StripeList<StripePrice> =
            self.get(&format!("/v1/prices?active=true&lookup_keys[]={}", path_segment(lookup_key))).await?;
        Ok(list.data.into_iter().next())
    }

    /// Creates a monthly recurring USD price (and its product).
    pub async fn create_monthly_price(
        &self,
        lookup_key: &str,
        product_name: &str,
        unit_amount: i64,
    ) -> Result<StripePrice, StripeError> {
        let form = Form::new()
            .set("currency", "usd")
            .set("unit_amount", unit_amount)
            .set("recurring[interval]", "month")
            .set("lookup_key", lookup_key)
            .set("product_data[name]", product_name);
        self.post("/v1/prices", form, &format!("price-{lookup_key}-{unit_amount}")).await
    }

    /// POSTs a form and reads the answer as `T`.
    pub async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: Form,
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        let request = self.keyed_post(path, form, idempotency_key);
        self.send(request).await
    }

    /// A form POST to `path` under an idempotency key, ready to send.
    fn keyed_post(&self, path: &str, form: Form, idempotency_key: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", idempotency_key)
            .form(&form.0)
    }

    /// POSTs a form like [`StripeClient::post`], and says whether Stripe replayed an earlier answer to the same
    /// key (`Idempotent-Replayed: true`) rather than carrying the request out now.
    pub async fn post_noting_replay<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: Form,
        idempotency_key: &str,
    ) -> Result<(T, bool), StripeError> {
        let request = self.keyed_post(path, form, idempotency_key);
        self.send_noting_replay(request).await
    }

    /// GETs a resource and reads the answer as `T`.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> Result<T, StripeError> {
        let request = self.http.get(format!("{}{path_and_query}", self.base_url)).bearer_auth(&self.secret_key);
        self.send(request).await
    }

    /// DELETEs a resource and reads the answer as `T`.
    pub async fn delete<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, StripeError> {
        let request = self.http.delete(format!("{}{path}", self.base_url)).bearer_auth(&self.secret_key);
        self.send(request).await
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, StripeError> {
        Ok(self.send_noting_replay(request).await?.0)
    }

    async fn send_noting_replay<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(T, bool), StripeError> {
        let _slot = match tokio::time::timeout(self.queue_timeout, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            _ => return Err(StripeError::Busy),
        };
        let response = request.send().await.map_err(|err| StripeError::Transport(err.to_string()))?;
        let status = response.status();
        let replayed = response.headers().get("idempotent-replayed").is_some_and(|value| value == "true");
        let body = response.bytes().await.map_err(|err| StripeError::Transport(err.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map(|answer| (answer, replayed))
                .map_err(|err| StripeError::Decode(err.to_string()));
        }
        let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let error = &error["error"];
        let text = |key: &str| error[key].as_str().map(str::to_string);
        Err(StripeError::Api(Box::new(StripeApiError {
            status: status.as_u16(),
            kind: text("type").unwrap_or_else(|| "api_error".into()),
            code: text("code"),
            decline_code: text("decline_code"),
            message: text("message").unwrap_or_else(|| format!("HTTP {status}")),
            payment_intent: error["payment_intent"]["id"].as_str().map(str::to_string),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_pages_on_from_its_last_object_while_stripe_has_more() {
        let page =
            |ids: &[&str], has_more| StripeList { data: ids.iter().map(|id| id.to_string()).collect(), has_more };
        assert_eq!(page(&["cus_1", "cus_2"], true).next_after(|id| id), Some("cus_2".to_string()));
        assert_eq!(page(&["cus_1", "cus_2"], false).next_after(|id| id), None);
        assert_eq!(page(&[], true).next_after(|id| id), None, "an empty page ends the list");
        assert_eq!(page_path("/v1/customers?limit=100", None), "/v1/customers?limit=100");
        assert_eq!(page_path("/v1/customers?limit=100", Some("cus_2")), "/v1/customers?limit=100&starting_after=cus_2");
    }

    #[test]
    fn path_segments_cannot_escape_their_place_in_the_path() {
        assert_eq!(path_segment("sub_123"), "sub_123");
        assert_eq!(path_segment("../customers/cus_1"), "..%2Fcustomers%2Fcus_1");
        assert_eq!(path_segment("a?b#c"), "a%3Fb%23c");
    }

    #[test]
    fn a_card_error_is_told_apart_from_an_outage() {
        let declined = StripeError::Api(Box::new(StripeApiError {
            status: 402,
            kind: "card_error".into(),
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            message: "Your card has insufficient funds.".into(),
            payment_intent: Some("pi_1".into()),
        }));
        assert!(declined.is_card_error());
        assert_eq!(declined.decline_code(), Some("insufficient_funds"));
        assert!(!StripeError::Transport("timeout".into()).is_card_error());
        assert!(declined.proves_nothing_was_charged());
        assert!(!StripeError::Transport("timeout".into()).proves_nothing_was_charged());
        let server_error = StripeError::Api(Box::new(StripeApiError {
            status: 500,
            kind: "api_error".into(),
            code: None,
            decline_code: None,
            message: "boom".into(),
            payment_intent: None,
        }));
        assert!(!server_error.proves_nothing_was_charged(), "a 500 may come after the charge was made");
    }
}
