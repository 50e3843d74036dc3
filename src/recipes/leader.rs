//! Leader election on one key: the seed's `set_or_renew` as a state machine.
//!
//! - Try to create the key with this contender's value and a TTL
//!   (`prevExist=false`): success means leadership.
//! - If the key exists, read it: holding our value, renew it (a TTL refresh
//!   guarded by `prevValue`, which does not wake watchers); holding another
//!   value, watch the key from the read's `X-Etcd-Index + 1` (not its
//!   `modifiedIndex + 1`, which is out of etcd's 1000-event history once
//!   over 1000 other changes came after it) until it is deleted or expires,
//!   then try again; a wait refused with errorCode 401 reads again after a
//!   pause.
//! - If the outcome of the create is unknown, read the key: it tells.
//! - A read that finds no key (a member behind the others may answer it while
//!   the create just failed with "already exists") is made again through the
//!   quorum before the campaign creates the key again; after a failed
//!   renewal, the read is a quorum read (a lagging member may still show our
//!   value).
//! - A deadline bounds each long poll; when it passes, the machine reports
//!   [`LeaderStep::TimedOut`] (it holds nothing to clean up).
//!
//! Holding leadership needs renewal: [`super::renew::Renewer`] does that.

use std::time::{Duration, Instant};

use super::{
    is_poll_timeout, is_transient, later, Backoff, KeysRequest, Outcome, Request, MAX_POLL,
};
use crate::error::Error;
use crate::machine::{Machine, Step};
use crate::ops::check_ttl;
use crate::ops::keys::{self, wait_after_read, WaitOutcome};

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

/// What the machine does next, once ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Create,
    Read,
    Renew,
    Wait { index: u64 },
}

/// Where the machine is.
#[derive(Debug)]
enum State {
    /// Ready to send `phase`'s request (not before `not_before`, a backoff).
    Ready {
        phase: Phase,
        not_before: Option<Instant>,
    },
    /// `phase`'s request is in flight, sent at `sent`.
    InFlight { phase: Phase, sent: Instant },
    /// Elected: a renewal or not, the key's index, and until when it is held.
    Elected {
        renewed: bool,
        index: u64,
        valid_until: Instant,
    },
    /// The deadline passed with another leader in place.
    TimedOut,
    /// Failed; the error until polled once.
    Failed(Option<Error>),
}

/// One contender's election state machine.
#[derive(Debug)]
pub struct LeaderMachine {
    key: String,
    value: String,
    ttl: u64,
    deadline: Option<Instant>,
    backoff: Backoff,
    /// The next read is a quorum read. Either a local read said the key is
    /// not there, which a lagging member says of a key that exists (its
    /// create just failed with "already exists"), so only a quorum read may
    /// send the campaign back to creating it; or a renewal failed, and a
    /// lagging member may still show our value. Otherwise the requests would
    /// alternate unpaced for as long as the member lags.
    quorum_read: bool,
    state: State,
}

impl LeaderMachine {
    /// Campaign for `key` with `value` and a `ttl` in seconds (at least 1). A
    /// TTL over [`crate::ops::MAX_TTL`] fails at the first poll with
    /// [`Error::InvalidArgument`], before anything is sent.
    pub fn new(key: impl Into<String>, value: impl Into<String>, ttl: u64) -> LeaderMachine {
        let state = match check_ttl(Some(ttl)) {
            Ok(()) => State::Ready {
                phase: Phase::Create,
                not_before: None,
            },
            Err(e) => State::Failed(Some(e)),
        };
        LeaderMachine {
            key: key.into(),
            value: value.into(),
            ttl: ttl.max(1),
            deadline: None,
            backoff: Backoff::default(),
            quorum_read: false,
            state,
        }
    }

    setter!(
        /// Give up at `deadline`.
        deadline(deadline: Option<Instant>) -> deadline = deadline
    );

