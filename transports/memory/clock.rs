//! MemoryEtcd's clock, and the threads and futures that wait on it.
//!
//! Real time by default. In virtual time the clock stands still until a test
//! calls `advance`, or until a caller is blocked in MemoryEtcd (a sleep, a long
//! poll, a stalled request) while no background task it started is running:
//! then it jumps to the next deadline, as tokio's paused clock does. Background
//! tasks (keep-alives, campaigns) are the threads and futures started through
//! the transport's `spawn`; they count as running except while they wait in
//! MemoryEtcd (or, for futures, while pending).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::memory::core::Core;

thread_local! {
    /// The MemoryEtcd and task this thread runs, if MemoryEtcd started it.
    static CURRENT: Cell<Option<(usize, u64)>> = const { Cell::new(None) };
}

/// The clock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    /// The system's monotonic clock, from this instant.
    Real(Instant),
    /// A virtual clock: `offset` nanoseconds after `origin`.
    Virtual {
        /// What `now()` reports at offset 0.
        origin: Instant,
        /// Nanoseconds passed.
        offset: u64,
    },
}

#[derive(Debug)]
struct Waiter {
    /// When it wants to wake: time may jump here.
    deadline: Option<u64>,
    /// Woken by any change of the store or cluster (long polls).
    on_change: bool,
    task: Option<u64>,
    /// Whether it waits for a caller (not a background task).
    caller: bool,
    waker: Option<Waker>,
    kicked: bool,
    /// Woken by `interrupt` rather than by what it waited for.
    interrupted: bool,
    /// The thread that waits (blocking callers of the test's own).
    thread: Option<ThreadId>,
}

#[derive(Debug)]
struct Task {
    runnable: bool,
    notified: bool,
    caller: bool,
}

/// Everything behind MemoryEtcd's lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) core: Core,
    pub(crate) clock: Clock,
    waiters: HashMap<u64, Waiter>,
    next_waiter: u64,
    tasks: HashMap<u64, Task>,
    next_task: u64,
    /// Whether the real-time timer thread runs.
    pub(crate) timer: bool,
    /// The cluster's state when waiters were last told of changes.
    seen: (u64, u64, u64, u64),
    /// Threads of the test's own, and when (real time) each last came back
    /// from a blocking call: see [`QUIET`].
    recent: HashMap<ThreadId, Instant>,
    /// When (real time) virtual time last jumped on its own.
    last_jump: Option<Instant>,
}

/// How long (real time) a thread of the test's own counts as busy after it
/// comes back from a blocking call, or after time last jumped: virtual time
/// does not jump on its own while such a thread runs code of its own between
/// calls (and might be about to renew a lease or start a keep-alive).
pub(crate) const QUIET: Duration = Duration::from_millis(50);

/// A thread that has not come back from a call for this long (real time) no
/// longer holds time back at all (it is doing something else, or is gone).
const ACTIVE: Duration = Duration::from_secs(1);

/// The lock and its condition variable.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) cond: Condvar,
}

