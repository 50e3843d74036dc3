//! etcd's v2 store in memory: the key tree, the global index, the event
//! history and the watchers, with the semantics of etcd 3.4's `v2store`
//! (sans-IO: every call is told the wall-clock time, in Unix nanoseconds).

mod history;
mod removal;
mod snapshot;
mod stats;
mod tree;
mod watchers;
mod writes;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::server::request::{KeysMethod, KeysRequest};
use crate::server::types::{Action, Event, NodeView, V2Error};

pub use history::CAPACITY as HISTORY;
use history::{Entry, History};
pub use snapshot::Flat;
use stats::Op;
pub use stats::StoreStats;
use tree::Node;
#[cfg(feature = "bridge")]
pub(crate) use watchers::is_hidden;
use watchers::Hub;
pub use watchers::WatchId;

/// The answer to a wait.
#[derive(Debug, Clone)]
pub enum Watching {
    /// The history already holds a matching event.
    Ready(Arc<Event>),
    /// Registered: events arrive through [`Store::take`].
    Waiting(WatchId),
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    root: Node,
    index: u64,
    history: History,
    hub: Hub,
    ttl: BTreeSet<(i64, Vec<u8>)>,
    stats: StoreStats,
    /// Name in-order children after their highest sibling (see
    /// [`Store::order_after_siblings`]).
    after_siblings: bool,
}

impl Store {
    /// An empty store whose index starts at `index`, as if the cluster had
    /// already written that many internal entries (a fresh etcd 3.4 member is
    /// at 3).
    pub fn new(index: u64) -> Store {
        let mut history = History::default();
        for i in index.saturating_sub(HISTORY as u64) + 1..=index {
            history.add(Entry::Internal(i));
        }
        Store {
            root: Node::dir(b"/".to_vec(), 0, None),
            index,
            history,
            hub: Hub::default(),
            ttl: BTreeSet::new(),
            stats: StoreStats::default(),
            after_siblings: false,
        }
    }

    /// The current index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Take an index for a cluster-internal change (a member added, say).
    pub fn internal_event(&mut self) {
        self.index = self.index.saturating_add(1);
        self.history.add(Entry::Internal(self.index));
    }

    /// The store's statistics (`/v2/stats/store`).
    pub fn stats(&self) -> StoreStats {
        let mut s = self.stats.clone();
        s.watchers = self.hub.count() as u64;
        s
    }

    /// Apply a keys request (not a wait) as etcd's applier does, at `now`.
    pub fn apply(&mut self, r: &KeysRequest, now: i64) -> Result<Event, V2Error> {
        let expire = r.expiration(now);
        let refresh = r.refresh == Some(true);
        let prev_value = r.prev_value.as_deref().unwrap_or_default();
        let conditional = r.prev_index > 0 || !prev_value.is_empty();
        let key = r.key.as_slice();
        match r.method {
            KeysMethod::Get | KeysMethod::Head => self.get(key, r.recursive, r.sorted, now),
            KeysMethod::Post => self.create(key, r.dir, &r.value, true, expire, now),
            KeysMethod::Delete if conditional => {
                self.compare_and_delete(key, prev_value, r.prev_index, now)
            }
            KeysMethod::Delete => self.delete(key, r.dir, r.recursive, now),
            KeysMethod::Put => match (r.prev_exist, conditional) {
                (Some(false), _) => self.create(key, r.dir, &r.value, false, expire, now),
                (Some(true), false) => self.update(key, &r.value, expire, refresh, now),
                (None, false) => self.set(key, r.dir, &r.value, expire, refresh, now),
                (_, true) => self.compare_and_swap(
                    key,
                    prev_value,
                    r.prev_index,
                    &r.value,
                    expire,
                    refresh,
                    now,
                ),
            },
        }
    }

    fn counted(&mut self, op: Op, result: Result<Event, V2Error>) -> Result<Event, V2Error> {
        self.stats.count(&op, result.is_ok());
        result
    }

    /// Read a node (a directory lists its visible children).
    pub fn get(
        &mut self,
        key: &[u8],
        recursive: bool,
        _sorted: bool,
        now: i64,
    ) -> Result<Event, V2Error> {
        let result = tree::get(&self.root, key, self.index).map(|n| Event {
            action: Action::Get,
            node: NodeView {
                key: key.to_vec(),
                ..n.load(recursive, now)
            },
            prev_node: None,
            etcd_index: self.index,
            refresh: false,
        });
        self.counted(Op::Get, result)
    }

    /// Wait for the first event at or after `since` (0: the next one) at `key`
    /// (and below it when `recursive`).
    pub fn watch(
        &mut self,
        key: &[u8],
        recursive: bool,
        stream: bool,
        since: u64,
    ) -> Result<Watching, V2Error> {
        let since = if since == 0 {
            self.index.saturating_add(1)
        } else {
            since
        };
        match self.history.scan(key, recursive, since) {
            Err(mut e) => {
                e.index = self.index;
                Err(e)
            }
            Ok(Some(e)) => Ok(Watching::Ready(e)),
            Ok(None) => Ok(Watching::Waiting(
                self.hub.add(key, recursive, stream, since),
            )),
        }
    }

    /// The next event a waiting watch has been told of.
    pub fn take(&mut self, id: WatchId) -> Option<Arc<Event>> {
        self.hub.take(id)
    }

    /// Whether a watch was dropped by etcd (too many undelivered events).
    pub fn watch_closed(&self, id: WatchId) -> bool {
        self.hub.is_closed(id)
    }

    /// End a watch.
    pub fn unwatch(&mut self, id: WatchId) {
        self.hub.remove(id);
    }

    /// The earliest expiry of a node with a TTL.
    pub fn next_expiry(&self) -> Option<i64> {
        self.ttl.first().map(|(t, _)| *t)
    }

    /// Whether any node has a TTL.
    pub fn has_ttl_keys(&self) -> bool {
        !self.ttl.is_empty()
    }
}

/// A parent path without its trailing slash (the root stays `/`).
/// etcd refuses every write to the root itself: errorCode 107.
pub(super) fn refuse_root(key: &[u8], index: u64) -> Result<(), V2Error> {
    if key == b"/" {
        return Err(V2Error::new(107, "/", index));
    }
    Ok(())
}

pub(super) fn form_clean(dir: &[u8]) -> Vec<u8> {
    crate::server::form::absolute(dir)
}

/// etcd's compare: an empty `prev_value` or a zero `prev_index` is not compared.
/// The cause names what differed: `[asked != actual]`.
pub(super) fn compare(
    n: &Node,
    prev_value: &[u8],
    prev_index: u64,
    index: u64,
) -> Result<(), V2Error> {
    let index_ok = prev_index == 0 || n.modified == prev_index;
    let value_ok = prev_value.is_empty() || n.value() == prev_value;
    let value_cause = || {
        let mut c = b"[".to_vec();
        c.extend_from_slice(prev_value);
        c.extend_from_slice(b" != ");
        c.extend_from_slice(n.value());
        c.push(b']');
        c
    };
    let index_cause = format!("[{} != {}]", prev_index, n.modified).into_bytes();
    let cause = match (value_ok, index_ok) {
        (true, true) => return Ok(()),
        (false, true) => value_cause(),
        (true, false) => index_cause,
        (false, false) => {
            let mut c = value_cause();
            c.push(b' ');
            c.extend_from_slice(&index_cause);
            c
        }
    };
    Err(V2Error::new(101, cause, index))
}
