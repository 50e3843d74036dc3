//! The seed's `client.module`: locks and leader election, driven through either
//! client from the state machines in [`crate::recipes`]. Background work
//! (keep-alives, campaigns) runs through the transport's `spawn`: a thread for
//! the blocking client, a task for the async one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::signal::{within, Queue};
use super::{AsyncClient, Client, Watch};
use crate::error::Error;
use crate::ops::keys;
use crate::recipes::leader::{LeaderMachine, LeaderStep};
use crate::recipes::lock::{lock_dir, Held, LockMachine, LockStep};
use crate::recipes::renew::{RenewStep, Renewer};
use crate::response::Node;
use crate::transport::{AsyncTransport, Transport};
use crate::watch::WatchEvent;

/// How long a blocking stop or resign waits for its background loop to end.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// A 128-bit random id in hex (like python-etcd's `uuid4().hex`).
pub(crate) fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut words = [0u64; 2];
    for (i, w) in words.iter_mut().enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_usize(i);
        *w = h.finish();
    }
    format!("{:016x}{:016x}", words[0], words[1])
}

/// The seed's modules (`client.module`).
#[derive(Debug)]
pub struct Modules<'a, C> {
    client: &'a C,
}

impl<'a, C> Modules<'a, C> {
    pub(super) fn new(client: &'a C) -> Modules<'a, C> {
        Modules { client }
    }

    /// Locks: the seed's `module.lock`.
    pub fn lock(&self) -> LockOps<'a, C> {
        LockOps {
            client: self.client,
        }
    }

    /// Leader election: the seed's `module.leader`.
    pub fn leader(&self) -> LeaderOps<'a, C> {
        LeaderOps {
            client: self.client,
        }
    }
}

/// Locks (the seed's `module.lock`), with python-etcd's key layout: see
/// [`crate::recipes::lock`].
#[derive(Debug)]
pub struct LockOps<'a, C> {
    client: &'a C,
}

impl<C: Clone> LockOps<'_, C> {
    /// An exclusive lock named `name`, whose key expires `ttl` seconds after it
    /// was last written (so a crashed holder's lock frees itself). Nothing is sent
    /// until a method of the handle is called.
    pub fn get_lock(&self, name: &str, ttl: u64) -> Lock<C> {
        Lock::new(self.client.clone(), name, unique_id(), ttl, false)
    }

    /// A reentrant lock: a holder identified by `instance_value` acquires it
    /// again without blocking; one release (by value) releases it.
    pub fn get_rlock(&self, name: &str, instance_value: &str, ttl: u64) -> Lock<C> {
        Lock::new(
            self.client.clone(),
            name,
            instance_value.to_owned(),
            ttl,
            true,
        )
    }
}

/// A lock handle: one contender (the seed's `_Lock` and `_ReentrantLock`).
#[derive(Debug)]
pub struct Lock<C> {
    client: C,
    name: String,
    id: String,
    ttl: u64,
    reentrant: bool,
    held: Option<Held>,
}

/// How an acquisition ended.
pub(crate) enum Acquisition {
    Acquired(Held),
    NotAcquired,
    TimedOut,
}

