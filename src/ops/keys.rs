//! The keys API (`/v2/keys`): one operation per call.
//!
//! Values and write options travel in a form-encoded body (so long values never
//! hit etcd's 4096-byte request line limit); the options of GET and DELETE travel
//! in the query string, because etcd ignores a DELETE body, which would turn a
//! compare-and-delete into an unconditional delete.
//!
//! "Safe to resend" is whether the client sends the request again, to another
//! member, after a failure that leaves its outcome unknown (a timeout, a
//! connection lost after sending, errorCode 300). No write is, by default: a
//! write applied twice is two events to every watcher, and in between another
//! writer's value is overwritten. The plain writes marked "opt-in" are resent
//! only by a client built with
//! [`crate::ClientBuilder::resend_sets_after_unknown_outcome`].
//!
//! | operation | request | safe to resend |
//! |---|---|---|
//! | [`Get`] | `GET ?recursive&sorted&quorum` | yes |
//! | [`Set`] | `PUT value, ttl` | opt-in |
//! | [`Create`] | `PUT value, ttl, prevExist=false` | no |
//! | [`Update`] | `PUT value, ttl, prevExist=true` | opt-in |
//! | [`CompareAndSwap`] | `PUT value, ttl, prevValue, prevIndex, prevExist` | no |
//! | [`Refresh`] | `PUT ttl, refresh=true, prevExist=true` | opt-in |
//! | [`Delete`] | `DELETE ?prevValue&prevIndex&recursive&dir` | no |
//! | [`CreateDir`] | `PUT dir=true, ttl, prevExist=false` | no |
//! | [`UpdateDir`] | `PUT dir=true, ttl, prevExist=true` | opt-in |
//! | [`CreateInOrder`] | `POST value, ttl` | no |
//! | [`Wait`] | `GET ?wait=true&waitIndex&recursive` (long poll) | yes |
//! | [`CurrentIndex`] | `HEAD` (the store index, no body) | yes |
//! | [`NoValueOnSuccess`] | any write above with `noValueOnSuccess=true` | as the write |

use http::Method;

pub use super::MAX_TTL;
use super::{check_prev_index, check_prev_value, check_ttl, keys_path, request, Operation, Params};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorCode};
use crate::response::{parse_acknowledged, parse_keys, Acknowledged, ClusterInfo, KeysResponse};

/// Read a key or list a directory.
///
/// ```
/// use etcd_v2::{ops::keys::Get, Endpoint, Operation};
/// let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
/// let req = Get::new("/dir").recursive(true).sorted(true).quorum(true).build(&e).unwrap();
/// assert_eq!(req.uri().query(), Some("recursive=true&sorted=true&quorum=true"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    key: String,
    recursive: bool,
    sorted: bool,
    quorum: bool,
}

impl Get {
    /// Read `key`.
    pub fn new(key: impl Into<String>) -> Get {
        Get {
            key: key.into(),
            recursive: false,
            sorted: false,
            quorum: false,
        }
    }

    /// List a directory's whole subtree, not only its direct children.
    pub fn recursive(mut self, on: bool) -> Get {
        self.recursive = on;
        self
    }

    /// List children in key order (etcd's default is hash order; in-order keys
    /// sort by creation).
    pub fn sorted(mut self, on: bool) -> Get {
        self.sorted = on;
        self
    }

    /// Linearizable read through raft, rather than the member's local (possibly
    /// stale) state.
    pub fn quorum(mut self, on: bool) -> Get {
        self.quorum = on;
        self
    }
}

impl Operation for Get {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }

    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        let mut q = Params::new();
        q.flag("recursive", self.recursive)
            .flag("sorted", self.sorted)
            .flag("quorum", self.quorum);
        request(endpoint, Method::GET, &keys_path(&self.key)?, &q, None)
    }

    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        let mut parsed = parse_keys(&response)?;
        parsed.node.mark_listed(self.recursive);
        Ok(parsed)
    }

    fn idempotent(&self) -> bool {
        true
    }

    fn may_be_stale(&self) -> bool {
        !self.quorum
    }
}

macro_rules! ttl_setter {
    () => {
        /// Expire the node after `seconds` (etcd's TTL is whole seconds; 0 expires
        /// it at the next sweep). Above [`MAX_TTL`] the request is refused before
        /// sending (etcd would misread it).
        pub fn ttl(mut self, seconds: u64) -> Self {
            self.ttl = Some(seconds);
            self
        }
    };
}

