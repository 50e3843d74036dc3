//! etcd's v2 `errorCode`s: [`ErrorCode`].

use std::fmt;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal, $text:literal; )*) => {
        /// An etcd v2 `errorCode`: one variant per code etcd documents, plus
        /// [`ErrorCode::Other`] for anything else.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code etcd does not document.
            Other(u16),
        }

        impl ErrorCode {
            /// Every documented code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code for a number.
            pub fn from_u16(code: u16) -> ErrorCode {
                match code {
                    $( $code => ErrorCode::$variant, )*
                    other => ErrorCode::Other(other),
                }
            }

            /// The number.
            pub fn as_u16(self) -> u16 {
                match self {
                    $( ErrorCode::$variant => $code, )*
                    ErrorCode::Other(code) => code,
                }
            }

            /// The HTTP status etcd sends with this code.
            pub fn http_status(self) -> u16 {
                match self {
                    $( ErrorCode::$variant => $status, )*
                    ErrorCode::Other(_) => 400,
                }
            }

            /// etcd's message for this code.
            pub fn description(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $text, )*
                    ErrorCode::Other(_) => "undocumented error code",
                }
            }
        }
    };
}

error_codes! {
    /// 100: the key does not exist (the seed's `KeyError`).
    KeyNotFound = 100, 404, "Key not found";
    /// 101: a compare-and-swap or compare-and-delete condition failed (the seed's
    /// `EtcdPreconditionException`).
    TestFailed = 101, 412, "Compare failed";
    /// 102: the key is a directory where a file was needed.
    NotFile = 102, 403, "Not a file";
    /// 103: legacy (etcd 0.x): no more peers allowed.
    NoMorePeer = 103, 400, "Reached the max number of peers in the cluster";
    /// 104: a path component is a file where a directory was needed.
    NotDir = 104, 400, "Not a directory";
    /// 105: the key already exists (the seed's `EtcdAlreadyExistsException`).
    NodeExist = 105, 412, "Key already exists";
    /// 106: legacy: the key's prefix is reserved.
    KeyIsPreserved = 106, 400, "The prefix of given key is a keyword in etcd";
    /// 107: the root is read-only.
    RootReadOnly = 107, 400, "Root is read only";
    /// 108: the directory is not empty.
    DirNotEmpty = 108, 403, "Directory not empty";
    /// 109: legacy: the peer address exists.
    ExistingPeerAddr = 109, 400, "Peer address has existed";
    /// 110: the request requires user authentication.
    Unauthorized = 110, 401, "The request requires user authentication";
    /// 200: a value is required.
    ValueRequired = 200, 400, "Value is Required in POST form";
    /// 201: `prevValue` may not be empty.
    PrevValueRequired = 201, 400, "PrevValue is Required in POST form";
    /// 202: the TTL is not a non-negative whole number.
    TtlNan = 202, 400, "The given TTL in POST form is not a number";
    /// 203: an index is not a number.
    IndexNan = 203, 400, "The given index in POST form is not a number";
    /// 204: a value or TTL is required.
    ValueOrTtlRequired = 204, 400, "Value or TTL is required in POST form";
    /// 205: the timeout is not a number.
    TimeoutNan = 205, 400, "The given timeout in POST form is not a number";
    /// 206: a name is required.
    NameRequired = 206, 400, "Name is required in POST form";
    /// 207: an index or value is required.
    IndexOrValueRequired = 207, 400, "Index or value is required";
    /// 208: index and value cannot both be given.
    IndexValueMutex = 208, 400, "Index and value cannot both be specified";
    /// 209: a field has an invalid value (e.g. a bad boolean).
    InvalidField = 209, 400, "Invalid field";
    /// 210: the form could not be parsed (bad escape, `;` in the query, over 10 MiB).
    InvalidForm = 210, 400, "Invalid POST form";
    /// 211: a value was given with `refresh=true`.
    RefreshValue = 211, 400, "Value provided on refresh";
    /// 212: `refresh=true` needs a TTL.
    RefreshTtlRequired = 212, 400, "A TTL must be provided on refresh";
    /// 300: raft failed to commit in time (an election, or no quorum). On a write
    /// the outcome is unknown: the proposal may still commit.
    RaftInternal = 300, 500, "Raft Internal Error";
    /// 301: a leader election is in progress.
    LeaderElect = 301, 500, "During Leader Election";
    /// 400: the watcher was cleared by an etcd recovery.
    WatcherCleared = 400, 400, "watcher is cleared due to etcd recovery";
    /// 401: the requested watch index is older than the last 1000 events.
    EventIndexCleared = 401, 400, "The event in requested index is outdated and cleared";
    /// 402: legacy standby error.
    StandbyInternal = 402, 400, "Standby Internal Error";
    /// 403: legacy: invalid active size.
    InvalidActiveSize = 403, 400, "Invalid active size";
    /// 404: legacy: standby remove delay.
    InvalidRemoveDelay = 404, 400, "Standby remove delay";
    /// 500: client internal error.
    ClientInternal = 500, 400, "Client Internal Error";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_u16(), self.description())
    }
}
