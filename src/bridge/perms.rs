//! v2 permissions as v3 ones: how a v2 role's key patterns (`/app/*`,
//! `/cfg/key`) become v3 key ranges under the bridge's prefix `P`, and back.
//!
//! A v2 pattern is a key, or a prefix when it ends in `*`. Over the bridge:
//!
//! | v2 | v3 ranges (same permission type) |
//! |---|---|
//! | `/a/b*` (a prefix) | the node keys starting with `P/a/b`, and the markers (`P\0`, `P\1`, `P\2`) starting with `/a/b` |
//! | `/a/b` (a key) | `P/a/b` and `P/a/b/` (the node as a file and as a directory) and its three markers, each one key |
//! | a write pattern, besides | write on each directory above it (`P/a/`, and its markers), so that a write can create missing parents |
//! | any pattern, besides | read on everything under `P` (the bridge reads the serial key `P`, whose history is every write's v2 event, and watches the whole prefix), and, with a write pattern, write on `P` |
//!
//! So etcd enforces v2's write patterns, while read patterns are recorded
//! (and read back) but every user of the bridge may read the whole tree: a
//! documented difference. Permissions on keys under `P` are the bridge's:
//! a role's update replaces those that differ from its v2 patterns' mapping.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{json, Value};

use super::v3::prefix_end;
use crate::base64;

/// The three marker tags of the layout (see [`super::layout`]).
const MARKERS: [u8; 3] = [0, 1, 2];

/// Read and write access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// May read.
    pub read: bool,
    /// May write.
    pub write: bool,
}

impl Access {
    /// The v3 `permType` (`None` for no access).
    pub fn perm_type(self) -> Option<&'static str> {
        match (self.read, self.write) {
            (true, true) => Some("READWRITE"),
            (true, false) => Some("READ"),
            (false, true) => Some("WRITE"),
            (false, false) => None,
        }
    }

    fn add(&mut self, other: Access) {
        self.read |= other.read;
        self.write |= other.write;
    }
}

/// A v3 key range: a key, and the end of the range (`None`: the key alone).
pub type Range = (Vec<u8>, Option<Vec<u8>>);

/// A role's v2 patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns {
    /// Readable patterns.
    pub read: BTreeSet<String>,
    /// Writable patterns.
    pub write: BTreeSet<String>,
}

impl Patterns {
    /// The v2 JSON of a role: `{"role","permissions":{"kv":{"read","write"}}}`.
    pub fn role_json(&self, role: &str) -> Value {
        json!({
            "role": role,
            "permissions": { "kv": {
                "read": self.read.iter().collect::<Vec<_>>(),
                "write": self.write.iter().collect::<Vec<_>>(),
            }},
        })
    }
}

/// The v3 permissions the bridge grants for `patterns` under `prefix`.
pub fn v3_perms(prefix: &[u8], patterns: &Patterns) -> BTreeMap<Range, Access> {
    let mut out: BTreeMap<Range, Access> = BTreeMap::new();
    let mut add = |range: Range, access: Access| out.entry(range).or_default().add(access);
    let read = Access {
        read: true,
        write: false,
    };
    let write = Access {
        read: false,
        write: true,
    };
    for (set, access) in [(&patterns.read, read), (&patterns.write, write)] {
        for pattern in set {
            for range in pattern_ranges(prefix, pattern) {
                add(range, access);
            }
            if access.write {
                for dir in parents(pattern) {
                    add((node(prefix, dir, true), None), write);
                    for tag in MARKERS {
                        add((tagged(prefix, tag, dir.as_bytes()), None), write);
                    }
                }
            }
        }
    }
    if !patterns.read.is_empty() || !patterns.write.is_empty() {
        add((prefix.to_vec(), Some(prefix_end(prefix))), read);
    }
    if !patterns.write.is_empty() {
        add((prefix.to_vec(), None), write);
    }
    out
}

/// A role's v2 patterns from its v3 permissions (those the bridge did not
/// make are left out).
pub fn v2_patterns(prefix: &[u8], perms: &[(Range, Access)]) -> Patterns {
    let mut out = Patterns::default();
    for ((key, end), access) in perms {
        let Some(pattern) = pattern_of(prefix, key, end.as_deref()) else {
            continue;
        };
        if access.read {
            out.read.insert(pattern.clone());
        }
        if access.write {
            out.write.insert(pattern);
        }
    }
    out
}

/// Whether a v3 permission is one the bridge manages (its key is under the
/// prefix).
pub fn managed(prefix: &[u8], key: &[u8]) -> bool {
    key.starts_with(prefix)
}

