//! A bridge write worked out on what was read: the nodes before and after,
//! its event, and the leases it needs, ready to commit.

use std::collections::{BTreeMap, BTreeSet};

use super::layout::new_leases;
use crate::memory::store::Flat;
use crate::server::types::Event;

/// A write worked out on what was read, ready to commit.
#[derive(Debug)]
pub(super) struct Planned {
    pub(super) before: BTreeMap<Vec<u8>, Flat>,
    pub(super) after: BTreeMap<Vec<u8>, Flat>,
    pub(super) event: Event,
    /// The revision it was read at (the store numbered the change one more).
    pub(super) read_at: u64,
    /// The serial key's revision then.
    pub(super) serial: u64,
    /// The lease each node's key was on then (0: none).
    pub(super) leases: BTreeMap<Vec<u8>, u64>,
    /// The v3 revision of each node's key then.
    pub(super) revisions: BTreeMap<Vec<u8>, u64>,
    /// The nodes whose `createdIndex` a marker gave.
    pub(super) marked: BTreeSet<Vec<u8>>,
    /// The leases to grant: seconds, by the node holding each.
    pub(super) to_grant: BTreeMap<Vec<u8>, u64>,
    /// The leases granted, by the node holding each.
    pub(super) granted: BTreeMap<Vec<u8>, u64>,
    /// Whether it only removes a node past its TTL (then the request is
    /// read and planned again).
    pub(super) only_expiry: bool,
}

impl Planned {
    /// `before` turned into `after` by `event`, read at the revision and
    /// with the serial key's revision `at`, the nodes' keys on `leases`.
    pub(super) fn new(
        before: BTreeMap<Vec<u8>, Flat>,
        after: BTreeMap<Vec<u8>, Flat>,
        event: Event,
        (read_at, serial): (u64, u64),
        (leases, revisions): (BTreeMap<Vec<u8>, u64>, BTreeMap<Vec<u8>, u64>),
        now: i64,
    ) -> Planned {
        let to_grant = new_leases(&before, &after, now);
        Planned {
            before,
            after,
            event,
            read_at,
            serial,
            leases,
            revisions,
            marked: BTreeSet::new(),
            to_grant,
            granted: BTreeMap::new(),
            only_expiry: false,
        }
    }
}
