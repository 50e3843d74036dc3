//! Reading a keys event into a [`Listing`](super::Listing)'s flat table: one
//! entry per node, in listing order, each string a range of the body (or,
//! for a string with escapes, its unescaped text kept aside).
//!
//! It takes exactly what the owned parser ([`crate::event_json`]) takes, by
//! the same rules, and gives up (`None`) where that one does: the caller then
//! parses with the owned path, for the same answer or its precise error.

use std::time::SystemTime;

use super::{Entry, Str};
use crate::event_json::{Field, Parser, Scanned, MAX_DEPTH};
use crate::response::Action;

/// A scanned event: its action, its table and where its nodes start in it.
pub(super) struct Table {
    pub(super) action: Action,
    pub(super) entries: Vec<Entry>,
    pub(super) side: Vec<String>,
    pub(super) node: usize,
    pub(super) prev: Option<usize>,
    /// Whether any directory came without its `nodes` (etcd omits them for an
    /// empty one): only then is there anything to mark as listed.
    pub(super) unlisted: bool,
}

/// The event in `text`, or `None` to leave it to the owned parser. An event
/// without a node is left to it too (for its error).
pub(super) fn scan(text: &str) -> Option<Table> {
    // Ranges of the body are kept as `u32`s.
    u32::try_from(text.len()).ok()?;
    let mut p = Parser::new(text);
    let mut t = Builder {
        // A listing's entries are about 180 bytes of etcd's JSON each.
        entries: Vec::with_capacity(text.len() / 160 + 1),
        side: Vec::new(),
        unlisted: false,
    };
    let (mut action, mut node, mut prev) = (None, None, None);
    p.object(|p, field| {
        match field {
            Field::Action if action.is_none() => {
                action = Some(match p.scan_string()? {
                    Scanned::Plain(start, end) => Action::parse(p.text.get(start..end)?),
                    Scanned::Unescaped(name) => Action::parse(&name),
                });
            }
            Field::Node if node.is_none() => node = Some(t.optional_node(p)?),
            Field::PrevNode if prev.is_none() => prev = Some(t.optional_node(p)?),
            _ => return None,
        }
        Some(())
    })?;
    if !p.at_end() {
        return None;
    }
    Some(Table {
        action: action?,
        node: node.flatten()?,
        prev: prev.flatten(),
        entries: t.entries,
        side: t.side,
        unlisted: t.unlisted,
    })
}

struct Builder {
    entries: Vec<Entry>,
    side: Vec<String>,
    unlisted: bool,
}

impl Builder {
    fn optional_node(&mut self, p: &mut Parser<'_>) -> Option<Option<usize>> {
        if p.null() {
            return Some(None);
        }
        self.node(p, 0).map(Some)
    }

    fn string(&mut self, p: &mut Parser<'_>) -> Option<Str> {
        Some(match p.scan_string()? {
            // Within the body, which `scan` took only if its length fits.
            Scanned::Plain(start, end) => Str::Body(start as u32, end as u32),
            Scanned::Unescaped(text) => {
                self.side.push(text);
                Str::Side(u32::try_from(self.side.len() - 1).ok()?)
            }
        })
    }

    /// A node and its subtree, appended; its index.
    fn node(&mut self, p: &mut Parser<'_>, depth: usize) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        // The node's place is taken before its children's; it is filled in
        // once its fields are read.
        let at = self.entries.len();
        self.entries.push(Entry::blank());
        let mut entry = Entry::blank();
        // Which fields were seen: a duplicate is left to the owned parser.
        let mut seen = 0u16;
        p.object(|p, field| {
            if seen & field.bit() != 0 {
                return None;
            }
            seen |= field.bit();
            match field {
                Field::Key => entry.key = self.string(p)?,
                Field::Value => entry.value = self.optional(p, Self::string)?,
                Field::Dir => entry.dir = p.boolean()?,
                Field::ModifiedIndex => entry.modified_index = p.unsigned()?,
                Field::CreatedIndex => entry.created_index = p.unsigned()?,
                Field::Ttl => entry.ttl = self.optional(p, |_, p| p.signed())?,
                Field::Expiration => entry.expiration = self.optional(p, |_, p| expiration(p))?,
                Field::Nodes => {
                    if !p.null() {
                        self.nodes(p, depth + 1)?;
                        entry.listed = true;
                    }
                }
                Field::Node | Field::Action | Field::PrevNode => return None,
            }
            Some(())
        })?;
        self.unlisted |= entry.dir && !entry.listed;
        entry.end = self.entries.len();
        *self.entries.get_mut(at)? = entry;
        Some(at)
    }

    /// `null`, or what `read` reads.
    fn optional<T>(
        &mut self,
        p: &mut Parser<'_>,
        read: impl FnOnce(&mut Self, &mut Parser<'_>) -> Option<T>,
    ) -> Option<Option<T>> {
        if p.null() {
            return Some(None);
        }
        read(self, p).map(Some)
    }

    fn nodes(&mut self, p: &mut Parser<'_>, depth: usize) -> Option<()> {
        p.eat(b'[')?;
        if p.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.node(p, depth)?;
            if p.eat(b',').is_some() {
                continue;
            }
            return p.eat(b']');
        }
    }
}

/// An expiration, read as the owned parser reads it.
fn expiration(p: &mut Parser<'_>) -> Option<SystemTime> {
    let text = match p.scan_string()? {
        Scanned::Plain(start, end) => std::borrow::Cow::Borrowed(p.text.get(start..end)?),
        Scanned::Unescaped(text) => std::borrow::Cow::Owned(text),
    };
    crate::timestamp::parse_rfc3339(&text)
}
