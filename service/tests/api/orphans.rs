//! The sweep of orphan Stripe customers (`billing_service::onboarding::orphans`): a Stripe customer
//! made by a signup whose rows were never committed is deleted once it is older than Stripe's
//! 24-hour idempotency-key retention and the margin; nothing else ever is. Each orphan here is
//! made by the signup's own step ([`create_signup_stripe_customer`]) with nothing committed after
//! it, as when the process dies there. Time moves on the service's manual clock (and, for a
//! younger customer, on the Stripe test clock); the background sweep is off, so rounds run when
//! the test says.

use std::sync::Arc;
use std::time::Duration;

use billing_service::clock::ManualClock;
use billing_service::domain::{CustomerName, Email, SignupSource};
use billing_service::idempotency::ClientKey;
use billing_service::onboarding::{SignupRequest, create_signup_stripe_customer, orphans};
use billing_stack::{Stack, StackOptions};
use reqwest::StatusCode;
use serde_json::Value;

use crate::onboarding::keyed_signup;

const NAME: &str = "Orphan Annie";

async fn stack_on_a_manual_clock() -> (Stack, ManualClock) {
    stack_sweeping_every(0).await
}

/// A stack on a manual clock whose background sweep runs every `interval_ms` (0: off).
async fn stack_sweeping_every(interval_ms: u64) -> (Stack, ManualClock) {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(move |config| config.orphan_sweep.interval_ms = interval_ms),
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    (stack, clock)
}

/// The Stripe customer a keyed signup of `email` makes before its rows, and nothing after it.
async fn orphan(stack: &Stack, email: &str, client_key: &str) -> String {
    let request = SignupRequest {
        email: Email::parse(email).unwrap(),
        name: CustomerName::parse(NAME).unwrap(),
        source: SignupSource::direct(),
    };
    let key = ClientKey::parse(client_key.as_bytes()).unwrap();
    let (_, customer) = create_signup_stripe_customer(stack.state(), &request, Some(&key)).await.unwrap();
    customer.id
}

async fn stripe_customer(stack: &Stack, id: &str) -> Value {
    stack.stripe_get(&format!("/v1/customers/{id}")).await.unwrap()
}

async fn is_deleted(stack: &Stack, id: &str) -> bool {
    stripe_customer(stack, id).await["deleted"] == true
}

async fn removed_metric(stack: &Stack) -> String {
    let metrics = stack.metrics().await.unwrap();
    metrics.lines().find(|line| line.starts_with("billing_orphan_stripe_customers_removed_total")).unwrap().to_string()
}

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

#[tokio::test]
async fn an_orphan_is_deleted_once_past_stripes_key_retention_and_the_margin_and_a_younger_one_is_kept() {
    let (stack, clock) = stack_on_a_manual_clock().await;
    let old = orphan(&stack, "old@example.com", "key-old").await;
    stack.advance_stripe_clock(Duration::from_secs(2 * 3600)).await.unwrap();
    let young = orphan(&stack, "young@example.com", "key-young").await;

    // Past Stripe's 24 hours but not past the margin: a retry could still be answered with it.
    clock.advance(hours(24));
    let report = orphans::sweep_orphans(stack.state()).await.unwrap();
    assert_eq!(report.removed, 0, "{report:?}");
    assert!(!is_deleted(&stack, &old).await);

    clock.advance(hours(1) + chrono::Duration::minutes(1));
    let report = orphans::sweep_orphans(stack.state()).await.unwrap();
    assert_eq!((report.ours, report.removed), (1, 1), "only the 25-hour-old one is in the window: {report:?}");
    assert!(is_deleted(&stack, &old).await, "the orphan past the retention is deleted");
    assert!(!is_deleted(&stack, &young).await, "the one 23 hours old is kept");
    assert_eq!(removed_metric(&stack).await, "billing_orphan_stripe_customers_removed_total 1");

    clock.advance(hours(2));
    let report = orphans::sweep_orphans(stack.state()).await.unwrap();
    assert_eq!(report.removed, 1, "{report:?}");
    assert!(is_deleted(&stack, &young).await);
    assert_eq!(removed_metric(&stack).await, "billing_orphan_stripe_customers_removed_total 2");
}

#[tokio::test]
async fn a_stripe_customer_a_row_names_is_never_deleted_by_its_stripe_id_or_by_its_metadata_id() {
    let (stack, clock) = stack_on_a_manual_clock().await;
    let named = stack.api().signup("named@example.com", NAME, None).await.unwrap().unwrap();
    let by_metadata = stack.api().signup("moved@example.com", NAME, None).await.unwrap().unwrap();
    // The row no longer names its Stripe customer; the customer's metadata still names the row.
    sqlx::query("UPDATE customers SET stripe_customer_id = 'cus_elsewhere' WHERE id = $1::uuid")
        .bind(&by_metadata.customer_id)
        .execute(&stack.pool)
        .await
        .unwrap();

    clock.advance(hours(26));
    let report = orphans::sweep_orphans(stack.state()).await.unwrap();

    assert_eq!((report.ours, report.with_a_row, report.removed), (2, 2, 0), "{report:?}");
    assert!(!is_deleted(&stack, &named.stripe_customer_id).await);
    assert!(!is_deleted(&stack, &by_metadata.stripe_customer_id).await);
}

