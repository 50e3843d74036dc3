//! Locks (the seed's `module.lock`): [`Lock`] handles and their guards, driving
//! the lock machine of [`crate::recipes::lock`].

use std::sync::Arc;
use std::time::Duration;

use super::background::KeepAlive;
use super::module::unique_id;
use super::recipe_driver::ReleaseLater;
use super::{AsyncClient, Client};
use crate::error::Error;
use crate::ops::{check_ttl, keys};
use crate::recipes::lease::{Lease, TTL_RAN_OUT};
use crate::recipes::lock::{holder, lock_dir, Held, LockMachine};
use crate::recipes::release::Release;
use crate::recipes::renew::RenewOnce;
use crate::transport::{AsyncTransport, Transport};

/// Locks (the seed's `module.lock`), with python-etcd's key layout: see
/// [`crate::recipes::lock`].
#[derive(Debug)]
pub struct LockOps<'a, C> {
    pub(super) client: &'a C,
}

impl<C: Clone> LockOps<'_, C> {
    /// An exclusive lock named `name` (a name with `.` or `..` segments is
    /// refused when used), whose key expires `ttl` seconds after it was last
    /// written (so a crashed holder's lock frees itself). Nothing is sent until a
    /// method of the handle is called.
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
///
/// Holding is a lease: the lock counts as held only until its TTL has passed
/// since the last successful acquisition or renewal request was sent, on the
/// transport's clock. Keep it with [`Lock::lock`]'s guard (which renews in the
/// background), `keep_alive`, or `renew`.
#[derive(Debug)]
pub struct Lock<C> {
    client: C,
    name: String,
    id: String,
    ttl: u64,
    reentrant: bool,
    held: Option<Held>,
    lease: Arc<Lease>,
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
            lease: Lease::none(name),
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

    /// This contender's key, while this handle holds the lock.
    pub fn key(&self) -> Option<&str> {
        self.held.as_ref().map(|h| h.key.as_str())
    }

    /// Why the lock was lost, once its loss has been noticed (by `is_held`, a
    /// keep-alive or a renewal).
    pub fn lost_reason(&self) -> Option<String> {
        self.lease.lost_reason()
    }

    fn machine(&self) -> Result<LockMachine, Error> {
        if self.ttl == 0 {
            return Err(Error::invalid_argument(
                "ttl",
                "a lock needs a TTL of at least 1 second",
            ));
        }
        check_ttl(Some(self.ttl))?;
        let m = LockMachine::new(lock_dir(&self.name)?, self.id.as_str(), self.ttl);
        Ok(if self.reentrant { m.reentrant() } else { m })
    }

    fn listing(&self) -> Result<keys::Get, Error> {
        Ok(keys::Get::new(lock_dir(&self.name)?).sorted(true))
    }

    fn acquired(&mut self, outcome: Option<Held>) -> bool {
        match outcome {
            Some(held) => {
                tracing::info!(lock = %self.name, key = %held.key, "lock acquired");
                self.lease = Lease::held(&held.key, Some(held.valid_until));
                self.held = Some(held);
                true
            }
            None => false,
        }
    }

    /// What to release: this holder's key (and any strays its acquisition may
    /// have left, see [`Held::strays`]), or a reentrant lock's key found by its
    /// instance value.
    fn release_machine(&mut self) -> Result<Release, Error> {
        self.lease.end();
        let held = self.held.take();
        self.release_of(held.as_ref())
    }

    /// The release of `held` (see [`Lock::release_machine`]).
    fn release_of(&self, held: Option<&Held>) -> Result<Release, Error> {
        Ok(match held {
            Some(held) if held.strays => {
                Release::key(held.key.as_str(), self.id.as_str()).sweeping(lock_dir(&self.name)?)
            }
            Some(held) => Release::key(held.key.as_str(), self.id.as_str()),
            None if self.reentrant => Release::find(lock_dir(&self.name)?, self.id.as_str()),
            None => Release::nothing(),
        })
    }

    fn not_held(&self) -> Error {
        Error::Misuse(format!("lock {:?} is not held by this handle", self.name))
    }

    /// Whether the handle holds the lock at `now`; a lapsed hold is dropped.
    fn holds_at(&mut self, now: std::time::Instant) -> bool {
        if self.held.is_some() && !self.lease.holds(now) {
            self.held = None;
        }
        self.held.is_some()
    }
}

/// An acquisition in progress. If it is dropped before it ends (an async
/// `acquire` whose future was dropped), the contender's key is removed in the
/// background rather than left to its TTL.
struct Contending<'c, C: ReleaseLater> {
    client: &'c C,
    machine: LockMachine,
    ended: bool,
}

impl<C: ReleaseLater> Drop for Contending<'_, C> {
    fn drop(&mut self) {
        if !self.ended {
            self.client.release_later(self.machine.abandoned());
        }
    }
}

/// A release in progress: if dropped before it ends, its release is handed to
/// [`ReleaseLater`].
struct Unfinished<'c, C: ReleaseLater> {
    client: &'c C,
    release: Option<Release>,
}

impl<C: ReleaseLater> Drop for Unfinished<'_, C> {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            self.client.release_later(release);
        }
    }
}

