//! The watcher: a state machine that turns etcd's one-event long polls into a
//! stream that never loses or repeats an event. It is told the time and the
//! outcome of each request, and says what to do next ([`Step`]); drivers
//! ([`crate::client::Watch`], the async client) execute its requests through the
//! endpoint pool.
//!
//! Rules:
//! - it starts from a given index, or from "now": the store index read through
//!   raft ([`keys::CurrentIndex::quorum`]: a cut-off member cannot answer it
//!   with an old index, even for a key that does not exist), plus one;
//! - after each event the next `waitIndex` is that event's `modifiedIndex + 1`;
//! - an empty 200 (etcd closing an idle watch) moves the index on to the
//!   answer's `X-Etcd-Index + 1` (etcd had no event for the key up to there
//!   when the watch began), so a quiet key on a busy cluster does not fall out
//!   of etcd's 1000-event history; the wait is re-issued at once, or after a
//!   backoff when the empty answer came within a second (no server should
//!   keep a client polling without a pause);
//! - the long-poll timeout re-issues the wait at the same index, at once;
//! - a transient failure (no answer, a 5xx, every endpoint failing) re-issues the
//!   wait at the same index after a backoff (100 ms doubling to 5 s); the
//!   endpoint pool moves it to the next endpoint (with
//!   [`Watcher::retry_failures`] off, it ends the watch, as etcdctl's);
//! - errorCode 401 (etcd keeps only the last 1000 events) makes it read the
//!   watched key (recursively for a recursive watch, with a quorum read so
//!   that a lagging member cannot answer; after a backoff when no wait has
//!   worked since the last resync, so a cluster making over 1000 changes within
//!   a round trip is not read in a loop), emit a [`WatchEvent::Resync`] carrying
//!   that state and its index, and continue from that index + 1 (a
//!   non-recursive watch whose key exists, unchanged since the index the
//!   refused wait asked for, lost nothing: it continues without a resync, so
//!   a quiet key on a busy cluster is not resynced after each long-poll
//!   timeout); a snapshot
//!   older than what the watch already covers is read again after a backoff,
//!   so a watch never goes back in time;
//! - an event at or below the last index reported is dropped, so nothing is
//!   reported twice, whatever a member replays after a failover;
//! - any other error (unauthorised, not a directory, a bad key) ends the watch.
//!
//! etcd's own behaviour, which no client can change:
//! - a TTL refresh (`refresh=true`) does not wake watchers, and a replay from an
//!   older index skips it too;
//! - a live recursive watch does not report changes to hidden children (keys
//!   whose last segment starts with `_`), but a replay from an older index does;
//! - a non-recursive watch on a directory ignores its children;
//! - when a directory expires, watchers of its children get the directory's
//!   `expire` event.
//!
//! ```
//! use std::time::Instant;
//! use etcd_v2::watch::{Outcome, Request, Step, WatchEvent, Watcher};
//! use etcd_v2::ops::keys::WaitOutcome;
//!
//! let t = Instant::now();
//! let mut w = Watcher::new("/config", true).from_index(10);
//! let Step::Send(Request::Wait(wait)) = w.poll(t) else { panic!() };
//! assert_eq!(wait.index(), Some(10));
//! // ... run `wait` through a client, then report what came back:
//! let body = br#"{"action":"set","node":{"key":"/config/a","value":"1","modifiedIndex":12,"createdIndex":12}}"#;
//! let response = http::Response::builder().status(200).body(body.to_vec()).unwrap();
//! let event = etcd_v2::Operation::parse(&wait, response);
//! w.handle(Outcome::Wait(event), t).unwrap();
//! let Step::Emit(WatchEvent::Change(change)) = w.poll(t) else { panic!() };
//! assert_eq!(change.node.modified_index, 12);
//! let Step::Send(Request::Wait(next)) = w.poll(t) else { panic!() };
//! assert_eq!(next.index(), Some(13));
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode};
use crate::machine::{self, Machine};
use crate::ops::keys::{self, WaitOutcome};
use crate::recipes::{is_poll_timeout, is_quick, Backoff};

mod types;

use types::{InFlight, State};
pub use types::{Outcome, Request, Step, WatchEvent};

