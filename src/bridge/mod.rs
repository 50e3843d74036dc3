//! The v3 bridge: etcd v2's keys API carried out over etcd's v3 JSON gateway,
//! for clusters that no longer serve v2 (etcd 3.6 and later, or 3.4/3.5
//! without `--enable-v2`). Select it with [`crate::ClientBuilder::v3_bridge`];
//! every keys call of the client then goes through it, and answers as etcd v2
//! would.
//!
//! The keys API (reads, writes, conditions, directories, in-order keys),
//! TTLs (on keys and directories), waits and watches (with `expire` events),
//! and so the lock and leader recipes, work; `/version` and `/health` go to
//! the member as they are; `/v2/members` and `/v2/machines` come from v3's
//! members API ([`admin`]); the v2 auth API from v3's users and roles
//! ([`access`], with permissions mapped by [`perms`]); a v2 tree is copied
//! over with [`copy`]. Statistics (v3 has no equivalent) are refused with
//! [`crate::Error::NotOnBridge`] before anything is sent.
//!
//! # Layout
//!
//! The v2 tree lives under a prefix `P` in the v3 keyspace (the prefix must
//! not be empty and is taken without trailing slashes):
//!
//! | v2 | v3 key | v3 value |
//! |---|---|---|
//! | file `/a/b` | `P/a/b` | the value, as is |
//! | directory `/a` | `P/a/` | empty |
//! | the root `/` | none | |
//! | hidden `/_x`, in-order `/q/00000000000000000042` | the same rule | |
//! | a node a set replaced | `P\0/a/b` | empty: its revision is the node's `createdIndex` |
//! | a node's expiry | `P\1/a/b`, on the node's lease | Unix nanoseconds, in decimal |
//! | a file put again only to change its lease | `P\2/a/b`, on that lease | its `modifiedIndex`, in decimal (while its revision is the key's) |
//! | every bridge write, in turn | `P` | the planned index and the v2 event |
//!
//! `createdIndex` and `modifiedIndex` are the v3 `create_revision` (or the
//! marker's) and `mod_revision`; `X-Etcd-Index` is the revision the answer
//! was read or written at. A node with a TTL is on a v3 lease that ends a
//! second after its expiry; a node below a directory with a TTL is on the
//! lease of whichever ends first ([`layout::holder`]), so a directory's
//! lease end takes everything below it in one revision.
//!
//! # Protocol
//!
//! A call ([`Call`]) reads, in one transaction (so at one revision), every
//! ancestor of the key, the key's subtree and the key `P`. It applies the v2
//! request to what it read with MemoryEtcd's v2 store, which has etcd 3.4's
//! semantics, error codes and messages. A read answers from there. A write
//! commits the keys that changed in a second transaction guarded by `P`'s
//! revision, and puts `P`: bridge writes are thus applied one after another,
//! as v2's were, and a write that another one overtook starts over from the
//! read (nothing was applied). A commit whose outcome is unknown is never
//! resent ([`crate::Error::OutcomeUnknown`]). A wait watches `P` and
//! everything under it from the waited revision (see [`watch`]): `P`'s
//! history is the v2 event history, and node keys removed in a revision
//! without a record are a lease's end, v2's `expire`.
//!
//! Known differences: an in-order key's name is the revision the write was
//! planned at, which is its `createdIndex` unless a write from outside the
//! bridge got in between; one request changes at most 127 keys (etcd's limit
//! per transaction); keys written under `P` by other v3 clients are seen but
//! not ordered with bridge writes.

/// etcd v2's answer to a request carried out over the bridge: what every
/// bridge machine ends with.
pub type Answer = Result<http::Response<Vec<u8>>, Error>;

/// The [`Machine`] impl of a bridge machine, from its inherent `step` (the
/// poll) and `take` (the handling of an outcome).
macro_rules! bridge_machine {
    ($ty:ty) => {
        impl $crate::machine::Machine for $ty {
            type Request = $crate::bridge::Request;
            type Outcome = $crate::bridge::Outcome;
            type Event = ();
            /// etcd v2's answer.
            type Output = $crate::bridge::Answer;

            fn poll(
                &mut self,
                now: std::time::Instant,
            ) -> $crate::machine::Step<$crate::bridge::Request, (), $crate::bridge::Answer> {
                self.step(now)
            }

            fn handle(
                &mut self,
                outcome: $crate::bridge::Outcome,
                now: std::time::Instant,
            ) -> Result<(), $crate::error::Error> {
                self.take(outcome, now)
            }
        }
    };
}

pub mod access;
pub mod access_ask;
pub mod admin;
pub mod auth;
mod call;
pub mod copy;
pub mod layout;
pub mod perms;
mod planned;
pub mod v3;
pub mod watch;

pub use call::{unsupported, Call, MAX_CONFLICTS};

/// A request of a bridge call.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A v3 transaction.
    Txn(v3::Txn),
    /// A lease for the nodes a write gives a TTL.
    Grant(v3::LeaseGrant),
    /// A v3 watch, read line by line ([`crate::Transport::send_streaming`]).
    Watch(watch::Watch),
    /// Another gateway request (members, status).
    Post(v3::Post),
    /// A token for the client's credentials (the driver keeps it and puts it
    /// on every later v3 request).
    Authenticate(v3::Authenticate),
}

