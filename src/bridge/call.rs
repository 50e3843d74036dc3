//! One v2 keys request carried out over v3: [`Call`], a [`Machine`] (see the
//! [module docs](super) for the layout and the protocol).

use std::collections::BTreeMap;
use std::time::Instant;

use super::v3::{self, Txn, TxnResponse};
use super::watch::{record, Found, Watch, Watched};
use super::{Outcome, Request};
use crate::cluster::Timeout;
use crate::error::Error;
use crate::machine::{output_once, Machine, Step};
use crate::memory::store::{Flat, Store};
use crate::server::reply::{self, Indexes};
use crate::server::request::{KeysMethod, KeysRequest};
use crate::server::types::{Event, V2Error};

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
    /// Ready to commit (`txn`); `event` is the answer once it holds.
    Commit {
        txn: Txn,
        event: Box<Event>,
        read_at: u64,
    },
    /// The commit is in flight.
    Committing { event: Box<Event>, read_at: u64 },
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
/// only if no other bridge write came in between (else it starts over). The
/// output is the answer etcd v2 would have given, as an HTTP response.
#[derive(Debug)]
pub struct Call {
    prefix: Vec<u8>,
    request: KeysRequest,
    state: State,
    conflicts: u32,
    cluster_id: Option<String>,
    wait_timeout: Timeout,
}

impl Call {
    /// Carry out `request` in the tree kept under `prefix` (see
    /// [`super::check_prefix`]). What the bridge does not provide yet is
    /// refused at the first poll with [`Error::NotOnBridge`], before anything
    /// is sent.
    pub fn new(prefix: impl Into<Vec<u8>>, request: KeysRequest) -> Call {
        let state = match unsupported(&request) {
            Some(what) => State::Done(Some(Err(Error::NotOnBridge(what.into())))),
            // etcd waits on GETs only (a PUT with wait=true is a plain write).
            None if request.wait && request.method == KeysMethod::Get => State::Wait,
            None => State::Read,
        };
        Call {
            prefix: prefix.into(),
            request,
            state,
            conflicts: 0,
            cluster_id: None,
            wait_timeout: Timeout::Default,
        }
    }

    /// A call whose answer is known without asking the cluster (a request
    /// etcd v2 refuses as malformed).
    pub fn answered(
        prefix: impl Into<Vec<u8>>,
        request: KeysRequest,
        answer: http::Response<Vec<u8>>,
    ) -> Call {
        Call {
            prefix: prefix.into(),
            request,
            state: State::Done(Some(Ok(answer))),
            conflicts: 0,
            cluster_id: None,
            wait_timeout: Timeout::Default,
        }
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

    /// The v3 key of the node at `path` (a directory's ends in `/`).
    fn v3_key(&self, path: &[u8], dir: bool) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.extend_from_slice(path);
        if dir {
            k.push(b'/');
        }
        k
    }

