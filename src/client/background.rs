//! What the recipes' background work shares with the handles that started it:
//! the event queue and stop flag of a background loop, and [`KeepAlive`], a
//! background renewal of a [`Lease`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::Stop;
use super::signal::{within, Queue};
use super::{AsyncClient, Client};
use crate::error::Error;
use crate::transport::{AsyncTransport, Transport};

/// How often a blocking wait for a background event looks again (an event
/// is seen at most this late).
pub(crate) const EVENT_POLL: Duration = Duration::from_millis(5);

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

    /// The next event, waiting up to `timeout` on the transport's clock
    /// (blocking): in slices of [`EVENT_POLL`] through the transport's own
    /// sleep, so that a transport with a virtual clock (MemoryEtcd) sees a
    /// caller waiting and lets its time move.
    pub(crate) fn next_event<T: Transport + ?Sized>(
        &self,
        transport: &T,
        timeout: Duration,
    ) -> Option<E> {
        let start = transport.now();
        loop {
            if let Some(event) = self.events.pop_timeout(Duration::ZERO) {
                return Some(event);
            }
            let waited = transport.now().saturating_duration_since(start);
            if waited >= timeout {
                return None;
            }
            transport.sleep((timeout - waited).min(EVENT_POLL));
        }
    }

    /// Resolves with the next event, or `None` once `timer` (a sleep on the
    /// transport) ends first.
    pub(crate) async fn next_event_before(&self, timer: impl Future<Output = ()>) -> Option<E> {
        within(self.events.pop(), timer).await.flatten()
    }

    /// Ask the loop to stop; resolves once it has ended.
    pub(crate) async fn stopped(&self) {
        self.stop(false);
        self.done.closed().await;
    }

    /// Ask the loop to stop; with `wait`, block until it has ended.
    pub(crate) fn stop(&self, wait: bool) {
        self.stop.stop();
        if wait {
            self.done.wait_closed(STOP_WAIT);
        }
    }
}

/// A handle on background work kept up by a lease (a keep-alive, a campaign):
/// the struct, `key()`, its `Drop` (which stops the work: at once, waiting for
/// the loop for a blocking client) and, in each mode, a wait for the next event
/// and a stop that waits for the end.
macro_rules! background_handle {
    (
        $(#[$doc:meta])* $name:ident<$event:ty>,
        $key_doc:literal,
        wait: $wait:ident ($wait_doc:literal, $wait_async_doc:literal),
        stop: $stop:ident ($stop_doc:literal, $stop_async_doc:literal),
        check: $check:ident
    ) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<C> {
            pub(crate) background: std::sync::Arc<super::background::Background<$event>>,
            pub(crate) lease: std::sync::Arc<crate::recipes::lease::Lease>,
            pub(crate) blocking: bool,
            pub(crate) client: C,
        }

        impl<C> $name<C> {
            #[doc = $key_doc]
            pub fn key(&self) -> &str {
                self.lease.key()
            }

            pub(crate) fn new(
                background: std::sync::Arc<super::background::Background<$event>>,
                lease: std::sync::Arc<crate::recipes::lease::Lease>,
                blocking: bool,
                client: C,
            ) -> $name<C> {
                $name {
                    background,
                    lease,
                    blocking,
                    client,
                }
            }
        }

        impl<C> Drop for $name<C> {
            fn drop(&mut self) {
                self.background.stop(self.blocking);
            }
        }

        impl<T: crate::transport::Transport> $name<super::Client<T>> {
            #[doc = $wait_doc]
            pub fn $wait(&self, timeout: std::time::Duration) -> Option<$event> {
                self.$check();
                self.background.next_event(self.client.transport(), timeout)
            }

            #[doc = $stop_doc]
            pub fn $stop(&self) {
                self.background.stop(true);
            }
        }

        impl<T: crate::transport::AsyncTransport> $name<super::AsyncClient<T>> {
            #[doc = $wait_async_doc]
            pub async fn $wait(&self, timeout: std::time::Duration) -> Option<$event> {
                self.$check();
                let timer = self.client.transport().sleep(timeout);
                self.background.next_event_before(timer).await
            }

            #[doc = $stop_async_doc]
            pub async fn $stop(&self) {
                self.background.stopped().await
            }
        }
    };
}
pub(crate) use background_handle;

background_handle!(
    /// A background renewal of a key (a lock's or a leader's): every third of
    /// the TTL, guarded by the holder's value. It reports loss when the key is
    /// gone, no longer the holder's, or its TTL ran out before a renewal
    /// succeeded (see `KeepAlive::is_lost`). Dropping it stops renewing.
    KeepAlive<Error>,
    "The key kept alive.",
    wait: wait_lost(
        "Block up to `timeout` (on the transport's clock) for the key to be lost; `Some(error)` if it was.",
        "Resolves with the loss if the key is lost within `timeout`, or `None`."
    ),
    stop: stop(
        "Stop renewing (also done on drop), waiting for the background loop to end.",
        "Stop renewing (also done on drop, without waiting); resolves once the \
         background task has ended."
    ),
    check: is_lost
);

impl<C> KeepAlive<C> {
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

impl<T: Transport> KeepAlive<Client<T>> {
    /// Whether the key has been lost: its loss was reported, or its TTL has
    /// passed since the last successful renewal was sent (on the transport's
    /// clock), even if the renewal loop has not run since (a paused process).
    pub fn is_lost(&self) -> bool {
        self.is_lost_at(self.client.transport().now())
    }
}

impl<T: AsyncTransport> KeepAlive<AsyncClient<T>> {
    /// Whether the key has been lost: its loss was reported, or its TTL has
    /// passed since the last successful renewal was sent (on the transport's
    /// clock), even if the renewal task has not run since.
    pub fn is_lost(&self) -> bool {
        self.is_lost_at(self.client.transport().now())
    }
}
