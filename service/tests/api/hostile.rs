//! The service tried as a hostile client would (issue 9, items 5–13): unbounded labels, huge
//! signature headers, overflowing timestamps, slow Stripe and pool exhaustion, trickling
//! clients, text errors, abuse limits, and invoices about subscriptions that are not there.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use billing_fakes::Fault;
use billing_fakes::stripe::stripe_signature;
use billing_stack::{Stack, StackOptions, wait_until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn metrics_text(stack: &Stack) -> String {
    stack.metrics().await.unwrap()
}

#[tokio::test]
async fn invented_methods_and_paths_never_add_metric_series() {
    let stack = Stack::start().await.unwrap();
    let http = billing_service::tls::client();
    for n in 0..200 {
        let method = Method::from_bytes(format!("M{n}{}", "X".repeat(1_000)).as_bytes()).unwrap();
        let response = http.request(method, format!("{}/nowhere/{n}", stack.service_url)).send().await.unwrap();
        assert!(response.status().is_client_error());
    }
    let text = metrics_text(&stack).await;
    let series = text.lines().filter(|line| line.starts_with("billing_http_requests_total{")).count();
    assert!(series <= 3, "{series} series:\n{text}");
    assert!(text.contains(r#"method="other""#) && text.contains(r#"route="unmatched""#), "{text}");
    assert!(text.len() < 20_000, "/metrics is {} bytes", text.len());
}

fn webhook_secret_stack() -> StackOptions {
    StackOptions { deliver_webhooks: false, ..Default::default() }
}

#[tokio::test]
async fn a_signature_header_with_thousands_of_entries_is_refused_as_too_large() {
    let stack = Stack::start_with(webhook_secret_stack()).await.unwrap();
    let body = vec![b'x'; 512 * 1024];
    let now = chrono::Utc::now().timestamp();
    let many = (0..4_000).map(|_| format!("v1={}", "ab".repeat(32))).collect::<Vec<_>>().join(",");

    let (status, answer) = stack.deliver_raw(body, Some(&format!("t={now},{many}"))).await.unwrap();

    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_signature");
    assert!(answer["error"]["message"].as_str().unwrap().contains("too many signatures"), "{answer}");
}

#[tokio::test]
async fn extreme_signature_timestamps_are_400_not_a_panic() {
    let stack = Stack::start_with(webhook_secret_stack()).await.unwrap();
    let body = br#"{"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":{}}}"#.to_vec();
    for t in [i64::MIN.to_string(), i64::MAX.to_string(), "-1".into(), "99999999999999999999".into()] {
        let header = format!("t={t},v1={}", "00".repeat(32));
        let (status, answer) = stack.deliver_raw(body.clone(), Some(&header)).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "t={t}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature", "t={t}");
    }
    // Still serving.
    let (status, _) = stack.api().send(Method::GET, "/healthz", None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_slow_stripe_during_signups_does_not_starve_other_customers_of_connections() {
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| config.database.max_connections = 5),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, existing) = stack.signed_up_customer("existing@example.com").await.unwrap();
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").times(40).latency(Duration::from_secs(2)));

    let signups: Vec<_> = (0..40)
        .map(|n| {
            let api = stack.api();
            tokio::spawn(async move { api.signup(&format!("slow{n}@example.com"), "Slow", None).await })
        })
        .collect();
    wait_until("the signups to reach Stripe", Duration::from_secs(5), || async {
        Ok(stack.stripe.armed_faults().is_empty().then_some(()))
    })
    .await
    .unwrap();

    // Forty signups are waiting on Stripe; another customer is served meanwhile.
    let usage = existing.usage().await.unwrap();
    assert!(usage.is_ok(), "{usage:?}");
    assert!(signups.iter().all(|signup| !signup.is_finished()), "the signups were still waiting on Stripe");
    for signup in signups {
        signup.await.unwrap().unwrap().unwrap();
    }
    assert_eq!(stack.count_rows("customers").await.unwrap(), 41);
}

/// Reads from `stream` until the server closes it or `deadline` passes; the bytes read.
async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let until = Instant::now() + deadline;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return None,
        }
    }
}