    fn request(&self, phase: Phase, now: Instant) -> Request {
        let key = self.key.as_str();
        match phase {
            Phase::Create => Request::Keys(KeysRequest::Create(
                keys::Create::new(key, self.value.as_str()).ttl(self.ttl),
            )),
            Phase::Read => Request::Keys(KeysRequest::Get(
                keys::Get::new(key).quorum(self.quorum_read),
            )),
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
        }
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> LeaderStep {
        match &mut self.state {
            State::Failed(e) => LeaderStep::Failed(
                e.take()
                    .unwrap_or_else(|| Error::Misuse("the leader machine has finished".into())),
            ),
            State::Elected {
                renewed,
                index,
                valid_until,
            } => LeaderStep::Elected {
                renewed: *renewed,
                index: *index,
                valid_until: *valid_until,
            },
            State::TimedOut => LeaderStep::TimedOut,
            State::InFlight { .. } => LeaderStep::Failed(Error::Misuse(
                "the leader machine was polled while a request was in flight".into(),
            )),
            State::Ready {
                not_before: Some(at),
                ..
            } if now < *at => LeaderStep::SleepUntil(*at),
            State::Ready { .. } if self.deadline.is_some_and(|d| now >= d) => {
                self.state = State::TimedOut;
                LeaderStep::TimedOut
            }
            State::Ready { phase, .. } => {
                let phase = *phase;
                let request = self.request(phase, now);
                self.state = State::InFlight { phase, sent: now };
                LeaderStep::Send(request)
            }
        }
    }

    /// Hand over the outcome of the request last sent.
    pub fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        let State::InFlight { phase, sent } = self.state else {
            return Err(Error::Misuse(
                "a leader outcome with no request in flight".into(),
            ));
        };
        let is_wait = matches!(phase, Phase::Wait { .. });
        if is_wait != matches!(outcome, Outcome::Wait(_)) {
            return Err(Error::Misuse(
                "the outcome does not match the request in flight".into(),
            ));
        }
        let until = later(sent, Duration::from_secs(self.ttl));
        let ready = |phase| State::Ready {
            phase,
            not_before: None,
        };
        self.state = match (phase, outcome) {
            (Phase::Create, Outcome::Keys(Ok(r))) => State::Elected {
                renewed: false,
                index: r.node.modified_index,
                valid_until: until,
            },
            (Phase::Create, Outcome::Keys(Err(e))) if e.is_already_exists() => ready(Phase::Read),
            // The create may have been applied: reading the key tells (through
            // the quorum: a member behind may show the previous holder's key).
            (Phase::Create, Outcome::Keys(Err(Error::OutcomeUnknown { .. }))) => {
                self.quorum_read = true;
                ready(Phase::Read)
            }
            (Phase::Create, Outcome::Keys(Err(e))) if is_transient(&e) => State::Ready {
                phase: Phase::Read,
                not_before: Some(self.backoff.after(now)),
            },
            (Phase::Read, Outcome::Keys(Ok(r))) => {
                self.backoff.reset();
                self.quorum_read = false;
                if r.node.value.as_deref() == Some(self.value.as_str()) {
                    ready(Phase::Renew)
                } else {
                    ready(Phase::Wait {
                        index: wait_after_read(r.node.modified_index, &r.cluster),
                    })
                }
            }
            // A local read may come from a member behind the others: before
            // creating again, a quorum read confirms the key is gone.
            (Phase::Read, Outcome::Keys(Err(e))) if e.is_key_not_found() => {
                self.quorum_read = !self.quorum_read;
                ready(if self.quorum_read {
                    Phase::Read
                } else {
                    Phase::Create
                })
            }
            (Phase::Renew, Outcome::Keys(Ok(r))) => State::Elected {
                renewed: true,
                index: r.node.modified_index,
                valid_until: until,
            },
            // The key is gone or another's: a quorum read says which (a local
            // one may still show our value, and the renewal would fail again).
            (Phase::Renew, Outcome::Keys(Err(e)))
                if e.is_key_not_found() || e.is_precondition_failed() =>
            {
                self.quorum_read = true;
                ready(Phase::Read)
            }
            (Phase::Wait { .. }, Outcome::Wait(Ok(WaitOutcome::Event(event)))) => {
                self.backoff.reset();
                ready(if event.is_deleted() {
                    Phase::Create
                } else {
                    Phase::Read
                })
            }
            // An idle poll, or one that ran its course: wait again.
            (Phase::Wait { index }, Outcome::Wait(Ok(WaitOutcome::Idle { cluster }))) => {
                let (index, not_before) = self.backoff.after_idle(index, &cluster, sent, now);
                State::Ready {
                    phase: Phase::Wait { index },
                    not_before,
                }
            }
            (Phase::Wait { .. }, Outcome::Wait(Err(e))) if is_poll_timeout(&e) => ready(phase),
            // More than etcd's 1000 events since the read: read again, after a
            // pause (a cluster that busy would otherwise keep this unpaced).
            (Phase::Wait { .. }, Outcome::Wait(Err(e))) if e.is_event_index_cleared() => {
                State::Ready {
                    phase: Phase::Read,
                    not_before: Some(self.backoff.after(now)),
                }
            }
            (Phase::Wait { .. }, Outcome::Wait(Err(e))) if is_transient(&e) => State::Ready {
                phase: Phase::Read,
                not_before: Some(self.backoff.after(now)),
            },
            (_, Outcome::Keys(Err(e)) | Outcome::Wait(Err(e))) if is_transient(&e) => {
                State::Ready {
                    phase,
                    not_before: Some(self.backoff.after(now)),
                }
            }
            (_, Outcome::Keys(Err(e)) | Outcome::Wait(Err(e))) => State::Failed(Some(e)),
            (phase, outcome) => {
                return Err(Error::Misuse(format!(
                    "unexpected outcome {outcome:?} in phase {phase:?}"
                )));
            }
        };
        Ok(())
    }
}

impl Machine for LeaderMachine {
    super::recipe_machine_types!();
    /// Until when leadership is held once elected (`Ok(None)`: the deadline
    /// passed with another leader in place).
    type Output = Result<Option<Instant>, Error>;

    fn poll(&mut self, now: Instant) -> Step<Request, (), Self::Output> {
        match LeaderMachine::poll(self, now) {
            LeaderStep::Send(request) => Step::Send(request),
            LeaderStep::SleepUntil(at) => Step::SleepUntil(at),
            LeaderStep::Elected { valid_until, .. } => Step::Done(Ok(Some(valid_until))),
            LeaderStep::TimedOut => Step::Done(Ok(None)),
            LeaderStep::Failed(e) => Step::Done(Err(e)),
        }
    }

    fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        LeaderMachine::handle(self, outcome, now)
    }
}
