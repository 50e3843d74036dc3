//! A campaign: be leader on a key for as long as it runs. [`Campaign`] elects
//! (a [`LeaderMachine`]), keeps the leadership alive (a [`KeepAlive`] of its
//! [`Lease`]), and after a loss campaigns again; failures that waiting can cure
//! are retried after a back-off (100 ms doubling to 2 s). [`Campaign::resign`]
//! turns it to giving the key up (a [`Release`]), and it ends.
//!
//! Leadership lives in the campaign's [`Lease`]: the campaign gains it when
//! elected and the lease records the loss (its TTL passing unrenewed, the key
//! gone or taken) whoever notices first; the lease's listeners hear of both.

use std::sync::Arc;
use std::time::Instant;

use super::leader::{LeaderMachine, LeaderStep};
use super::lease::Lease;
use super::release::Release;
use super::renew::{KeepAlive, Renewer};
use super::{Backoff, Outcome, Request};
use crate::error::Error;
use crate::machine::{Machine, Step};
use crate::ops::check_ttl;

/// Where a campaign is.
#[derive(Debug)]
enum State {
    /// Trying to become leader.
    Electing(Box<LeaderMachine>),
    /// Leader, renewing.
    Leading(Box<KeepAlive>),
    /// An election failed in a way waiting may cure: try again then.
    BackingOff(Instant),
    /// Giving the key up.
    Resigning(Release),
    /// Over.
    Done,
}

/// The campaign state machine (see the [module docs](self)). Its output is its
/// end, after resigning.
#[derive(Debug)]
pub struct Campaign {
    key: String,
    value: String,
    ttl: u64,
    lease: Arc<Lease>,
    backoff: Backoff,
    state: State,
}

impl Campaign {
    /// Campaign for `key` with `value` and a `ttl` in seconds, leadership kept
    /// in `lease`. A TTL of 0 or over [`crate::ops::MAX_TTL`] is refused.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        lease: Arc<Lease>,
    ) -> Result<Campaign, Error> {
        if ttl == 0 {
            return Err(Error::InvalidArgument {
                name: "ttl",
                reason: "leadership needs a TTL of at least 1 second".into(),
            });
        }
        check_ttl(Some(ttl))?;
        let (key, value) = (key.into(), value.into());
        crate::key::clean(&key)?;
        let election = LeaderMachine::new(key.as_str(), value.as_str(), ttl);
        Ok(Campaign {
            key,
            value,
            ttl,
            lease,
            backoff: Backoff::default(),
            state: State::Electing(Box::new(election)),
        })
    }

    /// The lease leadership is kept in.
    pub fn lease(&self) -> &Arc<Lease> {
        &self.lease
    }

    /// Stop campaigning: give leadership up (deleting the key only while it
    /// holds this campaign's value) and end. Call it between requests (with
    /// none in flight); a request in flight is abandoned.
    pub fn resign(&mut self) {
        if matches!(self.state, State::Resigning(_) | State::Done) {
            return;
        }
        self.lease.end();
        self.state = State::Resigning(Release::key(self.key.as_str(), self.value.as_str()));
    }

    fn elect_again(&mut self) -> State {
        State::Electing(Box::new(LeaderMachine::new(
            self.key.as_str(),
            self.value.as_str(),
            self.ttl,
        )))
    }
}

impl Machine for Campaign {
    super::recipe_machine_types!();
    type Output = ();

    fn poll(&mut self, now: Instant) -> Step<Request, (), ()> {
        // Each pass either answers or moves to a state that answers on the
        // next: at most a few passes, never a recursion.
        for _ in 0..4 {
            let next = match &mut self.state {
                State::Electing(election) => match election.poll(now) {
                    LeaderStep::Send(request) => return Step::Send(request),
                    LeaderStep::SleepUntil(at) => return Step::SleepUntil(at),
                    LeaderStep::Elected { valid_until, .. } => {
                        self.backoff.reset();
                        tracing::info!(key = %self.key, "elected leader");
                        self.lease.gain(valid_until);
                        let renewer = Renewer::held_until(
                            self.key.as_str(),
                            self.value.as_str(),
                            self.ttl,
                            valid_until,
                        );
                        State::Leading(Box::new(KeepAlive::from_renewer(
                            renewer,
                            Arc::clone(&self.lease),
                        )))
                    }
                    LeaderStep::TimedOut => self.elect_again(),
                    LeaderStep::Failed(e) => {
                        let pause = self.backoff.next();
                        tracing::info!(key = %self.key, error = %e, ?pause, "the election failed; trying again");
                        State::BackingOff(self.backoff.after(now))
                    }
                },
                State::Leading(keep_alive) => match keep_alive.poll(now) {
                    Step::Send(request) => return Step::Send(request),
                    Step::SleepUntil(at) => return Step::SleepUntil(at),
                    // Lost (the lease says why, and told its listeners):
                    // campaign again.
                    Step::Done(()) | Step::Event(()) => self.elect_again(),
                },
                State::BackingOff(at) if now < *at => return Step::SleepUntil(*at),
                State::BackingOff(_) => self.elect_again(),
                State::Resigning(release) => match release.poll(now) {
                    Step::Send(request) => return Step::Send(request),
                    Step::SleepUntil(at) => return Step::SleepUntil(at),
                    Step::Done(result) => {
                        if let Ok(true) = result {
                            tracing::info!(key = %self.key, "resigned leadership");
                        }
                        State::Done
                    }
                    Step::Event(()) => continue,
                },
                State::Done => return Step::Done(()),
            };
            self.state = next;
        }
        Step::SleepUntil(now)
    }

    fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        match &mut self.state {
            State::Electing(election) => election.handle(outcome, now),
            State::Leading(keep_alive) => keep_alive.handle(outcome, now),
            State::Resigning(release) => release.handle(outcome, now),
            State::BackingOff(_) | State::Done => Err(Error::Misuse(
                "a campaign outcome with no request in flight".into(),
            )),
        }
    }
}
