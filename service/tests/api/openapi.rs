//! The OpenAPI document: served to anyone at `/openapi.json`, listing exactly the service's
//! operations, each of which is really routed.

use billing_stack::Stack;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Every operation the service has. A route added or removed must change this list, and the
/// document with it.
const OPERATIONS: [&str; 16] = [
    "DELETE /api/v1/api-keys/{id}",
    "DELETE /api/v1/billing/subscription",
    "GET /api/v1/api-keys",
    "GET /api/v1/fixes/{id}",
    "GET /api/v1/usage",
    "GET /healthz",
    "GET /metrics",
    "GET /openapi.json",
    "GET /readyz",
    "POST /api/v1/api-keys",
    "POST /api/v1/billing/payment-method",
    "POST /api/v1/billing/subscription",
    "POST /api/v1/credentials/exchange",
    "POST /api/v1/customers",
    "POST /api/v1/fixes",
    "POST /api/webhooks/stripe",
];

async fn served_document(stack: &Stack) -> Value {
    let response = stack.api().request(Method::GET, "/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

fn operations(document: &Value) -> Vec<(Method, String)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("the document has paths") {
        for method in item.as_object().unwrap().keys() {
            operations.push((Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), path.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn the_document_is_served_without_a_key_and_lists_exactly_the_services_operations() {
    let stack = Stack::start().await.unwrap();
    let document = served_document(&stack).await;

    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."));
    let mut listed: Vec<String> =
        operations(&document).iter().map(|(method, path)| format!("{method} {path}")).collect();
    listed.sort();
    assert_eq!(listed, OPERATIONS, "the document's operations differ from the expected list");
    assert_eq!(
        document,
        billing_service::http::openapi_document(&stack.config),
        "the served document is the generated one"
    );
}

#[tokio::test]
async fn every_operation_in_the_document_is_routed() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("routes@example.com").await.unwrap();
    let document = served_document(&stack).await;

    for (method, path) in operations(&document) {
        // A path parameter gets an id that exists nowhere: the handler's own 404 is fine, the
        // router's is not.
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        let (status, body) = customer.send(method.clone(), &concrete, None).await.unwrap();
        let unmatched = status == StatusCode::NOT_FOUND
            && body["error"]["message"].as_str().is_some_and(|message| message.starts_with("no route for"));
        assert!(!unmatched, "{method} {path} is in the document but not routed: {body}");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is in the document but not routed: {body}");
        assert!(!status.is_server_error(), "{method} {path}: {status} {body}");
    }
}

#[tokio::test]
async fn a_route_outside_the_document_is_an_unmatched_route() {
    // The negative of the check above: it would notice a route that is not there.
    let stack = Stack::start().await.unwrap();
    let (status, body) = stack.api().send(Method::GET, "/api/v1/not-in-the-document", None).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("no route for"), "{body}");
    let (status, _) = stack.api().send(Method::PUT, "/api/v1/usage", None).await.unwrap();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
