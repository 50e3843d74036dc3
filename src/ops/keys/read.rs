//! Reads: [`Get`], [`CurrentIndex`] and the long poll [`Wait`].

use http::Method;

use super::keys_path;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::listing::Listing;
use crate::ops::{request, Operation, Params};
use crate::response::{parse_keys, ClusterInfo, KeysResponse};

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

    setter!(
        /// List a directory's whole subtree, not only its direct children.
        recursive(on: bool) -> recursive = on;

        /// List children in key order (etcd's default is hash order; in-order keys
        /// sort by creation).
        sorted(on: bool) -> sorted = on;

        /// Linearizable read through raft, rather than the member's local (possibly
        /// stale) state.
        quorum(on: bool) -> quorum = on
    );
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

    fn reads_responder_on_success(&self) -> bool {
        false
    }

    fn reads_only_cluster_headers(&self) -> bool {
        true
    }

    fn idempotent(&self) -> bool {
        true
    }

    fn may_be_stale(&self) -> bool {
        !self.quorum
    }
}

/// [`Get`], answered as a [`Listing`]: the nodes are lent out of the answer's
/// body rather than built as owned [`Node`](crate::Node)s, which for a large
/// listing spares an allocation per key and per value (see
/// [`crate::listing`]). It is sent exactly as the `Get` it wraps.
///
/// ```
/// use etcd_v2::{ops::keys::{Get, GetListing}, Operation};
/// let e = etcd_v2::Endpoint::parse("http://127.0.0.1:2379").unwrap();
/// let op = GetListing::new(Get::new("/dir").recursive(true).sorted(true));
/// assert_eq!(op.build(&e).unwrap().uri().query(), Some("recursive=true&sorted=true"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetListing {
    get: Get,
}

impl GetListing {
    /// Send `get`, answered as a [`Listing`].
    pub fn new(get: Get) -> GetListing {
        GetListing { get }
    }
}

impl Operation for GetListing {
    type Output = Listing;
    fn key(&self) -> Option<&str> {
        self.get.key()
    }

    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        self.get.build(endpoint)
    }

    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Listing, Error> {
        if !response.status().is_success() {
            return Err(crate::response::error_from_response(&response));
        }
        let (parts, body) = response.into_parts();
        let body = match String::from_utf8(body) {
            Ok(text) => {
                let cluster = ClusterInfo::from_headers(&parts.headers);
                match Listing::scan(text, cluster) {
                    Ok(mut listing) => {
                        listing.mark_listed(self.get.recursive);
                        return Ok(listing);
                    }
                    Err(text) => text.into_bytes(),
                }
            }
            Err(e) => e.into_bytes(),
        };
        // Left to serde: the same answer as `Get`'s, or its error.
        let owned = self.get.parse(http::Response::from_parts(parts, body))?;
        Ok(Listing::from_response(owned))
    }

    fn reads_responder_on_success(&self) -> bool {
        self.get.reads_responder_on_success()
    }

    fn reads_only_cluster_headers(&self) -> bool {
        self.get.reads_only_cluster_headers()
    }

    fn idempotent(&self) -> bool {
        self.get.idempotent()
    }

    fn may_be_stale(&self) -> bool {
        self.get.may_be_stale()
    }
}

