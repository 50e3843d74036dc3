//! One v2 keys request carried out over v3: [`Call`], a [`Machine`] (see the
//! [module docs](super) for the layout and the protocol).

use std::time::Instant;

use super::layout::Layout;
use super::planned::Planned;
use super::v3::{self, LeaseGrant, Txn, TxnResponse};
use super::watch::{record, Found, Watch, Watched};
use super::{Answer, Outcome, Request};
use crate::cluster::Timeout;
use crate::error::Error;
use crate::machine::{output_once, Machine, Step};
use crate::memory::store::Store;
use crate::server::reply::{self, Indexes};
use crate::server::request::{KeysMethod, KeysRequest};
use crate::server::types::V2Error;

/// How often a write starts over after another bridge write got in between
/// its read and its commit before it gives up.
pub const MAX_CONFLICTS: u32 = 1000;

/// The most operations etcd takes in one transaction.
const MAX_OPS: usize = 128;

/// Where a call is.
#[derive(Debug)]
enum State {
    /// Ready to read the part of the tree the request touches.
    Read,
    /// The read is in flight.
    Reading,
    /// Ready to grant the next lease the write needs.
    Grant(Box<Planned>),
    /// A grant is in flight.
    Granting(Box<Planned>),
    /// Ready to commit.
    Commit(Box<Planned>),
    /// The commit is in flight.
    Committing(Box<Planned>),
    /// Ready to watch for the waited event.
    Wait,
    /// The watch is in flight.
    Waiting,
    /// Over: the v2 answer, until polled.
    Done(Option<Result<http::Response<Vec<u8>>, Error>>),
}

/// One v2 keys request over the v3 bridge: reads what it needs in one
/// transaction, applies the request with MemoryEtcd's v2 store (etcd 3.4's
/// semantics), and commits the difference in a second transaction that holds
/// only if no other bridge write came in between (else it starts over); a
/// wait watches the prefix key, where every write leaves its v2 event. The
/// output is the answer etcd v2 would have given, as an HTTP response.
#[derive(Debug)]
pub struct Call {
    layout: Layout,
    request: KeysRequest,
    state: State,
    conflicts: u32,
    cluster_id: Option<String>,
    wait_timeout: Timeout,
    now: i64,
    deadline: Option<Instant>,
}

impl Call {
    /// Carry out `request` in the tree kept under `prefix` (see
    /// [`super::check_prefix`]), at the wall-clock time `now` (Unix
    /// nanoseconds: TTLs count from it). What the bridge does not provide yet
    /// is refused at the first poll with [`Error::NotOnBridge`], before
    /// anything is sent.
    pub fn new(prefix: impl Into<Vec<u8>>, request: KeysRequest, now: i64) -> Call {
        let state = match unsupported(&request) {
            Some(what) => State::Done(Some(Err(Error::NotOnBridge(what.into())))),
            // etcd waits on GETs only, and a quorum GET is a read even with
            // wait=true.
            None if request.is_wait() => State::Wait,
            None => State::Read,
        };
        Call {
            layout: Layout::new(prefix.into()),
            request,
            state,
            conflicts: 0,
            cluster_id: None,
            wait_timeout: Timeout::Default,
            now,
            deadline: None,
        }
    }

    /// A call whose answer is known without asking the cluster (a request
    /// etcd v2 refuses as malformed).
    pub fn answered(prefix: impl Into<Vec<u8>>, answer: http::Response<Vec<u8>>) -> Call {
        let mut call = Call::new(prefix, KeysRequest::default(), 0);
        call.state = State::Done(Some(Ok(answer)));
        call
    }

    /// Only work with the cluster whose ID (in hex, as v2 writes it) is `id`:
    /// a read from another is refused with [`Error::ClusterIdMismatch`]
    /// before anything is written.
    pub fn expect_cluster(mut self, id: Option<String>) -> Call {
        self.cluster_id = id;
        self
    }

