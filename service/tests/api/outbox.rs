//! The e-mail outbox: the welcome sequence goes out through the e-mail API at its times,
//! exactly once whatever the number of dispatchers, with retries while the API fails, and
//! never for a signup that rolled back.
//!
//! Time is a `ManualClock` the tests move; waits poll with a deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use billing_fakes::Fault;
use billing_service::clock::ManualClock;
use billing_service::outbox::{DispatchError, dispatch_due};
use billing_service::{AppState, Application, Config};
use billing_stack::{Stack, StackOptions, wait_until};
use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use tokio::net::TcpListener;

const DEADLINE: Duration = Duration::from_secs(10);

fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).single().expect("a valid date")
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

fn seconds(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A stack on a manual clock, with `configure` applied to the service's configuration.
async fn stack_on_manual_clock(configure: impl FnOnce(&mut Config) + Send + 'static) -> (Stack, ManualClock) {
    let clock = ManualClock::starting_at(monday_morning());
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(configure),
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    (stack, clock)
}

/// One outbox row, as the assertions need it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct OutboxRow {
    template: String,
    sent_at: Option<DateTime<Utc>>,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
}

async fn outbox_rows(stack: &Stack) -> Vec<OutboxRow> {
    sqlx::query_as(
        "SELECT template, sent_at, attempts, last_error, next_attempt_at, failed_at
         FROM email_outbox ORDER BY send_after, id",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap()
}

async fn outbox_row(stack: &Stack, template: &str) -> OutboxRow {
    outbox_rows(stack).await.into_iter().find(|row| row.template == template).expect("the template is scheduled")
}

/// Waits until `n` outbox rows are recorded as sent (the e-mail API sees a message just before
/// the dispatcher commits).
async fn wait_for_sent_rows(stack: &Stack, n: i64) {
    wait_until(&format!("{n} outbox rows marked sent"), DEADLINE, || async {
        let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE sent_at IS NOT NULL")
            .fetch_one(&stack.pool)
            .await?;
        Ok((sent >= n).then_some(()))
    })
    .await
    .unwrap();
}

/// Waits until the row of `template` satisfies `check`.
async fn wait_for_row(stack: &Stack, what: &str, template: &str, check: impl Fn(&OutboxRow) -> bool) -> OutboxRow {
    wait_until(what, DEADLINE, || async {
        let row = outbox_row(stack, template).await;
        Ok(check(&row).then_some(row))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_signups_welcome_email_goes_out_at_once_to_the_customer_by_name_and_the_later_ones_wait() {
    // A poll far longer than the deadline: only the wake-up after the signup can be this prompt.
    let (stack, _clock) = stack_on_manual_clock(|config| config.outbox.poll_ms = 600_000).await;

    stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap();

    let messages = stack.email.wait_for_messages(1, DEADLINE).await.unwrap();
    let welcome = &messages[0];
    assert_eq!((welcome.to.as_str(), welcome.template.as_str()), ("ada@example.com", "welcome"));
    assert!(welcome.body.contains("Ada Lovelace"), "{}", welcome.body);
    assert!(!welcome.subject.is_empty());
    wait_for_sent_rows(&stack, 1).await;
    let rows = outbox_rows(&stack).await;
    assert_eq!((rows[0].template.as_str(), rows[0].sent_at, rows[0].attempts), ("welcome", Some(monday_morning()), 1));
    assert!(rows[1..].iter().all(|row| row.sent_at.is_none() && row.attempts == 0), "{rows:?}");
    // Nothing else is due today.
    assert_eq!(dispatch_due(stack.state()).await.unwrap().claimed, 0);
    assert_eq!(stack.email.messages().len(), 1);
    let metrics = stack.metrics().await.unwrap();
    assert!(metrics.contains(r#"billing_emails_sent_total{template="welcome"} 1"#), "{metrics}");
}

#[tokio::test]
async fn day_by_day_the_sequence_goes_out_on_days_1_3_5_and_7_each_exactly_once() {
    let (stack, clock) = stack_on_manual_clock(|_| {}).await;
    stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap();
    wait_for_sent_rows(&stack, 1).await;

    let due_by_day = [(1, 2), (2, 2), (3, 3), (4, 3), (5, 4), (6, 4), (7, 5)];
    for (day, due) in due_by_day {
        clock.advance(days(1));
        stack.email.wait_for_messages(due, DEADLINE).await.unwrap();
        wait_for_sent_rows(&stack, i64::try_from(due).unwrap()).await;
        assert_eq!(stack.email.messages().len(), due, "on day {day}");
    }

    let templates: Vec<String> = stack.email.messages().into_iter().map(|message| message.template).collect();
    assert_eq!(templates, ["welcome", "getting_started", "setup_verification", "feature_discovery", "feedback"]);
    let sent_on: Vec<(String, Option<DateTime<Utc>>)> =
        outbox_rows(&stack).await.into_iter().map(|row| (row.template, row.sent_at)).collect();
    let expected: Vec<(String, Option<DateTime<Utc>>)> = [0, 1, 3, 5, 7]
        .into_iter()
        .zip(&templates)
        .map(|(day, template)| (template.clone(), Some(monday_morning() + days(day))))
        .collect();
    assert_eq!(sent_on, expected);
    for template in &templates {
        assert_eq!(stack.state().metrics.emails_sent_so_far(template), 1, "{template} was sent more than once");
    }
}

/// A second service instance on the stack's database, e-mail API and clock.
async fn second_instance(
    stack: &Stack,
    clock: &ManualClock,
    batch: u32,
) -> (AppState, tokio::sync::oneshot::Sender<()>) {
    let mut config = Config::for_tests(&stack.database.url, &stack.stripe.base_url());
    config.email.api_base = Some(stack.email.base_url());
    config.outbox.poll_ms = 25;
    config.outbox.batch = batch;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let app = Application::build_on(config, Arc::new(clock.clone()), listener).await.unwrap();
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (state, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_dispatchers_on_two_instances_send_each_message_exactly_once() {
    const CUSTOMERS: usize = 40;
    const BATCH: u32 = 3;
    let (stack, clock) = stack_on_manual_clock(|config| config.outbox.batch = BATCH).await;
    let (other_instance, _stop_other) = second_instance(&stack, &clock, BATCH).await;
    let signups = (0..CUSTOMERS).map(|n| {
        let api = stack.api();
        async move { api.signup(&format!("customer{n}@example.com"), &format!("Customer {n}"), None).await }
    });
    for signup in futures_util::future::join_all(signups).await {
        signup.unwrap().unwrap();
    }
    stack.email.wait_for_messages(CUSTOMERS, DEADLINE).await.unwrap();
    wait_for_sent_rows(&stack, CUSTOMERS as i64).await;

    // A day later every customer's getting_started e-mail is due at once; both instances'
    // background dispatchers and eight more dispatch loops race for them.
    clock.advance(days(1));
    let racers = (0..8).map(|n| {
        let state = if n % 2 == 0 { stack.state().clone() } else { other_instance.clone() };
        tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let report = dispatch_due(&state).await.unwrap();
                sent += report.sent;
                if report.claimed == 0 {
                    return sent;
                }
            }
        })
    });
    futures_util::future::join_all(racers).await.into_iter().for_each(|racer| {
        racer.unwrap();
    });
    stack.email.wait_for_messages(2 * CUSTOMERS, DEADLINE).await.unwrap();
    wait_for_sent_rows(&stack, 2 * CUSTOMERS as i64).await;

    // The fake stores a repeated idempotency key once, so count on the sending side too.
    let sent_by_both = |template: &str| {
        stack.state().metrics.emails_sent_so_far(template) + other_instance.metrics.emails_sent_so_far(template)
    };
    assert_eq!(sent_by_both("welcome"), CUSTOMERS as u64);
    assert_eq!(sent_by_both("getting_started"), CUSTOMERS as u64);
    let mut per_recipient_and_template: HashMap<(String, String), usize> = HashMap::new();
    for message in stack.email.messages() {
        *per_recipient_and_template.entry((message.to, message.template)).or_default() += 1;
    }
    assert_eq!(per_recipient_and_template.len(), 2 * CUSTOMERS);
    assert!(per_recipient_and_template.values().all(|&count| count == 1));
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempts FROM email_outbox WHERE sent_at IS NOT NULL")
        .fetch_all(&stack.pool)
        .await
        .unwrap();
    assert!(attempts.iter().all(|&n| n == 1), "{attempts:?}");
}

#[tokio::test]
async fn while_the_email_api_fails_the_welcome_is_retried_with_growing_waits_and_sent_once_it_recovers() {
    let (stack, clock) = stack_on_manual_clock(|config| config.outbox.retry_base_ms = 30_000).await;
    stack.email.inject_failures(2);

    stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap();

    let first = wait_for_row(&stack, "a first failed attempt", "welcome", |row| row.attempts == 1).await;
    assert_eq!(first.next_attempt_at, Some(monday_morning() + seconds(30)));
    assert!(first.last_error.as_deref().unwrap_or_default().contains("503"), "{first:?}");
    assert_eq!((first.sent_at, first.failed_at), (None, None));
    clock.advance(seconds(29));
    assert_eq!(dispatch_due(stack.state()).await.unwrap().claimed, 0, "not due again before its backoff");

    clock.advance(seconds(1));
    let second = wait_for_row(&stack, "a second failed attempt", "welcome", |row| row.attempts == 2).await;
    assert_eq!(second.next_attempt_at, Some(monday_morning() + seconds(30 + 60)));
    assert!(stack.email.messages().is_empty());

    clock.advance(seconds(60));
    let messages = stack.email.wait_for_messages(1, DEADLINE).await.unwrap();
    assert_eq!(messages[0].template, "welcome");
    let sent = wait_for_row(&stack, "the welcome marked sent", "welcome", |row| row.sent_at.is_some()).await;
    assert_eq!((sent.sent_at, sent.attempts, sent.failed_at), (Some(monday_morning() + seconds(90)), 3, None));
    assert_eq!(stack.state().metrics.emails_sent_so_far("welcome"), 1);
    let metrics = stack.metrics().await.unwrap();
    assert!(metrics.contains(r#"billing_email_send_failures_total{template="welcome"} 2"#), "{metrics}");
}

#[tokio::test]
async fn after_its_last_allowed_attempt_an_email_is_marked_failed_and_never_tried_again() {
    let (stack, clock) = stack_on_manual_clock(|config| {
        config.outbox.max_attempts = 3;
        config.outbox.retry_base_ms = 30_000;
    })
    .await;
    stack.email.inject_failures(1_000);
    stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap();

    wait_for_row(&stack, "a first failed attempt", "welcome", |row| row.attempts == 1).await;
    clock.advance(seconds(30));
    wait_for_row(&stack, "a second failed attempt", "welcome", |row| row.attempts == 2).await;
    clock.advance(seconds(60));
    let failed = wait_for_row(&stack, "the welcome marked failed", "welcome", |row| row.failed_at.is_some()).await;
    assert_eq!((failed.attempts, failed.failed_at, failed.sent_at), (3, Some(monday_morning() + seconds(90)), None));

    // The API recovers, and hours pass: the failed message stays failed.
    stack.email.inject_failures(0);
    clock.advance(chrono::Duration::hours(6));
    assert_eq!(dispatch_due(stack.state()).await.unwrap().claimed, 0);
    assert!(stack.email.messages().is_empty());
    assert_eq!(outbox_row(&stack, "welcome").await.attempts, 3);
}

#[tokio::test]
async fn a_signup_that_rolled_back_sends_no_email() {
    let (stack, _clock) = stack_on_manual_clock(|_| {}).await;
    let attempts = billing_service::onboarding::CREATE_CUSTOMER_ATTEMPTS;
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").status(500).times(attempts));

    let failure = stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap_err();
    assert_eq!(failure.status, StatusCode::BAD_GATEWAY);
    // A signup that went through afterwards is mailed: the failed one never was.
    stack.api().signup("grace@example.com", "Grace Hopper", None).await.unwrap().unwrap();
    let messages = stack.email.wait_for_messages(1, DEADLINE).await.unwrap();
    wait_for_sent_rows(&stack, 1).await;

    assert_eq!(dispatch_due(stack.state()).await.unwrap().claimed, 0);
    let recipients: Vec<String> = stack.email.messages().into_iter().map(|message| message.to).collect();
    assert_eq!(recipients, ["grace@example.com"], "{messages:?}");
    assert_eq!(stack.count_rows("email_outbox").await.unwrap(), 5, "only Grace's sequence is scheduled");
}

#[tokio::test]
async fn without_an_email_api_the_outbox_only_queues() {
    let (stack, _clock) = stack_on_manual_clock(|config| config.email.api_base = None).await;

    stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap();

    assert!(matches!(dispatch_due(stack.state()).await, Err(DispatchError::Disabled)));
    assert_eq!(outbox_row(&stack, "welcome").await.sent_at, None);
    assert!(stack.email.messages().is_empty());
}

#[tokio::test]
async fn a_graceful_shutdown_stops_the_dispatcher_too() {
    let stack = Stack::start().await.unwrap();
    let mut config = Config::for_tests(&stack.database.url, &stack.stripe.base_url());
    config.email.api_base = Some(stack.email.base_url());
    let app = Application::build(config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    stop.send(()).unwrap();

    // run_until returns only once the dispatcher has stopped.
    tokio::time::timeout(DEADLINE, running).await.expect("the service stops").unwrap().unwrap();
}

#[tokio::test]
async fn a_send_repeated_after_a_lost_commit_delivers_no_second_email() {
    let (stack, _clock) = stack_on_manual_clock(|config| config.outbox.poll_ms = 600_000).await;
    stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap();
    stack.email.wait_for_messages(1, DEADLINE).await.unwrap();
    wait_for_sent_rows(&stack, 1).await;

    // As if the dispatcher had died after the send, before its commit recorded it.
    sqlx::query("UPDATE email_outbox SET sent_at = NULL WHERE template = 'welcome'")
        .execute(&stack.pool)
        .await
        .unwrap();
    let report = dispatch_due(stack.state()).await.unwrap();

    assert_eq!(report.sent, 1, "the row is sent again");
    assert_eq!(stack.email.messages().len(), 1, "with the same idempotency key: one e-mail");
    assert!(outbox_row(&stack, "welcome").await.sent_at.is_some());
}

#[tokio::test]
async fn a_message_with_an_unknown_template_is_marked_failed_at_once() {
    let (stack, _clock) = stack_on_manual_clock(|config| config.outbox.poll_ms = 600_000).await;
    stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap();
    wait_for_sent_rows(&stack, 1).await;
    sqlx::query(
        "UPDATE email_outbox SET template = 'from_a_newer_version', send_after = $1 WHERE template = 'feedback'",
    )
    .bind(monday_morning())
    .execute(&stack.pool)
    .await
    .unwrap();

    let report = dispatch_due(stack.state()).await.unwrap();

    assert_eq!((report.claimed, report.gave_up), (1, 1));
    let failed = outbox_row(&stack, "from_a_newer_version").await;
    assert_eq!((failed.attempts, failed.failed_at), (1, Some(monday_morning())));
    assert!(failed.last_error.unwrap().contains("unknown e-mail template"));
    assert_eq!(stack.email.messages().len(), 1, "only the welcome");
}

#[tokio::test]
async fn an_email_api_slower_than_its_timeout_holds_no_database_connection_and_each_message_goes_out_once() {
    const CUSTOMERS: usize = 6;
    // One database connection: a dispatcher holding it across the e-mail API call would leave
    // none for anyone else, and they would get a 503 after half a second.
    let (stack, clock) = stack_on_manual_clock(|config| {
        config.database.max_connections = 1;
        config.database.acquire_timeout_ms = 500;
        config.email.timeout_ms = 1_500;
        config.outbox.retry_base_ms = 60_000;
        config.outbox.poll_ms = 25;
    })
    .await;
    let (_, first) = stack.signed_up_customer("first@example.com").await.unwrap();
    wait_for_sent_rows(&stack, 1).await;
    // The API stores each of the next welcome e-mails at once and answers 4 s later, long after
    // the service gave up on it.
    stack.email.inject_slow_answers(CUSTOMERS, Duration::from_secs(4));
    for n in 0..CUSTOMERS {
        stack.api().signup(&format!("slow{n}@example.com"), "Slow", None).await.unwrap().unwrap();
    }
    stack.email.wait_for_messages(1 + CUSTOMERS, DEADLINE).await.unwrap();

    // Sends are waiting on the API now (the first ones may have timed out already); the only
    // connection is free for a customer.
    let usage = first.usage().await.unwrap();
    assert!(usage.is_ok(), "{usage:?}");
    let waiting = outbox_rows(&stack)
        .await
        .into_iter()
        .filter(|row| row.template == "welcome" && row.sent_at.is_none() && row.last_error.is_none())
        .count();
    assert!(waiting > 0, "no send was still waiting on the API when the customer was served: the check proved nothing");

    // The service gives up on each, records the failure, and tries again after the backoff,
    // with the same idempotency key: the API already has them, so none goes out twice.
    wait_until("every slow send to be recorded as failed", DEADLINE, || async {
        let failed = outbox_rows(&stack).await.iter().filter(|row| row.last_error.is_some()).count();
        Ok((failed == CUSTOMERS).then_some(()))
    })
    .await
    .unwrap();
    clock.advance(seconds(120));
    wait_for_sent_rows(&stack, (1 + CUSTOMERS) as i64).await;
    assert_eq!(stack.email.messages().len(), 1 + CUSTOMERS, "a message was delivered twice");
    let resent = outbox_rows(&stack).await.into_iter().filter(|row| row.attempts == 2).count();
    assert_eq!(resent, CUSTOMERS);
}
