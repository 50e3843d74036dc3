//! The endpoint pool: which member to ask, and what to do when it fails. A pure
//! state machine on injected time.
//!
//! Rules (etcd's Go client's, made safe):
//! - the endpoint that answered last stays pinned;
//! - a connect failure or a 5xx marks that endpoint failed and moves to the next;
//!   a failed endpoint is not tried again before the fail wait ([`HOST_FAIL_WAIT`],
//!   the seed's `HOST_FAIL_WAIT_S`) unless every endpoint is marked, and then the
//!   one that failed longest ago goes first;
//! - a 4xx answer is final: it never rotates;
//! - a request that may already have been applied (see
//!   [`crate::Operation::idempotent`]) is never resent after an ambiguous failure
//!   (a timeout, a connection lost after sending, a 5xx); the error is
//!   [`Error::OutcomeUnknown`]. A connect failure is safe to retry anywhere;
//! - each endpoint is tried at most once per request; when all have failed, the
//!   error lists each endpoint and its failure;
//! - an endpoint that answers with another cluster's `X-Etcd-Cluster-Id` is
//!   refused;
//! - the pool remembers the highest raft term (`X-Raft-Term`) any member has
//!   answered with. A read answered from a member's own state (see
//!   [`crate::Operation::may_be_stale`]) by a member whose term is behind that
//!   is stale: a member cut off from the majority keeps serving what it had.
//!   The answer is refused ([`Error::StaleRead`]), the member rests for the
//!   fail wait, and the read goes to another member. (etcd sends no
//!   `X-Raft-Term` with error answers, so those cannot be judged.)
//!
//! ```
//! use std::time::{Duration, Instant};
//! use etcd_v2::cluster::{Attempts, EndpointPool, Verdict};
//! use etcd_v2::{Endpoint, TransportError, TransportErrorKind};
//!
//! let eps = ["http://a:1", "http://b:1"].map(|e| Endpoint::parse(e).unwrap());
//! let mut pool = EndpointPool::new(eps.to_vec()).unwrap();
//! let t0 = Instant::now();
//! let mut attempt = Attempts::new(true);
//! let first = pool.next_endpoint(&mut attempt, t0).unwrap();
//! assert_eq!(first.as_str(), "http://a:1");
//! let refused = Err(TransportError::new(TransportErrorKind::Connect, "refused"));
//! assert!(matches!(pool.handle(&mut attempt, &first, refused, t0), Verdict::Retry));
//! assert_eq!(pool.next_endpoint(&mut attempt, t0).unwrap().as_str(), "http://b:1");
//! ```

use std::time::{Duration, Instant};

use crate::endpoint::Endpoint;
use crate::error::{body_prefix, Error, TransportError};

mod attempts;

pub use attempts::{Attempts, Timeout};

/// How long a failed endpoint is skipped: the seed's `HOST_FAIL_WAIT_S = 5`.
pub const HOST_FAIL_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Member {
    endpoint: Endpoint,
    failed_at: Option<Instant>,
}

/// The members a client talks to, which one is pinned, and which recently
/// failed.
#[derive(Debug, Clone)]
pub struct EndpointPool {
    members: Vec<Member>,
    pinned: usize,
    fail_wait: Duration,
    cluster_id: Option<String>,
    last_sync: Option<Instant>,
    raft_term: u64,
}

/// What to do with an outcome.
#[derive(Debug)]
pub enum Verdict {
    /// Hand this response to the operation's parser.
    Deliver(http::Response<Vec<u8>>),
    /// Ask [`EndpointPool::next_endpoint`] for another endpoint and send again.
    Retry,
    /// Stop with this error.
    Fail(Error),
}

