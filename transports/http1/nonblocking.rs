//! The async twin of [`super::Http1Transport`] on tokio (feature
//! `http1-tokio`): the same request writing, answer reading
//! ([`super::exchange::answer_readers`]), pool, liveness check and failure
//! classification; timeouts are tokio's, so no socket option is ever set.

use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::conn::{io_error, timeout_error};
use super::exchange::{
    answer_readers, build_head, encode, malformed, too_large, Buffer, Framing, Head, Sink,
    MAX_HEAD, MAX_HEADERS,
};
use super::pool::{connect_error, host_port, key, stale, Key, Names, Pool};
use crate::client::{ClientBuilder, TransportOptions};
use crate::error::{Error, TransportError};
use crate::transport::{AsyncTransport, Flow, HttpRequest, HttpResult, Task};
use crate::AsyncClient;

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

/// An async connection and what it has read but not yet handed out.
struct AsyncConn {
    stream: Stream,
    buf: Buffer,
    /// Whether it served a request before.
    reused: bool,
}

/// Run `io` until `deadline`, else a timeout error.
async fn by<T>(
    deadline: Option<Instant>,
    io: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<std::io::Result<T>, TransportError> {
    match deadline {
        None => Ok(io.await),
        Some(d) => tokio::time::timeout_at(d.into(), io)
            .await
            .map_err(|_| timeout_error()),
    }
}

impl AsyncConn {
    /// As [`super::conn::Conn::idle_and_open`].
    fn idle_and_open(&self) -> bool {
        if !self.buf.buffered().is_empty() {
            return false;
        }
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        let socket = socket2::SockRef::from(self.stream.tcp());
        match socket.recv_with_flags(&mut probe, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            Ok(_) => false,
        }
    }

    fn buffered(&self) -> &[u8] {
        self.buf.buffered()
    }

    fn consume(&mut self, n: usize) {
        self.buf.consume(n)
    }

    async fn send(
        &mut self,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), TransportError> {
        let written = match &mut self.stream {
            Stream::Plain(s) => by(deadline, s.write_all(bytes)).await?,
            Stream::Tls(s) => {
                by(deadline, async {
                    s.write_all(bytes).await?;
                    s.flush().await
                })
                .await?
            }
        };
        written.map_err(|e| io_error("sending the request", e))
    }

    async fn fill(
        &mut self,
        deadline: Option<Instant>,
        most: usize,
    ) -> Result<usize, TransportError> {
        let room = self.buf.room(most)?;
        let read = match &mut self.stream {
            Stream::Plain(s) => by(deadline, s.read(room)).await?,
            Stream::Tls(s) => by(deadline, s.read(room)).await?,
        };
        match read {
            Ok(n) => {
                self.buf.filled(n);
                Ok(n)
            }
            // A TLS peer that closes without close_notify: the end.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(io_error("reading the answer", e)),
        }
    }

    async fn read_exact(
        &mut self,
        out: &mut [u8],
        deadline: Option<Instant>,
    ) -> Result<(), TransportError> {
        let at = self.buf.drain_into(out);
        if at == out.len() {
            return Ok(());
        }
        let rest = &mut out[at..];
        let read = match &mut self.stream {
            Stream::Plain(s) => by(deadline, s.read_exact(rest)).await?,
            Stream::Tls(s) => by(deadline, s.read_exact(rest)).await?,
        };
        read.map(|_| ()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                malformed("the answer ended before its Content-Length")
            } else {
                io_error("reading the answer's body", e)
            }
        })
    }
}

answer_readers!(AsyncConn; async; .await);

/// Send `bytes` on `conn` and read the answer's head (all its headers, or
/// only [`crate::CLUSTER_HEADERS`]).
async fn start(
    conn: &mut AsyncConn,
    bytes: &[u8],
    method: &http::Method,
    deadline: Option<Instant>,
    keep_all: bool,
) -> Result<Head, TransportError> {
    conn.send(bytes, deadline).await?;
    read_head(conn, method, deadline, keep_all).await
}

