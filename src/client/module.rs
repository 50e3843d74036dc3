//! The seed's `client.module`: locks and leader election, driven through the
//! client from the state machines in [`crate::recipes`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Client;
use crate::error::Error;
use crate::ops::keys;
use crate::recipes::leader::{LeaderMachine, LeaderStep};
use crate::recipes::lock::{lock_dir, Held, LockMachine, LockStep};
use crate::recipes::renew::{RenewStep, Renewer};
use crate::recipes::{Outcome, Request};
use crate::response::Node;
use crate::transport::Transport;
use crate::watch::WatchEvent;

/// Longest single sleep of a background loop, so that a stop is noticed quickly.
const STOP_CHECK: Duration = Duration::from_millis(50);

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

impl<T: Transport> Client<T> {
    /// Run a recipe machine's request: keys requests through the pool, waits as
    /// long polls bounded by the machine's timeout.
    pub(crate) fn run_recipe_request(&self, request: &Request) -> Outcome {
        match request {
            Request::Keys(op) => Outcome::Keys(self.execute(op).map(Box::new)),
            Request::Wait { wait, timeout } => {
                let attempts = self.attempts(wait).with_timeout(Some(*timeout));
                Outcome::Wait(self.execute_with(wait, attempts))
            }
        }
    }

    /// Sleep on the transport's clock until `at`, in short steps, unless `stop`.
    fn sleep_until(&self, at: Instant, stop: Option<&AtomicBool>) {
        loop {
            let now = self.transport().now();
            if now >= at || stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return;
            }
            self.transport().sleep((at - now).min(STOP_CHECK));
        }
    }

    /// The seed's `client.module`: locks and leader election.
    pub fn module(&self) -> Modules<'_, T> {
        Modules { client: self }
    }
}

/// The seed's modules (`client.module`).
#[derive(Debug)]
pub struct Modules<'a, T: Transport> {
    client: &'a Client<T>,
}

impl<'a, T: Transport> Modules<'a, T> {
    /// Locks: the seed's `module.lock`.
    pub fn lock(&self) -> LockOps<'a, T> {
        LockOps {
            client: self.client,
        }
    }

    /// Leader election: the seed's `module.leader`.
    pub fn leader(&self) -> LeaderOps<'a, T> {
        LeaderOps {
            client: self.client,
        }
    }
}

/// Locks (the seed's `module.lock`), with python-etcd's key layout: see
/// [`crate::recipes::lock`].
#[derive(Debug)]
pub struct LockOps<'a, T: Transport> {
    client: &'a Client<T>,
}

