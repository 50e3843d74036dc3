//! A key held under a TTL: [`Lease`]. Holding a lock or leading is a lease,
//! not a fact: it ends once the TTL has passed since the last successful write
//! of the key was *sent* (etcd starts the TTL when it applies the write, never
//! before it was sent), whether or not anything noticed, because etcd may have
//! expired the key by then. A lease is shared by a handle (`Lock::is_held`,
//! `Campaign::is_leader`) and the machine renewing it; the first to notice the
//! end records it, once, and tells the listeners.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use etcd_v2::recipes::lease::Lease;
//! let t = Instant::now();
//! let lease = Lease::held("/_locks/job/00000000000000000007", Some(t + Duration::from_secs(10)));
//! assert!(lease.holds(t + Duration::from_secs(9)));
//! assert!(!lease.holds(t + Duration::from_secs(10)));
//! assert_eq!(lease.lost_reason().as_deref(), Some(etcd_v2::recipes::lease::TTL_RAN_OUT));
//! ```

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::Error;

/// Why a lease ended on its own.
pub const TTL_RAN_OUT: &str = "its TTL ran out before a renewal succeeded";

/// A key held under a TTL (a lock's contender key, a leader's key), as its
/// handle and the background work renewing it both see it.
///
/// Holding is a lease: it ends once the TTL has passed since the last
/// successful write of the key was *sent*, whether or not anything noticed,
/// because etcd may have expired the key by then. The first to notice (a
/// handle's `is_held`/`is_leader`, or the renewal loop) records the loss, once,
/// and reports it while holding the lease's lock, so that a reported event and
/// the state never disagree.
pub struct Lease {
    /// The key held (for traces).
    key: String,
    state: Mutex<LeaseState>,
}

/// What changed about a lease, as its listeners are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseChange<'a> {
    /// The key was gained (or gained again): held from now.
    Gained,
    /// The key was lost, for this reason.
    Lost(&'a str),
}

/// Told every change of a lease, while the lease's lock is held (so a reported
/// event and the state never disagree): a keep-alive's or a campaign's event
/// queue.
pub type Listener = Box<dyn Fn(LeaseChange<'_>) + Send + Sync>;

struct LeaseState {
    holding: bool,
    /// `None` while nothing confirmed the key yet (a keep-alive of a key whose
    /// last write the caller did not say).
    valid_until: Option<Instant>,
    lost: Option<String>,
    listeners: Vec<Listener>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("holding", &state.holding)
            .field("valid_until", &state.valid_until)
            .field("lost", &state.lost)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// `key`, held until `valid_until` (unknown: `None`).
    pub fn held(key: &str, valid_until: Option<Instant>) -> Arc<Lease> {
        Arc::new(Lease {
            key: key.to_owned(),
            state: Mutex::new(LeaseState {
                holding: true,
                valid_until,
                lost: None,
                listeners: Vec::new(),
            }),
        })
    }

    /// `key`, not held (yet).
    pub fn none(key: &str) -> Arc<Lease> {
        Arc::new(Lease {
            key: key.to_owned(),
            state: Mutex::new(LeaseState {
                holding: false,
                valid_until: None,
                lost: None,
                listeners: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LeaseState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key held.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Tell `listener` every gain and loss of this lease, whoever notices.
    pub fn listen(&self, listener: Listener) {
        self.lock().listeners.push(listener);
    }

    fn record_loss(&self, state: &mut LeaseState, reason: &str) {
        tracing::warn!(key = %self.key, reason, "lost: the key is no longer held");
        state.holding = false;
        state.lost = Some(reason.to_owned());
        for listener in &state.listeners {
            listener(LeaseChange::Lost(reason));
        }
    }

    fn check(&self, state: &mut LeaseState, now: Instant) {
        if state.holding && state.valid_until.is_some_and(|v| now >= v) {
            self.record_loss(state, TTL_RAN_OUT);
        }
    }

    /// Whether the key is held at `now`. The first call after the lease ran
    /// out records the loss and tells the listeners.
    pub fn holds(&self, now: Instant) -> bool {
        let mut state = self.lock();
        self.check(&mut state, now);
        state.holding
    }

    /// A renewal succeeded: the key is held until `valid_until`. False if the
    /// lease had ended before (lost, or released): the renewal came too late to
    /// count.
    pub fn renewed(&self, valid_until: Instant, now: Instant) -> bool {
        let mut state = self.lock();
        self.check(&mut state, now);
        if state.holding {
            state.valid_until = Some(valid_until);
        }
        state.holding
    }

    /// The key was (re)gained, held until `valid_until`; the listeners are
    /// told.
    pub fn gain(&self, valid_until: Instant) {
        let mut state = self.lock();
        state.holding = true;
        state.valid_until = Some(valid_until);
        state.lost = None;
        for listener in &state.listeners {
            listener(LeaseChange::Gained);
        }
    }

    /// The key is lost for `reason` (the listeners are told, if it was held
    /// until now).
    pub fn lose(&self, reason: &str) {
        let mut state = self.lock();
        if state.holding {
            self.record_loss(&mut state, reason);
        }
    }

    /// The holder gave the key up (released, resigned): not a loss. Whether it
    /// was still held.
    pub fn end(&self) -> bool {
        std::mem::replace(&mut self.lock().holding, false)
    }

    /// Why the lease was lost, if it was.
    pub fn lost_reason(&self) -> Option<String> {
        self.lock().lost.clone()
    }

    /// Until when the key is surely held, once known.
    pub fn valid_until(&self) -> Option<Instant> {
        self.lock().valid_until
    }
}

/// The error a lost key is reported with.
pub fn lost(key: &str, reason: &str) -> Error {
    Error::LockLost {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}
