//! MemoryEtcd's async side: the futures that wait on its clock (a long poll, a
//! stalled request, a sleep), the small executor that runs background tasks
//! started through `AsyncTransport::spawn`, and, in real time, the timer
//! thread that wakes futures at their deadlines.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::error::TransportError;
use crate::transport::Task;

use super::clock::{current_task, enter_task, Shared, QUIET};
use super::timed_out;

/// What a parked future waits for.
#[derive(Debug)]
pub(crate) enum Target {
    /// A long poll registered in the core.
    Wait(u64),
    /// A stalled request: at `until`, `then` (or a timeout).
    Stall {
        until: Option<u64>,
        then: Option<http::Response<Vec<u8>>>,
    },
    /// A sleep until this time.
    Sleep(u64),
}

/// A future waiting on MemoryEtcd's clock or cluster.
pub(crate) struct Park {
    pub(crate) shared: Arc<Shared>,
    pub(crate) me: usize,
    pub(crate) target: Target,
    pub(crate) client_deadline: Option<u64>,
    pub(crate) waiter: Option<u64>,
}

impl Park {
    fn finish(&mut self) {
        self.waiter = None;
        self.target = Target::Sleep(0);
    }
}

impl Future for Park {
    type Output = Result<http::Response<Vec<u8>>, TransportError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = Arc::clone(&this.shared);
        let mut st = shared.lock();
        let mut wakers = Vec::new();
        loop {
            let t = st.t();
            let mut done: Option<Self::Output> = None;
            match &mut this.target {
                Target::Wait(id) => {
                    if let Some(r) = st.core.poll_wait(*id, t) {
                        st.after_core(&mut wakers);
                        done = Some(r);
                    }
                }
                Target::Stall { until, then } => {
                    let gives_up_first = this
                        .client_deadline
                        .is_none_or(|c| until.is_some_and(|u| u <= c));
                    if until.is_some_and(|u| t >= u) && gives_up_first {
                        done = Some(then.take().ok_or_else(timed_out));
                    }
                }
                Target::Sleep(at) => {
                    if t >= *at {
                        done = Some(Ok(http::Response::new(Vec::new())));
                    }
                }
            }
            if done.is_none() && this.client_deadline.is_some_and(|d| t >= d) {
                if let Target::Wait(id) = this.target {
                    st.core.cancel_wait(id);
                }
                done = Some(Err(timed_out()));
            }
            if let Some(out) = done {
                if let Some(w) = this.waiter {
                    st.remove(w);
                }
                this.finish();
                shared.release(st, wakers);
                return Poll::Ready(out);
            }
            let own = match &this.target {
                Target::Wait(_) => None,
                Target::Stall { until, .. } => *until,
                Target::Sleep(at) => Some(*at),
            };
            let deadline = [own, this.client_deadline].into_iter().flatten().min();
            let on_change = matches!(this.target, Target::Wait(_));
            let id = match this.waiter {
                Some(id) => {
                    st.refresh(id, deadline, Some(cx.waker().clone()));
                    id
                }
                None => {
                    let id = st.register(this.me, deadline, on_change, Some(cx.waker().clone()));
                    this.waiter = Some(id);
                    id
                }
            };
            if st.is_kicked(id) {
                continue;
            }
            if current_task(this.me).is_none() {
                let _ = st.auto_advance(&mut wakers);
                if st.is_kicked(id) {
                    continue;
                }
            }
            // In real time the timer wakes futures at their deadlines; in
            // virtual time it looks again while another thread is busy.
            super::ensure_timer(&shared, &mut st);
            shared.release(st, wakers);
            return Poll::Pending;
        }
    }
}

impl Drop for Park {
    fn drop(&mut self) {
        let Some(w) = self.waiter.take() else {
            return;
        };
        let mut st = self.shared.lock();
        st.remove(w);
        if let Target::Wait(id) = self.target {
            st.core.cancel_wait(id);
        }
    }
}

struct TaskWaker {
    shared: Weak<Shared>,
    task: u64,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.shared.upgrade() {
            shared.lock().notify_task(self.task);
            shared.cond.notify_all();
        }
    }
}

/// Run `task` on a thread of its own as a background task of MemoryEtcd `me`.
pub(crate) fn spawn(shared: &Arc<Shared>, me: usize, mut task: Task) {
    let id = shared.lock().add_task(false);
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        enter_task(me, id);
        let waker = Waker::from(Arc::new(TaskWaker {
            shared: Arc::downgrade(&shared),
            task: id,
        }));
        let mut cx = Context::from_waker(&waker);
        loop {
            if task.as_mut().poll(&mut cx).is_ready() {
                break;
            }
            let mut st = shared.lock();
            let mut wakers = Vec::new();
            if !st.task_idle(id, &mut wakers) {
                shared.release(st, wakers);
                continue;
            }
            drop(st);
            shared.cond.notify_all();
            for w in wakers {
                w.wake();
            }
            let mut st = shared.lock();
            while !st.take_notified(id) {
                st = shared
                    .cond
                    .wait_timeout(st, Duration::from_secs(1))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
        let mut st = shared.lock();
        let mut wakers = Vec::new();
        st.end_task(id, &mut wakers);
        shared.release(st, wakers);
    });
}

/// The timer: in real time, wakes futures at their deadlines and lets the
/// cluster expire keys while only futures wait; in virtual time, tries to move
/// time on while futures wait (a busy thread of the test's own may have held
/// it back). Ends when no future waits.
pub(crate) fn run_timer(shared: Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else {
            return;
        };
        let mut st = s.lock();
        let mut wakers = Vec::new();
        let wait = if st.is_virtual() {
            if !st.futures_wait() {
                st.timer = false;
                s.release(st, wakers);
                return;
            }
            st.auto_advance(&mut wakers).unwrap_or(QUIET)
        } else {
            let now = st.t();
            st.core.advance(now);
            st.after_core(&mut wakers);
            let Some(next) = st.next_deadline() else {
                st.timer = false;
                s.release(st, wakers);
                return;
            };
            Duration::from_nanos(next.saturating_sub(now)).min(Duration::from_millis(500))
        };
        drop(st);
        for w in wakers {
            w.wake();
        }
        s.cond.notify_all();
        let st = s.lock();
        let _ = s.cond.wait_timeout(st, wait.max(Duration::from_millis(1)));
    }
}