impl<C> Lock<C> {
    fn new(client: C, name: &str, id: String, ttl: u64, reentrant: bool) -> Lock<C> {
        Lock {
            client,
            name: name.to_owned(),
            id,
            ttl,
            reentrant,
            held: None,
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This contender's id: the value of its key (the instance value of a
    /// reentrant lock).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This contender's key, while it holds the lock.
    pub fn key(&self) -> Option<&str> {
        self.held.as_ref().map(|h| h.key.as_str())
    }

    /// Whether this handle acquired the lock and has not released it. (Whether
    /// it still holds it depends on renewal: see `keep_alive`.)
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    fn machine(&self) -> Result<LockMachine, Error> {
        if self.ttl == 0 {
            return Err(Error::invalid_argument(
                "ttl",
                "a lock needs a TTL of at least 1 second",
            ));
        }
        let m = LockMachine::new(lock_dir(&self.name)?, self.id.as_str(), self.ttl);
        Ok(if self.reentrant { m.reentrant() } else { m })
    }

    fn listing(&self) -> Result<keys::Get, Error> {
        Ok(keys::Get::new(lock_dir(&self.name)?).sorted(true))
    }

    fn acquired(&mut self, outcome: Acquisition) -> bool {
        match outcome {
            Acquisition::Acquired(held) => {
                self.held = Some(held);
                true
            }
            Acquisition::NotAcquired | Acquisition::TimedOut => false,
        }
    }

    fn not_held(&self) -> Error {
        Error::Misuse(format!("lock {:?} is not held by this handle", self.name))
    }
}

/// The first (holding) entry of a lock's listing, `None` when it is free.
fn holder(listing: Result<crate::KeysResponse, Error>) -> Result<Option<Node>, Error> {
    match listing {
        Ok(listing) => {
            let mut children: Vec<Node> = listing.node.children.unwrap_or_default();
            children.retain(|n| !n.dir);
            children.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(children.into_iter().next())
        }
        Err(e) if e.is_key_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a guarded delete's answer means the key is gone (deleted now or
/// already), retrying once after an unknown outcome.
fn gone(result: &Result<crate::KeysResponse, Error>) -> Option<bool> {
    match result {
        Ok(_) => Some(true),
        Err(e) if e.is_key_not_found() || e.is_precondition_failed() => Some(false),
        Err(Error::OutcomeUnknown { .. }) => None,
        Err(_) => Some(false),
    }
}

/// Runs background work and reports it: loss for keep-alives, events for
/// campaigns, and its end.
#[derive(Debug)]
struct Background<E> {
    stop: AtomicBool,
    events: Queue<E>,
    done: Queue<()>,
}

impl<E> Background<E> {
    fn new() -> Arc<Background<E>> {
        Arc::new(Background {
            stop: AtomicBool::new(false),
            events: Queue::new(),
            done: Queue::new(),
        })
    }
}

/// A background renewal of a key (a lock's or a leader's): every third of the
/// TTL, guarded by the holder's value. It reports loss when the key is gone, no
/// longer the holder's, or its TTL ran out before a renewal succeeded. Dropping
/// it stops renewing.
#[derive(Debug)]
pub struct KeepAlive<C> {
    background: Arc<Background<Error>>,
    lost: Arc<Mutex<Option<String>>>,
    blocking: bool,
    client: C,
}

impl<C> KeepAlive<C> {
    /// Whether the key has been lost.
    pub fn is_lost(&self) -> bool {
        self.lost.lock().map(|l| l.is_some()).unwrap_or(true)
    }

    /// Why the key was lost, if it was.
    pub fn lost_reason(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }
}

impl<C> Drop for KeepAlive<C> {
    fn drop(&mut self) {
        self.background.stop.store(true, Ordering::SeqCst);
        if self.blocking {
            self.background.done.wait_closed(STOP_WAIT);
        }
    }
}

/// What a [`Campaign`] or an [`Observe`] reports.
#[derive(Debug)]
pub enum LeaderEvent {
    /// This campaign became the leader.
    Elected,
    /// This campaign lost leadership (its key expired or was taken); it
    /// campaigns again unless resigned.
    Lost(Error),
    /// The leader changed: its value, or `None` when there is none.
    Changed(Option<String>),
}

/// A background campaign (see `LeaderOps::campaign`). Dropping it resigns.
#[derive(Debug)]
pub struct Campaign<C> {
    background: Arc<Background<LeaderEvent>>,
    leading: Arc<AtomicBool>,
    blocking: bool,
    client: C,
}

impl<C> Campaign<C> {
    /// Whether this campaign leads right now (as far as its renewals know).
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }
}

impl<C> Drop for Campaign<C> {
    fn drop(&mut self) {
        self.background.stop.store(true, Ordering::SeqCst);
        if self.blocking {
            self.background.done.wait_closed(STOP_WAIT);
        }
    }
}

/// Releases its lock when dropped: at once for a blocking client, in a
/// background task for an async one (errors are logged, not raised).
pub struct LockGuard<'a, C> {
    lock: &'a mut Lock<C>,
    release: fn(&mut Lock<C>),
}

impl<C: std::fmt::Debug> std::fmt::Debug for LockGuard<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", &self.lock)
            .finish()
    }
}

