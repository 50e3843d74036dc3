//! The key tree of etcd's v2 store: files and directories with their indexes
//! and expiry, found by walking a clean absolute path.

use std::collections::BTreeMap;

use crate::server::types::{NodeView, V2Error};

/// 2000-01-01T00:00:00Z in Unix nanoseconds: etcd treats earlier expiry times
/// given to a create as "no TTL".
pub const MIN_EXPIRE: i64 = 946_684_800_000_000_000;

/// A file's value or a directory's children (sorted by name, so listings come
/// out in key order).
#[derive(Debug, Clone)]
pub enum Body {
    /// A file.
    File(Vec<u8>),
    /// A directory.
    Dir(BTreeMap<Vec<u8>, Node>),
}

/// A node of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its full path (`/` for the root).
    pub path: Vec<u8>,
    /// The index that created it.
    pub created: u64,
    /// The index of its last change.
    pub modified: u64,
    /// When it expires (Unix nanoseconds); `None` for permanent.
    pub expire: Option<i64>,
    /// Value or children.
    pub body: Body,
}

impl Node {
    /// A new file.
    pub fn file(path: Vec<u8>, value: Vec<u8>, index: u64, expire: Option<i64>) -> Node {
        Node {
            path,
            created: index,
            modified: index,
            expire,
            body: Body::File(value),
        }
    }

    /// A new directory.
    pub fn dir(path: Vec<u8>, index: u64, expire: Option<i64>) -> Node {
        Node {
            path,
            created: index,
            modified: index,
            expire,
            body: Body::Dir(BTreeMap::new()),
        }
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    /// A file's value ("" for a directory, as Go's zero string).
    pub fn value(&self) -> &[u8] {
        match &self.body {
            Body::File(v) => v,
            Body::Dir(_) => b"",
        }
    }

    /// Its name: the last path segment.
    pub fn name(&self) -> &[u8] {
        name_of(&self.path)
    }

    /// Whether etcd hides it from listings (its name starts with `_`).
    pub fn is_hidden(&self) -> bool {
        self.name().first() == Some(&b'_')
    }

    /// The children of a directory.
    pub fn children(&self) -> Option<&BTreeMap<Vec<u8>, Node>> {
        match &self.body {
            Body::Dir(c) => Some(c),
            Body::File(_) => None,
        }
    }

    /// The children of a directory, to change.
    pub fn children_mut(&mut self) -> Option<&mut BTreeMap<Vec<u8>, Node>> {
        match &mut self.body {
            Body::Dir(c) => Some(c),
            Body::File(_) => None,
        }
    }

    /// Set the expiry time to `expire`: the one it had, and `expiration` and
    /// `ttl` as etcd reports them at `now` afterwards.
    pub fn set_expire(&mut self, expire: Option<i64>, now: i64) -> (Option<i64>, Option<i64>, i64) {
        let old = std::mem::replace(&mut self.expire, expire);
        let (expiration, ttl) = self.expiration_and_ttl(now);
        (old, expiration, ttl)
    }

    /// `expiration` and `ttl` as etcd reports them at `now`: the seconds left,
    /// rounded up (0 or negative once past).
    pub fn expiration_and_ttl(&self, now: i64) -> (Option<i64>, i64) {
        match self.expire {
            None => (None, 0),
            Some(t) => {
                let left = i128::from(t) - i128::from(now);
                let mut ttl = left / 1_000_000_000;
                if left % 1_000_000_000 > 0 {
                    ttl += 1;
                }
                (Some(t), i64::try_from(ttl).unwrap_or(i64::MAX))
            }
        }
    }

    /// The node as etcd shows it (Go's `Repr`): a directory's children only
    /// when `recursive`, hidden children left out.
    pub fn repr(&self, recursive: bool, now: i64) -> NodeView {
        let (expiration, ttl) = self.expiration_and_ttl(now);
        let mut view = NodeView {
            key: self.path.clone(),
            expiration,
            ttl,
            modified_index: self.modified,
            created_index: self.created,
            ..NodeView::default()
        };
        match &self.body {
            Body::File(v) => view.value = Some(v.clone()),
            Body::Dir(children) => {
                view.dir = true;
                if recursive {
                    view.nodes = Some(listing(children, true, now));
                }
            }
        }
        view
    }

    /// The node as a read shows it (Go's `loadInternalNode`): a directory
    /// always lists its visible children, recursing only when asked.
    pub fn load(&self, recursive: bool, now: i64) -> NodeView {
        let mut view = self.repr(false, now);
        if let Body::Dir(children) = &self.body {
            view.nodes = Some(listing(children, recursive, now));
        }
        view
    }
}

fn listing(children: &BTreeMap<Vec<u8>, Node>, recursive: bool, now: i64) -> Vec<NodeView> {
    children
        .values()
        .filter(|c| !c.is_hidden())
        .map(|c| c.repr(recursive, now))
        .collect()
}

/// The last segment of a path.
pub fn name_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// The directory part of a path, with its trailing slash (Go's `path.Split`).
pub fn dir_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[..=i],
        None => b"",
    }
}