/// Set a key's value, creating it (and its parents) if needed. A plain set
/// replaces the node: its TTL is dropped unless given again, and its
/// `createdIndex` is reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    key: String,
    value: String,
    ttl: Option<u64>,
}

impl Set {
    /// Set `key` to `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Set {
        Set {
            key: key.into(),
            value: value.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

fn put(endpoint: &Endpoint, key: &str, form: &Params) -> Result<http::Request<Vec<u8>>, Error> {
    request(
        endpoint,
        Method::PUT,
        &keys_path(key)?,
        &Params::new(),
        Some(form),
    )
}

impl Operation for Set {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("value", &self.value).push_opt("ttl", self.ttl);
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn repeatable(&self) -> bool {
        true
    }
}

/// Create a key only if it does not exist (`prevExist=false`); fails with
/// errorCode 105 otherwise (the seed's `create_only`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    key: String,
    value: String,
    ttl: Option<u64>,
}

impl Create {
    /// Create `key` with `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Create {
        Create {
            key: key.into(),
            value: value.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

impl Operation for Create {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("value", &self.value)
            .push_opt("ttl", self.ttl)
            .push("prevExist", "false");
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// Change a key only if it exists (`prevExist=true`); fails with errorCode 100
/// otherwise (the seed's `update_only`). Without a TTL, an existing TTL is
/// removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    key: String,
    value: String,
    ttl: Option<u64>,
}

impl Update {
    /// Update `key` to `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Update {
        Update {
            key: key.into(),
            value: value.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

impl Operation for Update {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("value", &self.value)
            .push_opt("ttl", self.ttl)
            .push("prevExist", "true");
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn repeatable(&self) -> bool {
        true
    }
}

/// Atomic compare-and-swap: set the value only if the current node matches every
/// condition given (`prevValue`, `prevIndex`, `prevExist`). A failed condition is
/// errorCode 101 (the seed's `EtcdPreconditionException`).
///
/// At least one condition is required. `prev_index(0)` and `prev_value("")` are
/// refused (etcd would treat the first as no condition and refuses the second),
/// as is `prev_exist(false)` together with a value or index condition (a create
/// has nothing to compare; etcd would silently ignore them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareAndSwap {
    key: String,
    value: String,
    ttl: Option<u64>,
    prev_value: Option<String>,
    prev_index: Option<u64>,
    prev_exist: Option<bool>,
}

impl CompareAndSwap {
    /// Swap `key` to `value`, under the conditions set next.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> CompareAndSwap {
        CompareAndSwap {
            key: key.into(),
            value: value.into(),
            ttl: None,
            prev_value: None,
            prev_index: None,
            prev_exist: None,
        }
    }

    /// Only if the current value is `value`.
    pub fn prev_value(mut self, value: impl Into<String>) -> CompareAndSwap {
        self.prev_value = Some(value.into());
        self
    }

    /// Only if the node's `modifiedIndex` is `index`.
    pub fn prev_index(mut self, index: u64) -> CompareAndSwap {
        self.prev_index = Some(index);
        self
    }

    /// Only if the node exists (`true`) or does not (`false`).
    pub fn prev_exist(mut self, exists: bool) -> CompareAndSwap {
        self.prev_exist = Some(exists);
        self
    }
    ttl_setter!();

    fn check(&self) -> Result<(), Error> {
        if self.prev_value.is_none() && self.prev_index.is_none() && self.prev_exist.is_none() {
            return Err(Error::invalid_argument(
                "conditions",
                "a compare-and-swap needs prev_value, prev_index or prev_exist (use Set for an unconditional write)",
            ));
        }
        if self.prev_exist == Some(false)
            && (self.prev_value.is_some() || self.prev_index.is_some())
        {
            return Err(Error::invalid_argument(
                "prev_exist",
                "prev_exist(false) is a create: there is no previous value or index to compare, and etcd would ignore them",
            ));
        }
        check_prev_index(self.prev_index)?;
        check_prev_value(self.prev_value.as_deref())
    }
}

impl Operation for CompareAndSwap {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        self.check()?;
        let mut form = Params::new();
        form.push("value", &self.value)
            .push_opt("ttl", self.ttl)
            .push_opt("prevValue", self.prev_value.as_deref())
            .push_opt("prevIndex", self.prev_index)
            .push_opt("prevExist", self.prev_exist);
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// Reset a key's TTL without touching its value (`refresh=true&prevExist=true`).
/// The answer's action is `update`. A refresh does not wake watchers and is not
/// replayed by a watch from an older index. Optionally guarded by the current
/// value or index (a failed guard is errorCode 101).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    key: String,
    ttl: u64,
    prev_value: Option<String>,
    prev_index: Option<u64>,
}

impl Refresh {
    /// Give `key` a fresh TTL of `ttl` seconds.
    pub fn new(key: impl Into<String>, ttl: u64) -> Refresh {
        Refresh {
            key: key.into(),
            ttl,
            prev_value: None,
            prev_index: None,
        }
    }

    /// Only if the current value is `value`.
    pub fn prev_value(mut self, value: impl Into<String>) -> Refresh {
        self.prev_value = Some(value.into());
        self
    }

    /// Only if the node's `modifiedIndex` is `index`.
    pub fn prev_index(mut self, index: u64) -> Refresh {
        self.prev_index = Some(index);
        self
    }
}

impl Operation for Refresh {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(Some(self.ttl))?;
        check_prev_index(self.prev_index)?;
        check_prev_value(self.prev_value.as_deref())?;
        let mut form = Params::new();
        form.push("ttl", &self.ttl.to_string())
            .push("refresh", "true")
            .push("prevExist", "true")
            .push_opt("prevValue", self.prev_value.as_deref())
            .push_opt("prevIndex", self.prev_index);
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn repeatable(&self) -> bool {
        true
    }
}

/// Delete a key, a directory (`dir`, empty only) or a subtree (`recursive`),
/// optionally only if the node's value or index matches (compare-and-delete).
///
/// Conditions travel in the query string: etcd ignores a DELETE body, and a
/// condition sent there would be silently dropped, deleting unconditionally
/// (the seed's bug). etcd refuses compare-and-delete on a directory with
/// errorCode 102; the error then says so, and nothing is deleted.
///
/// ```
/// use etcd_v2::{ops::keys::Delete, Endpoint, Operation};
/// let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
/// let req = Delete::new("/k").prev_value("v 1").build(&e).unwrap();
/// assert_eq!(req.uri().query(), Some("prevValue=v+1"));
/// assert!(req.body().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    key: String,
    prev_value: Option<String>,
    prev_index: Option<u64>,
    dir: bool,
    recursive: bool,
}

impl Delete {
    /// Delete `key`.
    pub fn new(key: impl Into<String>) -> Delete {
        Delete {
            key: key.into(),
            prev_value: None,
            prev_index: None,
            dir: false,
            recursive: false,
        }
    }

