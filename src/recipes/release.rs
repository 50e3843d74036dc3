//! Giving a key up: [`Release`] deletes a lock's contender key or a leader's key
//! only while it still holds the holder's value (a compare-and-delete), so it
//! never removes someone else's. After an unknown outcome it deletes once more
//! (harmless: the guard makes a second delete of our own key a no-op when the
//! first was applied). A reentrant lock, whose key its handle may not know,
//! finds it by value first. An abandoned acquisition (an async `acquire` whose
//! future was dropped) releases what it made the same way.
//!
//! The output says whether this release deleted the key (`false`: it was gone
//! already, or held another value).

use std::time::Instant;

use super::{KeysRequest, Outcome, Request};
use crate::error::Error;
use crate::machine::{Machine, Step};
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
    /// Finished; the output, until polled.
    Done(Option<Result<bool, Error>>),
}

/// The release state machine (see the [module docs](self)).
#[derive(Debug)]
pub struct Release {
    value: String,
    state: State,
}

impl Release {
    /// Delete `key` if it holds `value`.
    pub fn key(key: impl Into<String>, value: impl Into<String>) -> Release {
        Release {
            value: value.into(),
            state: State::Delete {
                key: key.into(),
                again: false,
            },
        }
    }

    /// Find the key holding `value` among `dir`'s children (a reentrant lock's
    /// instance value), and delete it if it still holds it.
    pub fn find(dir: impl Into<String>, value: impl Into<String>) -> Release {
        Release {
            value: value.into(),
            state: State::Find { dir: dir.into() },
        }
    }

    /// Nothing to release.
    pub fn nothing() -> Release {
        Release {
            value: String::new(),
            state: State::Done(Some(Ok(false))),
        }
    }

    fn request(&self, state: &State) -> Option<Request> {
        match state {
            State::Find { dir } => Some(Request::Keys(KeysRequest::Get(
                keys::Get::new(dir.as_str()).sorted(true),
            ))),
            State::Delete { key, .. } => Some(Request::Keys(KeysRequest::Delete(
                keys::Delete::new(key.as_str()).prev_value(self.value.as_str()),
            ))),
            _ => None,
        }
    }
}

impl Machine for Release {
    type Request = Request;
    type Outcome = Outcome;
    type Event = ();
    type Output = Result<bool, Error>;

    fn poll(&mut self, _now: Instant) -> Step<Request, (), Result<bool, Error>> {
        if let State::Done(output) = &mut self.state {
            return Step::Done(
                output
                    .take()
                    .unwrap_or_else(|| Err(Error::Misuse("the release has finished".into()))),
            );
        }
        if matches!(self.state, State::InFlight(_)) {
            return Step::Done(Err(Error::Misuse(
                "the release was polled while a request was in flight".into(),
            )));
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

    fn handle(&mut self, outcome: Outcome, _now: Instant) -> Result<(), Error> {
        let (State::InFlight(sent), Outcome::Keys(result)) = (&self.state, outcome) else {
            return Err(Error::Misuse(
                "a release outcome with no request in flight".into(),
            ));
        };
        self.state = match (&**sent, result) {
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
                    None => State::Done(Some(Ok(false))),
                }
            }
            (State::Find { .. }, Err(e)) if e.is_key_not_found() => State::Done(Some(Ok(false))),
            (State::Delete { again: false, .. }, Ok(_)) => State::Done(Some(Ok(true))),
            (State::Delete { again: false, .. }, Err(e))
                if e.is_key_not_found() || e.is_precondition_failed() =>
            {
                State::Done(Some(Ok(false)))
            }
            // The delete may have been applied: delete once more to find out.
            (State::Delete { key, again: false }, Err(Error::OutcomeUnknown { .. })) => {
                State::Delete {
                    key: key.clone(),
                    again: true,
                }
            }
            // The second delete: gone now either way, and ours did it.
            (State::Delete { again: true, .. }, Ok(_)) => State::Done(Some(Ok(true))),
            (State::Delete { again: true, .. }, Err(e))
                if e.is_key_not_found() || e.is_precondition_failed() =>
            {
                State::Done(Some(Ok(true)))
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
