//! A v2 wait over the bridge: one v3 watch of the prefix key `P` from the
//! waited index ([`Watch`]), read line by line until a bridge write that the
//! wait sees. Every bridge write puts its v2 event in `P` (see
//! [`record`]), so `P`'s history is the v2 event history, in order.

use std::sync::Mutex;

use serde::Deserialize;
use serde_json::json;

use super::layout::{CREATED, EXPIRY, MODIFIED};
use super::v3::{error_of, number, post_json, Header, KeyValue};
use crate::base64;
use crate::cluster::Timeout;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::memory::store::is_hidden;
use crate::ops::Operation;
use crate::server::types::{wait_sees, Action, Event, NodeView};
use crate::transport::Flow;

/// What a bridge write puts in `P`: the index it planned its event at (and
/// ` refresh` for a TTL refresh, which waits skip, as etcd's do), a newline,
/// and the event as etcd v2 writes it.
pub fn record(planned: u64, event: &Event) -> Vec<u8> {
    let mut out = planned.to_string().into_bytes();
    if event.refresh {
        out.extend_from_slice(b" refresh");
    }
    out.push(b'\n');
    out.extend_from_slice(&event.to_json(false));
    out
}

/// The planned index, whether it was a refresh, and the event JSON of a
/// record.
fn split_record(value: &[u8]) -> Option<(u64, bool, &[u8])> {
    let at = value.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(&value[..at]).ok()?;
    let (planned, refresh) = match head.strip_suffix(" refresh") {
        Some(planned) => (planned, true),
        None => (head, false),
    };
    Some((planned.parse().ok()?, refresh, &value[at + 1..]))
}

