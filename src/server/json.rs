//! JSON text as etcd's Go encoder writes it: `<`, `>` and `&` escaped as
//! `\u003c`, `\u003e` and `\u0026`, U+2028 and U+2029 escaped, control
//! characters as `\u00XX` (except `\n`, `\r` and `\t`), and bytes that are not
//! UTF-8 replaced by `\ufffd`. Strings are byte strings, as Go's are.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `s` to `out` as a quoted JSON string, escaped as Go's
/// `encoding/json` escapes it.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                text(out, valid);
                rest = &[];
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                text(out, std::str::from_utf8(valid).unwrap_or_default());
                // Go decodes an invalid sequence one byte at a time: each byte
                // becomes one U+FFFD.
                out.extend_from_slice(b"\\ufffd");
                rest = after.get(1..).unwrap_or_default();
            }
        }
    }
    out.push(b'"');
}

fn text(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            _ => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// A JSON object being written field by field, in the order given (Go writes
/// struct fields in declaration order).
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    /// Start an object.
    pub fn new(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, first: true }
    }

    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        string(self.out, name.as_bytes());
        self.out.push(b':');
        self.out
    }

    /// A string field.
    pub fn string(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let out = self.key(name);
        string(out, value);
        self
    }

    /// A number field.
    pub fn number(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        let out = self.key(name);
        out.extend_from_slice(value.to_string().as_bytes());
        self
    }

    /// A `true`/`false` field.
    pub fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        let out = self.key(name);
        out.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// A field whose JSON `write` appends.
    pub fn raw(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        let out = self.key(name);
        write(out);
        self
    }

    /// Close the object.
    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// Append a JSON array of strings.
pub fn strings<S: AsRef<[u8]>>(out: &mut Vec<u8>, items: &[S]) {
    array(out, items, |out, s| string(out, s.as_ref()));
}

/// Append a JSON array of `items`, each written by `write`.
pub fn array<T>(out: &mut Vec<u8>, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::string;

    fn enc(s: &[u8]) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_as_go_does() {
        assert_eq!(enc(b"a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(enc(b"\x08\x0c\x01\x7f"), "\"\\u0008\\u000c\\u0001\x7f\"");
        assert_eq!(enc(b"q\"\\\n\r\t"), r#""q\"\\\n\r\t""#);
        assert_eq!(enc("\u{2028}\u{2029}é".as_bytes()), "\"\\u2028\\u2029é\"");
        assert_eq!(enc(b"\xff\xfeok"), r#""\ufffd\ufffdok""#);
        assert_eq!(enc(b"/b\xff\x01"), r#""/b\ufffd\u0001""#);
    }
}
