//! The blocking watch stream: drives a [`Watcher`] through the client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Client;
use crate::error::Error;
use crate::transport::Transport;
use crate::watch::{Step, WatchEvent, Watcher};

/// Longest single sleep while backing off, so that a stop is noticed quickly.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// Options of a watch stream, from [`Client::watch`].
#[derive(Debug)]
#[must_use = "a watch does nothing until started"]
pub struct WatchOptions<T: Transport> {
    client: Client<T>,
    key: String,
    recursive: bool,
    from_index: Option<u64>,
    poll_timeout: Option<Option<Duration>>,
    resync: bool,
}

impl<T: Transport> WatchOptions<T> {
    pub(super) fn new(client: Client<T>, key: &str) -> WatchOptions<T> {
        WatchOptions {
            client,
            key: key.to_owned(),
            recursive: false,
            from_index: None,
            poll_timeout: None,
            resync: true,
        }
    }

    /// Also report changes anywhere below the key.
    pub fn recursive(mut self, on: bool) -> WatchOptions<T> {
        self.recursive = on;
        self
    }

    /// Start at `index` rather than now (past events are replayed while etcd
    /// still has them).
    pub fn from_index(mut self, index: u64) -> WatchOptions<T> {
        self.from_index = Some(index);
        self
    }

    /// How long one long poll may last before it is re-issued (default: the
    /// client's wait timeout). It also bounds how long a [`WatchStopper::stop`]
    /// can take to end a blocked `next()`.
    pub fn poll_timeout(mut self, timeout: Duration) -> WatchOptions<T> {
        self.poll_timeout = Some(Some(timeout));
        self
    }

    /// Whether falling behind etcd's 1000-event history gives a
    /// [`WatchEvent::Resync`] (default) or ends the stream with errorCode 401.
    pub fn resync(mut self, on: bool) -> WatchOptions<T> {
        self.resync = on;
        self
    }

    /// Start watching. Nothing is sent until the first `next()`.
    pub fn start(self) -> Watch<T> {
        let mut watcher =
            Watcher::new(self.key, self.recursive).resync_on_cleared_history(self.resync);
        if let Some(i) = self.from_index {
            watcher = watcher.from_index(i);
        }
        Watch {
            client: self.client,
            watcher,
            poll_timeout: self.poll_timeout,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A watch stream: a blocking iterator of [`WatchEvent`]s in index order, each
/// reported once. It ends after an error it cannot recover from (reported as
/// the last item) or once stopped.
#[derive(Debug)]
pub struct Watch<T: Transport> {
    client: Client<T>,
    watcher: Watcher,
    poll_timeout: Option<Option<Duration>>,
    stop: Arc<AtomicBool>,
}

/// Stops a [`Watch`] from another thread. A `next()` blocked in a long poll
/// returns `None` when that poll ends (within the poll timeout).
#[derive(Debug, Clone)]
pub struct WatchStopper(Arc<AtomicBool>);

impl WatchStopper {
    /// Stop the watch.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl<T: Transport> Watch<T> {
    /// A handle that stops this watch from any thread.
    pub fn stopper(&self) -> WatchStopper {
        WatchStopper(Arc::clone(&self.stop))
    }

    /// The index the next wait asks for, once known: resume a later watch
    /// from here to miss nothing.
    pub fn next_index(&self) -> Option<u64> {
        self.watcher.next_index()
    }

    fn stopped(&mut self) -> bool {
        if self.stop.load(Ordering::SeqCst) {
            self.watcher.finish();
            return true;
        }
        false
    }
}

impl<T: Transport> Iterator for Watch<T> {
    type Item = Result<WatchEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.stopped() {
                return None;
            }
            let transport = self.client.transport();
            match self.watcher.poll(transport.now()) {
                Step::Emit(event) => return Some(Ok(event)),
                Step::Send(request) => {
                    let outcome = self.client.run_watch_request(&request, self.poll_timeout);
                    if self.stopped() {
                        return None;
                    }
                    let now = self.client.transport().now();
                    if let Err(e) = self.watcher.handle(outcome, now) {
                        self.watcher.finish();
                        return Some(Err(e));
                    }
                }
                Step::SleepUntil(at) => {
                    let left = at.saturating_duration_since(transport.now());
                    transport.sleep(left.min(STOP_CHECK));
                }
                Step::Failed(e) => return Some(Err(e)),
                Step::Finished => return None,
            }
        }
    }
}
