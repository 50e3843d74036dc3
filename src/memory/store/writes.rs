//! The store's writes: create, set, update and compare-and-swap (etcd's
//! `internalCreate` underneath the first two).

use std::sync::Arc;

use crate::server::types::{Action, Event, NodeView, V2Error};

use super::history::Entry;
use super::stats::Op;
use super::tree::{self, Body, Node, MIN_EXPIRE};
use super::{compare, refuse_root, Store};

impl Store {
    /// Create a node (`unique`: an in-order child named after the next index).
    pub fn create(
        &mut self,
        key: &[u8],
        dir: bool,
        value: &[u8],
        unique: bool,
        expire: Option<i64>,
        now: i64,
    ) -> Result<Event, V2Error> {
        let result =
            self.internal_create(key, dir, value, unique, false, expire, Action::Create, now);
        let result = result.map(|e| self.publish(e));
        self.counted(Op::Create, result)
    }

    /// Set a node, replacing a file (a refresh keeps the value and changes only
    /// the TTL, telling no watcher).
    pub fn set(
        &mut self,
        key: &[u8],
        dir: bool,
        value: &[u8],
        expire: Option<i64>,
        refresh: bool,
        now: i64,
    ) -> Result<Event, V2Error> {
        let result = (|| -> Result<Event, V2Error> {
            let prev = match tree::get(&self.root, key, self.index) {
                Ok(n) => Some((n.value().to_vec(), n.repr(false, now))),
                Err(e) if e.code == 100 && !refresh => None,
                Err(e) => return Err(e),
            };
            let value = match (&prev, refresh) {
                (Some((v, _)), true) => v.clone(),
                _ => value.to_vec(),
            };
            let mut e =
                self.internal_create(key, dir, &value, false, true, expire, Action::Set, now)?;
            e.prev_node = prev.map(|(_, view)| view);
            Ok(self.publish_or_record(e, refresh))
        })();
        self.counted(Op::Set, result)
    }

    /// Update an existing node's value (files) and TTL.
    pub fn update(
        &mut self,
        key: &[u8],
        value: &[u8],
        expire: Option<i64>,
        refresh: bool,
        now: i64,
    ) -> Result<Event, V2Error> {
        let result = (|| -> Result<Event, V2Error> {
            refuse_root(key, self.index)?;
            let (current, next) = (self.index, self.index.saturating_add(1));
            let n = tree::get_mut(&mut self.root, key, current)?;
            if n.is_dir() && !value.is_empty() {
                return Err(V2Error::new(102, key, current));
            }
            let value = if refresh {
                n.value().to_vec()
            } else {
                value.to_vec()
            };
            let prev = n.repr(false, now);
            let mut node = NodeView::bare(key, next, n.created);
            if let Body::File(v) = &mut n.body {
                *v = value.clone();
                n.modified = next;
                node.value = Some(value);
            } else {
                // etcd cannot "write" a directory: its modified index stays.
                node.dir = true;
            }
            let (old, expiration, ttl) = n.set_expire(expire, now);
            self.retime(key, old, expire);
            node.expiration = expiration;
            node.ttl = ttl;
            self.index = next;
            let e = Event::new(Action::Update, node, Some(prev), next);
            Ok(self.publish_or_record(e, refresh))
        })();
        self.counted(Op::Update, result)
    }

    /// Compare a file's value and/or modified index, and swap its value.
    #[allow(clippy::too_many_arguments)]
    pub fn compare_and_swap(
        &mut self,
        key: &[u8],
        prev_value: &[u8],
        prev_index: u64,
        value: &[u8],
        expire: Option<i64>,
        refresh: bool,
        now: i64,
    ) -> Result<Event, V2Error> {
        let result = (|| -> Result<Event, V2Error> {
            refuse_root(key, self.index)?;
            let current = self.index;
            let n = tree::get_mut(&mut self.root, key, current)?;
            if n.is_dir() {
                return Err(V2Error::new(102, key, current));
            }
            compare(n, prev_value, prev_index, current)?;
            let value = if refresh {
                n.value().to_vec()
            } else {
                value.to_vec()
            };
            let next = current + 1;
            let prev = n.repr(false, now);
            n.body = Body::File(value.clone());
            n.modified = next;
            let (old, expiration, ttl) = n.set_expire(expire, now);
            let created = n.created;
            self.retime(key, old, expire);
            self.index = next;
            let e = Event {
                action: Action::CompareAndSwap,
                node: NodeView {
                    value: Some(value),
                    expiration,
                    ttl,
                    ..NodeView::bare(key, next, created)
                },
                prev_node: Some(prev),
                etcd_index: next,
                refresh: false,
            };
            Ok(self.publish_or_record(e, refresh))
        })();
        self.counted(Op::CompareAndSwap, result)
    }

