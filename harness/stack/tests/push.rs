//! The push path against a real Pushgateway (Debian's 1.5.1, started with basic auth by [`TestPushgateway`]):
//! what each kind of metric becomes once the gateway has parsed it, what a push replaces, what a delete removes,
//! which failures are retried, and what the errors say.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use billing_stack::push::{LabelValue, PushError, Pushgateway};
use billing_stack::test_pushgateway::{PASSWORD, TestPushgateway, USER};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, LabelValue)>;

/// What a load worker pushes: a counter family, a latency histogram, a gauge and an info metric.
fn load_run_registry(requests: u64) -> Registry {
    let mut registry = Registry::default();
    let sent = Family::<Labels, Counter>::default();
    sent.get_or_create(&vec![("endpoint", "signup".into())]).inc_by(requests);
    registry.register("push_test_requests", "Requests sent", sent);
    let latency = Histogram::new([0.005, 0.05, 0.5]);
    for seconds in [0.001, 0.004, 0.02, 0.3, 0.7] {
        latency.observe(seconds);
    }
    registry.register("push_test_latency_seconds", "Request latency", latency);
    let rps = Gauge::<f64, AtomicU64>::default();
    rps.set(1234.5);
    registry.register("push_test_rps", "Achieved requests per second", rps);
    registry.register("push_test_build", "The build that ran", Info::new(vec![("version", "1.2.3")]));
    registry
}

const GROUP: &[(&str, &str)] = &[("scenario", "onboarding"), ("environment", "ci"), ("worker", "0")];

#[tokio::test]
async fn counters_histograms_gauges_and_info_read_back_with_their_prometheus_names_and_types() {
    let gateway = TestPushgateway::start().await.unwrap();

    gateway.pushgateway().push("push_test", GROUP, &load_run_registry(7)).await.unwrap();

    let scrape = gateway.scrape().await.unwrap();
    let group = [("job", "push_test"), ("scenario", "onboarding"), ("environment", "ci"), ("worker", "0")];
    let with = |extra: (&'static str, &'static str)| {
        let mut labels = group.to_vec();
        labels.push(extra);
        labels
    };
    assert_eq!(scrape.type_of("push_test_requests_total"), Some("counter"));
    assert_eq!(scrape.help_of("push_test_requests_total"), Some("Requests sent."));
    assert_eq!(scrape.value("push_test_requests_total", &with(("endpoint", "signup"))), 7.0);
    assert_eq!(scrape.type_of("push_test_latency_seconds"), Some("histogram"));
    for (le, count) in [("0.005", 2.0), ("0.05", 3.0), ("0.5", 4.0), ("+Inf", 5.0)] {
        assert_eq!(scrape.value("push_test_latency_seconds_bucket", &with(("le", le))), count, "le={le}");
    }
    assert_eq!(scrape.value("push_test_latency_seconds_count", &group), 5.0);
    assert!((scrape.value("push_test_latency_seconds_sum", &group) - 1.025).abs() < 1e-9);
    assert_eq!(scrape.type_of("push_test_rps"), Some("gauge"));
    assert_eq!(scrape.value("push_test_rps", &group), 1234.5);
    assert_eq!(scrape.type_of("push_test_build_info"), Some("gauge"));
    assert_eq!(scrape.value("push_test_build_info", &with(("version", "1.2.3"))), 1.0);
}

#[tokio::test]
async fn a_push_replaces_the_whole_group_and_leaves_other_groups_alone() {
    let gateway = TestPushgateway::start().await.unwrap();
    let client = gateway.pushgateway();
    let worker_1 = [("scenario", "onboarding"), ("environment", "ci"), ("worker", "1")];
    client.push("push_test", GROUP, &load_run_registry(7)).await.unwrap();
    client.push("push_test", &worker_1, &load_run_registry(5)).await.unwrap();

    let mut smaller = Registry::default();
    smaller.register("push_test_rps", "Achieved requests per second", Gauge::<f64, AtomicU64>::default());
    client.push("push_test", GROUP, &smaller).await.unwrap();

    let scrape = gateway.scrape().await.unwrap();
    assert!(scrape.values("push_test_requests_total", &[("worker", "0")]).is_empty(), "worker 0's counter is gone");
    assert_eq!(scrape.value("push_test_rps", &[("worker", "0")]), 0.0);
    assert_eq!(scrape.value("push_test_requests_total", &[("worker", "1")]), 5.0, "worker 1 is untouched");
}

#[tokio::test]
async fn delete_removes_the_group_and_deleting_a_missing_group_succeeds() {
    let gateway = TestPushgateway::start().await.unwrap();
    let client = gateway.pushgateway();
    client.push("push_test", GROUP, &load_run_registry(7)).await.unwrap();

    client.delete("push_test", GROUP).await.unwrap();
    client.delete("push_test", GROUP).await.unwrap();

    let scrape = gateway.scrape().await.unwrap();
    assert!(scrape.values("push_test_requests_total", &[("job", "push_test")]).is_empty());
    assert!(scrape.values("push_time_seconds", &[("job", "push_test")]).is_empty());
}