/// The lean async HTTP/1.1 [`AsyncTransport`] on tokio: the async twin of
/// [`super::Http1Transport`], with the same request writing, answer reading,
/// pool, liveness check and failure classification; timeouts are tokio's, so
/// no socket option is ever set.
#[derive(Clone)]
pub struct Http1AsyncTransport {
    shared: Arc<Shared>,
}

struct Shared {
    idle: Pool<AsyncConn>,
    names: Names,
    tls: tokio_rustls::TlsConnector,
    connect_timeout: Duration,
    max_body: usize,
}

impl std::fmt::Debug for Http1AsyncTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1AsyncTransport")
            .field("connect_timeout", &self.shared.connect_timeout)
            .field("max_idle_per_host", &self.shared.idle.max())
            .field("max_body_size", &self.shared.max_body)
            .finish_non_exhaustive()
    }
}

/// Where an async exchange puts a body.
type LineSink<'l> = Sink<&'l mut (dyn FnMut(&[u8]) -> Flow + Send)>;

impl Http1AsyncTransport {
    /// A transport configured by `options`; reads the TLS files it names.
    pub fn new(options: &TransportOptions) -> Result<Http1AsyncTransport, Error> {
        let tls = Arc::new(super::super::rustls_config::client_config(&options.tls)?);
        Ok(Http1AsyncTransport {
            shared: Arc::new(Shared {
                idle: Pool::new(options.max_idle_per_host),
                names: Names::default(),
                tls: tokio_rustls::TlsConnector::from(tls),
                connect_timeout: options.connect_timeout,
                max_body: options.max_body_size,
            }),
        })
    }

