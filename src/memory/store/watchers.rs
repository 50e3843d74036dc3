//! Waiting watches, told of each event as etcd's `watcherHub` tells them: at
//! the event's key and every directory above it (hidden keys only to watches
//! of themselves), and, for deletions, at every removed path.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::server::form;
use crate::server::types::Event;

/// Identifies a waiting watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchId(pub u64);

/// How many events a watch may hold undelivered before etcd drops it.
const QUEUE: usize = 100;

#[derive(Debug, Clone)]
struct Watcher {
    path: Vec<u8>,
    recursive: bool,
    stream: bool,
    since: u64,
    queue: VecDeque<Arc<Event>>,
    /// Dropped because its queue overflowed: it gets nothing more.
    closed: bool,
}

/// The watchers.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    at: BTreeMap<Vec<u8>, Vec<WatchId>>,
    watchers: HashMap<WatchId, Watcher>,
    next: u64,
}

/// Whether `key` is hidden from a watch at `watch` (a segment after the watched
/// path starts with `_`).
pub(crate) fn is_hidden(watch: &[u8], key: &[u8]) -> bool {
    if watch.len() > key.len() {
        return false;
    }
    let mut after = b"/".to_vec();
    after.extend_from_slice(&key[watch.len()..]);
    form::clean(&after).windows(2).any(|w| w == b"/_")
}

impl Hub {
    /// Register a watch of `path` for events from index `since`.
    pub fn add(&mut self, path: &[u8], recursive: bool, stream: bool, since: u64) -> WatchId {
        self.next += 1;
        let id = WatchId(self.next);
        self.watchers.insert(
            id,
            Watcher {
                path: path.to_vec(),
                recursive,
                stream,
                since,
                queue: VecDeque::new(),
                closed: false,
            },
        );
        self.at.entry(path.to_vec()).or_default().push(id);
        id
    }

    /// How many watches are registered (etcd's `watchers` statistic).
    pub fn count(&self) -> usize {
        self.at.values().map(Vec::len).sum()
    }

    /// Tell the watches at the event's key and the directories above it.
    pub fn notify(&mut self, e: &Arc<Event>) {
        let mut path = b"/".to_vec();
        self.notify_at(e, &path, false);
        for segment in e.node.key.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
            if path.len() > 1 {
                path.push(b'/');
            }
            path.extend_from_slice(segment);
            self.notify_at(e, &path, false);
        }
    }

    /// Tell the watches at `path`; `deleted` when `path` itself was removed.
    pub fn notify_at(&mut self, e: &Arc<Event>, path: &[u8], deleted: bool) {
        let Some(ids) = self.at.get_mut(path) else {
            return;
        };
        let original = e.node.key == path;
        ids.retain(|id| {
            let Some(w) = self.watchers.get_mut(id) else {
                return false;
            };
            if !original && is_hidden(path, &e.node.key) {
                return true;
            }
            if !((w.recursive || original || deleted) && e.index() >= w.since) {
                return true;
            }
            if w.queue.len() >= QUEUE {
                w.closed = true;
                return false;
            }
            w.queue.push_back(e.clone());
            w.stream
        });
        if ids.is_empty() {
            self.at.remove(path);
        }
    }

    /// The next event for a watch, if one has come.
    pub fn take(&mut self, id: WatchId) -> Option<Arc<Event>> {
        self.watchers.get_mut(&id)?.queue.pop_front()
    }

    /// Whether a watch was dropped (its queue overflowed) with nothing left to
    /// deliver.
    pub fn is_closed(&self, id: WatchId) -> bool {
        self.watchers
            .get(&id)
            .is_none_or(|w| w.closed && w.queue.is_empty())
    }

    /// Remove a watch (its request ended).
    pub fn remove(&mut self, id: WatchId) {
        if let Some(w) = self.watchers.remove(&id) {
            if let Some(ids) = self.at.get_mut(&w.path) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    self.at.remove(&w.path);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_hidden;

    #[test]
    fn hidden_as_etcd_decides() {
        assert!(is_hidden(b"/", b"/_x"));
        assert!(is_hidden(b"/a", b"/a/_b/c"));
        assert!(!is_hidden(b"/a/_b", b"/a/_b/c"));
        assert!(!is_hidden(b"/a/b/c", b"/a"));
    }
}
