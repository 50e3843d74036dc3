//! How a failure is reported: etcdctl v2's messages on stderr and its exit
//! statuses.

use etcd_v2::{Error, TransportErrorKind};

/// Success.
pub const OK: i32 = 0;
/// Bad or missing arguments, local errors, and user, role and auth failures.
pub const BAD_ARGS: i32 = 1;
/// No endpoint could be reached, or the total timeout passed.
pub const BAD_CONNECTION: i32 = 2;
/// An unknown command.
pub const UNKNOWN_COMMAND: i32 = 3;
/// An error answered by the server, or a request timeout.
pub const SERVER_ERROR: i32 = 4;
/// `cluster-health` found the cluster not healthy.
pub const CLUSTER_NOT_HEALTHY: i32 = 5;

/// The line after the error of a write whose outcome is unknown.
const UNKNOWN_OUTCOME: &str =
    "the write may or may not have been applied; it was not sent again (read the key to find out)";

/// A command that failed: what goes to stderr, and the exit status.
#[derive(Debug)]
pub struct Fail {
    /// The exit status.
    pub code: i32,
    /// The text for stderr (a trailing newline is added when missing).
    pub message: String,
}

impl Fail {
    /// A failure with etcdctl's `Error:  ` prefix.
    pub fn error(code: i32, message: impl std::fmt::Display) -> Fail {
        Fail {
            code,
            message: format!("Error:  {message}"),
        }
    }

    /// A failure printed as it is.
    pub fn plain(code: i32, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }

    /// etcdctl's report of a failed keys command (its `handleError` with
    /// `ExitServerError`): the server's error as `code: message (cause)
    /// [index]`, or the cluster error listing every endpoint tried; status 4,
    /// unreachable cluster and total timeout included.
    pub fn from_keys(e: &Error) -> Fail {
        let mut f = Fail::report(e);
        if f.code == BAD_CONNECTION {
            f.code = SERVER_ERROR;
        }
        f
    }

    /// etcdctl's report of the endpoint sync it makes before a command:
    /// status 2 when no endpoint could be reached or the total timeout
    /// passed (`ExitBadConnection`), else as [`Fail::from_keys`].
    pub fn from_sync(e: &Error) -> Fail {
        Fail::report(e)
    }

    /// What etcdctl prints for a failed user, role, auth or member command:
    /// Go's error alone (`fmt.Fprintln(os.Stderr, err)`), status 1: no
    /// `Error:  ` prefix, and a cluster error without its per-endpoint lines.
    pub fn bare(e: &Error) -> Fail {
        if let Error::OutcomeUnknown { source } = e {
            // The note a write of unknown outcome gets, on its own line.
            let inner = Fail::bare(source);
            return Fail::plain(
                BAD_ARGS,
                format!("{}\n{UNKNOWN_OUTCOME}\n", inner.message.trim_end()),
            );
        }
        let f = Fail::from_keys(e);
        let text = f.message.trim_start_matches("Error:  ");
        let text = match text.split_once("\n\n") {
            Some((head, _detail)) => format!("{head}\n\n"),
            None => text.to_owned(),
        };
        Fail::plain(BAD_ARGS, text)
    }

    fn report(e: &Error) -> Fail {
        match e {
            Error::Etcd(etcd) => Fail::error(
                SERVER_ERROR,
                format!(
                    "{}: {} ({}) [{}]",
                    etcd.code.as_u16(),
                    etcd.message,
                    etcd.cause.as_deref().unwrap_or(""),
                    etcd.index
                ),
            ),
            Error::OutcomeUnknown { source } => {
                let inner = Fail::from_keys(source);
                Fail {
                    code: SERVER_ERROR,
                    message: format!("{}\n{UNKNOWN_OUTCOME}", inner.message.trim_end()),
                }
            }
            Error::DeadlineExceeded(_) => Fail::error(BAD_CONNECTION, "context deadline exceeded"),
            Error::InvalidKey { .. } | Error::InvalidArgument { .. } => Fail::error(BAD_ARGS, e),
            Error::AllEndpointsFailed { failures } => cluster_error(
                failures
                    .iter()
                    .map(|(endpoint, e)| (endpoint.as_str(), e))
                    .collect(),
            ),
            Error::Transport { endpoint, .. } => cluster_error(vec![(endpoint.as_str(), e)]),
            Error::Api { message, .. } => Fail::error(SERVER_ERROR, message),
            other => Fail::error(SERVER_ERROR, other),
        }
    }

