//! Where the v2 tree lives in the v3 keyspace under the prefix `P` (see the
//! [module docs](super)): the keys of nodes and of their markers, the read of
//! the part of the tree a request touches, and the writes that turn one state
//! of it into another.

use std::collections::{BTreeMap, BTreeSet};

use super::v3::{self, Txn, TxnResponse};
use crate::memory::store::Flat;

/// The tag after `P` of the keys that mark a node that a set replaced: the
/// marker's revision is the node's `createdIndex`, or, once the marker was
/// put again to move it to another lease, its value (in decimal). It is on
/// the node's lease, so it goes with the node (markers of earlier versions,
/// on no lease, are read alike).
pub(super) const CREATED: u8 = 0;
/// The tag after `P` of the keys holding a node's expiry (Unix nanoseconds,
/// in decimal), on the node's lease.
pub(super) const EXPIRY: u8 = 1;
/// The tag after `P` of the keys holding a file's `modifiedIndex` (in
/// decimal) when its key was put again only to move it to another lease: it
/// holds while its revision is the key's.
pub(super) const MODIFIED: u8 = 2;

/// The layout under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: Vec<u8>,
}

/// A marker's value: a number in decimal.
fn decimal<T: std::str::FromStr>(value: &[u8]) -> Option<T> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether `path` is `dir` or below it.
fn within(path: &[u8], dir: &[u8]) -> bool {
    path == dir || (path.starts_with(dir) && path.get(dir.len()) == Some(&b'/'))
}

impl Layout {
    /// The layout under `prefix` (checked by [`super::check_prefix`]).
    pub fn new(prefix: Vec<u8>) -> Layout {
        Layout { prefix }
    }

    /// The key every bridge write puts (with its v2 event) and compares.
    pub fn serial(&self) -> &[u8] {
        &self.prefix
    }

