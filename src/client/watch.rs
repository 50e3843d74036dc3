//! Watch streams: a blocking iterator and an async stream, both driving a
//! [`Watcher`] through the client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::driver::{Driven, Inline, RunOptions, Stop};
pub use super::watch_worker::WatchNext;
use super::watch_worker::{traced, Worker};
use super::{AsyncClient, Client};
use crate::cluster::Timeout;
use crate::error::Error;
use crate::ops::keys::CurrentIndex;
use crate::response::KeysResponse;
use crate::transport::{AsyncTransport, Transport};
use crate::watch::{WatchEvent, Watcher};

/// Options of a watch stream, from `client.watch(key)`.
#[derive(Debug)]
#[must_use = "a watch does nothing until started"]
pub struct WatchOptions<C> {
    client: C,
    key: String,
    recursive: bool,
    from_index: Option<u64>,
    poll_timeout: Timeout,
    resync: bool,
    retry: bool,
}

impl<C> WatchOptions<C> {
    pub(super) fn new(client: C, key: &str) -> WatchOptions<C> {
        WatchOptions {
            client,
            key: key.to_owned(),
            recursive: false,
            from_index: None,
            poll_timeout: Timeout::Default,
            resync: true,
            retry: true,
        }
    }

    /// Also report changes anywhere below the key.
    pub fn recursive(mut self, on: bool) -> WatchOptions<C> {
        self.recursive = on;
        self
    }

    /// Start at `index` rather than now (past events are replayed while etcd
    /// still has them).
    pub fn from_index(mut self, index: u64) -> WatchOptions<C> {
        self.from_index = Some(index);
        self
    }

    /// How long one long poll may last before it is re-issued at the same
    /// index (default: the client's wait timeout).
    pub fn poll_timeout(mut self, timeout: Duration) -> WatchOptions<C> {
        self.poll_timeout = Timeout::After(timeout);
        self
    }

    /// Whether falling behind etcd's 1000-event history gives a
    /// [`WatchEvent::Resync`] (default) or ends the stream with errorCode 401.
    pub fn resync(mut self, on: bool) -> WatchOptions<C> {
        self.resync = on;
        self
    }

    /// Whether a failure that waiting may cure (no member answers, a 5xx) is
    /// waited out, after a growing pause (default), or ends the stream with
    /// that error, as etcdctl's watch ends.
    pub fn retry_failures(mut self, on: bool) -> WatchOptions<C> {
        self.retry = on;
        self
    }

    /// The watch from the caller's index, or after the store index read now.
    fn into_watch(self, store_index: Option<u64>) -> Watch<C> {
        let watcher = Watcher::new(self.key, self.recursive)
            .resync_on_cleared_history(self.resync)
            .retry_failures(self.retry);
        let watcher = match (store_index, self.from_index) {
            (Some(now), _) => watcher.after_store_index(now),
            (None, Some(index)) => watcher.from_index(index),
            (None, None) => watcher,
        };
        Watch {
            client: self.client,
            watcher: Some(watcher),
            options: RunOptions {
                wait: self.poll_timeout,
                deadline: None,
            },
            stop: Stop::new(),
            pending: None,
            resume: None,
            worker: None,
        }
    }
}

impl<T: Transport> WatchOptions<Client<T>> {
    /// Start watching. Without [`WatchOptions::from_index`], this reads the store
    /// index now (one quorum `GET` of the key, body ignored, with failover: a
    /// member cut off from the majority cannot answer it with an old index), so every change made after
    /// `start` returns is reported, however soon it comes, and none made
    /// before. The error is that read's.
    pub fn start(self) -> Result<Watch<Client<T>>, Error> {
        let now = match self.from_index {
            Some(_) => None,
            None => Some(self.client.execute(&start_index(&self.key))?),
        };
        Ok(self.into_watch(now))
    }
}

impl<T: AsyncTransport> WatchOptions<AsyncClient<T>> {
    /// Start watching. Without [`WatchOptions::from_index`], this reads the store
    /// index now (one quorum `GET` of the key, body ignored, with failover: a
    /// member cut off from the majority cannot answer it with an old index), so every change made after
    /// the returned future resolves is reported, however soon it comes, and none
    /// made before. The error is that read's.
    pub async fn start(self) -> Result<Watch<AsyncClient<T>>, Error> {
        let now = match self.from_index {
            Some(_) => None,
            None => Some(self.client.execute(&start_index(&self.key)).await?),
        };
        Ok(self.into_watch(now))
    }
}

