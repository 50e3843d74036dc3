//! [`MemoryEtcd`]: etcd v2 served in memory, as a [`Transport`] and an
//! [`AsyncTransport`], for deterministic unit tests of code that uses etcd.
//!
//! The protocol lives in [`crate::server`] (decoding requests, encoding
//! answers) and the store and cluster in [`crate::memory`]; this module adds
//! what touches threads and time: the lock, the clock, blocking and async
//! waiting, and the threads background tasks run on.

mod clock;
mod serve;
mod tasks;

pub use serve::Served;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{TransportError, TransportErrorKind};
use crate::memory::core::{Core, Handled};
use crate::memory::faults::{FaultRule, RandomFaults};
use crate::transport::{AsyncTransport, HttpRequest, HttpResult, Task, Transport};

use clock::{Clock, Shared, State};
use tasks::{Park, Target};

/// etcd v2 in memory: one store shared by every clone, served over a
/// simulated cluster of one or more members, on a real or virtual clock, with
/// faults a test injects.
///
/// ```
/// use etcd_v2::memory::MemoryEtcd;
/// use etcd_v2::Client;
///
/// let etcd = MemoryEtcd::new();
/// let client = Client::builder().build_with(etcd.clone()).unwrap();
/// client.node().set("/greeting", "hello", None).unwrap();
/// assert_eq!(client.node().get("/greeting", false).unwrap().value(), Some("hello"));
/// ```
///
/// It answers what the client sends as etcd 3.4 does at the HTTP level (the
/// whole keys API with etcd's errors and headers, waits, TTLs, `/version`,
/// `/health`, `/v2/machines`, `/v2/members`, `/v2/stats/*`); the v2 auth API
/// is not served (404).
#[derive(Clone)]
pub struct MemoryEtcd {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryEtcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("MemoryEtcd")
            .field("index", &st.core.store.index())
            .field("members", &st.core.cluster.members.len())
            .field("leader", &st.core.cluster.leader)
            .field("virtual_time", &st.is_virtual())
            .finish()
    }
}

/// How to set up a [`MemoryEtcd`].
#[derive(Debug, Clone)]
pub struct MemoryEtcdBuilder {
    members: usize,
    virtual_time: bool,
    index: u64,
    seed: u64,
    election: Duration,
    wall: Option<SystemTime>,
}

impl Default for MemoryEtcdBuilder {
    fn default() -> Self {
        MemoryEtcdBuilder {
            members: 1,
            virtual_time: false,
            index: 3,
            seed: 1,
            election: Duration::from_secs(1),
            wall: None,
        }
    }
}

/// 2026-01-01T00:00:00Z: where a virtual wall clock starts unless told.
const VIRTUAL_EPOCH_SECS: u64 = 1_767_225_600;

impl MemoryEtcdBuilder {
    setter!(
        /// How many members the simulated cluster has (default 1). Member `i`
        /// (0-based) serves `http://127.0.0.{i+1}:2379`; the first one leads.
        members(members: usize) -> members = members.max(1);

        /// Run on a virtual clock (default: real time). Time then moves only
        /// when the test calls [`MemoryEtcd::advance`], or when a caller waits in
        /// MemoryEtcd (a sleep, a long poll, a stalled request) while no
        /// background task runs: it jumps to the next deadline.
        virtual_time(virtual_time: bool) -> virtual_time = virtual_time;

        /// The store's index at start (default 3, what a fresh etcd 3.4 member
        /// reports).
        starting_index(index: u64) -> index = index;

        /// The seed for member and cluster IDs (default 1).
        seed(seed: u64) -> seed = seed;

        /// How long an election takes after the leader is lost (default 1 s).
        election(election: Duration) -> election = election;

        /// The wall-clock time at start (in `expiration` fields); default: now
        /// in real time, 2026-01-01T00:00:00Z in virtual time.
        wall_clock(wall: SystemTime) -> wall = Some(wall)
    );

