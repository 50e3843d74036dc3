//! Operations: one value per etcd call, each building an `http::Request` for a
//! given endpoint and parsing the `http::Response` into a typed result, with no
//! I/O. A client drives them; you can also drive one by hand:
//!
//! ```
//! use etcd_v2::{ops::keys, Endpoint, Operation};
//!
//! let op = keys::Get::new("/config/a b").recursive(true);
//! let request = op.build(&Endpoint::parse("http://127.0.0.1:2379").unwrap()).unwrap();
//! assert_eq!(request.uri(), "http://127.0.0.1:2379/v2/keys/config/a%20b?recursive=true");
//!
//! // ... send it with any HTTP stack, then:
//! let response = http::Response::builder()
//!     .status(200)
//!     .body(br#"{"action":"get","node":{"key":"/config/a b","dir":true}}"#.to_vec())
//!     .unwrap();
//! let parsed = op.parse(response).unwrap();
//! assert!(parsed.is_collection() && parsed.children().is_empty());
//! ```

pub mod auth;
pub mod keys;
pub mod members;
pub mod raw;
pub mod server;
pub mod stats;

use http::Method;

use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::key::{self, MAX_REQUEST_LINE};

/// One etcd call: builds its request, parses its response.
pub trait Operation {
    /// The typed result.
    type Output;

    /// Build the HTTP request for `endpoint`. Fails, without anything being sent,
    /// on an invalid key or option.
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error>;

    /// Parse the HTTP response (any status) into the result or a typed error.
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Self::Output, Error>;

    /// Whether sending the request again after an ambiguous failure (a timeout, a
    /// connection lost after sending) is harmless: true for reads, false for
    /// every write.
    fn idempotent(&self) -> bool;

    /// Whether this is a plain write (set, update, refresh) whose second
    /// application leaves the same value, though as a second event: resent after
    /// an ambiguous failure only by a client built with
    /// [`crate::ClientBuilder::resend_sets_after_unknown_outcome`].
    fn repeatable(&self) -> bool {
        false
    }

    /// Whether this is a long poll (a watch), which does not inherit the
    /// per-request timeout.
    fn is_long_poll(&self) -> bool {
        false
    }

    /// Whether the answer comes from the member's own state (a read that is not
    /// a quorum read, a wait, the store index), which a member cut off from the
    /// majority may serve stale: the endpoint pool then refuses an answer from
    /// a member whose raft term is behind the cluster's (see
    /// [`crate::cluster`]).
    fn may_be_stale(&self) -> bool {
        false
    }

    /// Whether a 5xx answer proves that the request was refused without being
    /// applied, and with which error. A 5xx to a write normally leaves its
    /// outcome unknown ([`Error::OutcomeUnknown`]); an operation that knows a
    /// server's definite refusal (etcd 3.5 answers a directory TTL update with
    /// a 500, errorCode 300, "Not a file", having changed nothing) returns it
    /// here, and that error is final.
    fn refused_outright(&self, response: &http::Response<Vec<u8>>) -> Option<Error> {
        let _ = response;
        None
    }

    /// Whether [`Operation::parse`] reads, from a successful (2xx) answer,
    /// the endpoint that sent it ([`crate::response::RespondedBy`] in the
    /// answer's extensions). The client adds that extension to every answer
    /// that is not a success, and to a success only when this is true (the
    /// default): it costs a few allocations per call. For an operation that
    /// returns false, a failure its `parse` reports for a success is given
    /// the endpoint's name afterwards.
    fn reads_responder_on_success(&self) -> bool {
        true
    }

    /// Whether [`Operation::parse`] (and [`Operation::refused_outright`])
    /// read no answer header but [`crate::CLUSTER_HEADERS`]: the client then
    /// sends the request with
    /// [`crate::Transport::send_keeping_cluster_headers`], which lets a
    /// transport leave the other headers out. The keys operations and the v3
    /// bridge's gateway calls say true; the default is false (every header
    /// kept). The client's own reading of
    /// an answer (the endpoint pool's raft term and cluster ID, and
    /// `Location` in [`Error::Http`]) stays within that list too: a change
    /// there that reads another header must add it to
    /// [`crate::CLUSTER_HEADERS`].
    fn reads_only_cluster_headers(&self) -> bool {
        false
    }