    /// The marker of a node that a set replaced: its revision is the node's
    /// `createdIndex` (v3 keeps a key's create revision across puts; v2 gives
    /// a replaced node a new one).
    fn created_key(&self, path: &[u8]) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.push(0);
        k.extend_from_slice(path);
        k
    }

    /// The key every bridge write puts, and compares, so that bridge writes
    /// are applied one after another as in v2.
    fn serial_key(&self) -> &[u8] {
        &self.prefix
    }

    /// One read of: each ancestor of the key (as file and as directory), the
    /// key's whole subtree, and the serial key, all at one revision.
    fn read(&self) -> Txn {
        let key = &self.request.key;
        let mut ranges = Vec::new();
        let mut at = 0;
        while let Some(i) = key[at + 1..].iter().position(|&b| b == b'/') {
            let ancestor = &key[..at + 1 + i];
            ranges.push(v3::range(&self.v3_key(ancestor, false), None));
            ranges.push(v3::range(&self.v3_key(ancestor, true), None));
            at += 1 + i;
        }
        let start = if key.as_slice() == b"/" {
            self.v3_key(b"/", false)
        } else {
            self.v3_key(key, false)
        };
        let mut end = start.clone();
        if key.as_slice() != b"/" {
            end.push(b'/');
        }
        ranges.push(v3::range(&start, Some(&v3::prefix_end(&end))));
        let marks = self.created_key(key);
        let mut marks_end = marks.clone();
        if key.as_slice() != b"/" {
            marks_end.push(b'/');
        }
        ranges.push(v3::range(&marks, Some(&v3::prefix_end(&marks_end))));
        ranges.push(v3::range(self.serial_key(), None));
        Txn::read(ranges)
    }

    /// The nodes a read found, by v2 path, and the serial key's revision.
    fn nodes_of(&self, read: &TxnResponse) -> (Vec<(Vec<u8>, Flat)>, u64) {
        let mut nodes = Vec::new();
        let mut serial = 0;
        let mut created = BTreeMap::new();
        let key = &self.request.key;
        for kv in read
            .responses
            .iter()
            .filter_map(|r| r.response_range.as_ref())
        {
            for kv in &kv.kvs {
                if kv.key == self.prefix {
                    serial = kv.mod_revision;
                    continue;
                }
                let Some(rest) = kv.key.strip_prefix(self.prefix.as_slice()) else {
                    continue;
                };
                if let Some(path) = rest.strip_prefix(b"\0") {
                    created.insert(path.to_vec(), kv.mod_revision);
                    continue;
                }
                let (path, dir) = match rest.strip_suffix(b"/") {
                    Some(p) if !p.is_empty() => (p, true),
                    _ => (rest, false),
                };
                // The subtree range also spans siblings such as `/a-b` of `/a`.
                let related = key.as_slice() == b"/"
                    || path == key.as_slice()
                    || (path.starts_with(key) && path.get(key.len()) == Some(&b'/'))
                    || (key.starts_with(path) && key.get(path.len()) == Some(&b'/'));
                if !related || !path.starts_with(b"/") {
                    continue;
                }
                nodes.push((
                    path.to_vec(),
                    Flat {
                        dir,
                        value: if dir { Vec::new() } else { kv.value.clone() },
                        created: kv.create_revision,
                        modified: kv.mod_revision,
                        expire: None,
                    },
                ));
            }
        }
        for (path, node) in &mut nodes {
            if let Some(&at) = created.get(path) {
                node.created = at;
            }
        }
        (nodes, serial)
    }

    /// The writes that turn `before` into `after`.
    fn diff(
        &self,
        before: &BTreeMap<Vec<u8>, Flat>,
        after: &BTreeMap<Vec<u8>, Flat>,
    ) -> Vec<serde_json::Value> {
        let mut ops = Vec::new();
        let mut gone_dirs: Vec<&[u8]> = Vec::new();
        for (path, old) in before {
            if gone_dirs
                .iter()
                .any(|d| path.starts_with(d) && path.get(d.len()) == Some(&b'/'))
            {
                continue; // removed with its directory
            }
            match after.get(path) {
                Some(new) if new.dir == old.dir => {}
                _ if old.dir => {
                    // The directory's key and everything below it, markers
                    // included.
                    let dir_key = self.v3_key(path, true);
                    ops.push(v3::delete_range(&dir_key, &v3::prefix_end(&dir_key)));
                    let mut marks = self.created_key(path);
                    marks.push(b'/');
                    ops.push(v3::delete_range(&marks, &v3::prefix_end(&marks)));
                    gone_dirs.push(path);
                }
                _ => {
                    ops.push(v3::delete(&self.v3_key(path, false)));
                    ops.push(v3::delete(&self.created_key(path)));
                }
            }
        }
        for (path, new) in after {
            let old = before.get(path);
            if old == Some(new) {
                continue;
            }
            ops.push(v3::put(&self.v3_key(path, new.dir), &new.value));
            // A node replaced in place: v3 keeps the key's create revision, so
            // the new one is marked.
            if old.is_some_and(|old| old.dir == new.dir && old.created != new.created) {
                ops.push(v3::put(&self.created_key(path), b""));
            }
        }
        ops
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

    fn handle_read(&mut self, read: TxnResponse, endpoint: String) {
        let found = reply::cluster_id_text(read.header.cluster_id);
        if let Some(expected) = &self.cluster_id {
            if !expected.eq_ignore_ascii_case(&found) {
                let mismatch = Error::ClusterIdMismatch {
                    endpoint,
                    expected: expected.clone(),
                    found,
                };
                return self.finish(Err(mismatch));
            }
        }
        let index = read.header.revision;
        let at = indexes(&read, index);
        let (nodes, serial) = self.nodes_of(&read);
        let mut store = Store::from_nodes(index, nodes);
        let before = store.nodes();
        let result = store.apply(&self.request, 0);
        let is_read = matches!(self.request.method, KeysMethod::Get | KeysMethod::Head);
        let event = match result {
            Err(e) => {
                return self.finish(Ok(reply::key_error(&e, Some(read.header.cluster_id))));
            }
            Ok(event) if is_read => {
                let no_value = self.request.no_value_on_success;
                let answer = reply::event(&event, no_value, read.header.cluster_id, at);
                return self.finish(Ok(answer));
            }
            Ok(event) => event,
        };
        let mut ops = self.diff(&before, &store.nodes());
        if ops.len() >= MAX_OPS {
            return self.finish(Err(Error::NotOnBridge(format!(
                "a change of {} keys in one request (etcd takes at most {} in one transaction)",
                ops.len(),
                MAX_OPS - 1
            ))));
        }
        // The v2 event goes into `P`: `P`'s history is the v2 event history
        // that waits read.
        ops.push(v3::put(self.serial_key(), &record(index + 1, &event)));
        let txn = Txn::write(vec![v3::mod_revision_is(self.serial_key(), serial)], ops);
        self.state = State::Commit {
            txn,
            event: Box::new(event),
            read_at: index,
        };
    }

    fn handle_commit(&mut self, commit: TxnResponse, mut event: Event, read_at: u64) {
        if !commit.succeeded {
            self.conflicts += 1;
            if self.conflicts >= MAX_CONFLICTS {
                return self.finish(Err(Error::DeadlineExceeded(format!(
                    "other bridge writes got in before this one {MAX_CONFLICTS} times in a row; it was not applied"
                ))));
            }
            self.state = State::Read;
            return;
        }
        let revision = commit.header.revision;
        // The store numbered the change `read_at + 1`; v3 numbered it with
        // the commit's revision (the same unless a write outside the bridge
        // came in between).
        let planned = read_at + 1;
        let fix = |i: &mut u64| {
            if *i == planned {
                *i = revision;
            }
        };
        fix(&mut event.node.modified_index);
        fix(&mut event.node.created_index);
        event.etcd_index = revision;
        let at = indexes(&commit, revision);
        let answer = reply::event(
            &event,
            self.request.no_value_on_success,
            commit.header.cluster_id,
            at,
        );
        self.finish(Ok(answer));
    }
}

