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
//! **Holding is a lease**: the lock counts as held only until the TTL has passed
//! since the last successful write of the contender's key (its creation or a
//! refresh) was *sent* ([`Held::valid_until`]); etcd starts the TTL when it
//! applies the write, never earlier. Listings (which a lagging member may
//! answer, showing keys deleted since) never extend it: a key that reaches the
//! head of the queue with no time left on that lease, or that was found in a
//! listing rather than made, is refreshed before the lock is reported held.
//!
//! A reentrant lock ([`LockMachine::reentrant`]) uses the caller's instance value
//! as the id: a contender whose value already has a key reuses it, so the holder
//! acquires again without blocking. Entries are not counted: one release
//! releases.

use std::time::{Duration, Instant};

use super::{
    is_transient, later, renew_interval, KeysRequest, Outcome, Request, BACKOFF_MAX, BACKOFF_MIN,
    MAX_POLL,
};
use crate::error::Error;
use crate::key;
use crate::ops::check_ttl;
use crate::ops::keys::{self, WaitOutcome};
use crate::response::{KeysResponse, Node};

/// Where locks live (python-etcd's `lock_prefix`).
pub const LOCK_PREFIX: &str = "/_locks";

/// The directory of lock `name`: `/_locks/<name>`. A name that is empty or has
/// a `.` or `..` segment (which would put the lock's keys outside `/_locks`) is
/// refused with [`Error::InvalidKey`].
///
/// ```
/// use etcd_v2::recipes::lock::lock_dir;
/// assert_eq!(lock_dir("nightly-job").unwrap(), "/_locks/nightly-job");
/// assert!(lock_dir("../../x/y").unwrap_err().is_invalid_input());
/// ```
pub fn lock_dir(name: &str) -> Result<String, Error> {
    key::child(LOCK_PREFIX, name)
}

/// A lock held: the contender's key, its creation index, and until when it is
/// surely held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The contender's key (`/_locks/<name>/<20 digits>`).
    pub key: String,
    /// Its `createdIndex` (the number in its name).
    pub index: u64,
    /// The TTL after the last successful write of the key was sent: the lock is
    /// held until then, unless renewed (see the module docs).
    pub valid_until: Instant,
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
    mine: Option<Mine>,
    phase: Phase,
    in_flight: bool,
    sent_at: Option<Instant>,
    create_sent_at: Option<Instant>,
    reentrant_find: bool,
    refresh_at: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    finish: Option<Finish>,
    failure: Option<Error>,
}

/// The contender's own key, once known.
#[derive(Debug, Clone)]
struct Mine {
    key: String,
    index: u64,
    /// Until when it is surely ours (`None`: not known yet, refresh first).
    valid_until: Option<Instant>,
    /// Whether this machine created it (rather than finding a reentrant
    /// holder's key).
    created: bool,
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
    /// unique `id` and a `ttl` in seconds (at least 1). A TTL over
    /// [`crate::ops::MAX_TTL`] fails at the first poll with
    /// [`Error::InvalidArgument`], before anything is sent.
    pub fn new(dir: impl Into<String>, id: impl Into<String>, ttl: u64) -> LockMachine {
        let failure = check_ttl(Some(ttl)).err();
        let mut machine = LockMachine {
            dir: dir.into(),
            id: id.into(),
            ttl: ttl.max(1),
            blocking: true,
            deadline: None,
            mine: None,
            phase: Phase::Create,
            in_flight: false,
            sent_at: None,
            create_sent_at: None,
            reentrant_find: false,
            refresh_at: None,
            retry_at: None,
            backoff: BACKOFF_MIN,
            finish: None,
            failure: None,
        };
        if let Some(e) = failure {
            machine.fail(e);
        }
        machine
    }