    /// The key of the node at `path` (a directory's ends in `/`).
    pub fn node(&self, path: &[u8], dir: bool) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.extend_from_slice(path);
        if dir {
            k.push(b'/');
        }
        k
    }

    fn tagged(&self, tag: u8, path: &[u8]) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.push(tag);
        k.extend_from_slice(path);
        k
    }

    /// `[start, end)` of `key` and everything below it, under `tag` (`None`:
    /// the nodes themselves).
    fn subtree(&self, tag: Option<u8>, key: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let start = match tag {
            Some(tag) => self.tagged(tag, key),
            None => self.node(key, false),
        };
        let mut end = start.clone();
        if key != b"/" {
            end.push(b'/');
        }
        let end = v3::prefix_end(&end);
        (start, end)
    }

    /// One read, at one revision, of what a request on `key` touches: each
    /// ancestor (as file and as directory, and its expiry), the subtree, its
    /// markers, and the serial key.
    pub fn read(&self, key: &[u8]) -> Txn {
        let mut ranges = Vec::new();
        let mut at = 0;
        while let Some(i) = key[at + 1..].iter().position(|&b| b == b'/') {
            let ancestor = &key[..at + 1 + i];
            ranges.push(v3::range(&self.node(ancestor, false), None));
            ranges.push(v3::range(&self.node(ancestor, true), None));
            // A directory's TTL ends what is below it.
            ranges.push(v3::range(&self.tagged(EXPIRY, ancestor), None));
            at += 1 + i;
        }
        for tag in [None, Some(CREATED), Some(EXPIRY), Some(MODIFIED)] {
            let (start, end) = self.subtree(tag, key);
            ranges.push(v3::range(&start, Some(&end)));
        }
        ranges.push(v3::range(self.serial(), None));
        Txn::read(ranges)
    }

    /// The nodes a read for `key` found, by v2 path, the serial key's
    /// revision, and the lease each node's key is on (0: none).
    pub fn load(&self, key: &[u8], read: &TxnResponse) -> Loaded {
        let mut nodes = Vec::new();
        let mut leases = BTreeMap::new();
        let mut revisions = BTreeMap::new();
        let mut serial = 0;
        let mut created = BTreeMap::new();
        let mut marked = BTreeSet::new();
        let mut expiry = BTreeMap::new();
        let mut modified = BTreeMap::new();
        let kvs = read
            .responses
            .iter()
            .filter_map(|r| r.response_range.as_ref())
            .flat_map(|r| &r.kvs);
        for kv in kvs {
            if kv.key == self.prefix {
                serial = kv.mod_revision;
                continue;
            }
            let Some(rest) = kv.key.strip_prefix(self.prefix.as_slice()) else {
                continue;
            };
            match rest.split_first() {
                Some((&CREATED, path)) => {
                    let at = decimal(&kv.value).unwrap_or(kv.mod_revision);
                    created.insert(path.to_vec(), at);
                    continue;
                }
                Some((&MODIFIED, path)) => {
                    if let Some(index) = decimal(&kv.value) {
                        modified.insert(path.to_vec(), (kv.mod_revision, index));
                    }
                    continue;
                }
                Some((&EXPIRY, path)) => {
                    if let Some(at) = decimal(&kv.value) {
                        expiry.insert(path.to_vec(), at);
                    }
                    continue;
                }
                _ => {}
            }
            let (path, dir) = match rest.strip_suffix(b"/") {
                Some(p) if !p.is_empty() => (p, true),
                _ => (rest, false),
            };
            // The subtree range also spans siblings such as `/a-b` of `/a`.
            let related = key == b"/" || within(path, key) || within(key, path);
            if !related || !path.starts_with(b"/") {
                continue;
            }
            leases.insert(path.to_vec(), kv.lease);
            revisions.insert(path.to_vec(), kv.mod_revision);
            nodes.push((
                path.to_vec(),
                Flat {
                    dir,
                    value: if dir { Vec::new() } else { kv.value.clone() },
                    created: kv.create_revision,
                    modified: kv.mod_revision,
                    expire: None,
                },
            ));
        }
        for (path, node) in &mut nodes {
            // A marker older than the key is stale: left by a node whose lease
            // ended (v3 removed the key, not the marker) before this one was
            // made.
            if let Some(&at) = created.get(path).filter(|&&at| at >= node.created) {
                node.created = at;
                marked.insert(path.clone());
            }
            node.expire = expiry.get(path).copied();
            if node.dir {
                // etcd v2 never changes a directory's modifiedIndex (an
                // update of its TTL reports the new index but keeps the old).
                node.modified = node.created;
            } else if let Some(&(at, index)) = modified.get(path) {
                if at == node.modified {
                    node.modified = index;
                }
            }
        }
        Loaded {
            nodes,
            serial,
            leases,
            revisions,
            marked,
        }
    }

    /// The conditions, besides the serial key's, under which the writes that
    /// turn `before` into `after` still hold: each node they change or
    /// remove (the topmost of a removed subtree) is as it was read
    /// (`revisions`), so that a lease that ended meanwhile (which does not
    /// touch the serial key) makes the commit start over. At most `most`.
    pub fn unchanged(
        &self,
        before: &BTreeMap<Vec<u8>, Flat>,
        after: &BTreeMap<Vec<u8>, Flat>,
        revisions: &BTreeMap<Vec<u8>, u64>,
        most: usize,
    ) -> Vec<serde_json::Value> {
        let mut removed: Vec<&[u8]> = Vec::new();
        let mut compares = Vec::new();
        for (path, old) in before {
            if after.get(path) == Some(old) || removed.iter().any(|d| within(path, d)) {
                continue;
            }
            if old.dir && !after.contains_key(path) {
                removed.push(path);
            }
            if let Some(&revision) = revisions.get(path) {
                compares.push(v3::mod_revision_is(&self.node(path, old.dir), revision));
            }
            if compares.len() >= most {
                break;
            }
        }
        compares
    }

    /// The writes that turn `before` into `after`. A node goes on the lease
    /// of whichever ends first of its own TTL and its directories' (see
    /// [`holder`]): the lease granted for this write for that node
    /// (`granted`, see [`new_leases`]), else the lease its key is on now
    /// (`leases`, from the read). A node whose lease so changes is put again
    /// even if nothing else did.
    pub fn diff(
        &self,
        before: &BTreeMap<Vec<u8>, Flat>,
        after: &BTreeMap<Vec<u8>, Flat>,
        (leases, marked): (&BTreeMap<Vec<u8>, u64>, &BTreeSet<Vec<u8>>),
        granted: &BTreeMap<Vec<u8>, u64>,
    ) -> Vec<serde_json::Value> {
        let current = |path: &[u8]| leases.get(path).copied().filter(|&l| l != 0);
        let lease_of = |path: &[u8]| {
            let h = holder(after, path)?;
            granted.get(h).copied().or_else(|| current(h))
        };
        let mut ops = Vec::new();
        let mut gone_dirs: Vec<&[u8]> = Vec::new();
        for (path, old) in before {
            if gone_dirs.iter().any(|d| within(path, d)) {
                continue; // removed with its directory
            }
            match after.get(path) {
                Some(new) if new.dir == old.dir => {
                    if old.expire.is_some() && new.expire.is_none() {
                        ops.push(v3::delete(&self.tagged(EXPIRY, path)));
                    }
                }
                _ if old.dir => {
                    // The directory's key and everything below it, markers
                    // included.
                    // (`X/` to `X0`: never a sibling such as `/a-b` of `/a`.)
                    for base in [
                        self.node(path, false),
                        self.tagged(CREATED, path),
                        self.tagged(EXPIRY, path),
                        self.tagged(MODIFIED, path),
                    ] {
                        let mut start = base;
                        start.push(b'/');
                        let end = v3::prefix_end(&start);
                        ops.push(v3::delete_range(&start, &end));
                    }
                    ops.push(v3::delete(&self.tagged(CREATED, path)));
                    ops.push(v3::delete(&self.tagged(EXPIRY, path)));
                    gone_dirs.push(path);
                }
                _ => {
                    ops.push(v3::delete(&self.node(path, false)));
                    ops.push(v3::delete(&self.tagged(CREATED, path)));
                    // Put by a move to no lease, it would stay for good.
                    ops.push(v3::delete(&self.tagged(MODIFIED, path)));
                    if old.expire.is_some() {
                        ops.push(v3::delete(&self.tagged(EXPIRY, path)));
                    }
                }
            }
        }
        for (path, new) in after {
            let old = before.get(path);
            let on = lease_of(path);
            if old == Some(new) && on == current(path) {
                continue;
            }
            ops.push(v3::put_on(&self.node(path, new.dir), &new.value, on));
            if old == Some(new) && !new.dir {
                // Put again only to change its lease: v2's modifiedIndex stays.
                let key = self.tagged(MODIFIED, path);
                ops.push(v3::put_on(&key, new.modified.to_string().as_bytes(), on));
            }
            if let Some(at) = new.expire {
                let key = self.tagged(EXPIRY, path);
                ops.push(v3::put_on(&key, at.to_string().as_bytes(), on));
            }
            let replaced = old.is_some_and(|old| old.dir == new.dir && old.created != new.created);
            if replaced {
                // A node replaced in place: v3 keeps the key's create revision,
                // so the new one is marked (on the node's lease, to go with it).
                ops.push(v3::put_on(&self.tagged(CREATED, path), b"", on));
            } else if marked.contains(path) && on != current(path) {
                // A marked node on another lease (moved, or updated with a new
                // TTL): its marker goes along, its index as its value (its
                // revision changes).
                let key = self.tagged(CREATED, path);
                ops.push(v3::put_on(&key, new.created.to_string().as_bytes(), on));
            }
        }
        ops
    }
}

