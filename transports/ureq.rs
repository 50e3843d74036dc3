//! The blocking transport over [ureq](https://docs.rs/ureq) 3 (rustls), the
//! default. [`Client::new`](crate::Client::new) and
//! [`ClientBuilder::build`](crate::ClientBuilder::build) use it.
//!
//! It copies the status, every header and the whole body (up to the configured
//! maximum), never follows redirects, never retries, and keeps idle connections
//! in one pool shared by every clone of the client.
//!
//! TLS failures during the handshake (an untrusted or misnamed server
//! certificate) are [`TransportErrorKind::Connect`]: nothing was sent. With TLS
//! 1.3, a server that rejects the *client's* certificate hangs up after the
//! client has started writing, which surfaces as a broken pipe: indistinguishable
//! from a connection lost after sending, so an unsafe write reports
//! [`crate::Error::OutcomeUnknown`].

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::{Certificate, ClientCert, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::client::TransportOptions;
use crate::error::{Error, TransportError, TransportErrorKind};
use crate::transport::{Flow, HttpRequest, HttpResult, Transport};

/// A [`Transport`] over a ureq `Agent`.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    max_body_size: u64,
}

impl UreqTransport {
    /// A transport configured by `options`; reads the TLS files it names.
    pub fn new(options: &TransportOptions) -> Result<UreqTransport, Error> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(options.connect_timeout))
            .max_idle_connections(options.max_idle_per_host.max(1) * 8)
            .max_idle_connections_per_host(options.max_idle_per_host)
            .user_agent(concat!("etcd-v2-rs/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls_config(options)?)
            .build();
        Ok(UreqTransport {
            agent: ureq::Agent::with_parts(
                config,
                DefaultConnector::default(),
                QuickResolver::default(),
            ),
            max_body_size: u64::try_from(options.max_body_size).unwrap_or(u64::MAX),
        })
    }
}

/// How long a host name's addresses are reused before being resolved again.
const RESOLVE_CACHE: Duration = Duration::from_secs(30);

/// ureq's default resolver runs every lookup under a timeout in a thread of its
/// own, even for an IP address and before reusing a pooled connection: a thread
/// per request (measured: 64 µs per GET without a timeout, 155 µs with one).
/// This one answers IP literals at once and keeps host names' addresses for
/// [`RESOLVE_CACHE`], deferring to ureq's resolver only to look a name up.
#[derive(Debug, Default)]
struct QuickResolver {
    names: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for QuickResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(authority), Some(scheme)) = (uri.authority(), uri.scheme()) else {
            return DefaultResolver::default().resolve(uri, config, timeout);
        };
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == &ureq::http::uri::Scheme::HTTPS {
                443
            } else {
                80
            });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        if let Ok(names) = self.names.lock() {
            if let Some((at, addrs)) = names.get(&key) {
                if at.elapsed() < RESOLVE_CACHE {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        if let Ok(mut names) = self.names.lock() {
            names.insert(key, (Instant::now(), addrs.clone()));
        }
        Ok(addrs)
    }
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<PemItem<'static>>, Error> {
    let bad =
        |reason: String| Error::invalid_argument(what, format!("{}: {reason}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    ureq::tls::parse_pem(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM: {e}")))
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<Certificate<'static>>, Error> {
    let certs: Vec<Certificate<'static>> = read_pem(what, path)?
        .into_iter()
        .filter_map(|item| match item {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(Error::invalid_argument(
            what,
            format!("{}: no certificate found", path.display()),
        ));
    }
    Ok(certs)
}

fn tls_config(options: &TransportOptions) -> Result<TlsConfig, Error> {
    let tls = &options.tls;
    let mut builder = TlsConfig::builder().disable_verification(tls.danger_accept_invalid_certs);
    if let Some(ca) = &tls.ca_file {
        builder = builder.root_certs(RootCerts::new_with_certs(&certificates("ca_file", ca)?));
    }
    match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = certificates("client_cert", cert)?;
            let key = read_pem("client_key", key)?
                .into_iter()
                .find_map(|item| match item {
                    PemItem::PrivateKey(k) => Some(k),
                    _ => None,
                })
                .ok_or_else(|| {
                    Error::invalid_argument(
                        "client_key",
                        format!("{}: no private key found", key.display()),
                    )
                })?;
            builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        (None, None) => {}
        _ => {
            return Err(Error::invalid_argument(
                "client_cert",
                "a client certificate needs both the certificate and its key",
            ))
        }
    }
    Ok(builder.build())
}

