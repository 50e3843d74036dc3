//! A fair, herd-free lock on etcd v2, compatible with python-etcd's `etcd.Lock`.
//!
//! **Layout** (python-etcd's): a lock named `name` is the directory
//! `/_locks/<name>`. Each contender appends an in-order key (POST, so etcd names
//! it with a 20-digit, zero-padded global index) whose value is the contender's
//! unique id, with a TTL. The lowest key holds the lock. A Rust and a Python
//! process contending for the same name therefore exclude each other.
//!
//! **Protocol**:
//! - create the contender's key; if the outcome of that POST is unknown, list
//!   the directory (a quorum read) and look for the id before trying again;
//!   should a POST the listing did not show be applied late, the *stray* key
//!   with our id is deleted once a listing shows it, and the release sweeps
//!   the directory for it ([`Held::strays`]);
//! - list the directory sorted; if the key is first, the lock is held; a
//!   listing that lacks the key (a member behind the others may answer it) is
//!   read again through the quorum before the key counts as expired and
//!   another is created;
//! - otherwise watch only the predecessor (from the listing's `X-Etcd-Index +
//!   1`, so that a key unchanged for over etcd's 1000 events is still watched)
//!   and list again when it changes: a release or an expiry wakes exactly the
//!   next waiter; a wait refused with errorCode 401 lists again after a pause;
//! - while waiting, refresh the own key every third of the TTL, so a long wait
//!   keeps its place; a crashed holder's key expires with its TTL;
//! - a deadline bounds each long poll, and when it passes the contender deletes
//!   its key (or, with its create in doubt, finds it by id and deletes it) and
//!   reports a timeout; a non-blocking attempt that is not first deletes its
//!   key at once.
//!
//! **Holding is a lease**: the lock counts as held only until the TTL has passed
//! since the last successful write of the contender's key (its creation or a
//! refresh) was *sent* ([`Held::valid_until`]); etcd starts the TTL when it
//! applies the write, never earlier. Listings (which a lagging member may
//! answer, showing keys deleted since) never extend it: a key that reaches the
//! head of the queue with no time left on that lease, or that was found in a
//! listing rather than made, is refreshed before the lock is reported held.
//!
//! A reentrant lock ([`LockMachine::reentrant`]) uses the caller's instance value
//! as the id: a contender whose value already has a key reuses it, so the holder
//! acquires again without blocking. Entries are not counted: one release
//! releases.

use std::time::Instant;

mod leave;
mod machine;
mod state;

pub use machine::LockMachine;

use super::{Outcome, Request};
use crate::error::Error;
use crate::key;
use crate::machine::{Machine, Step};
use crate::response::{KeysResponse, Node};

/// Where locks live (python-etcd's `lock_prefix`).
pub const LOCK_PREFIX: &str = "/_locks";

/// The directory of lock `name`: `/_locks/<name>`. A name that is empty or has
/// a `.` or `..` segment (which would put the lock's keys outside `/_locks`) is
/// refused with [`Error::InvalidKey`].
///
/// ```
/// use etcd_v2::recipes::lock::lock_dir;
/// assert_eq!(lock_dir("nightly-job").unwrap(), "/_locks/nightly-job");
/// assert!(lock_dir("../../x/y").unwrap_err().is_invalid_input());
/// ```
pub fn lock_dir(name: &str) -> Result<String, Error> {
    key::child(LOCK_PREFIX, name)
}

/// A lock held: the contender's key, its creation index, and until when it is
/// surely held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The contender's key (`/_locks/<name>/<20 digits>`).
    pub key: String,
    /// Its `createdIndex` (the number in its name).
    pub index: u64,
    /// The TTL after the last successful write of the key was sent: the lock is
    /// held until then, unless renewed (see the module docs).
    pub valid_until: Instant,
    /// Whether a create of unknown outcome may yet leave a *stray*: another key
    /// with this contender's id, applied late (after a quorum listing did not
    /// show it and another was made). Releasing then also deletes any such key
    /// ([`Release::sweeping`](crate::recipes::release::Release::sweeping)),
    /// which would otherwise hold the lock for nobody until its TTL ran out.
    pub strays: bool,
}

/// What the driver must do next.
#[derive(Debug)]
pub enum LockStep {
    /// Run this request and hand its outcome to [`LockMachine::handle`].
    Send(Request),
    /// Nothing to do before then (a backoff).
    SleepUntil(Instant),
    /// The lock is held.
    Acquired(Held),
    /// A non-blocking attempt found the lock held by another (its key is gone).
    NotAcquired,
    /// The deadline passed before the lock was free (the key is gone, or will
    /// expire with its TTL if its deletion failed).
    TimedOut,
    /// An error that cannot be waited out.
    Failed(Error),
}

/// The first (holding) entry of a lock's listing, `None` when it is free (or
/// the directory does not exist): what `get_active_index` and
/// `get_active_value` report.
pub fn holder(listing: Result<KeysResponse, Error>) -> Result<Option<Node>, Error> {
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

/// How often `Lock::lock` starts over when the lease ran out between
/// acquiring and starting to renew (the process was paused that long).
pub const MAX_LAPSES: u8 = 3;

/// The decision after a keep-alive could not start on a lock just acquired:
/// counts the lapses, and says whether to release what is left of the key
/// and contend again (`true`) or report the failure (`false`: nothing was
/// held, or it lapsed [`MAX_LAPSES`] times already).
///
/// ```
/// use etcd_v2::recipes::lock::Lapses;
/// let mut lapses = Lapses::default();
/// assert!(lapses.start_over(true));
/// assert!(!lapses.start_over(false), "nothing held: report the error");
/// assert!(lapses.start_over(true) && lapses.start_over(true));
/// assert!(!lapses.start_over(true), "three lapses: report it");
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lapses(u8);

impl Lapses {
    /// After a keep-alive failed to start: whether to start over (`held`:
    /// whether the acquisition had left a key to release).
    pub fn start_over(&mut self, held: bool) -> bool {
        if !held || self.0 >= MAX_LAPSES {
            return false;
        }
        self.0 += 1;
        true
    }
}

impl Machine for LockMachine {
    crate::recipes::recipe_machine_types!();
    /// The lock, once held; `Ok(None)` when a non-blocking attempt found it
    /// held by another or the deadline passed.
    type Output = Result<Option<Held>, Error>;

    fn poll(&mut self, now: Instant) -> Step<Request, (), Self::Output> {
        match LockMachine::poll(self, now) {
            LockStep::Send(request) => Step::Send(request),
            LockStep::SleepUntil(at) => Step::SleepUntil(at),
            LockStep::Acquired(held) => Step::Done(Ok(Some(held))),
            LockStep::NotAcquired | LockStep::TimedOut => Step::Done(Ok(None)),
            LockStep::Failed(e) => Step::Done(Err(e)),
        }
    }

    fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        LockMachine::handle(self, outcome, now)
    }
}
