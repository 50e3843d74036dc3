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

use crate::response::{Action, Node};

/// The same event as serde's derive reads it: the reference the fast parser
/// agrees with (and the path taken when it gives up).
pub fn parse_with_serde(text: &str) -> serde_json::Result<Event> {
    crate::response::event_with_serde(text)
}

/// Deeper nesting of `nodes` is left to serde (whose own limit is 128).
const MAX_DEPTH: usize = 100;

/// An event's action, node and previous node.
pub type Event = (Action, Option<Node>, Option<Node>);

/// The event in `text`, or `None` to let serde parse it.
pub fn parse(text: &str) -> Option<Event> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        at: 0,
    };
    let event = p.event()?;
    p.ws();
    (p.at == p.s.len()).then_some(event)
}

/// Where a string's plain run ends in `bytes`: the first `"`, `\` or
/// control character (below 0x20), or `None` if there is none.
///
/// Eight bytes at a time: in each word, a byte equal to `"` or `\` becomes a
/// zero byte after an XOR, and "has a zero byte" / "has a byte below n" are
/// the classic word tests. They can flag a byte above a real hit (a borrow
/// carries upward), never below one, so the lowest flagged byte is exact.
pub(crate) fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| stops_a_string(b))
        .map(|i| at + i)
}

/// Whether `b` ends the plain run of a JSON string: its closing quote, an
/// escape, or a control byte (which JSON forbids unescaped).
fn stops_a_string(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    /// Skip whitespace and take `byte`. etcd writes no whitespace: the byte
    /// itself is looked for first.
    fn eat(&mut self, byte: u8) -> Option<()> {
        if self.s.get(self.at) != Some(&byte) {
            self.ws();
            if self.s.get(self.at) != Some(&byte) {
                return None;
            }
        }
        self.at += 1;
        Some(())
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.at).copied()
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.s[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal(b"null")
    }

    /// The fields of an object, one at a time: `f` takes each name (after
    /// its colon) and parses the value; `None` from it gives up.
    fn object(&mut self, mut f: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let name = self.field_name()?;
            self.eat(b':')?;
            f(self, name)?;
            if self.eat(b',').is_some() {
                continue;
            }
            return self.eat(b'}');
        }
    }

    /// A field's name. etcd's own names are told apart by their first byte
    /// and then compared whole, closing quote included (a fixed-length
    /// comparison, no scan for the quote); any other name is read as a
    /// plain string.
    fn field_name(&mut self) -> Option<&'a str> {
        if self.s.get(self.at) != Some(&b'"') {
            return None;
        }
        let rest = &self.s[self.at + 1..];
        let known = match rest.first()? {
            b'k' if rest.starts_with(b"key\"") => Some("key"),
            b'v' if rest.starts_with(b"value\"") => Some("value"),
            b'm' if rest.starts_with(b"modifiedIndex\"") => Some("modifiedIndex"),
            b'c' if rest.starts_with(b"createdIndex\"") => Some("createdIndex"),
            b'd' if rest.starts_with(b"dir\"") => Some("dir"),
            b'n' if rest.starts_with(b"nodes\"") => Some("nodes"),
            b'n' if rest.starts_with(b"node\"") => Some("node"),
            b't' if rest.starts_with(b"ttl\"") => Some("ttl"),
            b'e' if rest.starts_with(b"expiration\"") => Some("expiration"),
            b'a' if rest.starts_with(b"action\"") => Some("action"),
            b'p' if rest.starts_with(b"prevNode\"") => Some("prevNode"),
            _ => None,
        };
        match known {
            Some(name) => {
                self.at += name.len() + 2;
                Some(name)
            }
            None => self.plain_string(),
        }
    }

    /// A string without escapes, borrowed (field names, actions).
    fn plain_string(&mut self) -> Option<&'a str> {
        if self.s.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let len = string_stop(&self.s[start..])?;
        if self.s[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        self.text.get(start..start + len)
    }

    /// Any string, unescaped.
    fn string(&mut self) -> Option<String> {
        self.ws();
        if self.s.get(self.at) != Some(&b'"') {
            return None;
        }
        let mut start = self.at + 1;
        // Most strings have no escapes: copied at once, at their length.
        let mut len = string_stop(&self.s[start..])?;
        if self.s[start + len] == b'"' {
            self.at = start + len + 1;
            return self.text.get(start..start + len).map(str::to_owned);
        }
        // The first run is scanned already; each later one is scanned once.
        let mut out = String::with_capacity(len + 16);
        loop {
            // The text is UTF-8 and the stops are ASCII: a valid slice.
            out.push_str(self.text.get(start..start + len)?);
            let at = start + len;
            match self.s[at] {
                b'"' => {
                    self.at = at + 1;
                    return Some(out);
                }
                b'\\' => {
                    let (c, used) = self.escape(at + 1)?;
                    out.push(c);
                    start = at + 1 + used;
                }
                _ => return None,
            }
            len = string_stop(&self.s[start..])?;
        }
    }

    /// The character an escape after a backslash at `at` stands for, and the
    /// bytes it took.
    fn escape(&self, at: usize) -> Option<(char, usize)> {
        let c = match *self.s.get(at)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4(at + 1)?;
                if !(0xD800..0xDC00).contains(&high) {
                    return char::from_u32(high).map(|c| (c, 5));
                }
                // A surrogate pair: `\uD8xx\uDCxx`.
                if self.s.get(at + 5..at + 7)? != b"\\u" {
                    return None;
                }
                let low = self.hex4(at + 7)?;
                if !(0xDC00..0xE000).contains(&low) {
                    return None;
                }
                let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return char::from_u32(c).map(|c| (c, 11));
            }
            _ => return None,
        };
        Some((c, 1))
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = std::str::from_utf8(self.s.get(at..at + 4)?).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    }

    /// A JSON integer as serde reads it into an unsigned field.
    fn unsigned(&mut self) -> Option<u64> {
        self.ws();
        let start = self.at;
        let digits = self.s[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        // No leading zeros, no fraction or exponent (serde reads those as
        // floats and refuses them for an integer).
        if digits == 0 || (digits > 1 && self.s[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.s.get(start + digits) {
            return None;
        }
        let text = &self.s[start..start + digits];
        let value = |n: u64, d: &u8| u64::from(d - b'0') + n * 10;
        let n = if digits <= 19 {
            // Nineteen digits cannot overflow a u64.
            text.iter().fold(0, value)
        } else {
            // Too large for a u64 is left to serde.
            text.iter().try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })?
        };
        self.at = start + digits;
        Some(n)
    }

    fn signed(&mut self) -> Option<i64> {
        self.ws();
        let negative = self.s.get(self.at) == Some(&b'-');
        if negative {
            self.at += 1;
            if !self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        }
        let n = i64::try_from(self.unsigned()?).ok()?;
        match (negative, n) {
            // serde reads `-0` as the float -0.0, which an integer refuses.
            (true, 0) => None,
            (true, n) => Some(-n),
            (false, n) => Some(n),
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' if self.literal(b"true") => Some(true),
            b'f' if self.literal(b"false") => Some(false),
            _ => None,
        }
    }

    fn event(&mut self) -> Option<Event> {
        let (mut action, mut node, mut prev) = (None, None, None);
        self.object(|p, name| {
            match name {
                "action" if action.is_none() => {
                    p.ws();
                    // Borrowed when it has no escapes (etcd's never do).
                    action = Some(match p.plain_string() {
                        Some(name) => Action::parse(name),
                        None => Action::parse(&p.string()?),
                    });
                }
                "node" if node.is_none() => node = Some(p.optional_node(0)?),
                "prevNode" if prev.is_none() => prev = Some(p.optional_node(0)?),
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
        let mut seen = 0u8;
        let mut once = |bit: u8| {
            let fresh = seen & bit == 0;
            seen |= bit;
            fresh.then_some(())
        };
        self.object(|p, name| {
            match name {
                "key" => {
                    once(1)?;
                    node.key = p.string()?;
                }
                "value" => {
                    once(2)?;
                    node.value = if p.null() { None } else { Some(p.string()?) };
                }
                "dir" => {
                    once(4)?;
                    node.dir = p.boolean()?;
                }
                "modifiedIndex" => {
                    once(8)?;
                    node.modified_index = p.unsigned()?;
                }
                "createdIndex" => {
                    once(16)?;
                    node.created_index = p.unsigned()?;
                }
                "ttl" => {
                    once(32)?;
                    node.ttl = if p.null() { None } else { Some(p.signed()?) };
                }
                "expiration" => {
                    once(64)?;
                    node.expiration = if p.null() {
                        None
                    } else {
                        Some(crate::timestamp::parse_rfc3339(&p.string()?)?)
                    };
                }
                "nodes" => {
                    once(128)?;
                    node.children = if p.null() {
                        None
                    } else {
                        Some(p.nodes(depth + 1)?)
                    };
                }
                _ => return None,
            }
            Some(())
        })?;
        if seen & 1 == 0 {
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

#[cfg(test)]
mod tests {
    use super::{stops_a_string, string_stop};

    fn naive(bytes: &[u8]) -> Option<usize> {
        bytes.iter().position(|&b| stops_a_string(b))
    }

    #[test]
    fn the_word_at_a_time_scan_finds_the_same_stop_as_a_byte_scan() {
        // Every byte value at every position of strings up to 40 bytes long,
        // on backgrounds of plain ASCII, of UTF-8 continuation bytes and of
        // the bytes just around the stops.
        let backgrounds: [&[u8]; 4] = [
            b"a",
            &[0xC3, 0xA9],
            &[0x21, 0x23, 0x5B, 0x5D, 0x20],
            &[0xFF, 0x80],
        ];
        for background in backgrounds {
            for len in 0..40 {
                let base: Vec<u8> = background.iter().copied().cycle().take(len).collect();
                assert_eq!(string_stop(&base), naive(&base), "{base:?}");
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut s = base.clone();
                        s[at] = byte;
                        assert_eq!(string_stop(&s), naive(&s), "{s:?}");
                        // A second stop later never hides the first.
                        if at + 3 < len {
                            s[at + 3] = b'"';
                            assert_eq!(string_stop(&s), naive(&s), "{s:?}");
                        }
                    }
                }
            }
        }
    }
}