/// The v2 pattern a node range stands for, if it is one.
fn pattern_of(prefix: &[u8], key: &[u8], end: Option<&[u8]>) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    if !rest.starts_with(b"/") {
        return None;
    }
    let rest = std::str::from_utf8(rest).ok()?;
    match end {
        Some(end) if end == prefix_end(key).as_slice() => Some(format!("{rest}*")),
        Some(_) => None,
        // A directory's key stands for the pattern's file key, or a parent.
        None if rest.len() > 1 && rest.ends_with('/') => None,
        None => Some(rest.to_owned()),
    }
}

/// The ranges of a pattern's nodes and markers.
fn pattern_ranges(prefix: &[u8], pattern: &str) -> Vec<Range> {
    match pattern.strip_suffix('*') {
        Some(base) => {
            // Keys all begin with `/`: `*` is `/*`.
            let base = if base.is_empty() { "/" } else { base };
            let mut ranges = vec![span(node(prefix, base, false))];
            for tag in MARKERS {
                ranges.push(span(tagged(prefix, tag, base.as_bytes())));
            }
            ranges
        }
        None => {
            let mut ranges = vec![
                (node(prefix, pattern, false), None),
                (node(prefix, pattern, true), None),
            ];
            for tag in MARKERS {
                ranges.push((tagged(prefix, tag, pattern.as_bytes()), None));
            }
            ranges
        }
    }
}

/// The directories strictly above what `pattern` covers.
fn parents(pattern: &str) -> Vec<&str> {
    let base = pattern.strip_suffix('*').unwrap_or(pattern);
    let mut dirs = Vec::new();
    let mut at = 1;
    while let Some(i) = base.get(at..).and_then(|rest| rest.find('/')) {
        dirs.push(&base[..at + i]);
        at += i + 1;
    }
    dirs
}

fn span(key: Vec<u8>) -> Range {
    let end = prefix_end(&key);
    (key, Some(end))
}

fn node(prefix: &[u8], path: &str, dir: bool) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(path.as_bytes());
    if dir && !path.ends_with('/') {
        key.push(b'/');
    }
    key
}

fn tagged(prefix: &[u8], tag: u8, path: &[u8]) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.push(tag);
    key.extend_from_slice(path);
    key
}

/// A permission as `/v3/auth/role/get` lists it.
#[derive(Debug, Deserialize)]
struct V3Perm {
    #[serde(rename = "permType", default)]
    perm_type: Value,
    #[serde(default)]
    key: String,
    #[serde(default)]
    range_end: String,
}

/// The permissions in a `/v3/auth/role/get` answer (`None` if it is not
/// one).
pub fn parse_role(answer: &Value) -> Option<Vec<(Range, Access)>> {
    let perms = match answer.get("perm") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(p) => Vec::<V3Perm>::deserialize(p).ok()?,
    };
    perms
        .into_iter()
        .map(|p| {
            // READ is v3's default (0, or left out); WRITE is 1.
            let (read, write) = match &p.perm_type {
                Value::Null => (true, false),
                Value::String(s) if s == "READ" => (true, false),
                Value::Number(n) if n.as_u64() == Some(0) => (true, false),
                Value::String(s) if s == "WRITE" => (false, true),
                Value::Number(n) if n.as_u64() == Some(1) => (false, true),
                _ => (true, true),
            };
            let access = Access { read, write };
            let key = base64::decode(&p.key)?;
            let end = match p.range_end.as_str() {
                "" => None,
                e => Some(base64::decode(e)?),
            };
            Some(((key, end), access))
        })
        .collect()
}

/// The `/v3/auth/role/grant` and `/v3/auth/role/revoke` bodies that turn
/// `current` (the role's permissions) into `wanted`, for the keys under
/// `prefix`: revokes first, then grants.
pub fn changes(
    role: &str,
    prefix: &[u8],
    current: &[(Range, Access)],
    wanted: &BTreeMap<Range, Access>,
) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let have: BTreeMap<&Range, Access> = current
        .iter()
        .filter(|((key, _), _)| managed(prefix, key))
        .map(|(r, a)| (r, *a))
        .collect();
    for range in have.keys() {
        if !wanted.contains_key(*range) {
            let mut body = json!({ "role": role, "key": base64::encode(&range.0) });
            if let Some(end) = &range.1 {
                body["range_end"] = json!(base64::encode(end));
            }
            out.push(("/v3/auth/role/revoke", body));
        }
    }
    for (range, access) in wanted {
        let Some(kind) = access.perm_type() else {
            continue;
        };
        if have.get(range) == Some(access) {
            continue;
        }
        let mut perm = json!({ "permType": kind, "key": base64::encode(&range.0) });
        if let Some(end) = &range.1 {
            perm["range_end"] = json!(base64::encode(end));
        }
        out.push(("/v3/auth/role/grant", json!({ "name": role, "perm": perm })));
    }
    out
}
