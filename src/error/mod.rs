//! Errors, typed by the phase in which the request failed.
//!
//! | phase | variant | was anything applied? |
//! |---|---|---|
//! | never sent (bad key or option) | [`Error::InvalidKey`], [`Error::InvalidArgument`] | no |
//! | no answer (could not connect, timed out, connection lost) | [`Error::Transport`] | no for [`TransportErrorKind::Connect`], otherwise maybe: see [`Error::OutcomeUnknown`] |
//! | etcd refused it | [`Error::Etcd`] (`errorCode`), [`Error::Api`] (`{"message"}` bodies) | no, except errorCode 300 on a write (see [`Error::may_have_been_applied`]) |
//! | something else answered | [`Error::Http`] (a status with no etcd body: proxies, 404 pages, 405, redirects) | unknown |
//! | the answer was unreadable | [`Error::Decode`] | yes if the status was 2xx |
//!
//! The seed's exceptions map onto it as follows: `KeyError` is
//! [`Error::is_key_not_found`] (errorCode 100), `EtcdPreconditionException` is
//! [`Error::is_precondition_failed`] (101), `EtcdAlreadyExistsException` is
//! [`Error::is_already_exists`] (105) and `ValueError` is [`Error::is_invalid_input`].

use std::fmt;

use crate::response::ClusterInfo;

mod code;
mod kind;
mod transport;

pub use code::ErrorCode;
pub use kind::ErrorKind;
pub use transport::{TransportError, TransportErrorKind};

/// Longest body prefix kept in an error, in bytes.
pub(crate) const BODY_PREFIX_LIMIT: usize = 256;

/// Everything that can go wrong talking to etcd.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key cannot be sent to etcd: it is not absolute (the seed's
    /// `validate_path`), or it is too long for etcd's 4096-byte request line.
    /// Nothing was sent. The seed raised `ValueError`.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it was refused.
        reason: String,
    },

    /// An argument or option is invalid (for example a compare-and-swap without
    /// any condition, or `prevIndex = 0`, which etcd silently treats as "no
    /// condition"). Nothing was sent. The seed raised `ValueError`.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// etcd answered with an API error (`{"errorCode": ...}`).
    #[error(transparent)]
    Etcd(Box<EtcdError>),

    /// An endpoint outside the keys API (members, auth, stats) refused the request
    /// with a `{"message": ...}` body.
    #[error("{endpoint} answered HTTP {status}: {message}")]
    Api {
        /// The endpoint that answered.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },

    /// Something answered with an HTTP status but no etcd error body: a proxy, a
    /// `404 page not found`, a `405`, or a redirect (which is never followed).
    #[error("{endpoint} answered HTTP {status} without an etcd error body{}: {body:?}", location.as_ref().map(|l| format!(" (redirect to {l})")).unwrap_or_default())]
    Http {
        /// The endpoint that answered.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The `Location` header of a redirect.
        location: Option<String>,
        /// The first bytes of the body (at most 256, lossily decoded).
        body: String,
    },

    /// The response could not be decoded (wrong JSON shape, truncated body, bad
    /// header). When `status` is 2xx, the request was carried out.
    #[error(
        "could not decode the answer of {endpoint} (HTTP {status}): {reason}; body starts {body:?}"
    )]
    Decode {
        /// The endpoint that answered.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
        /// The first bytes of the body (at most 256, lossily decoded).
        body: String,
    },

    /// No answer was received from an endpoint.
    #[error("{endpoint}: {source}")]
    Transport {
        /// The endpoint that failed.
        endpoint: String,
        /// What failed.
        #[source]
        source: TransportError,
    },

    /// A request that is not safe to repeat (a create, compare-and-swap,
    /// compare-and-delete, delete or in-order POST) failed after it may have
    /// reached etcd: a timeout, a connection lost after sending, or errorCode 300
    /// on a write. It may or may not have been applied, so it was not resent.
    /// Read the key to find out.
    #[error("the outcome of the request is unknown (it may have been applied, so it was not resent): {source}")]
    OutcomeUnknown {
        /// The failure that made the outcome unknown.
        #[source]
        source: Box<Error>,
    },

    /// Every endpoint failed (the seed's "All servers have failed"): one entry per
    /// endpoint tried, in order.
    #[error("all servers have failed: {}", failures.iter().map(|(e, err)| format!("[{e}: {err}]")).collect::<Vec<_>>().join(" "))]
    AllEndpointsFailed {
        /// Each endpoint tried and its failure.
        failures: Vec<(String, Error)>,
    },

    /// An endpoint belongs to another cluster than the one this client is pinned
    /// to (its `X-Etcd-Cluster-Id` differs).
    #[error("{endpoint} belongs to cluster {found}, not to the expected cluster {expected}")]
    ClusterIdMismatch {
        /// The endpoint that answered.
        endpoint: String,
        /// The cluster ID the client expects.
        expected: String,
        /// The cluster ID the endpoint reported.
        found: String,
    },

    /// A member answered a read from its own state while its raft term was
    /// behind the highest this client has seen: it is (or was until a moment
    /// ago) cut off from the majority and may serve old data. The answer was
    /// not used; the read went to another member, and this is the failure
    /// reported for that member.
    #[error("{endpoint} answered at raft term {term}, behind the cluster's term {highest}: it may be cut off from the majority and serve old data, so its answer was not used")]
    StaleRead {
        /// The member that answered.
        endpoint: String,
        /// Its `X-Raft-Term`.
        term: u64,
        /// The highest term this client has seen.
        highest: u64,
    },

    /// The endpoint is not the raft leader, and only the leader answers this
    /// request (`/v2/stats/leader` answers a follower with 403).
    #[error("{endpoint} is not the leader: only the leader serves leader statistics (stat().leader() asks the leader directly)")]
    NotLeader {
        /// The endpoint that answered.
        endpoint: String,
    },

    /// A lock's or a leader's key is no longer held: it expired, was deleted,
    /// or holds another contender's value.
    #[error("{key} is no longer held: {reason}")]
    LockLost {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },

    /// A value was asked for where there is none: a directory, a deleted or
    /// expired node, or an answer to a write sent with `noValueOnSuccess`.
    #[error("{key} has no value (a directory, a deleted node, or an answer without values)")]
    NoValue {
        /// The node's key.
        key: String,
    },

    /// A value did not parse as the type asked for (see
    /// [`crate::Node::value_as`] and [`crate::Node::json`]).
    #[error("the value of {key} is {reason}")]
    BadValue {
        /// The node's key.
        key: String,
        /// What was wrong.
        reason: String,
    },

    /// A deadline passed before the operation could complete (an overall deadline
    /// across failover attempts, or a lock acquisition timeout).
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),

    /// A state machine or handle was driven in a way its contract forbids (for
    /// example a response given when no request was in flight).
    #[error("misuse: {0}")]
    Misuse(String),

    /// The client runs over the v3 bridge ([`crate::ClientBuilder::v3_bridge`])
    /// and the bridge does not provide this (yet, or at all: see the bridge
    /// table in README.md). Nothing was sent.
    #[error("not available over the v3 bridge: {0}")]
    NotOnBridge(String),
}