/// The largest backoff after a transient failure (the first is 100 ms).
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The watch state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Watcher {
    key: String,
    recursive: bool,
    resync: bool,
    /// A failure that waiting may cure is waited out (else it ends the watch).
    retry: bool,
    /// The index the next wait asks for, once known.
    next_index: Option<u64>,
    /// The index of the last event reported.
    last_reported: Option<u64>,
    /// Events decided but not yet handed out.
    pending: VecDeque<WatchEvent>,
    backoff: Backoff,
    /// When the request in flight (or the last one) was sent.
    sent: Option<Instant>,
    /// No wait has worked since the last resync: a 401 now is read again only
    /// after a pause.
    resynced: bool,
    /// The index waited from is the watcher's own (read from the store as
    /// "now", or moved on by a wait that came back: with an event, empty, or
    /// at its long-poll timeout), not the one the caller gave, whose 401
    /// without resync ends the watch as etcdctl's does.
    own_index: bool,
    /// Without resync: the 401 that ends the watch unless the snapshot being
    /// read shows the key unchanged.
    refused: Option<Error>,
    state: State,
}

impl Watcher {
    /// Watch `key` (and, if `recursive`, everything below it) from "now".
    pub fn new(key: impl Into<String>, recursive: bool) -> Watcher {
        Watcher {
            key: key.into(),
            recursive,
            resync: true,
            retry: true,
            next_index: None,
            last_reported: None,
            pending: VecDeque::new(),
            backoff: Backoff::up_to(BACKOFF_MAX),
            sent: None,
            resynced: false,
            own_index: false,
            refused: None,
            state: State::Ready {
                not_before: None,
                resync: false,
            },
        }
    }

    setter!(
        /// Start at `index` (the first event reported has `modifiedIndex >= index`;
        /// past events are replayed if etcd still has them).
        from_index(index: u64) -> next_index = Some(index.max(1));

        /// Whether errorCode 401 leads to a [`WatchEvent::Resync`] (the default) or
        /// ends the watch with that error. Either way, a non-recursive watch
        /// whose key is there, unchanged since the index the refused wait asked
        /// for, goes on without either (nothing was lost); without resync this
        /// is not checked for a first wait from the index given to
        /// [`Watcher::from_index`], which fails as etcdctl's does.
        resync_on_cleared_history(resync: bool) -> resync = resync;

        /// Whether a failure that waiting may cure (no member answers, a 5xx)
        /// is waited out, after a growing pause (the default), or ends the
        /// watch with that error, as etcdctl's watch ends.
        retry_failures(retry: bool) -> retry = retry
    );

    /// Start after `index`, the store index the caller read as "now" (what
    /// [`Watcher::new`] reads itself when given no index): the first event
    /// reported has `modifiedIndex > index`. Unlike [`Watcher::from_index`],
    /// the index is the watcher's own: without resync, a first wait that etcd
    /// refuses with 401 is still checked against the key.
    pub fn after_store_index(mut self, index: u64) -> Watcher {
        self.next_index = Some(index.saturating_add(1));
        self.own_index = true;
        self
    }

    /// The index the next wait will ask for, once known.
    pub fn next_index(&self) -> Option<u64> {
        self.next_index
    }

    /// The key watched.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Forget the request in flight, whose outcome will never be handed over
    /// (an async driver's future was dropped): the next poll issues it again.
    /// Every request of the watcher is safe to repeat. Does nothing when no
    /// request is in flight.
    pub fn cancel_in_flight(&mut self) {
        if let State::InFlight(kind) = self.state {
            self.state = State::Ready {
                not_before: None,
                resync: kind == InFlight::Snapshot,
            };
        }
    }

