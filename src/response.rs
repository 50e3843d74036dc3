//! Typed answers of the keys API: [`KeysResponse`] (the seed's `ResponseV2`),
//! [`Node`], [`Action`] and the cluster headers in [`ClusterInfo`].

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer};

use crate::error::{body_prefix, Error, ErrorCode, EtcdError};

/// What etcd did, as reported in an answer's `action`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// A read.
    Get,
    /// A plain set (PUT without conditions).
    Set,
    /// A create (`prevExist=false`, or an in-order POST).
    Create,
    /// An update (`prevExist=true`, also a TTL refresh).
    Update,
    /// A delete.
    Delete,
    /// A compare-and-swap (`prevValue` / `prevIndex`).
    CompareAndSwap,
    /// A compare-and-delete.
    CompareAndDelete,
    /// A TTL expiry (seen by watchers).
    Expire,
    /// An action this client does not know.
    Other(String),
}

impl Action {
    /// The action as etcd spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Action::Get => "get",
            Action::Set => "set",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::CompareAndSwap => "compareAndSwap",
            Action::CompareAndDelete => "compareAndDelete",
            Action::Expire => "expire",
            Action::Other(s) => s,
        }
    }

    /// Parse etcd's spelling.
    pub fn parse(s: &str) -> Action {
        match s {
            "get" => Action::Get,
            "set" => Action::Set,
            "create" => Action::Create,
            "update" => Action::Update,
            "delete" => Action::Delete,
            "compareAndSwap" => Action::CompareAndSwap,
            "compareAndDelete" => Action::CompareAndDelete,
            "expire" => Action::Expire,
            other => Action::Other(other.to_owned()),
        }
    }

    /// Whether the node is gone after this action (delete, compare-and-delete,
    /// expire): the seed's `is_deleted`.
    pub fn is_deletion(&self) -> bool {
        matches!(
            self,
            Action::Delete | Action::CompareAndDelete | Action::Expire
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Action::parse(&s))
    }
}

/// A node of etcd's key space: a key with a value, or a directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// The key (`/` for the root, which etcd sends without a key).
    #[serde(default = "root_key")]
    pub key: String,
    /// The value as etcd sent it; `None` for directories, for deleted or
    /// expired nodes, and after `noValueOnSuccess`. See [`Node::value`] and
    /// [`Node::value_as`] for reading it.
    #[serde(default)]
    pub value: Option<String>,
    /// Whether the node is a directory.
    #[serde(default)]
    pub dir: bool,
    /// When the node expires, if it has a TTL.
    #[serde(default, deserialize_with = "deserialize_expiration")]
    pub expiration: Option<SystemTime>,
    /// Whole seconds left before it expires, if it has a TTL (etcd omits it when
    /// it rounds to 0).
    #[serde(default)]
    pub ttl: Option<i64>,
    /// The children, when etcd listed them (see [`Node::is_collection`]).
    #[serde(default, rename = "nodes")]
    pub children: Option<Vec<Node>>,
    /// The index of the last change to this node.
    #[serde(default)]
    pub modified_index: u64,
    /// The index at which this node was created.
    #[serde(default)]
    pub created_index: u64,
}

fn root_key() -> String {
    "/".to_owned()
}

fn deserialize_expiration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
    let text: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d)?;
    match text {
        None => Ok(None),
        Some(t) => crate::timestamp::parse_rfc3339(&t)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid expiration {t:?}"))),
    }
}

impl Node {
    /// Whether the node is a directory (the seed's `is_directory`).
    pub fn is_directory(&self) -> bool {
        self.dir
    }

    /// Whether this directory's children were listed (the seed's
    /// `is_collection`). A directory listed by a GET of that directory is always
    /// a collection, even when empty; sub-directories of a non-recursive listing
    /// are not.
    pub fn is_collection(&self) -> bool {
        self.dir && self.children.is_some()
    }

    /// The listed children (empty when none were listed; the seed's `children`).
    pub fn children(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }

    /// Whether etcd hides this key from listings (its last segment starts with
    /// `_`): the seed's `is_hidden`.
    pub fn is_hidden(&self) -> bool {
        crate::key::basename(&self.key).starts_with('_')
    }

    /// Every descendant that is not a directory, depth first, in listing order.
    pub fn leaves(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        let mut stack: Vec<&Node> = self.children().iter().rev().collect();
        while let Some(n) = stack.pop() {
            if n.dir {
                stack.extend(n.children().iter().rev());
            } else {
                out.push(n);
            }
        }
        out
    }

