//! What the recipes' background work shares with the handles that started it:
//! the [`Lease`] a key is held under, the event queue and stop flag of a
//! background loop, and [`KeepAlive`], a background renewal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::signal::{within, Queue};
use super::{AsyncClient, Client};
use crate::error::Error;
use crate::transport::{AsyncTransport, Transport};

/// How long a blocking stop or resign waits for its background loop to end.
pub(crate) const STOP_WAIT: Duration = Duration::from_secs(30);

/// Why a lease ended on its own.
pub(crate) const TTL_RAN_OUT: &str = "its TTL ran out before a renewal succeeded";

/// A key held under a TTL (a lock's contender key, a leader's key), as its
/// handle and the background work renewing it both see it.
///
/// Holding is a lease: it ends once the TTL has passed since the last
/// successful write of the key was *sent*, whether or not anything noticed,
/// because etcd may have expired the key by then. The first to notice (a
/// handle's `is_held`/`is_leader`, or the renewal loop) records the loss, once,
/// and reports it while holding the lease's lock, so that a reported event and
/// the state never disagree.
pub(crate) struct Lease {
    /// The key held (for traces).
    key: String,
    state: Mutex<LeaseState>,
}

/// Told the reason when a lease is lost (a keep-alive's or a campaign's event
/// queue).
pub(crate) type LossListener = Box<dyn Fn(&str) + Send + Sync>;