/// Releases its lock when dropped (at once for a blocking client, in a
/// background task for an async one; errors are logged). While it lives, a
/// guard from [`Lock::lock`] keeps the lock alive, renewing every third of the
/// TTL, and reports a loss through [`LockGuard::is_held`] and
/// [`LockGuard::release`].
pub struct LockGuard<'a, C> {
    lock: &'a mut Lock<C>,
    keep_alive: Option<KeepAlive<C>>,
    release: fn(&mut Lock<C>),
}

impl<C: std::fmt::Debug> std::fmt::Debug for LockGuard<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", &self.lock)
            .field("keep_alive", &self.keep_alive.is_some())
            .finish()
    }
}

impl<C> LockGuard<'_, C> {
    /// The lock.
    pub fn lock(&mut self) -> &mut Lock<C> {
        self.lock
    }

    /// The guard's background renewal, if it has one (see
    /// [`Lock::lock_without_keep_alive`]): to wait for a loss.
    pub fn keep_alive(&self) -> Option<&KeepAlive<C>> {
        self.keep_alive.as_ref()
    }

    /// Why the lock was lost, once noticed.
    pub fn lost_reason(&self) -> Option<String> {
        self.lock.lost_reason()
    }
}

impl<C> Drop for LockGuard<'_, C> {
    fn drop(&mut self) {
        // Stop renewing before releasing.
        drop(self.keep_alive.take());
        (self.release)(self.lock);
    }
}

