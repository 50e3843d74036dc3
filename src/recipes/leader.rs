//! Leader election on one key: the seed's `set_or_renew` as a state machine.
//!
//! - Try to create the key with this contender's value and a TTL
//!   (`prevExist=false`): success means leadership.
//! - If the key exists, read it: holding our value, renew it (a TTL refresh
//!   guarded by `prevValue`, which does not wake watchers); holding another
//!   value, watch the key from its `modifiedIndex + 1` until it is deleted or
//!   expires, then try again.
//! - If the outcome of the create is unknown, read the key: it tells.
//! - A deadline bounds each long poll; when it passes, the machine reports
//!   [`LeaderStep::TimedOut`] (it holds nothing to clean up).
//!
//! Holding leadership needs renewal: [`super::renew::Renewer`] does that.

use std::time::{Duration, Instant};

use super::{
    is_transient, later, KeysRequest, Outcome, Request, BACKOFF_MAX, BACKOFF_MIN, MAX_POLL,
};
use crate::error::Error;
use crate::ops::check_ttl;
use crate::ops::keys::{self, WaitOutcome};

/// What the driver must do next.
#[derive(Debug)]
pub enum LeaderStep {
    /// Run this request and hand its outcome to [`LeaderMachine::handle`].
    Send(Request),
    /// Nothing to do before then (a backoff).
    SleepUntil(Instant),
    /// This contender is the leader: it created the key (`renewed` false) or
    /// renewed its own (`renewed` true). `index` is the key's `modifiedIndex`.
    Elected {
        /// Whether an existing leadership was renewed.
        renewed: bool,
        /// The key's `modifiedIndex` after the write.
        index: u64,
        /// The TTL after that write was sent: leadership is surely held until
        /// then, unless renewed (see [`super::renew::Renewer`]).
        valid_until: Instant,
    },
    /// The deadline passed with another leader in place.
    TimedOut,
    /// An error that cannot be waited out.
    Failed(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Create,
    Read,
    Renew,
    Wait { index: u64 },
    Done,
}

/// One contender's election state machine.
#[derive(Debug)]
pub struct LeaderMachine {
    key: String,
    value: String,
    ttl: u64,
    deadline: Option<Instant>,
    phase: Phase,
    in_flight: bool,
    sent_at: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    outcome: Option<(bool, u64, Instant)>,
    failure: Option<Error>,
    timed_out: bool,
}

impl LeaderMachine {
    /// Campaign for `key` with `value` and a `ttl` in seconds (at least 1). A
    /// TTL over [`crate::ops::MAX_TTL`] fails at the first poll with
    /// [`Error::InvalidArgument`], before anything is sent.
    pub fn new(key: impl Into<String>, value: impl Into<String>, ttl: u64) -> LeaderMachine {
        let failure = check_ttl(Some(ttl)).err();
        LeaderMachine {
            key: key.into(),
            value: value.into(),
            ttl: ttl.max(1),
            deadline: None,
            phase: if failure.is_some() {
                Phase::Done
            } else {
                Phase::Create
            },
            in_flight: false,
            sent_at: None,
            retry_at: None,
            backoff: BACKOFF_MIN,
            outcome: None,
            failure,
            timed_out: false,
        }
    }