    /// A short name for logs and traces (the type's name, e.g. `Get`).
    fn name(&self) -> &'static str {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full)
    }

    /// The key the operation is about, if any, for logs and traces (never a
    /// value or a credential).
    fn key(&self) -> Option<&str> {
        None
    }

    /// Whether the answer is a stream read line by line (the v3 bridge's
    /// watch): the client then sends it with
    /// [`crate::Transport::send_streaming`], handing each line of a 2xx
    /// answer to [`Operation::line`] as it arrives, and parses what is left.
    fn streamed(&self) -> bool {
        false
    }

    /// Read one line of a streamed answer (see [`Operation::streamed`]).
    fn line(&self, line: &[u8]) -> crate::transport::Flow {
        let _ = line;
        crate::transport::Flow::Stop
    }
}

impl<O: Operation + ?Sized> Operation for &O {
    type Output = O::Output;
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        (**self).build(endpoint)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Self::Output, Error> {
        (**self).parse(response)
    }
    fn idempotent(&self) -> bool {
        (**self).idempotent()
    }
    fn repeatable(&self) -> bool {
        (**self).repeatable()
    }
    fn is_long_poll(&self) -> bool {
        (**self).is_long_poll()
    }
    fn may_be_stale(&self) -> bool {
        (**self).may_be_stale()
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn refused_outright(&self, response: &http::Response<Vec<u8>>) -> Option<Error> {
        (**self).refused_outright(response)
    }
    fn reads_responder_on_success(&self) -> bool {
        (**self).reads_responder_on_success()
    }
    fn reads_only_cluster_headers(&self) -> bool {
        (**self).reads_only_cluster_headers()
    }
    fn key(&self) -> Option<&str> {
        (**self).key()
    }
    fn streamed(&self) -> bool {
        (**self).streamed()
    }
    fn line(&self, line: &[u8]) -> crate::transport::Flow {
        (**self).line(line)
    }
}

/// `application/x-www-form-urlencoded` pairs, for a query string or a form body.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    encoded: String,
}

impl Params {
    pub(crate) fn new() -> Params {
        Params::default()
    }

    pub(crate) fn push(&mut self, name: &str, value: &str) -> &mut Params {
        form_urlencoded::Serializer::for_suffix(&mut self.encoded, 0).append_pair(name, value);
        self
    }

    pub(crate) fn push_opt(&mut self, name: &str, value: Option<impl ToString>) -> &mut Params {
        if let Some(v) = value {
            self.push(name, &v.to_string());
        }
        self
    }

    pub(crate) fn flag(&mut self, name: &str, on: bool) -> &mut Params {
        if on {
            self.push(name, "true");
        }
        self
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.encoded
    }
}

/// The request target of a key under `/v2/keys`, checked against etcd's request
/// line limit. Returns the encoded path.
pub(crate) fn keys_path(raw_key: &str) -> Result<String, Error> {
    let mut path = String::with_capacity("/v2/keys".len() + raw_key.len() + 8);
    path.push_str("/v2/keys");
    // Most keys are clean already: encoded as they are, with no copy made.
    if key::is_clean(raw_key) {
        key::encode_path_into(raw_key, &mut path);
    } else {
        key::encode_path_into(&key::clean(raw_key)?, &mut path);
    }
    // Leave room for the longest method we send, DELETE, and " HTTP/1.1\r\n", so
    // that every key this client can create, it can also delete.
    let max = MAX_REQUEST_LINE - "DELETE ".len() - " HTTP/1.1\r\n".len();
    if path.len() > max {
        return Err(Error::InvalidKey {
            key: raw_key.to_owned(),
            reason: format!(
                "it encodes to a {} byte path, and etcd resets requests whose request line \
                 exceeds {MAX_REQUEST_LINE} bytes (at most {max} bytes of path)",
                path.len()
            ),
        });
    }
    Ok(path)
}

/// etcd parses form bodies with Go's `ParseForm`, which refuses more than 10 MiB.
pub const MAX_FORM_SIZE: usize = 10 << 20;