impl<C> LockGuard<'_, C> {
    /// The lock.
    pub fn lock(&mut self) -> &mut Lock<C> {
        self.lock
    }
}

impl<C> Drop for LockGuard<'_, C> {
    fn drop(&mut self) {
        (self.release)(self.lock);
    }
}

/// Leader election (the seed's `module.leader`): see
/// [`crate::recipes::leader`].
#[derive(Debug)]
pub struct LeaderOps<'a, C> {
    client: &'a C,
}

/// Follows who leads a key (see `LeaderOps::observe`): [`LeaderEvent::Changed`]
/// with the current leader first, then at every change; a blocking `Iterator`
/// for a [`Client`], an `async fn next` for an [`AsyncClient`].
#[derive(Debug)]
pub struct Observe<C> {
    client: C,
    key: String,
    watch: Option<Watch<C>>,
    last: Option<Option<String>>,
}

impl<C> Observe<C> {
    /// The first event: the current leader, and the index to watch from.
    fn first(
        &mut self,
        read: Result<crate::KeysResponse, Error>,
    ) -> Result<(Option<String>, u64), Error> {
        let (current, index) = match read {
            Ok(r) => (
                r.node.value,
                r.cluster.etcd_index.unwrap_or(r.node.modified_index),
            ),
            Err(e) if e.is_key_not_found() => (None, e.etcd().map(|e| e.index).unwrap_or(0)),
            Err(e) => return Err(e),
        };
        self.last = Some(current.clone());
        Ok((current, index))
    }

    /// The leader a watch event shows, if it changed.
    fn change(&mut self, event: WatchEvent) -> Option<LeaderEvent> {
        let leader = match event {
            WatchEvent::Change(c) if c.is_deleted() => None,
            WatchEvent::Change(c) => c.node.value,
            WatchEvent::Resync { snapshot, .. } => snapshot.and_then(|s| s.node.value),
        };
        if self.last.as_ref() == Some(&leader) {
            return None;
        }
        self.last = Some(leader.clone());
        Some(LeaderEvent::Changed(leader))
    }
}

/// Whether a mode blocks (so drops wait for background work to end).
macro_rules! is_blocking {
    (blocking) => {
        true
    };
    (awaiting) => {
        false
    };
}

/// Spawn background work on the client's transport: a closure for the blocking
/// transport, a future for the async one.
macro_rules! spawn_task {
    (blocking, $client:expr, $body:block) => {
        $client.transport().spawn(Box::new(move || $body))
    };
    (awaiting, $client:expr, $body:block) => {
        $client.transport().spawn(Box::pin(async move $body))
    };
}

