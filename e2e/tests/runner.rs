//! The runner as CI and release managers use it: against a deployed target every journey runs
//! whose needs the target was given, the rest are skipped with the reason; settings that cannot
//! be right stop the run with exit code 2; `e2e run` writes JUnit and exits by the results.

use billing_e2e::Stack;
use billing_e2e::journeys::DeployedAccess;
use billing_e2e::report::Outcome;
use billing_e2e::runner::{self, Deployment, RunOptions, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_only_a_url_and_a_key_the_api_journeys_run_and_the_rest_say_what_they_need() {
    // A stack stands in for the deployed service; the runner sees only its URL.
    let deployed = Stack::start().await.unwrap();
    let (signup, _) = deployed.signed_up_customer("release-manager@example.com").await.unwrap();
    let mut deployment = Deployment::at(&deployed.service_url);
    deployment.api_key = Some(signup.api_key);
    let options =
        RunOptions { target: Target::Deployed(deployment), environment: "staging".into(), ..Default::default() };

    let report = runner::run(&options).await;

    let access = DeployedAccess { api_key: true, ..Default::default() };
    let runnable: Vec<&str> = billing_e2e::journeys::all()
        .iter()
        .filter(|j| j.deployed_skip_reason(access).is_none())
        .map(|j| j.name)
        .collect();
    assert_eq!(runnable.len(), 10, "{runnable:?}");
    assert_eq!(report.failed(), 0, "{:#?}", report.journeys);
    assert_eq!(report.passed(), runnable.len());
    assert_eq!(report.skipped(), billing_e2e::journeys::all().len() - runnable.len());
    assert_eq!(report.target, deployed.service_url);
    let payg = report.journeys.iter().find(|j| j.name == "payg_after_payment_method").unwrap();
    assert!(matches!(&payg.outcome, Outcome::Skipped(reason) if reason.contains("STRIPE_SECRET_KEY")), "{payg:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_deployed_database_each_journey_ends_with_the_reconciliation_of_its_customers() {
    let deployed = Stack::start().await.unwrap();
    let deployment = || {
        let mut deployment = Deployment::at(&deployed.service_url);
        deployment.stripe = Some(deployed.stripe_api());
        deployment.database = Some(deployed.pool.clone());
        deployment
    };
    let options = |deployment| RunOptions {
        target: Target::Deployed(deployment),
        filters: vec!["api_key_rotation".into()],
        ..Default::default()
    };
    let clean = runner::run(&options(deployment())).await;
    assert_eq!(clean.passed(), 1, "{:#?}", clean.journeys);

    // A defect the journey itself cannot see: every new ledger says one credit more than it has.
    sqlx::raw_sql(
        "CREATE FUNCTION skew_balance() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN NEW.balance_after := NEW.balance_after + 1; RETURN NEW; END $$;
         CREATE TRIGGER skew_balance BEFORE INSERT ON ledger_entries
             FOR EACH ROW WHEN (NEW.source = 'trial_signup') EXECUTE FUNCTION skew_balance();",
    )
    .execute(&deployed.pool)
    .await
    .unwrap();
    let skewed = runner::run(&options(deployment())).await;

    let Outcome::Failed(failure) = &skewed.journeys[0].outcome else { panic!("{:#?}", skewed.journeys) };
    assert!(failure.contains("on the deployed database") && failure.contains("add up to 5"), "{failure}");
}

/// `e2e run` with this environment (and nothing inherited that picks a target or Stripe).
fn e2e_run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_e2e"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("E2E_") || name.starts_with("STRIPE_") {
            command.env_remove(&*name);
        }
    }
    command.arg("run").args(args).envs(env.iter().copied()).output().unwrap()
}

/// Environment, extra arguments, and what the refusal must say.
type Refusal<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);

#[test]
fn settings_that_cannot_be_right_stop_the_run_before_anything_is_sent_with_exit_2() {
    let target = ["--target", "http://127.0.0.1:9"];
    let cases: [Refusal; 5] = [
        (&[("STRIPE_SECRET_KEY", "sk_live_51Habcdef")], &[], &["STRIPE_SECRET_KEY", "live-mode", "sk_test_"]),
        (&[("STRIPE_SECRET_KEY", "rk_live_51Habcdef")], &[], &["live-mode"]),
        (&[("STRIPE_SECRET_KEY", "pk_test_51Habcdef")], &[], &["publishable", "sk_test_"]),
        (
            &[("STRIPE_SECRET_KEY", "sk_test_x1"), ("STRIPE_WEBHOOK_SECRET", "sk_test_x1")],
            &[],
            &["STRIPE_WEBHOOK_SECRET", "whsec_"],
        ),
        (&[], &["--database-url", "postgres://nobody@127.0.0.1:9/x"], &["--database-url needs STRIPE_SECRET_KEY"]),
    ];
    for (env, extra, expected) in cases {
        let args: Vec<&str> = target.iter().chain(extra).copied().collect();

        let refused = e2e_run(&args, env);

        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{env:?} {extra:?}: {stderr}");
        for words in expected {
            assert!(stderr.contains(words), "{env:?}: `{words}` in {stderr}");
        }
        assert!(refused.stdout.is_empty(), "nothing ran: {}", String::from_utf8_lossy(&refused.stdout));
    }

    let unreachable = e2e_run(
        &[&target[..], &["--database-url", "postgres://nobody@127.0.0.1:9/x"]].concat(),
        &[("STRIPE_SECRET_KEY", "sk_test_x1")],
    );
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot connect to the deployed database"));
}

#[test]
fn e2e_run_writes_junit_and_exits_by_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("reports/e2e.xml");
    let passed = std::process::Command::new(env!("CARGO_BIN_EXE_e2e"))
        .args(["run", "--filter", "low_credit", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert!(passed.status.success(), "{stdout}");
    assert!(stdout.contains("PASS  low_credit_warning"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"name="low_credit_warning""#) && xml.contains(r#"failures="0""#), "{xml}");

    // A target where nothing listens: the journey fails, the JUnit says so, the exit code is 1.
    let failed =
        e2e_run(&["--target", "http://127.0.0.1:9", "--filter", "low_credit", "--junit", junit.to_str().unwrap()], &[]);
    assert_eq!(failed.status.code(), Some(1), "{}", String::from_utf8_lossy(&failed.stdout));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"failures="1""#) && xml.contains("<failure"), "{xml}");

    let unknown =
        std::process::Command::new(env!("CARGO_BIN_EXE_e2e")).args(["run", "--filter", "nope"]).output().unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("e2e list"));
}