    /// Stop: the next poll gives [`Step::Finished`] (a request in flight may be
    /// abandoned; its outcome is then ignored).
    pub fn finish(&mut self) {
        self.state = State::Finished;
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> Step {
        if matches!(self.state, State::Finished) {
            return Step::Finished;
        }
        if let Some(event) = self.pending.pop_front() {
            return Step::Emit(event);
        }
        match &self.state {
            State::Failed(_) => {
                let State::Failed(err) = std::mem::replace(&mut self.state, State::Finished) else {
                    return Step::Finished;
                };
                return Step::Failed(err);
            }
            State::InFlight(_) => {
                return Step::Failed(Error::Misuse(
                    "the watcher was polled while a request was in flight; hand its outcome to handle() first".into(),
                ))
            }
            State::Ready {
                not_before: Some(at),
                ..
            } if now < *at => return Step::SleepUntil(*at),
            State::Ready { .. } | State::Finished => {}
        }
        let resync = matches!(self.state, State::Ready { resync: true, .. });
        let (in_flight, request) = if resync {
            (
                InFlight::Snapshot,
                Request::Snapshot(
                    keys::Get::new(self.key.as_str())
                        .recursive(self.recursive)
                        .sorted(true)
                        .quorum(true),
                ),
            )
        } else {
            match self.next_index {
                None => (
                    InFlight::CurrentIndex,
                    Request::CurrentIndex(keys::CurrentIndex::new(self.key.as_str()).quorum(true)),
                ),
                Some(index) => (
                    InFlight::Wait,
                    Request::Wait(
                        keys::Wait::new(self.key.as_str())
                            .recursive(self.recursive)
                            .wait_index(index),
                    ),
                ),
            }
        };
        self.state = State::InFlight(in_flight);
        self.sent = Some(now);
        Step::Send(request)
    }

    /// Hand over the outcome of the request last sent. An outcome that does not
    /// match it is refused with [`Error::Misuse`] (and changes nothing).
    pub fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        let expected = match &self.state {
            State::Finished => return Ok(()),
            State::InFlight(kind) => Some(*kind),
            _ => None,
        };
        let matches = matches!(
            (&outcome, expected),
            (Outcome::CurrentIndex(_), Some(InFlight::CurrentIndex))
                | (Outcome::Wait(_), Some(InFlight::Wait))
                | (Outcome::Snapshot(_), Some(InFlight::Snapshot))
        );
        if !matches {
            return Err(Error::Misuse(format!(
                "the watcher got {} while waiting for {expected:?}",
                match outcome {
                    Outcome::CurrentIndex(_) => "a current-index outcome",
                    Outcome::Wait(_) => "a wait outcome",
                    Outcome::Snapshot(_) => "a snapshot outcome",
                }
            )));
        }
        self.state = State::Ready {
            not_before: None,
            resync: expected == Some(InFlight::Snapshot),
        };
        match outcome {
            Outcome::CurrentIndex(Ok(index)) => {
                self.succeeded();
                self.own_index = true;
                self.next_index = Some(index.saturating_add(1));
            }
            Outcome::Wait(Ok(WaitOutcome::Idle { cluster })) => {
                let sent = self.sent.unwrap_or(now);
                let from = self.next_index.unwrap_or(1);
                let (next, pause) = self.backoff.after_idle(from, &cluster, sent, now);
                self.next_index = Some(next);
                match pause {
                    Some(at) => {
                        self.state = State::Ready {
                            not_before: Some(at),
                            resync: false,
                        }
                    }
                    None => self.wait_worked(),
                }
            }
            Outcome::Wait(Ok(WaitOutcome::Event(event))) => {
                let index = event.node.modified_index;
                if index < self.next_index.unwrap_or(0)
                    || self.last_reported.is_some_and(|l| index <= l)
                {
                    // A replay of something already reported (or older than asked
                    // for): never report twice. Answered at once, it is paced,
                    // as an empty answer is.
                    if self.sent.is_some_and(|sent| is_quick(sent, now)) {
                        self.back_off(now);
                    }
                    return Ok(());
                }
                self.wait_worked();
                self.next_index = Some(index.saturating_add(1));
                self.last_reported = Some(index);
                self.pending.push_back(WatchEvent::Change(event));
            }
            Outcome::Snapshot(result) => {
                let (snapshot, index) = match result {
                    Ok(r) => {
                        let index = r.cluster.etcd_index.unwrap_or(r.node.modified_index);
                        (Some(r), index)
                    }
                    Err(e) if e.is_key_not_found() => {
                        let index = e
                            .etcd()
                            .map(|e| e.cluster.etcd_index.unwrap_or(e.index))
                            .unwrap_or(0);
                        (None, index)
                    }
                    Err(e) => {
                        self.failure(e, now);
                        return Ok(());
                    }
                };
                // The watch already covers everything below `next_index`: a
                // snapshot older than that (a lagging member) would take it
                // backwards, so read again after a pause.
                let covered = self
                    .next_index
                    .map_or(0, |n| n.saturating_sub(1))
                    .max(self.last_reported.unwrap_or(0));
                if index < covered {
                    self.back_off(now);
                    return Ok(());
                }
                // A key that exists and was last changed before the index the
                // refused wait asked for has had no event since (every change
                // but a TTL refresh is an event, and each moves its
                // modifiedIndex): nothing was lost, so there is nothing to
                // report. Not a directory (a TTL update is an event that leaves
                // its modifiedIndex as it was), and not for a recursive watch (a
                // deleted child leaves no trace).
                let unchanged = !self.recursive
                    && snapshot.as_ref().is_some_and(|s| {
                        !s.node.dir && s.node.modified_index < self.next_index.unwrap_or(0)
                    });
                if let Some(refused) = self.refused.take() {
                    if !unchanged {
                        // Without resync: something may be lost, as refused.
                        self.state = State::Failed(refused);
                        return Ok(());
                    }
                }
                // The backoff is not reset: only a wait that works is progress
                // (a cluster past the history again by the next wait is read
                // again after a longer pause).
                self.resynced = true;
                self.state = State::Ready {
                    not_before: None,
                    resync: false,
                };
                self.next_index = Some(index.saturating_add(1));
                if !unchanged {
                    self.last_reported = Some(index);
                    self.pending
                        .push_back(WatchEvent::Resync { snapshot, index });
                }
            }
            Outcome::CurrentIndex(Err(e)) | Outcome::Wait(Err(e)) => self.failure(e, now),
        }
        Ok(())
    }