/// The outcome of a [`Request`].
#[derive(Debug)]
pub enum Outcome {
    /// A transaction's answer.
    Txn(Result<v3::TxnResponse, Error>),
    /// The granted lease's ID.
    Grant(Result<u64, Error>),
    /// What a watch saw.
    Watch(Result<watch::Watched, Error>),
    /// Another request's JSON answer.
    Post(Result<serde_json::Value, Error>),
    /// Whether a token was had.
    Authenticated(Result<(), Error>),
}

use std::time::Instant;

use crate::error::Error;
use crate::machine::{Machine, Step};
use crate::server::request::{decode, Route};

/// The prefix as the bridge uses it: without trailing slashes, and not empty
/// (else [`Error::InvalidArgument`]).
pub fn check_prefix(prefix: &str) -> Result<Vec<u8>, Error> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(Error::invalid_argument(
            "v3_bridge",
            "the prefix must not be empty (nor only slashes): the v2 tree needs a place of its own in the v3 keyspace",
        ));
    }
    Ok(trimmed.as_bytes().to_vec())
}

/// Whether a request goes to the cluster as it is even over the bridge:
/// `/version` and `/health`, which every member serves, with v2 or without.
pub fn passes_through(request: &http::Request<Vec<u8>>) -> bool {
    matches!(decode(request), Route::Version | Route::Health)
}

/// A v2 request carried out over the bridge: a keys request ([`Call`]), a
/// members one ([`admin::Admin`]) or an auth one ([`access::Access`]). A [`crate::machine::Machine`] whose output
/// is etcd v2's answer.
#[derive(Debug)]
pub enum Bridged {
    /// A keys request.
    Keys(Call),
    /// `/v2/members` or `/v2/machines`.
    Admin(admin::Admin),
    /// The v2 auth API.
    Access(Box<access::Access>),
}

impl Bridged {
    /// Only work with the cluster whose ID (hex) is `id` (see
    /// [`Call::expect_cluster`]).
    pub fn expect_cluster(self, id: Option<String>) -> Bridged {
        match self {
            Bridged::Keys(call) => Bridged::Keys(call.expect_cluster(id)),
            Bridged::Admin(admin) => Bridged::Admin(admin.expect_cluster(id)),
            Bridged::Access(access) => Bridged::Access(Box::new(access.expect_cluster(id))),
        }
    }

    /// End with [`Error::DeadlineExceeded`] if not over by `deadline`
    /// (checked before each request; see [`Call::deadline`]).
    pub fn deadline(self, deadline: Option<Instant>) -> Bridged {
        match self {
            Bridged::Keys(call) => Bridged::Keys(call.deadline(deadline)),
            Bridged::Admin(admin) => Bridged::Admin(admin.deadline(deadline)),
            Bridged::Access(access) => Bridged::Access(Box::new(access.deadline(deadline))),
        }
    }

    /// How long each attempt of a wait may last.
    pub fn wait_timeout(self, timeout: crate::cluster::Timeout) -> Bridged {
        match self {
            Bridged::Keys(call) => Bridged::Keys(call.wait_timeout(timeout)),
            admin => admin,
        }
    }
}

impl Bridged {
    fn step(&mut self, now: Instant) -> Step<Request, (), Answer> {
        match self {
            Bridged::Keys(call) => call.poll(now),
            Bridged::Admin(admin) => admin.poll(now),
            Bridged::Access(access) => access.poll(now),
        }
    }

    fn take(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        match self {
            Bridged::Keys(call) => call.handle(outcome, now),
            Bridged::Admin(admin) => admin.handle(outcome, now),
            Bridged::Access(access) => access.handle(outcome, now),
        }
    }
}

bridge_machine!(Bridged);

/// What carries out a v2 request (as the client built it) over the bridge,
/// or [`Error::NotOnBridge`] for what the bridge does not serve
/// (statistics).
pub fn call_for(
    prefix: &[u8],
    request: &http::Request<Vec<u8>>,
    now: i64,
) -> Result<Bridged, Error> {
    match decode(request) {
        Route::Keys(keys) => Ok(Bridged::Keys(Call::new(prefix.to_vec(), keys, now))),
        // Refused as etcd v2 refuses it (with index 0, as etcd does).
        Route::KeysError(e) => Ok(Bridged::Keys(Call::answered(
            prefix.to_vec(),
            crate::server::reply::key_error(&e, None),
        ))),
        Route::Machines => Ok(Bridged::Admin(admin::Admin::new(admin::Ask::Machines))),
        Route::Members(m) => Ok(Bridged::Admin(admin::Admin::new(admin::Ask::Members(m)))),
        Route::MembersError(status, message) => Ok(Bridged::Keys(Call::answered(
            prefix.to_vec(),
            crate::server::reply::http_error(status, &message, None),
        ))),
        Route::Auth(path) => Ok(
            match access_ask::decode(request.method(), &path, request.body()) {
                Ok(ask) => Bridged::Access(Box::new(access::Access::new(prefix.to_vec(), ask))),
                Err(answer) => Bridged::Keys(Call::answered(prefix.to_vec(), *answer)),
            },
        ),
        _ => Err(Error::NotOnBridge(format!(
            "{} {}",
            request.method(),
            request.uri().path()
        ))),
    }
}
