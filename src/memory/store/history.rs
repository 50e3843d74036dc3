//! The last 1000 events, as etcd's `EventHistory` keeps them, for waits that
//! start from a past index.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::server::types::{wait_sees, Event, V2Error};

/// How many events etcd keeps.
pub const CAPACITY: usize = 1000;

/// An event of the history: a change of the key space, or one of the cluster's
/// own (membership, version) that takes an index but no user watch sees.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A key event.
    Key(Arc<Event>),
    /// A cluster-internal event at this index.
    Internal(u64),
}

impl Entry {
    fn index(&self) -> u64 {
        match self {
            Entry::Key(e) => e.index(),
            Entry::Internal(i) => *i,
        }
    }
}

/// The history ring.
#[derive(Debug, Clone, Default)]
pub struct History {
    events: VecDeque<Entry>,
    start: u64,
    last: u64,
}

impl History {
    /// Add an event, dropping the oldest beyond [`CAPACITY`].
    pub fn add(&mut self, e: Entry) {
        if self.events.len() == CAPACITY {
            self.events.pop_front();
        }
        self.last = e.index();
        self.events.push_back(e);
        self.start = self.events.front().map_or(0, Entry::index);
    }

    /// The first event at or after `index` that a watch of `key` (recursive or
    /// not) sees, if the history has one; errorCode 401 when `index` is older
    /// than the history ("the requested history has been cleared
    /// [oldest/asked]").
    pub fn scan(
        &self,
        key: &[u8],
        recursive: bool,
        index: u64,
    ) -> Result<Option<Arc<Event>>, V2Error> {
        if index < self.start {
            let cause = format!(
                "the requested history has been cleared [{}/{}]",
                self.start, index
            );
            return Err(V2Error::new(401, cause, 0));
        }
        if index > self.last {
            return Ok(None);
        }
        let offset = usize::try_from(index - self.start).unwrap_or(usize::MAX);
        for entry in self.events.iter().skip(offset) {
            let Entry::Key(e) = entry else { continue };
            if e.refresh {
                continue;
            }
            let prev_dir = e.prev_node.as_ref().filter(|p| p.dir).map(|p| &p.key[..]);
            if wait_sees(key, recursive, &e.node.key, &e.action, prev_dir) {
                return Ok(Some(e.clone()));
            }
        }
        Ok(None)
    }
}
