//! The service's e-mail API client: one call, `POST {base}/v1/messages`, used by the outbox
//! dispatcher.
//!
//! Every message carries an `idempotency_key` (the outbox row's id), so sending the same row
//! twice, after a crash between the send and the commit that records it, delivers one e-mail.
//! The API key is sent as a bearer token and never logged.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What went wrong sending one e-mail.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The API answered with an error status.
    #[error("the e-mail API answered {status}: {body}")]
    Rejected { status: u16, body: String },
    /// No usable answer: connection refused or dropped, timeout.
    #[error("the e-mail API could not be reached: {0}")]
    Transport(String),
}

/// One message, as the e-mail API takes it.
#[derive(Debug, Clone, Serialize)]
pub struct OutgoingEmail {
    pub to: String,
    pub template: String,
    pub subject: String,
    pub body: String,
    /// Sends with the same key are one message.
    pub idempotency_key: String,
}

#[derive(Serialize)]
struct SendRequest<'a> {
    from: &'a str,
    #[serde(flatten)]
    email: &'a OutgoingEmail,
}

#[derive(Deserialize)]
struct SendResponse {
    id: String,
}

/// A client of the e-mail API.
#[derive(Clone)]
pub struct EmailClient {
    http: reqwest::Client,
    messages_url: String,
    api_key: Option<String>,
    from: String,
}

impl std::fmt::Debug for EmailClient {
    // By hand, so the API key can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailClient").field("messages_url", &self.messages_url).field("from", &self.from).finish()
    }
}

impl EmailClient {
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        from: &str,
        timeout: Duration,
    ) -> Result<EmailClient, EmailError> {
        let http = crate::tls::client_builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|err| EmailError::Transport(err.to_string()))?;
        Ok(EmailClient {
            http,
            messages_url: format!("{}/v1/messages", base_url.trim_end_matches('/')),
            api_key,
            from: from.to_string(),
        })
    }

    /// Sends one message; returns the API's message id.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<String, EmailError> {
        let mut request = self.http.post(&self.messages_url).json(&SendRequest { from: &self.from, email });
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|err| EmailError::Transport(err.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(EmailError::Rejected { status: status.as_u16(), body: truncated(body) });
        }
        let sent: SendResponse = response.json().await.map_err(|err| EmailError::Transport(err.to_string()))?;
        Ok(sent.id)
    }
}

/// An error body short enough for a log line and a database column.
fn truncated(mut body: String) -> String {
    const LIMIT: usize = 500;
    if body.len() > LIMIT {
        let cut = (0..=LIMIT).rev().find(|&at| body.is_char_boundary(at)).unwrap_or(0);
        body.truncate(cut);
        body.push('…');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_body_has_the_sender_beside_the_message_fields() {
        let email = OutgoingEmail {
            to: "ada@example.com".into(),
            template: "welcome".into(),
            subject: "Hi".into(),
            body: "Hello".into(),
            idempotency_key: "k1".into(),
        };
        let json = serde_json::to_value(SendRequest { from: "Billing <b@example.com>", email: &email }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"from": "Billing <b@example.com>", "to": "ada@example.com", "template": "welcome",
                "subject": "Hi", "body": "Hello", "idempotency_key": "k1"})
        );
    }

    #[test]
    fn a_long_error_body_is_cut_on_a_character_boundary() {
        let cut = truncated("é".repeat(400));
        assert!(cut.len() <= 503 && cut.ends_with('…'));
    }

    #[test]
    fn the_api_key_is_not_in_the_debug_output() {
        let client =
            EmailClient::new("http://mail.test/", Some("secret_key".into()), "b@example.com", Duration::from_secs(1))
                .unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("secret_key") && debug.contains("http://mail.test/v1/messages"));
    }
}
