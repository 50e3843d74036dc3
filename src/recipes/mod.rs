//! The seed's modules, rebuilt client-side on v2 primitives (etcd removed the
//! `/mod/v2/lock` and `/mod/v2/leader` server modules in 2.0): every decision of
//! locks ([`lock`]: acquire; [`release`]: give up), leader election ([`leader`]:
//! elect once; [`campaign`]: lead for as long as it runs), renewal ([`renew`])
//! and the [`lease`] a holder counts on, as pure state machines
//! ([`crate::machine::Machine`]) that are told the time and the outcome of each
//! request, and say what to do next. At most one request is in flight per
//! machine; every wait is bounded, so one thread can drive any of them. The
//! clients' drivers only move requests and time.

pub mod campaign;
pub mod leader;
pub mod lease;
pub mod lock;
pub mod release;
pub mod renew;

use std::time::{Duration, Instant};

use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ops::keys::wait_after_idle;
use crate::ops::keys::{self, WaitOutcome};
use crate::ops::Operation;
use crate::response::{ClusterInfo, KeysResponse};

/// A keys request a recipe needs run (any of them answers with a
/// [`KeysResponse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysRequest {
    /// Append under a directory (an in-order key).
    CreateInOrder(keys::CreateInOrder),
    /// Create a key that must not exist.
    Create(keys::Create),
    /// Read a key or list a directory.
    Get(keys::Get),
    /// Refresh a key's TTL, guarded by its value.
    Refresh(keys::Refresh),
    /// Delete a key, guarded by its value.
    Delete(keys::Delete),
}

/// Runs `$body` with `$op` bound to whichever operation `$request` holds.
macro_rules! each_keys_request {
    ($request:expr, $op:ident => $body:expr) => {
        match $request {
            KeysRequest::CreateInOrder($op) => $body,
            KeysRequest::Create($op) => $body,
            KeysRequest::Get($op) => $body,
            KeysRequest::Refresh($op) => $body,
            KeysRequest::Delete($op) => $body,
        }
    };
}

impl Operation for KeysRequest {
    type Output = KeysResponse;
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        each_keys_request!(self, op => op.build(endpoint))
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        each_keys_request!(self, op => op.parse(response))
    }
    fn idempotent(&self) -> bool {
        each_keys_request!(self, op => op.idempotent())
    }
    fn reads_responder_on_success(&self) -> bool {
        each_keys_request!(self, op => op.reads_responder_on_success())
    }
    fn reads_only_cluster_headers(&self) -> bool {
        each_keys_request!(self, op => op.reads_only_cluster_headers())
    }
    fn repeatable(&self) -> bool {
        matches!(self, KeysRequest::Refresh(_))
    }
    fn may_be_stale(&self) -> bool {
        match self {
            KeysRequest::Get(op) => op.may_be_stale(),
            _ => false,
        }
    }
    fn name(&self) -> &'static str {
        each_keys_request!(self, op => op.name())
    }
    fn key(&self) -> Option<&str> {
        each_keys_request!(self, op => op.key())
    }
}

/// A request of a recipe machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Run this keys request.
    Keys(KeysRequest),
    /// Long-poll, for at most `timeout` (the machine's next deadline).
    Wait {
        /// The wait.
        wait: keys::Wait,
        /// How long this poll may last.
        timeout: Duration,
    },
}

/// The outcome of a [`Request`].
#[derive(Debug)]
pub enum Outcome {
    /// The outcome of [`Request::Keys`].
    Keys(Result<Box<KeysResponse>, Error>),
    /// The outcome of [`Request::Wait`]; a poll that reached its timeout is
    /// `Ok(WaitOutcome::Idle)` or a timeout error, either is fine.
    Wait(Result<WaitOutcome, Error>),
}

