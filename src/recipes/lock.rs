//! A fair, herd-free lock on etcd v2, compatible with python-etcd's `etcd.Lock`.
//!
//! **Layout** (python-etcd's): a lock named `name` is the directory
//! `/_locks/<name>`. Each contender appends an in-order key (POST, so etcd names
//! it with a 20-digit, zero-padded global index) whose value is the contender's
//! unique id, with a TTL. The lowest key holds the lock. A Rust and a Python
//! process contending for the same name therefore exclude each other.
//!
//! **Protocol**:
//! - create the contender's key; if the outcome of that POST is unknown, list
//!   the directory and look for the id before trying again (never two keys);
//! - list the directory sorted; if the key is first, the lock is held;
//! - otherwise watch only the predecessor (from its `modifiedIndex + 1`) and list
//!   again when it changes: a release or an expiry wakes exactly the next waiter;
//! - while waiting, refresh the own key every third of the TTL, so a long wait
//!   keeps its place; a crashed holder's key expires with its TTL;
//! - a deadline bounds each long poll, and when it passes the contender deletes
//!   its key and reports a timeout; a non-blocking attempt that is not first
//!   deletes its key at once.
//!
//! A reentrant lock ([`LockMachine::reentrant`]) uses the caller's instance value
//! as the id: a contender whose value already has a key reuses it, so the holder
//! acquires again without blocking. Entries are not counted: one release
//! releases.

use std::time::{Duration, Instant};

use super::{
    is_transient, renew_interval, KeysRequest, Outcome, Request, BACKOFF_MAX, BACKOFF_MIN, MAX_POLL,
};
use crate::error::Error;
use crate::key;
use crate::ops::keys::{self, WaitOutcome};
use crate::response::{KeysResponse, Node};

/// Where locks live (python-etcd's `lock_prefix`).
pub const LOCK_PREFIX: &str = "/_locks";

/// The directory of lock `name`: `/_locks/<name>`.
pub fn lock_dir(name: &str) -> Result<String, Error> {
    let trimmed = name.trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::invalid_argument(
            "name",
            "a lock needs a non-empty name",
        ));
    }
    Ok(key::join(LOCK_PREFIX, trimmed))
}

/// A lock held: the contender's key and its creation index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The contender's key (`/_locks/<name>/<20 digits>`).
    pub key: String,
    /// Its `createdIndex` (the number in its name).
    pub index: u64,
}

/// What the driver must do next.
#[derive(Debug)]
pub enum LockStep {
    /// Run this request and hand its outcome to [`LockMachine::handle`].
    Send(Request),
    /// Nothing to do before then (a backoff).
    SleepUntil(Instant),
    /// The lock is held.
    Acquired(Held),
    /// A non-blocking attempt found the lock held by another (its key is gone).
    NotAcquired,
    /// The deadline passed before the lock was free (the key is gone, or will
    /// expire with its TTL if its deletion failed).
    TimedOut,
    /// An error that cannot be waited out.
    Failed(Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// List and look for our id; create if it is not there.
    Find,
    Create,
    List,
    Wait {
        pred: String,
        index: u64,
    },
    Refresh,
    GiveUp {
        timed_out: bool,
    },
    Done,
}

/// The acquisition state machine of one contender.
#[derive(Debug)]
pub struct LockMachine {
    dir: String,
    id: String,
    ttl: u64,
    blocking: bool,
    deadline: Option<Instant>,
    mine: Option<Held>,
    phase: Phase,
    in_flight: bool,
    refresh_at: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    finish: Option<Finish>,
    failure: Option<Error>,
}

#[derive(Debug, Clone)]
enum Finish {
    Acquired(Held),
    NotAcquired,
    TimedOut,
    Failed,
}

impl LockMachine {
    /// Contend for the lock in directory `dir` (see [`lock_dir`]) with the
    /// unique `id` and a `ttl` in seconds (at least 1).
    pub fn new(dir: impl Into<String>, id: impl Into<String>, ttl: u64) -> LockMachine {
        LockMachine {
            dir: dir.into(),
            id: id.into(),
            ttl: ttl.max(1),
            blocking: true,
            deadline: None,
            mine: None,
            phase: Phase::Create,
            in_flight: false,
            refresh_at: None,
            retry_at: None,
            backoff: BACKOFF_MIN,
            finish: None,
            failure: None,
        }
    }