    /// Mark directories whose `nodes` etcd omitted because they are empty as
    /// listed collections (etcd omits `nodes` for an empty directory).
    pub(crate) fn mark_listed(&mut self, recursive: bool) {
        if !self.dir {
            return;
        }
        let children = self.children.get_or_insert_with(Vec::new);
        if recursive {
            for child in children {
                child.mark_listed(true);
            }
        }
    }
}

/// The cluster headers of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `X-Etcd-Index`: on writes the event's index, on reads the current store
    /// index, on watches the store index when the watch started.
    pub etcd_index: Option<u64>,
    /// `X-Raft-Index` (absent on errors).
    pub raft_index: Option<u64>,
    /// `X-Raft-Term` (absent on errors).
    pub raft_term: Option<u64>,
    /// `X-Etcd-Cluster-Id`.
    pub cluster_id: Option<String>,
}

impl ClusterInfo {
    /// Read the headers of a response. Malformed numbers are treated as absent.
    pub fn from_headers(headers: &http::HeaderMap) -> ClusterInfo {
        use crate::headers::{number, Cluster};
        let found = Cluster::find(headers);
        ClusterInfo {
            etcd_index: found.etcd_index.and_then(number),
            raft_index: found.raft_index.and_then(number),
            raft_term: found.raft_term.and_then(number),
            cluster_id: found
                .cluster_id
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// The answer to a keys request: the seed's `ResponseV2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysResponse {
    /// What etcd did.
    pub action: Action,
    /// The node acted on (for deletions and expiries, without a value).
    pub node: Node,
    /// The node as it was before a write, if it existed.
    pub prev_node: Option<Node>,
    /// The cluster headers.
    pub cluster: ClusterInfo,
}

impl KeysResponse {
    /// Whether the node is a directory (the seed's `is_directory`).
    pub fn is_directory(&self) -> bool {
        self.node.is_directory()
    }

    /// Whether the action removed the node (the seed's `is_deleted`).
    pub fn is_deleted(&self) -> bool {
        self.action.is_deletion()
    }

    /// Whether the node is a directory with its children listed (the seed's
    /// `is_collection`).
    pub fn is_collection(&self) -> bool {
        self.node.is_collection()
    }

    /// The listed children (the seed's `children`).
    pub fn children(&self) -> &[Node] {
        self.node.children()
    }
}

/// The answer to a write made with `noValueOnSuccess=true`: only the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    /// What etcd did.
    pub action: Action,
    /// The cluster headers (`X-Etcd-Index` is the write's index).
    pub cluster: ClusterInfo,
}

#[derive(Deserialize)]
struct RawEvent {
    action: Action,
    node: Option<Node>,
    #[serde(rename = "prevNode")]
    prev_node: Option<Node>,
}

#[derive(Deserialize)]
struct RawAck {
    action: Action,
}

#[derive(Deserialize)]
struct RawEtcdError {
    #[serde(rename = "errorCode")]
    error_code: u16,
    #[serde(default)]
    message: String,
    #[serde(default)]
    cause: Option<String>,
    #[serde(default)]
    index: u64,
}

#[derive(Deserialize)]
struct RawMessage {
    message: String,
}

/// The endpoint a response came from, for error messages. The client puts it in
/// the extensions of every answer that is not a success, and of a success for
/// an operation whose [`crate::ops::Operation::reads_responder_on_success`] is
/// true, before parsing it (a failure to parse a success of any other
/// operation is given the endpoint's name afterwards); responses built by hand
/// fall back to `"etcd"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespondedBy(pub String);

/// The endpoint [`endpoint_of`] names for an answer without [`RespondedBy`].
const UNNAMED: &str = "etcd";

pub(crate) fn endpoint_of(response: &http::Response<Vec<u8>>) -> String {
    response
        .extensions()
        .get::<RespondedBy>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| UNNAMED.to_owned())
}

/// `err`, which parsing an answer without [`RespondedBy`] reported, naming
/// `endpoint` where it named no endpoint.
pub(crate) fn naming(mut err: Error, endpoint: &str) -> Error {
    let named = match &mut err {
        Error::Etcd(e) => &mut e.endpoint,
        Error::Api { endpoint, .. }
        | Error::Http { endpoint, .. }
        | Error::Decode { endpoint, .. }
        | Error::NotLeader { endpoint } => endpoint,
        _ => return err,
    };
    if named == UNNAMED {
        *named = endpoint.to_owned();
    }
    err
}

fn decode_error(response: &http::Response<Vec<u8>>, reason: impl fmt::Display) -> Error {
    Error::Decode {
        endpoint: endpoint_of(response),
        status: response.status().as_u16(),
        reason: reason.to_string(),
        body: body_prefix(response.body()),
    }
}