/// The drivers of the recipe machines, on each client.
macro_rules! drivers_api {
    (blocking) => { drivers_api!(@ blocking [] []); };
    (awaiting) => { drivers_api!(@ awaiting [async] [.await]); };
    (@ $mode:ident [$($kw:tt)*] [$($aw:tt)*]) => {
        /// Drive a lock machine to its end.
        pub(crate) $($kw)* fn run_lock_machine(&self, mut machine: LockMachine) -> Result<Acquisition, Error> {
            loop {
                match machine.poll(self.transport().now()) {
                    LockStep::Send(request) => {
                        let outcome = self.run_recipe_request(&request)$($aw)*;
                        machine.handle(outcome, self.transport().now())?;
                    }
                    LockStep::SleepUntil(at) => self.sleep_until(at, None)$($aw)*,
                    LockStep::Acquired(held) => return Ok(Acquisition::Acquired(held)),
                    LockStep::NotAcquired => return Ok(Acquisition::NotAcquired),
                    LockStep::TimedOut => return Ok(Acquisition::TimedOut),
                    LockStep::Failed(e) => return Err(e),
                }
            }
        }

        /// Drive a leader machine: `Some(())` when elected, `None` on timeout or
        /// stop.
        pub(crate) $($kw)* fn run_leader_machine(
            &self,
            machine: &mut LeaderMachine,
            stop: Option<&AtomicBool>,
        ) -> Result<Option<()>, Error> {
            loop {
                if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                    return Ok(None);
                }
                match machine.poll(self.transport().now()) {
                    LeaderStep::Send(request) => {
                        let outcome = self.run_recipe_request(&request)$($aw)*;
                        machine.handle(outcome, self.transport().now())?;
                    }
                    LeaderStep::SleepUntil(at) => self.sleep_until(at, stop)$($aw)*,
                    LeaderStep::Elected { .. } => return Ok(Some(())),
                    LeaderStep::TimedOut => return Ok(None),
                    LeaderStep::Failed(e) => return Err(e),
                }
            }
        }

        /// Drive a renewer until the key is lost (returning why) or `stop` is set.
        pub(crate) $($kw)* fn renew_until_lost(&self, renewer: &mut Renewer, stop: &AtomicBool) -> Option<Error> {
            loop {
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                match renewer.poll(self.transport().now()) {
                    RenewStep::SleepUntil(at) => self.sleep_until(at, Some(stop))$($aw)*,
                    RenewStep::Send(request) => {
                        let outcome = self.execute(&request)$($aw)*;
                        if renewer.handle(outcome, self.transport().now()).is_err() {
                            return Some(Error::Misuse("the renewer refused an outcome".into()));
                        }
                    }
                    RenewStep::Lost(e) => return Some(e),
                }
            }
        }

        /// Delete `key` if it still holds `value` (retrying once after an
        /// unknown outcome); whether this call deleted it.
        pub(crate) $($kw)* fn delete_if_holding(&self, key: &str, value: &str) -> Result<bool, Error> {
            let op = keys::Delete::new(key).prev_value(value);
            let first = self.execute(&op)$($aw)*;
            match gone(&first) {
                Some(deleted) => Ok(deleted),
                None => {
                    let again = self.execute(&op)$($aw)*;
                    match (gone(&again), again) {
                        (Some(_), _) => Ok(true),
                        (None, Err(e)) => Err(e),
                        (None, Ok(_)) => Ok(true),
                    }
                }
            }
        }

        /// Renew `key` from the background until lost or stopped.
        pub(crate) fn start_keep_alive(&self, key: String, value: String, ttl: u64) -> KeepAlive<Self>
        where
            T: 'static,
        {
            let background = Background::new();
            let lost = Arc::new(Mutex::new(None));
            let (client, bg, lost2) = (self.clone(), Arc::clone(&background), Arc::clone(&lost));
            spawn_task!($mode, self, {
                let mut renewer = Renewer::new(key, value, ttl, client.transport().now());
                if let Some(e) = client.renew_until_lost(&mut renewer, &bg.stop)$($aw)* {
                    if let Ok(mut l) = lost2.lock() {
                        *l = Some(e.to_string());
                    }
                    bg.events.push(e);
                }
                bg.done.close();
            });
            KeepAlive {
                background,
                lost,
                blocking: is_blocking!($mode),
                client: self.clone(),
            }
        }

        /// Campaign from the background until stopped, then resign.
        pub(crate) fn start_campaign(&self, key: String, value: String, ttl: u64) -> Campaign<Self>
        where
            T: 'static,
        {
            let background = Background::new();
            let leading = Arc::new(AtomicBool::new(false));
            let (client, bg, lead) = (self.clone(), Arc::clone(&background), Arc::clone(&leading));
            spawn_task!($mode, self, {
                while !bg.stop.load(Ordering::SeqCst) {
                    let mut machine = LeaderMachine::new(key.as_str(), value.as_str(), ttl);
                    match client.run_leader_machine(&mut machine, Some(&bg.stop))$($aw)* {
                        Ok(Some(())) => {}
                        Ok(None) => break,
                        Err(e) => {
                            log::debug!("campaign for {key}: {e}; trying again");
                            let later = client.transport().now() + Duration::from_secs(1);
                            client.sleep_until(later, Some(&bg.stop))$($aw)*;
                            continue;
                        }
                    }
                    lead.store(true, Ordering::SeqCst);
                    bg.events.push(LeaderEvent::Elected);
                    let mut renewer = Renewer::new(key.as_str(), value.as_str(), ttl, client.transport().now());
                    match client.renew_until_lost(&mut renewer, &bg.stop)$($aw)* {
                        Some(e) => {
                            lead.store(false, Ordering::SeqCst);
                            bg.events.push(LeaderEvent::Lost(e));
                        }
                        None => break,
                    }
                }
                if lead.swap(false, Ordering::SeqCst) {
                    // Resign on the way out.
                    let _ = client.delete_if_holding(&key, &value)$($aw)*;
                }
                bg.done.close();
            });
            Campaign {
                background,
                leading,
                blocking: is_blocking!($mode),
                client: self.clone(),
            }
        }
    };
}