/// The read a watch "from now" starts from: through raft, as the watched key
/// may not exist, and etcd's 404 carries no `X-Raft-Term` to tell a stale
/// member's answer by (see [`CurrentIndex::quorum`]).
fn start_index(key: &str) -> CurrentIndex {
    CurrentIndex::new(key).quorum(true)
}

type Item = Result<WatchEvent, Error>;
type Pending = Pin<Box<dyn Future<Output = (Watcher, Option<Item>)> + Send>>;

/// A watch stream of [`WatchEvent`]s in index order, each reported once: a
/// blocking `Iterator` for a [`Client`], a `Stream` (and an `async fn next`) for
/// an [`AsyncClient`]. It ends after an error it cannot recover from (reported
/// as the last item) or once stopped.
pub struct Watch<C> {
    client: C,
    watcher: Option<Watcher>,
    options: RunOptions,
    stop: Arc<Stop>,
    /// The async driver's future in progress (it holds the watcher).
    pending: Option<Pending>,
    /// [`Watch::next_index`] while the watcher is in `pending`.
    resume: Option<u64>,
    /// The blocking driver's request thread, once started.
    worker: Option<Worker>,
}

impl<C: std::fmt::Debug> std::fmt::Debug for Watch<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("client", &self.client)
            .field("watcher", &self.watcher)
            .finish_non_exhaustive()
    }
}

/// Stops a [`Watch`] from another thread or task: a `next()` waiting for an
/// event, even in the middle of a long poll, returns `None` at once (the poll
/// is abandoned; a later watch from [`Watch::next_index`] misses nothing).
#[derive(Debug, Clone)]
pub struct WatchStopper(Arc<Stop>);

impl WatchStopper {
    /// Stop the watch.
    pub fn stop(&self) {
        self.0.stop();
    }
}

impl<C> Watch<C> {
    /// A handle that stops this watch from any thread.
    pub fn stopper(&self) -> WatchStopper {
        WatchStopper(Arc::clone(&self.stop))
    }

    /// The index the next wait asks for, once known: resume a later watch from
    /// here to miss nothing.
    pub fn next_index(&self) -> Option<u64> {
        match &self.watcher {
            Some(watcher) => watcher.next_index(),
            // The async driver's future holds it: where it began.
            None => self.resume,
        }
    }
}

/// What a drive of a watcher means for the stream: the next item, or its end.
fn item(
    watcher: &mut Watcher,
    driven: Result<Driven<WatchEvent, Result<(), Error>>, Error>,
) -> Option<Item> {
    match driven {
        Ok(Driven::Event(event)) => Some(Ok(traced(watcher, event))),
        Ok(Driven::Done(Ok(()))) | Ok(Driven::Stopped) | Ok(Driven::TimedOut) => {
            watcher.finish();
            None
        }
        Ok(Driven::Done(Err(e))) | Err(e) => {
            watcher.finish();
            Some(Err(e))
        }
    }
}

/// The first change of `key` from `index` (or from now), driving the watcher
/// with `$drive` (without resync: errorCode 401 is returned as an error).
macro_rules! first_change {
    ($key:expr, $recursive:expr, $index:expr, |$watcher:ident| $drive:expr) => {{
        let mut $watcher = first_change_watcher($key, $recursive, $index);
        let driven = $drive;
        first_change_of(item(&mut $watcher, driven))
    }};
}

impl<T: Transport> Client<T> {
    /// The first change of `key` from `index` (or from now), through the
    /// watcher (without resync: errorCode 401 is returned as an error).
    pub(crate) fn first_change(
        &self,
        key: &str,
        recursive: bool,
        index: Option<u64>,
    ) -> Result<KeysResponse, Error> {
        let mut exec = Inline::new(self, RunOptions::default());
        first_change!(key, recursive, index, |watcher| self.drive(
            &mut watcher,
            &mut exec,
            None,
            None
        ))
    }
}

impl<T: AsyncTransport> AsyncClient<T> {
    /// [`Client::first_change`], awaited.
    pub(crate) async fn first_change(
        &self,
        key: &str,
        recursive: bool,
        index: Option<u64>,
    ) -> Result<KeysResponse, Error> {
        first_change!(key, recursive, index, |watcher| self
            .drive(&mut watcher, RunOptions::default(), None)
            .await)
    }
}