    /// etcdctl's report of a failed user, role or auth command: the server's
    /// message alone.
    pub fn from_admin(e: &Error) -> Fail {
        match e {
            Error::Api { message, .. } => Fail::plain(BAD_ARGS, message.clone()),
            Error::Etcd(etcd) if etcd.code.as_u16() == 110 => {
                Fail::plain(BAD_ARGS, "Insufficient credentials")
            }
            other => Fail::bare(other),
        }
    }
}

/// Go's client's `ClusterError`: "client: etcd cluster is unavailable or
/// misconfigured; error #0: ...", then each error again on its own line.
fn cluster_error(failures: Vec<(&str, &Error)>) -> Fail {
    let mut head = String::from("client: etcd cluster is unavailable or misconfigured");
    let mut detail = String::new();
    let mut connection = true;
    for (i, (endpoint, e)) in failures.iter().enumerate() {
        let (text, is_connection) = describe(endpoint, e);
        connection &= is_connection;
        head.push_str(&format!("; error #{i}: {text}\n"));
        detail.push_str(&format!("error #{i}: {text}\n"));
    }
    Fail {
        code: if connection && !failures.is_empty() {
            BAD_CONNECTION
        } else {
            SERVER_ERROR
        },
        message: format!("Error:  {head}\n{detail}\n"),
    }
}

/// One endpoint's failure as Go's client words it, and whether it is a
/// connection failure (exit status 2 when every endpoint's is).
fn describe(endpoint: &str, e: &Error) -> (String, bool) {
    match e {
        Error::Transport { source, .. } => match source.kind() {
            // A refused certificate is not a connection failure to etcdctl
            // (status 4, as any other failed request).
            TransportErrorKind::Connect if source.message().contains("TLS") => {
                (format!("{endpoint}: {}", source.message()), false)
            }
            // The request's own timeout ran out before it was sent (while
            // connecting): etcdctl's header timeout, not a connection failure.
            TransportErrorKind::Connect if source.message().contains("timeout ran out") => (
                format!("client: endpoint {endpoint} exceeded header timeout"),
                false,
            ),
            TransportErrorKind::Connect => (dial(endpoint, source.message()), true),
            TransportErrorKind::Timeout => (
                format!("client: endpoint {endpoint} exceeded header timeout"),
                false,
            ),
            _ => (format!("{endpoint}: {}", source.message()), false),
        },
        Error::OutcomeUnknown { source } => describe(endpoint, source),
        other => (other.to_string(), false),
    }
}

/// A member's 5xx answer as Go's client words it: 500 and 503 as "no
/// leader", any other as a server error with the status text.
pub fn server_error(endpoint: &str, status: u16) -> String {
    match status {
        500 | 503 => format!("client: etcd member {endpoint} has no leader"),
        _ => {
            let text = etcd_v2::http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            format!("client: etcd member {endpoint} returns server error [{text}]")
        }
    }
}

/// A failed connection to `url` as Go words it: `dial tcp host:port: ...`.
pub fn dial(url: &str, message: &str) -> String {
    format!("dial tcp {}: {}", host_port(url), connect_reason(message))
}

/// `connect: connection refused` for a refused connection, else the reason.
fn connect_reason(message: &str) -> String {
    if message.to_ascii_lowercase().contains("refused") {
        "connect: connection refused".into()
    } else {
        message.to_string()
    }
}

