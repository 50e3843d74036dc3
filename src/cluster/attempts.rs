//! One request's way through the [`super::EndpointPool`]: [`Attempts`], and
//! how long each attempt may take, [`Timeout`].

use std::time::{Duration, Instant};

use crate::endpoint::Endpoint;
use crate::error::Error;

/// How long one request may take: the client's default for its kind (the
/// per-request timeout, or the wait timeout for a long poll), no limit, or a
/// given duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timeout {
    /// The client's default for the request.
    #[default]
    Default,
    /// No limit: as long as it takes.
    Never,
    /// At most this long.
    After(Duration),
}

impl Timeout {
    /// This timeout, with `default` standing for [`Timeout::Default`]: the
    /// duration, or `None` for no limit.
    pub fn or(self, default: Option<Duration>) -> Option<Duration> {
        match self {
            Timeout::Default => default,
            Timeout::Never => None,
            Timeout::After(d) => Some(d),
        }
    }
}

impl From<Option<Duration>> for Timeout {
    /// `Some(d)` is [`Timeout::After`], `None` is [`Timeout::Never`].
    fn from(timeout: Option<Duration>) -> Timeout {
        timeout.map_or(Timeout::Never, Timeout::After)
    }
}

impl From<Duration> for Timeout {
    fn from(timeout: Duration) -> Timeout {
        Timeout::After(timeout)
    }
}

/// The endpoints a request has tried: the first kept in place (most requests
/// try one, and then allocate nothing), any others in a list.
#[derive(Debug, Default)]
pub(super) struct Tried {
    first: Option<Endpoint>,
    others: Vec<Endpoint>,
}

impl Tried {
    pub(super) fn push(&mut self, endpoint: Endpoint) {
        match self.first {
            None => self.first = Some(endpoint),
            Some(_) => self.others.push(endpoint),
        }
    }

    pub(super) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.others.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub(super) fn contains(&self, endpoint: &Endpoint) -> bool {
        self.first.as_ref() == Some(endpoint) || self.others.contains(endpoint)
    }
}

/// One request's progress through the pool: which endpoints it has tried and how
/// each failed.
#[derive(Debug)]
pub struct Attempts {
    pub(super) idempotent: bool,
    pub(super) long_poll: bool,
    pub(super) may_be_stale: bool,
    pub(super) failover: bool,
    pub(super) only: Option<Endpoint>,
    pub(super) timeout: Timeout,
    pub(super) deadline: Option<Instant>,
    pub(super) tried: Tried,
    pub(super) failures: Vec<(String, Error)>,
}

impl Attempts {
    /// A new request; `idempotent` says whether it may be resent after an
    /// ambiguous failure.
    pub fn new(idempotent: bool) -> Attempts {
        Attempts {
            idempotent,
            long_poll: false,
            may_be_stale: false,
            failover: true,
            only: None,
            timeout: Timeout::Default,
            deadline: None,
            tried: Tried::default(),
            failures: Vec::new(),
        }
    }

    setter!(
        /// Whether other endpoints may be tried after a failure (the seed's
        /// `allow_reconnect`; default true).
        with_failover(failover: bool) -> failover = failover;

        /// Mark this request as a long poll: a timeout is then its normal end (the
        /// member is not marked failed, and the timeout is returned at once so the
        /// caller can poll again at the same index).
        long_poll(long_poll: bool) -> long_poll = long_poll;

        /// Mark this request as a read answered from the member's own state, which
        /// a member behind the cluster's raft term may serve stale (see the
        /// module docs).
        may_be_stale(may_be_stale: bool) -> may_be_stale = may_be_stale
    );

    /// Send to `endpoint` only (which need not be in the pool): for requests
    /// about one member, such as its health or the leader's statistics.
    pub fn only(mut self, endpoint: Endpoint) -> Attempts {
        self.only = Some(endpoint);
        self.failover = false;
        self
    }

    setter!(
        /// Use `timeout` for each attempt instead of the client's default.
        with_timeout(timeout: impl Into<Timeout>) -> timeout = timeout.into()
    );

    /// The per-attempt timeout of this request.
    pub fn timeout(&self) -> Timeout {
        self.timeout
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    setter!(
        /// Give up trying further endpoints once `deadline` has passed.
        with_deadline(deadline: Option<Instant>) -> deadline = deadline
    );

    /// How many endpoints have been tried so far (the current attempt's
    /// number, once one is chosen).
    pub fn count(&self) -> usize {
        self.tried.len()
    }

    /// The failures so far.
    pub fn failures(&self) -> &[(String, Error)] {
        &self.failures
    }

    /// The error to report once no endpoint is left.
    pub(super) fn exhausted(&mut self) -> Error {
        match self.failures.len() {
            0 => Error::Misuse("no endpoint was tried".into()),
            1 => self
                .failures
                .pop()
                .map(|(_, e)| e)
                .unwrap_or_else(|| Error::Misuse(String::new())),
            _ => Error::AllEndpointsFailed {
                failures: std::mem::take(&mut self.failures),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tried_endpoints_are_all_remembered() {
        let e = |port| Endpoint::new("127.0.0.1", port, false);
        let mut tried = Tried::default();
        assert!(tried.is_empty() && !tried.contains(&e(1)));
        for port in 1..=3 {
            tried.push(e(port));
            assert_eq!(tried.len(), usize::from(port));
        }
        assert!(!tried.is_empty());
        assert!((1..=3).all(|port| tried.contains(&e(port))));
        assert!(!tried.contains(&e(4)));
    }
}
