//! One HTTP/1.1 exchange on a [`Conn`]: the request written in one piece,
//! the answer's head parsed with `httparse`, and its body read by its
//! framing (`Content-Length`, chunked, or until the connection closes).

use crate::error::{TransportError, TransportErrorKind};
use crate::transport::{feed_lines, Flow, HttpRequest};

/// The longest answer head, or chunk-size line, read.
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// The most headers an answer may have.
pub(super) const MAX_HEADERS: usize = 64;

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    Close,
}

/// An answer's head: its parts, its framing, and whether the connection
/// may carry another request after it.
pub(super) struct Head {
    pub(super) parts: http::response::Parts,
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
}

pub(super) fn malformed(what: impl Into<String>) -> TransportError {
    TransportError::new(TransportErrorKind::Io, what)
}

/// The request's bytes: head and body in one buffer.
pub(super) fn encode(request: &HttpRequest, authority: &str) -> Vec<u8> {
    let body = request.body();
    let mut out = Vec::with_capacity(192 + body.len());
    out.extend_from_slice(request.method().as_str().as_bytes());
    out.push(b' ');
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    let headers = request.headers();
    for (name, value) in headers {
        if name == http::header::HOST || name == http::header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(http::header::USER_AGENT) {
        out.extend_from_slice(
            concat!("User-Agent: etcd-v2-rs/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
        );
    }
    let method = request.method();
    if !body.is_empty()
        || !matches!(
            *method,
            http::Method::GET | http::Method::HEAD | http::Method::DELETE | http::Method::OPTIONS
        )
    {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A header name: etcd's own without an allocation, others parsed.
fn header_name(name: &str) -> Option<http::HeaderName> {
    crate::headers::well_known(name).or_else(|| http::HeaderName::from_bytes(name.as_bytes()).ok())
}

/// The head of an answer: `head` holds its bytes, which `parsed` points
/// into (the header values share one copy of them). Unless `keep_all`, only
/// [`crate::CLUSTER_HEADERS`] are kept (the framing headers are read either
/// way).
pub(super) fn build_head(
    parsed: &httparse::Response<'_, '_>,
    method: &http::Method,
    head: &[u8],
    keep_all: bool,
) -> Result<Head, TransportError> {
    let code = parsed.code.unwrap_or(0);
    let status =
        http::StatusCode::from_u16(code).map_err(|_| malformed(format!("status {code}")))?;
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.version = if parsed.version == Some(0) {
        http::Version::HTTP_10
    } else {
        http::Version::HTTP_11
    };
    // Thinned, the map grows with what is kept (none, from the v3 gateway).
    if keep_all {
        parts.headers.reserve(parsed.headers.len());
    }
    let shared = bytes::Bytes::copy_from_slice(head);
    let base = head.as_ptr() as usize;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = parsed.version == Some(0);
    for h in parsed.headers.iter() {
        let value = h.value;
        let name = header_name(h.name)
            .ok_or_else(|| malformed(format!("a bad header name {:?}", h.name)))?;
        if name == http::header::CONTENT_LENGTH {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| malformed("a bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(malformed("two different Content-Lengths"));
            }
            length = Some(n);
        } else if name == http::header::TRANSFER_ENCODING {
            chunked = value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name == http::header::CONNECTION {
            let has = |token: &[u8]| {
                value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
            };
            if has(b"close") {
                close = true;
            } else if has(b"keep-alive") && parsed.version == Some(0) {
                close = false;
            }
        }
        if !keep_all && !crate::transport::is_cluster_header(&name) {
            continue;
        }
        // httparse's slices point into `head`.
        let start = (value.as_ptr() as usize)
            .checked_sub(base)
            .filter(|&at| at + value.len() <= head.len())
            .ok_or_else(|| malformed("a header outside the head"))?;
        let value = http::HeaderValue::from_maybe_shared(shared.slice(start..start + value.len()))
            .map_err(|_| malformed(format!("a bad value of header {}", h.name)))?;
        parts.headers.append(name, value);
    }
    let framing = if *method == http::Method::HEAD
        || status.is_informational()
        || status == 204
        || status == 304
    {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    let keep_alive = !close && framing != Framing::Close;
    Ok(Head {
        parts,
        framing,
        keep_alive,
    })
}

pub(super) fn too_large(most: usize) -> TransportError {
    TransportError::new(
        TransportErrorKind::BodyTooLarge,
        format!("the answer's body exceeds {most} bytes"),
    )
}

/// Where a body's bytes go: gathered whole, or handed out line by line to
/// `L`.
pub(super) enum Sink<L> {
    Whole(Vec<u8>),
    Lines { pending: Vec<u8>, line: L },
}

impl<L: FnMut(&[u8]) -> Flow> Sink<L> {
    /// Take `bytes`; whether to go on.
    pub(super) fn take(&mut self, bytes: &[u8], most: usize) -> Result<Flow, TransportError> {
        match self {
            Sink::Whole(body) => {
                if body.len() + bytes.len() > most {
                    return Err(too_large(most));
                }
                body.extend_from_slice(bytes);
                Ok(Flow::Continue)
            }
            Sink::Lines { pending, line } => {
                pending.extend_from_slice(bytes);
                let flow = feed_lines(pending, line);
                if pending.len() > most {
                    return Err(TransportError::new(
                        TransportErrorKind::BodyTooLarge,
                        format!("a streamed line exceeds {most} bytes"),
                    ));
                }
                Ok(flow)
            }
        }
    }

    /// The body's end: a last unfinished line is a line too.
    pub(super) fn end(&mut self) {
        if let Sink::Lines { pending, line } = self {
            if !pending.is_empty() {
                let _ = line(pending);
                pending.clear();
            }
        }
    }
}

/// A buffer of what a connection has read but not yet handed out.
pub(super) struct Buffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// The bytes a connection reads at a time.
const READ_SIZE: usize = 16 * 1024;

impl Buffer {
    pub(super) fn new() -> Buffer {
        Buffer {
            buf: vec![0; READ_SIZE],
            start: 0,
            end: 0,
        }
    }

    /// The unread bytes.
    pub(super) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Hand out the first `n` unread bytes.
    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into, keeping at most `most` unread bytes.
    pub(super) fn room(&mut self, most: usize) -> Result<&mut [u8], TransportError> {
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= most {
                return Err(malformed("the answer's head or a chunk line is too long"));
            }
            let grown = (self.buf.len() * 2).min(most.max(READ_SIZE));
            self.buf.resize(grown, 0);
        }
        Ok(&mut self.buf[self.end..])
    }

    /// `n` bytes were read into the room.
    pub(super) fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// Move up to `out.len()` unread bytes into `out`; how many.
    pub(super) fn drain_into(&mut self, out: &mut [u8]) -> usize {
        let n = self.buffered().len().min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.consume(n);
        n
    }
}

/// The reading of an answer over a connection type with `buffered`,
/// `consume`, `fill` and `read_exact` (blocking, or async with `.await`):
/// one text for both.
macro_rules! answer_readers {
    ($vis:vis $conn:ty; $($kw:ident)?; $($aw:tt)*) => {
        /// Read the answer's head (skipping `1xx` answers).
        $vis $($kw)? fn read_head(
            conn: &mut $conn,
            method: &http::Method,
            deadline: Option<Instant>,
            keep_all: bool,
        ) -> Result<Head, TransportError> {
            loop {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut parsed = httparse::Response::new(&mut headers);
                match parsed.parse(conn.buffered()) {
                    Ok(httparse::Status::Complete(used)) => {
                        let head = build_head(&parsed, method, &conn.buffered()[..used], keep_all)?;
                        conn.consume(used);
                        if head.parts.status.is_informational() {
                            continue;
                        }
                        return Ok(head);
                    }
                    Ok(httparse::Status::Partial) => {
                        let had = conn.buffered().len();
                        if conn.fill(deadline, MAX_HEAD)$($aw)*? == 0 {
                            return Err(malformed(if had == 0 {
                                "the connection closed before an answer (the request may have been applied)"
                            } else {
                                "the connection closed in the middle of the answer's head"
                            }));
                        }
                    }
                    Err(e) => return Err(malformed(format!("not an HTTP answer: {e}"))),
                }
            }
        }

        /// Read a body of `framing` into `sink`; whether it was read to its end
        /// (the connection may then be used again).
        $vis $($kw)? fn read_body<L: FnMut(&[u8]) -> Flow>(
            conn: &mut $conn,
            framing: Framing,
            sink: &mut Sink<L>,
            most: usize,
            deadline: Option<Instant>,
        ) -> Result<bool, TransportError> {
            match framing {
                Framing::Empty => Ok(true),
                Framing::Length(n) => {
                    if let Sink::Whole(body) = sink {
                        let n = usize::try_from(n)
                            .ok()
                            .filter(|&n| n <= most)
                            .ok_or_else(|| too_large(most))?;
                        body.resize(n, 0);
                        conn.read_exact(body, deadline)$($aw)*?;
                        return Ok(true);
                    }
                    if pass(conn, n, sink, most, deadline)$($aw)*? == Flow::Stop {
                        return Ok(false);
                    }
                    sink.end();
                    Ok(true)
                }
                Framing::Close => {
                    loop {
                        if conn.buffered().is_empty() && conn.fill(deadline, MAX_HEAD)$($aw)*? == 0 {
                            break;
                        }
                        let take = conn.buffered().len();
                        let flow = sink.take(&conn.buffered()[..take], most)?;
                        conn.consume(take);
                        if flow == Flow::Stop {
                            return Ok(false);
                        }
                    }
                    sink.end();
                    Ok(false)
                }
                Framing::Chunked => read_chunked(conn, sink, most, deadline)$($aw)*,
            }
        }

        /// Hand the next `n` body bytes to `sink` (unless it says stop).
        $($kw)? fn pass<L: FnMut(&[u8]) -> Flow>(
            conn: &mut $conn,
            n: u64,
            sink: &mut Sink<L>,
            most: usize,
            deadline: Option<Instant>,
        ) -> Result<Flow, TransportError> {
            // A whole body that the size alone puts over the maximum is
            // refused unread, as a Content-Length one is.
            if let Sink::Whole(body) = sink {
                if usize::try_from(n).map_or(true, |n| body.len().saturating_add(n) > most) {
                    return Err(too_large(most));
                }
            }
            let mut left = n;
            while left > 0 {
                if conn.buffered().is_empty() && conn.fill(deadline, MAX_HEAD)$($aw)*? == 0 {
                    return Err(malformed(format!("the answer ended {left} bytes short of its body")));
                }
                let take = conn.buffered().len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let flow = sink.take(&conn.buffered()[..take], most)?;
                conn.consume(take);
                left -= take as u64;
                if flow == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
            Ok(Flow::Continue)
        }

        /// A line (without CRLF) from the connection.
        $($kw)? fn line(conn: &mut $conn, deadline: Option<Instant>) -> Result<Vec<u8>, TransportError> {
            loop {
                if let Some(at) = conn.buffered().iter().position(|&b| b == b'\n') {
                    let mut text = conn.buffered()[..at].to_vec();
                    conn.consume(at + 1);
                    if text.last() == Some(&b'\r') {
                        text.pop();
                    }
                    return Ok(text);
                }
                if conn.fill(deadline, MAX_HEAD)$($aw)*? == 0 {
                    return Err(malformed("the chunked body ended early"));
                }
            }
        }

        $($kw)? fn read_chunked<L: FnMut(&[u8]) -> Flow>(
            conn: &mut $conn,
            sink: &mut Sink<L>,
            most: usize,
            deadline: Option<Instant>,
        ) -> Result<bool, TransportError> {
            loop {
                let size_line = line(conn, deadline)$($aw)*?;
                let digits = size_line.split(|&b| b == b';').next().unwrap_or(&[]);
                let size = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| u64::from_str_radix(d.trim(), 16).ok())
                    .ok_or_else(|| malformed("a bad chunk size"))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !line(conn, deadline)$($aw)*?.is_empty() {}
                    sink.end();
                    return Ok(true);
                }
                if pass(conn, size, sink, most, deadline)$($aw)*? == Flow::Stop {
                    return Ok(false);
                }
                if !line(conn, deadline)$($aw)*?.is_empty() {
                    return Err(malformed("a chunk longer than its size"));
                }
            }
        }
    };
}
pub(crate) use answer_readers;