impl<T: Transport> Client<T> {
    drivers_api!(blocking);
}

impl<T: AsyncTransport> AsyncClient<T> {
    drivers_api!(awaiting);
}

macro_rules! lock_api {
    (blocking, $client:ty) => { lock_api!(@ $client, [] []); };
    (awaiting, $client:ty) => { lock_api!(@ $client, [async] [.await]); };
    (@ $client:ty, [$($kw:tt)*] [$($aw:tt)*]) => {
        /// Block until the lock is held. Already held by this handle: returns at
        /// once.
        pub $($kw)* fn acquire(&mut self) -> Result<(), Error> {
            if self.held.is_some() {
                return Ok(());
            }
            let machine = self.machine()?;
            let outcome = self.client.run_lock_machine(machine)$($aw)*?;
            if self.acquired(outcome) {
                Ok(())
            } else {
                Err(Error::Misuse("a blocking acquisition ended without the lock".into()))
            }
        }

        /// Wait at most `timeout` for the lock: `Ok(true)` once held, `Ok(false)`
        /// if the time ran out (the contender's key is then removed).
        pub $($kw)* fn acquire_timeout(&mut self, timeout: Duration) -> Result<bool, Error> {
            if self.held.is_some() {
                return Ok(true);
            }
            let deadline = self.client.transport().now() + timeout;
            let machine = self.machine()?.deadline(Some(deadline));
            let outcome = self.client.run_lock_machine(machine)$($aw)*?;
            Ok(self.acquired(outcome))
        }

        /// Take the lock only if it is free now: `Ok(false)` if another holds it.
        pub $($kw)* fn try_acquire(&mut self) -> Result<bool, Error> {
            if self.held.is_some() {
                return Ok(true);
            }
            let machine = self.machine()?.non_blocking();
            let outcome = self.client.run_lock_machine(machine)$($aw)*?;
            Ok(self.acquired(outcome))
        }

        /// Acquire and return a guard that releases the lock when dropped.
        pub $($kw)* fn lock(&mut self) -> Result<LockGuard<'_, $client>, Error> {
            self.acquire()$($aw)*?;
            Ok(LockGuard {
                lock: self,
                release: Self::release_on_drop,
            })
        }

        /// Renew the lock's TTL (guarded by this holder's id):
        /// [`Error::LockLost`] if it expired or is no longer this holder's.
        pub $($kw)* fn renew(&mut self, ttl: u64) -> Result<(), Error> {
            let Some(held) = &self.held else {
                return Err(self.not_held());
            };
            let op = keys::Refresh::new(held.key.as_str(), ttl).prev_value(self.id.as_str());
            match self.client.execute(&op)$($aw)* {
                Ok(_) => {
                    self.ttl = ttl;
                    Ok(())
                }
                Err(e) if e.is_key_not_found() || e.is_precondition_failed() => {
                    let key = held.key.clone();
                    self.held = None;
                    Err(Error::LockLost {
                        key,
                        reason: "it expired or another holder's value is in it".into(),
                    })
                }
                Err(e) => Err(e),
            }
        }

        /// The current holder's index (the number of its in-order key), or `None`
        /// when nobody holds the lock (the seed's `get_active_index`).
        pub $($kw)* fn get_active_index(&self) -> Result<Option<u64>, Error> {
            let listing = self.client.execute(&self.listing()?)$($aw)*;
            Ok(holder(listing)?.map(|n| n.created_index))
        }

        /// The current holder's id or instance value, or `None` when nobody holds
        /// the lock (the seed's `get_active_value`).
        pub $($kw)* fn get_active_value(&self) -> Result<Option<String>, Error> {
            let listing = self.client.execute(&self.listing()?)$($aw)*;
            Ok(holder(listing)?.and_then(|n| n.value))
        }

        /// Release the lock: delete this holder's key, guarded by its id (a
        /// reentrant lock finds the key by its instance value). Releasing a lock
        /// that is not held, or whose key is already gone, does nothing.
        pub $($kw)* fn release(&mut self) -> Result<(), Error> {
            let key = match self.held.take() {
                Some(held) => Some(held.key),
                None if self.reentrant => {
                    let listing = self.client.execute(&self.listing()?)$($aw)*;
                    match listing {
                        Ok(l) => l
                            .children()
                            .iter()
                            .find(|n| n.value.as_deref() == Some(self.id.as_str()))
                            .map(|n| n.key.clone()),
                        Err(e) if e.is_key_not_found() => None,
                        Err(e) => return Err(e),
                    }
                }
                None => None,
            };
            match key {
                Some(key) => self.client.delete_if_holding(&key, &self.id)$($aw)*.map(|_| ()),
                None => Ok(()),
            }
        }

        /// Keep the held lock alive from the background: renew every third of
        /// the TTL and report loss (see [`KeepAlive`]).
        pub fn keep_alive(&self) -> Result<KeepAlive<$client>, Error>
        where
            T: 'static,
        {
            let Some(held) = &self.held else {
                return Err(self.not_held());
            };
            Ok(self.client.start_keep_alive(held.key.clone(), self.id.clone(), self.ttl))
        }
    };
}

