//! A journey run's results against a real Pushgateway (Debian's `prometheus-pushgateway`, started
//! with basic auth by `billing_stack::test_pushgateway`), read back from its `/metrics`: what lands,
//! what a second push replaces, and what stays apart. The push path itself (errors, retries,
//! metric types) is tested with the push module in `billing-stack`.

use std::time::Duration;

use billing_e2e::report::pushgateway::push_run;
use billing_e2e::report::{JourneyResult, Outcome, RunReport};
use billing_stack::test_pushgateway::TestPushgateway;

fn journey(name: &str, outcome: Outcome, millis: u64) -> JourneyResult {
    JourneyResult::new(name, outcome, Duration::from_millis(millis))
}

fn run_in(environment: &str, journeys: Vec<JourneyResult>) -> RunReport {
    RunReport {
        target: "https://staging.example.com".into(),
        environment: environment.into(),
        commit: Some("0123abcdef".into()),
        started_at: 1_764_072_000,
        duration: Duration::from_millis(7_250),
        journeys,
    }
}

fn three_journey_run(environment: &str) -> RunReport {
    run_in(
        environment,
        vec![
            journey("trial_signup_first_fix", Outcome::Passed, 1_500),
            journey("pro_renewal", Outcome::Failed("expected 60 credits, got 0".into()), 2_250),
            journey("stripe_outage", Outcome::Skipped("needs control of the Stripe fake".into()), 0),
        ],
    )
}

#[tokio::test]
async fn a_run_pushed_with_credentials_can_be_read_back_with_its_counts_durations_and_commit() {
    let gateway = TestPushgateway::start().await.unwrap();

    push_run(&gateway.pushgateway(), &three_journey_run("ci")).await.expect("the push lands");

    let scrape = gateway.scrape().await.unwrap();
    let ci = [("job", "billing_e2e"), ("environment", "ci")];
    let with = |extra: (&'static str, &'static str)| [ci[0], ci[1], extra];
    assert_eq!(scrape.value("billing_e2e_journeys", &with(("result", "passed"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &with(("result", "failed"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &with(("result", "skipped"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journey_passed", &with(("journey", "trial_signup_first_fix"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journey_passed", &with(("journey", "pro_renewal"))), 0.0);
    assert!(scrape.values("billing_e2e_journey_passed", &with(("journey", "stripe_outage"))).is_empty());
    assert_eq!(scrape.value("billing_e2e_journey_skipped", &with(("journey", "stripe_outage"))), 1.0);
    let skipped = scrape.label_sets("billing_e2e_journey_skipped", &ci);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["reason"], "needs control of the Stripe fake", "a skip carries its reason");
    assert_eq!(scrape.value("billing_e2e_journey_duration_seconds", &with(("journey", "trial_signup_first_fix"))), 1.5);
    assert_eq!(scrape.value("billing_e2e_journey_duration_seconds", &with(("journey", "pro_renewal"))), 2.25);
    assert_eq!(scrape.value("billing_e2e_run_duration_seconds", &ci), 7.25);
    assert_eq!(scrape.value("billing_e2e_run_timestamp_seconds", &ci), 1_764_072_000.0);
    assert_eq!(
        scrape.value(
            "billing_e2e_run_info",
            &[ci[0], ci[1], ("commit", "0123abcdef"), ("target", "https://staging.example.com")]
        ),
        1.0
    );
    for family in [
        "billing_e2e_journeys",
        "billing_e2e_journey_passed",
        "billing_e2e_journey_skipped",
        "billing_e2e_journey_duration_seconds",
        "billing_e2e_run_duration_seconds",
        "billing_e2e_run_timestamp_seconds",
        "billing_e2e_run_info",
    ] {
        assert_eq!(scrape.type_of(family), Some("gauge"), "{family} as the gateway serves it");
    }
}

#[tokio::test]
async fn a_second_push_for_the_same_environment_replaces_the_first() {
    let gateway = TestPushgateway::start().await.unwrap();
    let pushgateway = gateway.pushgateway();
    push_run(&pushgateway, &three_journey_run("ci")).await.unwrap();

    let mut second = run_in("ci", vec![journey("trial_signup_first_fix", Outcome::Passed, 900)]);
    second.commit = Some("4567fedcba".into());
    push_run(&pushgateway, &second).await.unwrap();

    let scrape = gateway.scrape().await.unwrap();
    let journeys: Vec<String> = scrape
        .label_sets("billing_e2e_journey_duration_seconds", &[("environment", "ci")])
        .into_iter()
        .map(|labels| labels["journey"].clone())
        .collect();
    assert_eq!(journeys, ["trial_signup_first_fix"], "the removed journeys are gone");
    assert!(scrape.label_sets("billing_e2e_journey_skipped", &[("environment", "ci")]).is_empty());
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "ci"), ("result", "passed")]), 1.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "ci"), ("result", "failed")]), 0.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "ci"), ("result", "skipped")]), 0.0);
    let info = scrape.label_sets("billing_e2e_run_info", &[("environment", "ci")]);
    assert_eq!(info.len(), 1, "only the latest commit's info series is left: {info:?}");
    assert_eq!(info[0]["commit"], "4567fedcba");
}

#[tokio::test]
async fn two_environments_keep_their_own_latest_run_even_with_a_slash_in_the_name() {
    let gateway = TestPushgateway::start().await.unwrap();
    let pushgateway = gateway.pushgateway();

    push_run(&pushgateway, &three_journey_run("ci")).await.unwrap();
    let staging = run_in("staging/eu", vec![journey("trial_signup_first_fix", Outcome::Passed, 3_000)]);
    push_run(&pushgateway, &staging).await.unwrap();

    let scrape = gateway.scrape().await.unwrap();
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "ci"), ("result", "failed")]), 1.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "staging/eu"), ("result", "failed")]), 0.0);
    assert_eq!(
        scrape.value(
            "billing_e2e_journey_duration_seconds",
            &[("environment", "staging/eu"), ("journey", "trial_signup_first_fix")]
        ),
        3.0
    );
    assert_eq!(
        scrape.value(
            "billing_e2e_journey_duration_seconds",
            &[("environment", "ci"), ("journey", "trial_signup_first_fix")]
        ),
        1.5
    );
}

#[tokio::test]
async fn label_values_with_quotes_backslashes_and_newlines_arrive_intact() {
    let gateway = TestPushgateway::start().await.unwrap();
    let awkward = "C:\\runs \"nightly\"\nsecond line ✓";
    let mut report = run_in("ci", vec![journey(awkward, Outcome::Passed, 10)]);
    report.target = awkward.into();

    push_run(&gateway.pushgateway(), &report).await.unwrap();

    let scrape = gateway.scrape().await.unwrap();
    assert_eq!(scrape.value("billing_e2e_journey_passed", &[("environment", "ci"), ("journey", awkward)]), 1.0);
    assert_eq!(scrape.value("billing_e2e_run_info", &[("environment", "ci"), ("target", awkward)]), 1.0);
}
