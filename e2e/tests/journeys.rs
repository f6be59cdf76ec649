//! The journey suite under `cargo test`: one test per journey, each on a local stack of its
//! own (PostgreSQL from the provider chain, the Stripe and e-mail fakes, the service).

use billing_e2e::report::Outcome;

macro_rules! journey_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let result = billing_e2e::runner::run_local(stringify!($name)).await;
                assert_eq!(result.outcome, Outcome::Passed, "journey {}", stringify!($name));
            }
        )*

        #[test]
        fn every_registered_journey_has_a_test() {
            let tested = [$(stringify!($name)),*];
            let registered: Vec<&str> = billing_e2e::journeys::all().iter().map(|j| j.name).collect();
            assert_eq!(registered, tested);
        }
    };
}

journey_tests! {
    trial_signup_first_fix,
    trial_out_of_credits_is_refused,
    payg_after_payment_method,
    marketplace_signup_keeps_its_source,
    payment_method_with_consent_is_accepted,
    payment_method_without_consent_is_rejected,
    pro_credits_arrive_when_the_invoice_is_paid,
    pro_renewal_grants_once_even_when_delivered_twice,
    pro_beyond_credits_costs_15_dollars,
    cancelling_pro_now_is_pay_as_you_go_at_once,
    cancelling_at_period_end_keeps_pro_until_it_ends,
    usage_summary_shows_the_full_history,
    low_credit_warning,
    critical_warning,
    declined_card_on_a_payg_fix_changes_nothing,
    failed_renewal_is_past_due_with_a_warning,
    unpaid_after_the_last_retry_loses_pro_until_a_fixed_card_pays,
    duplicate_and_out_of_order_webhooks_grant_once,
    api_key_rotation_and_revocation,
    credential_vending_and_its_rate_limit,
    the_welcome_sequence_follows_the_clock,
    an_existing_customer_reads_usage_and_vends_credentials,
    killed_mid_charge_nothing_is_lost_or_doubled,
    stripe_slower_than_the_service_is_an_honest_unknown,
    stripe_charged_but_its_answer_was_lost_is_recorded_once,
    postgres_restarted_under_load_loses_nothing,
    duplicate_query_parameters_change_nothing,
    hostile_inputs_on_every_endpoint_are_clear_json_errors,
    signed_events_stripe_does_not_bear_out_move_no_money,
    a_signup_whose_answer_was_lost_is_finished_by_its_keyed_retry,
    cancelling_what_stripe_already_ended_converges,
}
