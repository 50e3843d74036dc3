//! The acquisition state machine: [`LockMachine`] (see the [module docs](super)).

use std::time::{Duration, Instant};

use super::super::{
    is_poll_timeout, is_transient, later, renew_interval, Backoff, KeysRequest, Outcome, Request,
    MAX_POLL,
};
use super::state::{ready, Finish, Mine, Ours, Phase, State};
use super::{Held, LockStep};
use crate::error::Error;
use crate::machine::{Machine, Step};
use crate::ops::check_ttl;
use crate::ops::keys::{self, wait_after_read, WaitOutcome};
use crate::response::{KeysResponse, Node};

/// The acquisition state machine of one contender.
#[derive(Debug)]
pub struct LockMachine {
    pub(super) dir: String,
    pub(super) id: String,
    ttl: u64,
    blocking: bool,
    pub(super) reentrant: bool,
    deadline: Option<Instant>,
    /// The contender's key, as far as it is known.
    pub(super) ours: Ours,
    backoff: Backoff,
    /// Transient failures since the last write that worked (a non-blocking
    /// attempt gives up after [`NON_BLOCKING_TRIES`]).
    failures: u8,
    /// The next listing is a quorum read: the last one (a local read, which a
    /// member behind the others may answer) did not show our key. Only a
    /// quorum listing may conclude the key is gone and create another, or a
    /// lagging member would have the contender create key after key.
    quorum_list: bool,
    /// A create was sent after one of unknown outcome that a quorum listing
    /// did not show: the first may yet be applied, leaving a stray key with
    /// our id, so releasing also sweeps the directory ([`Held::strays`]).
    pub(super) strays: bool,
    state: State,
}

/// How many transient failures in a row a non-blocking attempt takes before
/// it reports the last one: "only if it is free now" must not retry forever
/// against a cluster that cannot answer (one without quorum).
const NON_BLOCKING_TRIES: u8 = 4;

impl LockMachine {
    /// Contend for the lock in directory `dir` (see [`super::lock_dir`]) with the
    /// unique `id` and a `ttl` in seconds (at least 1). A TTL over
    /// [`crate::ops::MAX_TTL`] fails at the first poll with
    /// [`Error::InvalidArgument`], before anything is sent.
    pub fn new(dir: impl Into<String>, id: impl Into<String>, ttl: u64) -> LockMachine {
        let state = match check_ttl(Some(ttl)) {
            Ok(()) => ready(Phase::Create),
            Err(e) => State::Done(Finish::Failed(Some(e))),
        };
        LockMachine {
            dir: dir.into(),
            id: id.into(),
            ttl: ttl.max(1),
            blocking: true,
            reentrant: false,
            deadline: None,
            ours: Ours::Nothing,
            backoff: Backoff::default(),
            failures: 0,
            quorum_list: false,
            strays: false,
            state,
        }
    }

    /// Reuse a key already holding this id (a reentrant lock's instance value).
    pub fn reentrant(mut self) -> LockMachine {
        if let State::Ready { phase, .. } = &mut self.state {
            *phase = Phase::Find;
        }
        self.reentrant = true;
        self
    }

    setter!(
        /// Give up (delete the key, report [`LockStep::TimedOut`]) at `deadline`.
        deadline(deadline: Option<Instant>) -> deadline = deadline
    );

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

    pub(super) fn mine(&self) -> Option<&Mine> {
        match &self.ours {
            Ours::Known(mine) => Some(mine),
            Ours::Nothing | Ours::Pending => None,
        }
    }

    /// The key is gone (expired, deleted, or taken by another value); a create
    /// of unknown outcome stays pending.
    fn forget_key(&mut self) {
        if let Ours::Known(_) = self.ours {
            self.ours = Ours::Nothing;
        }
    }

    /// The contender's key, once created.
    pub fn key(&self) -> Option<&str> {
        self.mine().map(|m| m.key.as_str())
    }

    /// The key this machine created itself (not a reentrant holder's key it
    /// found), if any: what an abandoned acquisition should delete.
    pub fn created_key(&self) -> Option<&str> {
        self.mine().filter(|m| m.created).map(|m| m.key.as_str())
    }

    /// Whether a create was sent whose outcome is not known yet (in flight, or
    /// ended ambiguously): a key with this contender's id may exist that the
    /// machine does not know of.
    pub fn create_pending(&self) -> bool {
        matches!(self.ours, Ours::Pending)
    }