/// `json` with every `"modifiedIndex"` and `"createdIndex"` equal to
/// `planned` set to `actual`: the revision the write got.
pub fn renumber(json: &[u8], planned: u64, actual: u64) -> Vec<u8> {
    if planned == actual {
        return json.to_vec();
    }
    let (from, to) = (planned.to_string(), actual.to_string());
    let mut out = Vec::with_capacity(json.len() + 8);
    let mut rest = json;
    loop {
        let next = [&b"\"modifiedIndex\":"[..], b"\"createdIndex\":"]
            .iter()
            .filter_map(|name| find(rest, name).map(|i| i + name.len()))
            .min();
        let Some(at) = next else {
            out.extend_from_slice(rest);
            return out;
        };
        out.extend_from_slice(&rest[..at]);
        rest = &rest[at..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if &rest[..digits] == from.as_bytes() {
            out.extend_from_slice(to.as_bytes());
        } else {
            out.extend_from_slice(&rest[..digits]);
        }
        rest = &rest[digits..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The fields of a recorded event a wait is matched on.
#[derive(Deserialize)]
struct Recorded {
    action: String,
    node: RecordedNode,
    #[serde(rename = "prevNode")]
    prev_node: Option<RecordedNode>,
}

#[derive(Deserialize)]
struct RecordedNode {
    key: String,
    #[serde(default)]
    dir: bool,
}

/// One line of a v3 watch stream.
#[derive(Deserialize)]
struct Line {
    result: Option<WatchResult>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WatchResult {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    canceled: bool,
    #[serde(default, deserialize_with = "number")]
    compact_revision: u64,
    #[serde(default)]
    cancel_reason: String,
    #[serde(default)]
    events: Vec<WatchEvent>,
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    kv: KeyValue,
    #[serde(default)]
    prev_kv: Option<KeyValue>,
}

/// How a watch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A bridge write the wait sees: its revision, and its v2 event JSON
    /// (renumbered to that revision).
    Event {
        /// The revision of the write.
        revision: u64,
        /// The event as etcd v2 writes it.
        json: Vec<u8>,
    },
    /// The waited index is older than v3's compaction (`compact_revision`):
    /// v2's errorCode 401.
    Compacted(u64),
    /// The server ended the watch otherwise.
    Ended(String),
}

/// What a watch saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// The header of its first line (the revision when it began).
    pub header: Header,
    /// How it ended; `None` if the stream closed first.
    pub found: Option<Found>,
}

/// A v3 watch of `P` for a v2 wait on `key`: an [`Operation`] whose answer
/// is streamed; [`Watch::accept`] reads each line.
#[derive(Debug)]
pub struct Watch {
    body: Vec<u8>,
    serial: Vec<u8>,
    key: Vec<u8>,
    recursive: bool,
    timeout: Timeout,
    seen: Mutex<Watched>,
}

impl Clone for Watch {
    fn clone(&self) -> Watch {
        Watch {
            body: self.body.clone(),
            serial: self.serial.clone(),
            key: self.key.clone(),
            recursive: self.recursive,
            timeout: self.timeout,
            seen: Mutex::new(self.lock().clone()),
        }
    }
}

impl PartialEq for Watch {
    fn eq(&self, other: &Watch) -> bool {
        self.body == other.body && self.key == other.key && self.recursive == other.recursive
    }
}

impl Watch {
    /// Watch `serial` (the prefix key `P`) for a wait on `key` from revision
    /// `from` (`None`: from the next change), each attempt lasting `timeout`.
    pub fn new(
        serial: &[u8],
        key: &[u8],
        recursive: bool,
        from: Option<u64>,
        timeout: Timeout,
    ) -> Watch {
        // `P` and everything under it: the records, and the node keys whose
        // removal without a record is a lease's end (an expiry).
        let mut create = json!({
            "key": base64::encode(serial),
            "range_end": base64::encode(&super::v3::prefix_end(serial)),
            "prev_kv": true,
        });
        if let Some(from) = from {
            create["start_revision"] = json!(from.to_string());
        }
        Watch {
            body: json!({ "create_request": create }).to_string().into_bytes(),
            serial: serial.to_vec(),
            key: key.to_vec(),
            recursive,
            timeout,
            seen: Mutex::new(Watched::default()),
        }
    }

    /// How long each attempt may last.
    pub fn timeout(&self) -> Timeout {
        self.timeout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Read one line of the stream: [`Flow::Stop`] once the wait is answered
    /// (or the watch ended).
    pub fn accept(&self, line: &[u8]) -> Flow {
        let mut seen = self.lock();
        let Ok(line) = serde_json::from_slice::<Line>(line) else {
            return Flow::Continue; // not a message (a blank line)
        };
        if let Some(error) = line.error {
            seen.found = Some(Found::Ended(error.to_string()));
            return Flow::Stop;
        }
        let Some(result) = line.result else {
            return Flow::Continue;
        };
        if seen.header == Header::default() {
            seen.header = result.header.clone();
        }
        if result.compact_revision > 0 {
            seen.found = Some(Found::Compacted(result.compact_revision));
            return Flow::Stop;
        }
        if result.canceled {
            seen.found = Some(Found::Ended(result.cancel_reason));
            return Flow::Stop;
        }
        // One revision at a time (a line may hold several).
        let events = result.events;
        let mut at = 0;
        while at < events.len() {
            let revision = events[at].kv.mod_revision;
            let end = at
                + events[at..]
                    .iter()
                    .take_while(|e| e.kv.mod_revision == revision)
                    .count();
            // What was already written when the watch began is read as etcd
            // reads its history; what comes later as its live watchers see it
            // (hidden keys below the watched one are not told).
            let live = revision > seen.header.revision;
            if let Some(found) = self.in_revision(&events[at..end], live) {
                seen.found = Some(found);
                return Flow::Stop;
            }
            at = end;
        }
        Flow::Continue
    }

    /// The event of one revision that the wait sees, if any: a bridge write's
    /// record, or, in a revision without one, a node key removed by the end
    /// of its lease (v2's `expire`).
    fn in_revision(&self, events: &[WatchEvent], live: bool) -> Option<Found> {
        let mut node_prefix = self.serial.clone();
        node_prefix.push(b'/');
        // The node keys removed in this revision: (v2 path, directory, event).
        let removed: Vec<(&[u8], bool, &WatchEvent)> = events
            .iter()
            .filter(|e| e.kind == "DELETE" && e.kv.key.starts_with(&node_prefix))
            .filter_map(|e| {
                let path = e.kv.key.strip_prefix(self.serial.as_slice())?;
                Some(match path.strip_suffix(b"/") {
                    Some(dir) => (dir, true, e),
                    None => (path, false, e),
                })
            })
            .collect();
        let sees = |node: &[u8], action: &Action, prev_dir: Option<&[u8]>| {
            if live {
                let removed = removed.iter().map(|&(path, _, _)| path);
                live_sees(&self.key, self.recursive, node, removed)
            } else {
                wait_sees(&self.key, self.recursive, node, action, prev_dir)
            }
        };
        let record = events
            .iter()
            .find(|e| e.kind != "DELETE" && e.kv.key == self.serial);
        if let Some(event) = record {
            let (planned, refresh, json) = split_record(&event.kv.value)?;
            if refresh {
                return None;
            }
            let recorded = serde_json::from_slice::<Recorded>(json).ok()?;
            let action = Action::parse(&recorded.action);
            let prev_dir = recorded
                .prev_node
                .as_ref()
                .filter(|p| p.dir)
                .map(|p| p.key.as_bytes());
            let node = recorded.node.key.as_bytes();
            if !sees(node, &action, prev_dir) {
                return None;
            }
            let revision = event.kv.mod_revision;
            return Some(Found::Event {
                revision,
                json: renumber(json, planned, revision),
            });
        }
        // A marker removed with a node (on its lease): its previous value
        // and revision.
        let marker = |tag: u8, path: &[u8]| {
            let mut key = self.serial.clone();
            key.push(tag);
            key.extend_from_slice(path);
            events
                .iter()
                .filter(|e| e.kv.key == key)
                .find_map(|e| e.prev_kv.as_ref())
        };
        let decimal = |value: &[u8]| std::str::from_utf8(value).ok()?.parse::<u64>().ok();
        // A lease's end takes a node and what is below it (they share its
        // lease): one `expire`, of the topmost, as etcd v2 tells it.
        let below_another = |path: &[u8]| {
            removed.iter().any(|&(other, dir, _)| {
                dir && path.len() > other.len()
                    && path.starts_with(other)
                    && path[other.len()] == b'/'
            })
        };
        for &(path, dir, event) in &removed {
            if below_another(path) || !sees(path, &Action::Expire, dir.then_some(path)) {
                continue;
            }
            let revision = event.kv.mod_revision;
            let prev = event.prev_kv.clone().unwrap_or_default();
            let expiration = marker(EXPIRY, path)
                .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse::<i64>().ok());
            // A node a set replaced in place: its marker's value, or its
            // revision, is its createdIndex (as the layout reads it).
            let created = marker(CREATED, path)
                .map(|kv| decimal(&kv.value).unwrap_or(kv.mod_revision))
                .filter(|&at| at >= prev.create_revision)
                .unwrap_or(prev.create_revision);
            // etcd v2 never changes a directory's modifiedIndex; a file put
            // again only to move it to another lease keeps its own.
            let modified = if dir {
                created
            } else {
                marker(MODIFIED, path)
                    .filter(|kv| kv.mod_revision == prev.mod_revision)
                    .and_then(|kv| decimal(&kv.value))
                    .unwrap_or(prev.mod_revision)
            };
            let prev_node = NodeView {
                value: (!dir).then_some(prev.value),
                dir,
                expiration,
                ..NodeView::bare(path, modified, created)
            };
            let node = NodeView {
                dir,
                ..NodeView::bare(path, revision, created)
            };
            let expired = Event::new(Action::Expire, node, Some(prev_node), revision);
            return Some(Found::Event {
                revision,
                json: expired.to_json(false),
            });
        }
        None
    }
}

impl Operation for Watch {
    type Output = Watched;

    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        *self.lock() = Watched::default();
        post_json(endpoint, "/v3/watch", self.body.clone())
    }

    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Watched, Error> {
        if !response.status().is_success() {
            return Err(error_of(&response));
        }
        Ok(std::mem::take(&mut *self.lock()))
    }

    /// A watch changes nothing.
    fn idempotent(&self) -> bool {
        true
    }

    fn is_long_poll(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "BridgeWait"
    }

    fn streamed(&self) -> bool {
        true
    }

    fn line(&self, line: &[u8]) -> Flow {
        self.accept(line)
    }
}

/// Whether a wait that was waiting when an event came (one of etcd's live
/// watchers, not its history) sees it, as etcd v2's watcher hub tells it: an
/// event on `key` itself, or below it for a recursive wait (unless a hidden
/// key below `key`), or the removal of `key` itself (`removed`: every path a
/// delete or an expiry took away). Unlike a replay from the history, a
/// directory removed above a key that was not there (or merely shares its
/// name's start: `/foo` for `/foobar`) is not seen.
fn live_sees<'a>(
    key: &[u8],
    recursive: bool,
    event_key: &[u8],
    mut removed: impl Iterator<Item = &'a [u8]>,
) -> bool {
    let original = event_key == key;
    let below = event_key.len() > key.len()
        && event_key.starts_with(key)
        && (key.ends_with(b"/") || event_key[key.len()] == b'/');
    let visible = original || !is_hidden(key, event_key);
    visible && (original || (recursive && below) || removed.any(|path| path == key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbering_touches_only_the_planned_indexes() {
        let json = br#"{"action":"set","node":{"key":"/a","value":"7","modifiedIndex":7,"createdIndex":7},"prevNode":{"key":"/a","modifiedIndex":5,"createdIndex":70}}"#;
        let out = renumber(json, 7, 9);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"action":"set","node":{"key":"/a","value":"7","modifiedIndex":9,"createdIndex":9},"prevNode":{"key":"/a","modifiedIndex":5,"createdIndex":70}}"#
        );
        assert_eq!(renumber(json, 7, 7), json.to_vec());
    }
}
