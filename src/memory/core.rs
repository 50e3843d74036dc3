//! The simulated etcd's request handling, sans-IO: a request and the time in,
//! an answer (or a failure, a stall, or a registered wait) out.

use std::collections::HashMap;

use crate::error::{TransportError, TransportErrorKind};
use crate::server::reply::{self, Indexes};
use crate::server::request::{self, KeysRequest, Route, StatsKind};
use crate::server::types::V2Error;

use super::cluster::{Cluster, Health};
use super::faults::{Fault, Faults};
use super::store::{Store, WatchId, Watching};

mod control;

/// etcd's sync cadence: the leader expires TTLs every 500 ms.
pub const SYNC: u64 = 500_000_000;
/// etcd's request timeout (5 s plus two election timeouts): how long a write
/// waits for raft before errorCode 300.
pub const REQUEST_TIMEOUT: u64 = 7_000_000_000;
/// Two of etcd's (default, 1 s) election timeouts: a request that times out
/// on a new leader and was sent this long before it won is blamed on the
/// previous leader.
const PREVIOUS_LEADER_WINDOW: u64 = 2_000_000_000;

/// What became of a request.
#[derive(Debug)]
pub enum Handled {
    /// Answered.
    Reply(http::Response<Vec<u8>>),
    /// Failed at the transport level.
    Failed(TransportError),
    /// Hangs: at `until` (monotonic nanoseconds) it gets `then`; with neither,
    /// only the client's own timeout ends it.
    Stall {
        /// When etcd gives up.
        until: Option<u64>,
        /// What it answers then.
        then: Option<http::Response<Vec<u8>>>,
    },
    /// A wait (long poll) registered under this number: see [`Core::poll_wait`].
    Waiting(u64),
}

#[derive(Debug, Clone)]
struct Wait {
    member: usize,
    /// Registered in a behind member's frozen store, not the live one.
    behind: bool,
    watch: WatchId,
    head: Indexes,
    key: Vec<u8>,
    recursive: bool,
    stream: bool,
    since: u64,
    /// Ended without an event (its history ran out while its member lagged).
    closed: bool,
    /// An event found when the wait moved to the live store.
    ready: Option<std::sync::Arc<crate::server::types::Event>>,
}

/// The simulated cluster and its store.
#[derive(Debug, Clone)]
pub struct Core {
    /// The live store (what the leader has applied).
    pub store: Store,
    /// The members.
    pub cluster: Cluster,
    /// Faults in force.
    pub faults: Faults,
    /// Wall-clock time at monotonic 0 (Unix nanoseconds).
    pub wall0: i64,
    /// How long an election takes.
    pub election: u64,
    next_tick: u64,
    health_changes: u64,
    waits: HashMap<u64, Wait>,
    next_wait: u64,
}

fn refused(url: &str) -> TransportError {
    TransportError::new(
        TransportErrorKind::Connect,
        format!("{url}: connection refused (MemoryEtcd)"),
    )
}

fn raft_timeout(cluster_id: u64) -> http::Response<Vec<u8>> {
    let e = V2Error::new(300, "etcdserver: request timed out", 0);
    reply::key_error(&e, Some(cluster_id))
}

fn server_error_page(status: u16) -> http::Response<Vec<u8>> {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Server Error");
    let body = format!("<html><body><h1>{status} {reason}</h1></body></html>\n");
    http::Response::builder()
        .status(status)
        .header("Content-Type", "text/html")
        .body(body.into_bytes())
        .unwrap_or_else(|_| http::Response::new(Vec::new()))
}

impl Core {
    /// A cluster of members at `urls` whose store starts at `index`.
    pub fn new(urls: Vec<String>, index: u64, seed: u64, wall0: i64) -> Core {
        let mut cluster = Cluster::new(urls, seed, wall0);
        // A store past a fresh member's index 3 got there through raft: one
        // entry per change at least, so raft's index is never behind it.
        cluster.commit(index.saturating_sub(3), wall0, 0);
        Core {
            store: Store::new(index),
            cluster,
            faults: Faults::default(),
            wall0,
            election: 1_000_000_000,
            next_tick: SYNC,
            health_changes: 0,
            waits: HashMap::new(),
            next_wait: 0,
        }
    }

    pub(super) fn wall(&self, t: u64) -> i64 {
        self.wall0
            .saturating_add(i64::try_from(t).unwrap_or(i64::MAX))
    }

