//! A small in-memory model of the v2 key space, enough to drive the recipe
//! state machines on virtual time: in-order keys, TTL expiry (with `expire`
//! events), value-guarded refresh and delete, creates, sorted listings and waits
//! from an index. Its answers are the same typed values the client gives.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use etcd_v2::ops::keys::WaitOutcome;
use etcd_v2::recipes::{KeysRequest, Outcome, Request};
use etcd_v2::{Action, ClusterInfo, Error, ErrorCode, EtcdError, KeysResponse, Node};

#[derive(Debug, Clone)]
struct Entry {
    value: String,
    created: u64,
    modified: u64,
    expires: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Event {
    key: String,
    action: Action,
    index: u64,
    value: Option<String>,
    created: u64,
}

/// The model.
#[derive(Debug, Clone)]
pub struct Model {
    index: u64,
    entries: BTreeMap<String, Entry>,
    history: Vec<Event>,
}

fn error(code: ErrorCode, index: u64, cause: &str) -> Error {
    Error::Etcd(Box::new(EtcdError {
        code,
        message: code.description().to_owned(),
        cause: Some(cause.to_owned()),
        index,
        status: code.http_status(),
        endpoint: "model".into(),
        cluster: ClusterInfo {
            etcd_index: Some(index),
            ..ClusterInfo::default()
        },
        note: None,
    }))
}

/// The TTL etcd reports at `now`: the seconds left, rounded up (0 or less once
/// the expiry has passed).
fn ttl_left(e: &Entry, now: Instant) -> Option<i64> {
    e.expires.map(|t| {
        let left = t.saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        i64::try_from(secs).unwrap_or(i64::MAX)
    })
}

fn node(key: &str, e: &Entry, now: Instant) -> Node {
    Node {
        key: key.to_owned(),
        value: Some(e.value.clone()),
        dir: false,
        expiration: None,
        ttl: ttl_left(e, now),
        children: None,
        modified_index: e.modified,
        created_index: e.created,
    }
}

impl Default for Model {
    fn default() -> Model {
        Model::new()
    }
}

impl Model {
    /// An empty key space at index 1.
    pub fn new() -> Model {
        Model {
            index: 1,
            entries: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    /// The current index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The value of `key`.
    pub fn value(&self, key: &str) -> Option<String> {
        self.entries.get(key).map(|e| e.value.clone())
    }

    /// Keys directly under `dir`, sorted.
    pub fn children(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.entries
            .keys()
            .filter(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
            .cloned()
            .collect()
    }

    /// The earliest expiry still pending.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.expires).min()
    }

    fn event(&mut self, key: &str, action: Action, value: Option<String>, created: u64) -> u64 {
        self.index += 1;
        self.history.push(Event {
            key: key.to_owned(),
            action,
            index: self.index,
            value,
            created,
        });
        self.index
    }

    /// Expire every key whose TTL has run out by `now`.
    pub fn expire(&mut self, now: Instant) {
        let due: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            if let Some(e) = self.entries.remove(&k) {
                self.event(&k, Action::Expire, None, e.created);
            }
        }
    }

    /// Delete `key` as a crashed or careless client would (no guard).
    pub fn delete(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.event(key, Action::Delete, None, e.created);
        }
    }

