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
    /// The wakers of the pending [`Pop`]s, one each (by its id).
    wakers: Vec<(u64, Waker)>,
    /// The id of the next [`Pop`] to wait.
    next_id: u64,
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
                next_id: 0,
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
        for (_, w) in wakers {
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
            id: None,
        }
    }

    /// Resolves once the queue is closed (items are left in place).
    pub(crate) fn closed(&self) -> Pop<'_, T> {
        Pop {
            queue: self,
            until_closed: true,
            id: None,
        }
    }
}

/// The future of [`Queue::pop`] and [`Queue::closed`]. It keeps one waker in
/// the queue while pending (replaced when polled again with another), and
/// takes it out when dropped: a loop of short waits leaves nothing behind.
pub(crate) struct Pop<'a, T> {
    queue: &'a Queue<T>,
    until_closed: bool,
    /// Its slot among the queue's wakers, once it has waited.
    id: Option<u64>,
}

impl<T> Future for Pop<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let mut state = this.queue.lock();
        if this.until_closed {
            if state.closed {
                return Poll::Ready(None);
            }
        } else if let Some(item) = state.items.pop_front() {
            return Poll::Ready(Some(item));
        } else if state.closed {
            return Poll::Ready(None);
        }
        let id = *this.id.get_or_insert_with(|| {
            state.next_id += 1;
            state.next_id
        });
        match state.wakers.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) if w.will_wake(cx.waker()) => {}
            Some((_, w)) => *w = cx.waker().clone(),
            // New, or taken by a notification since.
            None => state.wakers.push((id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl<T> Drop for Pop<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.queue.lock().wakers.retain(|(i, _)| *i != id);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_waits_leave_no_wakers_behind() {
        let q: Queue<u8> = Queue::new();
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..1000 {
            let mut pop = std::pin::pin!(q.pop());
            assert!(pop.as_mut().poll(&mut cx).is_pending());
            assert!(pop.as_mut().poll(&mut cx).is_pending(), "polled again");
            let mut closed = std::pin::pin!(q.closed());
            assert!(closed.as_mut().poll(&mut cx).is_pending());
        }
        assert!(q.lock().wakers.is_empty(), "{}", q.lock().wakers.len());
        // One waiting: one waker, woken by an item.
        let mut pop = std::pin::pin!(q.pop());
        assert!(pop.as_mut().poll(&mut cx).is_pending());
        assert!(pop.as_mut().poll(&mut cx).is_pending());
        assert_eq!(q.lock().wakers.len(), 1);
        q.push(7);
        assert_eq!(pop.as_mut().poll(&mut cx), Poll::Ready(Some(7)));
    }
}