#[tokio::test]
async fn grouping_values_with_slashes_and_label_values_with_quotes_arrive_intact() {
    let gateway = TestPushgateway::start().await.unwrap();
    let awkward = "C:\\runs \"nightly\"\nsecond line ✓ {braces}";
    let mut registry = Registry::default();
    let family = Family::<Labels, Gauge>::default();
    family.get_or_create(&vec![("target", awkward.into())]).set(1);
    registry.register("push_test_target", "Target", family);

    gateway.pushgateway().push("push/test", &[("environment", "staging/eu"), ("empty", "")], &registry).await.unwrap();

    let scrape = gateway.scrape().await.unwrap();
    let labels = scrape.label_sets("push_test_target", &[("job", "push/test"), ("environment", "staging/eu")]);
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(labels[0]["target"], awkward);
    assert_eq!(labels[0]["empty"], "", "the gateway serves an empty grouping value as an empty label");
}

#[tokio::test]
async fn a_push_without_credentials_or_with_a_wrong_password_is_refused_with_the_401_message() {
    let gateway = TestPushgateway::start().await.unwrap();
    let anonymous = Pushgateway::new(gateway.url()).unwrap().with_retries(3, Duration::ZERO);
    let wrong =
        Pushgateway::from_credentials(gateway.url(), Some(USER.into()), Some("not-the-password".into())).unwrap();

    for client in [anonymous, wrong] {
        let error = client.push("push_test", GROUP, &load_run_registry(1)).await.unwrap_err();
        assert!(matches!(error, PushError::Unauthorized { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message
                .starts_with("the Pushgateway refused the credentials: set PUSHGATEWAY_USER and PUSHGATEWAY_PASSWORD"),
            "{message}"
        );
    }
    assert!(gateway.scrape().await.unwrap().values("push_test_rps", &[]).is_empty(), "nothing landed");
}

#[tokio::test]
async fn a_rejected_push_carries_the_gateways_first_line_and_is_not_retried() {
    let gateway = TestPushgateway::start().await.unwrap();
    // A metric of the same name but another type in another group: the gateway refuses ours with a 400.
    let conflicting = "# TYPE push_test_rps counter\npush_test_rps 1\n";
    let response = billing_service::tls::client()
        .put(format!("{}/metrics/job/other_job", gateway.url()))
        .basic_auth(USER, Some(PASSWORD))
        .body(conflicting)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "the conflicting push: {}", response.status());

    let started = Instant::now();
    let client = gateway.pushgateway().with_retries(3, Duration::from_secs(5));
    let error = client.push("push_test", GROUP, &load_run_registry(1)).await.unwrap_err();

    let PushError::Rejected { status, first_line, attempts, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*status, *attempts), (400, 1), "{error}");
    assert!(first_line.contains("push_test_rps") && !first_line.contains('\n'), "{error}");
    assert!(error.to_string().contains("rejected the request with HTTP 400: "), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "a 400 waited for a retry");
}

#[tokio::test]
async fn a_gateway_that_is_not_running_is_retried_and_the_error_says_how_often() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let client = Pushgateway::new(&url).unwrap().with_retries(3, Duration::from_millis(10));

    let error = client.push("push_test", GROUP, &load_run_registry(1)).await.unwrap_err();

    assert!(matches!(error, PushError::Unreachable { attempts: 3, .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("could not reach the Pushgateway at {url}/metrics/job/push_test")),
        "{message}"
    );
    assert!(message.contains("after 3 attempts"), "{message}");
    assert!(message.to_lowercase().contains("connection refused"), "{message}");
    assert!(message.contains("check that it is running"), "{message}");
}

#[tokio::test]
async fn a_gateway_that_never_answers_is_given_up_on_after_the_timeout() {
    // Accepts connections (the kernel completes them) but never reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let client = Pushgateway::new(&url).unwrap().with_timeout(Duration::from_millis(300)).unwrap();

    let started = Instant::now();
    let error = client.push("push_test", GROUP, &load_run_registry(1)).await.unwrap_err();

    assert!(matches!(error, PushError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("did not answer within 300ms"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
}

/// A stand-in gateway that answers with `statuses` in turn (the last one from then on) and counts requests.
async fn scripted_gateway(statuses: &'static [u16]) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let status = statuses[n.min(statuses.len() - 1)];
        async move { (StatusCode::from_u16(status).unwrap(), format!("scripted answer {n}\nsecond line")) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn server_errors_are_retried_until_the_push_lands() {
    let (url, seen) = scripted_gateway(&[503, 502, 200]).await;
    let client = Pushgateway::new(&url).unwrap().with_retries(3, Duration::from_millis(10));

    client.push("push_test", GROUP, &load_run_registry(1)).await.unwrap();

    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_server_error_on_every_attempt_is_reported_with_the_last_answer() {
    let (url, seen) = scripted_gateway(&[500]).await;
    let client = Pushgateway::new(&url).unwrap().with_retries(2, Duration::from_millis(10));

    let error = client.delete("push_test", GROUP).await.unwrap_err();

    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert!(matches!(error, PushError::Rejected { status: 500, attempts: 2, .. }), "{error:?}");
    assert!(error.to_string().ends_with("HTTP 500 after 2 attempts: scripted answer 1"), "{error}");
}

#[tokio::test]
async fn client_errors_and_refused_credentials_are_never_retried() {
    for status in [&[400_u16, 200][..], &[401, 200], &[404, 200]] {
        let status: &'static [u16] = Box::leak(status.to_vec().into_boxed_slice());
        let (url, seen) = scripted_gateway(status).await;
        let client = Pushgateway::new(&url).unwrap().with_retries(5, Duration::from_millis(10));

        let error = client.push("push_test", GROUP, &load_run_registry(1)).await.unwrap_err();

        assert_eq!(seen.load(Ordering::SeqCst), 1, "HTTP {} was retried: {error}", status[0]);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
