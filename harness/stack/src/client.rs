//! A typed client of the billing service's HTTP API, as a customer's code would use it.
//!
//! Each call returns the parsed answer on success, or an [`ApiFailure`] carrying the status
//! and the JSON error body, so a test can assert on either.

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::requests::{ApiFailure, ApiRequest, body_value};

/// A signup's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Signup {
    pub customer_id: String,
    pub email: String,
    pub source: String,
    pub plan: String,
    pub credit_balance: i64,
    pub stripe_customer_id: String,
    pub api_key: String,
    pub api_key_id: String,
}

/// Credentials vended by `POST /api/v1/credentials/exchange`.
#[derive(Debug, Clone, Deserialize)]
pub struct VendedCredentials {
    pub credentials: Vec<VendedCredential>,
    pub expires_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VendedCredential {
    pub provider: String,
    pub token: String,
    pub expires_at: String,
}

/// A key just made by `POST /api/v1/api-keys` (the only time `api_key` is shown).
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedApiKey {
    pub id: String,
    pub api_key: String,
    pub prefix: String,
    pub name: Option<String>,
    pub created_at: String,
}

#[derive(Clone)]
pub struct ApiClient {
    base_url: String,
    http: reqwest::Client,
    api_key: Option<String>,
}

/// The status and the body of an answer: JSON when it parses, else the text as a JSON string, `null` when empty.
pub async fn status_and_body(response: reqwest::Response) -> anyhow::Result<(StatusCode, Value)> {
    let status = response.status();
    Ok((status, body_value(&response.bytes().await?)))
}

impl ApiClient {
    pub fn new(base_url: &str, http: reqwest::Client) -> ApiClient {
        ApiClient { base_url: base_url.trim_end_matches('/').to_string(), http, api_key: None }
    }

    /// The same client, authenticating with `api_key`.
    pub fn with_key(&self, api_key: &str) -> ApiClient {
        ApiClient { api_key: Some(api_key.to_string()), ..self.clone() }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API key this client authenticates with, if any.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// Any request, with a JSON body when given; the raw status and body back.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<(StatusCode, Value)> {
        self.send_with_headers(method, path, body, &[]).await
    }

    /// Like [`ApiClient::send`], with extra headers.
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = ApiRequest::any(method, path, body.as_ref());
        for (name, value) in headers {
            request.headers.push((name.parse()?, value.parse()?));
        }
        let (status, bytes) = self.execute(&request).await?;
        Ok((status, body_value(&bytes)))
    }

    /// A request to `path`, authenticated with the client's key if it has one, for whatever the typed calls do not
    /// cover (raw bodies, response headers).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base_url));
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Sends a request built by [`ApiRequest`], authenticated with this client's key; the raw
    /// status and body back.
    pub async fn execute(&self, request: &ApiRequest) -> anyhow::Result<(StatusCode, bytes::Bytes)> {
        let (status, _, body) = self.execute_with_headers(request).await?;
        Ok((status, body))
    }

