//! What the e-mail fake stores: a [`SentEmail`] per accepted message, made only from a request
//! that passed validation ([`NewMessage::parse`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::EmailApiError;

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    /// `msg_...`
    pub id: String,
    /// Recipient address.
    pub to: String,
    /// Template name (`welcome`).
    pub template: String,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// When the fake received it.
    pub received_at: DateTime<Utc>,
}

/// The JSON body of `POST /v1/messages`, as sent.
#[derive(Debug, Deserialize)]
pub struct MessageRequest {
    to: Option<String>,
    template: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    idempotency_key: Option<String>,
}

/// A validated send request.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Recipient address (contains one `@` with text on both sides).
    pub to: String,
    /// Non-empty template name.
    pub template: String,
    /// Subject (may be empty).
    pub subject: String,
    /// Body (may be empty).
    pub body: String,
    /// Sends with the same key are one message.
    pub idempotency_key: Option<String>,
}

impl NewMessage {
    /// Validates a request; each failure names the field.
    pub fn parse(request: MessageRequest) -> Result<NewMessage, EmailApiError> {
        let to = request.to.map(|s| s.trim().to_string()).unwrap_or_default();
        let valid_address =
            to.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty() && !host.contains('@'));
        if !valid_address {
            return Err(EmailApiError::InvalidField {
                field: "to",
                reason: format!("'{to}' is not an e-mail address"),
            });
        }
        let template = request.template.map(|s| s.trim().to_string()).unwrap_or_default();
        if template.is_empty() {
            return Err(EmailApiError::InvalidField { field: "template", reason: "is required".into() });
        }
        Ok(NewMessage {
            to,
            template,
            subject: request.subject.unwrap_or_default(),
            body: request.body.unwrap_or_default(),
            idempotency_key: request.idempotency_key.filter(|k| !k.is_empty()),
        })
    }
}