    /// Bring the cluster to time `t`: finish elections, run the leader's TTL
    /// sweeps (every 500 ms while keys have TTLs; each a raft entry).
    pub fn advance(&mut self, t: u64) {
        let wall = self.wall(t);
        self.cluster.settle(t, wall);
        while self.next_tick <= t {
            let first_after_t = (t / SYNC + 1) * SYNC;
            if !self.sweeps() || !self.store.has_ttl_keys() {
                self.next_tick = first_after_t;
                break;
            }
            let expiry = self.store.next_expiry().unwrap_or(i64::MAX);
            let expiry_mono = u64::try_from(expiry.saturating_sub(self.wall0)).unwrap_or(0);
            let sweep_at = expiry_mono.div_ceil(SYNC).max(1) * SYNC;
            let sweep_at = sweep_at.max(self.next_tick);
            let tick = self.wall(self.next_tick);
            if sweep_at > t {
                let n = (first_after_t - self.next_tick) / SYNC;
                self.cluster.commit(n, tick, SYNC as i64);
                self.next_tick = first_after_t;
                break;
            }
            let n = (sweep_at - self.next_tick) / SYNC + 1;
            self.cluster.commit(n, tick, SYNC as i64);
            let at = self.wall(sweep_at);
            self.store.delete_expired(at, at);
            self.next_tick = sweep_at + SYNC;
        }
    }

    /// Whether the leader's TTL sweeps commit: etcd expires keys only when its
    /// `SYNC` entry is applied, so without a leader that can commit (no
    /// majority) keys outlive their TTL and no expire event comes.
    fn sweeps(&self) -> bool {
        self.cluster.leader.is_some_and(|l| self.can_commit(l))
    }

    /// A summary that changes whenever a waiting request may have something new
    /// to see: the store's index, raft's index and term, members' health.
    pub fn fingerprint(&self) -> (u64, u64, u64, u64) {
        (
            self.store.index(),
            self.cluster.raft_index,
            self.cluster.term,
            self.health_changes,
        )
    }

    /// When, with no request arriving, the cluster next changes by itself: a
    /// TTL sweep that expires a key, or an election's end (each only while a
    /// majority can commit or vote: without one, nothing changes until a
    /// member comes back).
    pub fn next_change(&self) -> Option<u64> {
        let sweep = self.store.next_expiry().map(|e| {
            let mono = u64::try_from(e.saturating_sub(self.wall0)).unwrap_or(0);
            (mono.div_ceil(SYNC).max(1) * SYNC).max(self.next_tick)
        });
        let sweep = sweep.filter(|_| self.sweeps());
        let election = self
            .cluster
            .election_ends
            .filter(|_| self.cluster.has_quorum());
        [sweep, election].into_iter().flatten().min()
    }

    /// Handle a request arriving at `t` (monotonic nanoseconds).
    pub fn handle(&mut self, req: &http::Request<Vec<u8>>, t: u64) -> Handled {
        self.advance(t);
        let scheme = req.uri().scheme_str().unwrap_or("http");
        let target = match req.uri().authority() {
            Some(a) => self.cluster.member_at(scheme, a.as_str()),
            None => self.cluster.leader.or(Some(0)),
        };
        let url = format!(
            "{scheme}://{}",
            req.uri().authority().map(|a| a.as_str()).unwrap_or("")
        );
        let Some(member) = target.filter(|&i| self.cluster.members[i].is_serving()) else {
            let peer = req.uri().authority().map(|a| a.as_str());
            if peer.and_then(|a| self.cluster.peer_at(scheme, a)).is_some() {
                return Handled::Reply(self.cluster.peer_answer(req));
            }
            return Handled::Failed(refused(&url));
        };
        let route = request::decode(req);
        let keys = match &route {
            Route::Keys(k) => Some(k),
            _ => None,
        };
        let fault = self.faults.pick(keys, member);
        let answer = |core: &mut Core| core.route(route.clone(), req, member, t);
        match fault {
            None => answer(self),
            Some(Fault::Refuse) => Handled::Failed(refused(&url)),
            Some(Fault::TimeoutBeforeApply) => Handled::Stall {
                until: None,
                then: None,
            },
            Some(f @ (Fault::TimeoutAfterApply | Fault::DropResponseAfterApply)) => {
                if let Handled::Waiting(id) = answer(self) {
                    self.cancel_wait(id);
                }
                if f == Fault::TimeoutAfterApply {
                    Handled::Stall {
                        until: None,
                        then: None,
                    }
                } else {
                    Handled::Failed(TransportError::new(
                        TransportErrorKind::Io,
                        "connection reset by peer (MemoryEtcd)",
                    ))
                }
            }
            Some(Fault::ServerError(status)) => Handled::Reply(server_error_page(status)),
            Some(Fault::RaftTimeout { applied }) => {
                if applied {
                    if let Handled::Waiting(id) = answer(self) {
                        self.cancel_wait(id);
                    }
                }
                Handled::Reply(raft_timeout(self.cluster.id))
            }
        }
    }

