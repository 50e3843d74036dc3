//! A lean blocking HTTP/1.1 transport on `std::net`, `httparse` and rustls:
//! what a client of etcd's small JSON answers needs and no more (feature
//! `http1`).
//!
//! Each request is written in one piece and its answer read into a buffer
//! the connection keeps; idle connections wait in a pool shared by every
//! clone (at most `max_idle_per_host` per endpoint). Before a pooled
//! connection is used, one `recv` that does not wait checks the server has
//! not closed it — for a write; a GET or HEAD goes unchecked, and once more
//! on a new connection if the server had closed it (safe: it changes
//! nothing). Socket timeouts are set only when the call's deadline needs
//! them. So a GET on a warm connection costs two system calls (the write,
//! the read), a write three.
//!
//! Failures are classified as the other adapters do: refused or failed
//! connections and TLS handshakes are [`TransportErrorKind::Connect`]
//! (nothing was sent); once the request is written, a failure is
//! [`TransportErrorKind::Io`] or [`TransportErrorKind::Timeout`] (it may have
//! been applied). It never follows redirects, and sends nothing twice but the
//! GET or HEAD above. With TLS
//! 1.3, a server that rejects the client's certificate does so after the
//! handshake, which surfaces as a failure after sending, as with ureq.

mod conn;
mod exchange;
#[cfg(feature = "http1-tokio")]
mod nonblocking;
mod pool;

#[cfg(feature = "http1-tokio")]
pub use nonblocking::Http1AsyncTransport;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conn::{read_body, read_head, timed_out, Conn, Stream};
use exchange::{encode, Sink};
use pool::{connect_error, Key, Names, Pool};

use crate::client::{ClientBuilder, TransportOptions};
use crate::error::{Error, TransportError, TransportErrorKind};
use crate::transport::{Flow, HttpRequest, HttpResult, Transport};
use crate::Client;

/// Where a blocking exchange puts a body.
type LineSink<'l> = Sink<&'l mut dyn FnMut(&[u8]) -> Flow>;

/// The lean blocking HTTP/1.1 [`Transport`] (see the [module docs](self)).
#[derive(Clone)]
pub struct Http1Transport {
    shared: Arc<Shared>,
}

struct Shared {
    idle: Pool<Conn>,
    names: Names,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    max_body: usize,
}

impl std::fmt::Debug for Http1Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Transport")
            .field("connect_timeout", &self.shared.connect_timeout)
            .field("max_idle_per_host", &self.shared.idle.max())
            .field("max_body_size", &self.shared.max_body)
            .finish_non_exhaustive()
    }
}

impl Http1Transport {
    /// A transport configured by `options`; reads the TLS files it names.
    pub fn new(options: &TransportOptions) -> Result<Http1Transport, Error> {
        Ok(Http1Transport {
            shared: Arc::new(Shared {
                idle: Pool::new(options.max_idle_per_host),
                names: Names::default(),
                tls: Arc::new(super::rustls_config::client_config(&options.tls)?),
                connect_timeout: options.connect_timeout,
                max_body: options.max_body_size,
            }),
        })
    }

