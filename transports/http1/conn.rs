//! One keep-alive connection: its stream (plain or TLS), a read buffer, and
//! the socket timeouts last set (a timeout is set again only when the time a
//! read may take would otherwise outlast the call's deadline by more than
//! [`SLACK`], so a run of quick requests sets none).

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::exchange::{
    answer_readers, build_head, malformed, too_large, Buffer, Framing, Head, Sink, MAX_HEAD,
    MAX_HEADERS,
};
use crate::error::{TransportError, TransportErrorKind};
use crate::transport::Flow;

/// How far past a call's deadline a blocked read may run before the socket's
/// timeout is tightened.
const SLACK: Duration = Duration::from_millis(100);

/// A plain or TLS stream.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

/// A connection and what it has read but not yet handed out.
pub(super) struct Conn {
    stream: Stream,
    buf: Buffer,
    read_timeout: Option<Option<Duration>>,
    write_timeout: Option<Option<Duration>>,
    /// Whether it served a request before (a failure on it may be the
    /// server having closed it while idle).
    pub(super) reused: bool,
}

/// Whether an I/O error is a socket timeout.
pub(super) fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

pub(super) fn io_error(what: &str, e: io::Error) -> TransportError {
    TransportError::new(TransportErrorKind::Io, format!("{what}: {e}")).with_source(e)
}

pub(super) fn timeout_error() -> TransportError {
    TransportError::new(
        TransportErrorKind::Timeout,
        "no answer within the timeout (the request may have been applied)",
    )
}

impl Conn {
    pub(super) fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: Buffer::new(),
            read_timeout: None,
            write_timeout: None,
            reused: false,
        }
    }

    /// Whether an idle connection can carry another request: nothing left
    /// unread, and the server has not closed it (one `recv` that does not
    /// wait: no data and no end of stream).
    pub(super) fn idle_and_open(&self) -> bool {
        if !self.buf.buffered().is_empty() {
            return false;
        }
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        let socket = socket2::SockRef::from(self.stream.tcp());
        match socket.recv_with_flags(&mut probe, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            // End of stream, or bytes nobody asked for (a TLS alert, say).
            Ok(_) => false,
        }
    }

    /// The time left before `deadline`, or a timeout error.
    fn left(deadline: Option<Instant>) -> Result<Option<Duration>, TransportError> {
        match deadline {
            None => Ok(None),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(timeout_error()),
            },
        }
    }

    /// Make sure a blocked read or write ends by `deadline` (within
    /// [`SLACK`]).
    fn arm(&mut self, write: bool, deadline: Option<Instant>) -> Result<(), TransportError> {
        let left = Self::left(deadline)?;
        let current = if write {
            self.write_timeout
        } else {
            self.read_timeout
        };
        let fine = match (current, left) {
            (Some(None), None) => true,
            (Some(Some(set)), Some(left)) => set <= left + SLACK,
            _ => false,
        };
        if fine {
            return Ok(());
        }
        let tcp = self.stream.tcp();
        let set = if write {
            tcp.set_write_timeout(left)
        } else {
            tcp.set_read_timeout(left)
        };
        set.map_err(|e| io_error("setting the socket timeout", e))?;
        if write {
            self.write_timeout = Some(left);
        } else {
            self.read_timeout = Some(left);
        }
        Ok(())
    }

    /// Send `bytes` whole.
    pub(super) fn send(
        &mut self,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), TransportError> {
        // Nothing is written yet: a deadline passed already (a slow connect)
        // fails as not sent, never as an unknown outcome.
        self.arm(true, deadline).map_err(|e| {
            let why = if e.kind() == TransportErrorKind::Timeout {
                "the request's timeout ran out before it was sent".to_owned()
            } else {
                e.to_string()
            };
            TransportError::new(
                TransportErrorKind::Connect,
                format!("{why} (nothing was sent)"),
            )
        })?;
        let result = match &mut self.stream {
            Stream::Plain(s) => s.write_all(bytes),
            Stream::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
        };
        result.map_err(|e| {
            if timed_out(&e) {
                timeout_error()
            } else {
                io_error("sending the request", e)
            }
        })
    }

    /// The unread bytes.
    pub(super) fn buffered(&self) -> &[u8] {
        self.buf.buffered()
    }

    /// Hand out the first `n` unread bytes.
    pub(super) fn consume(&mut self, n: usize) {
        self.buf.consume(n)
    }

    /// Read more into the buffer (keeping at most `most` unread bytes); the
    /// count read, 0 at the end of the stream.
    pub(super) fn fill(
        &mut self,
        deadline: Option<Instant>,
        most: usize,
    ) -> Result<usize, TransportError> {
        loop {
            self.arm(false, deadline)?;
            let room = self.buf.room(most)?;
            let read = match &mut self.stream {
                Stream::Plain(s) => s.read(room),
                Stream::Tls(s) => s.read(room),
            };
            match read {
                Ok(n) => {
                    self.buf.filled(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The socket's timeout is the deadline's, within the slack:
                // `arm` tells which.
                Err(e) if timed_out(&e) => {}
                // A TLS peer that closes without close_notify: the end.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(io_error("reading the answer", e)),
            }
        }
    }

    /// Read exactly `out.len()` bytes into `out`, from the buffer first.
    pub(super) fn read_exact(
        &mut self,
        out: &mut [u8],
        deadline: Option<Instant>,
    ) -> Result<(), TransportError> {
        let mut at = self.buf.drain_into(out);
        while at < out.len() {
            self.arm(false, deadline)?;
            let read = match &mut self.stream {
                Stream::Plain(s) => s.read(&mut out[at..]),
                Stream::Tls(s) => s.read(&mut out[at..]),
            };
            match read {
                Ok(0) => {
                    return Err(TransportError::new(
                        TransportErrorKind::Io,
                        format!("the answer ended after {at} of {} body bytes", out.len()),
                    ))
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted || timed_out(&e) => {}
                Err(e) => return Err(io_error("reading the answer's body", e)),
            }
        }
        Ok(())
    }
}

answer_readers!(pub(super) Conn; ; );
