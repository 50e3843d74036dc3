//! What the watcher takes and gives: the events it reports, the requests it
//! needs run, their outcomes, and its next step.

use std::time::Instant;

use crate::error::Error;
use crate::ops::keys::{self, WaitOutcome};
use crate::response::KeysResponse;

/// What a watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A change, in index order, each reported once.
    Change(Box<KeysResponse>),
    /// The watcher fell more than etcd's 1000 events behind (errorCode 401): the
    /// changes in between are lost, and this is the watched key's state instead
    /// (`None` if it does not exist), read at `index`. Changes after `index`
    /// follow. (A non-recursive watch whose key is there, unchanged since the
    /// index it waited from, lost nothing and reports no resync.)
    Resync {
        /// The key's state (recursive for a recursive watch), or `None`.
        snapshot: Option<Box<KeysResponse>>,
        /// The store index the snapshot was read at.
        index: u64,
    },
}

impl WatchEvent {
    /// The index of the change, or of the snapshot.
    pub fn index(&self) -> u64 {
        match self {
            WatchEvent::Change(c) => c.node.modified_index,
            WatchEvent::Resync { index, .. } => *index,
        }
    }
}

/// A request the watcher needs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Read the store index ("now").
    CurrentIndex(keys::CurrentIndex),
    /// Long-poll for the next event.
    Wait(keys::Wait),
    /// Read the key's state after errorCode 401.
    Snapshot(keys::Get),
}

/// The outcome of a [`Request`], to hand back with [`super::Watcher::handle`].
#[derive(Debug)]
pub enum Outcome {
    /// The outcome of [`Request::CurrentIndex`].
    CurrentIndex(Result<u64, Error>),
    /// The outcome of [`Request::Wait`].
    Wait(Result<WaitOutcome, Error>),
    /// The outcome of [`Request::Snapshot`].
    Snapshot(Result<Box<KeysResponse>, Error>),
}

/// What the driver must do next.
#[derive(Debug)]
pub enum Step {
    /// Run this request and hand its outcome to [`super::Watcher::handle`].
    Send(Request),
    /// Report this event.
    Emit(WatchEvent),
    /// Nothing to do before this instant (a backoff); poll again then.
    SleepUntil(Instant),
    /// The watch failed for good with this error; polling again gives
    /// [`Step::Finished`].
    Failed(Error),
    /// The watch is over.
    Finished,
}

/// Which request is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InFlight {
    CurrentIndex,
    Wait,
    Snapshot,
}

/// Where the watcher is.
#[derive(Debug)]
pub(super) enum State {
    /// Ready to send its next request (not before `not_before`, a backoff):
    /// a snapshot if `resync` (errorCode 401 was seen), else a wait (or, with
    /// no index known yet, a read of the current index).
    Ready {
        not_before: Option<Instant>,
        resync: bool,
    },
    /// A request is in flight.
    InFlight(InFlight),
    /// Failed for good; the error until polled once.
    Failed(Error),
    /// Over.
    Finished,
}