/// `127.0.0.1:2379` of `http://127.0.0.1:2379`.
pub fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_v2::TransportError;

    #[test]
    fn server_errors_read_as_gos_client_words_them() {
        assert_eq!(
            server_error("http://127.0.0.1:2379", 500),
            "client: etcd member http://127.0.0.1:2379 has no leader"
        );
        assert_eq!(
            server_error("http://127.0.0.1:2379", 502),
            "client: etcd member http://127.0.0.1:2379 returns server error [Bad Gateway]"
        );
    }

    #[test]
    fn refused_connections_read_as_etcdctl_words_them() {
        let e = Error::AllEndpointsFailed {
            failures: vec![(
                "http://127.0.0.1:26999".into(),
                Error::Transport {
                    endpoint: "http://127.0.0.1:26999".into(),
                    source: TransportError::new(
                        TransportErrorKind::Connect,
                        "Connection refused (os error 111)",
                    ),
                },
            )],
        };
        // The sync before a command: status 2 (capture 137).
        let f = Fail::from_sync(&e);
        assert_eq!(f.code, BAD_CONNECTION);
        assert_eq!(
            f.message,
            "Error:  client: etcd cluster is unavailable or misconfigured; error #0: dial tcp 127.0.0.1:26999: connect: connection refused\n\nerror #0: dial tcp 127.0.0.1:26999: connect: connection refused\n\n"
        );
        // The command itself (--no-sync): the same words, status 4.
        let f = Fail::from_keys(&e);
        assert_eq!(f.code, SERVER_ERROR);
        assert!(f
            .message
            .starts_with("Error:  client: etcd cluster is unavailable"));
        // A user, role, auth or member command: Go's error alone, status 1.
        let f = Fail::bare(&e);
        assert_eq!(f.code, BAD_ARGS);
        assert_eq!(
            f.message,
            "client: etcd cluster is unavailable or misconfigured; error #0: dial tcp 127.0.0.1:26999: connect: connection refused\n\n"
        );
        let late = Error::DeadlineExceeded("total timeout".into());
        assert_eq!(
            (Fail::from_sync(&late).code, Fail::from_keys(&late).code),
            (BAD_CONNECTION, SERVER_ERROR)
        );
        assert_eq!(Fail::bare(&late).message, "context deadline exceeded");
        // A user, role or member write of unknown outcome keeps its note.
        let unknown = Error::OutcomeUnknown {
            source: Box::new(e),
        };
        let f = Fail::bare(&unknown);
        assert_eq!(f.code, BAD_ARGS);
        assert!(
            f.message.starts_with("client: etcd cluster is unavailable"),
            "{}",
            f.message
        );
        assert!(
            f.message.trim_end().ends_with(UNKNOWN_OUTCOME),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_request_timeout_that_ran_out_while_connecting_is_etcdctls_header_timeout() {
        let e = Error::Transport {
            endpoint: "http://127.0.0.1:1".into(),
            source: TransportError::new(
                TransportErrorKind::Connect,
                "the request's timeout ran out while connecting to 127.0.0.1:1 (nothing was sent)",
            ),
        };
        let f = Fail::from_sync(&e);
        assert_eq!(f.code, SERVER_ERROR);
        assert!(f
            .message
            .contains("error #0: client: endpoint http://127.0.0.1:1 exceeded header timeout"));
    }

    #[test]
    fn a_timeout_is_a_server_error() {
        let e = Error::Transport {
            endpoint: "http://127.0.0.1:1".into(),
            source: TransportError::new(TransportErrorKind::Timeout, "timed out"),
        };
        let f = Fail::from_keys(&e);
        assert_eq!(f.code, SERVER_ERROR);
        assert!(f
            .message
            .contains("client: endpoint http://127.0.0.1:1 exceeded header timeout"));
    }
}
