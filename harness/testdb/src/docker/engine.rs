//! A client of the Docker Engine API for the few calls the provider makes, over hyper's HTTP/1.1 client on a Unix
//! socket or TCP: one connection per call (a handful of calls per test run), a deadline on each, and the engine's
//! own `{"message": …}` in every error.
//!
//! Why not testcontainers (on bollard) any more: to run one container the provider needs six calls (`/_ping`,
//! list, create, pull, start, inspect, remove), and those crates brought 42 others (bollard's generated models of
//! the whole API, tonic and prost for BuildKit, serde_with…) — +402 s of CPU on a clean build, which is why the
//! provider sat behind a feature that neither `scripts/test` nor most developers built, and why CI spent a
//! separate 200-second build on it. Paths carry no API version: the engine answers them in its own current version
//! (Docker 29 refuses versions below 1.44; the fields used here have not changed since 1.25), and Podman's
//! Docker-compatible API answers them too. No TLS (`DOCKER_TLS_VERIFY`) and no registry credentials: the image
//! must be public or pulled beforehand.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl Endpoint {
    /// `DOCKER_HOST` (`unix://PATH`, `tcp://HOST:PORT`, `http://HOST:PORT`), else the local socket when it exists.
    pub(crate) fn from_host(docker_host: Option<&str>, local_socket: &std::path::Path) -> Result<Endpoint, String> {
        match docker_host {
            None if !local_socket.exists() => {
                Err(format!("DOCKER_HOST is unset and {} does not exist", local_socket.display()))
            }
            None => Ok(Endpoint::Unix(local_socket.to_path_buf())),
            Some(host) => {
                if let Some(path) = host.strip_prefix("unix://") {
                    return Ok(Endpoint::Unix(PathBuf::from(path)));
                }
                let address = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://"));
                match address.map(|address| address.trim_end_matches('/')) {
                    Some(address) if !address.is_empty() && !address.contains('/') => {
                        Ok(Endpoint::Tcp(address.to_owned()))
                    }
                    _ => Err(format!(
                        "DOCKER_HOST={host} is not a unix://PATH, tcp://HOST:PORT or http://HOST:PORT address (TLS \
                         engines are not supported: use the local socket, or BILLING_TESTDB_PROVIDER=local)"
                    )),
                }
            }
        }
    }

    /// The host at which the engine publishes container ports: the TCP engine's host, else this machine.
    pub(crate) fn published_host(&self) -> String {
        match self {
            Endpoint::Unix(_) => "127.0.0.1".to_owned(),
            Endpoint::Tcp(address) => match address.rsplit_once(':') {
                Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
                _ => address.clone(),
            },
        }
    }
}

/// An engine's answer that was read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as JSON, for a successful answer; otherwise the engine's message with the status.
    pub(crate) fn json(self) -> Result<Value, String> {
        let status = self.status;
        let body = self.success()?;
        serde_json::from_slice(&body).map_err(|error| format!("the engine answered {status} with no JSON: {error}"))
    }

    /// The body of a successful (2xx) answer; otherwise the engine's message with the status.
    pub(crate) fn success(self) -> Result<Bytes, String> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        Err(format!("the engine answered {}: {}", self.status, self.message()))
    }

    /// The engine's `message`, else the body as text.
    pub(crate) fn message(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|value| value.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_owned())
    }
}

/// A Docker engine.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    endpoint: Endpoint,
}

impl Engine {
    pub(crate) fn new(endpoint: Endpoint) -> Engine {
        Engine { endpoint }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// One call, read whole, within `deadline`: `path_and_query` is e.g. `/containers/json?all=true`.
    pub(crate) async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        deadline: Duration,
    ) -> Result<Answer, String> {
        let what = format!("{method} {}", path_and_query.split('?').next().unwrap_or(path_and_query));
        match tokio::time::timeout(deadline, self.call_unbounded(method, path_and_query, body)).await {
            Err(_) => Err(format!("the engine did not answer {what} within {deadline:?}")),
            Ok(Err(error)) => Err(format!("the engine did not answer {what}: {error}")),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    async fn call_unbounded(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut request = Request::builder().method(method).uri(path_and_query).header(hyper::header::HOST, "docker");
        let bytes = match body {
            Some(body) => {
                request = request.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(body).map_err(|error| error.to_string())?)
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(bytes)).map_err(|error| error.to_string())?;
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path).await.map_err(|error| format!("{}: {error}", path.display()))?;
                send(stream, request).await
            }
            Endpoint::Tcp(address) => {
                let stream = TcpStream::connect(address).await.map_err(|error| format!("{address}: {error}"))?;
                send(stream, request).await
            }
        }
    }
}

/// Sends one request on a fresh connection and reads the whole answer (a pull's progress stream included).
async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|error| error.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|error| error.to_string());
    let answer = match response {
        Ok(response) => {
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|error| error.to_string())?.to_bytes();
            Ok(Answer { status, body })
        }
        Err(error) => Err(error),
    };
    driver.abort();
    answer
}

/// `value` for a query string.
pub(crate) fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Endpoint;

    #[test]
    fn docker_host_names_the_endpoint() {
        let missing = Path::new("/nonexistent/docker.sock");
        assert_eq!(
            Endpoint::from_host(Some("unix:///run/user/1000/docker.sock"), missing),
            Ok(Endpoint::Unix("/run/user/1000/docker.sock".into()))
        );
        assert_eq!(
            Endpoint::from_host(Some("tcp://10.0.0.5:2375"), missing),
            Ok(Endpoint::Tcp("10.0.0.5:2375".into()))
        );
        assert_eq!(Endpoint::from_host(Some("http://dind:2375/"), missing), Ok(Endpoint::Tcp("dind:2375".into())));
        for refused in ["ssh://me@host", "npipe:////./pipe/docker_engine", "tcp://", "host:2375"] {
            let error = Endpoint::from_host(Some(refused), missing).expect_err(refused);
            assert!(error.contains(refused) && error.contains("BILLING_TESTDB_PROVIDER=local"), "{error}");
        }
        let error = Endpoint::from_host(None, missing).expect_err("no socket");
        assert!(error.contains("DOCKER_HOST is unset and /nonexistent/docker.sock does not exist"), "{error}");
    }

    #[test]
    fn published_ports_are_on_the_engine_host() {
        assert_eq!(Endpoint::Unix("/var/run/docker.sock".into()).published_host(), "127.0.0.1");
        assert_eq!(Endpoint::Tcp("10.0.0.5:2375".into()).published_host(), "10.0.0.5");
        assert_eq!(Endpoint::Tcp("dind".into()).published_host(), "dind");
    }
}