async fn impatient_server() -> Stack {
    Stack::start_with(StackOptions {
        configure: Box::new(|config| {
            config.server.header_read_timeout_ms = 300;
            config.server.body_read_timeout_ms = 300;
        }),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn address(stack: &Stack) -> SocketAddr {
    stack.config.server.bind_addr
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let stack = impatient_server().await;
    let mut stream = TcpStream::connect(address(&stack)).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();

    let closed = read_until_closed(&mut stream, Duration::from_secs(10)).await;

    assert!(closed.is_some(), "the connection is still open 10 s later");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let stack = impatient_server().await;
    let mut stream = TcpStream::connect(address(&stack)).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();

    let received = read_until_closed(&mut stream, Duration::from_secs(10)).await.expect("closed after idling");

    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"), "the request itself was answered");
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_a_json_408() {
    let stack = impatient_server().await;
    let (_, customer) = stack.signed_up_customer("trickle@example.com").await.unwrap();
    let mut stream = TcpStream::connect(address(&stack)).await.unwrap();
    let head = format!(
        "POST /api/v1/fixes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"descr",
        customer.api_key().unwrap()
    );
    stream.write_all(head.as_bytes()).await.unwrap();

    let received = read_until_closed(&mut stream, Duration::from_secs(10)).await.expect("answered and closed");

    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/json") && text.contains("request_timeout"), "{text}");
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 5, "nothing was done");
}

/// Requests whose bodies the service refuses without reading them all (over the limit, or
/// unauthenticated), of a body of `size` bytes.
fn unread_bodies(stack: &Stack, key: &str, size: usize) -> Vec<(&'static str, reqwest::RequestBuilder)> {
    let http = billing_service::tls::client();
    let url = |path: &str| format!("{}{path}", stack.service_url);
    let body = || format!(r#"{{"description":"{}"}}"#, "x".repeat(size)).into_bytes();
    vec![
        ("a fix over the body limit", http.post(url("/api/v1/fixes")).bearer_auth(key).body(body())),
        ("a fix without a key", http.post(url("/api/v1/fixes")).body(body())),
        ("a fix with an unknown key", http.post(url("/api/v1/fixes")).bearer_auth("bk_unknown").body(body())),
        ("a signup over the body limit", http.post(url("/api/v1/customers")).body(body())),
        ("a webhook over its limit", http.post(url("/api/webhooks/stripe")).body(vec![b'{'; 2 * 1024 * 1024 + size])),
    ]
}

#[tokio::test]
async fn a_refused_body_is_answered_not_reset_however_large() {
    // The service's binary as a process of its own, as deployed: its own runtime, its own timing.
    let binary = billing_stack::ServiceBinary::build(billing_stack::Profile::of_this_build()).await.unwrap();
    let stack =
        Stack::start_with(StackOptions { service: billing_stack::ServiceRun::Process(binary), ..Default::default() })
            .await
            .unwrap();
    let (_, customer) = stack.signed_up_customer("large@example.com").await.unwrap();
    let key = customer.api_key().unwrap().to_string();
    // Several clients at once, bodies from just over the limit to many times it.
    let clients = (0..4).map(|client| {
        let (stack, key) = (&stack, &key);
        async move {
            for round in 0..6usize {
                let size = 70_000 + (client * 6 + round) * 60_000;
                for (what, request) in unread_bodies(stack, key, size) {
                    let response =
                        request.header("content-type", "application/json").send().await.unwrap_or_else(|err| {
                            panic!("{what}, {size} bytes: no answer, the connection was reset: {err:?}")
                        });
                    let status = response.status();
                    let body: Value = response.json().await.unwrap();
                    assert!(status.is_client_error(), "{what}: {status} {body}");
                    assert!(body["error"]["message"].is_string(), "{what}: {body}");
                }
            }
        }
    });
    futures_util::future::join_all(clients).await;
}

#[tokio::test]
async fn every_error_is_json_even_the_ones_axum_writes() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("json@example.com").await.unwrap();
    let http = billing_service::tls::client();
    let url = |path: &str| format!("{}{path}", stack.service_url);
    let key = customer.api_key().unwrap().to_string();
    let requests = vec![
        http.post(url("/api/webhooks/stripe")).body(vec![b'{'; 2 * 1024 * 1024]),
        http.delete(url("/api/v1/api-keys/%ZZ")).bearer_auth(&key),
        http.delete(url("/api/v1/api-keys/%FF%FE")).bearer_auth(&key),
        http.get(url("/api/v1/fixes/not-a-uuid")).bearer_auth(&key),
        http.get(url("/nowhere")),
        http.put(url("/api/v1/usage")).bearer_auth(&key),
        http.post(url("/api/v1/fixes")).bearer_auth(&key).header("content-type", "text/plain").body("x"),
        http.post(url("/api/v1/fixes"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(vec![b' '; 200_000]),
        http.get(url("/api/v1/usage?limit=abc")).bearer_auth(&key),
        http.get(url("/api/v1/usage?limit=%ZZ")).bearer_auth(&key),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        let body = response.text().await.unwrap();
        assert!(status.is_client_error(), "{status}: {body}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{status}: {body}");
        let parsed: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
        assert!(parsed["error"]["code"].is_string() && parsed["error"]["message"].is_string(), "{parsed}");
    }
}

#[tokio::test]
async fn signups_are_limited_per_client_ip_and_forwarded_for_counts_only_from_trusted_proxies() {
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| config.signup.rate_per_minute = 3),
        ..Default::default()
    })
    .await
    .unwrap();
    let api = stack.api();
    for n in 0..3 {
        api.signup(&format!("ip{n}@example.com"), "Ip", None).await.unwrap().unwrap();
    }
    // A fourth from the same address, claiming to be someone else: the claim is not believed.
    let (status, answer) = api
        .send_with_headers(
            Method::POST,
            "/api/v1/customers",
            Some(json!({"email": "ip3@example.com", "name": "Ip"})),
            &[("x-forwarded-for", "198.51.100.7")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["error"]["code"], "rate_limited");
    assert!(metrics_text(&stack).await.contains(r#"billing_rate_limited_total{limit="signup_ip"} 1"#));
    assert_eq!(stack.count_rows("customers").await.unwrap(), 3);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_signup_limit() {
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| {
            config.signup.rate_per_minute = 1;
            config.signup.trusted_proxies = vec!["127.0.0.1".into()];
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let signup = |n: usize, client: &'static str| {
        let api = stack.api();
        async move {
            api.send_with_headers(
                Method::POST,
                "/api/v1/customers",
                Some(json!({"email": format!("proxied{n}@example.com"), "name": "Proxied"})),
                &[("x-forwarded-for", client)],
            )
            .await
            .unwrap()
            .0
        }
    };
    assert_eq!(signup(0, "198.51.100.1").await, StatusCode::CREATED);
    assert_eq!(signup(1, "198.51.100.2").await, StatusCode::CREATED);
    assert_eq!(signup(2, "198.51.100.1").await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn more_keys_do_not_buy_a_customer_more_credential_rate() {
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| {
            config.credentials.burst = 10;
            config.credentials.customer_burst = 4;
            config.credentials.customer_rate_per_minute = 1;
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, customer) = stack.signed_up_customer("keys@example.com").await.unwrap();
    let mut clients = vec![customer.clone()];
    for _ in 0..3 {
        let key = customer.create_api_key().await.unwrap().unwrap();
        clients.push(stack.api().with_key(&key.api_key));
    }
    for client in &clients {
        client.exchange_credentials(&["npm"], None).await.unwrap().unwrap();
    }

    let refused = clients[0].exchange_credentials(&["npm"], None).await.unwrap().unwrap_err();

    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(metrics_text(&stack).await.contains(r#"billing_rate_limited_total{limit="credentials_customer"} 1"#));
}

#[tokio::test]
async fn api_key_creation_is_limited_per_customer() {
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| {
            config.api_keys.create_burst = 2;
            config.api_keys.create_rate_per_hour = 1;
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, customer) = stack.signed_up_customer("keymaker@example.com").await.unwrap();
    customer.create_api_key().await.unwrap().unwrap();
    customer.create_api_key().await.unwrap().unwrap();

    let refused = customer.create_api_key().await.unwrap().unwrap_err();

    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(stack.count_rows("api_keys").await.unwrap(), 3);
}

#[tokio::test]
async fn an_invoice_whose_subscription_is_not_in_stripe_grants_nothing() {
    let stack = Stack::start_with(webhook_secret_stack()).await.unwrap();
    let (signup, customer) = stack.signed_up_customer("forged@example.com").await.unwrap();
    let event = json!({
        "id": "evt_forged_invoice",
        "object": "event",
        "type": "invoice.paid",
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {
            "id": "in_forged", "object": "invoice", "status": "paid",
            "customer": signup.stripe_customer_id, "subscription": "sub_does_not_exist",
        }},
    });

    let (status, answer) = stack.deliver_event(&event).await.unwrap();

    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "ignored");
    assert_eq!(
        customer.usage().await.unwrap().unwrap()["credit_balance"],
        5,
        "no credits for a subscription Stripe does not know"
    );
}

#[tokio::test]
async fn an_invoice_naming_another_customers_subscription_grants_nothing() {
    let stack = Stack::start_with(webhook_secret_stack()).await.unwrap();
    let (_, owner) = stack.signed_up_customer("owner@example.com").await.unwrap();
    let subscription = owner.subscribe_to_pro_with_a_card().await.unwrap();
    let (intruder, intruder_client) = stack.signed_up_customer("intruder@example.com").await.unwrap();
    let event = json!({
        "id": "evt_cross_customer",
        "object": "event",
        "type": "invoice.paid",
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {
            "id": "in_cross", "object": "invoice", "status": "paid",
            "customer": intruder.stripe_customer_id, "subscription": subscription,
        }},
    });

    let (_, answer) = stack.deliver_event(&event).await.unwrap();

    assert_eq!(answer["outcome"], "ignored", "{answer}");
    assert_eq!(intruder_client.usage().await.unwrap().unwrap()["credit_balance"], 5);
}

#[tokio::test]
async fn a_signed_event_with_a_garbled_header_value_is_400() {
    let stack = Stack::start_with(webhook_secret_stack()).await.unwrap();
    let payload = br#"{"id":"evt_1"}"#.to_vec();
    let good = stripe_signature(&payload, &stack.webhook_secret, chrono::Utc::now().timestamp());
    let response = billing_service::tls::client()
        .post(format!("{}/api/webhooks/stripe", stack.service_url))
        .header(
            "stripe-signature",
            reqwest::header::HeaderValue::from_bytes(format!("{good}\u{e9}").as_bytes()).unwrap(),
        )
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// A signed `invoice.paid` as whoever holds the endpoint's secret could send it.
fn claimed_paid_invoice(name: &str, invoice: &str, customer: &str, subscription: &str) -> Value {
    json!({
        "id": format!("evt_claim_{name}"), "object": "event", "type": "invoice.paid",
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {
            "id": invoice, "object": "invoice", "status": "paid", "paid": true, "amount_paid": 59900,
            "currency": "usd", "customer": customer, "subscription": subscription,
        }},
    })
}

#[tokio::test]
async fn an_invented_invoice_of_a_real_subscription_grants_nothing() {
    let stack = Stack::start_with(webhook_secret_stack()).await.unwrap();
    let (signup, customer) = stack.signed_up_customer("invented@example.com").await.unwrap();
    let subscription = customer.subscribe_to_pro_with_a_card().await.unwrap();

    let claim = claimed_paid_invoice("invented", "in_invented", &signup.stripe_customer_id, &subscription);
    let (status, answer) = stack.deliver_event(&claim).await.unwrap();

    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("ignored")), "{answer}");
    assert_eq!(
        customer.usage().await.unwrap().unwrap()["credit_balance"],
        5,
        "no credits for an invoice Stripe does not have"
    );
    // Stripe's own event about the real invoice grants them.
    let paid = stack.stripe_events("invoice.paid").remove(0);
    let (_, answer) = stack.deliver_event(&paid).await.unwrap();
    assert_eq!(answer["outcome"], "applied", "{answer}");
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 65);
}

#[tokio::test]
async fn another_customers_real_paid_invoice_grants_nothing() {
    let stack = Stack::start_with(webhook_secret_stack()).await.unwrap();
    let (_, owner) = stack.signed_up_customer("payer@example.com").await.unwrap();
    owner.subscribe_to_pro_with_a_card().await.unwrap();
    let invoice = stack.stripe_events("invoice.paid").remove(0)["data"]["object"]["id"].as_str().unwrap().to_string();
    // The claimant is Pro too: its own subscription is real and its own.
    let (claimant, claimant_client) = stack.signed_up_customer("claimant@example.com").await.unwrap();
    let own = claimant_client.subscribe_to_pro_with_a_card().await.unwrap();

    let claim = claimed_paid_invoice("borrowed", &invoice, &claimant.stripe_customer_id, &own);
    let (_, answer) = stack.deliver_event(&claim).await.unwrap();

    assert_eq!(answer["outcome"], "ignored", "{answer}");
    assert_eq!(claimant_client.usage().await.unwrap().unwrap()["credit_balance"], 5, "the invoice is not its own");
    assert_eq!(
        owner.usage().await.unwrap().unwrap()["credit_balance"],
        5,
        "nor granted to its owner by another's event"
    );
}

#[tokio::test]
async fn a_field_given_twice_is_refused_not_last_one_wins() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("twice@example.com").await.unwrap();
    let body = r#"{"payment_method_id":"pm_card_visa","billing_consent":false,"billing_consent":true}"#;

    let response = billing_service::tls::client()
        .post(format!("{}/api/v1/billing/payment-method", stack.service_url))
        .bearer_auth(customer.api_key().unwrap())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "malformed_json");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("`billing_consent` appears more than once"),
        "{answer}"
    );
    assert_eq!(stack.count_rows("billing_consents").await.unwrap(), 0, "no consent recorded");
    assert_eq!(customer.usage().await.unwrap().unwrap()["has_payment_method"], false);
}

#[tokio::test]
async fn expect_100_continue_with_a_body_over_the_limit_gets_413_at_once_not_an_invitation() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("expect@example.com").await.unwrap();
    let key = customer.api_key().unwrap().to_string();
    for path in ["/api/v1/customers", "/api/v1/fixes"] {
        let mut stream = TcpStream::connect(address(&stack)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {key}\r\n\
             Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();

        // Nothing of the body is sent: the answer must come without it.
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        let answered = tokio::time::timeout(Duration::from_secs(5), async {
            while !received.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await;
        assert!(answered.is_ok(), "{path}: no answer without the body");
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text}");
    }
}

/// Sends raw bytes and reads the whole answer (the server closes the connection after it).
async fn raw_answer(stack: &Stack, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address(stack)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let received = read_until_closed(&mut stream, Duration::from_secs(10)).await.expect("answered and closed");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn the_answers_hyper_writes_itself_are_json_errors_too() {
    let stack = Stack::start().await.unwrap();
    let many_headers: String = (0..150).map(|n| format!("X-Header-{n}: {n}\r\n")).collect();
    let cases = [
        ("431", format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n")),
        ("414", format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000))),
        ("400", "GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon in this header\r\n\r\n".to_string()),
    ];
    for (status, request) in cases {
        let answer = raw_answer(&stack, request.as_bytes()).await;

        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{status}: {head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{status}: {head}");
        let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{status}: not JSON: {body:?}"));
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{status}: {body}");
    }
    // Still serving.
    assert_eq!(stack.api().send(Method::GET, "/healthz", None).await.unwrap().0, StatusCode::OK);
}