macro_rules! lock_api {
    (blocking, $client:ty) => { lock_api!(@ $client, [] []); };
    (awaiting, $client:ty) => { lock_api!(@ $client, [async] [.await]); };
    (@ $client:ty, [$($kw:tt)*] [$($aw:tt)*]) => {
        /// Whether this handle holds the lock now: it acquired it, has not
        /// released it, and the TTL has not passed since the last successful
        /// acquisition or renewal request was sent (on the transport's clock),
        /// so etcd cannot have expired its key.
        pub fn is_held(&self) -> bool {
            self.held.is_some() && self.lease.holds(self.client.transport().now())
        }

        $($kw)* fn run(&mut self, machine: LockMachine) -> Result<bool, Error> {
            let mut contending = Contending {
                client: &self.client,
                machine,
                ended: false,
            };
            let outcome = self.client.run_machine(&mut contending.machine)$($aw)*?;
            // Ended with the lock, or without it and nothing left (the machine
            // undid what it made); a failure leaves the undoing to the drop.
            contending.ended = outcome.is_ok();
            drop(contending);
            Ok(self.acquired(outcome?))
        }

        /// Acquire the lock, waiting as long as it takes. Already held by this
        /// handle: returns at once.
        pub $($kw)* fn acquire(&mut self) -> Result<(), Error> {
            if self.holds_at(self.client.transport().now()) {
                return Ok(());
            }
            let machine = self.machine()?;
            if self.run(machine)$($aw)*? {
                Ok(())
            } else {
                Err(Error::Misuse("an acquisition without a deadline ended without the lock".into()))
            }
        }

        /// Wait at most `timeout` for the lock: `Ok(true)` once held, `Ok(false)`
        /// if the time ran out (the contender's key is then removed).
        pub $($kw)* fn acquire_timeout(&mut self, timeout: Duration) -> Result<bool, Error> {
            if self.holds_at(self.client.transport().now()) {
                return Ok(true);
            }
            // A timeout too large to add to the clock is no bound.
            let deadline = self.client.transport().now().checked_add(timeout);
            let machine = self.machine()?.deadline(deadline);
            self.run(machine)$($aw)*
        }

        /// Take the lock only if it is free now: `Ok(false)` if another holds it.
        /// A cluster that keeps failing (four transient failures since the
        /// last write that worked, e.g. one without quorum) ends the attempt
        /// with the last error, and a contender key it may have made is removed.
        pub $($kw)* fn try_acquire(&mut self) -> Result<bool, Error> {
            if self.holds_at(self.client.transport().now()) {
                return Ok(true);
            }
            let machine = self.machine()?.non_blocking();
            self.run(machine)$($aw)*
        }

        /// Acquire, and return a guard that keeps the lock alive while it lives
        /// (renewing every third of the TTL in the background) and releases it
        /// when dropped. Should the TTL run out between acquiring and starting
        /// to renew (the process paused that long), the lock is released and
        /// acquired again.
        pub $($kw)* fn lock(&mut self) -> Result<LockGuard<'_, $client>, Error>
        where
            T: 'static,
        {
            let mut lapses = crate::recipes::lock::Lapses::default();
            loop {
                self.acquire()$($aw)*?;
                let acquired = self.held.clone();
                match self.keep_alive() {
                    Ok(keep_alive) => {
                        return Ok(LockGuard {
                            lock: self,
                            keep_alive: Some(keep_alive),
                            release: Self::release_on_drop,
                        })
                    }
                    // The TTL ran out between acquiring and starting to renew
                    // (this process was paused that long): what is left of the
                    // key is removed (guarded by our id), and the lock is
                    // contended for again.
                    Err(_) if lapses.start_over(acquired.is_some()) => {
                        self.held = acquired;
                        self.release()$($aw)*?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }

        /// Acquire, and return a guard that releases the lock when dropped but
        /// does not renew it: the lock is held only for its TTL unless you
        /// `renew` it.
        pub $($kw)* fn lock_without_keep_alive(&mut self) -> Result<LockGuard<'_, $client>, Error> {
            self.acquire()$($aw)*?;
            Ok(LockGuard {
                lock: self,
                keep_alive: None,
                release: Self::release_on_drop,
            })
        }

        /// Renew the lock's TTL (guarded by this holder's id), to `ttl` seconds
        /// from now on: [`Error::LockLost`] if it expired or is no longer this
        /// holder's, without sending anything if the TTL has already passed.
        pub $($kw)* fn renew(&mut self, ttl: u64) -> Result<(), Error> {
            check_ttl(Some(ttl))?;
            let now = self.client.transport().now();
            let Some(held) = &self.held else {
                return Err(self.not_held());
            };
            let key = held.key.clone();
            let until = self.lease.valid_until().unwrap_or(now);
            let mut renewal = RenewOnce::new(key.as_str(), self.id.as_str(), ttl, until);
            match self.client.run_machine(&mut renewal)$($aw)*? {
                Ok(until) => {
                    self.ttl = ttl;
                    if self.lease.renewed(until, self.client.transport().now()) {
                        return Ok(());
                    }
                    self.held = None;
                    Err(Error::LockLost {
                        key,
                        reason: TTL_RAN_OUT.into(),
                    })
                }
                Err(Error::LockLost { key, reason }) => {
                    self.lease.lose(&reason);
                    self.held = None;
                    Err(Error::LockLost { key, reason })
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
            self.lease.end();
            let held = self.held.take();
            let mut release = self.release_of(held.as_ref())?;
            // Should this call be abandoned midway (an async `release` whose
            // future was dropped), the release is carried out in the
            // background, from the start (its delete is guarded by our id).
            let mut unfinished = Unfinished {
                client: &self.client,
                release: Some(self.release_of(held.as_ref())?),
            };
            let deleted = self.client.run_machine(&mut release)$($aw)*;
            unfinished.release = None;
            let deleted = deleted?;
            if let Ok(true) = deleted {
                tracing::info!(lock = %self.name, "lock released");
            }
            deleted.map(|_| ())
        }

        /// Keep the held lock alive from the background: renew every third of
        /// the TTL and report loss (see [`KeepAlive`]). Each renewal extends
        /// what [`Lock::is_held`] reports.
        pub fn keep_alive(&mut self) -> Result<KeepAlive<$client>, Error>
        where
            T: 'static,
        {
            if !self.holds_at(self.client.transport().now()) {
                return Err(self.not_held());
            }
            let Some(held) = &self.held else {
                return Err(self.not_held());
            };
            let _ = held;
            Ok(self
                .client
                .start_keep_alive(Arc::clone(&self.lease), self.id.clone(), self.ttl))
        }
    };
}

impl<T: Transport> Lock<Client<T>> {
    lock_api!(blocking, Client<T>);

    fn release_on_drop(lock: &mut Lock<Client<T>>) {
        if let Err(e) = lock.release() {
            tracing::info!(lock = %lock.name, error = %e, "releasing the lock on drop failed");
        }
    }
}

impl<T: AsyncTransport + 'static> Lock<AsyncClient<T>> {
    lock_api!(awaiting, AsyncClient<T>);

    fn release_on_drop(lock: &mut Lock<AsyncClient<T>>) {
        match lock.release_machine() {
            Ok(release) => lock.client.release_later(release),
            Err(e) => {
                tracing::info!(lock = %lock.name, error = %e, "releasing the lock on drop failed")
            }
        }
    }
}

macro_rules! guard_api {
    ($client:ident, $bound:ident, [$($kw:tt)*] [$($aw:tt)*]) => {
        impl<T: $bound + 'static> LockGuard<'_, $client<T>> {
            /// Whether the lock is still held (see `Lock::is_held`): false once
            /// its TTL has passed since the last successful renewal was sent, or
            /// a renewal found it gone or taken.
            pub fn is_held(&self) -> bool {
                self.lock.is_held()
            }

            /// Stop renewing and release the lock now, reporting what happened:
            /// [`Error::LockLost`] if the lock had been lost while the guard
            /// lived (the guarded delete is still sent, and removes nothing that
            /// is not this holder's).
            pub $($kw)* fn release(mut self) -> Result<(), Error> {
                drop(self.keep_alive.take());
                let held = self.lock.is_held();
                let reason = self.lock.lost_reason();
                let key = self.lock.key().unwrap_or(self.lock.name()).to_owned();
                let released = self.lock.release()$($aw)*;
                // Released: the drop has nothing left to do.
                self.release = |_| {};
                match (held, reason) {
                    (false, Some(reason)) => Err(Error::LockLost { key, reason }),
                    _ => released,
                }
            }
        }
    };
}

guard_api!(Client, Transport, [] []);
guard_api!(AsyncClient, AsyncTransport, [async] [.await]);