impl UreqTransport {
    /// Send `request`; the answer's head, and its body unread.
    fn start(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
    ) -> Result<(http::response::Parts, ureq::Body), TransportError> {
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(timeout)
            .build();
        let response = self.agent.run(request).map_err(classify)?;
        Ok(response.into_parts())
    }

    /// The whole body (at most the configured size).
    fn whole(&self, parts: http::response::Parts, body: ureq::Body) -> HttpResult {
        let bytes = body
            .into_with_config()
            .limit(self.max_body_size)
            .read_to_vec()
            .map_err(|e| answered(classify(e)))?;
        Ok(http::Response::from_parts(parts, bytes))
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: HttpRequest, timeout: Option<Duration>) -> HttpResult {
        let (parts, body) = self.start(request, timeout)?;
        self.whole(parts, body)
    }

    fn send_streaming(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
        line: &mut dyn FnMut(&[u8]) -> Flow,
    ) -> HttpResult {
        use std::io::BufRead;
        let (parts, body) = self.start(request, timeout)?;
        if !parts.status.is_success() {
            return self.whole(parts, body);
        }
        let mut reader = io::BufReader::new(body.into_reader());
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let read = (&mut reader)
                .take(self.max_body_size.saturating_add(1))
                .read_until(b'\n', &mut buffer)
                .map_err(classify_io)?;
            if read == 0 {
                break;
            }
            if buffer.len() as u64 > self.max_body_size {
                return Err(TransportError::new(
                    TransportErrorKind::BodyTooLarge,
                    format!("a streamed line exceeds {} bytes", self.max_body_size),
                ));
            }
            let text = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
            if line(text) == Flow::Stop {
                break;
            }
        }
        Ok(http::Response::from_parts(parts, Vec::new()))
    }
}

/// An error while reading a streamed body (ureq's own, wrapped in io, or the
/// socket's).
fn classify_io(err: io::Error) -> TransportError {
    let kind = match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TransportErrorKind::Timeout,
        _ => TransportErrorKind::Io,
    };
    let text = err.to_string();
    // ureq reports its global timeout inside the io error.
    let kind = if text.contains("timeout") || text.contains("Timeout") {
        TransportErrorKind::Timeout
    } else {
        kind
    };
    TransportError::new(kind, text).with_source(err)
}

/// A failure while reading an answer whose head had arrived: the request was
/// sent, whatever the failure looks like.
fn answered(e: TransportError) -> TransportError {
    if e.kind().may_have_been_sent() {
        return e;
    }
    TransportError::new(
        TransportErrorKind::Io,
        format!("reading the answer (the request was sent): {e}"),
    )
}

/// Whether a TLS error can only come from the handshake (so before the request
/// was written, or, for a client certificate a TLS 1.3 server refuses after
/// the handshake, before it read the request).
fn handshake_only(e: &rustls::Error) -> bool {
    use rustls::AlertDescription as A;
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(_)
        | E::NoCertificatesPresented
        | E::UnsupportedNameType
        | E::PeerIncompatible(_)
        | E::InappropriateHandshakeMessage { .. }
        | E::InvalidCertRevocationList(_)
        | E::NoApplicationProtocol
        | E::HandshakeNotComplete => true,
        E::AlertReceived(alert) => matches!(
            alert,
            A::HandshakeFailure
                | A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::ProtocolVersion
                | A::InsufficientSecurity
                | A::CertificateRequired
                | A::UnrecognisedName
                | A::NoApplicationProtocol
        ),
        _ => false,
    }
}

/// Sort ureq's errors into "nothing was sent" (safe to retry anywhere) and "may
/// have been applied".
fn classify(err: ureq::Error) -> TransportError {
    use ureq::Timeout;
    let kind = match &err {
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => TransportErrorKind::Connect,
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportErrorKind::Connect,
        // A TLS failure comes wrapped in an io::Error, from the handshake and
        // from any later read alike: only one the handshake alone can cause (a
        // rejected certificate, a handshake alert) proves the server's HTTP
        // layer never saw the request; a bad record after sending does not.
        ureq::Error::Io(e)
            if e.get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(handshake_only) =>
        {
            TransportErrorKind::Connect
        }
        ureq::Error::Io(e) => match e.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable => TransportErrorKind::Connect,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TransportErrorKind::Timeout,
            _ => TransportErrorKind::Io,
        },
        // The handshake comes before the request: a TLS failure means nothing was sent.
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            TransportErrorKind::Connect
        }
        ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
        ureq::Error::Protocol(_) => TransportErrorKind::Io,
        ureq::Error::Http(_) | ureq::Error::BadUri(_) => TransportErrorKind::Request,
        _ => TransportErrorKind::Other,
    };
    TransportError::new(kind, err.to_string()).with_source(err)
}