impl<T: Transport> Lock<Client<T>> {
    lock_api!(blocking, Client<T>);

    fn release_on_drop(lock: &mut Lock<Client<T>>) {
        if let Err(e) = lock.release() {
            log::debug!("releasing lock {:?} on drop failed: {e}", lock.name);
        }
    }
}

impl<T: AsyncTransport + 'static> Lock<AsyncClient<T>> {
    lock_api!(awaiting, AsyncClient<T>);

    fn release_on_drop(lock: &mut Lock<AsyncClient<T>>) {
        if let Some(held) = lock.held.take() {
            let (client, id) = (lock.client.clone(), lock.id.clone());
            lock.client.transport().spawn(Box::pin(async move {
                if let Err(e) = client.delete_if_holding(&held.key, &id).await {
                    log::debug!("releasing lock {} on drop failed: {e}", held.key);
                }
            }));
        }
    }
}

macro_rules! guard_api {
    ($client:ident, $bound:ident) => {
        impl<T: $bound + 'static> LockGuard<'_, $client<T>> {
            /// Keep the lock alive while the guard lives (see `Lock::keep_alive`);
            /// declare it after the guard, so it stops before the guard releases.
            pub fn keep_alive(&self) -> Result<KeepAlive<$client<T>>, Error> {
                self.lock.keep_alive()
            }
        }
    };
}