    /// Reuse a key already holding this id (a reentrant lock's instance value).
    pub fn reentrant(mut self) -> LockMachine {
        self.phase = Phase::Find;
        self
    }

    /// Give up (delete the key, report [`LockStep::TimedOut`]) at `deadline`.
    pub fn deadline(mut self, deadline: Option<Instant>) -> LockMachine {
        self.deadline = deadline;
        self
    }

    /// Do not wait: if another holds the lock, delete the key and report
    /// [`LockStep::NotAcquired`].
    pub fn non_blocking(mut self) -> LockMachine {
        self.blocking = false;
        self
    }

    /// The contender's key, once created.
    pub fn key(&self) -> Option<&str> {
        self.mine.as_ref().map(|h| h.key.as_str())
    }

    fn listing(&self) -> KeysRequest {
        KeysRequest::Get(keys::Get::new(self.dir.as_str()).sorted(true))
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> LockStep {
        if let Some(e) = self.failure.take() {
            return LockStep::Failed(e);
        }
        if let Some(finish) = &self.finish {
            return match finish {
                Finish::Acquired(held) => LockStep::Acquired(held.clone()),
                Finish::NotAcquired => LockStep::NotAcquired,
                Finish::TimedOut => LockStep::TimedOut,
                Finish::Failed => {
                    LockStep::Failed(Error::Misuse("the lock machine already failed".into()))
                }
            };
        }
        if self.in_flight {
            return LockStep::Failed(Error::Misuse(
                "the lock machine was polled while a request was in flight".into(),
            ));
        }
        if let Some(at) = self.retry_at {
            if now < at {
                return LockStep::SleepUntil(at);
            }
            self.retry_at = None;
        }
        let past_deadline = self.deadline.is_some_and(|d| now >= d);
        if past_deadline && !matches!(self.phase, Phase::GiveUp { .. } | Phase::Done) {
            if self.mine.is_some() {
                self.phase = Phase::GiveUp { timed_out: true };
            } else {
                self.done(Finish::TimedOut);
                return LockStep::TimedOut;
            }
        }
        let request = match &self.phase {
            Phase::Find | Phase::List => Request::Keys(self.listing()),
            Phase::Create => Request::Keys(KeysRequest::CreateInOrder(
                keys::CreateInOrder::new(self.dir.as_str(), self.id.as_str()).ttl(self.ttl),
            )),
            Phase::Wait { pred, index } => {
                let refresh_at = self.refresh_at.unwrap_or(now);
                if now >= refresh_at {
                    self.phase = Phase::Refresh;
                    return self.poll(now);
                }
                let mut timeout = MAX_POLL.min(refresh_at - now);
                if let Some(d) = self.deadline {
                    timeout = timeout.min(d.saturating_duration_since(now));
                }
                Request::Wait {
                    wait: keys::Wait::new(pred.as_str()).wait_index(*index),
                    timeout: timeout.max(Duration::from_millis(1)),
                }
            }
            Phase::Refresh | Phase::GiveUp { .. } => {
                let Some(held) = &self.mine else {
                    self.phase = Phase::Create;
                    return self.poll(now);
                };
                if matches!(self.phase, Phase::Refresh) {
                    Request::Keys(KeysRequest::Refresh(
                        keys::Refresh::new(held.key.as_str(), self.ttl)
                            .prev_value(self.id.as_str()),
                    ))
                } else {
                    Request::Keys(KeysRequest::Delete(
                        keys::Delete::new(held.key.as_str()).prev_value(self.id.as_str()),
                    ))
                }
            }
            Phase::Done => {
                return LockStep::Failed(Error::Misuse("the lock machine has finished".into()));
            }
        };
        self.in_flight = true;
        LockStep::Send(request)
    }

    fn done(&mut self, finish: Finish) {
        self.phase = Phase::Done;
        self.retry_at = None;
        self.finish = Some(finish);
    }

    fn fail(&mut self, err: Error) {
        self.done(Finish::Failed);
        self.failure = Some(err);
    }

    fn back_off(&mut self, now: Instant) {
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Where our key stands in a sorted listing of the directory.
    fn evaluate(&mut self, listing: &KeysResponse, now: Instant) {
        let mut children: Vec<&Node> = listing.children().iter().filter(|n| !n.dir).collect();
        children.sort_by(|a, b| a.key.cmp(&b.key));
        if self.mine.is_none() {
            if let Some(found) = children
                .iter()
                .find(|n| n.value.as_deref() == Some(self.id.as_str()))
            {
                self.mine = Some(Held {
                    key: found.key.clone(),
                    index: found.created_index,
                });
                self.refresh_at = Some(now);
            }
        }
        let Some(mine) = &self.mine else {
            self.phase = Phase::Create;
            return;
        };
        match children.iter().position(|n| n.key == mine.key) {
            None => {
                // Our key expired (or was deleted): start over.
                self.mine = None;
                self.phase = Phase::Create;
            }
            Some(0) => {
                let held = mine.clone();
                self.done(Finish::Acquired(held));
            }
            Some(_) if !self.blocking => {
                self.phase = Phase::GiveUp { timed_out: false };
            }
            Some(i) => {
                let pred = children[i - 1];
                self.phase = Phase::Wait {
                    pred: pred.key.clone(),
                    index: pred.modified_index + 1,
                };
            }
        }
    }

    /// Hand over the outcome of the request last sent.
    pub fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        if !self.in_flight {
            return Err(Error::Misuse(
                "a lock outcome with no request in flight".into(),
            ));
        }
        let is_wait = matches!(self.phase, Phase::Wait { .. });
        if is_wait != matches!(outcome, Outcome::Wait(_)) {
            return Err(Error::Misuse(
                "the outcome does not match the request in flight".into(),
            ));
        }
        self.in_flight = false;
        match (self.phase.clone(), outcome) {
            (Phase::Find | Phase::List, Outcome::Keys(Ok(listing))) => {
                self.backoff = BACKOFF_MIN;
                self.evaluate(&listing, now);
            }
            (Phase::Find | Phase::List, Outcome::Keys(Err(e))) if e.is_key_not_found() => {
                // No directory: nobody holds it, and our key (if any) has expired.
                self.mine = None;
                self.phase = Phase::Create;
            }
            (Phase::Create, Outcome::Keys(Ok(created))) => {
                self.backoff = BACKOFF_MIN;
                self.mine = Some(Held {
                    key: created.node.key.clone(),
                    index: created.node.created_index,
                });
                self.refresh_at = Some(now + renew_interval(self.ttl));
                self.phase = Phase::List;
            }
            (Phase::Create, Outcome::Keys(Err(e))) if is_transient(&e) => {
                // The POST may have been applied: look for our id before another.
                if !matches!(e, Error::OutcomeUnknown { .. }) {
                    self.back_off(now);
                }
                self.phase = Phase::Find;
            }
            (Phase::Wait { .. }, Outcome::Wait(Ok(WaitOutcome::Event(_)))) => {
                self.backoff = BACKOFF_MIN;
                self.phase = Phase::List;
            }
            (Phase::Wait { .. }, Outcome::Wait(Ok(WaitOutcome::Idle { .. }))) => {}
            (Phase::Wait { .. }, Outcome::Wait(Err(e))) => {
                if is_poll_timeout(&e) {
                    // The poll ran its course; poll() decides what comes next.
                } else if e.is_event_index_cleared() {
                    self.phase = Phase::List;
                } else if is_transient(&e) {
                    self.back_off(now);
                    self.phase = Phase::List;
                } else {
                    self.fail(e);
                }
            }
            (Phase::Refresh, Outcome::Keys(Ok(_))) => {
                self.refresh_at = Some(now + renew_interval(self.ttl));
                self.phase = Phase::List;
            }
            (Phase::Refresh, Outcome::Keys(Err(e)))
                if e.is_key_not_found() || e.is_precondition_failed() =>
            {
                self.mine = None;
                self.phase = Phase::Create;
            }
            (Phase::GiveUp { timed_out }, Outcome::Keys(_)) => {
                // Deleted, or gone already; if the delete failed, the TTL removes it.
                self.mine = None;
                self.done(if timed_out {
                    Finish::TimedOut
                } else {
                    Finish::NotAcquired
                });
            }
            (_, Outcome::Keys(Err(e))) if is_transient(&e) => self.back_off(now),
            (_, Outcome::Keys(Err(e))) => self.fail(e),
            (phase, outcome) => {
                return Err(Error::Misuse(format!(
                    "unexpected outcome {outcome:?} in phase {phase:?}"
                )));
            }
        }
        Ok(())
    }
}

fn is_poll_timeout(err: &Error) -> bool {
    matches!(err, Error::Transport { source, .. } if source.kind() == crate::TransportErrorKind::Timeout)
}
