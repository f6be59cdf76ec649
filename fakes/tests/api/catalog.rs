//! Products and prices: recurring prices, `product_data`, lookup keys, validation.

use crate::helpers::TestStripe;

#[tokio::test]
async fn a_recurring_price_with_product_data_creates_its_product() {
    let stripe = TestStripe::start().await;
    let price_id = stripe.pro_price().await;
    let price = stripe.get(&format!("/v1/prices/{price_id}")).await;
    assert_eq!(price.body["unit_amount"], 59900);
    assert_eq!(price.body["currency"], "usd");
    assert_eq!(price.body["type"], "recurring");
    assert_eq!(price.body["recurring"]["interval"], "month");
    assert_eq!(price.body["recurring"]["interval_count"], 1);
    let product = price.body["product"].as_str().unwrap();
    let fetched = stripe.get(&format!("/v1/products/{product}")).await;
    assert_eq!(fetched.body["name"], "Pro");
    assert_eq!(fetched.body["object"], "product");
}

#[tokio::test]
async fn prices_are_found_by_lookup_key() {
    let stripe = TestStripe::start().await;
    let pro = stripe.pro_price().await;
    stripe.post("/v1/prices", &[("unit_amount", "2900"), ("currency", "usd"), ("product_data[name]", "Fix")]).await;
    let found = stripe.get("/v1/prices?lookup_keys[]=pro_monthly").await;
    let data = found.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], pro.as_str());
}

#[tokio::test]
async fn a_product_can_be_created_and_listed_and_prices_can_reference_it() {
    let stripe = TestStripe::start().await;
    let product = stripe.post("/v1/products", &[("name", "Credits"), ("metadata[kind]", "pack")]).await;
    assert_eq!(product.status, 200, "{}", product.raw);
    assert!(product.id().starts_with("prod_"));
    let list = stripe.get("/v1/products").await;
    assert_eq!(list.body["data"][0]["id"], product.id().as_str());
    let price =
        stripe.post("/v1/prices", &[("unit_amount", "1500"), ("currency", "usd"), ("product", &product.id())]).await;
    assert_eq!(price.status, 200, "{}", price.raw);
    assert_eq!(price.body["type"], "one_time");
}

#[tokio::test]
async fn a_price_without_amount_or_with_a_bad_interval_is_a_400() {
    let stripe = TestStripe::start().await;
    let missing = stripe.post("/v1/prices", &[("currency", "usd"), ("product_data[name]", "X")]).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.error_param(), "unit_amount");
    let interval = stripe
        .post(
            "/v1/prices",
            &[
                ("unit_amount", "1"),
                ("currency", "usd"),
                ("product_data[name]", "X"),
                ("recurring[interval]", "fortnight"),
            ],
        )
        .await;
    assert_eq!(interval.status, 400);
    assert_eq!(interval.error_param(), "recurring[interval]");
    let product =
        stripe.post("/v1/prices", &[("unit_amount", "1"), ("currency", "usd"), ("product", "prod_missing")]).await;
    assert_eq!(product.status, 404);
    assert_eq!(product.error_param(), "product");
}