    fn back_off(&mut self, now: Instant) {
        let resync = matches!(self.state, State::Ready { resync: true, .. });
        self.state = State::Ready {
            not_before: Some(self.backoff.after(now)),
            resync,
        };
    }

    fn succeeded(&mut self) {
        self.backoff.reset();
    }

    /// A wait came back with an event or, after a while, without one: the
    /// backoff starts over, a 401 next is read at once, and the index waited
    /// from is the watcher's own.
    fn wait_worked(&mut self) {
        self.succeeded();
        self.resynced = false;
        self.own_index = true;
    }

    fn failure(&mut self, err: Error, now: Instant) {
        if err.code() == Some(ErrorCode::EventIndexCleared) {
            // Without resync, a non-recursive watch still reads the key: if it
            // is unchanged, nothing was lost and the watch goes on (but a first
            // wait from the caller's index that etcd has dropped fails at once,
            // as etcdctl's does).
            let check = !self.resync && self.own_index && !self.recursive;
            if self.resync || check {
                if check {
                    self.refused = Some(err);
                }
                self.state = State::Ready {
                    not_before: self.resynced.then(|| self.backoff.after(now)),
                    resync: true,
                };
                return;
            }
        }
        if is_poll_timeout(&err) {
            // The poll simply ran its course: poll again at once. One that
            // lasted is a wait that worked (a 401 next is read at once).
            self.own_index = true;
            if self.sent.is_some_and(|sent| !is_quick(sent, now)) {
                self.resynced = false;
            }
            return;
        }
        if is_transient(&err) && self.retry {
            self.back_off(now);
            return;
        }
        self.state = State::Failed(err);
    }
}

impl Machine for Watcher {
    type Request = Request;
    type Outcome = Outcome;
    type Event = WatchEvent;
    /// How the watch ended: stopped (`Ok`) or failed for good.
    type Output = Result<(), Error>;

    fn poll(&mut self, now: Instant) -> machine::Step<Request, WatchEvent, Result<(), Error>> {
        match Watcher::poll(self, now) {
            Step::Send(request) => machine::Step::Send(request),
            Step::Emit(event) => machine::Step::Event(event),
            Step::SleepUntil(at) => machine::Step::SleepUntil(at),
            Step::Failed(e) => machine::Step::Done(Err(e)),
            Step::Finished => machine::Step::Done(Ok(())),
        }
    }

    fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        Watcher::handle(self, outcome, now)
    }

    fn abandon(&mut self) {
        self.cancel_in_flight();
    }
}

/// Failures worth waiting out: no answer, a server error, every endpoint down.
fn is_transient(err: &Error) -> bool {
    match err {
        Error::Transport { .. }
        | Error::DeadlineExceeded(_)
        | Error::ClusterIdMismatch { .. }
        | Error::StaleRead { .. } => true,
        Error::AllEndpointsFailed { .. } => true,
        Error::OutcomeUnknown { source } => is_transient(source),
        Error::Etcd(e) => e.status >= 500,
        Error::Api { status, .. } | Error::Http { status, .. } => *status >= 500,
        Error::Decode { .. } => true,
        _ => false,
    }
}
