//! The service's Stripe client: a thin typed layer over Stripe's REST API.
//!
//! Requests are `application/x-www-form-urlencoded` with Stripe's nested keys
//! (`metadata[source]=…`); every mutating call carries an `Idempotency-Key`, so a retried call
//! never creates a second object or a second charge. The secret key is sent as a bearer token
//! and never logged.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// What went wrong talking to Stripe.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error object.
    #[error("Stripe answered {status}: {kind} {code:?} {message}")]
    Api { status: u16, kind: String, code: Option<String>, decline_code: Option<String>, message: String },
    /// No usable answer: connection refused or dropped, timeout.
    #[error("Stripe could not be reached: {0}")]
    Transport(String),
    /// An answer we could not read.
    #[error("Stripe's answer could not be read: {0}")]
    Decode(String),
}

impl StripeError {
    /// A card was declined (Stripe's `card_error`): the customer's problem, not ours.
    pub fn is_card_error(&self) -> bool {
        matches!(self, StripeError::Api { kind, .. } if kind == "card_error")
    }

    pub fn decline_code(&self) -> Option<&str> {
        match self {
            StripeError::Api { decline_code, code, .. } => decline_code.as_deref().or(code.as_deref()),
            _ => None,
        }
    }

    pub fn decline_message(&self) -> String {
        match self {
            StripeError::Api { message, .. } => format!(
                "the card was declined ({}): {message} Add another payment method with POST /api/v1/billing/payment-method.",
                self.decline_code().unwrap_or("declined")
            ),
            other => other.to_string(),
        }
    }
}

/// Form parameters in order, with Stripe's bracketed keys.
#[derive(Debug, Default, Clone)]
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

    fn encode(&self) -> String {
        let mut out = String::new();
        for (index, (key, value)) in self.0.iter().enumerate() {
            if index > 0 {
                out.push('&');
            }
            percent_encode(key, &mut out);
            out.push('=');
            percent_encode(value, &mut out);
        }
        out
    }
}

/// An id as a URL path segment: ids are `[A-Za-z0-9_]`, anything else is escaped.
pub fn path_segment(id: &str) -> String {
    let mut out = String::new();
    percent_encode(id, &mut out);
    out
}

/// application/x-www-form-urlencoded, keeping `[`, `]` readable as Stripe's clients do.
fn percent_encode(input: &str, out: &mut String) {
    for byte in input.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'[' | b']' => out.push(byte as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
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

#[derive(Debug, Clone, Deserialize)]
pub struct StripePaymentIntent {
    pub id: String,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeSubscriptionItem {
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeSubscription {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub current_period_end: Option<i64>,
    #[serde(default)]
    pub items: Option<StripeList<StripeSubscriptionItem>>,
}

impl StripeSubscription {
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
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl StripeClient {
    pub fn new(base_url: &str, secret_key: &str, timeout: Duration) -> Result<StripeClient, StripeError> {
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
        })
    }

    /// `POST /v1/customers`.
    pub async fn create_customer(&self, form: Form, idempotency_key: &str) -> Result<StripeCustomer, StripeError> {
        self.post("/v1/customers", form, idempotency_key).await
    }

    /// `POST /v1/payment_methods/{id}/attach`.
    pub async fn attach_payment_method(
        &self,
        payment_method: &str,
        customer: &str,
    ) -> Result<StripePaymentMethod, StripeError> {
        let form = Form::new().set("customer", customer);
        let key = format!("attach-{customer}-{payment_method}");
        self.post(&format!("/v1/payment_methods/{}/attach", path_segment(payment_method)), form, &key).await
    }

    /// Makes a payment method the customer's default for invoices and off-session charges.
    pub async fn set_default_payment_method(
        &self,
        customer: &str,
        payment_method: &str,
    ) -> Result<StripeCustomer, StripeError> {
        let form = Form::new().set("invoice_settings[default_payment_method]", payment_method);
        let key = format!("default-pm-{customer}-{payment_method}");
        self.post(&format!("/v1/customers/{}", path_segment(customer)), form, &key).await
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
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", idempotency_key)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.encode());
        self.send(request).await
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
        let response = request.send().await.map_err(|err| StripeError::Transport(err.to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| StripeError::Transport(err.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|err| StripeError::Decode(err.to_string()));
        }
        let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let error = &error["error"];
        let text = |key: &str| error[key].as_str().map(str::to_string);
        Err(StripeError::Api {
            status: status.as_u16(),
            kind: text("type").unwrap_or_else(|| "api_error".into()),
            code: text("code"),
            decline_code: text("decline_code"),
            message: text("message").unwrap_or_else(|| format!("HTTP {status}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_stripe_brackets_and_escape_the_rest() {
        let form = Form::new().set("email", "a+b@example.com").metadata("source", "gh marketplace");
        assert_eq!(form.encode(), "email=a%2Bb%40example.com&metadata[source]=gh+marketplace");
    }

    #[test]
    fn a_card_error_is_told_apart_from_an_outage() {
        let declined = StripeError::Api {
            status: 402,
            kind: "card_error".into(),
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            message: "Your card has insufficient funds.".into(),
        };
        assert!(declined.is_card_error());
        assert_eq!(declined.decline_code(), Some("insufficient_funds"));
        assert!(!StripeError::Transport("timeout".into()).is_card_error());
    }
}
