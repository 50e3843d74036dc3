//! The scanner of etcd's JSON under both keys-event readers: the owned one
//! ([`super`]) and the borrowed listing ([`crate::listing`]).

/// Where a string's plain run ends in `bytes`: the first `"`, `\` or
/// control character (below 0x20), or `None` if there is none.
///
/// Eight bytes at a time (two such words a turn, then one, then the last
/// bytes one by one): in each word, a byte equal to `"` or `\` becomes a
/// zero byte after an XOR, and "has a zero byte" / "has a byte below n" are
/// the classic word tests. They can flag a byte above a real hit (a borrow
/// carries upward), never below one, so the lowest flagged byte is exact.
pub(crate) fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS;
    let hits = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20)
    };
    // Two words a turn: a word without a real stop flags nothing, so when
    // the first flags nothing, the second's lowest flag is exact.
    let mut pairs = bytes.chunks_exact(16);
    let mut at = 0;
    for pair in &mut pairs {
        let (low, high) = (hits(&pair[..8]), hits(&pair[8..]));
        if low | high != 0 {
            let first = if low != 0 {
                low.trailing_zeros()
            } else {
                64 + high.trailing_zeros()
            };
            return Some(at + (first / 8) as usize);
        }
        at += 16;
    }
    let mut words = pairs.remainder().chunks_exact(8);
    for chunk in &mut words {
        let found = hits(chunk);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
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

/// A string as the scanner found it: a run of `text` with no escapes (its
/// byte range), or the unescaped text of one that had escapes.
pub(crate) enum Scanned {
    /// The string is `text[start..end]` as it stands.
    Plain(usize, usize),
    /// The string had escapes: its unescaped text.
    Unescaped(String),
}

/// The field names of etcd's keys events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Key,
    Value,
    Dir,
    ModifiedIndex,
    CreatedIndex,
    Ttl,
    Expiration,
    Nodes,
    Node,
    Action,
    PrevNode,
}

impl Field {
    /// The name as etcd spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Key => "key",
            Field::Value => "value",
            Field::Dir => "dir",
            Field::ModifiedIndex => "modifiedIndex",
            Field::CreatedIndex => "createdIndex",
            Field::Ttl => "ttl",
            Field::Expiration => "expiration",
            Field::Nodes => "nodes",
            Field::Node => "node",
            Field::Action => "action",
            Field::PrevNode => "prevNode",
        }
    }

    /// The field's own bit, to see a duplicate.
    pub(crate) fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The scanner of etcd's JSON, shared by the owned event parser ([`super`]) and by
/// the borrowed listing ([`crate::listing`]).
pub(crate) struct Parser<'a> {
    s: &'a [u8],
    pub(crate) text: &'a str,
    pub(crate) at: usize,
}

impl<'a> Parser<'a> {
    /// A scanner at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Parser<'a> {
        Parser {
            s: text.as_bytes(),
            text,
            at: 0,
        }
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.at == self.s.len()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    /// Skip whitespace and take `byte`. etcd writes no whitespace: the byte
    /// itself is looked for first.
    pub(crate) fn eat(&mut self, byte: u8) -> Option<()> {
        if self.s.get(self.at) != Some(&byte) {
            self.ws();
            if self.s.get(self.at) != Some(&byte) {
                return None;
            }
        }
        self.at += 1;
        Some(())
    }

    /// The next byte that is not whitespace. Every whitespace byte is at
    /// most a space: anything above is the answer, with no loop.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        match self.s.get(self.at) {
            Some(&b) if b > b' ' => Some(b),
            _ => {
                self.ws();
                self.s.get(self.at).copied()
            }
        }
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.s[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    pub(crate) fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal(b"null")
    }

    /// The fields of an object, one at a time: `f` takes each name (after
    /// its colon) and parses the value; `None` from it gives up.
    pub(crate) fn object(
        &mut self,
        mut f: impl FnMut(&mut Self, Field) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.peek();
            let name = self.field_name()?;
            self.eat(b':')?;
            f(self, name)?;
            if self.eat(b',').is_some() {
                continue;
            }
            return self.eat(b'}');
        }
    }

    /// A field's name: one of etcd's, told apart by its first byte and then
    /// compared whole, closing quote included (a fixed-length comparison, no
    /// scan for the quote).
    /// Any other name (or one of these written with an escape) is `None`:
    /// neither parser takes it.
    pub(crate) fn field_name(&mut self) -> Option<Field> {
        if self.s.get(self.at) != Some(&b'"') {
            return None;
        }
        let rest = self.s.get(self.at + 1..)?;
        // Each comparison is with a constant, of a fixed length.
        let field = match rest.first()? {
            b'k' if rest.starts_with(b"key\"") => Field::Key,
            b'v' if rest.starts_with(b"value\"") => Field::Value,
            b'm' if rest.starts_with(b"modifiedIndex\"") => Field::ModifiedIndex,
            b'c' if rest.starts_with(b"createdIndex\"") => Field::CreatedIndex,
            b'd' if rest.starts_with(b"dir\"") => Field::Dir,
            b'n' if rest.starts_with(b"nodes\"") => Field::Nodes,
            b'n' if rest.starts_with(b"node\"") => Field::Node,
            b't' if rest.starts_with(b"ttl\"") => Field::Ttl,
            b'e' if rest.starts_with(b"expiration\"") => Field::Expiration,
            b'a' if rest.starts_with(b"action\"") => Field::Action,
            b'p' if rest.starts_with(b"prevNode\"") => Field::PrevNode,
            _ => return None,
        };
        self.at += 2 + field.name().len();
        Some(field)
    }

    /// A string without escapes, borrowed (field names, actions).
    pub(crate) fn plain_string(&mut self) -> Option<&'a str> {
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
    pub(super) fn string(&mut self) -> Option<String> {
        match self.scan_string()? {
            Scanned::Plain(start, end) => self.text.get(start..end).map(str::to_owned),
            Scanned::Unescaped(text) => Some(text),
        }
    }

    /// Any string: where it stands in the text when it has no escapes (most
    /// do: nothing is copied), its unescaped text when it has.
    pub(crate) fn scan_string(&mut self) -> Option<Scanned> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let mut start = self.at + 1;
        let mut len = string_stop(&self.s[start..])?;
        if self.s[start + len] == b'"' {
            self.at = start + len + 1;
            // The stops are ASCII: the run is a valid slice of the text.
            self.text.get(start..start + len)?;
            return Some(Scanned::Plain(start, start + len));
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
                    return Some(Scanned::Unescaped(out));
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
    pub(crate) fn unsigned(&mut self) -> Option<u64> {
        self.peek();
        let start = self.at;
        let text = self.s.get(start..)?;
        // The digits are read and counted in one pass; nineteen digits cannot
        // overflow a u64, and a longer number is checked digit by digit (too
        // large for a u64 is left to serde).
        let mut n = 0u64;
        let mut digits = 0;
        while let Some(&b) = text.get(digits) {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = if digits < 19 {
                n * 10 + u64::from(d)
            } else {
                n.checked_mul(10)?.checked_add(u64::from(d))?
            };
            digits += 1;
        }
        // No leading zeros, no fraction or exponent (serde reads those as
        // floats and refuses them for an integer).
        if digits == 0 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = text.get(digits) {
            return None;
        }
        self.at = start + digits;
        Some(n)
    }

    pub(crate) fn signed(&mut self) -> Option<i64> {
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

    pub(crate) fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' if self.literal(b"true") => Some(true),
            b'f' if self.literal(b"false") => Some(false),
            _ => None,
        }
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
