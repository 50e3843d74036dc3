//! Giving a key up: [`Release`] deletes a lock's contender key or a leader's key
//! only while it still holds the holder's value (a compare-and-delete), so it
//! never removes someone else's. After an unknown outcome it deletes once more
//! (harmless: the guard makes a second delete of our own key a no-op when the
//! first was applied). A reentrant lock, whose key its handle may not know,
//! finds it by value first. An abandoned acquisition (an async `acquire` whose
//! future was dropped) releases what it made the same way.
//!
//! A failure that waiting may cure (no answer, a 5xx) is tried again, after
//! 100 ms and then 200 ms, before the release gives up with it (a key given up
//! that way still expires with its TTL).
//!
//! A lock contender whose create had an unknown outcome and who created
//! another may find a *stray* later: a key with its value that etcd applied
//! late. [`Release::sweeping`] then lists the directory once the key is
//! released (a quorum read) and deletes every other key still holding the
//! value, listing again after each (at most [`MAX_SWEEPS`] listings); a
//! failure there leaves the stray to its TTL and does not fail the release.
//!
//! The output says whether this release deleted the key (`false`: it was gone
//! already, or held another value).

use std::time::Instant;

use super::{is_transient, Backoff, KeysRequest, Outcome, Request};
use crate::error::Error;
use crate::machine::{output_once, Machine, Step};
use crate::ops::keys;

/// Where a release is.
#[derive(Debug)]
enum State {
    /// List `dir` to find the key holding our value.
    Find { dir: String },
    /// Delete `key` if it holds our value; `again` once an unknown outcome was
    /// retried.
    Delete { key: String, again: bool },
    /// A request is in flight (the state to judge its outcome by).
    InFlight(Box<State>),
    /// A pause after a failure that waiting may cure, then `then` again.
    Paused { until: Instant, then: Box<State> },
    /// Finished; the output, until polled.
    Done(Option<Result<bool, Error>>),
}

/// The release state machine (see the [module docs](self)).
#[derive(Debug)]
pub struct Release {
    value: String,
    state: State,
    /// Failures that waiting may cure, so far.
    failures: u8,
    backoff: Backoff,
    /// The directory to sweep of strays once the key is released.
    sweep: Option<String>,
    /// Whether the key itself was deleted, once known (the output of a
    /// sweeping release).
    released: Option<bool>,
    /// Sweeping listings sent so far.
    sweeps: u8,
}

/// How many listings a sweeping release makes at most (a key deleted per
/// listing: strays come from creates of unknown outcome, one or two at most).
pub const MAX_SWEEPS: u8 = 3;

/// How many failures that waiting may cure a release takes before it gives up.
const TRIES: u8 = 3;

impl Release {
    /// Delete `key` if it holds `value`.
    pub fn key(key: impl Into<String>, value: impl Into<String>) -> Release {
        Release::new(
            value.into(),
            State::Delete {
                key: key.into(),
                again: false,
            },
        )
    }

    /// Find the key holding `value` among `dir`'s children (a reentrant lock's
    /// instance value), and delete it if it still holds it. The listing is a
    /// quorum read: a member behind the others may not show the key yet.
    pub fn find(dir: impl Into<String>, value: impl Into<String>) -> Release {
        Release::new(value.into(), State::Find { dir: dir.into() })
    }

    /// Nothing to release.
    pub fn nothing() -> Release {
        Release::new(String::new(), State::Done(Some(Ok(false))))
    }

    fn new(value: String, state: State) -> Release {
        Release {
            value,
            state,
            failures: 0,
            backoff: Backoff::default(),
            sweep: None,
            released: None,
            sweeps: 0,
        }
    }

    /// Once the key is released (or found gone), list `dir` and delete every
    /// other key still holding the value: the strays a create of unknown
    /// outcome may have left (see the [module docs](self)). The value must be
    /// the caller's own (a lock contender's unique id).
    pub fn sweeping(mut self, dir: impl Into<String>) -> Release {
        if !matches!(self.state, State::Done(_)) {
            self.sweep = Some(dir.into());
        }
        self
    }

