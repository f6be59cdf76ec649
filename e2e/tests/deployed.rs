//! A release manager's validation of a deployment, verified here by standing the standalone
//! Stripe fake in for Stripe test mode: `e2e stack up` (the real binary) deploys the service
//! against its Stripe fake, and `e2e run --target …` is given only what `stack up` prints — the
//! service's URL, the Stripe API base, a test-mode key, the webhook signing secret and an
//! existing customer's API key — exactly as a release manager is given them for staging.

mod common;

use std::collections::BTreeMap;

use billing_e2e::journeys::{self, Need};
use common::{StackUp, clean_run_command};

/// How each journey ended, from the JUnit report: `None` passed, `Some(reason)` skipped.
fn junit_outcomes(xml: &str) -> BTreeMap<String, Option<String>> {
    let doc = roxmltree::Document::parse(xml).expect("the JUnit report is XML");
    doc.descendants()
        .filter(|node| node.has_tag_name("testcase"))
        .map(|case| {
            let name = case.attribute("name").unwrap().to_string();
            assert!(
                !case.children().any(|c| c.has_tag_name("failure") || c.has_tag_name("error")),
                "{name} failed: {xml}"
            );
            let skipped = case.children().find(|c| c.has_tag_name("skipped"));
            (name, skipped.map(|s| s.attribute("message").unwrap_or_default().to_string()))
        })
        .collect()
}

/// Flows added after the original 21; they run against a deployment too.
const LATER_FLOWS: [&str; 1] = ["unpaid_after_the_last_retry_loses_pro_until_a_fixed_card_pays"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_run_given_only_what_stack_up_prints_passes_at_least_18_of_the_21_original_journeys() {
    // Signups are limited to 10 a minute per address, as on a production-like staging.
    let stack = StackUp::start(&[]);
    let (env, args) = stack.validation_command();
    let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["STRIPE_API_BASE", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"]);
    assert_eq!(args[..3], ["run".to_string(), "--target".into(), stack.service_url()]);
    assert_eq!(args[3..], ["--api-key".to_string(), stack.demo_key()]);
    let reports = tempfile::tempdir().unwrap();
    let junit = reports.path().join("e2e.xml");

    let run = clean_run_command().envs(env).args(&args).arg("--junit").arg(&junit).output().unwrap();

    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "no journey failed:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let outcomes = junit_outcomes(&std::fs::read_to_string(&junit).unwrap());
    let all = journeys::all();
    assert_eq!(outcomes.len(), all.len(), "{outcomes:#?}");

    let original: Vec<_> = all.iter().filter(|j| !j.requires(Need::Chaos) && !LATER_FLOWS.contains(&j.name)).collect();
    assert_eq!(original.len(), 21);
    let passed: Vec<&str> = original.iter().filter(|j| outcomes[j.name].is_none()).map(|j| j.name).collect();
    assert!(passed.len() >= 18, "only {} of 21 passed: {outcomes:#?}", passed.len());
    assert_eq!(passed.len(), 19, "{outcomes:#?}");
    for later in LATER_FLOWS {
        assert_eq!(outcomes[later], None, "{later} passes against a deployment: {outcomes:#?}");
    }
    let passed = 19 + LATER_FLOWS.len();

    for (name, outcome) in &outcomes {
        if let Some(reason) = outcome {
            assert!(!reason.trim().is_empty(), "{name} was skipped without a reason");
            assert!(stdout.contains(&format!("({reason})")), "the summary gives {name}'s reason:\n{stdout}");
        }
    }
    for chaos in all.iter().filter(|j| j.requires(Need::Chaos)) {
        let reason = outcomes[chaos.name].as_deref().unwrap_or_else(|| panic!("{} ran remotely", chaos.name));
        assert!(reason.contains("local only"), "{}: {reason}", chaos.name);
    }
    let inbox = outcomes["trial_signup_first_fix"].as_deref().expect("skipped: no inbox on a deployment");
    assert!(inbox.contains("e-mail inbox"), "{inbox}");
    let clock = outcomes["the_welcome_sequence_follows_the_clock"].as_deref().expect("skipped: no service clock");
    assert!(clock.contains("own clock"), "{clock}");
    let skipped = all.len() - passed;
    assert!(
        stdout.contains(&format!(
            "journeys on {} (staging): {passed} passed, 0 failed, {skipped} skipped",
            stack.service_url()
        )),
        "{stdout}"
    );
}