fn first_change_watcher(key: &str, recursive: bool, index: Option<u64>) -> Watcher {
    let watcher = Watcher::new(key, recursive).resync_on_cleared_history(false);
    match index {
        Some(i) => watcher.from_index(i),
        None => watcher,
    }
}

fn first_change_of(item: Option<Item>) -> Result<KeysResponse, Error> {
    match item {
        Some(Ok(WatchEvent::Change(change))) => Ok(*change),
        Some(Ok(WatchEvent::Resync { .. })) => Err(Error::Misuse(
            "a watch without resync reported a resync".into(),
        )),
        Some(Err(e)) => Err(e),
        None => Err(Error::Misuse("the watch ended without an event".into())),
    }
}

impl<T: Transport + 'static> Watch<Client<T>> {
    /// Wait at most `timeout` for the next event: [`WatchNext::Timeout`] if none
    /// came (the watch goes on: a long poll in progress is kept, so nothing is
    /// lost or repeated), [`WatchNext::Ended`] once the watch is over, an error
    /// (after which the watch is over) if it failed. `timeout` is measured on
    /// the transport's clock for backoffs, and as real time while a request is
    /// in flight.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<WatchNext, Error> {
        // A timeout too large to add to the clock is no bound.
        let deadline = self.client.transport().now().checked_add(timeout);
        self.next_until(deadline)
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Result<WatchNext, Error> {
        let Some(watcher) = self.watcher.as_mut() else {
            return Ok(WatchNext::Ended);
        };
        let worker = self
            .worker
            .get_or_insert_with(|| Worker::start(&self.client, self.options, &self.stop));
        let driven = self
            .client
            .drive(watcher, worker, Some(&self.stop), deadline);
        if let Ok(Driven::TimedOut) = driven {
            return Ok(WatchNext::Timeout);
        }
        if let Ok(Driven::Stopped) = driven {
            worker.close();
        }
        match item(watcher, driven) {
            Some(Ok(event)) => Ok(WatchNext::Event(event)),
            Some(Err(e)) => Err(e),
            None => Ok(WatchNext::Ended),
        }
    }
}

impl<T: Transport + 'static> Iterator for Watch<Client<T>> {
    type Item = Item;

    /// The next event, waiting as long as it takes; `None` once the watch is
    /// over (stopped, or after the error that ended it).
    fn next(&mut self) -> Option<Item> {
        match self.next_until(None) {
            Ok(WatchNext::Event(event)) => Some(Ok(event)),
            Ok(WatchNext::Timeout | WatchNext::Ended) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl<C> Drop for Watch<C> {
    fn drop(&mut self) {
        if let Some(worker) = &self.worker {
            worker.close();
        }
    }
}

/// Drive an async watch's watcher to its next item (a request abandoned by a
/// dropped future is issued again).
async fn next_item<T: AsyncTransport>(
    client: &AsyncClient<T>,
    watcher: &mut Watcher,
    options: RunOptions,
    stop: &Stop,
) -> Option<Item> {
    watcher.cancel_in_flight();
    let driven = client.drive(watcher, options, Some(stop)).await;
    item(watcher, driven)
}

impl<T: AsyncTransport + 'static> Watch<AsyncClient<T>> {
    /// Resolves with the next event; `None` once the watch is over. (The same
    /// stream is also a `futures_core::Stream`.)
    /// Dropping this future before it resolves loses nothing: the long poll
    /// in progress is kept for the next call.
    pub async fn next(&mut self) -> Option<Item> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }
}

impl<T: AsyncTransport + 'static> futures_core::Stream for Watch<AsyncClient<T>> {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            let Some(mut watcher) = this.watcher.take() else {
                return Poll::Ready(None);
            };
            this.resume = watcher.next_index();
            let (client, options, stop) =
                (this.client.clone(), this.options, Arc::clone(&this.stop));
            this.pending = Some(Box::pin(async move {
                let item = next_item(&client, &mut watcher, options, &stop).await;
                (watcher, item)
            }));
        }
        let Some(pending) = this.pending.as_mut() else {
            return Poll::Ready(None);
        };
        match pending.as_mut().poll(cx) {
            Poll::Ready((watcher, item)) => {
                this.pending = None;
                this.watcher = Some(watcher);
                Poll::Ready(item)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