impl Error {
    /// The etcd API error, if this is one (looking through
    /// [`Error::OutcomeUnknown`]).
    pub fn etcd(&self) -> Option<&EtcdError> {
        match self {
            Error::Etcd(e) => Some(e),
            Error::OutcomeUnknown { source } => source.etcd(),
            _ => None,
        }
    }

    /// The errorCode, if etcd answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        self.etcd().map(|e| e.code)
    }

    /// errorCode 100: the key does not exist. The seed raised `KeyError`.
    pub fn is_key_not_found(&self) -> bool {
        self.code() == Some(ErrorCode::KeyNotFound)
    }

    /// errorCode 101: a compare-and-swap or compare-and-delete condition did not
    /// hold. The seed raised `EtcdPreconditionException`.
    pub fn is_precondition_failed(&self) -> bool {
        self.code() == Some(ErrorCode::TestFailed)
    }

    /// errorCode 105: the key already exists (create, directory create). The seed
    /// raised `EtcdAlreadyExistsException`.
    pub fn is_already_exists(&self) -> bool {
        self.code() == Some(ErrorCode::NodeExist)
    }

    /// errorCode 102: the key is a directory where a file was needed (also how
    /// etcd refuses compare-and-delete on a directory).
    pub fn is_not_a_file(&self) -> bool {
        self.code() == Some(ErrorCode::NotFile)
    }

    /// errorCode 104: a path component is a file where a directory was needed.
    pub fn is_not_a_directory(&self) -> bool {
        self.code() == Some(ErrorCode::NotDir)
    }

    /// errorCode 108: the directory is not empty.
    pub fn is_directory_not_empty(&self) -> bool {
        self.code() == Some(ErrorCode::DirNotEmpty)
    }

    /// errorCode 107: the root is read-only.
    pub fn is_root_read_only(&self) -> bool {
        self.code() == Some(ErrorCode::RootReadOnly)
    }

    /// errorCode 401: the watched index is older than the 1000 events etcd keeps.
    pub fn is_event_index_cleared(&self) -> bool {
        self.code() == Some(ErrorCode::EventIndexCleared)
    }

    /// errorCode 110 or HTTP 401: the credentials are missing or insufficient.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            Error::Api { status, .. } | Error::Http { status, .. } => *status == 401,
            _ => self.code() == Some(ErrorCode::Unauthorized),
        }
    }

    /// The request was refused before it was sent (the seed's `ValueError`).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidKey { .. } | Error::InvalidArgument { .. } | Error::NotOnBridge(_)
        )
    }

    /// Whether the request may have been applied by etcd even though an error is
    /// returned: true for [`Error::OutcomeUnknown`], for ambiguous transport
    /// failures, and for a 2xx answer that could not be decoded.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            Error::OutcomeUnknown { .. } => true,
            Error::Transport { source, .. } => source.kind().may_have_been_sent(),
            Error::Decode { status, .. } => (200..300).contains(status),
            Error::AllEndpointsFailed { failures } => {
                failures.iter().any(|(_, e)| e.may_have_been_applied())
            }
            _ => false,
        }
    }

    pub(crate) fn invalid_argument(name: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            name,
            reason: reason.into(),
        }
    }
}