    /// Reuse a key already holding this id (a reentrant lock's instance value).
    pub fn reentrant(mut self) -> LockMachine {
        if self.finish.is_none() {
            self.phase = Phase::Find;
        }
        self.reentrant_find = true;
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

    /// The lock's directory.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The contender's key, once created.
    pub fn key(&self) -> Option<&str> {
        self.mine.as_ref().map(|m| m.key.as_str())
    }

    /// The key this machine created itself (not a reentrant holder's key it
    /// found), if any: what an abandoned acquisition should delete.
    pub fn created_key(&self) -> Option<&str> {
        self.mine
            .as_ref()
            .filter(|m| m.created)
            .map(|m| m.key.as_str())
    }

    /// Whether a create was sent whose outcome is not known yet (in flight, or
    /// ended ambiguously): a key with this contender's id may exist that the
    /// machine does not know of.
    pub fn create_pending(&self) -> bool {
        self.create_sent_at.is_some()
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
        if let Phase::Wait { .. } = self.phase {
            if now >= self.refresh_at.unwrap_or(now) {
                self.phase = Phase::Refresh;
            }
        }
        if matches!(self.phase, Phase::Refresh | Phase::GiveUp { .. }) && self.mine.is_none() {
            self.phase = Phase::Create;
        }
        let request = match (&self.phase, &self.mine) {
            (Phase::Find | Phase::List, _) => Request::Keys(self.listing()),
            (Phase::Create, _) => {
                self.create_sent_at.get_or_insert(now);
                Request::Keys(KeysRequest::CreateInOrder(
                    keys::CreateInOrder::new(self.dir.as_str(), self.id.as_str()).ttl(self.ttl),
                ))
            }
            (Phase::Wait { pred, index }, _) => {
                let refresh_at = self.refresh_at.unwrap_or(now);
                let mut timeout = MAX_POLL.min(refresh_at.saturating_duration_since(now));
                if let Some(d) = self.deadline {
                    timeout = timeout.min(d.saturating_duration_since(now));
                }
                Request::Wait {
                    wait: keys::Wait::new(pred.as_str()).wait_index(*index),
                    timeout: timeout.max(Duration::from_millis(1)),
                }
            }
            (Phase::Refresh, Some(mine)) => Request::Keys(KeysRequest::Refresh(
                keys::Refresh::new(mine.key.as_str(), self.ttl).prev_value(self.id.as_str()),
            )),
            (Phase::GiveUp { .. }, Some(mine)) => Request::Keys(KeysRequest::Delete(
                keys::Delete::new(mine.key.as_str()).prev_value(self.id.as_str()),
            )),
            (Phase::Refresh | Phase::GiveUp { .. }, None) | (Phase::Done, _) => {
                return LockStep::Failed(Error::Misuse("the lock machine has finished".into()));
            }
        };
        self.in_flight = true;
        self.sent_at = Some(now);
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
                // A contender's id is unique, so a key with it is one our
                // ambiguous create made; a reentrant lock's instance value may be
                // another handle's key. Either way a listing (possibly from a
                // lagging member, possibly showing a key deleted since) proves
                // nothing about it: a key found, not made, is refreshed (a write
                // through raft, guarded by our value) before it is trusted.
                let created = !self.reentrant_find && self.create_sent_at.is_some();
                self.mine = Some(Mine {
                    key: found.key.clone(),
                    index: found.created_index,
                    valid_until: None,
                    created,
                });
                self.create_sent_at = None;
                self.refresh_at = Some(now);
            }
        }
        let Some(mine) = &mut self.mine else {
            self.phase = Phase::Create;
            return;
        };
        let Some(position) = children.iter().position(|n| n.key == mine.key) else {
            // Our key expired (or was deleted): start over.
            self.mine = None;
            self.phase = Phase::Create;
            return;
        };
        match position {
            0 => match mine.valid_until {
                Some(until) if until > now => {
                    let held = Held {
                        key: mine.key.clone(),
                        index: mine.index,
                        valid_until: until,
                    };
                    self.done(Finish::Acquired(held));
                }
                // First, but with no time known to be left: refresh, then look
                // again, rather than report a lock that may be gone already.
                _ => self.phase = Phase::Refresh,
            },
            _ if !self.blocking => self.phase = Phase::GiveUp { timed_out: false },
            i => {
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
        let sent = self.sent_at.unwrap_or(now);
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
                self.create_sent_at = None;
                self.mine = Some(Mine {
                    key: created.node.key.clone(),
                    index: created.node.created_index,
                    valid_until: Some(later(sent, Duration::from_secs(self.ttl))),
                    created: true,
                });
                self.refresh_at = Some(later(sent, renew_interval(self.ttl)));
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
                if let Some(mine) = &mut self.mine {
                    let until = later(sent, Duration::from_secs(self.ttl));
                    mine.valid_until = Some(mine.valid_until.map_or(until, |v| v.max(until)));
                }
                self.refresh_at = Some(later(sent, renew_interval(self.ttl)));
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
