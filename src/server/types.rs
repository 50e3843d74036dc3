//! The typed results a v2 backend produces and [`super::reply`] encodes: events
//! with their nodes, and etcd's numbered errors.

use super::json::Object;

/// What happened to a key: the `action` of an event (the same type the
/// client parses).
pub use crate::response::Action;

/// A node as etcd shows it (Go's `NodeExtern`): the fields are written in this
/// order, each left out when empty or zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    /// The key; `/` (the root) is written without a key.
    pub key: Vec<u8>,
    /// The value of a file (`None` for a directory or a value-less event node).
    pub value: Option<Vec<u8>>,
    /// Whether the node is a directory.
    pub dir: bool,
    /// When the TTL runs out, in nanoseconds since the Unix epoch.
    pub expiration: Option<i64>,
    /// The seconds left, rounded up (left out when 0).
    pub ttl: i64,
    /// A directory's listed children (left out when none).
    pub nodes: Option<Vec<NodeView>>,
    /// The index of the last change.
    pub modified_index: u64,
    /// The index of the creation.
    pub created_index: u64,
}

impl NodeView {
    /// A bare node: key and indexes (what events start from).
    pub fn bare(key: &[u8], modified_index: u64, created_index: u64) -> NodeView {
        NodeView {
            key: key.to_vec(),
            modified_index,
            created_index,
            ..NodeView::default()
        }
    }

    /// Append this node's JSON.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut o = Object::new(out);
        if self.key != b"/" && !self.key.is_empty() {
            o.string("key", &self.key);
        }
        if let Some(v) = &self.value {
            o.string("value", v);
        }
        if self.dir {
            o.bool("dir", true);
        }
        if let Some(t) = self.expiration {
            o.string(
                "expiration",
                crate::timestamp::format_rfc3339_nanos(t).as_bytes(),
            );
        }
        if self.ttl != 0 {
            o.number("ttl", self.ttl);
        }
        if let Some(nodes) = self.nodes.as_ref().filter(|n| !n.is_empty()) {
            o.raw("nodes", |out| {
                super::json::array(out, nodes, |out, n| n.write(out))
            });
        }
        if self.modified_index != 0 {
            o.number("modifiedIndex", self.modified_index);
        }
        if self.created_index != 0 {
            o.number("createdIndex", self.created_index);
        }
        o.end();
    }
}

/// A change (or read) of the key space, as etcd's store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub action: Action,
    /// The node after it (for deletions: its key and indexes only).
    pub node: NodeView,
    /// The node before it, when there was one.
    pub prev_node: Option<NodeView>,
    /// The store's index when it happened (the `X-Etcd-Index` of the answer).
    pub etcd_index: u64,
    /// Whether this was a TTL refresh (kept in the history for `waitIndex`
    /// scans to skip; watchers are not told).
    pub refresh: bool,
}

impl Event {
    /// An event that is not a refresh: `action` on `node` (which was
    /// `prev_node` before), at store index `etcd_index`.
    pub fn new(
        action: Action,
        node: NodeView,
        prev_node: Option<NodeView>,
        etcd_index: u64,
    ) -> Event {
        Event {
            action,
            node,
            prev_node,
            etcd_index,
            refresh: false,
        }
    }

    /// The index of the event: its node's modified index.
    pub fn index(&self) -> u64 {
        self.node.modified_index
    }

    /// Whether etcd answers it with 201 Created.
    pub fn is_created(&self) -> bool {
        self.action == Action::Create || (self.action == Action::Set && self.prev_node.is_none())
    }

    /// The JSON etcd writes for it (with the encoder's newline); with
    /// `no_value`, writes keep only their action (`noValueOnSuccess`).
    pub fn to_json(&self, no_value: bool) -> Vec<u8> {
        let strip = no_value
            && matches!(
                self.action,
                Action::Set | Action::CompareAndSwap | Action::Create | Action::Update
            );
        let mut out = Vec::with_capacity(128);
        let mut o = Object::new(&mut out);
        o.string("action", self.action.as_str().as_bytes());
        if !strip {
            o.raw("node", |out| self.node.write(out));
            if let Some(p) = &self.prev_node {
                o.raw("prevNode", |out| p.write(out));
            }
        }
        o.end();
        out.push(b'\n');
        out
    }
}

