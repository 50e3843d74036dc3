//! A transport's failures: [`TransportError`], classified by
//! [`TransportErrorKind`] so that the core knows whether resending is safe.

use std::fmt;

/// Why a transport got no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect (refused, unreachable, DNS, TLS handshake): nothing was
    /// sent, so the request is safe to send to another endpoint.
    Connect,
    /// A timeout after the connection was made: the request may have been applied.
    Timeout,
    /// The connection failed after the request was (or may have been) sent: reset,
    /// closed early, truncated or malformed HTTP. The request may have been applied.
    Io,
    /// The response body exceeded the configured maximum; it was not read further.
    BodyTooLarge,
    /// The request could not be handed to the HTTP stack (a bad URI, for example);
    /// nothing was sent.
    Request,
    /// Anything else; treated as possibly applied.
    Other,
}

impl TransportErrorKind {
    /// Whether the request may have reached the server.
    pub fn may_have_been_sent(self) -> bool {
        !matches!(
            self,
            TransportErrorKind::Connect | TransportErrorKind::Request
        )
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Connect => "could not connect",
            TransportErrorKind::Timeout => "timed out",
            TransportErrorKind::Io => "connection failed after sending",
            TransportErrorKind::BodyTooLarge => "response body too large",
            TransportErrorKind::Request => "request not sendable",
            TransportErrorKind::Other => "transport failure",
        })
    }
}

/// A transport's failure to get an answer, classified so that the client knows
/// whether resending is safe.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A transport error of `kind` with a message.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
        TransportError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attach the underlying error.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> TransportError {
        self.source = Some(Box::new(source));
        self
    }

    /// The classification.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
