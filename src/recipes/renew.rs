//! Keeping a key alive: refresh its TTL about every third of the TTL, guarded by
//! its value, and report loss once the key is gone, no longer ours, or its TTL
//! has run out without a successful refresh.
//!
//! The key is counted as held until the TTL has passed since the last
//! successful refresh was *sent* ([`Renewer::valid_until`]): etcd restarts the
//! TTL when it applies the refresh, never before it was sent, so until then the
//! key is surely still there. Past that instant the key is lost, before any
//! request: a process that was paused (or starved) for longer than its TTL
//! learns it lost at once when it resumes.
//!
//! Three machines: [`Renewer`] (renew until lost), [`KeepAlive`] (a renewer
//! that keeps a shared [`Lease`] up to date, for background keep-alives) and
//! [`RenewOnce`] (one renewal on demand, refused without a request once the
//! lease has lapsed).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use etcd_v2::recipes::renew::{Renewer, RenewStep};
//! let t = Instant::now();
//! let mut r = Renewer::new("/_locks/job/00000000000000000042", "me", 9, t);
//! // Nothing to do for the first third of the TTL.
//! assert!(matches!(r.poll(t), RenewStep::SleepUntil(at) if at == t + Duration::from_secs(3)));
//! assert!(matches!(r.poll(t + Duration::from_secs(3)), RenewStep::Send(_)));
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lease::{Lease, TTL_RAN_OUT};
use super::{is_transient, later, renew_interval, KeysRequest, Outcome, Request};
use crate::error::Error;
use crate::machine::{output_once, Machine, Step};
use crate::ops::{check_ttl, keys};
use crate::response::KeysResponse;

/// What the keep-alive driver must do next.
#[derive(Debug)]
pub enum RenewStep {
    /// Run this refresh and hand its outcome to [`Renewer::handle`].
    Send(KeysRequest),
    /// Nothing to do before then.
    SleepUntil(Instant),
    /// The key is lost: gone, taken by someone else, or its TTL ran out before a
    /// refresh succeeded. The error says which.
    Lost(Error),
}

/// Where a renewer is.
#[derive(Debug)]
enum State {
    /// The next refresh is due at this instant.
    Idle(Instant),
    /// A refresh is in flight, sent at this instant.
    InFlight(Instant),
    /// The key is lost; `reported` once the loss was polled.
    Lost { error: Error, reported: bool },
}

/// The renewal state machine.
#[derive(Debug)]
pub struct Renewer {
    key: String,
    value: String,
    ttl: u64,
    expires_at: Instant,
    state: State,
}