    fn request(&self, phase: &Phase, now: Instant) -> Option<Request> {
        let keys_request = match (phase, self.mine()) {
            // Finding our id after a create of unknown outcome is a quorum
            // read, so that a create that was applied is seen (not made twice).
            (Phase::Find | Phase::List, _) => KeysRequest::Get(
                keys::Get::new(self.dir.as_str())
                    .sorted(true)
                    .quorum(*phase == Phase::Find || self.quorum_list),
            ),
            (Phase::Create, _) => KeysRequest::CreateInOrder(
                keys::CreateInOrder::new(self.dir.as_str(), self.id.as_str()).ttl(self.ttl),
            ),
            (Phase::Wait { pred, index }, mine) => {
                let refresh_at = mine.map_or(now, |m| m.refresh_at);
                let mut timeout = MAX_POLL.min(refresh_at.saturating_duration_since(now));
                if let Some(d) = self.deadline {
                    timeout = timeout.min(d.saturating_duration_since(now));
                }
                return Some(Request::Wait {
                    wait: keys::Wait::new(pred.as_str()).wait_index(*index),
                    timeout: timeout.max(Duration::from_millis(1)),
                });
            }
            (Phase::Refresh, Some(mine)) => KeysRequest::Refresh(
                keys::Refresh::new(mine.key.as_str(), self.ttl).prev_value(self.id.as_str()),
            ),
            (Phase::DeleteStray { key }, _) => {
                KeysRequest::Delete(keys::Delete::new(key.as_str()).prev_value(self.id.as_str()))
            }
            (Phase::Refresh, None) => return None,
        };
        Some(Request::Keys(keys_request))
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> LockStep {
        let (deadline, refresh_at) = (self.deadline, self.mine().map(|m| m.refresh_at));
        let phase = match &mut self.state {
            State::Done(Finish::Failed(e)) => {
                return LockStep::Failed(
                    e.take()
                        .unwrap_or_else(|| Error::Misuse("the lock machine already failed".into())),
                )
            }
            State::Done(Finish::Acquired(held)) => return LockStep::Acquired(held.clone()),
            State::Done(Finish::NotAcquired) => return LockStep::NotAcquired,
            State::Done(Finish::TimedOut) => return LockStep::TimedOut,
            State::Leaving { release, timed_out } => {
                return match release.poll(now) {
                    Step::Send(request) => LockStep::Send(request),
                    Step::SleepUntil(at) => LockStep::SleepUntil(at),
                    // Polled out of turn: said so, and nothing changes (as
                    // for any request in flight).
                    Step::Done(Err(e @ Error::Misuse(_))) => LockStep::Failed(e),
                    // What a release could not undo expires with its TTL.
                    Step::Event(()) | Step::Done(_) => {
                        self.ours = Ours::Nothing;
                        let (finish, step) = if *timed_out {
                            (Finish::TimedOut, LockStep::TimedOut)
                        } else {
                            (Finish::NotAcquired, LockStep::NotAcquired)
                        };
                        self.state = State::Done(finish);
                        step
                    }
                };
            }
            State::InFlight { .. } => {
                return LockStep::Failed(Error::Misuse(
                    "the lock machine was polled while a request was in flight".into(),
                ))
            }
            State::Ready {
                not_before: Some(at),
                phase,
            } if now < *at => {
                // A pause gives way to the deadline and, for a waiter, to
                // refreshing its own key.
                let mut wake = deadline.map_or(*at, |d| (*at).min(d));
                if matches!(phase, Phase::Wait { .. }) {
                    wake = refresh_at.map_or(wake, |r| wake.min(r));
                }
                if now < wake {
                    return LockStep::SleepUntil(wake);
                }
                phase.clone()
            }
            State::Ready { phase, .. } => phase.clone(),
        };
        let phase = match phase {
            // Past the deadline: give up (deleting our key, if any).
            _ if self.deadline.is_some_and(|d| now >= d) => {
                self.state = self.leaving(true);
                return self.poll(now);
            }
            // A waiter refreshes its own key every third of the TTL.
            Phase::Wait { .. } if self.mine().is_none_or(|m| now >= m.refresh_at) => Phase::Refresh,
            // Nothing of ours to refresh: create it.
            Phase::Refresh if self.mine().is_none() => Phase::Create,
            p => p,
        };
        let Some(request) = self.request(&phase, now) else {
            self.state = State::Done(Finish::Failed(None));
            return LockStep::Failed(Error::Misuse("the lock machine lost its key".into()));
        };
        if phase == Phase::Create {
            // A create after one of unknown outcome (which a quorum listing
            // did not show): that one may yet be applied.
            self.strays |= matches!(self.ours, Ours::Pending);
            self.ours = Ours::Pending;
        }
        self.state = State::InFlight { phase, sent: now };
        LockStep::Send(request)
    }

    /// Where our key stands in a sorted listing of the directory (a quorum
    /// read or not): the next state.
    fn evaluate(&mut self, listing: &KeysResponse, quorum: bool, now: Instant) -> State {
        let mut children: Vec<&Node> = listing.children().iter().filter(|n| !n.dir).collect();
        children.sort_by(|a, b| a.key.cmp(&b.key));
        if self.mine().is_none() {
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
                let created = !self.reentrant && self.create_pending();
                self.ours = Ours::Known(Mine {
                    key: found.key.clone(),
                    index: found.created_index,
                    valid_until: None,
                    refresh_at: now,
                    created,
                });
            }
        }
        let Some(mine) = self.mine() else {
            return ready(Phase::Create);
        };
        let Some(position) = children.iter().position(|n| n.key == mine.key) else {
            if !quorum {
                // Perhaps a member behind the others answered: ask the quorum.
                self.quorum_list = true;
                return ready(Phase::List);
            }
            // Our key expired (or was deleted): start over.
            self.forget_key();
            return ready(Phase::Create);
        };
        // Another key with our (unique) id is ours too, made by a create of
        // unknown outcome applied late, or left by an earlier acquisition
        // whose release failed: it would hold the lock, or a place in the
        // queue, for nobody.
        if !self.reentrant {
            let id = Some(self.id.as_str());
            if let Some(stray) = children
                .iter()
                .find(|n| n.value.as_deref() == id && n.key != mine.key)
            {
                return ready(Phase::DeleteStray {
                    key: stray.key.clone(),
                });
            }
        }
        match position {
            0 => match mine.valid_until {
                Some(until) if until > now => State::Done(Finish::Acquired(Held {
                    key: mine.key.clone(),
                    index: mine.index,
                    valid_until: until,
                    strays: self.sweeps(),
                })),
                // First, but with no time known to be left: refresh, then look
                // again, rather than report a lock that may be gone already.
                _ => ready(Phase::Refresh),
            },
            _ if !self.blocking => self.leaving(false),
            i => {
                let pred = children[i - 1];
                ready(Phase::Wait {
                    pred: pred.key.clone(),
                    index: wait_after_read(pred.modified_index, &listing.cluster),
                })
            }
        }
    }