    /// Build it.
    pub fn build(self) -> MemoryEtcd {
        let wall = self.wall.unwrap_or_else(|| {
            if self.virtual_time {
                UNIX_EPOCH + Duration::from_secs(VIRTUAL_EPOCH_SECS)
            } else {
                SystemTime::now()
            }
        });
        let wall0 = wall
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let urls = (0..self.members)
            .map(|i| format!("http://127.0.0.{}:2379", i + 1))
            .collect();
        let mut core = Core::new(urls, self.index, self.seed, wall0);
        core.election = u64::try_from(self.election.as_nanos()).unwrap_or(u64::MAX);
        let origin = Instant::now();
        let clock = if self.virtual_time {
            Clock::Virtual { origin, offset: 0 }
        } else {
            Clock::Real(origin)
        };
        MemoryEtcd {
            shared: Arc::new(Shared {
                state: Mutex::new(State::new(core, clock)),
                cond: Condvar::new(),
            }),
        }
    }
}

pub(crate) fn timed_out() -> TransportError {
    TransportError::new(
        TransportErrorKind::Timeout,
        "timed out waiting for the answer (MemoryEtcd)",
    )
}

/// Start the real-time timer thread if it is not running.
pub(crate) fn ensure_timer(shared: &Arc<Shared>, st: &mut State) {
    if !st.timer {
        st.timer = true;
        let weak = Arc::downgrade(shared);
        std::thread::spawn(move || tasks::run_timer(weak));
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Default for MemoryEtcd {
    fn default() -> Self {
        MemoryEtcd::new()
    }
}

impl MemoryEtcd {
    /// One member at `http://127.0.0.1:2379` (the client's default endpoint),
    /// on the real clock.
    pub fn new() -> MemoryEtcd {
        MemoryEtcdBuilder::default().build()
    }

    /// Set up a MemoryEtcd: members, virtual time, starting index.
    pub fn builder() -> MemoryEtcdBuilder {
        MemoryEtcdBuilder::default()
    }

    fn me(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// The client URLs of the members (for `Client::builder().endpoints(..)`).
    pub fn endpoints(&self) -> Vec<String> {
        let st = self.shared.lock();
        st.core
            .cluster
            .members
            .iter()
            .flat_map(|m| m.client_urls.clone())
            .collect()
    }

    /// Let `d` pass. In virtual time, every deadline on the way (TTL expiry,
    /// background sleeps, waits' timeouts) comes in order, and background tasks
    /// run to their next wait at each; in real time this sleeps.
    pub fn advance(&self, d: Duration) {
        self.shared.advance(d);
    }

    /// The time since the MemoryEtcd started, on its clock.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.shared.lock().t())
    }

    /// The store's current index (`X-Etcd-Index`).
    pub fn index(&self) -> u64 {
        self.shared.lock().core.store.index()
    }

    /// The value of `key` as the leader's store has it now (`None` for a missing
    /// key or a directory), for assertions.
    pub fn value(&self, key: &str) -> Option<String> {
        let mut st = self.shared.lock();
        let now = st.t();
        let wall = st
            .core
            .wall0
            .saturating_add(i64::try_from(now).unwrap_or(i64::MAX));
        let clean = crate::server::form::absolute(key.as_bytes());
        let e = st.core.store.get(&clean, false, false, wall).ok()?;
        e.node
            .value
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// The first change at or after index `from` to `key` (or below it, when
    /// `recursive`), as a wait from `from` would see it but without faults or
    /// waiting: `Ok(None)` if there is none yet, the errorCode 401 error once
    /// the 1000-event history has moved past `from`. For assertions about what
    /// happened.
    pub fn first_event(
        &self,
        key: &str,
        recursive: bool,
        from: u64,
    ) -> Result<Option<crate::KeysResponse>, crate::Error> {
        use crate::memory::store::Watching;
        use crate::Operation;
        let mut st = self.shared.lock();
        let clean = crate::server::form::absolute(key.as_bytes());
        let head = crate::server::reply::Indexes {
            etcd_index: st.core.store.index(),
            ..Default::default()
        };
        let id = st.core.cluster.id;
        let answer = match st.core.store.watch(&clean, recursive, false, from.max(1)) {
            Ok(Watching::Ready(e)) => crate::server::reply::watch(Some(&e), id, head),
            Ok(Watching::Waiting(w)) => {
                st.core.store.unwatch(w);
                return Ok(None);
            }
            Err(e) => crate::server::reply::key_error(&e, Some(id)),
        };
        drop(st);
        let op = crate::ops::keys::Wait::new(key)
            .recursive(recursive)
            .wait_index(from.max(1));
        match op.parse(answer)? {
            crate::ops::keys::WaitOutcome::Event(e) => Ok(Some(*e)),
            crate::ops::keys::WaitOutcome::Idle { .. } => Ok(None),
        }
    }

    /// Inject a scripted fault.
    pub fn inject(&self, rule: FaultRule) {
        self.shared.lock().core.faults.add(rule);
    }

    /// Draw seeded random faults for keys requests from now on.
    pub fn random_faults(&self, random: RandomFaults) {
        self.shared.lock().core.faults.random(random);
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        self.shared.lock().core.faults.clear();
    }

    /// The leading member (0-based), if there is one (none during an election).
    pub fn leader(&self) -> Option<usize> {
        let mut st = self.shared.lock();
        let t = st.t();
        st.core.advance(t);
        st.core.cluster.leader
    }

    fn control(&self, f: impl FnOnce(&mut Core, u64)) {
        let mut st = self.shared.lock();
        let t = st.t();
        f(&mut st.core, t);
        let mut wakers = Vec::new();
        st.after_core(&mut wakers);
        self.shared.release(st, wakers);
    }

    /// Crash member `i`: it refuses connections, its waits break. A crashed
    /// leader leaves an election (see [`MemoryEtcdBuilder::election`]) during
    /// which writes stall and then fail with errorCode 300.
    pub fn crash(&self, i: usize) {
        self.control(|c, t| c.crash(i, t));
    }

    /// Crash the leader, returning which member it was.
    pub fn crash_leader(&self) -> Option<usize> {
        let leader = self.leader()?;
        self.crash(leader);
        Some(leader)
    }

    /// Restart a crashed member, up to date. As etcd's does, it then publishes
    /// its attributes through raft: one change of the store's index (when a
    /// leader can commit it).
    pub fn restart(&self, i: usize) {
        self.control(|c, t| c.restart(i, t));
    }

    /// Member `i` falls behind: its local reads (and waits) are answered from
    /// the store as it is now, until [`MemoryEtcd::heal`]. Writes through it
    /// still reach the leader.
    pub fn lag(&self, i: usize) {
        self.control(|c, t| c.fall_behind(i, false, t));
    }

    /// Member `i` is cut off from the others: stale local reads with its old
    /// raft term, writes and quorum reads stalling into errorCode 300; if it led,
    /// the others elect a new leader.
    pub fn partition(&self, i: usize) {
        self.control(|c, t| c.fall_behind(i, true, t));
    }

    /// End a [`MemoryEtcd::lag`] or [`MemoryEtcd::partition`]: the member
    /// catches up, and its waits see what they missed.
    pub fn heal(&self, i: usize) {
        self.control(|c, t| c.catch_up(i, t));
    }

    /// Send a request and wait for the answer (blocking), giving up when
    /// `abandoned` says the caller has gone (checked at each wake-up).
    pub(crate) fn send_until(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
        abandoned: &dyn Fn() -> bool,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let me = self.me();
        let shared = &self.shared;
        let mut st = shared.lock();
        let t = st.t();
        let client_deadline = timeout.map(|d| t.saturating_add(nanos(d)));
        let handled = st.core.handle(&request, t);
        let mut wakers = Vec::new();
        st.after_core(&mut wakers);
        shared.release(st, wakers);
        let mut st = shared.lock();
        st.touch(me);
        match handled {
            Handled::Reply(r) => Ok(r),
            Handled::Failed(e) => Err(e),
            Handled::Stall { until, then } => {
                let Some(deadline) = [until, client_deadline].into_iter().flatten().min() else {
                    return Err(timed_out());
                };
                let id = st.register(me, Some(deadline), false, None);
                let (st, interrupted) = shared.block(st, me, id);
                if interrupted {
                    return Err(timed_out());
                }
                let gives_up_first = client_deadline.is_none_or(|c| until.is_some_and(|u| u <= c));
                if until.is_some_and(|u| st.t() >= u) && gives_up_first {
                    then.ok_or_else(timed_out)
                } else {
                    Err(timed_out())
                }
            }
            Handled::Waiting(wait) => loop {
                let t = st.t();
                if let Some(r) = st.core.poll_wait(wait, t) {
                    let mut wakers = Vec::new();
                    st.after_core(&mut wakers);
                    shared.release(st, wakers);
                    return r;
                }
                if client_deadline.is_some_and(|d| t >= d) || abandoned() {
                    st.core.cancel_wait(wait);
                    return Err(timed_out());
                }
                let id = st.register(me, client_deadline, true, None);
                let (guard, interrupted) = shared.block(st, me, id);
                st = guard;
                if interrupted {
                    st.core.cancel_wait(wait);
                    return Err(timed_out());
                }
            },
        }
    }

    fn spawn_thread(&self, task: Box<dyn FnOnce() + Send + 'static>, caller: bool) {
        let id = self.shared.lock().add_task(caller);
        let shared = Arc::clone(&self.shared);
        let me = self.me();
        std::thread::spawn(move || {
            clock::enter_task(me, id);
            task();
            let mut st = shared.lock();
            let mut wakers = Vec::new();
            st.end_task(id, &mut wakers);
            shared.release(st, wakers);
        });
    }
}

impl Transport for MemoryEtcd {
    fn send(&self, request: HttpRequest, timeout: Option<Duration>) -> HttpResult {
        self.send_until(request, timeout, &|| false)
    }

    fn now(&self) -> Instant {
        let st = self.shared.lock();
        st.instant(st.t())
    }

    fn sleep(&self, duration: Duration) {
        let st = self.shared.lock();
        if !st.is_virtual() {
            drop(st);
            std::thread::sleep(duration);
            return;
        }
        let mut st = st;
        let deadline = st.t().saturating_add(nanos(duration));
        let id = st.register(self.me(), Some(deadline), false, None);
        drop(self.shared.block(st, self.me(), id));
    }

    fn interrupt(&self) {
        let mut st = self.shared.lock();
        let mut wakers = Vec::new();
        st.interrupt(&mut wakers);
        self.shared.release(st, wakers);
    }

    fn spawn(&self, task: Box<dyn FnOnce() + Send + 'static>) {
        self.spawn_thread(task, false);
    }

    fn spawn_for_caller(&self, task: Box<dyn FnOnce() + Send + 'static>) {
        self.spawn_thread(task, true);
    }
}

impl AsyncTransport for MemoryEtcd {
    async fn send(&self, request: HttpRequest, timeout: Option<Duration>) -> HttpResult {
        let (handled, client_deadline) = {
            let mut st = self.shared.lock();
            let t = st.t();
            let handled = st.core.handle(&request, t);
            let mut wakers = Vec::new();
            st.after_core(&mut wakers);
            self.shared.release(st, wakers);
            (handled, timeout.map(|d| t.saturating_add(nanos(d))))
        };
        let target = match handled {
            Handled::Reply(r) => return Ok(r),
            Handled::Failed(e) => return Err(e),
            Handled::Stall { until, then } => {
                if until.is_none() && client_deadline.is_none() {
                    return Err(timed_out());
                }
                Target::Stall { until, then }
            }
            Handled::Waiting(wait) => Target::Wait(wait),
        };
        Park {
            shared: Arc::clone(&self.shared),
            me: self.me(),
            target,
            client_deadline,
            waiter: None,
        }
        .await
    }

    fn now(&self) -> Instant {
        let st = self.shared.lock();
        st.instant(st.t())
    }

    async fn sleep(&self, duration: Duration) {
        let at = {
            let st = self.shared.lock();
            st.t().saturating_add(nanos(duration))
        };
        let _ = Park {
            shared: Arc::clone(&self.shared),
            me: self.me(),
            target: Target::Sleep(at),
            client_deadline: None,
            waiter: None,
        }
        .await;
    }

    fn spawn(&self, task: Task) {
        tasks::spawn(&self.shared, self.me(), task);
    }
}