fn lost(key: &str, reason: impl Into<String>) -> Error {
    Error::LockLost {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// The reason a loss gives.
pub(crate) fn reason_of(e: &Error) -> String {
    match e {
        Error::LockLost { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

impl Renewer {
    /// Keep `key` (holding `value`) alive with `ttl`-second refreshes;
    /// `written_at` is when the request that last wrote the key was sent. A TTL
    /// over [`crate::ops::MAX_TTL`] is reported as [`RenewStep::Lost`] with
    /// [`Error::InvalidArgument`] at the first poll.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        written_at: Instant,
    ) -> Renewer {
        let state = match check_ttl(Some(ttl)) {
            Ok(()) => State::Idle(later(written_at, renew_interval(ttl))),
            Err(error) => State::Lost {
                error,
                reported: false,
            },
        };
        Renewer {
            key: key.into(),
            value: value.into(),
            ttl,
            expires_at: later(written_at, Duration::from_secs(ttl)),
            state,
        }
    }

    /// Keep alive a key known to be held until `valid_until` (the TTL after its
    /// last write was sent).
    pub fn held_until(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        valid_until: Instant,
    ) -> Renewer {
        let written_at = valid_until
            .checked_sub(Duration::from_secs(ttl))
            .unwrap_or(valid_until);
        Renewer::new(key, value, ttl, written_at)
    }

    /// Keep alive a key whose last write is unknown (an existing leadership
    /// handed over by the caller): refresh at once, and count it as lost if no
    /// refresh succeeds within the TTL.
    pub fn starting_now(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        now: Instant,
    ) -> Renewer {
        let mut renewer = Renewer::new(key, value, ttl, now);
        if let State::Idle(at) = &mut renewer.state {
            *at = now;
        }
        renewer
    }

    /// Until when the key is surely held: the TTL after the last successful
    /// refresh (or write) was sent.
    pub fn valid_until(&self) -> Instant {
        self.expires_at
    }

    /// The key kept alive.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> RenewStep {
        match &mut self.state {
            State::Lost { error, reported } => {
                *reported = true;
                RenewStep::Lost(loss_again(&self.key, error))
            }
            State::InFlight(_) => {
                RenewStep::Lost(Error::Misuse("polled while a refresh was in flight".into()))
            }
            State::Idle(_) if now >= self.expires_at => {
                self.state = State::Lost {
                    error: lost(&self.key, TTL_RAN_OUT),
                    reported: true,
                };
                RenewStep::Lost(lost(&self.key, TTL_RAN_OUT))
            }
            State::Idle(next_at) if now < *next_at => {
                RenewStep::SleepUntil((*next_at).min(self.expires_at))
            }
            State::Idle(_) => {
                self.state = State::InFlight(now);
                RenewStep::Send(KeysRequest::Refresh(
                    keys::Refresh::new(self.key.as_str(), self.ttl).prev_value(self.value.as_str()),
                ))
            }
        }
    }

    /// Hand over the outcome of the refresh.
    pub fn handle(
        &mut self,
        outcome: Result<KeysResponse, Error>,
        now: Instant,
    ) -> Result<(), Error> {
        let State::InFlight(sent) = self.state else {
            return Err(Error::Misuse(
                "a refresh outcome with no refresh in flight".into(),
            ));
        };
        self.state = match outcome {
            Ok(_) => {
                // etcd restarted the TTL when it applied the refresh: no earlier
                // than it was sent.
                self.expires_at = later(sent, Duration::from_secs(self.ttl));
                State::Idle(later(sent, renew_interval(self.ttl)).max(now))
            }
            // Try again soon, while the key may still be alive.
            Err(e) if is_transient(&e) => {
                State::Idle(now + Duration::from_millis(250).min(renew_interval(self.ttl)))
            }
            Err(e) => {
                let reason = if e.is_key_not_found() {
                    "it no longer exists (expired or deleted)".to_owned()
                } else if e.is_precondition_failed() {
                    "another holder's value is in it".to_owned()
                } else {
                    e.to_string()
                };
                State::Lost {
                    error: lost(&self.key, reason),
                    reported: false,
                }
            }
        };
        Ok(())
    }

    /// Whether loss has been reported.
    pub fn is_lost(&self) -> bool {
        matches!(self.state, State::Lost { reported: true, .. })
    }
}

/// A loss reported again (an invalid TTL keeps its kind).
fn loss_again(key: &str, error: &Error) -> Error {
    match error {
        Error::InvalidArgument { name, reason } => Error::InvalidArgument {
            name,
            reason: reason.clone(),
        },
        other => lost(key, reason_of(other)),
    }
}

/// A [`Renewer`] that keeps a shared [`Lease`] up to date: each successful
/// refresh extends it, and it ends the renewal as soon as the lease has ended
/// (lost, or given up by its holder), whoever noticed first. Its output is the
/// lease's end; the loss, if any, is in the lease (and told its listeners).
#[derive(Debug)]
pub struct KeepAlive {
    renewer: Renewer,
    lease: Arc<Lease>,
}

impl KeepAlive {
    /// Keep `lease`'s key (holding `value`) alive with `ttl`-second refreshes:
    /// from the lease's known end, or at once when that is not known.
    pub fn new(lease: Arc<Lease>, value: impl Into<String>, ttl: u64, now: Instant) -> KeepAlive {
        let renewer = match lease.valid_until() {
            Some(until) => Renewer::held_until(lease.key(), value, ttl, until),
            None => Renewer::starting_now(lease.key(), value, ttl, now),
        };
        KeepAlive { renewer, lease }
    }

    /// Keep `lease` up to date with `renewer`'s refreshes.
    pub fn from_renewer(renewer: Renewer, lease: Arc<Lease>) -> KeepAlive {
        KeepAlive { renewer, lease }
    }

    /// The lease kept alive.
    pub fn lease(&self) -> &Arc<Lease> {
        &self.lease
    }
}

impl Machine for KeepAlive {
    super::recipe_machine_types!();
    type Output = ();

    fn poll(&mut self, now: Instant) -> Step<Request, (), ()> {
        if !self.lease.holds(now) {
            return Step::Done(());
        }
        match self.renewer.poll(now) {
            RenewStep::Send(refresh) => Step::Send(Request::Keys(refresh)),
            RenewStep::SleepUntil(at) => Step::SleepUntil(at),
            RenewStep::Lost(e) => {
                self.lease.lose(&reason_of(&e));
                Step::Done(())
            }
        }
    }

    fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        let Outcome::Keys(result) = outcome else {
            return Err(Error::Misuse("a keep-alive sends no waits".into()));
        };
        self.renewer.handle(result.map(|r| *r), now)?;
        // A renewal that came back after the lease ended does not revive it:
        // the next poll ends the keep-alive.
        self.lease.renewed(self.renewer.valid_until(), now);
        Ok(())
    }
}

/// One renewal on demand (`Lock::renew`): a [`Renewer`] asked for a single
/// refresh. It is refused with [`Error::LockLost`], without a request, when
/// the lease has already lapsed (etcd may have given the key to someone else);
/// otherwise a refresh guarded by the holder's value. The output is the new end
/// of the lease; a failure is reported, not retried.
#[derive(Debug)]
pub struct RenewOnce {
    renewer: Renewer,
    stage: Once,
}

/// Where a [`RenewOnce`] is.
#[derive(Debug)]
enum Once {
    /// Not polled yet: the refresh is due at the first poll.
    Start,
    /// Renewing (the [`Renewer`] says what next).
    Running,
    /// Over; the output, until polled.
    Done(Option<Result<Instant, Error>>),
}

impl RenewOnce {
    /// Renew `key` (holding `value`, held until `valid_until`) to `ttl` seconds.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        valid_until: Instant,
    ) -> RenewOnce {
        let written_at = valid_until
            .checked_sub(Duration::from_secs(ttl))
            .unwrap_or(valid_until);
        let mut renewer = Renewer::new(key, value, ttl, written_at);
        // Lapsing when the lease does.
        renewer.expires_at = valid_until;
        RenewOnce {
            renewer,
            stage: Once::Start,
        }
    }
}

impl Machine for RenewOnce {
    super::recipe_machine_types!();
    type Output = Result<Instant, Error>;

    fn poll(&mut self, now: Instant) -> Step<Request, (), Result<Instant, Error>> {
        match &mut self.stage {
            Once::Done(output) => return output_once(output, "renewal"),
            Once::Running if self.renewer.is_lost() => {
                return output_once(&mut None, "renewal");
            }
            Once::Running => {}
            Once::Start => {
                // Due now, whatever the lease's age.
                if let State::Idle(at) = &mut self.renewer.state {
                    *at = now;
                }
                self.stage = Once::Running;
            }
        }
        match self.renewer.poll(now) {
            RenewStep::Send(refresh) => Step::Send(Request::Keys(refresh)),
            RenewStep::Lost(e) => Step::Done(Err(e)),
            RenewStep::SleepUntil(_) => Step::Done(Ok(self.renewer.valid_until())),
        }
    }

    fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        let Outcome::Keys(result) = outcome else {
            return Err(Error::Misuse("a renewal sends no waits".into()));
        };
        match result {
            // One attempt only: a failure that waiting might cure is the
            // caller's to retry.
            Err(e) if is_transient(&e) => self.stage = Once::Done(Some(Err(e))),
            // Done once it succeeded, however long it took: the renewer would
            // refresh again at once if the answer came after the next refresh
            // was due (a refresh slower than a third of the TTL).
            Ok(response) => {
                self.renewer.handle(Ok(*response), now)?;
                self.stage = Once::Done(Some(Ok(self.renewer.valid_until())));
            }
            Err(e) => self.renewer.handle(Err(e), now)?,
        }
        Ok(())
    }
}
