//! How a blocking [`super::Watch`] runs its requests: on a thread of their own
//! (started through the transport's `spawn`), so that the driver can stop
//! waiting for one, at a stop or at `next_timeout`'s deadline, while the
//! request goes on (its outcome is picked up by the next `next()`: nothing
//! lost, nothing repeated).

use std::sync::Arc;
use std::time::Instant;

use super::driver::{run_watch_request, Exec, RunOptions, Stop};
use super::signal::Queue;
use super::Client;
use crate::transport::Transport;
use crate::watch::{Outcome, Request, WatchEvent, Watcher};

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

/// What the waiting driver is told.
#[derive(Debug)]
enum Message {
    /// The outcome of the request in flight.
    Outcome(Outcome),
    /// The watch was stopped.
    Stop,
}

/// The request thread of a blocking watch.
#[derive(Debug)]
pub(crate) struct Worker {
    requests: Arc<Queue<Request>>,
    messages: Arc<Queue<Message>>,
    busy: bool,
}

impl Worker {
    /// Start the thread: it runs each request through `client` and hands the
    /// outcome back, until closed. A stop wakes a waiting driver at once.
    pub(crate) fn start<T: Transport + 'static>(
        client: &Client<T>,
        options: RunOptions,
        stop: &Arc<Stop>,
    ) -> Worker {
        let requests = Arc::new(Queue::new());
        let messages = Arc::new(Queue::new());
        let (c, queue, out) = (client.clone(), Arc::clone(&requests), Arc::clone(&messages));
        client.transport().spawn_for_caller(Box::new(move || {
            while let Some(request) = queue.pop_wait() {
                out.push(Message::Outcome(run_watch_request(&c, &request, options)));
            }
        }));
        let wake = Arc::clone(&messages);
        stop.on_stop(Box::new(move || wake.push(Message::Stop)));
        Worker {
            requests,
            messages,
            busy: false,
        }
    }

    /// No more requests: the thread ends after the one in flight.
    pub(crate) fn close(&self) {
        self.requests.close();
    }
}

impl Exec<Request, Outcome> for Worker {
    fn start(&mut self, request: Request) {
        self.requests.push(request);
        self.busy = true;
    }

    fn busy(&self) -> bool {
        self.busy
    }

    fn outcome(&mut self, now: Instant, deadline: Option<Instant>) -> Option<Outcome> {
        let message = match deadline {
            Some(d) => self.messages.pop_timeout(d.saturating_duration_since(now)),
            None => self.messages.pop_wait(),
        };
        match message {
            Some(Message::Outcome(outcome)) => {
                self.busy = false;
                Some(outcome)
            }
            Some(Message::Stop) | None => None,
        }
    }
}
