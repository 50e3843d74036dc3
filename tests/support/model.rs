//! The v2 key space the recipe and watch machine tests (and the fuzz targets)
//! run against: a thin wrapper around MemoryEtcd's store
//! (`etcd_v2::memory::store::Store`, etcd 3.4's semantics), answering typed
//! requests with the typed values the client would get, on the test's own
//! clock. TTLs expire exactly when the test says (`expire`), not on etcd's
//! 500 ms sweeps, so machine tests can place time precisely.

use std::time::{Duration, Instant};

use etcd_v2::memory::store::{Store, Watching};
use etcd_v2::ops::keys::{Wait, WaitOutcome};
use etcd_v2::recipes::{KeysRequest, Outcome, Request};
use etcd_v2::server::reply::{self, Indexes};
use etcd_v2::server::request::{decode, Route};
use etcd_v2::{Endpoint, Error, KeysResponse, Operation};

/// The model.
#[derive(Debug, Clone)]
pub struct Model {
    store: Store,
    /// The instant that maps to `WALL0` (the first one the model was told).
    base: Option<Instant>,
}

/// Wall-clock time at the model's first instant.
const WALL0: i64 = 1_767_225_600_000_000_000;

impl Default for Model {
    fn default() -> Model {
        Model::new()
    }
}

fn endpoint() -> Endpoint {
    Endpoint::parse("http://model:2379").expect("endpoint")
}

impl Model {
    /// An empty key space at index 1.
    pub fn new() -> Model {
        Model {
            store: Store::new(1),
            base: None,
        }
    }

    fn wall(&mut self, now: Instant) -> i64 {
        let base = *self.base.get_or_insert(now);
        let since = now.saturating_duration_since(base);
        WALL0.saturating_add(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
    }

    /// The current index.
    pub fn index(&self) -> u64 {
        self.store.index()
    }

    /// The value of `key`.
    pub fn value(&self, key: &str) -> Option<String> {
        let mut store = self.store.clone();
        let e = store.get(key.as_bytes(), false, false, WALL0).ok()?;
        e.node
            .value
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// Keys directly under `dir` (hidden ones aside), sorted.
    pub fn children(&self, dir: &str) -> Vec<String> {
        let mut store = self.store.clone();
        let dir = dir.trim_end_matches('/');
        let Ok(e) = store.get(dir.as_bytes(), false, true, WALL0) else {
            return Vec::new();
        };
        e.node
            .nodes
            .unwrap_or_default()
            .into_iter()
            .filter(|n| !n.dir)
            .map(|n| String::from_utf8_lossy(&n.key).into_owned())
            .collect()
    }

    /// The earliest expiry still pending.
    pub fn next_expiry(&self) -> Option<Instant> {
        let base = self.base?;
        let at = self.store.next_expiry()?;
        let after = u64::try_from(at.saturating_sub(WALL0)).unwrap_or(0);
        Some(base + Duration::from_nanos(after))
    }

    /// Expire every key whose TTL has run out by `now`.
    pub fn expire(&mut self, now: Instant) {
        let wall = self.wall(now);
        self.store.delete_expired(wall, wall);
    }

    /// Delete `key` as a crashed or careless client would (no guard).
    pub fn delete(&mut self, key: &str) {
        let _ = self.store.delete(key.as_bytes(), false, false, WALL0);
    }

    /// Set `key` directly.
    pub fn set(&mut self, key: &str, value: &str, ttl: Option<u64>, now: Instant) {
        let wall = self.wall(now);
        let expire = ttl.map(|t| wall + i64::try_from(t).unwrap_or(0) * 1_000_000_000);
        self.store
            .set(key.as_bytes(), false, value.as_bytes(), expire, false, wall)
            .expect("model set");
    }

    /// Apply a keys request at `now` (expiring what is due first).
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
        let wall = self.wall(now);
        let http = request.build(&endpoint())?;
        let Route::Keys(keys) = decode(&http) else {
            panic!("the model got a request etcd would refuse: {http:?}");
        };
        let at = Indexes::default();
        let answer = match self.store.apply(&keys, wall) {
            Ok(e) => reply::event(&e, keys.no_value_on_success, 1, at),
            Err(e) => reply::key_error(&e, Some(1)),
        };
        request.parse(answer)
    }

    /// The event a wait on `key` from `index` returns now, if any.
    pub fn wait(&mut self, key: &str, index: u64, now: Instant) -> Option<KeysResponse> {
        self.expire(now);
        let op = Wait::new(key).wait_index(index);
        match self.run_wait(&op)? {
            Ok(WaitOutcome::Event(r)) => Some(*r),
            _ => None,
        }
    }

    fn run_wait(&mut self, op: &Wait) -> Option<Result<WaitOutcome, Error>> {
        let http = op.build(&endpoint()).ok()?;
        let Route::Keys(keys) = decode(&http) else {
            return None;
        };
        let head = Indexes {
            etcd_index: self.store.index(),
            ..Indexes::default()
        };
        let since = if keys.wait_index == 0 {
            self.store.index() + 1
        } else {
            keys.wait_index
        };
        let answer = match self.store.watch(&keys.key, keys.recursive, false, since) {
            Ok(Watching::Ready(e)) => reply::watch(Some(&e), 1, head),
            Ok(Watching::Waiting(id)) => {
                self.store.unwatch(id);
                return None;
            }
            Err(e) => reply::key_error(&e, Some(1)),
        };
        Some(op.parse(answer))
    }

    /// Run a recipe request: keys requests at once; a wait returns its event if
    /// there is one, or `None` (still pending).
    pub fn run(&mut self, request: &Request, now: Instant) -> Option<Outcome> {
        match request {
            Request::Keys(k) => Some(Outcome::Keys(self.apply(k, now).map(Box::new))),
            Request::Wait { wait, .. } => {
                self.expire(now);
                self.run_wait(wait).map(Outcome::Wait)
            }
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
