//! A queue that background work (keep-alives, campaigns) reports through, read
//! either blocking or from async code, with no runtime of its own.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    wakers: Vec<Waker>,
}

/// A multi-producer queue with blocking and async consumers.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                wakers: Vec::new(),
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn notify(&self, mut state: MutexGuard<'_, State<T>>) {
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        self.changed.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// Add an item.
    pub(crate) fn push(&self, item: T) {
        let mut state = self.lock();
        state.items.push_back(item);
        self.notify(state);
    }

    /// No more items will come.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.notify(state);
    }

    /// Take the next item, blocking up to `timeout`; `None` on timeout, or once
    /// closed and empty.
    pub(crate) fn pop_timeout(&self, timeout: Duration) -> Option<T> {
        let state = self.lock();
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.items.is_empty() && !s.closed)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.items.pop_front()
    }

    /// Take the next item, blocking as long as it takes; `None` once closed and
    /// empty.
    pub(crate) fn pop_wait(&self) -> Option<T> {
        let state = self.lock();
        let mut state = self
            .changed
            .wait_while(state, |s| s.items.is_empty() && !s.closed)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.items.pop_front()
    }

    /// Block up to `timeout` for the queue to be closed; whether it was.
    pub(crate) fn wait_closed(&self, timeout: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| !s.closed)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.closed
    }

    /// The next item, from async code; `None` once closed and empty.
    pub(crate) fn pop(&self) -> Pop<'_, T> {
        Pop {
            queue: self,
            until_closed: false,
        }
    }

    /// Resolves once the queue is closed (items are left in place).
    pub(crate) fn closed(&self) -> Pop<'_, T> {
        Pop {
            queue: self,
            until_closed: true,
        }
    }
}

/// The future of [`Queue::pop`] and [`Queue::closed`].
pub(crate) struct Pop<'a, T> {
    queue: &'a Queue<T>,
    until_closed: bool,
}

impl<T> Future for Pop<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.queue.lock();
        if self.until_closed {
            if state.closed {
                return Poll::Ready(None);
            }
        } else if let Some(item) = state.items.pop_front() {
            return Poll::Ready(Some(item));
        } else if state.closed {
            return Poll::Ready(None);
        }
        state.wakers.push(cx.waker().clone());
        Poll::Pending
    }
}

/// Whichever of `first` or the timer `timeout` finishes first: `first`'s output,
/// or `None` when the timer wins.
pub(crate) async fn within<F, S>(first: F, timeout: S) -> Option<F::Output>
where
    F: Future,
    S: Future<Output = ()>,
{
    let mut first = std::pin::pin!(first);
    let mut timeout = std::pin::pin!(timeout);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = first.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timeout.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
