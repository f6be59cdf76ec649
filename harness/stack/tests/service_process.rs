//! The stack's process mode, as a chaos journey uses it: the real binary, killed with SIGKILL
//! and started again on the same database and port.

use billing_stack::{Profile, ServiceBinary, ServiceRun, Stack, StackOptions};

async fn process_stack() -> Stack {
    let binary = ServiceBinary::build(Profile::Debug).await.expect("the service binary builds");
    Stack::start_with(StackOptions { service: ServiceRun::Process(binary), ..Default::default() })
        .await
        .expect("the stack starts")
}

#[tokio::test]
async fn a_killed_service_is_gone_at_once_and_comes_back_on_the_same_database() {
    let stack = process_stack().await;
    let (signup, customer) = stack.signed_up_customer("phoenix@example.com").await.unwrap();
    let pid = stack.service_pid().expect("a child process runs");

    stack.kill_service().unwrap();
    assert!(customer.usage().await.is_err(), "nothing answers once the service is killed");
    assert!(!billing_testdb::process_is_alive(pid as i32), "the process is gone");

    stack.start_service().await.unwrap();
    assert_ne!(stack.service_pid(), Some(pid), "a new process");
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!(usage["customer_id"], signup.customer_id.as_str(), "same database, same key");
    assert_eq!(usage["credit_balance"], 5);
}

#[tokio::test]
async fn the_child_runs_with_the_stack_configuration_and_the_binary_overrides() {
    let binary = ServiceBinary::build(Profile::Debug).await.unwrap().with_env("SIGNUP_RATE_PER_MINUTE", 0);
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| config.usage.low_credit_threshold = 4),
        service: ServiceRun::Process(binary),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, customer) = stack.signed_up_customer("configured@example.com").await.unwrap();
    customer.record_fix("one").await.unwrap().unwrap();
    let usage = customer.usage().await.unwrap().unwrap();
    let warnings: Vec<&str> = usage["warnings"].as_array().unwrap().iter().filter_map(|w| w["code"].as_str()).collect();
    assert_eq!(warnings, ["low_credits"], "LOW_CREDIT_THRESHOLD=4 reached the child: {usage}");
    assert!(stack.service_log_tail(50).contains("billing service listening"), "{}", stack.service_log_tail(50));
}
