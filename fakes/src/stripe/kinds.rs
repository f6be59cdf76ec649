//! Every kind of object the fake stores, in one table: the `object` name Stripe gives it, the word
//! its "No such …" errors use, its id prefix, and the fields the store keeps a secondary index on.
//!
//! The indexes are what Stripe itself indexes for list filters (`customer=`, `email=`, …): with
//! them a filtered list at a million objects reads only the matching ones instead of scanning.

/// A kind of stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Customer,
    PaymentMethod,
    Product,
    Price,
    Subscription,
    Invoice,
    InvoiceItem,
    PaymentIntent,
    Charge,
    Refund,
    SetupIntent,
    WebhookEndpoint,
    TestClock,
}

/// A field with a secondary index: the list parameter that filters on it and where it sits.
#[derive(Debug, Clone, Copy)]
pub struct IndexedField {
    /// The list filter parameter (`customer`, `email`, `subscription`).
    pub name: &'static str,
    /// JSON pointer to the field in the stored object.
    pub pointer: &'static str,
    /// Indexed in lower case (e-mail addresses); exact filters re-check the stored value.
    pub case_insensitive: bool,
}

const fn field(name: &'static str, pointer: &'static str) -> IndexedField {
    IndexedField { name, pointer, case_insensitive: false }
}

impl Kind {
    /// Every kind, in a fixed order (their positions number the store's per-kind tables).
    pub const ALL: [Kind; 13] = [
        Kind::Customer,
        Kind::PaymentMethod,
        Kind::Product,
        Kind::Price,
        Kind::Subscription,
        Kind::Invoice,
        Kind::InvoiceItem,
        Kind::PaymentIntent,
        Kind::Charge,
        Kind::Refund,
        Kind::SetupIntent,
        Kind::WebhookEndpoint,
        Kind::TestClock,
    ];

    /// Position in [`Kind::ALL`].
    pub fn position(self) -> usize {
        self as usize
    }

    /// The `object` field Stripe gives it.
    pub fn object(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::PaymentMethod => "payment_method",
            Kind::Product => "product",
            Kind::Price => "price",
            Kind::Subscription => "subscription",
            Kind::Invoice => "invoice",
            Kind::InvoiceItem => "invoiceitem",
            Kind::PaymentIntent => "payment_intent",
            Kind::Charge => "charge",
            Kind::Refund => "refund",
            Kind::SetupIntent => "setup_intent",
            Kind::WebhookEndpoint => "webhook_endpoint",
            Kind::TestClock => "test_helpers.test_clock",
        }
    }

    /// The word in Stripe's `No such {label}: 'id'` messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::PaymentMethod => "PaymentMethod",
            Kind::SetupIntent => "setupintent",
            Kind::WebhookEndpoint => "webhook endpoint",
            Kind::TestClock => "test clock",
            other => other.object(),
        }
    }

    /// The id prefix, without the underscore.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Customer => "cus",
            Kind::PaymentMethod => "pm",
            Kind::Product => "prod",
            Kind::Price => "price",
            Kind::Subscription => "sub",
            Kind::Invoice => "in",
            Kind::InvoiceItem => "ii",
            Kind::PaymentIntent => "pi",
            Kind::Charge => "ch",
            Kind::Refund => "re",
            Kind::SetupIntent => "seti",
            Kind::WebhookEndpoint => "we",
            Kind::TestClock => "clock",
        }
    }

    /// The fields with a secondary index.
    pub fn indexed(self) -> &'static [IndexedField] {
        const CUSTOMER: &[IndexedField] = &[
            IndexedField { name: "email", pointer: "/email", case_insensitive: true },
            field("test_clock", "/test_clock"),
        ];
        const BY_CUSTOMER: &[IndexedField] = &[field("customer", "/customer")];
        const SUBSCRIPTION: &[IndexedField] = &[field("customer", "/customer"), field("test_clock", "/test_clock")];
        const INVOICE: &[IndexedField] =
            &[field("customer", "/customer"), field("subscription", "/parent/subscription_details/subscription")];
        const CHARGE: &[IndexedField] = &[field("customer", "/customer"), field("payment_intent", "/payment_intent")];
        const REFUND: &[IndexedField] = &[field("charge", "/charge"), field("payment_intent", "/payment_intent")];
        match self {
            Kind::Customer => CUSTOMER,
            Kind::PaymentMethod | Kind::PaymentIntent | Kind::SetupIntent | Kind::InvoiceItem => BY_CUSTOMER,
            Kind::Subscription => SUBSCRIPTION,
            Kind::Invoice => INVOICE,
            Kind::Charge => CHARGE,
            Kind::Refund => REFUND,
            Kind::Product | Kind::Price | Kind::WebhookEndpoint | Kind::TestClock => &[],
        }
    }

    /// Whether its metadata pairs are indexed (for `metadata['key']:'value'` searches).
    pub fn indexes_metadata(self) -> bool {
        matches!(self, Kind::Customer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_table_order() {
        for (position, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.position(), position);
        }
    }
}
