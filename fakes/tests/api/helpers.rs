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
        TestStripe { fake: StripeFake::start().await.expect("fake starts"), http: reqwest::Client::new() }
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

    pub async fn get(&self, path_and_query: &str) -> Answer {
        self.send(self.http.get(self.url(path_and_query)).bearer_auth(KEY)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.http.delete(self.url(path)).bearer_auth(KEY)).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        Self::answer(request.send().await.expect("request reaches the fake")).await
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
        let updated = self
            .post(&format!("/v1/customers/{customer}"), &[("invoice_settings[default_payment_method]", &pm)])
            .await;
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

    pub fn event_types(&self) -> Vec<String> {
        self.fake.events().iter().map(|e| e["type"].as_str().unwrap_or_default().to_string()).collect()
    }
}