pub(crate) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Assemble a request: `path` is already encoded; `query` goes in the URL and
/// `form`, if any, in an `application/x-www-form-urlencoded` body.
pub(crate) fn request(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    query: &Params,
    form: Option<&Params>,
) -> Result<http::Request<Vec<u8>>, Error> {
    // Exactly the target's length: `http` then takes the text without
    // another allocation.
    let query_len = match query.as_str().len() {
        0 => 0,
        n => n + 1,
    };
    let mut target = String::with_capacity(path.len() + query_len);
    target.push_str(path);
    if !query.as_str().is_empty() {
        target.push('?');
        target.push_str(query.as_str());
    }
    let line = method.as_str().len() + 1 + target.len() + " HTTP/1.1\r\n".len();
    if line > MAX_REQUEST_LINE {
        return Err(Error::invalid_argument(
            "request",
            format!(
                "the request line would be {line} bytes and etcd resets requests whose request \
                 line exceeds {MAX_REQUEST_LINE} bytes; shorten the key or the compared value"
            ),
        ));
    }
    if let Some(form) = form {
        if form.as_str().len() > MAX_FORM_SIZE {
            return Err(Error::invalid_argument(
                "value",
                format!(
                    "the encoded form is {} bytes and etcd refuses forms over {MAX_FORM_SIZE} bytes \
                     (10 MiB, errorCode 210)",
                    form.as_str().len()
                ),
            ));
        }
    }
    let uri = endpoint.uri(target)?;
    // Filled in place: `http::request::Builder` moves its parts through a
    // `Result` at every step.
    let body = form.map_or_else(Vec::new, |form| form.as_str().as_bytes().to_vec());
    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    if form.is_some() {
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(FORM_CONTENT_TYPE),
        );
    }
    Ok(request)
}

pub(crate) const JSON_CONTENT_TYPE: &str = "application/json";

/// Assemble a request with a JSON body (the members and auth APIs).
pub(crate) fn json_request(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<http::Request<Vec<u8>>, Error> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", endpoint.as_str()));
    let bytes = match body {
        Some(v) => {
            builder = builder.header(http::header::CONTENT_TYPE, JSON_CONTENT_TYPE);
            serde_json::to_vec(v).map_err(|e| Error::invalid_argument("body", e.to_string()))?
        }
        None => Vec::new(),
    };
    builder
        .body(bytes)
        .map_err(|e| Error::invalid_argument("request", e.to_string()))
}

/// A name used as one path segment (a user, a role): non-empty, no `/` (etcd
/// would decode `%2F` into a separator), percent-encoded.
pub(crate) fn name_segment(what: &'static str, name: &str) -> Result<String, Error> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::invalid_argument(
            what,
            format!("{name:?}: a name must be non-empty and contain no '/'"),
        ));
    }
    Ok(key::encode_path(name))
}

/// The longest TTL this client sends: 100 years (3,155,760,000 s).
///
/// etcd turns a TTL into an expiry instant in nanoseconds since 1970, kept in a
/// signed 64-bit integer, which overflows in April 2262. Measured against etcd
/// 3.4.23 and 3.5.1: a TTL that ends before that instant is kept exactly; one
/// that ends after it (any TTL above about 7.43e9 s at the end of 2026, a bound
/// that shrinks by one every second) is silently stored as a key that never
/// expires, and one above 2^63 ns, such as `u64::MAX`, as a key that expired a
/// second ago (`"ttl":-1`). A lock with such a TTL is free for anyone the next
/// moment. This client refuses TTLs above 100 years before sending anything,
/// which stays below etcd's bound until the year 2162.
pub const MAX_TTL: u64 = 3_155_760_000;

/// Refuse a TTL etcd would misread (see [`MAX_TTL`]).
pub(crate) fn check_ttl(ttl: Option<u64>) -> Result<(), Error> {
    match ttl {
        Some(t) if t > MAX_TTL => Err(Error::invalid_argument(
            "ttl",
            format!(
                "{t} s is longer than the {MAX_TTL} s (100 years) this client allows: etcd keeps \
                 expiry instants as nanoseconds in an i64, and a TTL reaching past April 2262 is \
                 silently stored as never expiring or as already expired"
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuse an index condition of 0: etcd treats `prevIndex=0` as "no condition"
/// (a PUT becomes a plain set, a DELETE becomes unconditional).
pub(crate) fn check_prev_index(index: Option<u64>) -> Result<(), Error> {
    if index == Some(0) {
        return Err(Error::invalid_argument(
            "prev_index",
            "0 is never a node's index, and etcd would treat prevIndex=0 as no condition at all",
        ));
    }
    Ok(())
}

/// Refuse an empty value condition: etcd cannot compare against an empty value
/// (it answers errorCode 201).
pub(crate) fn check_prev_value(value: Option<&str>) -> Result<(), Error> {
    if value == Some("") {
        return Err(Error::invalid_argument(
            "prev_value",
            "etcd cannot compare against an empty value (it answers errorCode 201)",
        ));
    }
    Ok(())
}