guard_api!(Client, Transport);
guard_api!(AsyncClient, AsyncTransport);

impl<T: Transport> KeepAlive<Client<T>> {
    /// Block up to `timeout` for the key to be lost; `Some(error)` if it was.
    pub fn wait_lost(&self, timeout: Duration) -> Option<Error> {
        self.background.events.pop_timeout(timeout)
    }

    /// Stop renewing (also done on drop), waiting for the background loop to
    /// end.
    pub fn stop(&self) {
        self.background.stop.store(true, Ordering::SeqCst);
        self.background.done.wait_closed(STOP_WAIT);
    }
}

impl<T: AsyncTransport> KeepAlive<AsyncClient<T>> {
    /// Wait up to `timeout` for the key to be lost; `Some(error)` if it was.
    pub async fn wait_lost(&self, timeout: Duration) -> Option<Error> {
        within(
            self.background.events.pop(),
            self.client.transport().sleep(timeout),
        )
        .await
        .flatten()
    }

    /// Stop renewing (also done on drop, without waiting), waiting for the
    /// background task to end.
    pub async fn stop(&self) {
        self.background.stop.store(true, Ordering::SeqCst);
        self.background.done.closed().await;
    }
}

impl<T: Transport> Campaign<Client<T>> {
    /// The next event, waiting up to `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<LeaderEvent> {
        self.background.events.pop_timeout(timeout)
    }

    /// Stop campaigning and give up leadership if held (also done on drop).
    pub fn resign(&self) {
        self.background.stop.store(true, Ordering::SeqCst);
        self.background.done.wait_closed(STOP_WAIT);
    }
}

impl<T: AsyncTransport> Campaign<AsyncClient<T>> {
    /// The next event, waiting up to `timeout`.
    pub async fn next_event(&self, timeout: Duration) -> Option<LeaderEvent> {
        within(
            self.background.events.pop(),
            self.client.transport().sleep(timeout),
        )
        .await
        .flatten()
    }

    /// Stop campaigning and give up leadership if held, waiting until done
    /// (dropping the campaign also resigns, in the background).
    pub async fn resign(&self) {
        self.background.stop.store(true, Ordering::SeqCst);
        self.background.done.closed().await;
    }
}