/// Whether a wait on `key` (`recursive` or not) sees an event of `action` on
/// `event_key` whose previous node, if a directory, was `prev_dir` (etcd's
/// `EventHistory.scan`: the key itself, a key below it for a recursive wait,
/// or the deletion or expiry of a directory above it).
pub fn wait_sees(
    key: &[u8],
    recursive: bool,
    event_key: &[u8],
    action: &Action,
    prev_dir: Option<&[u8]>,
) -> bool {
    let below = event_key.len() > key.len()
        && event_key.starts_with(key)
        && (key.ends_with(b"/") || event_key[key.len()] == b'/');
    let mut seen = event_key == key || (recursive && below);
    if matches!(action, Action::Delete | Action::Expire) {
        if let Some(dir) = prev_dir {
            seen = seen || key.starts_with(dir);
        }
    }
    seen
}

/// One of etcd's numbered v2 errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Error {
    /// The `errorCode`.
    pub code: u16,
    /// The `cause` (left out when empty).
    pub cause: Vec<u8>,
    /// The `index`: the store's index, or 0 for errors found before the store
    /// was asked.
    pub index: u64,
}

impl V2Error {
    /// An error with its cause and index.
    pub fn new(code: u16, cause: impl Into<Vec<u8>>, index: u64) -> V2Error {
        V2Error {
            code,
            cause: cause.into(),
            index,
        }
    }

    /// etcd's message for the code.
    pub fn message(&self) -> &'static str {
        message(self.code)
    }

    /// The HTTP status etcd answers it with.
    pub fn status(&self) -> u16 {
        match self.code {
            100 => 404,
            102 | 108 => 403,
            110 => 401,
            101 | 105 => 412,
            300 | 301 => 500,
            _ => 400,
        }
    }

    /// The JSON etcd writes for it (with a newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        let mut o = Object::new(&mut out);
        o.number("errorCode", self.code);
        o.string("message", self.message().as_bytes());
        if !self.cause.is_empty() {
            o.string("cause", &self.cause);
        }
        o.number("index", self.index);
        o.end();
        out.push(b'\n');
        out
    }
}

/// etcd's message for an error code ("" for codes it does not know).
pub fn message(code: u16) -> &'static str {
    match code {
        100 => "Key not found",
        101 => "Compare failed",
        102 => "Not a file",
        103 => "Reached the max number of peers in the cluster",
        104 => "Not a directory",
        105 => "Key already exists",
        106 => "The prefix of given key is a keyword in etcd",
        107 => "Root is read only",
        108 => "Directory not empty",
        109 => "Peer address has existed",
        110 => "The request requires user authentication",
        200 => "Value is Required in POST form",
        201 => "PrevValue is Required in POST form",
        202 => "The given TTL in POST form is not a number",
        203 => "The given index in POST form is not a number",
        204 => "Value or TTL is required in POST form",
        205 => "The given timeout in POST form is not a number",
        206 => "Name is required in POST form",
        207 => "Index or value is required",
        208 => "Index and value cannot both be specified",
        209 => "Invalid field",
        210 => "Invalid POST form",
        211 => "Value provided on refresh",
        212 => "A TTL must be provided on refresh",
        300 => "Raft Internal Error",
        301 => "During Leader Election",
        400 => "watcher is cleared due to etcd recovery",
        401 => "The event in requested index is outdated and cleared",
        402 => "Standby Internal Error",
        403 => "Invalid active size",
        404 => "Standby remove delay",
        500 => "Client Internal Error",
        _ => "",
    }
}

/// Append `{"message": ...}` (etcd's plain HTTP errors, no newline).
pub fn http_error_json(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    Object::new(&mut out)
        .string("message", message.as_bytes())
        .end();
    out
}
