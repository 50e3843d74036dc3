//! Copying a v2 tree off a v2 store: what to write, and how to read what a
//! write's target already holds. The clients' `copy_tree_from` moves the
//! requests; every decision is here.
//!
//! A copy creates each node only where the target has nothing (v2's
//! `prevExist=false`), so it never overwrites: run again, it finds what it
//! wrote and goes on (it is idempotent and resumable). A node the target
//! already holds with another value is a conflict, reported and left as it is.

use std::time::SystemTime;

use crate::error::Error;
use crate::response::Node;

/// What to copy: a subtree, and the hidden subtrees below it to include (v2
/// never lists hidden nodes, so they must be named; python-etcd's locks live
/// under `/_locks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    path: String,
    hidden: Vec<String>,
}

impl CopySpec {
    /// Copy the subtree at `path` (`/` for everything).
    pub fn new(path: impl Into<String>) -> CopySpec {
        CopySpec {
            path: path.into(),
            hidden: Vec::new(),
        }
    }

    /// Also copy the hidden subtree at `path` (a node whose name, or an
    /// ancestor's, starts with `_`). It must be below the copied path, else
    /// [`Error::InvalidKey`] before anything is read.
    pub fn hidden(mut self, path: impl Into<String>) -> CopySpec {
        self.hidden.push(path.into());
        self
    }

    /// The copied path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The subtrees to read: the path, then each hidden one (checked).
    pub fn sources(&self) -> Result<Vec<String>, Error> {
        let root = clean(&self.path);
        let mut sources = vec![root.clone()];
        for hidden in &self.hidden {
            let hidden = clean(hidden);
            let below = root == "/" || hidden.starts_with(&format!("{root}/"));
            if !below || hidden == root {
                return Err(Error::InvalidKey {
                    key: hidden,
                    reason: format!("a hidden subtree to copy must be below {root}"),
                });
            }
            sources.push(hidden);
        }
        Ok(sources)
    }
}

fn clean(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else if trimmed.starts_with('/') {
        trimmed.into()
    } else {
        format!("/{trimmed}")
    }
}

/// One node to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its key.
    pub key: String,
    /// Whether it is a directory.
    pub dir: bool,
    /// A file's value.
    pub value: String,
    /// When it expires, if it has a TTL.
    pub expiration: Option<SystemTime>,
    /// When it is gone: its own expiry or a directory's above it, whichever
    /// comes first (past it, it is not copied: it would be made again without
    /// the directory's TTL).
    pub ends: Option<SystemTime>,
}

/// The nodes of a listing (a recursive GET) to create, each directory before
/// what is in it; the root is not one of them.
pub fn plan(listing: &Node, out: &mut Vec<Item>) {
    plan_below(listing, None, out);
}

fn plan_below(node: &Node, above: Option<SystemTime>, out: &mut Vec<Item>) {
    let ends = match (node.expiration, above) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if node.key != "/" {
        out.push(Item {
            key: node.key.clone(),
            dir: node.dir,
            value: node.value.clone().unwrap_or_default(),
            expiration: node.expiration,
            ends,
        });
    }
    for child in node.children.iter().flatten() {
        plan_below(child, ends, out);
    }
}

/// The TTL to give a node expiring at `expiration` when written at `now`: the
/// seconds left, rounded up; `Err(())` when it has expired.
#[allow(clippy::result_unit_err)]
pub fn remaining_ttl(expiration: Option<SystemTime>, now: SystemTime) -> Result<Option<u64>, ()> {
    let Some(at) = expiration else {
        return Ok(None);
    };
    match at.duration_since(now) {
        Ok(left) if !left.is_zero() => {
            let whole = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            Ok(Some(whole))
        }
        _ => Err(()),
    }
}

/// What became of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Written by this copy.
    Copied,
    /// The target already held it (an earlier copy's work).
    Unchanged,
    /// The target holds something else there; left as it is.
    Conflict(String),
    /// The target refused it (e.g. a directory TTL the bridge cannot keep).
    Refused(String),
    /// The expiry passed before it could be copied.
    Expired,
    /// Not there after a write whose outcome is unknown: write again (safe,
    /// since a create never replaces anything).
    Again,
}

/// The verdict on `item` from what the target holds at its key after a create
/// was refused as existing or had an unknown outcome (`existing`: `None` when
/// the key is absent).
pub fn judge(item: &Item, existing: Option<&Node>) -> Verdict {
    match existing {
        None => Verdict::Again,
        Some(node) if node.dir != item.dir => Verdict::Conflict(format!(
            "the target has a {} there",
            if node.dir { "directory" } else { "file" }
        )),
        Some(node) if !item.dir && node.value.as_deref() != Some(item.value.as_str()) => {
            Verdict::Conflict("the target has another value there".into())
        }
        Some(_) => Verdict::Unchanged,
    }
}

