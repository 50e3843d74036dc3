//! The async transport over [reqwest](https://docs.rs/reqwest) (tokio, rustls
//! on ring). [`AsyncClient::new`](crate::AsyncClient::new) and
//! [`ClientBuilder::build_async`](crate::ClientBuilder::build_async) use it.
//!
//! Like the ureq adapter it copies the status, every header and the whole body
//! (up to the configured maximum), never follows redirects, never retries, and
//! takes the same TLS options: a CA bundle, a client certificate and key, and
//! hostname verification on unless explicitly turned off.

use std::time::Duration;

use crate::client::TransportOptions;
use crate::error::{Error, TransportError, TransportErrorKind};
use crate::transport::{
    feed_lines, AsyncLines, AsyncTransport, Flow, HttpRequest, HttpResult, Task,
};

/// An [`AsyncTransport`] over a reqwest `Client` (one connection pool, shared by
/// every clone).
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_body_size: usize,
}

impl ReqwestTransport {
    /// A transport configured by `options`; reads the TLS files it names.
    pub fn new(options: &TransportOptions) -> Result<ReqwestTransport, Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .pool_max_idle_per_host(options.max_idle_per_host)
            .user_agent(concat!("etcd-v2-rs/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(super::rustls_config::client_config(&options.tls)?)
            .build()
            .map_err(|e| Error::invalid_argument("transport", e.to_string()))?;
        Ok(ReqwestTransport {
            client,
            max_body_size: options.max_body_size,
        })
    }
}

/// Sort reqwest's errors into "nothing was sent" (safe to retry anywhere) and
/// "may have been applied".
fn classify(err: reqwest::Error) -> TransportError {
    let kind = if err.is_connect() {
        // Includes the TLS handshake: nothing was sent.
        TransportErrorKind::Connect
    } else if err.is_timeout() {
        TransportErrorKind::Timeout
    } else if err.is_builder() {
        TransportErrorKind::Request
    } else if err.is_body() || err.is_decode() || err.is_request() {
        TransportErrorKind::Io
    } else {
        TransportErrorKind::Other
    };
    let message = error_chain(&err);
    TransportError::new(kind, message).with_source(err)
}

/// reqwest's message and its causes, so that e.g. a certificate error shows.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl ReqwestTransport {
    /// One exchange: the whole body, or with `line`, a 2xx body handed over
    /// line by line (see [`AsyncTransport::send_streaming`]).
    async fn exchange(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
        mut line: Option<AsyncLines<'_>>,
    ) -> HttpResult {
        let mut request = reqwest::Request::try_from(request).map_err(classify)?;
        *request.timeout_mut() = timeout;
        let mut response = self.client.execute(request).await.map_err(classify)?;
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }
        if !response.status().is_success() {
            line = None;
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_body_size {
                return Err(TransportError::new(
                    TransportErrorKind::BodyTooLarge,
                    format!("the response body exceeds {} bytes", self.max_body_size),
                ));
            }
            body.extend_from_slice(&chunk);
            if let Some(line) = line.as_mut() {
                if feed_lines(&mut body, &mut |l| line(l)) == Flow::Stop {
                    break;
                }
            }
        }
        if line.is_some() {
            body.clear();
        }
        builder
            .body(body)
            .map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))
    }
}

impl AsyncTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest, timeout: Option<Duration>) -> HttpResult {
        self.exchange(request, timeout, None).await
    }

    async fn send_streaming<'a>(
        &'a self,
        request: HttpRequest,
        timeout: Option<Duration>,
        line: &'a mut (dyn FnMut(&[u8]) -> Flow + Send),
    ) -> HttpResult {
        self.exchange(request, timeout, Some(line)).await
    }

    fn now(&self) -> std::time::Instant {
        super::tokio::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }

    fn spawn(&self, task: Task) {
        super::tokio::spawn(task);
    }
}
