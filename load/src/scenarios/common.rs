//! The steps every scenario shares: open the user's connection, wait for the open model's
//! slot, send one request, classify the answer and hand goose its timing.
//!
//! Answers fall in four classes. Conflicts (409) and rate-limit hits (429) are what a busy
//! service is expected to answer now and then: they are counted apart (goose's status-code
//! table holds them; the summary has a column each) and are not errors. Everything else that
//! is not the expected answer is a failure, with a short tag for goose's error table.

use std::time::Duration;

use billing_stack::ApiRequest;
use goose::prelude::*;
use hyper::StatusCode;
use tokio::time::Instant;

use crate::context::RoundContext;
use crate::recorder::Outcome;
use crate::transport::{Answer, Connection};

/// An event as sent: kept by the user to send again as a duplicate.
#[derive(Debug, Clone)]
pub struct SentEvent {
    pub id: String,
    pub payload: bytes::Bytes,
}

/// Each goose user's own state: its connection and how many iterations it has run.
pub struct UserState {
    pub connection: Connection,
    /// The user's number within this worker (goose's `weighted_users_index`).
    pub user: usize,
    pub iteration: u64,
    /// Webhook deliveries this user made, kept to send some again (duplicates).
    pub recent_events: Vec<SentEvent>,
}

// goose wants session data to be `Clone`; a clone is a new user, so it opens a connection of
// its own rather than sharing one.
impl Clone for UserState {
    fn clone(&self) -> UserState {
        let connection = match &self.connection {
            Connection::Plain { base, .. } | Connection::Tls { base, .. } => {
                Connection::new(base, &billing_service::tls::client())
            }
        };
        UserState { connection, user: self.user, iteration: self.iteration, recent_events: Vec::new() }
    }
}

/// The `on_start` step of every scenario: the user's state.
pub fn start_user(user: &mut GooseUser, context: &RoundContext) {
    let state = UserState {
        connection: Connection::new(&context.base, &context.http),
        user: user.weighted_users_index,
        iteration: 0,
        recent_events: Vec::new(),
    };
    user.set_session_data(state);
}

/// The user's state; set by [`start_user`] before any other step.
pub fn state(user: &mut GooseUser) -> &mut UserState {
    user.get_session_data_unchecked_mut::<UserState>()
}

/// How an answer counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Expected,
    /// 409: e.g. an e-mail that exists already.
    Conflict,
    /// 429: a rate limit held.
    RateLimited,
    Failed(String),
}

impl Verdict {
    pub fn from_status(status: StatusCode) -> Option<Verdict> {
        match status {
            StatusCode::CONFLICT => Some(Verdict::Conflict),
            StatusCode::TOO_MANY_REQUESTS => Some(Verdict::RateLimited),
            _ => None,
        }
    }
}

/// When a request's latency starts: the open model's slot, or now. `None` when the open
/// model's schedule is over and the user should idle until goose stops it.
pub async fn start_clock(context: &RoundContext) -> Option<Instant> {
    match &context.pacer {
        Some(pacer) => pacer.next_slot().await,
        None => Some(Instant::now()),
    }
}

/// What a user does once the open model's schedule is over: nothing, briefly, so goose's
/// loop can see that the run has ended.
pub async fn idle() -> TransactionResult {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

/// Sends `request` as the user, then records it — in the round's recorder and with goose — as
/// `endpoint` (`METHOD /path`, the name thresholds use with `for`), with the verdict `judge`
/// gives the answer.
///
/// Returns the answer when there was one, so a scenario can keep what it needs.
pub async fn send_and_record(
    user: &mut GooseUser,
    context: &RoundContext,
    started: Instant,
    endpoint: &str,
    request: &ApiRequest,
    api_key: Option<&str>,
    judge: impl FnOnce(&Answer) -> Verdict,
) -> Result<Option<Answer>, Box<TransactionError>> {
    let sent = state(user).connection.send(request, api_key).await;
    let finished = Instant::now();
    let latency = finished - started;
    let (verdict, status, answer) = match sent {
        Ok(answer) => {
            let verdict = Verdict::from_status(answer.status).unwrap_or_else(|| judge(&answer));
            (verdict, Some(answer.status.as_u16()), Some(answer))
        }
        Err(err) => (Verdict::Failed(err.tag().to_string()), None, None),
    };
    let failure = match &verdict {
        Verdict::Failed(reason) => Some(reason.clone()),
        _ => None,
    };
    let outcome = match &verdict {
        Verdict::Expected => Outcome::Expected,
        Verdict::Conflict => Outcome::Conflict,
        Verdict::RateLimited => Outcome::RateLimited,
        Verdict::Failed(_) => Outcome::Failed,
    };
    context.recorder.record(endpoint, finished.into_std(), latency, outcome);
    let path = endpoint.split_once(' ').map_or(endpoint, |(_, path)| path);
    user.record_custom_request_duration(
        request.method.as_str(),
        path,
        latency,
        failure.is_none(),
        status,
        failure.as_deref(),
    )
    .await?;
    match failure {
        Some(reason) => Err(Box::new(TransactionError::Custom(format!("{endpoint}: {reason}")))),
        None => Ok(answer),
    }
}

/// The verdict for an answer expected to have `status`, after `check` of its body.
pub fn expect(status: StatusCode, answer: &Answer, check: impl FnOnce(&[u8]) -> Result<(), String>) -> Verdict {
    if answer.status != status {
        return Verdict::Failed(format!("status {}", answer.status.as_u16()));
    }
    match check(&answer.body) {
        Ok(()) => Verdict::Expected,
        Err(reason) => Verdict::Failed(reason),
    }
}
