//! The journeys' world on Stripe's API: a deployment that puts its customers on no Stripe test
//! clock makes a journey that moves Stripe's time skip, with the reason, rather than fail.

use billing_e2e::journeys::{Skip, World};
use billing_e2e::{ApiClient, Signup};
use billing_fakes::StripeFake;
use billing_stack::{StripeApi, TestModeKey};

#[tokio::test]
async fn a_customer_on_no_test_clock_skips_the_journey_saying_so() {
    let stripe = StripeFake::start().await.unwrap();
    let http = billing_service::tls::client();
    let api = StripeApi::new(&stripe.base_url(), TestModeKey::parse("sk_test_world").unwrap(), http.clone());
    let customer = api.post("/v1/customers", &[("email", "realtime@example.com")]).await.unwrap();
    let stripe_customer = customer["id"].as_str().unwrap().to_string();
    let mut world = World::new(ApiClient::new("http://127.0.0.1:9", http), "run".into());
    world.stripe = Some(api);
    let signup = Signup {
        customer_id: "00000000-0000-0000-0000-000000000001".into(),
        email: "realtime@example.com".into(),
        source: "direct".into(),
        plan: "trial".into(),
        credit_balance: 5,
        stripe_customer_id: stripe_customer.clone(),
        api_key: "bk_unused".into(),
        api_key_id: "unused".into(),
    };

    let refused = world.test_clock_of(&signup).await.unwrap_err();

    let Skip(reason) = refused.downcast_ref::<Skip>().expect("a skip, not a failure");
    assert!(reason.contains("without a test clock") && reason.contains(&stripe_customer), "{reason}");
}