macro_rules! leader_api {
    (blocking, $client:ty) => { leader_api!(@ $client, [] []); };
    (awaiting, $client:ty) => { leader_api!(@ $client, [async] [.await]); };
    (@ $client:ty, [$($kw:tt)*] [$($aw:tt)*]) => {
        $($kw)* fn elect(&self, key: &str, value: &str, ttl: u64, deadline: Option<Instant>) -> Result<bool, Error> {
            if ttl == 0 {
                return Err(Error::invalid_argument("ttl", "leadership needs a TTL of at least 1 second"));
            }
            let mut machine = LeaderMachine::new(key, value, ttl).deadline(deadline);
            let elected = self.client.run_leader_machine(&mut machine, None)$($aw)*?;
            Ok(elected.is_some())
        }

        /// Become leader on `key` with `value` for `ttl` seconds, or renew if
        /// this value already leads; otherwise block until the current leader's
        /// key is deleted or expires, and try again (the seed's `set_or_renew`).
        pub $($kw)* fn set_or_renew(&self, key: &str, value: &str, ttl: u64) -> Result<(), Error> {
            self.elect(key, value, ttl, None)$($aw)*.map(|_| ())
        }

        /// Like `set_or_renew`, waiting at most `timeout`: `Ok(false)` if another
        /// leader still holds the key then.
        pub $($kw)* fn set_or_renew_timeout(&self, key: &str, value: &str, ttl: u64, timeout: Duration) -> Result<bool, Error> {
            let deadline = self.client.transport().now() + timeout;
            self.elect(key, value, ttl, Some(deadline))$($aw)*
        }

        /// The current leader's value, or `None` (the seed's `get`).
        pub $($kw)* fn get(&self, key: &str) -> Result<Option<String>, Error> {
            match self.client.execute(&keys::Get::new(key))$($aw)* {
                Ok(r) => Ok(r.node.value),
                Err(e) if e.is_key_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }

        /// Resign: delete the key only if `value` leads (the seed's `delete`).
        /// `Ok(false)` if it does not.
        pub $($kw)* fn delete(&self, key: &str, value: &str) -> Result<bool, Error> {
            self.client.delete_if_holding(key, value)$($aw)*
        }

        /// Keep an existing leadership alive from the background (see
        /// [`KeepAlive`]).
        pub fn keep_alive(&self, key: &str, value: &str, ttl: u64) -> KeepAlive<$client>
        where
            T: 'static,
        {
            self.client.start_keep_alive(key.to_owned(), value.to_owned(), ttl)
        }

        /// Campaign from the background: become leader, renew every third of the
        /// TTL, report [`LeaderEvent::Elected`] and [`LeaderEvent::Lost`], and
        /// campaign again after a loss, until resigned or dropped.
        pub fn campaign(&self, key: &str, value: &str, ttl: u64) -> Campaign<$client>
        where
            T: 'static,
        {
            self.client.start_campaign(key.to_owned(), value.to_owned(), ttl.max(1))
        }

        /// Follow who leads `key`: [`LeaderEvent::Changed`] with the current
        /// leader first, then at every change.
        pub fn observe(&self, key: &str) -> Observe<$client> {
            Observe {
                client: self.client.clone(),
                key: key.to_owned(),
                watch: None,
                last: None,
            }
        }
    };
}

impl<T: Transport> LeaderOps<'_, Client<T>> {
    leader_api!(blocking, Client<T>);
}

impl<T: AsyncTransport> LeaderOps<'_, AsyncClient<T>> {
    leader_api!(awaiting, AsyncClient<T>);
}

macro_rules! observe_api {
    (blocking) => { observe_api!(@ [] []); };
    (awaiting) => { observe_api!(@ [async] [.await]); };
    (@ [$($kw:tt)*] [$($aw:tt)*]) => {
        /// The next leader change; `None` once the underlying watch ends.
        $($kw)* fn next_change(&mut self) -> Option<Result<LeaderEvent, Error>> {
            if self.last.is_none() {
                let read = self.client.execute(&keys::Get::new(self.key.as_str()))$($aw)*;
                let (current, index) = match self.first(read) {
                    Ok(v) => v,
                    Err(e) => return Some(Err(e)),
                };
                self.watch = Some(self.client.watch(&self.key).from_index(index + 1).start());
                return Some(Ok(LeaderEvent::Changed(current)));
            }
            loop {
                let event = self.watch.as_mut()?.next()$($aw)*?;
                match event {
                    Ok(event) => {
                        if let Some(change) = self.change(event) {
                            return Some(Ok(change));
                        }
                    }
                    Err(e) => return Some(Err(e)),
                }
            }
        }
    };
}

impl<T: Transport> Observe<Client<T>> {
    observe_api!(blocking);
}

impl<T: Transport> Iterator for Observe<Client<T>> {
    type Item = Result<LeaderEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_change()
    }
}

impl<T: AsyncTransport + 'static> Observe<AsyncClient<T>> {
    observe_api!(awaiting);

    /// The next leader change; `None` once the underlying watch ends.
    pub async fn next(&mut self) -> Option<Result<LeaderEvent, Error>> {
        self.next_change().await
    }
}
