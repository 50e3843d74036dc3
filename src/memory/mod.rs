//! etcd v2 served in memory, for deterministic unit tests: [`MemoryEtcd`].
//!
//! The pure parts live here: the v2 [`store`] with etcd 3.4's semantics.

pub mod cluster;
mod cluster_stats;
pub mod core;
pub mod faults;
mod members;
mod peer;
pub mod store;

pub use crate::transports::memory::{MemoryEtcd, MemoryEtcdBuilder, Served};
pub use faults::{Fault, FaultRule, RandomFaults};
