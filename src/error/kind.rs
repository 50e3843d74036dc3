//! [`ErrorKind`]: a flat, `Copy` classification of [`Error`] for programs that
//! count or route errors (metrics labels, retry policies).

use std::fmt;

use super::{Error, ErrorCode, TransportErrorKind};

/// What kind of failure an [`Error`] is, flattened: [`Error::kind`].
///
/// It sees through the wrappers: an [`Error::OutcomeUnknown`] has the kind of
/// the failure that made the outcome unknown (ask
/// [`Error::may_have_been_applied`] for the ambiguity itself), and an
/// [`Error::AllEndpointsFailed`] the kind of the last endpoint's failure.
///
/// ```
/// use etcd_v2::{Error, ErrorKind, TransportError, TransportErrorKind};
/// let lost = Error::OutcomeUnknown {
///     source: Box::new(Error::Transport {
///         endpoint: "http://a:2379".into(),
///         source: TransportError::new(TransportErrorKind::Timeout, "no answer"),
///     }),
/// };
/// assert_eq!(lost.kind(), ErrorKind::Timeout);
/// assert!(lost.may_have_been_applied());
/// assert_eq!(ErrorKind::Timeout.as_str(), "timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Refused before anything was sent: a bad key, argument or option.
    InvalidInput,
    /// errorCode 100: the key does not exist.
    KeyNotFound,
    /// errorCode 101: a compare-and-swap or compare-and-delete condition failed.
    PreconditionFailed,
    /// errorCode 105: the key already exists.
    AlreadyExists,
    /// errorCode 102: a directory where a file was needed.
    NotAFile,
    /// errorCode 104: a file where a directory was needed.
    NotADirectory,
    /// errorCode 108: the directory is not empty.
    DirectoryNotEmpty,
    /// errorCode 107: the root is read-only.
    RootReadOnly,
    /// errorCode 401: the watched index is older than etcd's 1000-event history.
    HistoryCleared,
    /// errorCode 110, or HTTP 401: credentials missing or insufficient.
    Unauthorized,
    /// The cluster could not serve it now: errorCode 300 or 301 (no quorum, an
    /// election), or a 5xx answer.
    Unavailable,
    /// etcd or something in front of it refused the request otherwise (another
    /// errorCode, a 4xx `{"message"}` or page).
    Rejected,
    /// Could not connect: nothing was sent.
    Connect,
    /// No answer in time.
    Timeout,
    /// The connection failed after the request was (or may have been) sent.
    ConnectionLost,
    /// The answer's body was over the configured maximum.
    BodyTooLarge,
    /// The answer could not be decoded.
    Decode,
    /// The endpoint belongs to another cluster.
    WrongCluster,
    /// Only the leader answers this, and the endpoint is not the leader.
    NotLeader,
    /// A member behind the cluster's raft term answered a read.
    StaleRead,
    /// A lock's or a leader's key is no longer held.
    LockLost,
    /// A node had no value to read.
    NoValue,
    /// A value did not parse as the type asked for.
    BadValue,
    /// A deadline passed.
    DeadlineExceeded,
    /// An API or a state machine was driven against its contract.
    Misuse,
}

impl ErrorKind {
    /// A stable snake_case name, for metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::KeyNotFound => "key_not_found",
            ErrorKind::PreconditionFailed => "precondition_failed",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::NotAFile => "not_a_file",
            ErrorKind::NotADirectory => "not_a_directory",
            ErrorKind::DirectoryNotEmpty => "directory_not_empty",
            ErrorKind::RootReadOnly => "root_read_only",
            ErrorKind::HistoryCleared => "history_cleared",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ConnectionLost => "connection_lost",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Decode => "decode",
            ErrorKind::WrongCluster => "wrong_cluster",
            ErrorKind::NotLeader => "not_leader",
            ErrorKind::StaleRead => "stale_read",
            ErrorKind::LockLost => "lock_lost",
            ErrorKind::NoValue => "no_value",
            ErrorKind::BadValue => "bad_value",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::Misuse => "misuse",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn of_code(code: ErrorCode, status: u16) -> ErrorKind {
    match code {
        ErrorCode::KeyNotFound => ErrorKind::KeyNotFound,
        ErrorCode::TestFailed => ErrorKind::PreconditionFailed,
        ErrorCode::NodeExist => ErrorKind::AlreadyExists,
        ErrorCode::NotFile => ErrorKind::NotAFile,
        ErrorCode::NotDir => ErrorKind::NotADirectory,
        ErrorCode::DirNotEmpty => ErrorKind::DirectoryNotEmpty,
        ErrorCode::RootReadOnly => ErrorKind::RootReadOnly,
        ErrorCode::EventIndexCleared => ErrorKind::HistoryCleared,
        ErrorCode::Unauthorized => ErrorKind::Unauthorized,
        ErrorCode::RaftInternal | ErrorCode::LeaderElect => ErrorKind::Unavailable,
        _ if status >= 500 => ErrorKind::Unavailable,
        _ => ErrorKind::Rejected,
    }
}

fn of_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Unauthorized,
        500.. => ErrorKind::Unavailable,
        _ => ErrorKind::Rejected,
    }
}

impl Error {
    /// The flat classification of this error (see [`ErrorKind`]), looking
    /// through [`Error::OutcomeUnknown`] and [`Error::AllEndpointsFailed`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidKey { .. } | Error::InvalidArgument { .. } => ErrorKind::InvalidInput,
            Error::Etcd(e) => of_code(e.code, e.status),
            Error::Api { status, .. } | Error::Http { status, .. } => of_status(*status),
            Error::Decode { .. } => ErrorKind::Decode,
            Error::Transport { source, .. } => match source.kind() {
                TransportErrorKind::Connect => ErrorKind::Connect,
                TransportErrorKind::Timeout => ErrorKind::Timeout,
                TransportErrorKind::BodyTooLarge => ErrorKind::BodyTooLarge,
                TransportErrorKind::Request => ErrorKind::InvalidInput,
                _ => ErrorKind::ConnectionLost,
            },
            Error::OutcomeUnknown { source } => source.kind(),
            Error::AllEndpointsFailed { failures } => failures
                .last()
                .map_or(ErrorKind::Connect, |(_, e)| e.kind()),
            Error::ClusterIdMismatch { .. } => ErrorKind::WrongCluster,
            Error::StaleRead { .. } => ErrorKind::StaleRead,
            Error::NotLeader { .. } => ErrorKind::NotLeader,
            Error::LockLost { .. } => ErrorKind::LockLost,
            Error::NoValue { .. } => ErrorKind::NoValue,
            Error::BadValue { .. } => ErrorKind::BadValue,
            Error::DeadlineExceeded(_) => ErrorKind::DeadlineExceeded,
            Error::Misuse(_) => ErrorKind::Misuse,
            Error::NotOnBridge(_) => ErrorKind::InvalidInput,
        }
    }
}
