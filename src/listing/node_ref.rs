//! [`NodeRef`]: one node of a [`Listing`], lent out with [`Node`]'s readers.

use std::str::FromStr;
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use super::{Entry, Listing};
use crate::error::Error;
use crate::response::Node;

/// One node of a [`Listing`]: [`Node`]'s fields and readers, its key and value
/// borrowed from the answer.
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    listing: &'a Listing,
    at: usize,
}

impl<'a> NodeRef<'a> {
    pub(super) fn new(listing: &'a Listing, at: usize) -> NodeRef<'a> {
        NodeRef { listing, at }
    }

    fn entry(&self) -> &'a Entry {
        &self.listing.entries[self.at]
    }

    /// The key (`/` for the root).
    pub fn key(&self) -> &'a str {
        self.listing.str(self.entry().key)
    }

    /// The value's text; `None` for a directory, a deleted or expired node, or
    /// an answer to a write sent with `noValueOnSuccess` (as [`Node::value`]).
    pub fn value(&self) -> Option<&'a str> {
        self.entry().value.map(|v| self.listing.str(v))
    }

    /// The value's text, or `""` when there is none.
    pub fn value_str(&self) -> &'a str {
        self.value().unwrap_or("")
    }

    /// The value parsed as a `T`, as [`Node::value_as`] does.
    pub fn value_as<T>(&self) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        crate::value::value_as(self.key(), self.value())
    }

    /// The value deserialized from JSON as a `T`, as [`Node::json`] does.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        crate::value::json(self.key(), self.value())
    }

    /// Whether the node is a directory.
    pub fn is_directory(&self) -> bool {
        self.entry().dir
    }

    /// Whether this directory's children were listed (as
    /// [`Node::is_collection`]).
    pub fn is_collection(&self) -> bool {
        self.entry().dir && self.entry().listed
    }

    /// Whether etcd hides this key from listings (as [`Node::is_hidden`]).
    pub fn is_hidden(&self) -> bool {
        crate::key::basename(self.key()).starts_with('_')
    }

    /// When the node expires, if it has a TTL.
    pub fn expiration(&self) -> Option<SystemTime> {
        self.entry().expiration
    }

    /// Whole seconds left before it expires, if it has a TTL.
    pub fn ttl(&self) -> Option<i64> {
        self.entry().ttl
    }

    /// The index of the last change to this node.
    pub fn modified_index(&self) -> u64 {
        self.entry().modified_index
    }

    /// The index at which this node was created.
    pub fn created_index(&self) -> u64 {
        self.entry().created_index
    }

    /// The listed children, in listing order (none when none were listed).
    pub fn children(&self) -> Children<'a> {
        Children(self.below())
    }

    /// Every descendant that is not a directory, depth first, in listing order
    /// (as [`Node::leaves`]).
    pub fn leaves(&self) -> Leaves<'a> {
        Leaves(self.below())
    }

    /// The entries of this node's subtree, below the node itself.
    fn below(&self) -> Below<'a> {
        Below {
            listing: self.listing,
            next: self.at + 1,
            end: self.entry().end,
        }
    }

    /// The node as an owned [`Node`], with its subtree.
    pub fn to_node(&self) -> Node {
        let entry = self.entry();
        Node {
            key: self.key().to_owned(),
            value: self.value().map(str::to_owned),
            dir: entry.dir,
            expiration: entry.expiration,
            ttl: entry.ttl,
            children: entry.listed.then(|| {
                // Counting first (a hop per child) spares the list's growth.
                let mut children = Vec::with_capacity(self.children().count());
                children.extend(self.children().map(|c| c.to_node()));
                children
            }),
            modified_index: entry.modified_index,
            created_index: entry.created_index,
        }
    }
}

impl std::fmt::Debug for NodeRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("NodeRef");
        d.field("key", &self.key())
            .field("value", &self.value())
            .field("dir", &self.is_directory())
            .field("ttl", &self.ttl())
            .field("expiration", &self.expiration())
            .field("modified_index", &self.modified_index())
            .field("created_index", &self.created_index());
        if self.entry().listed {
            d.field("children", &self.children().count());
        }
        d.finish()
    }
}

/// Where an iteration over a node's subtree stands: the next entry, and the
/// end of the subtree.
#[derive(Clone)]
struct Below<'a> {
    listing: &'a Listing,
    next: usize,
    end: usize,
}

impl std::fmt::Debug for Below<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Below")
            .field("next", &self.next)
            .field("end", &self.end)
            .finish()
    }
}

/// The children of a [`NodeRef`], in listing order.
#[derive(Debug, Clone)]
pub struct Children<'a>(Below<'a>);

impl<'a> Iterator for Children<'a> {
    type Item = NodeRef<'a>;

    fn next(&mut self) -> Option<NodeRef<'a>> {
        let at = &mut self.0;
        if at.next >= at.end {
            return None;
        }
        let child = NodeRef::new(at.listing, at.next);
        at.next = child.entry().end;
        Some(child)
    }

    /// At least one child while any entry is left, at most one per entry.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.0.end.saturating_sub(self.0.next);
        (usize::from(left > 0), Some(left))
    }
}

/// The leaves below a [`NodeRef`] (see [`NodeRef::leaves`]).
#[derive(Debug, Clone)]
pub struct Leaves<'a>(Below<'a>);

impl<'a> Iterator for Leaves<'a> {
    type Item = NodeRef<'a>;

    fn next(&mut self) -> Option<NodeRef<'a>> {
        let at = &mut self.0;
        while at.next < at.end {
            let node = NodeRef::new(at.listing, at.next);
            let entry = node.entry();
            if entry.dir {
                // Into a directory's listed children.
                at.next += 1;
            } else {
                // A leaf: past anything listed under it (Node::leaves does not
                // look below a node that is not a directory).
                at.next = entry.end;
                return Some(node);
            }
        }
        None
    }

    /// At most one leaf per entry left (directories may hold none).
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.0.end.saturating_sub(self.0.next)))
    }
}

impl std::iter::FusedIterator for Children<'_> {}

impl std::iter::FusedIterator for Leaves<'_> {}