/// What was read: the nodes by v2 path, the serial key's revision, and the
/// lease each node's key is on (0: none).
#[derive(Debug, Default)]
pub struct Loaded {
    /// The nodes.
    pub nodes: Vec<(Vec<u8>, Flat)>,
    /// The serial key's revision.
    pub serial: u64,
    /// The lease of each node's key.
    pub leases: BTreeMap<Vec<u8>, u64>,
    /// The v3 revision of each node's key.
    pub revisions: BTreeMap<Vec<u8>, u64>,
    /// The nodes whose `createdIndex` a marker gives (a node a set replaced).
    pub marked: BTreeSet<Vec<u8>>,
}

/// The node whose TTL ends `path`'s life: of `path` and its directories, the
/// one expiring first (the topmost on a tie); `None` when none expires. etcd
/// v2 removes a directory with everything below it, so a node lives on that
/// node's lease and goes with it.
pub fn holder<'a>(nodes: &'a BTreeMap<Vec<u8>, Flat>, path: &[u8]) -> Option<&'a [u8]> {
    let mut best: Option<(&'a [u8], i64)> = None;
    let ends = path
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'/' && i > 0)
        .map(|(i, _)| i)
        .chain([path.len()]);
    for end in ends {
        let Some((key, node)) = nodes.get_key_value(&path[..end]) else {
            continue;
        };
        if let Some(at) = node.expire {
            if best.is_none_or(|(_, b)| at < b) {
                best = Some((key.as_slice(), at));
            }
        }
    }
    best.map(|(key, _)| key)
}

/// The nodes of `after` that need a lease of their own granted for this
/// write, with its length in seconds seen at `now` (Unix nanoseconds): each
/// node holding a lease (see [`holder`]) that this write changed, or that was
/// on a directory's lease before; the expiry rounded up, and a second more.
pub fn new_leases(
    before: &BTreeMap<Vec<u8>, Flat>,
    after: &BTreeMap<Vec<u8>, Flat>,
    now: i64,
) -> BTreeMap<Vec<u8>, u64> {
    let mut out = BTreeMap::new();
    for path in after.keys() {
        let Some(h) = holder(after, path) else {
            continue;
        };
        let changed = before.get(h) != after.get(h) || holder(before, h) != Some(h);
        let Some(at) = after.get(h).and_then(|n| n.expire) else {
            continue;
        };
        if changed && !out.contains_key(h) {
            let left = i128::from(at) - i128::from(now);
            let secs = (left.max(0) + 999_999_999) / 1_000_000_000;
            let secs = u64::try_from(secs).unwrap_or(u64::MAX).saturating_add(1);
            out.insert(h.to_vec(), secs);
        }
    }
    out
}
