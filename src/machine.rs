//! The one shape of every multi-step protocol in the client: a [`Machine`].
//!
//! A machine is pure: it is told the time (`now`) and the outcome of each
//! request, and says what to do next ([`Step`]). It never sends, sleeps or reads
//! a clock, so the same machine runs under the blocking and the async client
//! (one driver each, in `client::driver`), on virtual time in tests, and under
//! the fuzzer. At most one request is in flight at a time.
//!
//! | machine | request | event | output |
//! |---|---|---|---|
//! | [`crate::watch::Watcher`] | [`crate::watch::Request`] | a [`crate::watch::WatchEvent`] | the watch's end |
//! | [`crate::recipes::lock::LockMachine`] | [`crate::recipes::Request`] | — | the acquisition |
//! | [`crate::recipes::leader::LeaderMachine`] | [`crate::recipes::Request`] | — | the election |
//! | [`crate::recipes::renew::Renewer`] | [`crate::recipes::Request`] | — | the loss |
//! | [`crate::recipes::renew::KeepAlive`] | [`crate::recipes::Request`] | — | the lease's end |
//! | [`crate::recipes::release::Release`] | [`crate::recipes::Request`] | — | whether it deleted the key |
//! | [`crate::recipes::campaign::Campaign`] | [`crate::recipes::Request`] | — | the resignation |
//! | `crate::bridge::Call` (feature `bridge`) | a v3 transaction | — | etcd v2's answer |
//!
//! Driving one by hand:
//!
//! ```
//! use std::time::Instant;
//! use etcd_v2::machine::{Machine, Step};
//! use etcd_v2::recipes::release::Release;
//! use etcd_v2::recipes::{Outcome, Request};
//!
//! let mut release = Release::key("/_locks/job/00000000000000000007", "my-id");
//! let now = Instant::now();
//! let Step::Send(Request::Keys(delete)) = Machine::poll(&mut release, now) else { panic!() };
//! // ... run `delete` (a compare-and-delete) through a client; say it was gone already:
//! let gone = etcd_v2::Error::Misuse("stand-in".into());
//! # let _ = gone;
//! # let missing = http::Response::builder().status(404)
//! #     .body(br#"{"errorCode":100,"message":"Key not found","index":9}"#.to_vec()).unwrap();
//! # let answer = etcd_v2::Operation::parse(&delete, missing);
//! Machine::handle(&mut release, Outcome::Keys(answer.map(Box::new)), now).unwrap();
//! assert!(matches!(Machine::poll(&mut release, now), Step::Done(Ok(false))));
//! ```

use std::time::Instant;

use crate::error::Error;

/// Hand out a finished machine's output once; a later poll is misuse.
pub(crate) fn output_once<R, T>(
    output: &mut Option<Result<T, Error>>,
    what: &str,
) -> Step<R, (), Result<T, Error>> {
    Step::Done(
        output
            .take()
            .unwrap_or_else(|| Err(Error::Misuse(format!("the {what} has finished")))),
    )
}

/// What a [`Machine`] asks of its driver next; each variant is one duty.
#[derive(Debug)]
pub enum Step<Request, Event, Output> {
    /// Run this request and hand its outcome to [`Machine::handle`]; poll
    /// again after that.
    Send(Request),
    /// Nothing to do before this instant (a backoff, a renewal's time); poll
    /// again then.
    SleepUntil(Instant),
    /// Report this event; poll again.
    Event(Event),
    /// The machine has finished, with this output. Polling again is misuse.
    Done(Output),
}

/// A multi-step protocol as a pure state machine (see the [module docs](self)).
pub trait Machine {
    /// The requests it asks to have run.
    type Request;
    /// Their outcomes, handed back.
    type Outcome;
    /// What it reports along the way.
    type Event;
    /// What it ends with.
    type Output;

    /// What to do next, at `now`.
    fn poll(&mut self, now: Instant) -> Step<Self::Request, Self::Event, Self::Output>;

    /// Hand over the outcome of the request last sent, at `now`. An outcome
    /// with no request in flight, or of the wrong kind, is refused with
    /// [`Error::Misuse`] and changes nothing.
    fn handle(&mut self, outcome: Self::Outcome, now: Instant) -> Result<(), Error>;

    /// Forget the request in flight, whose outcome will never be handed over
    /// (an async driver's future was dropped, or a stop abandoned it); the
    /// machine may issue it again. By default nothing can be abandoned safely:
    /// the machine is finished with an error.
    fn abandon(&mut self) {}
}
