//! schemathesis against the service: requests generated from `/openapi.json` (valid and
//! invalid), every check on, against a stack of our own with a signed-up customer who has a
//! card. Zero failures means no 5xx and no answer the document does not allow.
//!
//! schemathesis is a Python tool (PyPI); `scripts/test` installs the version pinned here. The
//! checks' expectations that depend on the state of the customer, not on the request, are in
//! `service/schemathesis/schemathesis.toml`, each with its reason, and `hooks.py` beside it
//! keeps generated `Idempotency-Key`s from repeating.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use billing_stack::Stack;

/// The schemathesis release the run is pinned to (`scripts/test` reads it from here).
const PINNED: &str = "4.32.5";
/// The openapi-spec-validator release that checks the document (`scripts/test` reads it too).
const VALIDATOR_PINNED: &str = "0.9.0";
/// Test cases per operation and phase: enough to reach every status, few enough for two cores.
/// `SCHEMATHESIS_MAX_EXAMPLES` asks for more (a longer hunt by hand).
const MAX_EXAMPLES: &str = "100";
/// The whole run is killed (and the test fails) past this.
const TIME_LIMIT: Duration = Duration::from_secs(480);

fn install_hint() -> String {
    format!("install it with `python3 -m pip install schemathesis=={PINNED}` (scripts/test does)")
}

/// schemathesis's command line, run by the `python3` that `pip` installed it for (its `st`
/// script may not be on PATH).
fn schemathesis() -> tokio::process::Command {
    let mut command = tokio::process::Command::new("python3");
    command.args(["-m", "schemathesis.cli"]);
    command
}

/// The installed schemathesis version, or why it cannot be run.
async fn installed_version() -> Result<String, String> {
    let output = schemathesis()
        .arg("--version")
        .output()
        .await
        .map_err(|err| format!("python3 is needed to run schemathesis ({err}); then {}", install_hint()))?;
    if !output.status.success() {
        return Err(format!("schemathesis is not installed: {}", install_hint()));
    }
    // "python -m schemathesis.cli, version 4.32.5"
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.trim().rsplit(' ').next().unwrap_or_default().to_string())
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1_for_openapi_spec_validator() {
    let stack = Stack::start().await.unwrap();
    let document =
        stack.api().request(reqwest::Method::GET, "/openapi.json").send().await.unwrap().bytes().await.unwrap();
    let check = format!(
        "import json, sys\nimport openapi_spec_validator as v\n\
         assert v.__version__ == '{VALIDATOR_PINNED}', f'openapi-spec-validator {{v.__version__}} is installed, the test is pinned to {VALIDATOR_PINNED}'\n\
         v.validate(json.load(sys.stdin))"
    );
    let mut validator = tokio::process::Command::new("python3")
        .args(["-c", &check])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("python3 is needed ({err}); then python3 -m pip install openapi-spec-validator=={VALIDATOR_PINNED}")
        });
    let mut stdin = validator.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, &document).await.unwrap();
    drop(stdin);
    let output = validator.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the document is not valid OpenAPI (or openapi-spec-validator=={VALIDATOR_PINNED} is missing: python3 -m pip install openapi-spec-validator=={VALIDATOR_PINNED}, as scripts/test does):\n{stderr}"
    );
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let version = installed_version().await.unwrap_or_else(|problem| panic!("{problem}"));
    assert_eq!(
        version,
        PINNED,
        "schemathesis {version} is installed, the test is pinned to {PINNED}: {}",
        install_hint()
    );

    let stack = Stack::start().await.unwrap();
    let (signup, customer) = stack.signed_up_customer("fuzz@example.com").await.unwrap();
    customer.add_payment_method("pm_card_visa", true).await.unwrap().unwrap();

    let settings = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis");
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| rand::random::<u32>().to_string());
    let max_examples = std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.into());
    // schemathesis keeps a cache (`.schemathesis/`) in its working directory: give it one of its own.
    let workdir = tempfile::tempdir().unwrap();
    let mut command = schemathesis();
    command
        .current_dir(workdir.path())
        .arg("--config-file")
        .arg(settings.join("schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(format!("{}/openapi.json", stack.service_url))
        .args(["--url", &stack.service_url])
        .args(["--header", &format!("Authorization: Bearer {}", signup.api_key)])
        .args(["--checks", "all"])
        .args(["--max-examples", &max_examples])
        .args(["--seed", &seed])
        .args(["--workers", "2"])
        .args(["--request-timeout", "20"])
        .env("SCHEMATHESIS_HOOKS", settings.join("hooks.py"))
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let output = tokio::time::timeout(TIME_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran longer than {TIME_LIMIT:?} (seed {seed})"))
        .unwrap_or_else(|err| panic!("cannot run schemathesis ({err}): {}", install_hint()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}\nschemathesis took {:.0?} (seed {seed})", started.elapsed());
    assert!(
        output.status.success(),
        "schemathesis found failures (seed {seed}; rerun with SCHEMATHESIS_SEED={seed}):\n{stdout}\n{stderr}"
    );
}
