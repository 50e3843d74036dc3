//! What the blocking and async HTTP/1.1 transports share besides the
//! answer's reading: the endpoint a request goes to, the pool of idle
//! connections, and the cache of host names' addresses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{TransportError, TransportErrorKind};
use crate::transport::HttpRequest;

/// How long a host name's addresses are reused before being resolved again.
const RESOLVE_CACHE: Duration = Duration::from_secs(30);

/// An endpoint: TLS or not, and the request's authority (borrowed, so that
/// finding a pooled connection allocates nothing; its host and port are read
/// only to connect).
pub(super) type Key<'r> = (bool, &'r http::uri::Authority);

/// A [`Key`] the pool keeps: TLS or not, and the authority's text.
type OwnedKey = (bool, String);

pub(super) fn connect_error(what: String) -> TransportError {
    TransportError::new(TransportErrorKind::Connect, what)
}

/// The endpoint a request goes to (an `http` or `https` URL, else nothing is
/// sent).
pub(super) fn key(request: &HttpRequest) -> Result<Key<'_>, TransportError> {
    let uri = request.uri();
    let bad = || {
        TransportError::new(
            TransportErrorKind::Request,
            format!("not an http(s) URL: {uri}"),
        )
    };
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(bad()),
    };
    let authority = uri.authority().ok_or_else(bad)?;
    Ok((tls, authority))
}

/// The host (an IPv6 address without its brackets) and port to connect to
/// for `key`.
pub(super) fn host_port<'k>(key: &Key<'k>) -> (&'k str, u16) {
    let (tls, authority) = *key;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    (host, port)
}

/// Whether a failure looks like the server having closed a pooled
/// connection: an I/O failure on a connection `reused` from the pool, with
/// nothing of an answer read (`answered`), so a GET may go once more.
pub(super) fn stale(reused: bool, answered: bool, error: &TransportError) -> bool {
    reused && !answered && error.kind() == TransportErrorKind::Io
}

/// Idle connections by endpoint, at most `max` each (the most recently used
/// is taken first). A client talks to a handful of endpoints, so they are
/// kept in a list: finding one compares a few keys, with no hashing and no
/// owned key built per request.
pub(super) struct Pool<C> {
    idle: Mutex<Vec<(OwnedKey, Vec<C>)>>,
    max: usize,
}

fn same(owned: &OwnedKey, key: &Key<'_>) -> bool {
    owned.0 == key.0 && owned.1 == key.1.as_str()
}

impl<C> Pool<C> {
    pub(super) fn new(max: usize) -> Pool<C> {
        Pool {
            idle: Mutex::new(Vec::new()),
            max,
        }
    }

    /// An idle connection to `key` that `open` accepts (those it refuses are
    /// dropped).
    pub(super) fn take(&self, key: &Key<'_>, open: impl Fn(&C) -> bool) -> Option<C> {
        let mut idle = self.idle.lock().ok()?;
        let (_, list) = idle.iter_mut().find(|(k, _)| same(k, key))?;
        while let Some(conn) = list.pop() {
            if open(&conn) {
                return Some(conn);
            }
        }
        None
    }

    /// Keep `conn` for `key`, unless the pool is full.
    pub(super) fn put(&self, key: Key<'_>, conn: C) {
        if self.max == 0 {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            match idle.iter_mut().find(|(k, _)| same(k, &key)) {
                Some((_, list)) if list.len() < self.max => list.push(conn),
                Some(_) => {}
                None => idle.push(((key.0, key.1.as_str().to_owned()), vec![conn])),
            }
        }
    }

    /// The most idle connections kept per endpoint.
    pub(super) fn max(&self) -> usize {
        self.max
    }
}

/// A lookup's answer, and when it was had.
type Lookup = (Instant, Vec<SocketAddr>);

/// Host names' addresses, and when they were looked up.
#[derive(Default)]
pub(super) struct Names {
    known: Mutex<HashMap<(String, u16), Lookup>>,
}

impl Names {
    /// The addresses of `host:port` without a lookup: an IP address, or a
    /// name looked up less than [`RESOLVE_CACHE`] ago.
    pub(super) fn known(&self, host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(vec![SocketAddr::new(ip, port)]);
        }
        let known = self.known.lock().ok()?;
        let (at, addrs) = known.get(&(host.to_owned(), port))?;
        (at.elapsed() < RESOLVE_CACHE).then(|| addrs.clone())
    }

    /// Remember a lookup's answer; an error if there is none.
    pub(super) fn learn(
        &self,
        host: &str,
        port: u16,
        addrs: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, TransportError> {
        if addrs.is_empty() {
            return Err(connect_error(format!("{host} has no address")));
        }
        if let Ok(mut known) = self.known.lock() {
            known.insert((host.to_owned(), port), (Instant::now(), addrs.clone()));
        }
        Ok(addrs)
    }
}