    /// The addresses of `host:port` (an IP at once; a name from the cache or
    /// the system's resolver).
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TransportError> {
        if let Some(addrs) = self.shared.names.known(host, port) {
            return Ok(addrs);
        }
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| connect_error(format!("resolving {host}: {e}")))?
            .collect();
        self.shared.names.learn(host, port, addrs)
    }

    /// A new connection to `key` (TLS handshake done): nothing sent yet. It
    /// takes at most the connect timeout, and never past the request's
    /// `deadline` (the timeout bounds the whole exchange): a request whose
    /// time ran out while connecting fails as not sent.
    fn connect(&self, key: &Key<'_>, deadline: Option<Instant>) -> Result<Conn, TransportError> {
        let tls = key.0;
        let (host, port) = pool::host_port(key);
        let connect_timeout = self.shared.connect_timeout;
        // The request's time ran out before anything was sent.
        let ran_out = || {
            connect_error(format!(
                "the request's timeout ran out while connecting to {host}:{port} \
                 (nothing was sent)"
            ))
        };
        // The time left to connect, or a "nothing sent" error.
        let bound = || -> Result<Duration, TransportError> {
            let left = deadline.map_or(connect_timeout, |d| {
                connect_timeout.min(d.saturating_duration_since(Instant::now()))
            });
            if left.is_zero() {
                return Err(ran_out());
            }
            Ok(left)
        };
        let mut failure = None;
        let mut tcp = None;
        for addr in self.resolve(host, port)? {
            let left = bound()?;
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                // Cut short by the request's own timeout, not the connect
                // timeout: said so.
                Err(e) if timed_out(&e) && left < connect_timeout => failure = Some(ran_out()),
                Err(e) => {
                    failure = Some(connect_error(format!("connecting to {host}:{port}: {e}")))
                }
            }
        }
        let Some(tcp) = tcp else {
            return Err(failure.unwrap_or_else(|| {
                connect_error(format!("connecting to {host}:{port}: no address"))
            }));
        };
        let _ = tcp.set_nodelay(true);
        if !tls {
            return Ok(Conn::new(Stream::Plain(tcp)));
        }
        let config = Arc::clone(&self.shared.tls);
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
            TransportError::new(TransportErrorKind::Request, format!("{host}: {e}"))
        })?;
        let mut session = rustls::ClientConnection::new(config, name)
            .map_err(|e| connect_error(format!("TLS with {host}: {e}")))?;
        let mut tcp = tcp;
        let left = bound()?;
        // A connect timeout too large to add to the clock is no bound.
        let handshake_deadline = Instant::now().checked_add(left);
        let _ = tcp.set_read_timeout(Some(left));
        let _ = tcp.set_write_timeout(Some(left));
        let cut_short = left < connect_timeout;
        while session.is_handshaking() {
            if handshake_deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(if cut_short {
                    ran_out()
                } else {
                    connect_error(format!("the TLS handshake with {host} timed out"))
                });
            }
            session.complete_io(&mut tcp).map_err(|e| {
                if cut_short && timed_out(&e) {
                    return ran_out();
                }
                connect_error(format!("the TLS handshake with {host}: {e}")).with_source(e)
            })?;
        }
        Ok(Conn::new(Stream::Tls(Box::new(rustls::StreamOwned::new(
            session, tcp,
        )))))
    }

    /// A pooled connection, checked still open when `check`, or a new one.
    fn checkout(
        &self,
        key: &Key<'_>,
        check: bool,
        deadline: Option<Instant>,
    ) -> Result<Conn, TransportError> {
        let open = |c: &Conn| {
            if check {
                c.idle_and_open()
            } else {
                c.buffered().is_empty()
            }
        };
        match self.shared.idle.take(key, open) {
            Some(conn) => Ok(conn),
            None => self.connect(key, deadline),
        }
    }

    /// Send `bytes` on `conn` and read the answer's head (all its headers,
    /// or only [`crate::CLUSTER_HEADERS`]).
    fn start(
        conn: &mut Conn,
        bytes: &[u8],
        method: &http::Method,
        deadline: Option<Instant>,
        keep_all: bool,
    ) -> Result<exchange::Head, TransportError> {
        conn.send(bytes, deadline)?;
        read_head(conn, method, deadline, keep_all)
    }

    /// One exchange: the answer's parts, its body into `sink`.
    fn exchange<'l>(
        &self,
        request: &HttpRequest,
        timeout: Option<Duration>,
        keep_all: bool,
        sink: &mut dyn FnMut(&http::response::Parts) -> Option<LineSink<'l>>,
    ) -> Result<(http::response::Parts, Option<Vec<u8>>), TransportError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let key = pool::key(request)?;
        let bytes = encode(request, key.1.as_str());
        let method = request.method();
        // A GET or HEAD goes on a pooled connection unchecked (one system
        // call less); if the server had closed it, the request is sent once
        // more on a new one (safe: it changes nothing). A write goes only on
        // a connection checked open, never twice.
        let safe = *method == http::Method::GET || *method == http::Method::HEAD;
        let mut conn = self.checkout(&key, !safe, deadline)?;
        let head = match Self::start(&mut conn, &bytes, method, deadline, keep_all) {
            Ok(head) => head,
            Err(e) if safe && pool::stale(conn.reused, !conn.buffered().is_empty(), &e) => {
                conn = self.connect(&key, deadline)?;
                Self::start(&mut conn, &bytes, method, deadline, keep_all)?
            }
            Err(e) => return Err(e),
        };
        let Some(mut body) = sink(&head.parts) else {
            // Not read: the connection cannot be used again.
            return Ok((head.parts, None));
        };
        let whole = read_body(
            &mut conn,
            head.framing,
            &mut body,
            self.shared.max_body,
            deadline,
        )?;
        if whole && head.keep_alive {
            conn.reused = true;
            self.shared.idle.put(key, conn);
        }
        let bytes = match body {
            Sink::Whole(bytes) => Some(bytes),
            Sink::Lines { .. } => None,
        };
        Ok((head.parts, bytes))
    }

    /// One exchange whose answer is read whole; `keep_all` as in
    /// `exchange::build_head`.
    fn send_whole(
        &self,
        request: &HttpRequest,
        timeout: Option<Duration>,
        keep_all: bool,
    ) -> HttpResult {
        let (parts, body) = self.exchange(request, timeout, keep_all, &mut |_| {
            Some(Sink::Whole(Vec::new()))
        })?;
        Ok(http::Response::from_parts(parts, body.unwrap_or_default()))
    }
}

impl Transport for Http1Transport {
    fn send(&self, request: HttpRequest, timeout: Option<Duration>) -> HttpResult {
        self.send_whole(&request, timeout, true)
    }

    fn send_keeping_cluster_headers(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
    ) -> HttpResult {
        self.send_whole(&request, timeout, false)
    }

    fn send_streaming(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
        line: &mut dyn FnMut(&[u8]) -> Flow,
    ) -> HttpResult {
        let mut line = Some(line);
        let (parts, body) = self.exchange(&request, timeout, true, &mut |parts| {
            if parts.status.is_success() {
                line.take().map(|line| Sink::Lines {
                    pending: Vec::new(),
                    line,
                })
            } else {
                Some(Sink::Whole(Vec::new()))
            }
        })?;
        Ok(http::Response::from_parts(parts, body.unwrap_or_default()))
    }
}

impl ClientBuilder {
    /// Build a client over the lean HTTP/1.1 transport ([`Http1Transport`]),
    /// reading any TLS files configured.
    pub fn build_http1(self) -> Result<Client<Http1Transport>, Error> {
        self.build_from(Http1Transport::new)
    }
}
