//! The one place tests start a fake and talk to it: a real HTTP client sending Stripe's form
//! encoding with a test key, and shortcuts for the setup most journeys share.

use billing_fakes::StripeFake;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const KEY: &str = "sk_test_fake_123";

pub struct TestStripe {
    pub fake: StripeFake,
    pub http: reqwest::Client,
}

/// A response: status, parsed JSON body, headers, raw body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
    pub raw: String,
}

impl Answer {
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", self.raw)).to_string()
    }

    pub fn error_param(&self) -> &str {
        self.body["error"]["param"].as_str().unwrap_or_default()
    }
}

impl TestStripe {
    pub async fn start() -> TestStripe {
        TestStripe::on(StripeFake::start().await.expect("fake starts"))
    }

    /// Talks to a fake started some other way (e.g. from `StripeFake::builder()`).
    pub fn on(fake: StripeFake) -> TestStripe {
        TestStripe { fake, http: billing_fakes::tls::client() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.base_url())
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let raw = response.text().await.expect("body");
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Answer { status, body, headers, raw }
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(self.url(path)).bearer_auth(KEY).form(form)).await
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> Answer {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(KEY)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn post_idempotent(&self, path: &str, key: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(self.url(path)).bearer_auth(KEY).header("Idempotency-Key", key).form(form)).await
    }

    /// A POST pinned to an API version with the `Stripe-Version` header.
    pub async fn post_versioned(&self, path: &str, version: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(self.url(path)).bearer_auth(KEY).header("Stripe-Version", version).form(form)).await
    }

    /// A GET pinned to an API version with the `Stripe-Version` header.
    pub async fn get_versioned(&self, path_and_query: &str, version: &str) -> Answer {
        self.send(self.http.get(self.url(path_and_query)).bearer_auth(KEY).header("Stripe-Version", version)).await
    }

    pub async fn get(&self, path_and_query: &str) -> Answer {
        self.send(self.http.get(self.url(path_and_query)).bearer_auth(KEY)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.http.delete(self.url(path)).bearer_auth(KEY)).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        Self::answer(request.send().await.expect("request reaches the fake")).await
    }

    /// The JSON answer of a `GET` on the `/_fake/*` control API (which takes no key).
    pub async fn control_get(&self, path: &str) -> Value {
        Self::json_of(self.send(self.http.get(self.url(path))).await)
    }

    /// The JSON answer of a `POST` of `body` to the `/_fake/*` control API.
    pub async fn control_post(&self, path: &str, body: &Value) -> Value {
        Self::json_of(self.send(self.http.post(self.url(path)).json(body)).await)
    }

    fn json_of(answer: Answer) -> Value {
        serde_json::from_str(&answer.raw).unwrap_or_else(|e| panic!("not JSON ({e}): {}", answer.raw))
    }

    pub async fn customer(&self, email: &str) -> String {
        let answer = self.post("/v1/customers", &[("email", email)]).await;
        assert_eq!(answer.status, 200, "{}", answer.raw);
        answer.id()
    }

    /// A customer with `token` attached and set as the invoice default; returns (customer, pm).
    pub async fn customer_with_card(&self, email: &str, token: &str) -> (String, String) {
        let customer = self.customer(email).await;
        let pm = self.post(&format!("/v1/payment_methods/{token}/attach"), &[("customer", &customer)]).await;
        assert_eq!(pm.status, 200, "{}", pm.raw);
        let pm = pm.id();
        let updated =
            self.post(&format!("/v1/customers/{customer}"), &[("invoice_settings[default_payment_method]", &pm)]).await;
        assert_eq!(updated.status, 200, "{}", updated.raw);
        (customer, pm)
    }

    /// A $599/month Pro price with lookup key `pro_monthly`.
    pub async fn pro_price(&self) -> String {
        let price = self
            .post(
                "/v1/prices",
                &[
                    ("unit_amount", "59900"),
                    ("currency", "usd"),
                    ("recurring[interval]", "month"),
                    ("product_data[name]", "Pro"),
                    ("lookup_key", "pro_monthly"),
                ],
            )
            .await;
        assert_eq!(price.status, 200, "{}", price.raw);
        price.id()
    }

    /// A Pro subscription paid with `token`, on a test clock at `start`; returns (clock, customer, subscription).
    pub async fn pro_on_clock(&self, start: i64, token: &str) -> (String, String, Answer) {
        let clock = self.post("/v1/test_helpers/test_clocks", &[("frozen_time", &start.to_string())]).await.id();
        let customer = self
            .post(
                "/v1/customers",
                &[
                    ("email", "pro@example.com"),
                    ("test_clock", &clock),
                    ("payment_method", token),
                    ("invoice_settings[default_payment_method]", token),
                ],
            )
            .await
            .id();
        let price = self.pro_price().await;
        let subscription = self
            .post("/v1/subscriptions", &[("customer", customer.as_str()), ("items[0][price]", price.as_str())])
            .await;
        assert_eq!(subscription.status, 200, "{}", subscription.raw);
        (clock, customer, subscription)
    }

    /// A monthly price of `cents` for a product named `name` (no lookup key).
    pub async fn monthly_price(&self, name: &str, cents: i64) -> String {
        let price = self
            .post(
                "/v1/prices",
                &[
                    ("unit_amount", &cents.to_string()),
                    ("currency", "usd"),
                    ("recurring[interval]", "month"),
                    ("product_data[name]", name),
                ],
            )
            .await;
        assert_eq!(price.status, 200, "{}", price.raw);
        price.id()
    }

    /// A confirmed off-session charge of `cents` on the customer's default card.
    pub async fn charge(&self, customer: &str, cents: i64) -> Answer {
        self.post(
            "/v1/payment_intents",
            &[
                ("amount", &cents.to_string()),
                ("currency", "usd"),
                ("customer", customer),
                ("confirm", "true"),
                ("off_session", "true"),
            ],
        )
        .await
    }

    /// Advances a test clock through the API (`POST .../advance`) and polls, with a deadline,
    /// until it is `ready` again; returns the clock.
    pub async fn advance_clock_over_http(&self, clock: &str, to: i64) -> Value {
        let advanced = self
            .post(&format!("/v1/test_helpers/test_clocks/{clock}/advance"), &[("frozen_time", &to.to_string())])
            .await;
        assert_eq!(advanced.status, 200, "{}", advanced.raw);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let fetched = self.get(&format!("/v1/test_helpers/test_clocks/{clock}")).await;
            if fetched.body["status"] == "ready" {
                return fetched.body;
            }
            assert!(std::time::Instant::now() < deadline, "clock {clock} not ready after 10 s: {}", fetched.raw);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Makes `token` the customer's default payment method for invoices; returns the `pm_...`.
    pub async fn switch_default_card(&self, customer: &str, token: &str) -> String {
        let pm = self.post(&format!("/v1/payment_methods/{token}/attach"), &[("customer", customer)]).await;
        assert_eq!(pm.status, 200, "{}", pm.raw);
        let pm = pm.id();
        let updated =
            self.post(&format!("/v1/customers/{customer}"), &[("invoice_settings[default_payment_method]", &pm)]).await;
        assert_eq!(updated.status, 200, "{}", updated.raw);
        pm
    }

    pub fn event_types(&self) -> Vec<String> {
        self.fake.events().iter().map(|e| e["type"].as_str().unwrap_or_default().to_string()).collect()
    }
}

