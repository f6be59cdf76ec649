//! The outbox's e-mail templates: a subject and a short body per template, addressed to the
//! customer by name.
//!
//! The outbox stores only the template's name; the text is rendered when the message is sent,
//! so a wording fix reaches every message still queued.

use std::fmt;

/// Every template the outbox can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Welcome,
    GettingStarted,
    SetupVerification,
    FeatureDiscovery,
    Feedback,
}

/// A template name the service does not know (a row written by a newer version, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown e-mail template '{0}'")]
pub struct UnknownTemplate(pub String);

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub body: String,
}

impl Template {
    pub const ALL: [Template; 5] = [
        Template::Welcome,
        Template::GettingStarted,
        Template::SetupVerification,
        Template::FeatureDiscovery,
        Template::Feedback,
    ];

    pub fn parse(name: &str) -> Result<Template, UnknownTemplate> {
        Template::ALL.into_iter().find(|template| template.name() == name).ok_or_else(|| UnknownTemplate(name.into()))
    }

    /// The name stored in `email_outbox.template` and sent to the e-mail API.
    pub fn name(self) -> &'static str {
        match self {
            Template::Welcome => "welcome",
            Template::GettingStarted => "getting_started",
            Template::SetupVerification => "setup_verification",
            Template::FeatureDiscovery => "feature_discovery",
            Template::Feedback => "feedback",
        }
    }

    /// The message for a customer called `name`.
    pub fn render(self, name: &str) -> RenderedEmail {
        let (subject, paragraph) = match self {
            Template::Welcome => (
                "Welcome to Billing".to_string(),
                "your account is ready, with 5 free credits to try it out. \
                 Your API key was shown once at signup: keep it somewhere safe.",
            ),
            Template::GettingStarted => (
                format!("{name}, let's record your first fix"),
                "send POST /api/v1/fixes with your API key to record a fix; each one uses a credit. \
                 GET /api/v1/usage shows your balance and history.",
            ),
            Template::SetupVerification => (
                "Is everything set up?".to_string(),
                "check that your integration records fixes and that your usage summary looks right. \
                 Add a payment method to keep going when the trial credits run out.",
            ),
            Template::FeatureDiscovery => (
                "Get more out of Billing".to_string(),
                "Pro gives you 60 credits every month and a lower price per fix beyond them.",
            ),
            Template::Feedback => (
                "How is it going?".to_string(),
                "you have been with us for a week: reply to this e-mail and tell us what works \
                 and what doesn't.",
            ),
        };
        RenderedEmail { subject, body: format!("Hello {name},\n\n{paragraph}\n\nThe Billing team\n") }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::WELCOME_SEQUENCE;

    #[test]
    fn every_scheduled_template_can_be_rendered() {
        for (name, _) in WELCOME_SEQUENCE {
            assert_eq!(Template::parse(name).unwrap().name(), name);
        }
    }

    #[test]
    fn each_message_greets_the_customer_by_name_and_has_its_own_subject() {
        let subjects: std::collections::HashSet<String> = Template::ALL
            .into_iter()
            .map(|template| {
                let email = template.render("Ada Lovelace");
                assert!(email.body.starts_with("Hello Ada Lovelace,"), "{template}: {}", email.body);
                email.subject
            })
            .collect();
        assert_eq!(subjects.len(), Template::ALL.len());
    }

    #[test]
    fn an_unknown_template_is_refused_by_name() {
        assert_eq!(Template::parse("spam").unwrap_err().to_string(), "unknown e-mail template 'spam'");
    }
}