    /// Only if the current value is `value`.
    pub fn prev_value(mut self, value: impl Into<String>) -> Delete {
        self.prev_value = Some(value.into());
        self
    }

    /// Only if the node's `modifiedIndex` is `index`.
    pub fn prev_index(mut self, index: u64) -> Delete {
        self.prev_index = Some(index);
        self
    }

    /// Allow deleting an empty directory (`dir=true`; a file is deleted too).
    pub fn dir(mut self, on: bool) -> Delete {
        self.dir = on;
        self
    }

    /// Delete a directory and everything below it.
    pub fn recursive(mut self, on: bool) -> Delete {
        self.recursive = on;
        self
    }

    fn is_conditional(&self) -> bool {
        self.prev_value.is_some() || self.prev_index.is_some()
    }
}

impl Operation for Delete {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_prev_index(self.prev_index)?;
        check_prev_value(self.prev_value.as_deref())?;
        let mut q = Params::new();
        q.push_opt("prevValue", self.prev_value.as_deref())
            .push_opt("prevIndex", self.prev_index)
            .flag("dir", self.dir || self.recursive)
            .flag("recursive", self.recursive);
        request(endpoint, Method::DELETE, &keys_path(&self.key)?, &q, None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response).map_err(|mut err| {
            if let Error::Etcd(e) = &mut err {
                if e.code == ErrorCode::NotFile {
                    e.note = Some(if self.is_conditional() {
                        "etcd refuses compare-and-delete on a directory; nothing was deleted"
                    } else {
                        "the key is a directory: delete it with dir (if empty) or recursive"
                    });
                }
            }
            err
        })
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// Create a directory, failing with errorCode 105 if the key exists (the seed's
/// `directory.create`). Optionally with a TTL: the whole directory expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDir {
    key: String,
    ttl: Option<u64>,
}

impl CreateDir {
    /// Create the directory `key`.
    pub fn new(key: impl Into<String>) -> CreateDir {
        CreateDir {
            key: key.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

impl Operation for CreateDir {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("dir", "true")
            .push_opt("ttl", self.ttl)
            .push("prevExist", "false");
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// Change an existing directory's TTL (`dir=true&prevExist=true`); without a
/// TTL, the directory becomes permanent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateDir {
    key: String,
    ttl: Option<u64>,
}

impl UpdateDir {
    /// Update the directory `key`.
    pub fn new(key: impl Into<String>) -> UpdateDir {
        UpdateDir {
            key: key.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

impl Operation for UpdateDir {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("dir", "true")
            .push("ttl", &self.ttl.map(|t| t.to_string()).unwrap_or_default())
            .push("prevExist", "true");
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn refused_outright(&self, response: &http::Response<Vec<u8>>) -> Option<Error> {
        // etcd 3.5 cannot change a directory's TTL (etcd issue #13589): its v2
        // store refuses the update when applying it, and the answer is a 500
        // with errorCode 300 and the cause "nodePath <path> : Not a file ()".
        // Nothing was changed, so the outcome is known.
        match crate::response::error_from_response(response) {
            Error::Etcd(mut e)
                if e.code == ErrorCode::RaftInternal
                    && e.cause
                        .as_deref()
                        .is_some_and(|c| c.contains(": Not a file")) =>
            {
                e.code = ErrorCode::NotFile;
                e.note = Some(
                    "etcd 3.5 refuses to change a directory's TTL (etcd issue #13589, \
                     errorCode 300 \"Not a file\"); nothing was changed",
                );
                Some(Error::Etcd(e))
            }
            _ => None,
        }
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn repeatable(&self) -> bool {
        true
    }
}

/// Append a value under a directory with a key etcd generates: a 20-digit,
/// zero-padded global index, so keys sort in creation order (POST). The
/// directory is created if needed. The new key is the answer's `node.key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateInOrder {
    dir: String,
    value: String,
    ttl: Option<u64>,
}

impl CreateInOrder {
    /// Append `value` under `dir`.
    pub fn new(dir: impl Into<String>, value: impl Into<String>) -> CreateInOrder {
        CreateInOrder {
            dir: dir.into(),
            value: value.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

impl Operation for CreateInOrder {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.dir)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("value", &self.value).push_opt("ttl", self.ttl);
        request(
            endpoint,
            Method::POST,
            &keys_path(&self.dir)?,
            &Params::new(),
            Some(&form),
        )
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// The member's current store index (`X-Etcd-Index`), read with a `HEAD` of a
/// key: no body is sent, whether the key exists or not. A wait from "now" starts
/// at this index + 1, so nothing that happens after it is missed.
///
/// ```
/// use etcd_v2::{ops::keys::CurrentIndex, Operation};
/// let missing = http::Response::builder().status(404).header("X-Etcd-Index", "41").body(vec![]).unwrap();
/// assert_eq!(CurrentIndex::new("/nope").parse(missing).unwrap(), 41);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentIndex {
    key: String,
}

impl CurrentIndex {
    /// Ask for the index with a `HEAD` of `key`.
    pub fn new(key: impl Into<String>) -> CurrentIndex {
        CurrentIndex { key: key.into() }
    }
}

impl Operation for CurrentIndex {
    type Output = u64;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        request(
            endpoint,
            Method::HEAD,
            &keys_path(&self.key)?,
            &Params::new(),
            None,
        )
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<u64, Error> {
        match response.status().as_u16() {
            200 | 404 => ClusterInfo::from_headers(response.headers())
                .etcd_index
                .ok_or_else(|| {
                    crate::response::decode_failure(&response, "no X-Etcd-Index header")
                }),
            _ => Err(crate::response::error_from_response(&response)),
        }
    }
    fn idempotent(&self) -> bool {
        true
    }
    fn may_be_stale(&self) -> bool {
        true
    }
}

/// What a single long poll returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// A change.
    Event(Box<KeysResponse>),
    /// etcd ended the poll without an event (a 200 with an empty body: an idle
    /// watch closed, or the long-poll timeout). Poll again at the same index; if
    /// no index was given, from `cluster.etcd_index + 1`, so that nothing is
    /// missed in between.
    Idle {
        /// The headers: `etcd_index` is the store index when the watch started.
        cluster: ClusterInfo,
    },
}

/// One long poll for the next change of a key (or, with `recursive`, of anything
/// below it), optionally from an index in the past (etcd replays the last 1000
/// events; older indexes give errorCode 401).
///
/// A refresh does not wake a wait and is skipped by replays; a live recursive
/// wait skips hidden (`_x`) children, but a replay from an index includes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    key: String,
    recursive: bool,
    wait_index: Option<u64>,
}

impl Wait {
    /// Wait for the next change of `key`.
    pub fn new(key: impl Into<String>) -> Wait {
        Wait {
            key: key.into(),
            recursive: false,
            wait_index: None,
        }
    }

    /// Also wake on changes anywhere below `key`.
    pub fn recursive(mut self, on: bool) -> Wait {
        self.recursive = on;
        self
    }

    /// Return the first event at or after `index` (possibly one in the past).
    pub fn wait_index(mut self, index: u64) -> Wait {
        self.wait_index = Some(index);
        self
    }

    /// The key waited on.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The index waited from, if any.
    pub fn index(&self) -> Option<u64> {
        self.wait_index
    }

    /// Whether the wait is recursive.
    pub fn is_recursive(&self) -> bool {
        self.recursive
    }
}

impl Operation for Wait {
    type Output = WaitOutcome;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        let mut q = Params::new();
        q.push("wait", "true")
            .push_opt("waitIndex", self.wait_index)
            .flag("recursive", self.recursive);
        request(endpoint, Method::GET, &keys_path(&self.key)?, &q, None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<WaitOutcome, Error> {
        if response.status() == http::StatusCode::OK
            && response.body().iter().all(u8::is_ascii_whitespace)
        {
            return Ok(WaitOutcome::Idle {
                cluster: ClusterInfo::from_headers(response.headers()),
            });
        }
        parse_keys(&response).map(|e| WaitOutcome::Event(Box::new(e)))
    }
    fn idempotent(&self) -> bool {
        true
    }
    fn is_long_poll(&self) -> bool {
        true
    }
    fn may_be_stale(&self) -> bool {
        true
    }
}

/// The writes that accept `noValueOnSuccess`.
pub trait Write: Operation<Output = KeysResponse> {}
impl Write for Set {}
impl Write for Create {}
impl Write for Update {}
impl Write for CompareAndSwap {}
impl Write for CreateInOrder {}

/// A write sent with `noValueOnSuccess=true`: etcd answers only with the action
/// (and the index in `X-Etcd-Index`), saving the echo of large values. Errors
/// are unchanged.
///
/// ```
/// use etcd_v2::{ops::keys::{NoValueOnSuccess, Set}, Endpoint, Operation};
/// let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
/// let req = NoValueOnSuccess::new(Set::new("/k", "big")).build(&e).unwrap();
/// assert_eq!(req.uri().query(), Some("noValueOnSuccess=true"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoValueOnSuccess<W> {
    write: W,
}

impl<W: Write> NoValueOnSuccess<W> {
    /// Send `write` with `noValueOnSuccess=true`.
    pub fn new(write: W) -> NoValueOnSuccess<W> {
        NoValueOnSuccess { write }
    }
}

impl<W: Write> Operation for NoValueOnSuccess<W> {
    type Output = Acknowledged;
    fn name(&self) -> &'static str {
        self.write.name()
    }
    fn key(&self) -> Option<&str> {
        self.write.key()
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        let request = self.write.build(endpoint)?;
        let (mut parts, body) = request.into_parts();
        let uri = parts.uri.to_string();
        let sep = if parts.uri.query().is_some() {
            '&'
        } else {
            '?'
        };
        parts.uri = format!("{uri}{sep}noValueOnSuccess=true").parse().map_err(
            |e: http::uri::InvalidUri| Error::invalid_argument("request", e.to_string()),
        )?;
        Ok(http::Request::from_parts(parts, body))
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Acknowledged, Error> {
        parse_acknowledged(&response)
    }
    fn idempotent(&self) -> bool {
        self.write.idempotent()
    }
    fn repeatable(&self) -> bool {
        self.write.repeatable()
    }
}
