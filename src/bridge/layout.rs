//! Where the v2 tree lives in the v3 keyspace under the prefix `P` (see the
//! [module docs](super)): the keys of nodes and of their markers, the read of
//! the part of the tree a request touches, and the writes that turn one state
//! of it into another.

use std::collections::BTreeMap;

use super::v3::{self, Txn, TxnResponse};
use crate::memory::store::Flat;

/// The tag after `P` of the keys that mark a node that a set replaced: the
/// marker's revision is the node's `createdIndex`.
const CREATED: u8 = 0;
/// The tag after `P` of the keys holding a node's expiry (Unix nanoseconds,
/// in decimal), on the node's lease.
const EXPIRY: u8 = 1;

/// The layout under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: Vec<u8>,
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
    /// ancestor (as file and as directory), the subtree, its markers, and the
    /// serial key.
    pub fn read(&self, key: &[u8]) -> Txn {
        let mut ranges = Vec::new();
        let mut at = 0;
        while let Some(i) = key[at + 1..].iter().position(|&b| b == b'/') {
            let ancestor = &key[..at + 1 + i];
            ranges.push(v3::range(&self.node(ancestor, false), None));
            ranges.push(v3::range(&self.node(ancestor, true), None));
            at += 1 + i;
        }
        for tag in [None, Some(CREATED), Some(EXPIRY)] {
            let (start, end) = self.subtree(tag, key);
            ranges.push(v3::range(&start, Some(&end)));
        }
        ranges.push(v3::range(self.serial(), None));
        Txn::read(ranges)
    }

    /// The nodes a read for `key` found, by v2 path, and the serial key's
    /// revision.
    pub fn load(&self, key: &[u8], read: &TxnResponse) -> (Vec<(Vec<u8>, Flat)>, u64) {
        let mut nodes = Vec::new();
        let mut serial = 0;
        let mut created = BTreeMap::new();
        let mut expiry = BTreeMap::new();
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
                    created.insert(path.to_vec(), kv.mod_revision);
                    continue;
                }
                Some((&EXPIRY, path)) => {
                    let at = std::str::from_utf8(&kv.value)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok());
                    if let Some(at) = at {
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
            }
            node.expire = expiry.get(path).copied();
        }
        (nodes, serial)
    }

    /// The writes that turn `before` into `after`; nodes that expire are put
    /// on `lease`.
    pub fn diff(
        &self,
        before: &BTreeMap<Vec<u8>, Flat>,
        after: &BTreeMap<Vec<u8>, Flat>,
        lease: Option<u64>,
    ) -> Vec<serde_json::Value> {
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
                    if old.expire.is_some() {
                        ops.push(v3::delete(&self.tagged(EXPIRY, path)));
                    }
                }
            }
        }
        for (path, new) in after {
            let old = before.get(path);
            if old == Some(new) {
                continue;
            }
            let on = new.expire.and(lease);
            ops.push(v3::put_on(&self.node(path, new.dir), &new.value, on));
            if let Some(at) = new.expire {
                let key = self.tagged(EXPIRY, path);
                ops.push(v3::put_on(&key, at.to_string().as_bytes(), on));
            }
            // A node replaced in place: v3 keeps the key's create revision, so
            // the new one is marked.
            if old.is_some_and(|old| old.dir == new.dir && old.created != new.created) {
                ops.push(v3::put(&self.tagged(CREATED, path), b""));
            }
        }
        ops
    }
}

/// The seconds a lease must last for the nodes of `after` that changed and
/// expire, seen at `now` (Unix nanoseconds): the latest expiry, rounded up,
/// and a second more; `None` when none expires.
pub fn lease_seconds(
    before: &BTreeMap<Vec<u8>, Flat>,
    after: &BTreeMap<Vec<u8>, Flat>,
    now: i64,
) -> Option<u64> {
    after
        .iter()
        .filter(|(path, new)| before.get(*path) != Some(new))
        .filter_map(|(_, new)| new.expire)
        .max()
        .map(|at| {
            let left = i128::from(at) - i128::from(now);
            let secs = (left.max(0) + 999_999_999) / 1_000_000_000;
            u64::try_from(secs).unwrap_or(u64::MAX).saturating_add(1)
        })
}