    /// The least name an in-order child of `dir` may take: one past its
    /// highest in-order sibling's, when the store keeps them in order that way
    /// (see [`Store::order_after_siblings`]); else 0.
    fn in_order_floor(&self, dir: &[u8]) -> u64 {
        if !self.after_siblings {
            return 0;
        }
        let Ok(node) = tree::get(&self.root, &crate::server::form::absolute(dir), self.index)
        else {
            return 0;
        };
        node.children()
            .into_iter()
            .flat_map(|c| c.keys())
            .filter(|name| name.len() == 20 && name.iter().all(u8::is_ascii_digit))
            .filter_map(|name| std::str::from_utf8(name).ok()?.parse::<u64>().ok())
            .max()
            .map_or(0, |highest| highest.saturating_add(1))
    }

    /// etcd's `internalCreate`.
    #[allow(clippy::too_many_arguments)]
    fn internal_create(
        &mut self,
        key: &[u8],
        dir: bool,
        value: &[u8],
        unique: bool,
        replace: bool,
        expire: Option<i64>,
        action: Action,
        now: i64,
    ) -> Result<Event, V2Error> {
        let (current, next) = (self.index, self.index.saturating_add(1));
        let key = if unique {
            let name = next.max(self.in_order_floor(key));
            let mut k = key.to_vec();
            k.extend_from_slice(format!("/{name:020}").as_bytes());
            crate::server::form::absolute(&k)
        } else {
            key.to_vec()
        };
        refuse_root(&key, current)?;
        let expire = expire.filter(|&t| t >= MIN_EXPIRE);
        let parent = tree::make_dirs(&mut self.root, tree::dir_of(&key), next, current)
            .inspect_err(|_| self.stats.count(&Op::Set, false))?;
        let name = tree::name_of(&key).to_vec();
        let children = parent
            .children_mut()
            .ok_or_else(|| V2Error::new(104, key.clone(), current))?;
        let mut prev = None;
        if let Some(existing) = children.get(&name) {
            if !replace {
                return Err(V2Error::new(105, key.clone(), current));
            }
            if existing.is_dir() {
                return Err(V2Error::new(102, key.clone(), current));
            }
            prev = Some((existing.repr(false, now), existing.expire));
        }
        let node = if dir {
            Node::dir(key.clone(), next, expire)
        } else {
            Node::file(key.clone(), value.to_vec(), next, expire)
        };
        let (expiration, ttl) = node.expiration_and_ttl(now);
        children.insert(name, node);
        if let Some((_, Some(t))) = &prev {
            self.ttl.remove(&(*t, key.clone()));
        }
        if let Some(t) = expire {
            self.ttl.insert((t, key.clone()));
        }
        self.index = next;
        let mut view = NodeView::bare(&key, next, next);
        view.dir = dir;
        if !dir {
            view.value = Some(value.to_vec());
        }
        view.expiration = expiration;
        view.ttl = ttl;
        Ok(Event {
            action,
            node: view,
            prev_node: prev.map(|(v, _)| v),
            etcd_index: next,
            refresh: false,
        })
    }

    /// Record a change in the history and tell the watches (or, for a refresh,
    /// only record it).
    pub(super) fn publish_or_record(&mut self, mut e: Event, refresh: bool) -> Event {
        if refresh {
            e.refresh = true;
            self.history.add(Entry::Key(Arc::new(e.clone())));
            e.refresh = false;
            e
        } else {
            self.publish(e)
        }
    }

    pub(super) fn publish(&mut self, e: Event) -> Event {
        let e = Arc::new(e);
        self.history.add(Entry::Key(e.clone()));
        self.hub.notify(&e);
        Event::clone(&e)
    }

    pub(super) fn retime(&mut self, path: &[u8], old: Option<i64>, new: Option<i64>) {
        if let Some(t) = old {
            self.ttl.remove(&(t, path.to_vec()));
        }
        if let Some(t) = new {
            self.ttl.insert((t, path.to_vec()));
        }
    }
}
