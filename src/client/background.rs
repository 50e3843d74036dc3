//! What the recipes' background work shares with the handles that started it:
//! the event queue and stop flag of a background loop, and [`KeepAlive`], a
//! background renewal of a [`Lease`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::Stop;
use super::signal::{within, Queue};
use super::{AsyncClient, Client};
use crate::error::Error;
use crate::recipes::lease::Lease;
use crate::transport::{AsyncTransport, Transport};

/// How long a blocking stop or resign waits for its background loop to end.
pub(crate) const STOP_WAIT: Duration = Duration::from_secs(30);

/// A background loop's controls: its stop flag, the events it reports, and
/// its end.
#[derive(Debug)]
pub(crate) struct Background<E> {
    pub(crate) stop: Arc<Stop>,
    pub(crate) events: Queue<E>,
    pub(crate) done: Queue<()>,
}

impl<E> Background<E> {
    pub(crate) fn new() -> Arc<Background<E>> {
        Arc::new(Background {
            stop: Stop::new(),
            events: Queue::new(),
            done: Queue::new(),
        })
    }

    /// Ask the loop to stop; with `wait`, block until it has ended.
    pub(crate) fn stop(&self, wait: bool) {
        self.stop.stop();
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