impl EndpointPool {
    /// A pool over `endpoints` (at least one; duplicates are dropped), the first
    /// pinned, with the default fail wait.
    pub fn new(endpoints: Vec<Endpoint>) -> Result<EndpointPool, Error> {
        let mut members: Vec<Member> = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            if !members.iter().any(|m| m.endpoint == endpoint) {
                members.push(Member {
                    endpoint,
                    failed_at: None,
                });
            }
        }
        if members.is_empty() {
            return Err(Error::invalid_argument(
                "endpoints",
                "at least one endpoint is needed",
            ));
        }
        Ok(EndpointPool {
            members,
            pinned: 0,
            fail_wait: HOST_FAIL_WAIT,
            cluster_id: None,
            last_sync: None,
            raft_term: 0,
        })
    }

    setter!(
        /// Change the fail wait.
        with_fail_wait(fail_wait: Duration) -> fail_wait = fail_wait;

        /// Only accept answers from the cluster with this ID.
        with_cluster_id(id: Option<String>) -> cluster_id = id
    );

    /// The endpoints, in order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.members.iter().map(|m| m.endpoint.clone()).collect()
    }

    /// The pinned endpoint.
    pub fn pinned(&self) -> &Endpoint {
        &self.members[self.pinned].endpoint
    }

    /// The cluster ID the pool is pinned to, once known.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The highest raft term a member has answered with (0 before any).
    pub fn raft_term(&self) -> u64 {
        self.raft_term
    }

    /// Whether `endpoint` is marked failed at `now`.
    pub fn is_marked(&self, endpoint: &Endpoint, now: Instant) -> bool {
        self.members
            .iter()
            .find(|m| &m.endpoint == endpoint)
            .is_some_and(|m| self.marked(m, now))
    }

    fn marked(&self, m: &Member, now: Instant) -> bool {
        m.failed_at
            .is_some_and(|t| now.saturating_duration_since(t) < self.fail_wait)
    }

    /// Whether an endpoint sync is due at `now` with `interval` between syncs;
    /// when it is, the sync is claimed (so concurrent callers do not all sync).
    pub fn claim_sync(&mut self, now: Instant, interval: Duration) -> bool {
        let due = self
            .last_sync
            .is_none_or(|t| now.saturating_duration_since(t) >= interval);
        if due {
            self.last_sync = Some(now);
        }
        due
    }

    /// Replace the endpoint list (after a sync with `/v2/members`), keeping the
    /// failure marks of endpoints that stay and the pin if it stays. With
    /// `prefer` (the leader's URL), that endpoint is pinned.
    pub fn set_endpoints(
        &mut self,
        endpoints: Vec<Endpoint>,
        prefer: Option<&Endpoint>,
    ) -> Result<(), Error> {
        let pinned = prefer.cloned().unwrap_or_else(|| self.pinned().clone());
        let mut fresh = EndpointPool::new(endpoints)?;
        for m in &mut fresh.members {
            if let Some(old) = self.members.iter().find(|o| o.endpoint == m.endpoint) {
                m.failed_at = old.failed_at;
            }
        }
        fresh.pinned = fresh
            .members
            .iter()
            .position(|m| m.endpoint == pinned)
            .unwrap_or(0);
        self.members = fresh.members;
        self.pinned = fresh.pinned;
        Ok(())
    }

    /// The endpoint to try next for this request, or the final error when none is
    /// left: untried unmarked endpoints first, starting at the pinned one and going
    /// round; then, if every endpoint is marked, untried ones by oldest failure.
    pub fn next_endpoint(&self, attempts: &mut Attempts, now: Instant) -> Result<Endpoint, Error> {
        if !attempts.tried.is_empty() {
            if !attempts.failover {
                return Err(attempts.exhausted());
            }
            if attempts.deadline.is_some_and(|d| now >= d) {
                let mut err = attempts.exhausted();
                if !matches!(err, Error::OutcomeUnknown { .. }) {
                    err = Error::DeadlineExceeded(format!(
                        "the request deadline passed after: {err}"
                    ));
                }
                return Err(err);
            }
        }
        if let Some(only) = &attempts.only {
            attempts.tried.push(only.clone());
            return Ok(only.clone());
        }
        let n = self.members.len();
        let untried = |m: &&Member| !attempts.tried.contains(&m.endpoint);
        let ring = (0..n).map(|i| &self.members[(self.pinned + i) % n]);
        let choice = ring
            .clone()
            .filter(untried)
            .find(|m| !self.marked(m, now))
            .or_else(|| {
                if self.members.iter().any(|m| !self.marked(m, now)) {
                    // Some endpoint is healthy (and was tried): skip the marked ones.
                    None
                } else {
                    ring.filter(untried).min_by_key(|m| m.failed_at)
                }
            });
        match choice {
            Some(m) => {
                attempts.tried.push(m.endpoint.clone());
                Ok(m.endpoint.clone())
            }
            None => Err(attempts.exhausted()),
        }
    }

    fn index_of(&self, endpoint: &Endpoint) -> Option<usize> {
        self.members.iter().position(|m| &m.endpoint == endpoint)
    }

    fn mark_failed(&mut self, endpoint: &Endpoint, now: Instant) {
        if let Some(i) = self.index_of(endpoint) {
            self.members[i].failed_at = Some(now);
        }
    }

    fn mark_ok(&mut self, endpoint: &Endpoint, pin: bool) {
        if let Some(i) = self.index_of(endpoint) {
            self.members[i].failed_at = None;
            if pin {
                self.pinned = i;
            }
        }
    }

    /// Judge the outcome of sending to `endpoint`. A 5xx answer's failure is
    /// described as its status and the start of its body (see
    /// [`EndpointPool::handle_described`]).
    pub fn handle(
        &mut self,
        attempts: &mut Attempts,
        endpoint: &Endpoint,
        outcome: Result<http::Response<Vec<u8>>, TransportError>,
        now: Instant,
    ) -> Verdict {
        // The endpoint's name is copied only into an error.
        let plain = |response: &http::Response<Vec<u8>>| Error::Http {
            endpoint: endpoint.as_str().to_owned(),
            status: response.status().as_u16(),
            location: None,
            body: body_prefix(response.body()),
        };
        self.handle_described(attempts, endpoint, outcome, now, &plain)
    }

    /// Judge the outcome of sending to `endpoint`, reading only statuses and
    /// headers: `describe` turns a 5xx answer into the failure it reports (the
    /// client passes the response parser, so etcd's errorCode and message are
    /// kept).
    pub fn handle_described(
        &mut self,
        attempts: &mut Attempts,
        endpoint: &Endpoint,
        outcome: Result<http::Response<Vec<u8>>, TransportError>,
        now: Instant,
        describe: &dyn Fn(&http::Response<Vec<u8>>) -> Error,
    ) -> Verdict {
        // The endpoint's name is copied only into an error.
        let name = endpoint.as_str();
        match outcome {
            Ok(response) => {
                let found = crate::headers::Cluster::find(response.headers());
                if let Some(err) = self.check_cluster_id(found.cluster_id, name) {
                    self.mark_failed(endpoint, now);
                    attempts.failures.push((name.to_owned(), err));
                    return Verdict::Retry;
                }
                if let Some(err) = self.check_raft_term(attempts, found.raft_term, name) {
                    self.mark_failed(endpoint, now);
                    attempts.failures.push((name.to_owned(), err));
                    return Verdict::Retry;
                }
                if response.status().is_server_error() {
                    self.mark_failed(endpoint, now);
                    let err = describe(&response);
                    if attempts.idempotent {
                        attempts.failures.push((name.to_owned(), err));
                        return Verdict::Retry;
                    }
                    return Verdict::Fail(Error::OutcomeUnknown {
                        source: Box::new(err),
                    });
                }
                // A request for one member (its health, its statistics) does not
                // move the pin.
                self.mark_ok(endpoint, attempts.only.is_none());
                Verdict::Deliver(response)
            }
            Err(source) => {
                if attempts.long_poll && source.kind() == crate::error::TransportErrorKind::Timeout
                {
                    return Verdict::Fail(Error::Transport {
                        endpoint: name.to_owned(),
                        source,
                    });
                }
                self.mark_failed(endpoint, now);
                let ambiguous = source.kind().may_have_been_sent();
                let err = Error::Transport {
                    endpoint: name.to_owned(),
                    source,
                };
                if ambiguous && !attempts.idempotent {
                    return Verdict::Fail(Error::OutcomeUnknown {
                        source: Box::new(err),
                    });
                }
                attempts.failures.push((name.to_owned(), err));
                Verdict::Retry
            }
        }
    }

    /// A stale read's error, or `None` (then the term, if any, is remembered).
    fn check_raft_term(
        &mut self,
        attempts: &Attempts,
        term: Option<&http::HeaderValue>,
        name: &str,
    ) -> Option<Error> {
        let term = term.and_then(crate::headers::number)?;
        if attempts.may_be_stale && term < self.raft_term {
            return Some(Error::StaleRead {
                endpoint: name.to_owned(),
                term,
                highest: self.raft_term,
            });
        }
        self.raft_term = self.raft_term.max(term);
        None
    }

    /// Pin the cluster ID of an answer made elsewhere (the v3 bridge's), or
    /// the mismatch if the pool has another one pinned.
    #[cfg(feature = "bridge")]
    pub(crate) fn note_cluster_id(
        &mut self,
        response: &http::Response<Vec<u8>>,
        name: &str,
    ) -> Option<Error> {
        let found = crate::headers::Cluster::find(response.headers());
        self.check_cluster_id(found.cluster_id, name)
    }

    fn check_cluster_id(&mut self, found: Option<&http::HeaderValue>, name: &str) -> Option<Error> {
        let found = found.and_then(|v| v.to_str().ok())?;
        match &self.cluster_id {
            None => {
                self.cluster_id = Some(found.to_owned());
                None
            }
            Some(expected) if expected.eq_ignore_ascii_case(found) => None,
            Some(expected) => Some(Error::ClusterIdMismatch {
                endpoint: name.to_owned(),
                expected: expected.clone(),
                found: found.to_owned(),
            }),
        }
    }
}
