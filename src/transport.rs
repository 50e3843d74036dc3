//! The blocking [`Transport`] trait: how a [`crate::Client`] gets an
//! `http::Request` answered.
//!
//! An adapter copies the status, every header and the whole body (bounded by a
//! maximum), never follows redirects and never retries: the core decides both.
//! It classifies failures with [`TransportErrorKind`] so the core knows whether
//! resending is safe.
//!
//! Closures are transports, so a test can answer with canned responses:
//!
//! ```
//! use etcd_v2::{Client, TransportError};
//!
//! let transport = |request: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, TransportError> {
//!     assert_eq!(request.uri().path(), "/v2/keys/greeting");
//!     Ok(http::Response::builder()
//!         .status(200)
//!         .body(br#"{"action":"get","node":{"key":"/greeting","value":"hi","modifiedIndex":3,"createdIndex":3}}"#.to_vec())
//!         .unwrap())
//! };
//! let client = Client::builder().endpoint("http://127.0.0.1:2379").build_with(transport).unwrap();
//! assert_eq!(client.node().get("/greeting", false).unwrap().value(), Some("hi"));
//! ```

use std::time::{Duration, Instant};

pub use crate::error::{TransportError, TransportErrorKind};

/// The request a transport sends: the method, URI, headers and whole body.
pub type HttpRequest = http::Request<Vec<u8>>;

/// What a transport gives back: the whole response, or how the exchange
/// failed.
pub type HttpResult = Result<http::Response<Vec<u8>>, TransportError>;

/// What a streamed response's reader does after a line (see
/// [`Transport::send_streaming`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Stop reading and close the response.
    Stop,
}

/// What an async transport hands a streamed answer's lines to (see
/// [`AsyncTransport::send_streaming`]).
pub type AsyncLines<'a> = &'a mut (dyn FnMut(&[u8]) -> Flow + Send);

/// The error of a transport that cannot stream.
fn cannot_stream() -> HttpResult {
    Err(TransportError::new(
        TransportErrorKind::Request,
        "this transport cannot stream a response (the v3 bridge needs it for waits)",
    ))
}

/// Hand `buffer`'s complete lines (without their `\n`) to `line`, keeping an
/// unfinished last line; whether a line said [`Flow::Stop`]. For transports
/// that read a body in chunks.
pub fn feed_lines(buffer: &mut Vec<u8>, line: &mut dyn FnMut(&[u8]) -> Flow) -> Flow {
    let mut start = 0;
    while let Some(end) = buffer[start..].iter().position(|&b| b == b'\n') {
        let flow = line(&buffer[start..start + end]);
        start += end + 1;
        if flow == Flow::Stop {
            buffer.drain(..start);
            return Flow::Stop;
        }
    }
    buffer.drain(..start);
    Flow::Continue
}

/// The answer headers the client reads from a keys operation's (or a v3
/// bridge gateway call's) answer: etcd's four cluster headers
/// (`X-Etcd-Index`, `X-Raft-Index`, `X-Raft-Term`, `X-Etcd-Cluster-Id`) and
/// `Location` (reported in [`crate::Error::Http`]).
/// A transport's [`Transport::send_keeping_cluster_headers`] keeps these.
pub static CLUSTER_HEADERS: [http::HeaderName; 5] = [
    crate::headers::X_ETCD_INDEX,
    crate::headers::X_RAFT_INDEX,
    crate::headers::X_RAFT_TERM,
    crate::headers::X_ETCD_CLUSTER_ID,
    http::header::LOCATION,
];

/// Whether `name` is one of [`CLUSTER_HEADERS`], compared with each as a
/// constant: a `contains` on the list cost about 600 more instructions per
/// answer (callgrind, a `Client` GET).
#[cfg(feature = "http1")]
pub(crate) fn is_cluster_header(name: &http::HeaderName) -> bool {
    use crate::headers as h;
    *name == h::X_ETCD_INDEX
        || *name == h::X_RAFT_INDEX
        || *name == h::X_RAFT_TERM
        || *name == h::X_ETCD_CLUSTER_ID
        || *name == http::header::LOCATION
}

