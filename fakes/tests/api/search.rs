//! `GET /v1/customers/search`: the query language subset (`email:`, `metadata['k']:`, `AND`,
//! `OR`, `~`, `created>`), `next_page` paging, and 400s that name `query`.

use serde_json::Value;

use crate::helpers::TestStripe;

fn ids(answer: &Value) -> Vec<String> {
    answer["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

async fn search(stripe: &TestStripe, query: &str, extra: &str) -> crate::helpers::Answer {
    let url = reqwest::Url::parse_with_params(&stripe.url("/v1/customers/search"), &[("query", query)]).unwrap();
    stripe.get(&format!("{}?{}{extra}", url.path(), url.query().unwrap())).await
}

#[tokio::test]
async fn email_metadata_and_and_find_exactly_the_matching_customers() {
    let stripe = TestStripe::start().await;
    let mut made = Vec::new();
    for (email, plan) in [("ada@example.com", "pro"), ("Ada@Example.com", "free"), ("bob@example.com", "pro")] {
        let customer = stripe.post("/v1/customers", &[("email", email), ("metadata[plan]", plan)]).await;
        made.push(customer.id());
    }
    let by_email = search(&stripe, "email:'ada@example.com'", "").await;
    assert_eq!(by_email.status, 200, "{}", by_email.raw);
    assert_eq!(by_email.body["object"], "search_result");
    assert_eq!(by_email.body["url"], "/v1/customers/search");
    assert_eq!(ids(&by_email.body), [made[1].clone(), made[0].clone()], "case-insensitive, newest first");
    let both = search(&stripe, "email:'ada@example.com' AND metadata['plan']:'pro'", "").await;
    assert_eq!(ids(&both.body), [made[0].clone()]);
    let pros = search(&stripe, "metadata['plan']:'pro'", "").await;
    assert_eq!(ids(&pros.body), [made[2].clone(), made[0].clone()]);
    let either = search(&stripe, "email:'bob@example.com' OR metadata[\"plan\"]:\"free\"", "").await;
    assert_eq!(ids(&either.body), [made[2].clone(), made[1].clone()]);
    let negated = search(&stripe, "-metadata['plan']:'pro'", "").await;
    assert_eq!(ids(&negated.body), [made[1].clone()]);
    let contains = search(&stripe, "email~'bob@'", "").await;
    assert_eq!(ids(&contains.body), [made[2].clone()]);
    let none = search(&stripe, "email:'nobody@example.com'", "").await;
    assert_eq!((ids(&none.body).len(), none.body["has_more"].as_bool()), (0, Some(false)));
}

#[tokio::test]
async fn next_page_walks_every_match_once() {
    let stripe = TestStripe::start().await;
    for n in 0..7 {
        stripe.post("/v1/customers", &[("email", &format!("c{n}@example.com")), ("metadata[batch]", "b1")]).await;
    }
    stripe.post("/v1/customers", &[("email", "other@example.com")]).await;
    let mut seen = Vec::new();
    let mut page = String::new();
    loop {
        let answer = search(&stripe, "metadata['batch']:'b1'", &format!("&limit=3{page}")).await;
        assert_eq!(answer.status, 200, "{}", answer.raw);
        seen.extend(ids(&answer.body));
        match answer.body["next_page"].as_str() {
            Some(next) => {
                assert_eq!(answer.body["has_more"], true);
                page = format!("&page={next}");
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);
}

#[tokio::test]
async fn the_search_path_is_not_taken_for_a_customer_id_and_bad_queries_name_query() {
    let stripe = TestStripe::start().await;
    let missing = stripe.get("/v1/customers/search").await;
    assert_eq!((missing.status, missing.error_param()), (400, "query"), "{}", missing.raw);
    for bad in ["email:ada", "colour:'red'", "email:'a' AND name:'b' OR phone:'c'", "email:'unclosed"] {
        let answer = search(&stripe, bad, "").await;
        assert_eq!((answer.status, answer.error_param()), (400, "query"), "{bad}: {}", answer.raw);
        assert!(answer.body["error"]["message"].as_str().unwrap().contains("Invalid search query"), "{}", answer.raw);
    }
    let bad_page = search(&stripe, "email:'a@b.co'", "&page=nonsense").await;
    assert_eq!((bad_page.status, bad_page.error_param()), (400, "page"));
}
