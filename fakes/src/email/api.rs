//! The e-mail fake's HTTP API (axum): the routes, the mailbox they share, and bearer auth.
//!
//! `POST /v1/messages` (Bearer auth, JSON) → `202 {"id": "msg_..."}`; the same
//! `idempotency_key` answers the same id without storing twice. `GET /v1/messages` lists them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use serde_json::json;
use tokio::sync::Notify;

use super::error::EmailApiError;
use super::message::{MessageRequest, NewMessage, SentEmail};
use crate::stripe::new_id;

/// The fake mailbox.
#[derive(Default)]
pub struct Mailbox {
    /// Accepted messages, oldest first.
    pub messages: Vec<SentEmail>,
    /// Message id by idempotency key.
    pub by_key: HashMap<String, String>,
    /// Sends still to fail with 503.
    pub failures_left: usize,
    /// Sends still to be answered late: stored at once, answered after `slow_by` (a slow API
    /// that did its work; a client that gave up meanwhile sends again with the same key).
    pub slow_left: usize,
    /// How late a slow answer comes.
    pub slow_by: std::time::Duration,
}

/// State shared by the routes and the handle.
#[derive(Default)]
pub struct EmailState {
    mailbox: Mutex<Mailbox>,
    /// Woken on every stored message.
    pub arrived: Notify,
}

impl EmailState {
    /// Locks the mailbox (never poisoned for later requests).
    pub fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The axum router.
pub fn router(state: Arc<EmailState>) -> axum::Router {
    axum::Router::new().route("/v1/messages", post(send).get(list)).with_state(state)
}

fn authorized(headers: &HeaderMap) -> Result<(), EmailApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() { Err(EmailApiError::Unauthorized) } else { Ok(()) }
}

async fn send(
    State(state): State<Arc<EmailState>>,
    headers: HeaderMap,
    body: Result<Json<MessageRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), EmailApiError> {
    authorized(&headers)?;
    let Json(request) = body.map_err(|e| EmailApiError::BadJson(e.body_text()))?;
    let message = NewMessage::parse(request)?;
    let (id, late_by) = {
        let mut mailbox = state.lock();
        if mailbox.failures_left > 0 {
            mailbox.failures_left -= 1;
            return Err(EmailApiError::Unavailable);
        }
        let existing = message.idempotency_key.as_ref().and_then(|key| mailbox.by_key.get(key).cloned());
        let id = match existing {
            Some(id) => id,
            None => {
                let id = new_id("msg");
                if let Some(key) = &message.idempotency_key {
                    mailbox.by_key.insert(key.clone(), id.clone());
                }
                mailbox.messages.push(SentEmail {
                    id: id.clone(),
                    to: message.to,
                    template: message.template,
                    subject: message.subject,
                    body: message.body,
                    received_at: Utc::now(),
                });
                id
            }
        };
        let late_by = (mailbox.slow_left > 0).then(|| {
            mailbox.slow_left -= 1;
            mailbox.slow_by
        });
        (id, late_by)
    };
    state.arrived.notify_waiters();
    if let Some(delay) = late_by {
        tokio::time::sleep(delay).await;
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id }))))
}

async fn list(
    State(state): State<Arc<EmailState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, EmailApiError> {
    authorized(&headers)?;
    let messages = state.lock().messages.clone();
    Ok(Json(json!({ "object": "list", "data": messages })))
}
