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
