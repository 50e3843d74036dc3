//! The seed's `client.module`: locks ([`super::lock`]) and leader election
//! ([`super::leader`]).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::leader::LeaderOps;
use super::lock::LockOps;

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
///
/// ```
/// # #[cfg(feature = "memory")]
/// # fn main() -> Result<(), etcd_v2::Error> {
/// use etcd_v2::{memory::MemoryEtcd, Client};
/// // Against a cluster: Client::new("127.0.0.1", 2379)?. Here, etcd in memory:
/// let etcd = MemoryEtcd::builder().build();
/// let client = Client::builder().endpoints(etcd.endpoints()).build_with(etcd.clone())?;
/// let mut lock = client.module().lock().get_lock("nightly-job", 30);
/// {
///     let _held = lock.lock()?;                   // kept alive until dropped
///     // ... the job ...
/// }
/// assert!(!lock.is_held());
/// let leader = client.module().leader();
/// leader.set_or_renew("/service/leader", "me", 30)?;
/// assert_eq!(leader.get("/service/leader")?.as_deref(), Some("me"));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "memory"))]
/// # fn main() {}
/// ```
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
