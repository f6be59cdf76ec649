//! Rules that hold on every route the fake serves (walked from `billing_fakes::stripe::ROUTES`, so
//! a new route is covered the day it is added): an unknown parameter is a 400 naming it, and a URL
//! the fake does not serve is Stripe's 404 "Unrecognized request URL".

use std::collections::HashMap;

use billing_fakes::stripe::ROUTES;

use crate::helpers::{KEY, TestStripe};

/// One object of every kind, by the path segment that names its kind.
async fn one_of_everything(stripe: &TestStripe) -> HashMap<&'static str, String> {
    let (customer, pm) = stripe.customer_with_card("all@example.com", "pm_card_visa").await;
    let price = stripe.pro_price().await;
    let product = stripe.get(&format!("/v1/prices/{price}")).await.body["product"].as_str().unwrap().to_string();
    let sub =
        stripe.post("/v1/subscriptions", &[("customer", customer.as_str()), ("items[0][price]", price.as_str())]).await;
    let item = sub.body["items"]["data"][0]["id"].as_str().unwrap().to_string();
    stripe
        .post(&format!("/v1/subscriptions/{}", sub.id()), &[("items[0][id]", &item), ("items[0][quantity]", "2")])
        .await;
    let invoice_item = stripe.get("/v1/invoiceitems").await.body["data"][0]["id"].as_str().unwrap().to_string();
    let intent = stripe.charge(&customer, 5000).await;
    let charge = intent.body["latest_charge"].as_str().unwrap().to_string();
    let refund = stripe.post("/v1/refunds", &[("charge", charge.as_str()), ("amount", "100")]).await.id();
    let setup = stripe.post("/v1/setup_intents", &[("customer", customer.as_str())]).await.id();
    let endpoint =
        stripe.post("/v1/webhook_endpoints", &[("url", "http://127.0.0.1:9/h"), ("enabled_events[]", "*")]).await.id();
    let clock = stripe.post("/v1/test_helpers/test_clocks", &[("frozen_time", "1767225600")]).await.id();
    let event = stripe.fake.events()[0]["id"].as_str().unwrap().to_string();
    HashMap::from([
        ("customers", customer.clone()),
        ("payment_methods", pm),
        ("products", product),
        ("prices", price),
        ("subscriptions", sub.id()),
        ("invoices", sub.body["latest_invoice"].as_str().unwrap().to_string()),
        ("invoiceitems", invoice_item),
        ("payment_intents", intent.id()),
        ("charges", charge),
        ("refunds", refund),
        ("setup_intents", setup),
        ("events", event),
        ("webhook_endpoints", endpoint),
        ("test_clocks", clock),
    ])
}

/// The parameters a route requires, so that only the unknown one can be wrong.
fn required(method: &str, pattern: &str, ids: &HashMap<&str, String>) -> Vec<(&'static str, String)> {
    let id = |kind: &str| ids[kind].clone();
    match (method, pattern) {
        ("POST", "/v1/payment_methods/{id}/attach") => vec![("customer", id("customers"))],
        ("POST", "/v1/products") => vec![("name", "x".into())],
        ("POST", "/v1/prices") => {
            vec![("currency", "usd".into()), ("unit_amount", "100".into()), ("product", id("products"))]
        }
        ("POST", "/v1/subscriptions") => vec![("customer", id("customers")), ("items[0][price]", id("prices"))],
        ("POST", "/v1/invoices/create_preview") => vec![("subscription", id("subscriptions"))],
        ("POST", "/v1/payment_intents") => vec![("amount", "100".into()), ("currency", "usd".into())],
        ("POST", "/v1/refunds") => vec![("payment_intent", id("payment_intents"))],
        ("POST", "/v1/webhook_endpoints") => {
            vec![("url", "http://127.0.0.1:9/h".into()), ("enabled_events[]", "*".into())]
        }
        ("POST", "/v1/test_helpers/test_clocks") => vec![("frozen_time", "1767225600".into())],
        ("POST", "/v1/test_helpers/test_clocks/{id}/advance") => vec![("frozen_time", "1767312000".into())],
        ("GET", "/v1/customers/search") => vec![("query", "email:'all@example.com'".into())],
        _ => Vec::new(),
    }
}

fn concrete(pattern: &str, ids: &HashMap<&str, String>) -> String {
    let kind = pattern.trim_start_matches("/v1/").trim_start_matches("test_helpers/").split('/').next().unwrap();
    pattern.replace("{id}", ids.get(kind).map(String::as_str).unwrap_or("x_1"))
}

#[tokio::test]
async fn an_unknown_parameter_is_a_400_naming_it_on_every_route() {
    let stripe = TestStripe::start().await;
    let ids = one_of_everything(&stripe).await;
    for route in ROUTES {
        let (method, pattern) = (route.method, route.path);
        let path = concrete(pattern, &ids);
        let mut form = required(method, pattern, &ids);
        form.push(("bogus_param", "1".into()));
        let request = match method {
            "POST" => stripe.http.post(stripe.url(&path)).form(&form),
            "DELETE" => stripe.http.delete(stripe.url(&path)).query(&form),
            _ => stripe.http.get(stripe.url(&path)).query(&form),
        };
        let answer = stripe.send(request.bearer_auth(KEY)).await;
        assert_eq!(
            (answer.status, answer.error_param(), answer.body["error"]["message"].as_str()),
            (400, "bogus_param", Some("Received unknown parameter: bogus_param")),
            "{method} {path}: {}",
            answer.raw
        );
    }
}

#[tokio::test]
async fn a_url_the_fake_does_not_serve_is_stripes_unrecognized_request_url_404() {
    let stripe = TestStripe::start().await;
    for (method, path) in [
        ("GET", "/v1/nothing_here"),
        ("DELETE", "/v1/invoices"),
        ("PATCH", "/v1/customers"),
        ("GET", "/v2/core/events"),
    ] {
        let request = stripe.http.request(method.parse().unwrap(), stripe.url(path)).bearer_auth(KEY);
        let answer = stripe.send(request).await;
        assert_eq!(answer.status, 404, "{method} {path}");
        assert_eq!(answer.body["error"]["type"], "invalid_request_error");
        assert_eq!(
            answer.body["error"]["message"],
            format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
            )
        );
        assert!(answer.body["error"].get("param").is_none());
    }
}