    fn route(
        &mut self,
        route: Route,
        req: &http::Request<Vec<u8>>,
        member: usize,
        t: u64,
    ) -> Handled {
        let id = self.cluster.id;
        let reply = |r| Handled::Reply(r);
        match route {
            Route::Keys(k) => self.keys(&k, member, t),
            Route::KeysError(e) => reply(reply::key_error(&e, Some(id))),
            Route::Version => reply(reply::json(
                200,
                br#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#.to_vec(),
                None,
            )),
            Route::Health => {
                if self.cluster.leader.is_some() && !self.is_cut_off(member) {
                    reply(reply::text(200, br#"{"health":"true"}"#.to_vec()))
                } else {
                    reply(reply::plain_error(503, r#"{"health":"false"}"#, None))
                }
            }
            Route::Machines => reply(reply::text(200, self.cluster.machines())),
            Route::Members(m) => self.members(m, member, t),
            Route::MembersError(status, message) => {
                reply(reply::http_error(status, &message, Some(id)))
            }
            Route::Stats(StatsKind::Store) => {
                reply(reply::json(200, self.store.stats().to_json(), None))
            }
            Route::Stats(StatsKind::SelfStats) => {
                let body = self.cluster.self_stats(member, self.wall(t));
                reply(reply::json(200, body, None))
            }
            Route::Stats(StatsKind::Leader) => match self.cluster.leader_stats() {
                Some(body) if self.cluster.leader == Some(member) => {
                    reply(reply::json(200, body, None))
                }
                _ => reply(reply::http_error(403, "not current leader", None)),
            },
            Route::Auth(_) | Route::NotFound => reply(reply::not_found()),
            Route::Preflight => reply(reply::preflight()),
            Route::MethodNotAllowed(allow, with_id) => {
                reply(reply::method_not_allowed(allow, with_id.then_some(id)))
            }
            Route::Redirect(location) => reply(reply::redirect(&location, req.method())),
            Route::BadRequest => reply(reply::bad_request()),
        }
    }

    fn is_cut_off(&self, member: usize) -> bool {
        matches!(
            self.cluster.members[member].health,
            Health::Behind { cut_off: true, .. }
        )
    }

    /// Whether raft can commit through `member` now.
    fn can_commit(&self, member: usize) -> bool {
        self.cluster.leader.is_some() && self.cluster.has_quorum() && !self.is_cut_off(member)
    }

    fn keys(&mut self, k: &KeysRequest, member: usize, t: u64) -> Handled {
        let id = self.cluster.id;
        let now = self.wall(t);
        if k.is_wait() {
            return self.start_wait(k, member);
        }
        if k.through_raft() {
            if !self.can_commit(member) {
                return Handled::Stall {
                    until: Some(t + REQUEST_TIMEOUT),
                    then: Some(self.stalled_timeout(member, t)),
                };
            }
            self.cluster.commit(1, now, 0);
            let at = Indexes {
                etcd_index: 0,
                raft_index: self.cluster.raft_index,
                raft_term: self.cluster.term,
            };
            return Handled::Reply(match self.store.apply(k, now) {
                Ok(e) => reply::event(&e, k.no_value_on_success, id, at),
                Err(e) => reply::key_error(&e, Some(id)),
            });
        }
        let (term, raft_index) = self.cluster.view_of(member);
        let at = Indexes {
            etcd_index: 0,
            raft_index,
            raft_term: term,
        };
        let store = self.store_of(member);
        let mut answer = match store.apply(k, now) {
            Ok(e) => reply::event(&e, false, id, at),
            Err(e) => reply::key_error(&e, Some(id)),
        };
        if k.method == request::KeysMethod::Head {
            answer.body_mut().clear();
        }
        Handled::Reply(answer)
    }

    /// etcd's errorCode 300 for a request sent at `t` that raft never
    /// commits: on the member that wins the running election, when the
    /// request was sent at most two election timeouts before the win (and it
    /// comes before the request gives up), etcd blames the previous leader
    /// (capture 562); elsewhere the plain timeout (561).
    fn stalled_timeout(&self, member: usize, t: u64) -> http::Response<Vec<u8>> {
        let winner = self
            .cluster
            .election_ends
            .filter(|&e| {
                self.cluster.has_quorum()
                    && e <= t.saturating_add(REQUEST_TIMEOUT)
                    && t.saturating_add(PREVIOUS_LEADER_WINDOW) >= e
            })
            .and_then(|_| self.cluster.members.iter().position(|m| m.is_voting()));
        if winner != Some(member) {
            return raft_timeout(self.cluster.id);
        }
        let cause = "etcdserver: request timed out, possibly due to previous leader failure";
        reply::key_error(&V2Error::new(300, cause, 0), Some(self.cluster.id))
    }

    fn store_of(&mut self, member: usize) -> &mut Store {
        match &mut self.cluster.members[member].health {
            Health::Behind { store, .. } => store,
            _ => &mut self.store,
        }
    }

    fn start_wait(&mut self, k: &KeysRequest, member: usize) -> Handled {
        let id = self.cluster.id;
        let (term, raft_index) = self.cluster.view_of(member);
        let behind = matches!(self.cluster.members[member].health, Health::Behind { .. });
        let store = self.store_of(member);
        let since = if k.wait_index == 0 {
            store.index() + 1
        } else {
            k.wait_index
        };
        let head = Indexes {
            etcd_index: store.index(),
            raft_index,
            raft_term: term,
        };
        match store.watch(&k.key, k.recursive, k.stream, since) {
            Err(e) => Handled::Reply(reply::key_error(&e, Some(id))),
            Ok(Watching::Ready(e)) => Handled::Reply(reply::watch(Some(&e), id, head)),
            Ok(Watching::Waiting(watch)) => {
                self.next_wait += 1;
                self.waits.insert(
                    self.next_wait,
                    Wait {
                        member,
                        behind,
                        watch,
                        head,
                        key: k.key.clone(),
                        recursive: k.recursive,
                        stream: k.stream,
                        since,
                        closed: false,
                        ready: None,
                    },
                );
                Handled::Waiting(self.next_wait)
            }
        }
    }

    /// The answer to wait `id` at `t`, if it has one: an event came, the
    /// member went down, or the store closed the watch (a stream fallen too far
    /// behind: an empty body). Like etcd 3.4 (whose v2 wait timeout is
    /// `math.MaxInt64`), there is no time limit: otherwise only the client
    /// giving up ends a wait ([`Core::cancel_wait`]).
    pub fn poll_wait(
        &mut self,
        wait: u64,
        t: u64,
    ) -> Option<Result<http::Response<Vec<u8>>, TransportError>> {
        self.advance(t);
        let w = self.waits.get(&wait)?.clone();
        let id = self.cluster.id;
        if !self.cluster.members[w.member].is_serving() {
            self.cancel_wait(wait);
            return Some(Err(TransportError::new(
                TransportErrorKind::Io,
                "the member went down during the wait (MemoryEtcd)",
            )));
        }
        if let Some(e) = &w.ready {
            self.cancel_wait(wait);
            return Some(Ok(reply::watch(Some(e), id, w.head)));
        }
        let store = if w.behind {
            self.store_of(w.member)
        } else {
            &mut self.store
        };
        if let Some(e) = store.take(w.watch) {
            self.cancel_wait(wait);
            return Some(Ok(reply::watch(Some(&e), id, w.head)));
        }
        if w.closed || store.watch_closed(w.watch) {
            self.cancel_wait(wait);
            return Some(Ok(reply::watch(None, id, w.head)));
        }
        None
    }

    /// End a wait (the client gave up).
    pub fn cancel_wait(&mut self, wait: u64) {
        if let Some(w) = self.waits.remove(&wait) {
            if w.behind {
                if let Health::Behind { store, .. } = &mut self.cluster.members[w.member].health {
                    store.unwatch(w.watch);
                }
            } else {
                self.store.unwatch(w.watch);
            }
        }
    }
}