/// Sends one HTTP request and returns the complete response.
///
/// `now` and `sleep` are the driver's clock, and `spawn` its way of running
/// background work; override them to run a client on virtual time in tests.
/// Their default bodies use the operating system's (`transports::system`): the
/// core itself never reads the clock, sleeps or starts a thread.
pub trait Transport: Send + Sync {
    /// Send `request` and read the whole response. `timeout`, when given, bounds
    /// the whole exchange.
    fn send(&self, request: HttpRequest, timeout: Option<Duration>) -> HttpResult;

    /// Send `request` and hand the body of a 2xx answer to `line` one line at
    /// a time, as it arrives (etcd's v3 watch streams JSON lines and never
    /// ends by itself), until `line` says [`Flow::Stop`], the body ends, or
    /// `timeout` passes (an error of kind [`TransportErrorKind::Timeout`]).
    /// The answer comes back without the lines read; an answer that is not
    /// 2xx comes back whole. The v3 bridge's waits use it. The default cannot
    /// stream: an error of kind [`TransportErrorKind::Request`], nothing sent.
    fn send_streaming(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
        line: &mut dyn FnMut(&[u8]) -> Flow,
    ) -> HttpResult {
        let _ = (request, timeout, line);
        cannot_stream()
    }

    /// [`Transport::send`], for a caller that reads no answer header but
    /// [`CLUSTER_HEADERS`]: the answer keeps those, and may leave the others
    /// out (building them is much of what a transport spends on a small
    /// answer). The client sends its keys operations so (see
    /// [`crate::ops::Operation::reads_only_cluster_headers`]); a hand-made
    /// request ([`crate::Client::send_raw`]) goes through [`Transport::send`]
    /// and gets every header. The default is [`Transport::send`], keeping
    /// every header; the `http1` transport keeps only [`CLUSTER_HEADERS`].
    fn send_keeping_cluster_headers(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
    ) -> HttpResult {
        self.send(request, timeout)
    }

    /// The current time.
    fn now(&self) -> Instant {
        crate::transports::system::now()
    }

    /// The wall clock, in nanoseconds since the Unix epoch: what the v3
    /// bridge reports TTLs' `expiration` by (v2 servers use their own).
    fn unix_nanos(&self) -> i64 {
        crate::transports::system::unix_nanos()
    }

    /// Block the calling thread for `duration`.
    fn sleep(&self, duration: Duration) {
        crate::transports::system::sleep(duration)
    }

    /// Run `task` in the background (lock and leader keep-alives, campaigns).
    fn spawn(&self, task: Box<dyn FnOnce() + Send + 'static>) {
        crate::transports::system::spawn(task)
    }

    /// Run `task` in the background for a caller that waits for what it hands
    /// back (a blocking watch runs its requests so). A transport that keeps
    /// virtual time counts the task's waits as the caller's; the default is
    /// [`Transport::spawn`].
    fn spawn_for_caller(&self, task: Box<dyn FnOnce() + Send + 'static>) {
        self.spawn(task)
    }

    /// Cut short what the background tasks started through
    /// [`Transport::spawn`] wait for in [`Transport::sleep`] and
    /// [`Transport::send`] (a long poll then fails with a timeout), so that a
    /// task the client has just stopped notices at once. The client calls it
    /// when it stops a background task and waits for its end. The default does
    /// nothing: the client sleeps in short steps and its long polls are bounded,
    /// so real time ends them soon enough; a virtual clock that stands still
    /// would not.
    fn interrupt(&self) {}
}

impl<F> Transport for F
where
    F: Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportError> + Send + Sync,
{
    fn send(&self, request: HttpRequest, _timeout: Option<Duration>) -> HttpResult {
        self(request)
    }
}