    /// How long each attempt of a wait may last (the caller's long-poll
    /// timeout).
    pub fn wait_timeout(mut self, timeout: Timeout) -> Call {
        self.wait_timeout = timeout;
        self
    }

    /// End the call with [`Error::DeadlineExceeded`] when it is not over by
    /// `deadline` (checked before each request: a call stopped so has written
    /// nothing, since its one write is its last request).
    pub fn deadline(mut self, deadline: Option<Instant>) -> Call {
        self.deadline = deadline;
        self
    }

    fn finish(&mut self, mut result: Result<http::Response<Vec<u8>>, Error>) {
        if self.request.method == KeysMethod::Head {
            // A HEAD answer has the headers only, errors included.
            if let Ok(answer) = &mut result {
                answer.body_mut().clear();
            }
        }
        self.state = State::Done(Some(result));
    }

    fn handle_read(&mut self, read: TxnResponse) {
        let found = reply::cluster_id_text(read.header.cluster_id);
        if let Some(expected) = &self.cluster_id {
            if !expected.eq_ignore_ascii_case(&found) {
                let mismatch = Error::ClusterIdMismatch {
                    endpoint: read.endpoint.clone(),
                    expected: expected.clone(),
                    found,
                };
                return self.finish(Err(mismatch));
            }
        }
        let index = read.header.revision;
        let loaded = self.layout.load(&self.request.key, &read);
        let (serial, leases, revisions) = (loaded.serial, loaded.leases, loaded.revisions);
        let marked = loaded.marked;
        let mut store = Store::from_nodes(index, loaded.nodes);
        store.order_after_siblings();
        let before = store.nodes();
        let is_read = matches!(self.request.method, KeysMethod::Get | KeysMethod::Head);
        // A write that finds a node past its TTL that v3 has not removed yet:
        // etcd v2 removed it at its expiry, with an `expire` event of its
        // own, before this write came. So does the bridge: it commits that
        // removal (and its event) first, then reads again.
        let expiry = match is_read {
            true => None,
            false => {
                let mut expired = store.clone();
                let event = expired.expire_next(self.now, self.now);
                event.map(|event| (expired.nodes(), event))
            }
        };
        let (after, event, only_expiry) = match expiry {
            Some((after, event)) => (after, event, true),
            None => {
                // What v3 has not removed yet but v2 would have: gone.
                store.drop_expired(self.now);
                let cluster_id = read.header.cluster_id;
                let event = match store.apply(&self.request, self.now) {
                    Err(e) => return self.finish(Ok(reply::key_error(&e, Some(cluster_id)))),
                    Ok(event) if is_read => {
                        let no_value = self.request.no_value_on_success;
                        let at = indexes(&read, index);
                        return self.finish(Ok(reply::event(&event, no_value, cluster_id, at)));
                    }
                    Ok(mut event) => {
                        // A refresh is kept out of waits' sight, as etcd keeps it.
                        event.refresh = self.request.refresh == Some(true);
                        event
                    }
                };
                (store.nodes(), event, false)
            }
        };
        let planned = Planned::new(
            before,
            after,
            event,
            (index, serial),
            (leases, revisions),
            self.now,
        );
        self.state = State::Grant(Box::new(Planned {
            only_expiry,
            marked,
            ..planned
        }));
    }

    /// The commit of `planned`: its writes and its event in `P`, if `P` is
    /// still as it was read.
    fn commit(&self, planned: &Planned) -> Result<Txn, Error> {
        let mut ops = self.layout.diff(
            &planned.before,
            &planned.after,
            (&planned.leases, &planned.marked),
            &planned.granted,
        );
        if ops.len() >= MAX_OPS {
            return Err(Error::NotOnBridge(format!(
                "a change of {} keys in one request (etcd takes at most {} in one transaction)",
                ops.len(),
                MAX_OPS - 1
            )));
        }
        // The v2 event goes into `P`: `P`'s history is the v2 event history
        // that waits read.
        let serial = self.layout.serial();
        ops.push(v3::put(
            serial,
            &record(planned.read_at.saturating_add(1), &planned.event),
        ));
        let mut compares = vec![v3::mod_revision_is(serial, planned.serial)];
        compares.extend(self.layout.unchanged(
            &planned.before,
            &planned.after,
            &planned.revisions,
            MAX_OPS - 1,
        ));
        Ok(Txn::write(compares, ops))
    }

