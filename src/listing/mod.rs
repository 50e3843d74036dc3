//! A keys answer read without building owned [`Node`]s: [`Listing`] keeps the
//! answer's body and a flat table of its nodes, and lends each node out as a
//! [`NodeRef`] whose key and value are slices of that body. For a large
//! listing this spares an allocation per key and per value (and their
//! freeing): [`GetListing`](crate::ops::keys::GetListing) asks for one, and
//! the node group's `get_listing` sends it.
//!
//! A listing holds what [`Get`](crate::ops::keys::Get) would have returned,
//! node for node ([`Listing::to_response`] gives that owned answer back):
//! etcd's JSON is read by the same rules, and anything those rules leave to
//! serde (a field etcd does not send, a field name written with an escape)
//! is parsed by serde and then lent out the same way. That answer saves
//! nothing: it is read into owned nodes first, as `Get` reads it, and its
//! strings are then moved into the listing.
//!
//! A `Listing` keeps the whole body; cloning one copies it.
//!
//! ```
//! use etcd_v2::{ops::keys::{Get, GetListing}, Operation};
//! let body = br#"{"action":"get","node":{"key":"/d","dir":true,"nodes":[
//!     {"key":"/d/a","value":"1","modifiedIndex":3,"createdIndex":3},
//!     {"key":"/d/e","dir":true,"modifiedIndex":4,"createdIndex":4}],
//!     "modifiedIndex":2,"createdIndex":2}}"#;
//! let answer = || http::Response::builder().status(200).body(body.to_vec()).unwrap();
//! let listing = GetListing::new(Get::new("/d").recursive(true)).parse(answer()).unwrap();
//! let keys: Vec<&str> = listing.node().children().map(|c| c.key()).collect();
//! assert_eq!(keys, ["/d/a", "/d/e"]);
//! assert_eq!(listing.node().leaves().next().unwrap().value_as::<u8>().unwrap(), 1);
//! // The same answer as the owned read.
//! let owned = Get::new("/d").recursive(true).parse(answer()).unwrap();
//! assert_eq!(listing.to_response(), owned);
//! ```

mod node_ref;
mod scan;

use crate::response::{Action, ClusterInfo, KeysResponse, Node};

pub use node_ref::{Children, Leaves, NodeRef};

/// A keys answer whose nodes borrow their text from the answer's body (see
/// the [module](self)).
#[derive(Clone)]
pub struct Listing {
    action: Action,
    text: String,
    side: Vec<String>,
    entries: Vec<Entry>,
    node: usize,
    prev: Option<usize>,
    cluster: ClusterInfo,
    /// Whether a directory may still need marking as listed.
    unlisted: bool,
}

/// Where a node's string is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Str {
    /// `/`: the root, which etcd sends without a key.
    Root,
    /// A range of the body (which [`scan`] takes only up to 4 GiB).
    Body(u32, u32),
    /// The listing's side table (strings with escapes, and the strings of an
    /// answer read by serde).
    Side(u32),
}

/// One node of the table. A node's subtree is the entries after it up to
/// `end`, in listing order.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    key: Str,
    value: Option<Str>,
    dir: bool,
    /// Whether its children were listed (`Node::children` is `Some`).
    listed: bool,
    ttl: Option<i64>,
    expiration: Option<std::time::SystemTime>,
    modified_index: u64,
    created_index: u64,
    end: usize,
}

impl Entry {
    fn blank() -> Entry {
        Entry {
            key: Str::Root,
            value: None,
            dir: false,
            listed: false,
            ttl: None,
            expiration: None,
            modified_index: 0,
            created_index: 0,
            end: 0,
        }
    }
}