/// Turn a non-2xx answer into the right error: an etcd API error, a
/// `{"message"}` API error, or a bare HTTP error.
pub(crate) fn error_from_response(response: &http::Response<Vec<u8>>) -> Error {
    let status = response.status().as_u16();
    let body = response.body();
    let endpoint = endpoint_of(response);
    if let Ok(raw) = json_from_body::<RawEtcdError>(body) {
        return Error::Etcd(Box::new(EtcdError {
            code: ErrorCode::from_u16(raw.error_code),
            message: raw.message,
            cause: raw.cause.filter(|c| !c.is_empty()),
            index: raw.index,
            status,
            endpoint,
            cluster: ClusterInfo::from_headers(response.headers()),
            note: None,
        }));
    }
    if let Ok(raw) = json_from_body::<RawMessage>(body) {
        return Error::Api {
            endpoint,
            status,
            message: raw.message,
        };
    }
    Error::Http {
        endpoint,
        status,
        location: response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned),
        body: body_prefix(body),
    }
}

/// A keys event read by serde (see [`crate::event_json::parse_with_serde`]).
pub(crate) fn event_with_serde(text: &str) -> serde_json::Result<crate::event_json::Event> {
    let raw: RawEvent = serde_json::from_str(text)?;
    Ok((raw.action, raw.node, raw.prev_node))
}

/// Parse an answer of the keys API: a 2xx event, or the error it carries.
///
/// ```
/// let response = http::Response::builder()
///     .status(201)
///     .header("X-Etcd-Index", "7")
///     .body(br#"{"action":"set","node":{"key":"/a","value":"1","modifiedIndex":7,"createdIndex":7}}"#.to_vec())
///     .unwrap();
/// let parsed = etcd_v2::response::parse_keys(&response).unwrap();
/// assert_eq!(parsed.node.value.as_deref(), Some("1"));
/// assert_eq!(parsed.cluster.etcd_index, Some(7));
/// ```
pub fn parse_keys(response: &http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
    if !response.status().is_success() {
        return Err(error_from_response(response));
    }
    // The fast parser answers for what etcd sends; anything else goes to
    // serde, for the same answer or its precise error.
    let fast = std::str::from_utf8(response.body())
        .ok()
        .and_then(crate::event_json::parse);
    let raw = match fast {
        Some((action, node, prev_node)) => RawEvent {
            action,
            node,
            prev_node,
        },
        None => json_from_body(response.body())
            .map_err(|e| decode_error(response, format!("not a keys event: {e}")))?,
    };
    let node = raw.node.ok_or_else(|| {
        decode_error(
            response,
            "the event has no node (was noValueOnSuccess set?)",
        )
    })?;
    Ok(KeysResponse {
        action: raw.action,
        node,
        prev_node: raw.prev_node,
        cluster: ClusterInfo::from_headers(response.headers()),
    })
}

/// Parse the answer of a write made with `noValueOnSuccess=true`.
pub fn parse_acknowledged(response: &http::Response<Vec<u8>>) -> Result<Acknowledged, Error> {
    if !response.status().is_success() {
        return Err(error_from_response(response));
    }
    let raw: RawAck = json_from_body(response.body())
        .map_err(|e| decode_error(response, format!("not an acknowledgement: {e}")))?;
    Ok(Acknowledged {
        action: raw.action,
        cluster: ClusterInfo::from_headers(response.headers()),
    })
}

/// Deserialize a JSON body. The body is checked as UTF-8 once, as a whole:
/// parsing from a `&str` then skips the check serde_json makes of every string
/// when it parses bytes (8% of the time of a large listing). A body that is not
/// UTF-8 goes through the byte parser, for its precise error.
pub(crate) fn json_from_body<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

/// Parse a JSON body of a non-keys endpoint into `T`, or the error it carries.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    response: &http::Response<Vec<u8>>,
    what: &str,
) -> Result<T, Error> {
    if !response.status().is_success() {
        return Err(error_from_response(response));
    }
    json_from_body(response.body()).map_err(|e| decode_error(response, format!("not {what}: {e}")))
}

/// Accept a success with no meaningful body (e.g. `204 No Content`).
pub(crate) fn parse_empty(response: &http::Response<Vec<u8>>) -> Result<(), Error> {
    if !response.status().is_success() {
        return Err(error_from_response(response));
    }
    Ok(())
}

/// A decode error for `response`.
pub(crate) fn decode_failure(
    response: &http::Response<Vec<u8>>,
    reason: impl fmt::Display,
) -> Error {
    decode_error(response, reason)
}
