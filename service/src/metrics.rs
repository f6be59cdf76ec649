//! Prometheus metrics, served as text on `/metrics`.
//!
//! HTTP requests by route (the route template, never the raw path, so ids don't explode the
//! series count), method and status; a latency histogram by route; and business counters.
//!
//! Every label takes a bounded set of values, whatever clients send: a method outside the
//! standard ones is `other`, a path no route matches is `unmatched`, a status is one of the
//! few hundred HTTP codes. An attacker cannot grow `/metrics` by inventing methods or paths.
//!
//! Counting a request allocates nothing: its labels hold the method as a `&'static str` and the
//! route as the router's own shared template ([`RouteLabel`]), not copies of them.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::ChargeStatus;
use crate::ledger::CreditSource;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: RouteLabel,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: RouteLabel,
}

/// The `route` label: the template of the route that answered (`/api/v1/api-keys/{id}`), or
/// `unmatched`. It shares the router's copy of the template.
#[derive(Clone, Debug)]
enum RouteLabel {
    Matched(MatchedPath),
    Unmatched,
}

impl RouteLabel {
    fn as_str(&self) -> &str {
        match self {
            RouteLabel::Matched(path) => path.as_str(),
            RouteLabel::Unmatched => "unmatched",
        }
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &RouteLabel) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl Hash for RouteLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SettledLabels {
    outcome: String,
    settled_by: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TemplateLabels {
    template: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily,
    onboardings: Family<OutcomeLabels, Counter>,
    fixes: Family<OutcomeLabels, Counter>,
    credits_granted: Family<SourceLabels, Counter>,
    credits_consumed: Counter,
    webhooks: Family<OutcomeLabels, Counter>,
    charges: Family<SettledLabels, Counter>,
    pending_charges: Gauge,
    orphan_customers_removed: Counter,
    credentials_vended: Family<ProviderLabels, Counter>,
    rate_limited: Family<LimitLabels, Counter>,
    emails_sent: Family<TemplateLabels, Counter>,
    email_send_failures: Family<TemplateLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("billing");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let onboardings = Family::<OutcomeLabels, Counter>::default();
        let fixes = Family::<OutcomeLabels, Counter>::default();
        let credits_granted = Family::<SourceLabels, Counter>::default();
        let credits_consumed = Counter::default();
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        let charges = Family::<SettledLabels, Counter>::default();
        let pending_charges = Gauge::default();
        registry.register("http_requests", "HTTP requests by route, method and status", http_requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", http_duration.clone());
        registry.register(
            "onboardings",
            "Signups by outcome (created, duplicate, invalid, stripe_failed, failed)",
            onboardings.clone(),
        );
        registry.register("fixes", "Fixes by outcome (credit, charge, refused, declined, failed)", fixes.clone());
        registry.register("credits_granted", "Credits granted, by ledger source", credits_granted.clone());
        registry.register("credits_consumed", "Credits consumed by fixes", credits_consumed.clone());
        registry.register(
            "webhooks",
            "Stripe webhooks by outcome (applied, duplicate, ignored, bad_signature, failed)",
            webhooks.clone(),
        );
        registry.register(
            "charges",
            "Charges of fixes beyond the credits as they settle, by outcome (succeeded, failed) and by who settled them (request, reconciler, webhook)",
            charges.clone(),
        );
        registry.register(
            "charges_pending",
            "Charges whose outcome is not known yet, as the reconciler last counted them",
            pending_charges.clone(),
        );
        let orphan_customers_removed = Counter::default();
        registry.register(
            "orphan_stripe_customers_removed",
            "Stripe customers deleted by the orphan sweep: made by a signup whose rows were never committed",
            orphan_customers_removed.clone(),
        );
        let credentials_vended = Family::<ProviderLabels, Counter>::default();
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register("credentials_vended", "Credentials vended, by provider", credentials_vended.clone());
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit (429), by limit (credentials_key, credentials_customer, signup_ip, api_key_create)",
            rate_limited.clone(),
        );
        let emails_sent = Family::<TemplateLabels, Counter>::default();
        let email_send_failures = Family::<TemplateLabels, Counter>::default();
        registry.register("emails_sent", "Outbox e-mails sent and recorded, by template", emails_sent.clone());
        registry.register(
            "email_send_failures",
            "Failed attempts at sending an outbox e-mail, by template",
            email_send_failures.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            onboardings,
            fixes,
            credits_granted,
            credits_consumed,
            webhooks,
            charges,
            pending_charges,
            orphan_customers_removed,
            credentials_vended,
            rate_limited,
            emails_sent,
            email_send_failures,
        }
    }

    /// An answered HTTP request: its method label ([`method_label`]), the route that answered
    /// it (`None`: no route matched), its status and how long it took.
    pub fn http_request(&self, method: &'static str, route: Option<&MatchedPath>, status: StatusCode, took: Duration) {
        let route = route.map_or(RouteLabel::Unmatched, |path| RouteLabel::Matched(path.clone()));
        self.http_duration.get_or_create(&RouteLabels { route: route.clone() }).observe(took.as_secs_f64());
        self.http_requests.get_or_create(&HttpLabels { method, route, status: status.as_u16() }).inc();
    }

    pub fn credential_vended(&self, provider: &str) {
        self.credentials_vended.get_or_create(&ProviderLabels { provider: provider.into() }).inc();
    }

    /// A request refused by the named limit (one of a fixed few).
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&LimitLabels { limit }).inc();
    }

    pub fn onboarding(&self, outcome: &str) {
        self.onboardings.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }

    /// A charge settled: `by` is `request`, `reconciler` or `webhook`.
    pub fn charge_settled(&self, status: ChargeStatus, by: &str) {
        let outcome = match status {
            ChargeStatus::Succeeded => "succeeded",
            ChargeStatus::Failed => "failed",
            ChargeStatus::Pending => return,
        };
        self.charges.get_or_create(&SettledLabels { outcome: outcome.into(), settled_by: by.into() }).inc();
    }

    /// A Stripe customer without a customer row, deleted by the orphan sweep.
    pub fn orphan_customer_removed(&self) {
        self.orphan_customers_removed.inc();
    }

    pub fn set_pending_charges(&self, count: i64) {
        self.pending_charges.set(count);
    }

    pub fn webhook(&self, outcome: &str) {
        self.webhooks.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }

    pub fn fix(&self, outcome: &str) {
        self.fixes.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }

    pub fn credits_granted(&self, source: CreditSource, credits: i32) {
        self.credits_granted
            .get_or_create(&SourceLabels { source: source.as_str().into() })
            .inc_by(u64::try_from(credits).unwrap_or(0));
    }

    pub fn credits_consumed(&self, credits: u64) {
        self.credits_consumed.inc_by(credits);
    }

    pub fn email_sent(&self, template: &str) {
        self.emails_sent.get_or_create(&TemplateLabels { template: template.into() }).inc();
    }

    pub fn email_send_failure(&self, template: &str) {
        self.email_send_failures.get_or_create(&TemplateLabels { template: template.into() }).inc();
    }

    /// How many e-mails of `template` this instance has sent.
    pub fn emails_sent_so_far(&self, template: &str) -> u64 {
        self.emails_sent.get_or_create(&TemplateLabels { template: template.into() }).get()
    }

    /// The registry in Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The method as a label: the standard methods by name, anything else `other`.
pub fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("other", Method::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invented_method_is_counted_as_other() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&Method::from_bytes(&[b'X'; 4096]).unwrap()), "other");
    }
}