    /// The commit did not hold (another write got in first, or a lease it
    /// counted on ended): nothing was applied; read again.
    fn start_over(&mut self) {
        self.conflicts += 1;
        if self.conflicts >= MAX_CONFLICTS {
            return self.finish(Err(Error::DeadlineExceeded(format!(
                "other bridge writes got in before this one {MAX_CONFLICTS} times in a row; it was not applied"
            ))));
        }
        self.state = State::Read;
    }

    fn handle_commit(&mut self, commit: TxnResponse, planned: Planned) {
        if !commit.succeeded {
            return self.start_over();
        }
        if planned.only_expiry {
            // The expiry is told; now the request itself.
            self.state = State::Read;
            return;
        }
        let mut event = planned.event;
        let revision = commit.header.revision;
        // The store numbered the change `read_at + 1`; v3 numbered it with
        // the commit's revision (the same unless a write outside the bridge
        // came in between).
        let planned_index = planned.read_at.saturating_add(1);
        let fix = |i: &mut u64| {
            if *i == planned_index {
                *i = revision;
            }
        };
        fix(&mut event.node.modified_index);
        fix(&mut event.node.created_index);
        event.etcd_index = revision;
        let answer = reply::event(
            &event,
            self.request.no_value_on_success,
            commit.header.cluster_id,
            indexes(&commit, revision),
        );
        self.finish(Ok(answer));
    }

    fn watch(&self) -> Watch {
        let from = (self.request.wait_index > 0).then_some(self.request.wait_index);
        Watch::new(
            self.layout.serial(),
            &self.request.key,
            self.request.recursive,
            from,
            self.wait_timeout,
        )
    }

    fn handle_watched(&mut self, watched: Watched) {
        let header = &watched.header;
        let at = Indexes {
            etcd_index: header.revision,
            raft_index: header.revision,
            raft_term: header.raft_term,
        };
        let answer = match watched.found {
            Some(Found::Event { json, .. }) => Ok(reply::watch_json(json, header.cluster_id, at)),
            Some(Found::Compacted(oldest)) => {
                let cause = format!(
                    "the requested history has been cleared [{oldest}/{}]",
                    self.request.wait_index
                );
                Ok(reply::key_error(
                    &V2Error::new(401, cause, header.revision),
                    Some(header.cluster_id),
                ))
            }
            Some(Found::Ended(reason)) if super::v3::is_access_refusal(&reason) => {
                Ok(insufficient_credentials())
            }
            Some(Found::Ended(reason)) => Err(watch_ended(format!("the v3 watch ended: {reason}"))),
            None => Err(watch_ended("the v3 watch stream closed".into())),
        };
        self.finish(answer);
    }
}

/// etcd v2's answer to a request the caller may not make: errorCode 110.
pub(crate) fn insufficient_credentials() -> http::Response<Vec<u8>> {
    reply::key_error(&V2Error::new(110, "Insufficient credentials", 0), None)
}

/// A watch the server ended: a failure that waiting may cure.
fn watch_ended(message: String) -> Error {
    Error::Api {
        endpoint: String::new(),
        status: 503,
        message,
    }
}

/// Whether `error` is etcd refusing a put for its lease being gone.
fn lease_ended(error: &Error) -> bool {
    matches!(error, Error::Api { message, .. } if message.contains("requested lease not found"))
}

fn indexes(answer: &TxnResponse, etcd_index: u64) -> Indexes {
    Indexes {
        etcd_index,
        raft_index: answer.header.revision,
        raft_term: answer.header.raft_term,
    }
}