    /// After a key was deleted (`deleted`) or found gone, or a listing showed
    /// none holding the value (`clean`): sweep the directory, or finish with
    /// whether the key itself was deleted.
    fn next(&mut self, deleted: bool, clean: bool) -> State {
        let released = *self.released.get_or_insert(deleted);
        match &self.sweep {
            Some(dir) if !clean && self.sweeps < MAX_SWEEPS => {
                self.sweeps += 1;
                State::Find { dir: dir.clone() }
            }
            _ => State::Done(Some(Ok(released))),
        }
    }

    fn request(&self, state: &State) -> Option<Request> {
        match state {
            State::Find { dir } => Some(Request::Keys(KeysRequest::Get(
                keys::Get::new(dir.as_str()).sorted(true).quorum(true),
            ))),
            State::Delete { key, .. } => Some(Request::Keys(KeysRequest::Delete(
                keys::Delete::new(key.as_str()).prev_value(self.value.as_str()),
            ))),
            _ => None,
        }
    }
}

impl Machine for Release {
    super::recipe_machine_types!();
    type Output = Result<bool, Error>;

    fn poll(&mut self, now: Instant) -> Step<Request, (), Result<bool, Error>> {
        if let State::Done(output) = &mut self.state {
            return output_once(output, "release");
        }
        if matches!(self.state, State::InFlight(_)) {
            return Step::Done(Err(Error::Misuse(
                "the release was polled while a request was in flight".into(),
            )));
        }
        if let State::Paused { until, then } = &mut self.state {
            if now < *until {
                return Step::SleepUntil(*until);
            }
            let then = std::mem::replace(&mut **then, State::Done(None));
            self.state = then;
        }
        match self.request(&self.state) {
            Some(request) => {
                let state = std::mem::replace(&mut self.state, State::Done(None));
                self.state = State::InFlight(Box::new(state));
                Step::Send(request)
            }
            None => Step::Done(Err(Error::Misuse("the release has nothing to do".into()))),
        }
    }

    fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        let (State::InFlight(sent), Outcome::Keys(result)) = (&mut self.state, outcome) else {
            return Err(Error::Misuse(
                "a release outcome with no request in flight".into(),
            ));
        };
        let sent = std::mem::replace(&mut **sent, State::Done(None));
        self.state = match (&sent, result) {
            (State::Find { .. }, Ok(listing)) => {
                let found = listing
                    .children()
                    .iter()
                    .find(|n| !n.dir && n.value.as_deref() == Some(self.value.as_str()));
                match found {
                    Some(node) => State::Delete {
                        key: node.key.clone(),
                        again: false,
                    },
                    None => self.next(false, true),
                }
            }
            (State::Find { .. }, Err(e)) if e.is_key_not_found() => self.next(false, true),
            (State::Delete { again: false, .. }, Ok(_)) => self.next(true, false),
            (State::Delete { again: false, .. }, Err(e))
                if e.is_key_not_found() || e.is_precondition_failed() =>
            {
                self.next(false, false)
            }
            // The delete may have been applied (no answer, or one that could
            // not be read, perhaps a 200): delete once more to find out.
            (
                State::Delete { key, again: false },
                Err(Error::OutcomeUnknown { .. } | Error::Decode { .. }),
            ) => State::Delete {
                key: key.clone(),
                again: true,
            },
            // The second delete: gone now either way, and ours did it.
            (State::Delete { again: true, .. }, Ok(_)) => self.next(true, false),
            (State::Delete { again: true, .. }, Err(e))
                if e.is_key_not_found() || e.is_precondition_failed() =>
            {
                self.next(true, false)
            }
            // No answer, or a 5xx: the same request again, a little later.
            (_, Err(e)) if is_transient(&e) && self.failures + 1 < TRIES => {
                self.failures += 1;
                State::Paused {
                    until: self.backoff.after(now),
                    then: Box::new(sent),
                }
            }
            // A sweep that fails leaves its strays to their TTL: the key
            // itself is released.
            (_, Err(_)) if self.released.is_some() => {
                State::Done(Some(Ok(self.released == Some(true))))
            }
            (_, Err(e)) => State::Done(Some(Err(e))),
            (state, Ok(_)) => {
                return Err(Error::Misuse(format!(
                    "a release outcome in an unexpected state {state:?}"
                )))
            }
        };
        Ok(())
    }
}
