//! How a blocking [`super::Watch`] waits: its requests run on a thread of their
//! own (started through the transport's `spawn`), and `next()` waits for their
//! outcomes or for a stop, whichever comes first. So a stop ends a `next()`
//! blocked in a long poll at once, and `next_timeout` returns on time, while
//! the poll in progress is kept (nothing lost, nothing repeated).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::signal::Queue;
use super::Client;
use crate::error::Error;
use crate::transport::Transport;
use crate::watch::{Outcome, Request, Step, WatchEvent, Watcher};

/// What `Watch::next_timeout` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchNext {
    /// The next event.
    Event(WatchEvent),
    /// None came within the time given; the watch goes on.
    Timeout,
    /// The watch is over (stopped, or after the error that ended it).
    Ended,
}

/// A message to a waiting `next()`.
#[derive(Debug)]
pub(crate) enum Message {
    /// The outcome of the request in flight.
    Outcome(Outcome),
    /// The watch was stopped.
    Stop,
}

/// A watch's stop: a flag, and the queue a blocking `next()` waits on (which
/// also carries its requests' outcomes), closed on stop so that async waits
/// end too.
#[derive(Debug)]
pub(crate) struct StopSignal {
    flag: AtomicBool,
    messages: Queue<Message>,
}

impl StopSignal {
    pub(crate) fn new() -> Arc<StopSignal> {
        Arc::new(StopSignal {
            flag: AtomicBool::new(false),
            messages: Queue::new(),
        })
    }

    /// Stop the watch, waking whatever waits for it.
    pub(crate) fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.messages.push(Message::Stop);
        self.messages.close();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Resolves once the watch is stopped.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + '_ {
        let closed = self.messages.closed();
        async move {
            closed.await;
        }
    }
}

/// Note a resync in the traces; give the event back.
pub(crate) fn traced(watcher: &Watcher, event: WatchEvent) -> WatchEvent {
    if let WatchEvent::Resync { index, .. } = &event {
        tracing::warn!(
            key = watcher.key(),
            index,
            "watch resync: it fell behind etcd's 1000-event history; continuing from a \
             snapshot at this index"
        );
    }
    event
}

/// The request thread of a blocking watch.
#[derive(Debug)]
pub(crate) struct Worker {
    requests: Arc<Queue<Request>>,
    in_flight: bool,
}

impl Worker {
    /// Start the thread: it runs each request through `client` and hands the
    /// outcome to whoever waits on `stop`'s queue, until closed.
    pub(crate) fn start<T: Transport + 'static>(
        client: &Client<T>,
        poll_timeout: Option<Option<Duration>>,
        stop: &Arc<StopSignal>,
    ) -> Worker {
        let requests = Arc::new(Queue::new());
        let (c, queue, signal) = (client.clone(), Arc::clone(&requests), Arc::clone(stop));
        client.transport().spawn(Box::new(move || {
            while let Some(request) = queue.pop_wait() {
                let outcome = c.run_watch_request(&request, poll_timeout);
                signal.messages.push(Message::Outcome(outcome));
            }
        }));
        Worker {
            requests,
            in_flight: false,
        }
    }

    /// No more requests: the thread ends after the one in flight.
    pub(crate) fn close(&self) {
        self.requests.close();
    }

    /// Drive `watcher` to its next event, its end, or `deadline` (on the
    /// transport's clock).
    pub(crate) fn next<T: Transport>(
        &mut self,
        client: &Client<T>,
        watcher: &mut Watcher,
        stop: &StopSignal,
        deadline: Option<Instant>,
    ) -> Result<WatchNext, Error> {
        let now = || client.transport().now();
        let passed = |deadline: Option<Instant>| deadline.is_some_and(|d| now() >= d);
        loop {
            if stop.is_stopped() {
                watcher.finish();
                self.close();
                return Ok(WatchNext::Ended);
            }
            if self.in_flight {
                let message = match deadline {
                    Some(d) => stop
                        .messages
                        .pop_timeout(d.saturating_duration_since(now())),
                    None => stop.messages.pop_wait(),
                };
                match message {
                    Some(Message::Outcome(outcome)) => {
                        self.in_flight = false;
                        if let Err(e) = watcher.handle(outcome, now()) {
                            watcher.finish();
                            return Err(e);
                        }
                    }
                    Some(Message::Stop) => {}
                    None if passed(deadline) => return Ok(WatchNext::Timeout),
                    None => {}
                }
                continue;
            }
            match watcher.poll(now()) {
                Step::Emit(event) => return Ok(WatchNext::Event(traced(watcher, event))),
                Step::Send(request) => {
                    self.requests.push(request);
                    self.in_flight = true;
                }
                Step::SleepUntil(at) => {
                    let until = deadline.map_or(at, |d| at.min(d));
                    client.sleep_until(until, Some(stop.flag()));
                    if passed(deadline) && now() < at {
                        return Ok(WatchNext::Timeout);
                    }
                }
                Step::Failed(e) => return Err(e),
                Step::Finished => return Ok(WatchNext::Ended),
            }
        }
    }
}