/// What a request asks that the bridge does not provide yet, if anything.
pub fn unsupported(r: &KeysRequest) -> Option<&'static str> {
    r.stream.then_some("streamed waits")
}

impl Call {
    fn step(&mut self, now: Instant) -> Step<Request, (), Answer> {
        let ready = matches!(
            self.state,
            State::Read | State::Grant(_) | State::Commit(_) | State::Wait
        );
        if ready && self.deadline.is_some_and(|d| now >= d) {
            self.state = State::Done(None);
            return Step::Done(Err(Error::DeadlineExceeded(format!(
                "the call's deadline passed before it was over (after {} conflicting writes); the request was not applied",
                self.conflicts
            ))));
        }
        match std::mem::replace(&mut self.state, State::Done(None)) {
            State::Done(mut output) => output_once(&mut output, "bridge call"),
            State::Read => {
                self.state = State::Reading;
                Step::Send(Request::Txn(self.layout.read(&self.request.key)))
            }
            State::Grant(planned) => match planned.to_grant.values().next() {
                Some(&ttl) => {
                    self.state = State::Granting(planned);
                    Step::Send(Request::Grant(LeaseGrant { ttl }))
                }
                None => {
                    self.state = State::Commit(planned);
                    self.poll(now)
                }
            },
            State::Commit(planned) => match self.commit(&planned) {
                Ok(txn) => {
                    self.state = State::Committing(planned);
                    Step::Send(Request::Txn(txn))
                }
                // Refused before anything was written (the state stays done).
                Err(e) => Step::Done(Err(e)),
            },
            State::Wait => {
                self.state = State::Waiting;
                Step::Send(Request::Watch(self.watch()))
            }
            in_flight @ (State::Reading
            | State::Granting(_)
            | State::Committing(_)
            | State::Waiting) => {
                self.state = in_flight;
                Step::Done(Err(Error::Misuse(
                    "the bridge call was polled while a request was in flight".into(),
                )))
            }
        }
    }

    fn take(&mut self, outcome: Outcome, _now: Instant) -> Result<(), Error> {
        match (
            std::mem::replace(&mut self.state, State::Done(None)),
            outcome,
        ) {
            (State::Reading, Outcome::Txn(Ok(read))) => self.handle_read(read),
            (State::Granting(mut planned), Outcome::Grant(Ok(lease))) => {
                if let Some((holder, _)) = planned.to_grant.pop_first() {
                    planned.granted.insert(holder, lease);
                }
                self.state = State::Grant(planned);
            }
            (State::Committing(planned), Outcome::Txn(Ok(commit))) => {
                self.handle_commit(commit, *planned)
            }
            (State::Waiting, Outcome::Watch(Ok(watched))) => self.handle_watched(watched),
            // A lease the commit put keys on ended after the read: refused
            // as a whole, so safe to plan again.
            (State::Committing(_), Outcome::Txn(Err(e))) if lease_ended(&e) => self.start_over(),
            // Refused for want of credentials or permission: v2's 110 (the
            // refused request was not applied).
            (
                State::Reading | State::Granting(_) | State::Committing(_) | State::Waiting,
                Outcome::Txn(Err(Error::Api { message, .. }))
                | Outcome::Grant(Err(Error::Api { message, .. }))
                | Outcome::Watch(Err(Error::Api { message, .. })),
            ) if super::v3::is_access_refusal(&message) => {
                self.finish(Ok(insufficient_credentials()))
            }
            (
                State::Reading | State::Granting(_) | State::Committing(_) | State::Waiting,
                Outcome::Txn(Err(e)) | Outcome::Grant(Err(e)) | Outcome::Watch(Err(e)),
            ) => self.finish(Err(e)),
            (other, _) => {
                self.state = other;
                return Err(Error::Misuse(
                    "a bridge outcome that does not match the request in flight".into(),
                ));
            }
        }
        Ok(())
    }
}

bridge_machine!(Call);