/// Whether `key` is `dir` or below it.
pub fn is_within(key: &str, dir: &str) -> bool {
    key == dir
        || key
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Files written.
    pub files: u64,
    /// Directories made.
    pub directories: u64,
    /// Nodes the target already held as they are (copied before).
    pub unchanged: u64,
    /// Nodes whose TTL ran out before they were copied.
    pub expired: u64,
    /// Keys the target holds differently, left as they are, with why.
    pub conflicts: Vec<(String, String)>,
    /// Keys the target refused, with why (what is below them was skipped).
    pub refused: Vec<(String, String)>,
    /// Hidden subtrees asked for that the source does not have.
    pub missing: Vec<String>,
}

impl CopyReport {
    /// Count `verdict` on `item`.
    pub fn count(&mut self, item: &Item, verdict: &Verdict) {
        match verdict {
            Verdict::Copied if item.dir => self.directories += 1,
            Verdict::Copied => self.files += 1,
            Verdict::Unchanged => self.unchanged += 1,
            Verdict::Expired => self.expired += 1,
            Verdict::Conflict(why) => self.conflicts.push((item.key.clone(), why.clone())),
            Verdict::Refused(why) => self.refused.push((item.key.clone(), why.clone())),
            Verdict::Again => {}
        }
    }

    /// Whether everything asked for is now in the target as it was in the
    /// source.
    pub fn is_complete(&self) -> bool {
        self.conflicts.is_empty() && self.refused.is_empty() && self.missing.is_empty()
    }
}

/// Progress of a copy, told after each node.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress<'a> {
    /// The node.
    pub item: &'a Item,
    /// What became of it.
    pub verdict: &'a Verdict,
    /// Nodes done so far, this one included.
    pub done: usize,
    /// Nodes to do in all.
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn node(key: &str, dir: bool, value: Option<&str>, children: Vec<Node>) -> Node {
        Node {
            key: key.into(),
            value: value.map(Into::into),
            dir,
            expiration: None,
            ttl: None,
            children: dir.then_some(children),
            modified_index: 1,
            created_index: 1,
        }
    }

    #[test]
    fn a_plan_makes_directories_before_what_is_in_them() {
        let tree = node(
            "/",
            true,
            None,
            vec![
                node(
                    "/a",
                    true,
                    None,
                    vec![node("/a/b", false, Some("1"), vec![])],
                ),
                node("/c", false, Some(""), vec![]),
            ],
        );
        let mut items = Vec::new();
        plan(&tree, &mut items);
        let keys: Vec<_> = items.iter().map(|i| (i.key.as_str(), i.dir)).collect();
        assert_eq!(keys, [("/a", true), ("/a/b", false), ("/c", false)]);

        // What is below a directory with a TTL ends with it.
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(100);
        let mut dir = node(
            "/d",
            true,
            None,
            vec![node("/d/x", false, Some("x"), vec![])],
        );
        dir.expiration = Some(at);
        let mut items = Vec::new();
        plan(&dir, &mut items);
        assert_eq!(items[1].key, "/d/x");
        assert_eq!((items[1].expiration, items[1].ends), (None, Some(at)));
    }

    #[test]
    fn ttls_are_what_is_left_rounded_up_and_expired_nodes_are_skipped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(remaining_ttl(None, now), Ok(None));
        assert_eq!(
            remaining_ttl(Some(now + Duration::from_millis(1500)), now),
            Ok(Some(2))
        );
        assert_eq!(
            remaining_ttl(Some(now + Duration::from_secs(3)), now),
            Ok(Some(3))
        );
        assert_eq!(remaining_ttl(Some(now), now), Err(()));
        assert_eq!(
            remaining_ttl(Some(now - Duration::from_secs(1)), now),
            Err(())
        );
    }

    #[test]
    fn what_the_target_holds_decides() {
        let file = Item {
            key: "/a".into(),
            dir: false,
            value: "1".into(),
            expiration: None,
            ends: None,
        };
        assert_eq!(judge(&file, None), Verdict::Again);
        assert_eq!(
            judge(&file, Some(&node("/a", false, Some("1"), vec![]))),
            Verdict::Unchanged
        );
        assert!(matches!(
            judge(&file, Some(&node("/a", false, Some("2"), vec![]))),
            Verdict::Conflict(_)
        ));
        assert!(matches!(
            judge(&file, Some(&node("/a", true, None, vec![]))),
            Verdict::Conflict(_)
        ));
        let dir = Item { dir: true, ..file };
        assert_eq!(
            judge(&dir, Some(&node("/a", true, None, vec![]))),
            Verdict::Unchanged
        );
    }

    #[test]
    fn hidden_subtrees_must_be_below_the_copied_path() {
        assert_eq!(
            CopySpec::new("/").hidden("/_locks").sources().unwrap(),
            ["/", "/_locks"]
        );
        assert_eq!(
            CopySpec::new("app/").hidden("/app/_x/").sources().unwrap(),
            ["/app", "/app/_x"]
        );
        assert!(matches!(
            CopySpec::new("/app").hidden("/_locks").sources(),
            Err(Error::InvalidKey { .. })
        ));
        assert!(matches!(
            CopySpec::new("/app").hidden("/apple").sources(),
            Err(Error::InvalidKey { .. })
        ));
        assert!(is_within("/a/b", "/a") && is_within("/a", "/a") && !is_within("/ab", "/a"));
    }
}