    /// Whether the listing `phase` answered was a quorum read (spending the
    /// flag that asked for one; a listing that failed keeps it for its retry).
    fn listed_through_quorum(&mut self, phase: &Phase) -> bool {
        std::mem::take(&mut self.quorum_list) || *phase == Phase::Find
    }

    /// Hand over the outcome of the request last sent.
    pub fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        if let State::Leaving { release, .. } = &mut self.state {
            return release.handle(outcome, now);
        }
        let State::InFlight { phase, sent } = &self.state else {
            return Err(Error::Misuse(
                "a lock outcome with no request in flight".into(),
            ));
        };
        let (phase, sent) = (phase.clone(), *sent);
        let is_wait = matches!(phase, Phase::Wait { .. });
        if is_wait != matches!(outcome, Outcome::Wait(_)) {
            return Err(Error::Misuse(
                "the outcome does not match the request in flight".into(),
            ));
        }
        let transient = matches!(&outcome,
            Outcome::Keys(Err(e)) | Outcome::Wait(Err(e)) if is_transient(e) && !is_poll_timeout(e));
        // A read that works is no progress when the write around it keeps
        // failing (a member cut off from the majority still answers reads).
        if transient {
            self.failures = self.failures.saturating_add(1);
        } else if !matches!(phase, Phase::Find | Phase::List) {
            self.failures = 0;
        }
        if transient && !self.blocking && self.failures >= NON_BLOCKING_TRIES {
            if let Outcome::Keys(Err(e)) | Outcome::Wait(Err(e)) = outcome {
                // What the machine made (or may have made) is undone by its
                // driver, as for any failure (see `abandoned`).
                self.state = State::Done(Finish::Failed(Some(e)));
                return Ok(());
            }
        }
        self.state = match (phase, outcome) {
            (phase @ (Phase::Find | Phase::List), Outcome::Keys(Ok(listing))) => {
                self.backoff.reset();
                let quorum = self.listed_through_quorum(&phase);
                self.evaluate(&listing, quorum, now)
            }
            (phase @ (Phase::Find | Phase::List), Outcome::Keys(Err(e)))
                if e.is_key_not_found() =>
            {
                if !self.listed_through_quorum(&phase) && self.mine().is_some() {
                    // Perhaps a member behind the others answered (one that
                    // has not seen the create): ask the quorum.
                    self.quorum_list = true;
                    ready(Phase::List)
                } else {
                    // No directory: nobody holds it, and our key (if any) has
                    // expired.
                    self.forget_key();
                    ready(Phase::Create)
                }
            }
            (Phase::Create, Outcome::Keys(Ok(created))) => {
                self.backoff.reset();
                self.ours = Ours::Known(Mine {
                    key: created.node.key.clone(),
                    index: created.node.created_index,
                    valid_until: Some(later(sent, Duration::from_secs(self.ttl))),
                    refresh_at: later(sent, renew_interval(self.ttl)),
                    created: true,
                });
                ready(Phase::List)
            }
            // The POST may have been applied: look for our id before another.
            (Phase::Create, Outcome::Keys(Err(Error::OutcomeUnknown { .. }))) => ready(Phase::Find),
            (Phase::Create, Outcome::Keys(Err(e))) if is_transient(&e) => State::Ready {
                phase: Phase::Find,
                not_before: Some(self.backoff.after(now)),
            },
            (Phase::Wait { .. }, Outcome::Wait(Ok(WaitOutcome::Event(_)))) => {
                self.backoff.reset();
                ready(Phase::List)
            }
            // An idle poll, or one that ran its course: poll() decides what is
            // next (the same wait, a refresh, or giving up).
            (Phase::Wait { pred, index }, Outcome::Wait(Ok(WaitOutcome::Idle { cluster }))) => {
                let (index, not_before) = self.backoff.after_idle(index, &cluster, sent, now);
                State::Ready {
                    phase: Phase::Wait { pred, index },
                    not_before,
                }
            }
            (p @ Phase::Wait { .. }, Outcome::Wait(Err(e))) if is_poll_timeout(&e) => ready(p),
            // More than etcd's 1000 events since the listing: list again, after
            // a pause (a cluster that busy would otherwise keep this unpaced).
            (Phase::Wait { .. }, Outcome::Wait(Err(e))) if e.is_event_index_cleared() => {
                State::Ready {
                    phase: Phase::List,
                    not_before: Some(self.backoff.after(now)),
                }
            }
            (Phase::Wait { .. }, Outcome::Wait(Err(e))) if is_transient(&e) => State::Ready {
                phase: Phase::List,
                not_before: Some(self.backoff.after(now)),
            },
            (Phase::Wait { .. }, Outcome::Wait(Err(e))) => State::Done(Finish::Failed(Some(e))),
            (Phase::Refresh, Outcome::Keys(Ok(_))) => {
                if let Ours::Known(mine) = &mut self.ours {
                    let until = later(sent, Duration::from_secs(self.ttl));
                    mine.valid_until = Some(mine.valid_until.map_or(until, |v| v.max(until)));
                    mine.refresh_at = later(sent, renew_interval(self.ttl));
                }
                ready(Phase::List)
            }
            (Phase::Refresh, Outcome::Keys(Err(e)))
                if e.is_key_not_found() || e.is_precondition_failed() =>
            {
                self.forget_key();
                ready(Phase::Create)
            }
            // Gone, or no longer ours: the next listing, through the quorum
            // (a member behind the others would show the stray again), shows
            // which.
            (Phase::DeleteStray { .. }, Outcome::Keys(Ok(_))) => {
                self.quorum_list = true;
                ready(Phase::List)
            }
            (Phase::DeleteStray { .. }, Outcome::Keys(Err(e)))
                if e.is_key_not_found()
                    || e.is_precondition_failed()
                    || matches!(e, Error::OutcomeUnknown { .. }) =>
            {
                self.quorum_list = true;
                ready(Phase::List)
            }
            (phase, Outcome::Keys(Err(e))) if is_transient(&e) => State::Ready {
                phase,
                not_before: Some(self.backoff.after(now)),
            },
            (_, Outcome::Keys(Err(e))) => State::Done(Finish::Failed(Some(e))),
            (phase, outcome) => {
                return Err(Error::Misuse(format!(
                    "unexpected outcome {outcome:?} in phase {phase:?}"
                )));
            }
        };
        Ok(())
    }
}