    /// A new connection to `key` (TLS handshake done): nothing sent yet. It
    /// takes at most the connect timeout, and ends by the request's
    /// `request_deadline`: a request whose time ran out while connecting
    /// fails as not sent (tokio's timeout would try the write first).
    async fn connect(
        &self,
        key: &Key<'_>,
        request_deadline: Option<Instant>,
    ) -> Result<AsyncConn, TransportError> {
        let tls = key.0;
        let (host, port) = host_port(key);
        let addrs = match self.shared.names.known(host, port) {
            Some(addrs) => addrs,
            None => {
                let found = tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|e| connect_error(format!("resolving {host}: {e}")))?;
                self.shared.names.learn(host, port, found.collect())?
            }
        };
        // A connect timeout too large to add to the clock is no bound; the
        // request's own deadline bounds connecting too (its timeout bounds the
        // whole exchange), and then nothing was sent.
        let deadline = match (
            crate::transports::tokio::now().checked_add(self.shared.connect_timeout),
            request_deadline,
        ) {
            (Some(c), Some(r)) => Some(c.min(r)),
            (c, r) => c.or(r),
        };
        // The request's time ran out before anything was sent.
        let ran_out = || {
            connect_error(format!(
                "the request's timeout ran out while connecting to {host}:{port} \
                 (nothing was sent)"
            ))
        };
        // Whether the request's own deadline, not the connect timeout, is
        // what a timeout while connecting ran into.
        let cut_short = request_deadline.is_some() && deadline == request_deadline;
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match by(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    tcp = Some(s);
                    break;
                }
                Ok(Err(e)) => last = Some(e.to_string()),
                Err(_) if cut_short => return Err(ran_out()),
                Err(_) => last = Some("timed out".into()),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            let why = last.unwrap_or_else(|| "no address".into());
            connect_error(format!("connecting to {host}:{port}: {why}"))
        })?;
        let _ = tcp.set_nodelay(true);
        let in_time = || {
            if request_deadline.is_some_and(|d| crate::transports::tokio::now() >= d) {
                return Err(ran_out());
            }
            Ok(())
        };
        if !tls {
            in_time()?;
            return Ok(AsyncConn {
                stream: Stream::Plain(tcp),
                buf: Buffer::new(),
                reused: false,
            });
        }
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
            TransportError::new(crate::TransportErrorKind::Request, format!("{host}: {e}"))
        })?;
        let session = match by(deadline, self.shared.tls.connect(name, tcp)).await {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => {
                return Err(
                    connect_error(format!("the TLS handshake with {host}: {e}")).with_source(e)
                )
            }
            Err(_) if cut_short => return Err(ran_out()),
            Err(_) => {
                return Err(connect_error(format!(
                    "the TLS handshake with {host} timed out"
                )))
            }
        };
        in_time()?;
        Ok(AsyncConn {
            stream: Stream::Tls(Box::new(session)),
            buf: Buffer::new(),
            reused: false,
        })
    }

    async fn exchange<'l>(
        &self,
        request: &HttpRequest,
        timeout: Option<Duration>,
        keep_all: bool,
        mut sink: impl FnMut(&http::response::Parts) -> Option<LineSink<'l>> + Send,
    ) -> Result<(http::response::Parts, Option<Vec<u8>>), TransportError> {
        let deadline = timeout.and_then(|t| crate::transports::tokio::now().checked_add(t));
        let key = key(request)?;
        let bytes = encode(request, key.1.as_str());
        let method = request.method();
        // As the blocking transport: a GET or HEAD goes on a pooled
        // connection unchecked, and once more on a new one if the server had
        // closed it; a write only on a connection checked open.
        let safe = *method == http::Method::GET || *method == http::Method::HEAD;
        let open = |c: &AsyncConn| {
            if safe {
                c.buffered().is_empty()
            } else {
                c.idle_and_open()
            }
        };
        let mut conn = match self.shared.idle.take(&key, open) {
            Some(conn) => conn,
            None => self.connect(&key, deadline).await?,
        };
        let head = match start(&mut conn, &bytes, method, deadline, keep_all).await {
            Ok(head) => head,
            Err(e) if safe && stale(conn.reused, !conn.buffered().is_empty(), &e) => {
                conn = self.connect(&key, deadline).await?;
                start(&mut conn, &bytes, method, deadline, keep_all).await?
            }
            Err(e) => return Err(e),
        };
        let Some(mut body) = sink(&head.parts) else {
            return Ok((head.parts, None));
        };
        let whole = read_body(
            &mut conn,
            head.framing,
            &mut body,
            self.shared.max_body,
            deadline,
        )
        .await?;
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
    async fn send_whole(
        &self,
        request: &HttpRequest,
        timeout: Option<Duration>,
        keep_all: bool,
    ) -> HttpResult {
        let (parts, body) = self
            .exchange(request, timeout, keep_all, |_| {
                Some(Sink::Whole(Vec::new()))
            })
            .await?;
        Ok(http::Response::from_parts(parts, body.unwrap_or_default()))
    }
}

impl AsyncTransport for Http1AsyncTransport {
    async fn send(&self, request: HttpRequest, timeout: Option<Duration>) -> HttpResult {
        self.send_whole(&request, timeout, true).await
    }

    async fn send_keeping_cluster_headers(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
    ) -> HttpResult {
        self.send_whole(&request, timeout, false).await
    }

    async fn send_streaming<'a>(
        &'a self,
        request: HttpRequest,
        timeout: Option<Duration>,
        line: &'a mut (dyn FnMut(&[u8]) -> Flow + Send),
    ) -> HttpResult {
        let mut line = Some(line);
        let (parts, body) = self
            .exchange(&request, timeout, true, move |parts| {
                if parts.status.is_success() {
                    line.take().map(|line| Sink::Lines {
                        pending: Vec::new(),
                        line,
                    })
                } else {
                    Some(Sink::Whole(Vec::new()))
                }
            })
            .await?;
        Ok(http::Response::from_parts(parts, body.unwrap_or_default()))
    }

    fn now(&self) -> Instant {
        crate::transports::tokio::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }

    fn spawn(&self, task: Task) {
        super::super::tokio::spawn(task);
    }
}

impl ClientBuilder {
    /// Build an async client over the lean HTTP/1.1 transport
    /// ([`Http1AsyncTransport`]), reading any TLS files configured.
    pub fn build_async_http1(self) -> Result<AsyncClient<Http1AsyncTransport>, Error> {
        self.build_async_from(Http1AsyncTransport::new)
    }
}