/// Stands in for the default transport when the crate is built without one
/// (`--no-default-features`): it has no values, so a `Client<NoTransport>` can
/// never be built. Use [`crate::ClientBuilder::build_with`] with your own
/// transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoTransport {}

impl Transport for NoTransport {
    fn send(&self, _request: HttpRequest, _timeout: Option<Duration>) -> HttpResult {
        match *self {}
    }
}

/// A boxed future of a background task, for [`AsyncTransport::spawn`].
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// The async twin of [`Transport`], for [`crate::AsyncClient`]. It is not tied
/// to a runtime: the adapter provides sleeping and spawning (the reqwest adapter
/// uses tokio).
///
/// Closures returning futures are async transports when the `reqwest` feature
/// (and with it tokio) is on; see `transports::tokio`.
pub trait AsyncTransport: Send + Sync {
    /// Send `request` and read the whole response. `timeout`, when given, bounds
    /// the whole exchange.
    fn send(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
    ) -> impl std::future::Future<Output = HttpResult> + Send;

    /// Send `request` and hand the body of a 2xx answer to `line` one line at
    /// a time, as it arrives, until `line` says [`Flow::Stop`], the body ends,
    /// or `timeout` passes (see [`Transport::send_streaming`]). The default
    /// cannot stream: an error of kind [`TransportErrorKind::Request`],
    /// nothing sent.
    fn send_streaming<'a>(
        &'a self,
        request: HttpRequest,
        timeout: Option<Duration>,
        line: &'a mut (dyn FnMut(&[u8]) -> Flow + Send),
    ) -> impl std::future::Future<Output = HttpResult> + Send + 'a {
        let _ = (request, timeout, line);
        std::future::ready(cannot_stream())
    }

    /// [`AsyncTransport::send`], for a caller that reads no answer header
    /// but [`CLUSTER_HEADERS`]: the answer keeps those, and may leave the
    /// others out (see [`Transport::send_keeping_cluster_headers`]). The
    /// default is [`AsyncTransport::send`], keeping every header; the
    /// `http1-tokio` transport keeps only [`CLUSTER_HEADERS`].
    fn send_keeping_cluster_headers(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
    ) -> impl std::future::Future<Output = HttpResult> + Send {
        self.send(request, timeout)
    }

    /// The current time.
    fn now(&self) -> Instant {
        crate::transports::system::now()
    }

    /// The wall clock, in nanoseconds since the Unix epoch: what the v3
    /// bridge reports TTLs' `expiration` by (v2 servers use their own).
    fn unix_nanos(&self) -> i64 {
        crate::transports::system::unix_nanos()
    }

    /// Wait for `duration`.
    fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> + Send;

    /// Run `task` in the background (lock and leader keep-alives, campaigns).
    fn spawn(&self, task: Task);
}

impl AsyncTransport for NoTransport {
    #[allow(clippy::manual_async_fn)]
    fn send(
        &self,
        _request: HttpRequest,
        _timeout: Option<Duration>,
    ) -> impl std::future::Future<Output = HttpResult> + Send {
        async move { match *self {} }
    }

    #[allow(clippy::manual_async_fn)]
    fn sleep(&self, _duration: Duration) -> impl std::future::Future<Output = ()> + Send {
        async move { match *self {} }
    }

    fn spawn(&self, _task: Task) {
        match *self {}
    }
}

#[cfg(all(test, feature = "http1"))]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_header_test_is_the_list() {
        for name in &CLUSTER_HEADERS {
            assert!(is_cluster_header(name), "{name}");
        }
        for other in [
            http::header::CONTENT_TYPE,
            http::header::CONTENT_LENGTH,
            http::header::DATE,
            http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            http::header::TRANSFER_ENCODING,
            http::header::CONNECTION,
            http::header::WWW_AUTHENTICATE,
            http::HeaderName::from_static("x-etcd-other"),
            http::HeaderName::from_static("x-raft-indexes"),
        ] {
            assert!(!is_cluster_header(&other), "{other}");
        }
    }
}
