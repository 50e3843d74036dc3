//! The lock machine's states: its phase, where it is, how it finished, and
//! what it knows of its own key.

use std::time::Instant;

use super::Held;
use crate::error::Error;
use crate::recipes::release::Release;

/// What the machine does next, once ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// List and look for our id; create if it is not there.
    Find,
    Create,
    List,
    Wait {
        pred: String,
        index: u64,
    },
    Refresh,
    /// Delete a stray: another key holding our id (left by a create of
    /// unknown outcome that etcd applied late, or by an earlier acquisition
    /// whose release failed).
    DeleteStray {
        key: String,
    },
}

/// Where the machine is.
#[derive(Debug)]
pub(super) enum State {
    /// Ready to send `phase`'s request (not before `not_before`, a backoff).
    Ready {
        phase: Phase,
        not_before: Option<Instant>,
    },
    /// `phase`'s request is in flight, sent at `sent`.
    InFlight { phase: Phase, sent: Instant },
    /// Leaving without the lock: `release` undoes what the machine made (its
    /// key, and any strays), then it finishes (timed out, or not acquired).
    Leaving {
        release: Box<Release>,
        timed_out: bool,
    },
    /// Finished.
    Done(Finish),
}

#[derive(Debug)]
pub(super) enum Finish {
    Acquired(Held),
    NotAcquired,
    TimedOut,
    /// The error, until polled once.
    Failed(Option<Error>),
}

/// The contender's own key, once known.
#[derive(Debug, Clone)]
pub(super) struct Mine {
    pub(super) key: String,
    pub(super) index: u64,
    /// Until when it is surely ours (`None`: not known yet, refresh first).
    pub(super) valid_until: Option<Instant>,
    /// When a waiting contender next refreshes it.
    pub(super) refresh_at: Instant,
    /// Whether this machine created it (rather than finding a reentrant
    /// holder's key).
    pub(super) created: bool,
}

/// What the machine knows of its own key: one of three, never two at once.
#[derive(Debug, Clone)]
pub(super) enum Ours {
    /// No key, and no create whose outcome is unknown.
    Nothing,
    /// A create was sent whose outcome is not known yet: a key with this
    /// contender's id may exist.
    Pending,
    /// The key.
    Known(Mine),
}

/// Ready to send `phase`'s request at once.
pub(super) fn ready(phase: Phase) -> State {
    State::Ready {
        phase,
        not_before: None,
    }
}