    /// Give up at `deadline`.
    pub fn deadline(mut self, deadline: Option<Instant>) -> LeaderMachine {
        self.deadline = deadline;
        self
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> LeaderStep {
        if let Some(e) = self.failure.take() {
            return LeaderStep::Failed(e);
        }
        if let Some((renewed, index, valid_until)) = self.outcome {
            return LeaderStep::Elected {
                renewed,
                index,
                valid_until,
            };
        }
        if self.timed_out {
            return LeaderStep::TimedOut;
        }
        if self.in_flight {
            return LeaderStep::Failed(Error::Misuse(
                "the leader machine was polled while a request was in flight".into(),
            ));
        }
        if let Some(at) = self.retry_at {
            if now < at {
                return LeaderStep::SleepUntil(at);
            }
            self.retry_at = None;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.timed_out = true;
            self.phase = Phase::Done;
            return LeaderStep::TimedOut;
        }
        let key = self.key.as_str();
        let request = match self.phase {
            Phase::Create => Request::Keys(KeysRequest::Create(
                keys::Create::new(key, self.value.as_str()).ttl(self.ttl),
            )),
            Phase::Read => Request::Keys(KeysRequest::Get(keys::Get::new(key))),
            Phase::Renew => Request::Keys(KeysRequest::Refresh(
                keys::Refresh::new(key, self.ttl).prev_value(self.value.as_str()),
            )),
            Phase::Wait { index } => {
                let mut timeout = MAX_POLL;
                if let Some(d) = self.deadline {
                    timeout = timeout.min(d.saturating_duration_since(now));
                }
                Request::Wait {
                    wait: keys::Wait::new(key).wait_index(index),
                    timeout: timeout.max(Duration::from_millis(1)),
                }
            }
            Phase::Done => {
                return LeaderStep::Failed(Error::Misuse("the leader machine has finished".into()));
            }
        };
        self.in_flight = true;
        self.sent_at = Some(now);
        LeaderStep::Send(request)
    }

    fn back_off(&mut self, now: Instant) {
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Hand over the outcome of the request last sent.
    pub fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        if !self.in_flight {
            return Err(Error::Misuse(
                "a leader outcome with no request in flight".into(),
            ));
        }
        let is_wait = matches!(self.phase, Phase::Wait { .. });
        if is_wait != matches!(outcome, Outcome::Wait(_)) {
            return Err(Error::Misuse(
                "the outcome does not match the request in flight".into(),
            ));
        }
        self.in_flight = false;
        let until = later(self.sent_at.unwrap_or(now), Duration::from_secs(self.ttl));
        match (self.phase, outcome) {
            (Phase::Create, Outcome::Keys(Ok(r))) => {
                self.outcome = Some((false, r.node.modified_index, until))
            }
            (Phase::Create, Outcome::Keys(Err(e))) if e.is_already_exists() => {
                self.phase = Phase::Read
            }
            (Phase::Create, Outcome::Keys(Err(e))) if is_transient(&e) => {
                // The create may have been applied: reading the key tells.
                if !matches!(e, Error::OutcomeUnknown { .. }) {
                    self.back_off(now);
                }
                self.phase = Phase::Read;
            }
            (Phase::Read, Outcome::Keys(Ok(r))) => {
                self.backoff = BACKOFF_MIN;
                self.phase = if r.node.value.as_deref() == Some(self.value.as_str()) {
                    Phase::Renew
                } else {
                    Phase::Wait {
                        index: r.node.modified_index + 1,
                    }
                };
            }
            (Phase::Read, Outcome::Keys(Err(e))) if e.is_key_not_found() => {
                self.phase = Phase::Create
            }
            (Phase::Renew, Outcome::Keys(Ok(r))) => {
                self.outcome = Some((true, r.node.modified_index, until))
            }
            (Phase::Renew, Outcome::Keys(Err(e)))
                if e.is_key_not_found() || e.is_precondition_failed() =>
            {
                self.phase = Phase::Read;
            }
            (Phase::Wait { .. }, Outcome::Wait(Ok(WaitOutcome::Event(event)))) => {
                self.backoff = BACKOFF_MIN;
                self.phase = if event.is_deleted() {
                    Phase::Create
                } else {
                    Phase::Read
                };
            }
            (Phase::Wait { .. }, Outcome::Wait(Ok(WaitOutcome::Idle { .. }))) => {}
            (Phase::Wait { .. }, Outcome::Wait(Err(e))) => {
                let poll_timeout = matches!(&e, Error::Transport { source, .. } if source.kind() == crate::TransportErrorKind::Timeout);
                if poll_timeout {
                    // The poll ran its course: wait again.
                } else if e.is_event_index_cleared() {
                    self.phase = Phase::Read;
                } else if is_transient(&e) {
                    self.back_off(now);
                    self.phase = Phase::Read;
                } else {
                    self.phase = Phase::Done;
                    self.failure = Some(e);
                }
            }
            (_, Outcome::Keys(Err(e))) if is_transient(&e) => self.back_off(now),
            (_, Outcome::Keys(Err(e))) => {
                self.phase = Phase::Done;
                self.failure = Some(e);
            }
            (phase, outcome) => {
                return Err(Error::Misuse(format!(
                    "unexpected outcome {outcome:?} in phase {phase:?}"
                )));
            }
        }
        Ok(())
    }
}