/// Failures worth retrying after a pause: no answer, a server error, every
/// endpoint down, an unknown outcome (which the machines resolve by reading).
pub(crate) fn is_transient(err: &Error) -> bool {
    match err {
        Error::Transport { .. }
        | Error::DeadlineExceeded(_)
        | Error::ClusterIdMismatch { .. }
        | Error::AllEndpointsFailed { .. }
        | Error::StaleRead { .. }
        | Error::Decode { .. } => true,
        Error::OutcomeUnknown { .. } => true,
        Error::Etcd(e) => e.status >= 500,
        Error::Api { status, .. } | Error::Http { status, .. } => *status >= 500,
        _ => false,
    }
}

/// The associated types every recipe machine shares: it runs
/// [`Request`]s, takes [`Outcome`]s, and reports no events along the way.
macro_rules! recipe_machine_types {
    () => {
        type Request = crate::recipes::Request;
        type Outcome = crate::recipes::Outcome;
        type Event = ();
    };
}
pub(crate) use recipe_machine_types;

/// Whether a long poll simply ran its course (the transport's timeout): poll
/// again, nothing failed.
pub(crate) fn is_poll_timeout(err: &Error) -> bool {
    matches!(err, Error::Transport { source, .. } if source.kind() == crate::TransportErrorKind::Timeout)
}

/// An idle poll answered sooner than this is paced (see [`Backoff::after_idle`]).
pub(crate) const QUICK_IDLE: Duration = Duration::from_secs(1);

/// Whether a wait sent at `sent` came back at `now` sooner than [`QUICK_IDLE`].
pub(crate) fn is_quick(sent: Instant, now: Instant) -> bool {
    now.saturating_duration_since(sent) < QUICK_IDLE
}

/// First and largest pause after a transient failure.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Pauses after failures that waiting may cure: `min`, doubling up to `max`,
/// back to `min` after a success.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// 100 ms doubling to `max`.
    pub(crate) fn up_to(max: Duration) -> Backoff {
        Backoff {
            next: BACKOFF_MIN,
            min: BACKOFF_MIN,
            max,
        }
    }

    /// When to try again after a failure at `now` (and double the next pause).
    pub(crate) fn after(&mut self, now: Instant) -> Instant {
        let at = now + self.next;
        self.next = (self.next * 2).min(self.max);
        at
    }

    /// The pause the next failure will take.
    pub(crate) fn next(&self) -> Duration {
        self.next
    }

    /// After an empty answer (an idle poll) at `now` to a wait from `index`
    /// sent at `sent`: the index to wait from next, and the pause before it, if
    /// any. A wait that lasted [`QUICK_IDLE`] or more moves on to the answer's
    /// `X-Etcd-Index + 1` ([`wait_after_idle`]) at once. A quicker empty answer
    /// is no idle watch that etcd ended (etcd ends one only when it drops the
    /// watch; its v2-on-v3 emulation answers at once so, with the current
    /// index, for an index compacted away): the wait keeps its index and comes
    /// after a pause, so no server keeps a client polling without one.
    pub(crate) fn after_idle(
        &mut self,
        index: u64,
        cluster: &ClusterInfo,
        sent: Instant,
        now: Instant,
    ) -> (u64, Option<Instant>) {
        if is_quick(sent, now) {
            (index, Some(self.after(now)))
        } else {
            (wait_after_idle(index, cluster), None)
        }
    }

    /// A success: the next failure pauses `min` again.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::up_to(BACKOFF_MAX)
    }
}

/// Longest single long poll a machine asks for (bounded so that deadlines and
/// renewals are checked).
pub const MAX_POLL: Duration = Duration::from_secs(30);

/// `at + d`, or `at` plus about a century when that would overflow (a far
/// future, never a panic).
pub(crate) fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(Duration::from_secs(crate::ops::MAX_TTL)))
        .unwrap_or(at)
}

/// A third of a TTL (at least 100 ms): when a holder renews.
pub fn renew_interval(ttl: u64) -> Duration {
    (Duration::from_secs(ttl) / 3).max(Duration::from_millis(100))
}
