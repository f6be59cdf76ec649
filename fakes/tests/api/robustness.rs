//! No input, however odd, makes the fake answer 5xx or drop the connection: every route (walked
//! from `billing_fakes::stripe::ROUTES`) and a few that are not routes, with odd bodies.

use billing_fakes::stripe::ROUTES;

use crate::helpers::TestStripe;

/// Paths that are not routes but come close.
const NEAR_MISSES: &[&str] = &[
    "/v1/customers",
    "/v1/customers/cus_x",
    "/v1/customers/cus_x/payment_methods",
    "/v1/payment_methods",
    "/v1/payment_methods/pm_card_visa/attach",
    "/v1/payment_methods/pm_x/detach",
    "/v1/products",
    "/v1/prices",
    "/v1/subscriptions",
    "/v1/subscriptions/sub_x",
    "/v1/invoices",
    "/v1/payment_intents",
    "/v1/events",
    "/v1/webhook_endpoints",
    "/v1/test_helpers/test_clocks",
    "/v1/test_helpers/test_clocks/clock_x/advance",
    "/v1/customers/search/extra",
    "/v1/invoices/create_preview/x",
];

const BODIES: &[&str] = &[
    "",
    "a[=1",
    "=&&=",
    "%zz=%",
    "limit=-1",
    "limit=99999999999999999999",
    "metadata=x&metadata[y]=z",
    "items[0]=x",
    "items[5][price]=p",
    "items[0][price][x]=p",
    "amount=9223372036854775807&currency=usd",
    "amount=1e3&currency=usd",
    "unit_amount=9223372036854775807&currency=usd&product_data[name]=x",
    "frozen_time=-9223372036854775808",
    "expand[]=a.b.c.d.e&expand[0]=x",
    "customer=&email=&name=",
    "email[]=a",
    "enabled_events=*&url=http://x",
    "\u{0}\u{1}=\u{ff}",
    "query=email:'&page=%%%",
    "query=metadata['a']:'b' AND&limit=5",
    "items[0][id]=si_x&items[0][deleted]=true&proration_behavior=always_invoice",
    "subscription_details[items][0][price]=x&customer=cus_x",
    "amount=-1&charge=ch_x&payment_intent=pi_x",
    "proration_date=99999999999999&items[0][quantity]=99999999999",
    "payment_method=pm_card_chargeDeclined&confirm=true&customer=",
];

#[tokio::test]
async fn no_input_makes_the_fake_answer_500_or_drop_the_connection() {
    let stripe = TestStripe::start().await;
    let route_paths: Vec<String> = ROUTES.iter().map(|route| route.path.replace("{id}", "x_1")).collect();
    let paths = route_paths.iter().map(String::as_str).chain(NEAR_MISSES.iter().copied());
    for path in paths {
        for body in BODIES {
            for method in ["GET", "POST", "DELETE"] {
                let request = match method {
                    "GET" => stripe.http.get(format!("{}?{body}", stripe.url(path))),
                    "DELETE" => stripe.http.delete(stripe.url(path)),
                    _ => stripe
                        .http
                        .post(stripe.url(path))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body.to_string()),
                };
                let answer = stripe.send(request.bearer_auth(crate::helpers::KEY)).await;
                assert!(
                    answer.status < 500,
                    "{method} {path} with {body:?} answered {}: {}",
                    answer.status,
                    answer.raw
                );
                assert!(
                    answer.body["error"].is_object() || answer.status == 200,
                    "{method} {path} {body:?}: {}",
                    answer.raw
                );
            }
        }
    }
}