struct LeaseState {
    holding: bool,
    /// `None` while nothing confirmed the key yet (a keep-alive of a key whose
    /// last write the caller did not say).
    valid_until: Option<Instant>,
    lost: Option<String>,
    listeners: Vec<LossListener>,
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
    pub(crate) fn held(key: &str, valid_until: Option<Instant>) -> Arc<Lease> {
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
    pub(crate) fn none(key: &str) -> Arc<Lease> {
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

    /// Tell `listener` the reason whenever this lease is lost, whoever notices.
    pub(crate) fn on_loss(&self, listener: LossListener) {
        self.lock().listeners.push(listener);
    }

    fn record_loss(&self, state: &mut LeaseState, reason: &str) {
        tracing::warn!(key = %self.key, reason, "lost: the key is no longer held");
        state.holding = false;
        state.lost = Some(reason.to_owned());
        for listener in &state.listeners {
            listener(reason);
        }
    }

    fn check(&self, state: &mut LeaseState, now: Instant) {
        if state.holding && state.valid_until.is_some_and(|v| now >= v) {
            self.record_loss(state, TTL_RAN_OUT);
        }
    }

    /// Whether the key is held at `now`. The first call after the lease ran
    /// out records the loss and tells the listeners.
    pub(crate) fn holds(&self, now: Instant) -> bool {
        let mut state = self.lock();
        self.check(&mut state, now);
        state.holding
    }

    /// A renewal succeeded: the key is held until `valid_until`. False if the
    /// lease had ended before (lost, or released): the renewal came too late to
    /// count.
    pub(crate) fn renewed(&self, valid_until: Instant, now: Instant) -> bool {
        let mut state = self.lock();
        self.check(&mut state, now);
        if state.holding {
            state.valid_until = Some(valid_until);
        }
        state.holding
    }

    /// The key was (re)gained, held until `valid_until`; `report` runs under the
    /// lease's lock.
    pub(crate) fn gain(&self, valid_until: Instant, report: impl FnOnce()) {
        let mut state = self.lock();
        state.holding = true;
        state.valid_until = Some(valid_until);
        state.lost = None;
        report();
    }

    /// The key is lost for `reason` (the listeners are told, if it was held
    /// until now).
    pub(crate) fn lose(&self, reason: &str) {
        let mut state = self.lock();
        if state.holding {
            self.record_loss(&mut state, reason);
        }
    }

    /// The holder gave the key up (released, resigned): not a loss. Whether it
    /// was still held.
    pub(crate) fn end(&self) -> bool {
        std::mem::replace(&mut self.lock().holding, false)
    }

    /// Why the lease was lost, if it was.
    pub(crate) fn lost_reason(&self) -> Option<String> {
        self.lock().lost.clone()
    }

    /// Until when the key is surely held, once known.
    pub(crate) fn valid_until(&self) -> Option<Instant> {
        self.lock().valid_until
    }
}

/// The error a lost key is reported with.
pub(crate) fn lost(key: &str, reason: &str) -> Error {
    Error::LockLost {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A background loop's controls: its stop flag, the events it reports, and
/// its end.
#[derive(Debug)]
pub(crate) struct Background<E> {
    pub(crate) stop: AtomicBool,
    pub(crate) events: Queue<E>,
    pub(crate) done: Queue<()>,
}

impl<E> Background<E> {
    pub(crate) fn new() -> Arc<Background<E>> {
        Arc::new(Background {
            stop: AtomicBool::new(false),
            events: Queue::new(),
            done: Queue::new(),
        })
    }

    /// Ask the loop to stop; with `wait`, block until it has ended.
    pub(crate) fn stop(&self, wait: bool) {
        self.stop.store(true, Ordering::SeqCst);
        if wait {
            self.done.wait_closed(STOP_WAIT);
        }
    }
}

/// A background renewal of a key (a lock's or a leader's): every third of the
/// TTL, guarded by the holder's value. It reports loss when the key is gone, no
/// longer the holder's, or its TTL ran out before a renewal succeeded (see
/// [`KeepAlive::is_lost`]). Dropping it stops renewing.
#[derive(Debug)]
pub struct KeepAlive<C> {
    pub(crate) background: Arc<Background<Error>>,
    pub(crate) lease: Arc<Lease>,
    pub(crate) key: String,
    pub(crate) blocking: bool,
    pub(crate) client: C,
}

impl<C> KeepAlive<C> {
    /// The key kept alive.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Why the key was lost, if its loss has been noticed (see
    /// `KeepAlive::is_lost`, which also notices a TTL that ran out).
    pub fn lost_reason(&self) -> Option<String> {
        self.lease.lost_reason()
    }

    fn is_lost_at(&self, now: Instant) -> bool {
        self.lease.holds(now);
        self.lease.lost_reason().is_some()
    }
}

impl<C> Drop for KeepAlive<C> {
    fn drop(&mut self) {
        self.background.stop(self.blocking);
    }
}

impl<T: Transport> KeepAlive<Client<T>> {
    /// Whether the key has been lost: its loss was reported, or its TTL has
    /// passed since the last successful renewal was sent (on the transport's
    /// clock), even if the renewal loop has not run since (a paused process).
    pub fn is_lost(&self) -> bool {
        self.is_lost_at(self.client.transport().now())
    }

    /// Block up to `timeout` for the key to be lost; `Some(error)` if it was.
    pub fn wait_lost(&self, timeout: Duration) -> Option<Error> {
        self.is_lost();
        self.background.events.pop_timeout(timeout)
    }

    /// Stop renewing (also done on drop), waiting for the background loop to
    /// end.
    pub fn stop(&self) {
        self.background.stop(true);
    }
}

impl<T: AsyncTransport> KeepAlive<AsyncClient<T>> {
    /// Whether the key has been lost: its loss was reported, or its TTL has
    /// passed since the last successful renewal was sent (on the transport's
    /// clock), even if the renewal task has not run since.
    pub fn is_lost(&self) -> bool {
        self.is_lost_at(self.client.transport().now())
    }

    /// Resolves with the loss if the key is lost within `timeout`, or `None`.
    pub async fn wait_lost(&self, timeout: Duration) -> Option<Error> {
        self.is_lost();
        within(
            self.background.events.pop(),
            self.client.transport().sleep(timeout),
        )
        .await
        .flatten()
    }

    /// Stop renewing (also done on drop, without waiting); resolves once the
    /// background task has ended.
    pub async fn stop(&self) {
        self.background.stop(false);
        self.background.done.closed().await;
    }
}