impl Listing {
    /// Read the body of a successful keys answer, with `cluster` read from
    /// its headers; `Err` gives the body back when the fast reading leaves
    /// it to serde.
    pub(crate) fn scan(text: String, cluster: ClusterInfo) -> Result<Listing, String> {
        let Some(mut table) = scan::scan(&text) else {
            return Err(text);
        };
        if table.entries.capacity() > 2 * table.entries.len() + 16 {
            table.entries.shrink_to_fit();
        }
        Ok(Listing {
            action: table.action,
            text,
            side: table.side,
            entries: table.entries,
            node: table.node,
            prev: table.prev,
            cluster,
            unlisted: table.unlisted,
        })
    }

    /// A listing of an owned answer (one serde read).
    pub(crate) fn from_response(response: KeysResponse) -> Listing {
        let mut listing = Listing {
            action: response.action,
            text: String::new(),
            side: Vec::new(),
            entries: Vec::new(),
            node: 0,
            prev: None,
            cluster: response.cluster,
            unlisted: true,
        };
        listing.add(response.node);
        if let Some(prev) = response.prev_node {
            listing.prev = Some(listing.add(prev));
        }
        listing
    }

    /// Append `node` and its subtree; its index.
    fn add(&mut self, node: Node) -> usize {
        let at = self.entries.len();
        let mut keep = |text: String| {
            self.side.push(text);
            // An owned answer's strings: fewer than its bytes.
            Str::Side(u32::try_from(self.side.len() - 1).unwrap_or(u32::MAX))
        };
        let entry = Entry {
            key: keep(node.key),
            value: node.value.map(&mut keep),
            dir: node.dir,
            listed: node.children.is_some(),
            ttl: node.ttl,
            expiration: node.expiration,
            modified_index: node.modified_index,
            created_index: node.created_index,
            end: 0,
        };
        self.entries.push(entry);
        for child in node.children.into_iter().flatten() {
            self.add(child);
        }
        self.entries[at].end = self.entries.len();
        at
    }

    /// Mark directories whose `nodes` etcd omitted because they are empty as
    /// listed, as [`Get`](crate::ops::keys::Get) does with its answer's node.
    pub(crate) fn mark_listed(&mut self, recursive: bool) {
        if self.unlisted {
            mark_listed(&mut self.entries, self.node, recursive);
        }
    }

    /// What etcd did.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// The node acted on: for a GET, the key read or the directory listed.
    pub fn node(&self) -> NodeRef<'_> {
        NodeRef::new(self, self.node)
    }

    /// The node as it was before a write, if it existed.
    pub fn prev_node(&self) -> Option<NodeRef<'_>> {
        self.prev.map(|at| NodeRef::new(self, at))
    }

    /// The cluster headers.
    pub fn cluster(&self) -> &ClusterInfo {
        &self.cluster
    }

    /// How many nodes the answer holds: the node with every listed
    /// descendant, and the previous node with its own.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the answer holds no node (never: an answer without one is an
    /// error).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The owned answer: what [`Get`](crate::ops::keys::Get) returns for the
    /// same body.
    pub fn to_response(&self) -> KeysResponse {
        KeysResponse {
            action: self.action.clone(),
            node: self.node().to_node(),
            prev_node: self.prev_node().map(|p| p.to_node()),
            cluster: self.cluster.clone(),
        }
    }

    fn str(&self, s: Str) -> &str {
        match s {
            Str::Root => "/",
            // The ranges were cut at ASCII stops of this very text.
            Str::Body(start, end) => self
                .text
                .get(start as usize..end as usize)
                .unwrap_or_default(),
            Str::Side(i) => self.side.get(i as usize).map_or("", String::as_str),
        }
    }
}

fn mark_listed(entries: &mut [Entry], at: usize, recursive: bool) {
    let Some(entry) = entries.get_mut(at) else {
        return;
    };
    if !entry.dir {
        return;
    }
    entry.listed = true;
    let end = entry.end;
    if recursive {
        let mut child = at + 1;
        while child < end {
            mark_listed(entries, child, true);
            child = entries[child].end;
        }
    }
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("action", &self.action)
            .field("node", &self.node())
            .field("prev_node", &self.prev_node())
            .field("cluster", &self.cluster)
            .finish()
    }
}