/// An etcd API error: the `{"errorCode", "message", "cause", "index"}` body of a
/// keys request that etcd refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdError {
    /// The errorCode.
    pub code: ErrorCode,
    /// etcd's message (e.g. "Key not found").
    pub message: String,
    /// The cause: usually the key (for errorCode 100, the first missing path
    /// component), or the failed comparison (`[two != one]`).
    pub cause: Option<String>,
    /// The etcd index when the error happened (0 for validation, auth and raft
    /// errors).
    pub index: u64,
    /// The HTTP status it came with.
    pub status: u16,
    /// The endpoint that answered.
    pub endpoint: String,
    /// The cluster headers of the answer.
    pub cluster: ClusterInfo,
    /// A client-side explanation, where etcd's own message is misleading.
    pub note: Option<&'static str>,
}

impl fmt::Display for EtcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "etcd error {} ({})",
            self.code.as_u16(),
            if self.message.is_empty() {
                self.code.description()
            } else {
                &self.message
            }
        )?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        write!(f, " [index {}, from {}]", self.index, self.endpoint)?;
        if let Some(note) = self.note {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for EtcdError {}

/// Keep at most [`BODY_PREFIX_LIMIT`] bytes of a body, lossily decoded, cut on a
/// character boundary.
pub(crate) fn body_prefix(body: &[u8]) -> String {
    let cut = body.len().min(BODY_PREFIX_LIMIT);
    let mut text = String::from_utf8_lossy(&body[..cut]).into_owned();
    if body.len() > cut {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_its_documented_status() {
        let observed = [
            (100, 404),
            (101, 412),
            (102, 403),
            (104, 400),
            (105, 412),
            (107, 400),
            (108, 403),
            (110, 401),
            (201, 400),
            (202, 400),
            (203, 400),
            (209, 400),
            (210, 400),
            (211, 400),
            (212, 400),
            (300, 500),
            (401, 400),
        ];
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_u16(code.as_u16()), *code);
            assert!(!matches!(code, ErrorCode::Other(_)));
        }
        for (n, status) in observed {
            let code = ErrorCode::from_u16(n);
            assert!(!matches!(code, ErrorCode::Other(_)), "{n}");
            assert_eq!(code.http_status(), status, "{n}");
        }
        assert_eq!(ErrorCode::ALL.len(), 32);
        assert_eq!(ErrorCode::from_u16(999), ErrorCode::Other(999));
        assert_eq!(ErrorCode::Other(999).as_u16(), 999);
    }

    #[test]
    fn body_prefix_is_bounded_and_cut_on_a_char_boundary() {
        let body = "é".repeat(300);
        let p = body_prefix(body.as_bytes());
        assert!(p.len() <= BODY_PREFIX_LIMIT + '…'.len_utf8() + 3);
        assert!(p.ends_with('…'));
        assert_eq!(body_prefix(b"short"), "short");
    }
}
