//! Billing: payment methods (with recorded consent), one-off charges for fixes beyond the
//! credits, and the Pro subscription.
//!
//! Stripe is the source of truth for money; this module keeps the service's view of each
//! customer (plan, default payment method, subscription state) in step with it. Plan changes
//! that Stripe decides later (a renewal paid, a subscription ending at its period end) arrive
//! through [`crate::webhooks`].

pub mod charges;
pub mod payment_method;
pub mod pro_price;
pub mod reconciler;
pub mod subscription;

use sqlx::PgConnection;

use crate::domain::{CustomerId, Plan};
use crate::error::ApiError;

/// What billing needs to know about a customer.
#[derive(Debug, Clone)]
pub struct BillingProfile {
    pub plan: Plan,
    pub stripe_customer_id: String,
    pub default_payment_method: Option<String>,
}

impl BillingProfile {
    pub async fn load(conn: &mut PgConnection, customer: CustomerId) -> Result<BillingProfile, ApiError> {
        let row = sqlx::query!(
            r#"SELECT plan AS "plan: Plan", stripe_customer_id, default_payment_method FROM customers WHERE id = $1"#,
            customer.0
        )
        .fetch_one(conn)
        .await?;
        Ok(BillingProfile {
            plan: row.plan,
            stripe_customer_id: row
                .stripe_customer_id
                .ok_or_else(|| ApiError::Internal(format!("customer {customer} has no Stripe customer")))?,
            default_payment_method: row.default_payment_method,
        })
    }
}

/// Locks the customer, as [`crate::ledger::lock_customer`] does, and reads its plan under the
/// lock (so a store that changes the plan can skip the write when it is already so); `None`
/// when there is no such customer.
pub async fn lock_customer_plan(conn: &mut PgConnection, customer: CustomerId) -> Result<Option<Plan>, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT plan AS "plan: Plan" FROM customers WHERE id = $1 FOR UPDATE"#, customer.0)
        .fetch_optional(conn)
        .await
}

/// Sets a customer's plan.
pub async fn set_plan(conn: &mut PgConnection, customer: CustomerId, plan: Plan) -> Result<(), sqlx::Error> {
    // Not written when it is already so: most subscription events leave a Pro customer Pro.
    sqlx::query!("UPDATE customers SET plan = $2 WHERE id = $1 AND plan <> $2", customer.0, plan as _)
        .execute(conn)
        .await?;
    Ok(())
}