/// Wakers to call once the lock is released.
pub(crate) type Wakers = Vec<Waker>;

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl State {
    pub(crate) fn new(core: Core, clock: Clock) -> State {
        State {
            core,
            clock,
            waiters: HashMap::new(),
            next_waiter: 0,
            tasks: HashMap::new(),
            next_task: 0,
            timer: false,
            seen: (0, 0, 0, 0),
            recent: HashMap::new(),
            last_jump: None,
        }
    }

    /// Nanoseconds since MemoryEtcd started.
    pub(crate) fn t(&self) -> u64 {
        match self.clock {
            Clock::Real(origin) => ns(origin.elapsed()),
            Clock::Virtual { offset, .. } => offset,
        }
    }

    /// The `Instant` of time `t`.
    pub(crate) fn instant(&self, t: u64) -> Instant {
        let origin = match self.clock {
            Clock::Real(o) | Clock::Virtual { origin: o, .. } => o,
        };
        origin + Duration::from_nanos(t)
    }

    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self.clock, Clock::Virtual { .. })
    }

    /// Register a task started by MemoryEtcd (running).
    pub(crate) fn add_task(&mut self, caller: bool) -> u64 {
        self.next_task += 1;
        self.tasks.insert(
            self.next_task,
            Task {
                runnable: true,
                notified: false,
                caller,
            },
        );
        self.next_task
    }

    /// A task ended.
    pub(crate) fn end_task(&mut self, task: u64, wakers: &mut Wakers) {
        self.tasks.remove(&task);
        let _ = self.auto_advance(wakers);
    }

    /// A task (future) goes idle unless woken meanwhile; returns whether it may
    /// sleep.
    pub(crate) fn task_idle(&mut self, task: u64, wakers: &mut Wakers) -> bool {
        let Some(t) = self.tasks.get_mut(&task) else {
            return false;
        };
        if t.notified {
            t.notified = false;
            return false;
        }
        t.runnable = false;
        let _ = self.auto_advance(wakers);
        true
    }

    /// Whether an idle task was woken (and clear the wake-up).
    pub(crate) fn take_notified(&mut self, task: u64) -> bool {
        match self.tasks.get_mut(&task) {
            Some(t) if t.notified => {
                t.notified = false;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Wake a task (its future's waker was called).
    pub(crate) fn notify_task(&mut self, task: u64) {
        if let Some(t) = self.tasks.get_mut(&task) {
            t.notified = true;
            t.runnable = true;
        }
    }

    /// Register a waiter for the current thread.
    pub(crate) fn register(
        &mut self,
        me: usize,
        deadline: Option<u64>,
        on_change: bool,
        waker: Option<Waker>,
    ) -> u64 {
        let task = current_task(me);
        let caller = task.is_none_or(|t| self.tasks.get(&t).is_some_and(|t| t.caller));
        let thread = (task.is_none() && waker.is_none()).then(|| std::thread::current().id());
        self.next_waiter += 1;
        let kicked = deadline.is_some_and(|d| d <= self.t());
        self.waiters.insert(
            self.next_waiter,
            Waiter {
                deadline,
                on_change,
                task,
                caller,
                waker,
                kicked,
                interrupted: false,
                thread,
            },
        );
        self.next_waiter
    }

    /// Wake every background task's waiter early (see `Transport::interrupt`).
    pub(crate) fn interrupt(&mut self, wakers: &mut Wakers) {
        let ids: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, w)| !w.kicked && !w.caller && w.task.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(w) = self.waiters.get_mut(&id) {
                w.interrupted = true;
            }
            self.kick(id, wakers);
        }
    }

    /// Whether waiter `id` was interrupted.
    pub(crate) fn was_interrupted(&self, id: u64) -> bool {
        self.waiters.get(&id).is_some_and(|w| w.interrupted)
    }

    /// Change a waiter's deadline and waker (a future polled again).
    pub(crate) fn refresh(&mut self, id: u64, deadline: Option<u64>, waker: Option<Waker>) {
        let now = self.t();
        if let Some(w) = self.waiters.get_mut(&id) {
            w.deadline = deadline;
            w.waker = waker;
            w.kicked = deadline.is_some_and(|d| d <= now);
        }
    }

    pub(crate) fn is_kicked(&self, id: u64) -> bool {
        self.waiters.get(&id).is_none_or(|w| w.kicked)
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.waiters.remove(&id);
    }

    fn kick(&mut self, id: u64, wakers: &mut Wakers) {
        let Some(w) = self.waiters.get_mut(&id) else {
            return;
        };
        if w.kicked {
            return;
        }
        w.kicked = true;
        match w.task {
            Some(task) if w.waker.is_some() => {
                // Our own executor's future: wake it without its waker (which
                // would take this lock).
                if let Some(t) = self.tasks.get_mut(&task) {
                    t.notified = true;
                    t.runnable = true;
                }
            }
            Some(task) => {
                if let Some(t) = self.tasks.get_mut(&task) {
                    t.runnable = true;
                }
            }
            None => {
                if let Some(waker) = w.waker.take() {
                    wakers.push(waker);
                }
            }
        }
    }

    /// After the core was asked anything: wake the long polls if the cluster
    /// changed, and whatever is due.
    pub(crate) fn after_core(&mut self, wakers: &mut Wakers) {
        let now = self.core.fingerprint();
        if now != self.seen {
            self.seen = now;
            self.kick_changes(wakers);
        } else {
            self.kick_due(wakers);
        }
    }

    /// Wake every waiter whose deadline has come.
    pub(crate) fn kick_due(&mut self, wakers: &mut Wakers) {
        let now = self.t();
        let due: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, w)| !w.kicked && w.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.kick(id, wakers);
        }
    }

    /// Wake every long poll: something changed.
    pub(crate) fn kick_changes(&mut self, wakers: &mut Wakers) {
        let polls: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, w)| !w.kicked && w.on_change)
            .map(|(id, _)| *id)
            .collect();
        for id in polls {
            self.kick(id, wakers);
        }
        self.kick_due(wakers);
    }

    /// The earliest of `time` over the waiters not woken yet.
    fn earliest_waiter(&self, time: impl Fn(&Waiter) -> Option<u64>) -> Option<u64> {
        self.waiters
            .values()
            .filter(|w| !w.kicked)
            .filter_map(time)
            .min()
    }

    /// The next time something is due: a waiter's deadline or a change the
    /// cluster makes by itself (TTL expiry, an election's end). A long poll
    /// has no deadline of its own (etcd 3.4 sets none): only its client's.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let waiters = self.earliest_waiter(|w| w.deadline);
        [waiters, self.core.next_change()]
            .into_iter()
            .flatten()
            .min()
    }

    fn running_tasks(&self) -> usize {
        self.tasks
            .values()
            .filter(|t| t.runnable && !t.caller)
            .count()
    }

    /// Move virtual time to `target` (never back), letting the cluster catch up
    /// and waking what is due.
    pub(crate) fn step_to(&mut self, target: u64, wakers: &mut Wakers) {
        if let Clock::Virtual { offset, .. } = &mut self.clock {
            *offset = (*offset).max(target);
        }
        let now = self.t();
        self.core.advance(now);
        self.after_core(wakers);
    }

    /// A thread of the test's own comes back from a blocking call (see
    /// [`QUIET`]); MemoryEtcd's own task threads do not count.
    pub(crate) fn touch(&mut self, me: usize) {
        if self.is_virtual() && current_task(me).is_none() {
            self.recent
                .insert(std::thread::current().id(), Instant::now());
        }
    }

    /// How long, in real time, until every thread of the test's own that is
    /// not waiting has been quiet for [`QUIET`] (since it came back from a
    /// call, and since time last jumped); `None`: they all have.
    fn busy_for(&mut self) -> Option<Duration> {
        let now = Instant::now();
        self.recent
            .retain(|_, at| now.saturating_duration_since(*at) < ACTIVE);
        if self.recent.is_empty() {
            return None;
        }
        let waiting: HashSet<ThreadId> = self
            .waiters
            .values()
            .filter(|w| !w.kicked)
            .filter_map(|w| w.thread)
            .collect();
        let last_jump = self.last_jump;
        self.recent
            .iter()
            .filter(|(t, _)| !waiting.contains(t))
            .map(|(_, at)| {
                let since = last_jump.map_or(*at, |j| j.max(*at));
                QUIET.saturating_sub(now.saturating_duration_since(since))
            })
            .filter(|d| !d.is_zero())
            .max()
    }

    /// In virtual time, when a caller waits, no background task runs and every
    /// other thread of the test's own has been quiet for [`QUIET`], jump from deadline to deadline until something wakes (a
    /// caller's wait ends, or a background task has work). Returns how long
    /// (real time) to wait before trying again when another thread was busy.
    pub(crate) fn auto_advance(&mut self, wakers: &mut Wakers) -> Option<Duration> {
        if !self.is_virtual() {
            return None;
        }
        loop {
            let caller_waits = self.waiters.values().any(|w| !w.kicked && w.caller);
            if !caller_waits || self.running_tasks() > 0 {
                return None;
            }
            if let Some(busy) = self.busy_for() {
                return Some(busy.max(Duration::from_micros(100)));
            }
            let woken = self
                .waiters
                .values()
                .filter(|w| w.kicked && w.caller)
                .count();
            let next = self.next_deadline()?;
            let before = self.t();
            self.last_jump = Some(Instant::now());
            self.step_to(next, wakers);
            let woken_now = self
                .waiters
                .values()
                .filter(|w| w.kicked && w.caller)
                .count();
            if woken_now > woken || self.running_tasks() > 0 || self.t() == before {
                return None;
            }
        }
    }

    /// Mark the current task blocked (before a blocking wait).
    pub(crate) fn block_task(&mut self, me: usize) {
        if let Some(task) = current_task(me) {
            if let Some(t) = self.tasks.get_mut(&task) {
                t.runnable = false;
            }
        }
    }

    /// Whether a future waits (on a deadline, or for a change).
    pub(crate) fn futures_wait(&self) -> bool {
        self.waiters
            .values()
            .any(|w| !w.kicked && w.waker.is_some())
    }

    /// Whether background tasks are still running (for `advance` to wait).
    pub(crate) fn busy(&self) -> bool {
        self.running_tasks() > 0
    }
}

