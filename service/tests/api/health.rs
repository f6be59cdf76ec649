//! Health, readiness and metrics.

use billing_stack::Stack;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn the_service_is_alive_and_ready_with_its_database() {
    let stack = Stack::start().await.unwrap();
    let (status, body) = stack.api().send(Method::GET, "/healthz", None).await.unwrap();
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = stack.api().send(Method::GET, "/readyz", None).await.unwrap();
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ready")));
}

#[tokio::test]
async fn the_service_is_not_ready_when_its_database_is_gone() {
    let stack = Stack::start().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{}\" WITH (FORCE)", stack.database.name)))
        .execute(
            &billing_service::app::connect(&billing_testdb::PgServer::shared().await.unwrap().admin_url(), 1)
                .await
                .unwrap(),
        )
        .await
        .unwrap();

    let (status, body) = stack.api().send(Method::GET, "/readyz", None).await.unwrap();

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_business_outcomes() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    customer.record_fix("fix").await.unwrap().unwrap();
    stack.api().send(Method::GET, "/no/such/route/123", None).await.unwrap();

    let text = stack.metrics().await.unwrap();

    for line in [
        r#"billing_http_requests_total{method="POST",route="/api/v1/customers",status="201"} 1"#,
        r#"billing_http_requests_total{method="POST",route="/api/v1/fixes",status="201"} 1"#,
        r#"billing_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"billing_onboardings_total{outcome="created"} 1"#,
        r#"billing_fixes_total{outcome="credit"} 1"#,
        r#"billing_credits_granted_total{source="trial_signup"} 5"#,
        "billing_credits_consumed_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("billing_http_request_duration_seconds_bucket{"));
}