    /// Set `key` directly.
    pub fn set(&mut self, key: &str, value: &str, ttl: Option<u64>, now: Instant) {
        let created = self.index + 1;
        let index = self.event(key, Action::Set, Some(value.to_owned()), created);
        self.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_owned(),
                created: index,
                modified: index,
                expires: ttl.map(|t| now + Duration::from_secs(t)),
            },
        );
    }

    fn response(&self, action: Action, node: Node) -> KeysResponse {
        KeysResponse {
            action,
            node,
            prev_node: None,
            cluster: ClusterInfo {
                etcd_index: Some(self.index),
                ..ClusterInfo::default()
            },
        }
    }

    fn form(req: &http::Request<Vec<u8>>) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        all.extend(form_urlencoded::parse(req.body()).into_owned());
        all
    }

    /// Apply a keys request at `now`.
    pub fn apply(&mut self, request: &KeysRequest, now: Instant) -> Result<KeysResponse, Error> {
        self.expire(now);
        self.answer(request, now)
    }

    /// Answer as a member that lags behind (cut off from the leader) does: from
    /// this (older) state, expiring nothing (expiry comes from the leader), with
    /// TTLs counted down to `now`, its clock.
    pub fn apply_lagging(
        &mut self,
        request: &KeysRequest,
        now: Instant,
    ) -> Result<KeysResponse, Error> {
        self.answer(request, now)
    }

    fn answer(&mut self, request: &KeysRequest, now: Instant) -> Result<KeysResponse, Error> {
        let endpoint = etcd_v2::Endpoint::parse("http://model:2379").unwrap();
        let req = etcd_v2::Operation::build(request, &endpoint)?;
        let key = etcd_v2::key::decode_path(req.uri().path().trim_start_matches("/v2/keys"));
        let form = Model::form(&req);
        let ttl = form.get("ttl").and_then(|t| t.parse::<u64>().ok());
        let guard = form.get("prevValue").cloned();
        match request {
            KeysRequest::CreateInOrder(_) => {
                let created = self.index + 1;
                let child = format!("{key}/{created:020}");
                let value = form.get("value").cloned().unwrap_or_default();
                let index = self.event(&child, Action::Create, Some(value.clone()), created);
                let e = Entry {
                    value,
                    created: index,
                    modified: index,
                    expires: ttl.map(|t| now + Duration::from_secs(t)),
                };
                let n = node(&child, &e, now);
                self.entries.insert(child, e);
                Ok(self.response(Action::Create, n))
            }
            KeysRequest::Create(_) => {
                if self.entries.contains_key(&key) {
                    return Err(error(ErrorCode::NodeExist, self.index, &key));
                }
                let value = form.get("value").cloned().unwrap_or_default();
                let created = self.index + 1;
                let index = self.event(&key, Action::Create, Some(value.clone()), created);
                let e = Entry {
                    value,
                    created: index,
                    modified: index,
                    expires: ttl.map(|t| now + Duration::from_secs(t)),
                };
                let n = node(&key, &e, now);
                self.entries.insert(key, e);
                Ok(self.response(Action::Create, n))
            }
            KeysRequest::Get(_) => {
                if let Some(e) = self.entries.get(&key) {
                    return Ok(self.response(Action::Get, node(&key, e, now)));
                }
                let children = self.children(&key);
                if children.is_empty() {
                    return Err(error(ErrorCode::KeyNotFound, self.index, &key));
                }
                let nodes = children
                    .iter()
                    .map(|k| node(k, &self.entries[k], now))
                    .collect();
                let dir = Node {
                    key: key.clone(),
                    value: None,
                    dir: true,
                    expiration: None,
                    ttl: None,
                    children: Some(nodes),
                    modified_index: 1,
                    created_index: 1,
                };
                Ok(self.response(Action::Get, dir))
            }
            KeysRequest::Refresh(_) => {
                let Some(e) = self.entries.get(&key) else {
                    return Err(error(ErrorCode::KeyNotFound, self.index, &key));
                };
                if guard.as_ref().is_some_and(|g| *g != e.value) {
                    return Err(error(ErrorCode::TestFailed, self.index, &key));
                }
                // A refresh makes no event (watchers are not woken), but takes an index.
                self.index += 1;
                let index = self.index;
                let e = self.entries.get_mut(&key).unwrap();
                e.modified = index;
                e.expires = ttl.map(|t| now + Duration::from_secs(t));
                let n = node(&key, e, now);
                Ok(self.response(Action::Update, n))
            }
            KeysRequest::Delete(_) => {
                let Some(e) = self.entries.get(&key).cloned() else {
                    return Err(error(ErrorCode::KeyNotFound, self.index, &key));
                };
                if guard.as_ref().is_some_and(|g| *g != e.value) {
                    return Err(error(ErrorCode::TestFailed, self.index, &key));
                }
                self.entries.remove(&key);
                let action = if guard.is_some() {
                    Action::CompareAndDelete
                } else {
                    Action::Delete
                };
                let index = self.event(&key, action.clone(), None, e.created);
                let mut n = node(&key, &e, now);
                n.value = None;
                n.modified_index = index;
                Ok(self.response(action, n))
            }
        }
    }

    /// The event a wait on `key` from `index` returns now, if any.
    pub fn wait(&mut self, key: &str, index: u64, now: Instant) -> Option<KeysResponse> {
        self.expire(now);
        let ev = self
            .history
            .iter()
            .find(|e| e.key == key && e.index >= index)?
            .clone();
        let n = Node {
            key: ev.key.clone(),
            value: ev.value.clone(),
            dir: false,
            expiration: None,
            ttl: None,
            children: None,
            modified_index: ev.index,
            created_index: ev.created,
        };
        Some(self.response(ev.action, n))
    }

    /// Run a recipe request: keys requests at once; a wait returns its event if
    /// there is one, or `None` (still pending).
    pub fn run(&mut self, request: &Request, now: Instant) -> Option<Outcome> {
        match request {
            Request::Keys(k) => Some(Outcome::Keys(self.apply(k, now).map(Box::new))),
            Request::Wait { wait, .. } => self
                .wait(wait.key(), wait.index().unwrap_or(0), now)
                .map(|r| Outcome::Wait(Ok(WaitOutcome::Event(Box::new(r))))),
        }
    }
}

/// A long-poll timeout, as a transport reports it.
pub fn poll_timeout() -> Outcome {
    Outcome::Wait(Err(Error::Transport {
        endpoint: "model".into(),
        source: etcd_v2::TransportError::new(etcd_v2::TransportErrorKind::Timeout, "poll timeout"),
    }))
}