/// The member's current store index (`X-Etcd-Index`), read with a `HEAD` of a
/// key (no body is sent, whether the key exists or not), or with a quorum
/// `GET` ([`CurrentIndex::quorum`]). A wait from "now" starts at this index +
/// 1, so nothing that happens after it is missed.
///
/// A member cut off from the majority may answer with an old index. The client
/// refuses such an answer by its `X-Raft-Term` (see
/// [`Operation::may_be_stale`]), but etcd sends no `X-Raft-Term` with a 404:
/// for a key that may not exist, [`CurrentIndex::quorum`] reads the index
/// through raft instead (`GET ?quorum=true`, whose body is not read), which
/// only a member of the majority can answer.
///
/// ```
/// use etcd_v2::{ops::keys::CurrentIndex, Operation};
/// let missing = http::Response::builder().status(404).header("X-Etcd-Index", "41").body(vec![]).unwrap();
/// assert_eq!(CurrentIndex::new("/nope").parse(missing).unwrap(), 41);
/// let endpoint = etcd_v2::Endpoint::parse("http://127.0.0.1:2379").unwrap();
/// let head = CurrentIndex::new("/nope").build(&endpoint).unwrap();
/// assert_eq!(head.method(), http::Method::HEAD);
/// let through_raft = CurrentIndex::new("/nope").quorum(true).build(&endpoint).unwrap();
/// assert_eq!(through_raft.method(), http::Method::GET);
/// assert_eq!(through_raft.uri().query(), Some("quorum=true"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentIndex {
    key: String,
    quorum: bool,
}

impl CurrentIndex {
    /// Ask for the index with a `HEAD` of `key`.
    pub fn new(key: impl Into<String>) -> CurrentIndex {
        CurrentIndex {
            key: key.into(),
            quorum: false,
        }
    }

    /// Read the index through raft (`GET key?quorum=true`) rather than with a
    /// `HEAD` the member answers alone: the answer is current even when the
    /// key does not exist. Its body (the key's value, or a directory's first
    /// level) is transferred and ignored; a member cut off from the majority
    /// answers only at etcd's request timeout (then the read moves on).
    pub fn quorum(mut self, quorum: bool) -> CurrentIndex {
        self.quorum = quorum;
        self
    }
}

impl Operation for CurrentIndex {
    type Output = u64;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        let mut q = Params::new();
        q.flag("quorum", self.quorum);
        let method = if self.quorum {
            Method::GET
        } else {
            Method::HEAD
        };
        request(endpoint, method, &keys_path(&self.key)?, &q, None)
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
        !self.quorum
    }
    fn reads_only_cluster_headers(&self) -> bool {
        true
    }
}

/// What a single long poll returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// A change.
    Event(Box<KeysResponse>),
    /// etcd ended the poll without an event (a 200 with an empty body: an idle
    /// watch closed, or the long-poll timeout). Poll again from
    /// `cluster.etcd_index + 1`, or from the index given if that is later:
    /// etcd found no event from that index up to `etcd_index` when the watch
    /// began, so nothing is missed in between.
    Idle {
        /// The headers: `etcd_index` is the store index when the watch started.
        cluster: ClusterInfo,
    },
}

/// The index a wait for the next change of a key starts from, after a read
/// that showed it at `modified` (its `modifiedIndex`) with the store at
/// `cluster.etcd_index`: past both. Nothing can have changed the key between
/// its `modifiedIndex` and the read, and a wait from an index more than
/// etcd's 1000 events old is refused (errorCode 401), however recent the read.
pub(crate) fn wait_after_read(modified: u64, cluster: &ClusterInfo) -> u64 {
    modified
        .max(cluster.etcd_index.unwrap_or(0))
        .saturating_add(1)
}

/// The index to wait from again after a poll from `index` that etcd ended
/// without an event: no event at or after `index` was in its history when
/// the wait started (the answer's `etcd_index`), so the next wait starts past
/// that, and does not fall out of the history while nothing changes the key.
pub(crate) fn wait_after_idle(index: u64, cluster: &ClusterInfo) -> u64 {
    index.max(cluster.etcd_index.map_or(0, |i| i.saturating_add(1)))
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

    setter!(
        /// Also wake on changes anywhere below `key`.
        recursive(on: bool) -> recursive = on;

        /// Return the first event at or after `index` (possibly one in the past).
        wait_index(index: u64) -> wait_index = Some(index)
    );

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
    fn reads_responder_on_success(&self) -> bool {
        false
    }
    fn reads_only_cluster_headers(&self) -> bool {
        true
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
