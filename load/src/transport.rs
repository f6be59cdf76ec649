//! The hot path: one HTTP/1.1 keep-alive connection per goose user, and nothing else.
//!
//! goose's own client is reqwest, whose per-request work (middleware, pooling, header maps
//! for cookies and redirects) made it reach only about 0.3 × wrk on a trivial endpoint. A bare
//! hyper connection per user, with the request built once by
//! [`ApiRequest`](billing_stack::ApiRequest) and timed here, keeps the tool off the critical
//! path; goose still gets every request through `record_custom_request_duration`, so its
//! thresholds, reports and dashboard see them.
//!
//! `https://` targets (a deployed staging service) go through one shared reqwest client
//! instead: TLS is not the part being measured there, and reqwest already does it well.

use std::time::Duration;

use billing_stack::ApiRequest;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, HOST, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::target::BaseUrl;

/// How long one request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The answer to one request, and how long it took from the first byte sent to the last
/// byte read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("could not connect to {authority}: {source} (is the target up, and is --target right?)")]
    Connect { authority: String, source: std::io::Error },
    #[error("the connection failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("the request failed: {0}")]
    Reqwest(#[from] reqwest::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("bad request: {0}")]
    Request(#[from] hyper::http::Error),
}

impl TransportError {
    /// A short tag for goose's error table.
    pub fn tag(&self) -> &'static str {
        match self {
            TransportError::Connect { .. } => "connect failed",
            TransportError::Http(_) | TransportError::Reqwest(_) => "connection error",
            TransportError::Timeout(_) => "timeout",
            TransportError::Request(_) => "bad request",
        }
    }
}

/// What a goose user sends its requests through.
pub enum Connection {
    /// Plain HTTP: a hyper HTTP/1 connection of this user's own, opened on first use and
    /// opened again after it breaks.
    Plain { base: BaseUrl, host: HeaderValue, sender: Option<SendRequest<Full<Bytes>>> },
    /// HTTPS: the shared reqwest client.
    Tls { base: BaseUrl, client: reqwest::Client },
}

impl Connection {
    pub fn new(base: &BaseUrl, shared: &reqwest::Client) -> Connection {
        if base.is_tls() {
            Connection::Tls { base: base.clone(), client: shared.clone() }
        } else {
            let host = HeaderValue::from_str(base.authority()).expect("an URL's authority is a valid header");
            Connection::Plain { base: base.clone(), host, sender: None }
        }
    }

    /// Sends `request` (authenticated with `api_key` when given) and reads the whole answer.
    pub async fn send(&mut self, request: &ApiRequest, api_key: Option<&str>) -> Result<Answer, TransportError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.send_untimed(request, api_key)).await {
            Ok(answer) => answer,
            Err(_) => {
                // The connection may still carry the late answer: never reuse it.
                if let Connection::Plain { sender, .. } = self {
                    *sender = None;
                }
                Err(TransportError::Timeout(REQUEST_TIMEOUT))
            }
        }
    }

    async fn send_untimed(&mut self, request: &ApiRequest, api_key: Option<&str>) -> Result<Answer, TransportError> {
        match self {
            Connection::Plain { base, host, sender } => {
                let mut ready = match sender.take() {
                    Some(mut open) => match open.ready().await {
                        Ok(()) => open,
                        // The server closed it while idle: open another.
                        Err(_) => connect(base).await?,
                    },
                    None => connect(base).await?,
                };
                let mut builder = Request::builder()
                    .method(request.method.clone())
                    .uri(base.path_for(&request.path))
                    .header(HOST, host.clone());
                for (name, value) in &request.headers {
                    builder = builder.header(name, value);
                }
                if let Some(key) = api_key {
                    builder = builder.header(AUTHORIZATION, format!("Bearer {key}"));
                }
                let http_request = builder.body(Full::new(request.body.clone().unwrap_or_default()))?;
                let response = ready.send_request(http_request).await?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await?.to_bytes();
                // Keep the connection only when the server did not close it.
                if parts.headers.get(hyper::header::CONNECTION).is_none_or(|value| value != "close") {
                    *sender = Some(ready);
                }
                Ok(Answer { status: parts.status, headers: parts.headers, body })
            }
            Connection::Tls { base, client } => {
                let mut builder = client.request(request.method.clone(), base.url_for(&request.path));
                for (name, value) in &request.headers {
                    builder = builder.header(name, value);
                }
                if let Some(key) = api_key {
                    builder = builder.bearer_auth(key);
                }
                if let Some(body) = &request.body {
                    builder = builder.body(body.clone());
                }
                let response = builder.send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                Ok(Answer { status, headers, body: response.bytes().await? })
            }
        }
    }
}

async fn connect(base: &BaseUrl) -> Result<SendRequest<Full<Bytes>>, TransportError> {
    let authority = base.socket_authority();
    let stream = TcpStream::connect(&authority)
        .await
        .map_err(|source| TransportError::Connect { authority: authority.clone(), source })?;
    // Requests are small and answered at once: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // A broken connection shows up as an error on the next request; nothing to do here.
        let _ = connection.await;
    });
    Ok(sender)
}
