//! The Pro price in Stripe: $599 a month, found by its lookup key or created once.
//!
//! Resolved lazily, on the first subscription, and cached: the service starts (and stays
//! ready) while Stripe is unreachable, and a failed lookup is retried next time.
//! `STRIPE_PRO_PRICE_ID` skips the lookup.

use tokio::sync::OnceCell;

use crate::pricing::PRO_MONTHLY_PRICE;
use crate::stripe::{StripeClient, StripeError};

/// The lookup key the price is found by in Stripe.
pub const PRO_LOOKUP_KEY: &str = "pro_monthly";

/// The cached price id.
#[derive(Debug, Default)]
pub struct ProPrice(OnceCell<String>);

impl ProPrice {
    pub fn preset(price_id: Option<String>) -> ProPrice {
        ProPrice(price_id.map(OnceCell::from).unwrap_or_default())
    }

    /// The Pro price's id: the cached one, else found in `stripe` by [`PRO_LOOKUP_KEY`], else made there.
    pub async fn id(&self, stripe: &StripeClient) -> Result<String, StripeError> {
        self.0
            .get_or_try_init(|| async {
                if let Some(price) = stripe.find_price(PRO_LOOKUP_KEY).await? {
                    return Ok(price.id);
                }
                let price = stripe.create_monthly_price(PRO_LOOKUP_KEY, "Pro", PRO_MONTHLY_PRICE.0).await?;
                tracing::info!(price = %price.id, "created the Pro price in Stripe");
                Ok(price.id)
            })
            .await
            .cloned()
    }
}
