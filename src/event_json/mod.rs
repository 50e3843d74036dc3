//! A hand-written parser for the JSON of a keys event (`{"action","node",
//! "prevNode"}`), the hot path of every keys answer and of large listings:
//! it builds the same [`Node`]s serde's derive would, without its per-field
//! visitor machinery (a 10,000-key listing parses in about half the time).
//!
//! It takes only what etcd sends: the known fields, each at most once, with
//! their expected types; strings with any JSON escape; whitespace anywhere.
//! Anything else (an unknown field, a duplicate, a float where an integer
//! belongs, nesting of `nodes` deeper than 100, trailing bytes, bad JSON) makes
//! it give up with `None`, and the caller parses the body with serde instead,
//! which then gives the same answer or its precise error. So whenever it
//! answers, it answers as serde would; `tests/event_json.rs` and a fuzz
//! target check that on etcd's captured answers and on mangled ones.

mod scanner;

pub(crate) use scanner::{Field, Parser, Scanned};

use crate::response::{Action, Node};

/// The same event as serde's derive reads it: the reference the fast parser
/// agrees with (and the path taken when it gives up).
pub fn parse_with_serde(text: &str) -> serde_json::Result<Event> {
    crate::response::event_with_serde(text)
}

/// Deeper nesting of `nodes` is left to serde (whose own limit is 128).
pub(crate) const MAX_DEPTH: usize = 100;

/// An event's action, node and previous node.
pub type Event = (Action, Option<Node>, Option<Node>);

/// The event in `text`, or `None` to let serde parse it.
pub fn parse(text: &str) -> Option<Event> {
    let mut p = Parser::new(text);
    let event = p.event()?;
    p.at_end().then_some(event)
}

impl Parser<'_> {
    fn event(&mut self) -> Option<Event> {
        let (mut action, mut node, mut prev) = (None, None, None);
        self.object(|p, field| {
            match field {
                Field::Action if action.is_none() => {
                    p.peek();
                    // Borrowed when it has no escapes (etcd's never do).
                    action = Some(match p.plain_string() {
                        Some(name) => Action::parse(name),
                        None => Action::parse(&p.string()?),
                    });
                }
                Field::Node if node.is_none() => node = Some(p.optional_node(0)?),
                Field::PrevNode if prev.is_none() => prev = Some(p.optional_node(0)?),
                _ => return None,
            }
            Some(())
        })?;
        Some((action?, node.flatten(), prev.flatten()))
    }

    fn optional_node(&mut self, depth: usize) -> Option<Option<Node>> {
        if self.null() {
            return Some(None);
        }
        self.node(depth).map(Some)
    }

    fn node(&mut self, depth: usize) -> Option<Node> {
        let mut node = blank();
        self.fill(&mut node, depth)?;
        Some(node)
    }

    /// Read a node into `node`, a [`blank`] one (a listing's nodes are read
    /// in their place in the list, not moved there).
    fn fill(&mut self, node: &mut Node, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        // Which fields were seen: a duplicate is left to serde.
        let mut seen = 0u16;
        self.object(|p, field| {
            if seen & field.bit() != 0 {
                return None;
            }
            seen |= field.bit();
            match field {
                Field::Key => node.key = p.string()?,
                Field::Value => node.value = if p.null() { None } else { Some(p.string()?) },
                Field::Dir => node.dir = p.boolean()?,
                Field::ModifiedIndex => node.modified_index = p.unsigned()?,
                Field::CreatedIndex => node.created_index = p.unsigned()?,
                Field::Ttl => node.ttl = if p.null() { None } else { Some(p.signed()?) },
                Field::Expiration => {
                    node.expiration = if p.null() {
                        None
                    } else {
                        Some(crate::timestamp::parse_rfc3339(&p.string()?)?)
                    };
                }
                Field::Nodes => {
                    node.children = if p.null() {
                        None
                    } else {
                        Some(p.nodes(depth + 1)?)
                    };
                }
                Field::Node | Field::Action | Field::PrevNode => return None,
            }
            Some(())
        })?;
        if seen & Field::Key.bit() == 0 {
            node.key = "/".to_owned();
        }
        Some(())
    }

    fn nodes(&mut self, depth: usize) -> Option<Vec<Node>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.eat(b']').is_some() {
            return Some(out);
        }
        loop {
            out.push(blank());
            self.fill(out.last_mut()?, depth)?;
            if self.eat(b',').is_some() {
                continue;
            }
            self.eat(b']')?;
            return Some(out);
        }
    }
}

/// A node with no fields read yet.
fn blank() -> Node {
    Node {
        key: String::new(),
        value: None,
        dir: false,
        expiration: None,
        ttl: None,
        children: None,
        modified_index: 0,
        created_index: 0,
    }
}