/// The task the current thread runs for MemoryEtcd `me`.
pub(crate) fn current_task(me: usize) -> Option<u64> {
    CURRENT
        .with(|c| c.get())
        .filter(|(m, _)| *m == me)
        .map(|(_, t)| t)
}

/// Run the rest of this thread as task `task` of MemoryEtcd `me`.
pub(crate) fn enter_task(me: usize, task: u64) {
    CURRENT.with(|c| c.set(Some((me, task))));
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Release the lock, wake the futures in `wakers` and every blocked thread.
    pub(crate) fn release(&self, st: MutexGuard<'_, State>, wakers: Wakers) {
        drop(st);
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// Block the current thread until waiter `id` is woken or its deadline
    /// passes; the waiter is removed. Also says whether it was interrupted.
    pub(crate) fn block<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        me: usize,
        id: u64,
    ) -> (MutexGuard<'a, State>, bool) {
        st.block_task(me);
        let mut wakers = Vec::new();
        let mut retry = st.auto_advance(&mut wakers);
        drop(st);
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
        let mut st = self.lock();
        loop {
            if st.is_kicked(id) {
                break;
            }
            match st.clock {
                Clock::Real(_) => {
                    let now = st.t();
                    let next = st.next_deadline().unwrap_or(now + 1_000_000_000);
                    if next <= now {
                        let mut w = Vec::new();
                        st.core.advance(now);
                        st.after_core(&mut w);
                        if st.is_kicked(id) {
                            break;
                        }
                        drop(st);
                        for w in w {
                            w.wake();
                        }
                        self.cond.notify_all();
                        st = self.lock();
                        continue;
                    }
                    let wait = Duration::from_nanos(next - now).min(Duration::from_millis(250));
                    st = self
                        .cond
                        .wait_timeout(st, wait)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                Clock::Virtual { .. } => {
                    st = match retry {
                        // Another thread was busy: look again once it may not be.
                        Some(after) => self
                            .cond
                            .wait_timeout(st, after)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|e| e.into_inner().0),
                        // Nothing to wait for but a wake-up: look again now
                        // and then all the same, since what woke another
                        // waiter (a watch's worker, say) may never come back
                        // to MemoryEtcd to move time on.
                        None => self
                            .cond
                            .wait_timeout(st, QUIET)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|e| e.into_inner().0),
                    };
                    if !st.is_kicked(id) {
                        let mut w = Vec::new();
                        retry = st.auto_advance(&mut w);
                        if !w.is_empty() || st.is_kicked(id) {
                            drop(st);
                            self.cond.notify_all();
                            for w in w {
                                w.wake();
                            }
                            st = self.lock();
                        }
                    }
                }
            }
        }
        let interrupted = st.was_interrupted(id);
        st.remove(id);
        st.touch(me);
        if let Some(task) = current_task(me) {
            if let Some(t) = st.tasks.get_mut(&task) {
                t.runnable = true;
            }
        }
        (st, interrupted)
    }

    /// Let `d` of time pass: in virtual time, step through every deadline on
    /// the way, letting background tasks settle at each; in real time, sleep.
    pub(crate) fn advance(&self, d: Duration) {
        if !self.lock().is_virtual() {
            std::thread::sleep(d);
            return;
        }
        // Background tasks first reach their next wait, so their deadlines count.
        let mut st = self.settle();
        let target = st.t().saturating_add(ns(d));
        loop {
            let now = st.t();
            let step = st
                .next_deadline()
                .filter(|&n| n > now && n <= target)
                .unwrap_or(target);
            let mut wakers = Vec::new();
            st.step_to(step, &mut wakers);
            self.release(st, wakers);
            st = self.settle();
            if st.t() >= target {
                break;
            }
        }
    }

    /// Wait (in real time, briefly) for background tasks to block again.
    pub(crate) fn settle(&self) -> MutexGuard<'_, State> {
        let started = Instant::now();
        let mut st = self.lock();
        while st.busy() && started.elapsed() < Duration::from_secs(5) {
            st = self
                .cond
                .wait_timeout(st, Duration::from_millis(5))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        st
    }
}