#[tokio::test]
async fn a_stripe_customer_this_service_did_not_make_for_this_database_is_never_deleted() {
    let (stack, clock) = stack_on_a_manual_clock().await;
    let clock_id = stack.stripe_clock.clone();
    let some_id = uuid::Uuid::new_v4().to_string();
    let foreign = [
        // Nothing of ours: another system on the same Stripe account.
        vec![("email", "other@example.com")],
        // Made by a service on another database (a developer's, pointed at a shared account).
        vec![
            ("email", "dev@example.com"),
            ("metadata[customer_id]", &some_id),
            ("metadata[made_by]", "billing-service:00000000-0000-0000-0000-000000000000"),
        ],
        // Made by this service before it marked its customers.
        vec![("email", "before@example.com"), ("metadata[customer_id]", &some_id), ("metadata[source]", "direct")],
    ];
    let mut ids = Vec::new();
    for fields in foreign {
        let mut fields = fields;
        fields.push(("test_clock", &clock_id));
        let created = stack.stripe_api().post("/v1/customers", &fields).await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let ours = orphan(&stack, "ours@example.com", "key-ours").await;

    clock.advance(hours(26));
    let report = orphans::sweep_orphans(stack.state()).await.unwrap();

    assert_eq!((report.listed, report.ours, report.removed), (4, 1, 1), "{report:?}");
    assert!(is_deleted(&stack, &ours).await, "the round did delete its own orphan");
    for id in ids {
        assert!(!is_deleted(&stack, &id).await, "{id} was not made by this service for this database");
    }
}

#[tokio::test]
async fn a_keyed_retry_within_stripes_retention_adopts_the_orphan_which_the_sweep_then_keeps() {
    let (stack, clock) = stack_on_a_manual_clock().await;
    let orphan = orphan(&stack, "retry@example.com", "key-retry").await;
    clock.advance(hours(3));

    let (status, answer) = keyed_signup(&stack, "key-retry", "retry@example.com", NAME).await;

    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["stripe_customer_id"], orphan.as_str(), "Stripe replayed the orphan and the retry adopted it");
    let listed = stack.stripe_get("/v1/customers?email=retry%40example.com").await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "one Stripe customer: {listed}");
    clock.advance(hours(26));
    let report = orphans::sweep_orphans(stack.state()).await.unwrap();
    assert_eq!((report.with_a_row, report.removed), (1, 0), "{report:?}");
    assert!(!is_deleted(&stack, &orphan).await);
}

#[tokio::test]
async fn a_retry_that_stripe_answers_with_a_customer_deleted_since_gets_a_new_live_one() {
    let (stack, clock) = stack_on_a_manual_clock().await;
    let orphan = orphan(&stack, "late@example.com", "key-late").await;
    clock.advance(hours(26));
    assert_eq!(orphans::sweep_orphans(stack.state()).await.unwrap().removed, 1);

    // Stripe may keep a key beyond 24 hours (the fake keeps them all): its replay is the
    // customer the sweep deleted, which the signup must not adopt.
    let (status, answer) = keyed_signup(&stack, "key-late", "late@example.com", NAME).await;

    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let adopted = answer["stripe_customer_id"].as_str().unwrap();
    assert_ne!(adopted, orphan, "not the deleted customer");
    let live = stripe_customer(&stack, adopted).await;
    assert_eq!((live["deleted"].clone(), live["email"].clone()), (Value::Null, "late@example.com".into()), "{live}");
    assert_eq!(live["metadata"]["customer_id"], answer["customer_id"]);
    let creations = stack.stripe.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/v1/customers");
    let keys: Vec<String> = creations.filter_map(|r| r.idempotency_key).collect();
    assert_eq!(keys.len(), 3, "the orphan's, the replay of it, and the new one under a key of its own: {keys:?}");
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[2], format!("{}-2", keys[0]));
}

#[tokio::test]
async fn one_round_sweeps_per_lease_whatever_the_number_of_instances() {
    let (stack, clock) = stack_on_a_manual_clock().await;
    let lease = Duration::from_secs(3_240);

    assert!(orphans::sweep_round(stack.state(), lease).await.unwrap().is_some(), "the first round takes the lease");
    assert!(orphans::sweep_round(stack.state(), lease).await.unwrap().is_none(), "another instance's round skips");
    clock.advance(chrono::Duration::seconds(3_240));
    assert!(orphans::sweep_round(stack.state(), lease).await.unwrap().is_some(), "once it has passed, a round sweeps");
}

#[tokio::test]
async fn the_sweeper_runs_by_itself_every_interval() {
    let (stack, clock) = stack_sweeping_every(200).await;
    let old = orphan(&stack, "by-itself@example.com", "key-by-itself").await;
    clock.advance(hours(26));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !is_deleted(&stack, &old).await {
        assert!(tokio::time::Instant::now() < deadline, "no round of the background sweep removed the orphan in 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(removed_metric(&stack).await.ends_with(" 1"), "{}", removed_metric(&stack).await);
}
