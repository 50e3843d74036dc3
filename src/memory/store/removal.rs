//! The store's removals: delete, compare-and-delete, and TTL expiry, each
//! telling the watches of every removed path.

use std::sync::Arc;

use crate::server::types::{Action, Event, NodeView, V2Error};

use super::history::Entry;
use super::stats::Op;
use super::tree;
use super::{compare, form_clean, Store};

impl Store {
    /// Delete a node (a directory needs `dir`, a non-empty one `recursive`).
    pub fn delete(
        &mut self,
        key: &[u8],
        dir: bool,
        recursive: bool,
        now: i64,
    ) -> Result<Event, V2Error> {
        // `recursive` implies `dir`, as in etcd.
        let dir = dir || recursive;
        let result = (|| -> Result<Event, V2Error> {
            super::refuse_root(key, self.index)?;
            let current = self.index;
            let n = tree::get(&self.root, key, current)?;
            if n.is_dir() {
                if !dir {
                    return Err(V2Error::new(102, key, current));
                }
                if !recursive && n.children().is_some_and(|c| !c.is_empty()) {
                    return Err(V2Error::new(108, key, current));
                }
            }
            let next = current + 1;
            let mut node = NodeView::bare(key, next, n.created);
            node.dir = n.is_dir();
            let e = Event::new(Action::Delete, node, Some(n.repr(false, now)), next);
            Ok(self.remove_and_publish(key, e))
        })();
        self.counted(Op::Delete, result)
    }

    /// Compare a file's value and/or modified index, and delete it.
    pub fn compare_and_delete(
        &mut self,
        key: &[u8],
        prev_value: &[u8],
        prev_index: u64,
        now: i64,
    ) -> Result<Event, V2Error> {
        let result = (|| -> Result<Event, V2Error> {
            let current = self.index;
            let n = tree::get(&self.root, key, current)?;
            if n.is_dir() {
                // etcd's cause is the key without its namespace: "" for the root.
                let cause = if key == b"/" { &b""[..] } else { key };
                return Err(V2Error::new(102, cause, current));
            }
            compare(n, prev_value, prev_index, current)?;
            let next = current + 1;
            let e = Event::new(
                Action::CompareAndDelete,
                NodeView::bare(key, next, n.created),
                Some(n.repr(false, now)),
                next,
            );
            Ok(self.remove_and_publish(key, e))
        })();
        self.counted(Op::CompareAndDelete, result)
    }

    /// Delete every node whose expiry is at or before `cutoff` (etcd's SYNC),
    /// each as an `expire` event.
    pub fn delete_expired(&mut self, cutoff: i64, now: i64) {
        while self.expire_next(cutoff, now).is_some() {}
    }

    /// Delete the node expiring first, if its expiry is at or before
    /// `cutoff`, as an `expire` event (with the next index), and return that
    /// event.
    pub fn expire_next(&mut self, cutoff: i64, now: i64) -> Option<Event> {
        while let Some((t, path)) = self.ttl.first().cloned() {
            if t > cutoff {
                return None;
            }
            let Ok(n) = tree::get(&self.root, &path, self.index) else {
                self.ttl.remove(&(t, path));
                continue;
            };
            let next = self.index.saturating_add(1);
            let mut node = NodeView::bare(&path, next, n.created);
            node.dir = n.is_dir();
            let e = Event::new(Action::Expire, node, Some(n.repr(false, now)), next);
            self.stats.expired();
            return Some(self.remove_and_publish(&path, e));
        }
        None
    }

    /// Remove the node at `key` (the event's index is the next one), telling the
    /// watches of every removed path, then publish the event.
    pub(super) fn remove_and_publish(&mut self, key: &[u8], e: Event) -> Event {
        let e = Arc::new(e);
        let mut removed = Vec::new();
        if let Ok(n) = tree::get(&self.root, key, self.index) {
            tree::removal_order(n, &mut removed);
        }
        let parent = tree::dir_of(key);
        if let Ok(p) = tree::get_mut(&mut self.root, &form_clean(parent), self.index) {
            if let Some(children) = p.children_mut() {
                children.remove(tree::name_of(key));
            }
        }
        for (path, expire) in &removed {
            self.hub.notify_at(&e, path, true);
            if let Some(t) = expire {
                self.ttl.remove(&(*t, path.clone()));
            }
        }
        self.index = self.index.saturating_add(1);
        self.history.add(Entry::Key(e.clone()));
        self.hub.notify(&e);
        Event::clone(&e)
    }
}