impl<T: Transport> LockOps<'_, T> {
    /// An exclusive lock named `name`, whose key expires `ttl` seconds after it
    /// was last written (so a crashed holder's lock frees itself). Nothing is sent
    /// until a method of the handle is called.
    pub fn get_lock(&self, name: &str, ttl: u64) -> Lock<T> {
        Lock::new(self.client.clone(), name, unique_id(), ttl, false)
    }

    /// A reentrant lock: a holder identified by `instance_value` acquires it
    /// again without blocking; one release (by value) releases it.
    pub fn get_rlock(&self, name: &str, instance_value: &str, ttl: u64) -> Lock<T> {
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
pub struct Lock<T: Transport> {
    client: Client<T>,
    name: String,
    id: String,
    ttl: u64,
    reentrant: bool,
    held: Option<Held>,
}

/// How an acquisition ended.
enum Acquisition {
    Acquired,
    NotAcquired,
    TimedOut,
}

impl<T: Transport> Lock<T> {
    fn new(client: Client<T>, name: &str, id: String, ttl: u64, reentrant: bool) -> Lock<T> {
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
    /// it still holds it depends on renewal: see [`Lock::keep_alive`].)
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    fn check_ttl(&self) -> Result<(), Error> {
        if self.ttl == 0 {
            return Err(Error::invalid_argument(
                "ttl",
                "a lock needs a TTL of at least 1 second",
            ));
        }
        Ok(())
    }

    fn run(&mut self, mut machine: LockMachine) -> Result<Acquisition, Error> {
        let client = self.client.clone();
        loop {
            let now = client.transport().now();
            match machine.poll(now) {
                LockStep::Send(request) => {
                    let outcome = client.run_recipe_request(&request);
                    machine.handle(outcome, client.transport().now())?;
                }
                LockStep::SleepUntil(at) => client.sleep_until(at, None),
                LockStep::Acquired(held) => {
                    self.held = Some(held);
                    return Ok(Acquisition::Acquired);
                }
                LockStep::NotAcquired => return Ok(Acquisition::NotAcquired),
                LockStep::TimedOut => return Ok(Acquisition::TimedOut),
                LockStep::Failed(e) => return Err(e),
            }
        }
    }

    fn machine(&self) -> Result<LockMachine, Error> {
        self.check_ttl()?;
        let m = LockMachine::new(lock_dir(&self.name)?, self.id.as_str(), self.ttl);
        Ok(if self.reentrant { m.reentrant() } else { m })
    }

    /// Block until the lock is held. Already held by this handle: returns at once.
    pub fn acquire(&mut self) -> Result<(), Error> {
        if self.held.is_some() {
            return Ok(());
        }
        let machine = self.machine()?;
        match self.run(machine)? {
            Acquisition::Acquired => Ok(()),
            _ => Err(Error::Misuse(
                "a blocking acquisition ended without the lock".into(),
            )),
        }
    }

    /// Wait at most `timeout` for the lock: `Ok(true)` once held, `Ok(false)` if
    /// the time ran out (the contender's key is then removed).
    pub fn acquire_timeout(&mut self, timeout: Duration) -> Result<bool, Error> {
        if self.held.is_some() {
            return Ok(true);
        }
        let deadline = self.client.transport().now() + timeout;
        let machine = self.machine()?.deadline(Some(deadline));
        Ok(matches!(self.run(machine)?, Acquisition::Acquired))
    }

    /// Take the lock only if it is free now: `Ok(false)` if another holds it.
    pub fn try_acquire(&mut self) -> Result<bool, Error> {
        if self.held.is_some() {
            return Ok(true);
        }
        let machine = self.machine()?.non_blocking();
        Ok(matches!(self.run(machine)?, Acquisition::Acquired))
    }

    /// Acquire and return a guard that releases the lock when dropped.
    pub fn lock(&mut self) -> Result<LockGuard<'_, T>, Error> {
        self.acquire()?;
        Ok(LockGuard { lock: self })
    }

    /// Renew the lock's TTL (guarded by this holder's id): [`Error::LockLost`] if
    /// it expired or is no longer this holder's.
    pub fn renew(&mut self, ttl: u64) -> Result<(), Error> {
        let Some(held) = &self.held else {
            return Err(Error::Misuse(format!(
                "lock {:?} is not held by this handle",
                self.name
            )));
        };
        let op = keys::Refresh::new(held.key.as_str(), ttl).prev_value(self.id.as_str());
        match self.client.execute(&op) {
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

    fn holder(&self) -> Result<Option<Node>, Error> {
        match self
            .client
            .execute(&keys::Get::new(lock_dir(&self.name)?).sorted(true))
        {
            Ok(listing) => {
                let mut children: Vec<Node> = listing
                    .node
                    .children
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| !n.dir)
                    .collect();
                children.sort_by(|a, b| a.key.cmp(&b.key));
                Ok(children.into_iter().next())
            }
            Err(e) if e.is_key_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The current holder's index (the number of its in-order key), or `None`
    /// when nobody holds the lock (the seed's `get_active_index`).
    pub fn get_active_index(&self) -> Result<Option<u64>, Error> {
        Ok(self.holder()?.map(|n| n.created_index))
    }

    /// The current holder's id or instance value, or `None` when nobody holds
    /// the lock (the seed's `get_active_value`).
    pub fn get_active_value(&self) -> Result<Option<String>, Error> {
        Ok(self.holder()?.and_then(|n| n.value))
    }

    /// Release the lock: delete this holder's key, guarded by its id (a
    /// reentrant lock finds the key by its instance value). Releasing a lock that
    /// is not held, or whose key is already gone, does nothing.
    pub fn release(&mut self) -> Result<(), Error> {
        let key = match self.held.take() {
            Some(held) => Some(held.key),
            None if self.reentrant => self.find_own_key()?,
            None => None,
        };
        let Some(key) = key else {
            return Ok(());
        };
        let op = keys::Delete::new(key.as_str()).prev_value(self.id.as_str());
        match self.client.execute(&op) {
            Ok(_) => Ok(()),
            Err(e) if e.is_key_not_found() || e.is_precondition_failed() => Ok(()),
            // A lost answer: the delete is safe to send again (gone is success).
            Err(Error::OutcomeUnknown { .. }) => match self.client.execute(&op) {
                Ok(_) => Ok(()),
                Err(e) if e.is_key_not_found() || e.is_precondition_failed() => Ok(()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    fn find_own_key(&self) -> Result<Option<String>, Error> {
        match self
            .client
            .execute(&keys::Get::new(lock_dir(&self.name)?).sorted(true))
        {
            Ok(listing) => Ok(listing
                .children()
                .iter()
                .find(|n| n.value.as_deref() == Some(self.id.as_str()))
                .map(|n| n.key.clone())),
            Err(e) if e.is_key_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Keep the held lock alive from the background: renew every third of the
    /// TTL and report loss (see [`KeepAlive`]).
    pub fn keep_alive(&self) -> Result<KeepAlive, Error>
    where
        T: 'static,
    {
        let Some(held) = &self.held else {
            return Err(Error::Misuse(format!(
                "lock {:?} is not held by this handle",
                self.name
            )));
        };
        Ok(KeepAlive::start(
            &self.client,
            held.key.clone(),
            self.id.clone(),
            self.ttl,
        ))
    }
}

/// Releases its lock when dropped (errors are logged, not raised).
#[derive(Debug)]
pub struct LockGuard<'a, T: Transport> {
    lock: &'a mut Lock<T>,
}

impl<T: Transport> LockGuard<'_, T> {
    /// The lock.
    pub fn lock(&mut self) -> &mut Lock<T> {
        self.lock
    }

    /// Keep the lock alive while the guard lives (see [`Lock::keep_alive`]);
    /// declare it after the guard, so it stops before the guard releases.
    pub fn keep_alive(&self) -> Result<KeepAlive, Error>
    where
        T: 'static,
    {
        self.lock.keep_alive()
    }
}

impl<T: Transport> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        if let Err(e) = self.lock.release() {
            log::debug!("releasing lock {:?} on drop failed: {e}", self.lock.name);
        }
    }
}

/// A background renewal of a key (a lock's or a leader's): every third of the
/// TTL, guarded by the holder's value. It reports loss when the key is gone, no
/// longer the holder's, or its TTL ran out before a renewal succeeded. Dropping
/// it stops renewing.
#[derive(Debug)]
pub struct KeepAlive {
    stop: Arc<AtomicBool>,
    lost: Arc<Mutex<Option<String>>>,
    lost_rx: Mutex<Receiver<Error>>,
    done_rx: Receiver<()>,
}

impl KeepAlive {
    fn start<T: Transport + 'static>(
        client: &Client<T>,
        key: String,
        value: String,
        ttl: u64,
    ) -> KeepAlive {
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(Mutex::new(None));
        let (lost_tx, lost_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let task = {
            let (client, stop, lost) = (client.clone(), Arc::clone(&stop), Arc::clone(&lost));
            move || {
                let _done = done_tx;
                let now = client.transport().now();
                let mut renewer = Renewer::new(key, value, ttl, now);
                if let Some(e) = renew_until_lost(&client, &mut renewer, &stop) {
                    if let Ok(mut l) = lost.lock() {
                        *l = Some(e.to_string());
                    }
                    let _ = lost_tx.send(e);
                }
            }
        };
        client.transport().spawn(Box::new(task));
        KeepAlive {
            stop,
            lost,
            lost_rx: Mutex::new(lost_rx),
            done_rx,
        }
    }

    /// Whether the key has been lost.
    pub fn is_lost(&self) -> bool {
        self.lost.lock().map(|l| l.is_some()).unwrap_or(true)
    }

    /// Why the key was lost, if it was.
    pub fn lost_reason(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Block up to `timeout` for the key to be lost; `Some(error)` if it was.
    pub fn wait_lost(&self, timeout: Duration) -> Option<Error> {
        let rx = self.lost_rx.lock().ok()?;
        rx.recv_timeout(timeout).ok()
    }

    /// Stop renewing (also done on drop); waits for the background loop to end.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // The loop checks the flag at least every STOP_CHECK, or when a renewal
        // returns (bounded by the client's request timeout).
        let _ = self.done_rx.recv_timeout(Duration::from_secs(30));
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Drive a renewer until the key is lost (returning why) or `stop` is set.
fn renew_until_lost<T: Transport>(
    client: &Client<T>,
    renewer: &mut Renewer,
    stop: &AtomicBool,
) -> Option<Error> {
    loop {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        let now = client.transport().now();
        match renewer.poll(now) {
            RenewStep::SleepUntil(at) => client.sleep_until(at, Some(stop)),
            RenewStep::Send(request) => {
                let outcome = client.execute(&request);
                if renewer.handle(outcome, client.transport().now()).is_err() {
                    return Some(Error::Misuse("the renewer refused an outcome".into()));
                }
            }
            RenewStep::Lost(e) => return Some(e),
        }
    }
}

/// Leader election (the seed's `module.leader`): see [`crate::recipes::leader`].
#[derive(Debug)]
pub struct LeaderOps<'a, T: Transport> {
    client: &'a Client<T>,
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

impl<T: Transport> LeaderOps<'_, T> {
    fn elect(
        &self,
        key: &str,
        value: &str,
        ttl: u64,
        deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        if ttl == 0 {
            return Err(Error::invalid_argument(
                "ttl",
                "leadership needs a TTL of at least 1 second",
            ));
        }
        let mut machine = LeaderMachine::new(key, value, ttl).deadline(deadline);
        run_leader(self.client, &mut machine, None).map(|elected| elected.is_some())
    }

    /// Become leader on `key` with `value` for `ttl` seconds, or renew if this
    /// value already leads; otherwise block until the current leader's key is
    /// deleted or expires, and try again (the seed's `set_or_renew`).
    pub fn set_or_renew(&self, key: &str, value: &str, ttl: u64) -> Result<(), Error> {
        self.elect(key, value, ttl, None).map(|_| ())
    }

    /// Like [`LeaderOps::set_or_renew`], waiting at most `timeout`: `Ok(false)` if
    /// another leader still holds the key then.
    pub fn set_or_renew_timeout(
        &self,
        key: &str,
        value: &str,
        ttl: u64,
        timeout: Duration,
    ) -> Result<bool, Error> {
        let deadline = self.client.transport().now() + timeout;
        self.elect(key, value, ttl, Some(deadline))
    }

    /// The current leader's value, or `None` (the seed's `get`).
    pub fn get(&self, key: &str) -> Result<Option<String>, Error> {
        match self.client.execute(&keys::Get::new(key)) {
            Ok(r) => Ok(r.node.value),
            Err(e) if e.is_key_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Resign: delete the key only if `value` leads (the seed's `delete`).
    /// `Ok(false)` if it does not.
    pub fn delete(&self, key: &str, value: &str) -> Result<bool, Error> {
        let op = keys::Delete::new(key).prev_value(value);
        match self.client.execute(&op) {
            Ok(_) => Ok(true),
            Err(e) if e.is_key_not_found() || e.is_precondition_failed() => Ok(false),
            Err(Error::OutcomeUnknown { .. }) => match self.client.execute(&op) {
                Ok(_) => Ok(true),
                Err(e) if e.is_key_not_found() || e.is_precondition_failed() => Ok(true),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Keep an existing leadership alive from the background (see
    /// [`KeepAlive`]).
    pub fn keep_alive(&self, key: &str, value: &str, ttl: u64) -> KeepAlive
    where
        T: 'static,
    {
        KeepAlive::start(self.client, key.to_owned(), value.to_owned(), ttl)
    }

    /// Campaign from the background: become leader, renew every third of the
    /// TTL, report [`LeaderEvent::Elected`] and [`LeaderEvent::Lost`], and
    /// campaign again after a loss, until resigned or dropped.
    pub fn campaign(&self, key: &str, value: &str, ttl: u64) -> Campaign
    where
        T: 'static,
    {
        Campaign::start(self.client, key.to_owned(), value.to_owned(), ttl.max(1))
    }

    /// Follow who leads `key`: [`LeaderEvent::Changed`] with the current leader
    /// first, then at every change.
    pub fn observe(&self, key: &str) -> Observe<T> {
        Observe {
            client: self.client.clone(),
            key: key.to_owned(),
            watch: None,
            last: None,
            started: false,
        }
    }
}

/// Drive a leader machine; `Some(())` when elected, `None` on timeout or stop.
fn run_leader<T: Transport>(
    client: &Client<T>,
    machine: &mut LeaderMachine,
    stop: Option<&AtomicBool>,
) -> Result<Option<()>, Error> {
    loop {
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            return Ok(None);
        }
        match machine.poll(client.transport().now()) {
            LeaderStep::Send(request) => {
                let outcome = client.run_recipe_request(&request);
                machine.handle(outcome, client.transport().now())?;
            }
            LeaderStep::SleepUntil(at) => client.sleep_until(at, stop),
            LeaderStep::Elected { .. } => return Ok(Some(())),
            LeaderStep::TimedOut => return Ok(None),
            LeaderStep::Failed(e) => return Err(e),
        }
    }
}

/// A background campaign (see [`LeaderOps::campaign`]). Dropping it resigns.
#[derive(Debug)]
pub struct Campaign {
    stop: Arc<AtomicBool>,
    leading: Arc<AtomicBool>,
    events: Receiver<LeaderEvent>,
    done_rx: Receiver<()>,
}

impl Campaign {
    fn start<T: Transport + 'static>(
        client: &Client<T>,
        key: String,
        value: String,
        ttl: u64,
    ) -> Campaign {
        let stop = Arc::new(AtomicBool::new(false));
        let leading = Arc::new(AtomicBool::new(false));
        let (tx, events) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let task = {
            let (client, stop, leading) = (client.clone(), Arc::clone(&stop), Arc::clone(&leading));
            move || {
                let _done = done_tx;
                campaign_loop(&client, &key, &value, ttl, &stop, &leading, &tx);
                if leading.swap(false, Ordering::SeqCst) {
                    // Resign on the way out.
                    let _ =
                        client.execute(&keys::Delete::new(key.as_str()).prev_value(value.as_str()));
                }
            }
        };
        client.transport().spawn(Box::new(task));
        Campaign {
            stop,
            leading,
            events,
            done_rx,
        }
    }

    /// Whether this campaign leads right now (as far as its renewals know).
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// The next event, waiting up to `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<LeaderEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Stop campaigning and give up leadership if held (also done on drop).
    pub fn resign(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.done_rx.recv_timeout(Duration::from_secs(30));
    }
}

impl Drop for Campaign {
    fn drop(&mut self) {
        self.resign();
    }
}

fn campaign_loop<T: Transport>(
    client: &Client<T>,
    key: &str,
    value: &str,
    ttl: u64,
    stop: &AtomicBool,
    leading: &AtomicBool,
    tx: &Sender<LeaderEvent>,
) {
    while !stop.load(Ordering::SeqCst) {
        let mut machine = LeaderMachine::new(key, value, ttl);
        match run_leader(client, &mut machine, Some(stop)) {
            Ok(Some(())) => {}
            Ok(None) => return,
            Err(e) => {
                log::debug!("campaign for {key}: {e}; trying again");
                client.sleep_until(
                    client.transport().now() + Duration::from_secs(1),
                    Some(stop),
                );
                continue;
            }
        }
        leading.store(true, Ordering::SeqCst);
        let _ = tx.send(LeaderEvent::Elected);
        let mut renewer = Renewer::new(key, value, ttl, client.transport().now());
        match renew_until_lost(client, &mut renewer, stop) {
            Some(e) => {
                leading.store(false, Ordering::SeqCst);
                let _ = tx.send(LeaderEvent::Lost(e));
            }
            None => return,
        }
    }
}

/// Follows who leads a key (see [`LeaderOps::observe`]): a blocking iterator of
/// [`LeaderEvent::Changed`].
#[derive(Debug)]
pub struct Observe<T: Transport> {
    client: Client<T>,
    key: String,
    watch: Option<super::Watch<T>>,
    last: Option<Option<String>>,
    started: bool,
}

impl<T: Transport> Iterator for Observe<T> {
    type Item = Result<LeaderEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            let (current, index) = match self.client.execute(&keys::Get::new(self.key.as_str())) {
                Ok(r) => (
                    r.node.value,
                    r.cluster.etcd_index.unwrap_or(r.node.modified_index),
                ),
                Err(e) if e.is_key_not_found() => (None, e.etcd().map(|e| e.index).unwrap_or(0)),
                Err(e) => return Some(Err(e)),
            };
            self.watch = Some(self.client.watch(&self.key).from_index(index + 1).start());
            self.last = Some(current.clone());
            return Some(Ok(LeaderEvent::Changed(current)));
        }
        let watch = self.watch.as_mut()?;
        loop {
            let leader = match watch.next()? {
                Ok(WatchEvent::Change(c)) if c.is_deleted() => None,
                Ok(WatchEvent::Change(c)) => c.node.value,
                Ok(WatchEvent::Resync { snapshot, .. }) => snapshot.and_then(|s| s.node.value),
                Err(e) => return Some(Err(e)),
            };
            if self.last.as_ref() != Some(&leader) {
                self.last = Some(leader.clone());
                return Some(Ok(LeaderEvent::Changed(leader)));
            }
        }
    }
}
