//! A store built from a list of nodes, and its nodes listed back: what the v3
//! bridge (`crate::bridge`) uses to apply one v2 request, with this store's
//! exact semantics, to the part of the tree it read, and to find what changed.

use std::collections::BTreeMap;

use super::tree::{self, Body, Node};
use super::{History, Hub, Store, StoreStats};

/// One node, flat: a file with its value or a directory, with its indexes and
/// expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flat {
    /// Whether it is a directory.
    pub dir: bool,
    /// A file's value (empty for a directory).
    pub value: Vec<u8>,
    /// The index that created it.
    pub created: u64,
    /// The index of its last change.
    pub modified: u64,
    /// When it expires (Unix nanoseconds); `None` for permanent.
    pub expire: Option<i64>,
}

impl Store {
    /// Name an in-order child after the index or one past its highest
    /// in-order sibling's name, whichever is greater. etcd never needs this
    /// (its names come from one global index); the v3 bridge does, for trees
    /// copied from a v2 store whose index was ahead of the v3 revision.
    pub fn order_after_siblings(&mut self) {
        self.after_siblings = true;
    }

    /// A store at `index` holding `nodes` (clean absolute paths, the root
    /// excluded), with no history and no watchers. A node whose parent is not
    /// listed gets a directory made for it, created at index 0; a node below
    /// a file is left out.
    pub fn from_nodes(index: u64, nodes: impl IntoIterator<Item = (Vec<u8>, Flat)>) -> Store {
        let mut sorted: Vec<(Vec<u8>, Flat)> = nodes.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut store = Store {
            root: Node::dir(b"/".to_vec(), 0, None),
            index,
            history: History::default(),
            hub: Hub::default(),
            ttl: Default::default(),
            stats: StoreStats::default(),
            after_siblings: false,
        };
        for (path, flat) in sorted {
            if path == b"/" || !path.starts_with(b"/") {
                continue;
            }
            let Ok(parent) = tree::make_dirs(&mut store.root, tree::dir_of(&path), 0, index) else {
                continue;
            };
            let name = tree::name_of(&path).to_vec();
            let Some(children) = parent.children_mut() else {
                continue;
            };
            let body = if flat.dir {
                // Children listed before their directory (none, as sorted) keep
                // their place.
                match children.remove(&name) {
                    Some(Node {
                        body: Body::Dir(kids),
                        ..
                    }) => Body::Dir(kids),
                    _ => Body::Dir(BTreeMap::new()),
                }
            } else {
                Body::File(flat.value)
            };
            if let Some(t) = flat.expire {
                store.ttl.insert((t, path.clone()));
            }
            children.insert(
                name,
                Node {
                    path,
                    created: flat.created,
                    modified: flat.modified,
                    expire: flat.expire,
                    body,
                },
            );
        }
        store
    }

    /// Drop the nodes that expire at or before `now` without taking an index
    /// for it (a snapshot's nodes that the real store has expired, or will,
    /// on its own).
    pub fn drop_expired(&mut self, now: i64) {
        let index = self.index;
        self.delete_expired(now, now);
        self.index = index;
    }

    /// Every node but the root, by path.
    pub fn nodes(&self) -> BTreeMap<Vec<u8>, Flat> {
        let mut out = BTreeMap::new();
        flatten(&self.root, &mut out);
        out
    }
}

fn flatten(node: &Node, out: &mut BTreeMap<Vec<u8>, Flat>) {
    if let Some(children) = node.children() {
        for child in children.values() {
            out.insert(
                child.path.clone(),
                Flat {
                    dir: child.is_dir(),
                    value: if child.is_dir() {
                        Vec::new()
                    } else {
                        child.value().to_vec()
                    },
                    created: child.created,
                    modified: child.modified,
                    expire: child.expire,
                },
            );
            flatten(child, out);
        }
    }
}