/// Go's `path.Join(parent, name)` for a clean parent and a plain name.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = parent.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// The segments etcd's `walk` visits: those after the leading slash, up to
/// the first empty one.
pub fn segments(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
        .skip(1)
        .take_while(|s| !s.is_empty())
}

/// Find the node at `path` (clean and absolute), with etcd's errors: a file on
/// the way is "Not a directory" (cause: that file), a missing name "Key not
/// found" (cause: the path up to it).
pub fn get<'a>(root: &'a Node, path: &[u8], index: u64) -> Result<&'a Node, V2Error> {
    let mut curr = root;
    for name in segments(path) {
        let Some(children) = curr.children() else {
            return Err(V2Error::new(104, curr.path.clone(), index));
        };
        match children.get(name) {
            Some(child) => curr = child,
            None => return Err(V2Error::new(100, join(&curr.path, name), index)),
        }
    }
    Ok(curr)
}

/// [`get`], to change the node.
pub fn get_mut<'a>(root: &'a mut Node, path: &[u8], index: u64) -> Result<&'a mut Node, V2Error> {
    let mut curr = root;
    for name in segments(path) {
        let parent_path = curr.path.clone();
        let Some(children) = curr.children_mut() else {
            return Err(V2Error::new(104, parent_path, index));
        };
        match children.get_mut(name) {
            Some(child) => curr = child,
            None => return Err(V2Error::new(100, join(&parent_path, name), index)),
        }
    }
    Ok(curr)
}

/// Walk to the directory `dir` (a path ending in `/`), creating missing
/// directories with created index `next` (etcd's `checkDir`); a file on the way
/// is "Not a directory".
pub fn make_dirs<'a>(
    root: &'a mut Node,
    dir: &[u8],
    next: u64,
    index: u64,
) -> Result<&'a mut Node, V2Error> {
    let mut curr = root;
    for name in segments(dir) {
        let path = join(&curr.path, name);
        let children = curr
            .children_mut()
            .ok_or_else(|| V2Error::new(104, path.clone(), index))?;
        let child = children
            .entry(name.to_vec())
            .or_insert_with(|| Node::dir(path.clone(), next, None));
        if !child.is_dir() {
            return Err(V2Error::new(104, child.path.clone(), index));
        }
        curr = child;
    }
    Ok(curr)
}

/// Every path in the subtree under (and including) `node`, children first, as
/// etcd's recursive removal reports them to watchers.
pub fn removal_order(node: &Node, out: &mut Vec<(Vec<u8>, Option<i64>)>) {
    if let Some(children) = node.children() {
        for c in children.values() {
            removal_order(c, out);
        }
    }
    out.push((node.path.clone(), node.expire));
}