    /// Like [`ApiClient::execute`], with the answer's headers too (`Retry-After`, `Location`…).
    pub async fn execute_with_headers(
        &self,
        request: &ApiRequest,
    ) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, bytes::Bytes)> {
        let mut builder = self.http.request(request.method.clone(), format!("{}{}", self.base_url, request.path));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().await?;
        let (status, headers) = (response.status(), response.headers().clone());
        Ok((status, headers, response.bytes().await?))
    }

    async fn call<T: DeserializeOwned>(&self, request: ApiRequest) -> anyhow::Result<Result<T, ApiFailure>> {
        let (status, body) = self.execute(&request).await?;
        Ok(request.decode(status, &body))
    }

    /// `POST /api/v1/customers`.
    pub async fn signup(
        &self,
        email: &str,
        name: &str,
        source: Option<&str>,
    ) -> anyhow::Result<Result<Signup, ApiFailure>> {
        self.call(ApiRequest::signup(email, name, source)).await
    }

    /// `GET /api/v1/usage`.
    pub async fn usage(&self) -> anyhow::Result<Result<Value, ApiFailure>> {
        self.call(ApiRequest::usage(None, None)).await
    }

    /// `POST /api/v1/billing/payment-method` with consent given (or not).
    pub async fn add_payment_method(
        &self,
        payment_method: &str,
        consent: bool,
    ) -> anyhow::Result<Result<Value, ApiFailure>> {
        self.call(ApiRequest::add_payment_method(payment_method, consent)).await
    }

    /// `POST /api/v1/billing/subscription` for Pro.
    pub async fn subscribe_to_pro(&self) -> anyhow::Result<Result<Value, ApiFailure>> {
        self.call(ApiRequest::subscribe_to_pro()).await
    }

    /// `DELETE /api/v1/billing/subscription?at_period_end=…`.
    pub async fn cancel_subscription(&self, at_period_end: bool) -> anyhow::Result<Result<Value, ApiFailure>> {
        let path = format!("/api/v1/billing/subscription?at_period_end={at_period_end}");
        self.call(ApiRequest::any(Method::DELETE, &path, None)).await
    }

    /// `POST /api/v1/fixes`.
    pub async fn record_fix(&self, description: &str) -> anyhow::Result<Result<Value, ApiFailure>> {
        self.call(ApiRequest::any(Method::POST, "/api/v1/fixes", Some(&json!({ "description": description })))).await
    }

    /// `POST /api/v1/fixes` with an `Idempotency-Key`: a retry with the same key is the same fix,
    /// never charged twice.
    pub async fn record_fix_with_key(
        &self,
        description: &str,
        idempotency_key: &str,
    ) -> anyhow::Result<Result<Value, ApiFailure>> {
        let path = "/api/v1/fixes";
        let body = json!({ "description": description });
        let (status, body) =
            self.send_with_headers(Method::POST, path, Some(body), &[("idempotency-key", idempotency_key)]).await?;
        if status.is_success() {
            Ok(Ok(body))
        } else {
            Ok(Err(ApiFailure { method: "POST".into(), path: path.into(), status, body }))
        }
    }

    /// `GET /api/v1/fixes/{id}`: where a fix is (paid, pending, failed).
    pub async fn fix(&self, fix_id: &str) -> anyhow::Result<Result<Value, ApiFailure>> {
        self.call(ApiRequest::any(Method::GET, &format!("/api/v1/fixes/{fix_id}"), None)).await
    }

    /// `POST /api/v1/credentials/exchange`; `ttl_seconds` is left out when `None`.
    pub async fn exchange_credentials(
        &self,
        providers: &[&str],
        ttl_seconds: Option<u64>,
    ) -> anyhow::Result<Result<VendedCredentials, ApiFailure>> {
        self.call(ApiRequest::exchange_credentials(providers, ttl_seconds)).await
    }

    /// `POST /api/v1/api-keys` (unnamed).
    pub async fn create_api_key(&self) -> anyhow::Result<Result<CreatedApiKey, ApiFailure>> {
        self.call(ApiRequest::create_api_key()).await
    }

    /// `GET /api/v1/api-keys`: the raw answer, so a test can check what it does not contain.
    pub async fn list_api_keys(&self) -> anyhow::Result<Result<Value, ApiFailure>> {
        self.call(ApiRequest::any(Method::GET, "/api/v1/api-keys", None)).await
    }

    /// `DELETE /api/v1/api-keys/{id}`.
    pub async fn revoke_api_key(&self, id: &str) -> anyhow::Result<Result<(), ApiFailure>> {
        let path = format!("/api/v1/api-keys/{id}");
        let (status, body) = self.send(Method::DELETE, &path, None).await?;
        if status.is_success() {
            Ok(Ok(()))
        } else {
            Ok(Err(ApiFailure { method: "DELETE".into(), path, status, body }))
        }
    }
}