impl Call {
    fn watch(&self) -> Watch {
        let from = (self.request.wait_index > 0).then_some(self.request.wait_index);
        Watch::new(
            self.serial_key(),
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
            Some(Found::Ended(reason)) => Err(Error::Api {
                endpoint: String::new(),
                status: 503,
                message: format!("the v3 watch ended: {reason}"),
            }),
            None => Err(Error::Api {
                endpoint: String::new(),
                status: 503,
                message: "the v3 watch stream closed".into(),
            }),
        };
        self.finish(answer);
    }
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
    if r.stream {
        Some("streamed waits")
    } else if r.ttl.is_some() || r.refresh.is_some() {
        Some("TTLs and refresh")
    } else {
        None
    }
}

impl Machine for Call {
    type Request = Request;
    type Outcome = Outcome;
    type Event = ();
    /// etcd v2's answer.
    type Output = Result<http::Response<Vec<u8>>, Error>;

    fn poll(&mut self, _now: Instant) -> Step<Request, (), Self::Output> {
        match std::mem::replace(&mut self.state, State::Done(None)) {
            State::Done(mut output) => output_once(&mut output, "bridge call"),
            State::Read => {
                self.state = State::Reading;
                Step::Send(Request::Txn(self.read()))
            }
            State::Wait => {
                self.state = State::Waiting;
                Step::Send(Request::Watch(self.watch()))
            }
            State::Commit {
                txn,
                event,
                read_at,
            } => {
                self.state = State::Committing { event, read_at };
                Step::Send(Request::Txn(txn))
            }
            in_flight @ (State::Reading | State::Committing { .. } | State::Waiting) => {
                self.state = in_flight;
                Step::Done(Err(Error::Misuse(
                    "the bridge call was polled while a request was in flight".into(),
                )))
            }
        }
    }

    fn handle(&mut self, outcome: Outcome, _now: Instant) -> Result<(), Error> {
        match (
            std::mem::replace(&mut self.state, State::Done(None)),
            outcome,
        ) {
            (State::Reading, Outcome::Txn(outcome)) => match outcome {
                Ok(read) => {
                    let endpoint = read.endpoint.clone();
                    self.handle_read(read, endpoint)
                }
                Err(e) => self.finish(Err(e)),
            },
            (State::Committing { event, read_at }, Outcome::Txn(outcome)) => match outcome {
                Ok(commit) => self.handle_commit(commit, *event, read_at),
                Err(e) => self.finish(Err(e)),
            },
            (State::Waiting, Outcome::Watch(outcome)) => match outcome {
                Ok(watched) => self.handle_watched(watched),
                Err(e) => self.finish(Err(e)),
            },
            (other, _) => {
                self.state = other;
                return Err(Error::Misuse(
                    "a bridge outcome with no request in flight".into(),
                ));
            }
        }
        Ok(())
    }
}