/// A local HTTP server that records webhook deliveries, optionally failing the first few.
pub struct WebhookReceiver {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    failures_left: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        Self::failing_first(0).await
    }

    /// Answers 500 to the first `n` deliveries.
    pub async fn failing_first(n: usize) -> WebhookReceiver {
        use axum::http::{HeaderMap, StatusCode};
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};

        let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let failures_left = Arc::new(AtomicUsize::new(n));
        let (log, failures) = (received.clone(), failures_left.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (log, failures) = (log.clone(), failures.clone());
                async move {
                    let signature =
                        headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                    log.lock().unwrap().push((signature, body));
                    let fail = failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                    if fail { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { url, received, failures_left, task }
    }

    /// An endpoint that accepts the connection and never answers.
    pub async fn hanging() -> WebhookReceiver {
        let received: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
        let log = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push((String::new(), body));
                    std::future::pending::<()>().await;
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { url, received, failures_left: Default::default(), task }
    }

    /// (Stripe-Signature header, raw body) of every delivery received, in arrival order.
    pub fn received(&self) -> Vec<(String, String)> {
        self.received.lock().unwrap().clone()
    }

    pub fn failures_left(&self) -> usize {
        self.failures_left.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls `check` until it is true or `deadline` passes (no fixed sleeps in tests).
pub async fn eventually(deadline: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + deadline;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
