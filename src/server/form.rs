//! How Go's `net/http` and `net/url` read a request, which etcd inherits:
//! percent-decoding of paths and queries, `application/x-www-form-urlencoded`
//! bodies, `path.Clean`, and the escaping `net/url` puts back on a redirect.

/// Form values in arrival order: the body's first, then the query's, as Go's
/// `Request.Form` holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Form {
    /// Whether `key` was given at all (even empty).
    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key.as_bytes())
    }

    /// The first value of `key` (Go's `FormValue`): empty when absent.
    pub fn value(&self, key: &str) -> &[u8] {
        self.first(key).unwrap_or_default()
    }

    /// The first value of `key`, if given.
    pub fn first(&self, key: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.pairs
    }

    fn extend(&mut self, other: Form) {
        self.pairs.extend(other.pairs);
    }
}

/// Go's limit on a form body (`http: POST too large` above it).
pub const MAX_FORM_BODY: usize = 10 << 20;

/// Read the form of a request as Go's `Request.ParseForm` does: for POST, PUT
/// and PATCH, a body of type `application/x-www-form-urlencoded` (other types are
/// ignored), then the query. On malformed input, the form read so far and the
/// first error's text.
pub fn parse_form(
    method: &http::Method,
    content_type: Option<&[u8]>,
    body: &[u8],
    query: &str,
) -> (Form, Option<String>) {
    let mut form = Form::default();
    let mut error = None;
    if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        let ct = content_type.unwrap_or(b"application/octet-stream");
        let ct = if ct.is_empty() {
            &b"application/octet-stream"[..]
        } else {
            ct
        };
        let (media, err) = media_type(ct);
        error = err;
        if media == "application/x-www-form-urlencoded" {
            if body.len() > MAX_FORM_BODY {
                return (Form::default(), Some("http: POST too large".into()));
            }
            let (body_form, e) = parse_query(body);
            form = body_form;
            if error.is_none() {
                error = e;
            }
        }
    }
    let (query_form, e) = parse_query(query.as_bytes());
    form.extend(query_form);
    if error.is_none() {
        error = e;
    }
    (form, error)
}

/// Go's `url.ParseQuery`: `&`-separated pairs, `+` for space; a pair with `;`
/// is an error (and skipped), as is a bad escape.
pub fn parse_query(query: &[u8]) -> (Form, Option<String>) {
    let mut form = Form::default();
    let mut error: Option<String> = None;
    for pair in query.split(|&b| b == b'&') {
        if pair.contains(&b';') {
            error.get_or_insert_with(|| "invalid semicolon separator in query".into());
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        match (unescape(k, true), unescape(v, true)) {
            (Ok(k), Ok(v)) => form.pairs.push((k, v)),
            (Err(e), _) | (_, Err(e)) => {
                error.get_or_insert(e);
            }
        }
    }
    (form, error)
}

/// Go's `url` unescaping: `%XX` escapes, and in a query component `+` for a
/// space. A `%` not followed by two hex digits is Go's `invalid URL escape`.
pub fn unescape(s: &[u8], query: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(s.get(i + 1)), hex(s.get(i + 2))) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        let bad = &s[i..(i + 3).min(s.len())];
                        return Err(format!("invalid URL escape {}", go_quote(bad)));
                    }
                }
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Go's `strconv.Quote` for the short byte strings in error messages.
fn go_quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for c in String::from_utf8_lossy(s).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `mime.ParseMediaType`, as far as `ParseForm` looks: the lower-cased
/// type before any `;`, and the error for a malformed one.
fn media_type(ct: &[u8]) -> (String, Option<String>) {
    let base = ct.split(|&b| b == b';').next().unwrap_or_default();
    let media = String::from_utf8_lossy(base).trim().to_ascii_lowercase();
    let is_token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c);
    let first: String = media.chars().take_while(|&c| is_token(c)).collect();
    let rest = &media[first.len()..];
    let error = if first.is_empty() {
        Some("mime: no media type")
    } else if rest.is_empty() {
        None
    } else if let Some(sub) = rest.strip_prefix('/') {
        let second: String = sub.chars().take_while(|&c| is_token(c)).collect();
        if second.is_empty() {
            Some("mime: expected token after slash")
        } else if second.len() != sub.len() {
            Some("mime: unexpected content after media subtype")
        } else {
            None
        }
    } else {
        Some("mime: expected slash after first token")
    };
    match error {
        Some(e) => (String::new(), Some(e.to_owned())),
        None => (media, None),
    }
}

/// Go's `path.Clean` on a byte path: one slash between names, no `.`, `..`
/// resolved (never above the root), no trailing slash; `""` becomes `"."`.
pub fn clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path[0] == b'/';
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|p| *p != b"..") {
                    parts.pop();
                } else if !rooted {
                    parts.push(part);
                }
            }
            _ => parts.push(part),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    if rooted {
        out.push(b'/');
    }
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// Go's `path.Join("/", p)` followed by `Clean`: an absolute clean path.
pub fn absolute(p: &[u8]) -> Vec<u8> {
    let mut joined = b"/".to_vec();
    joined.extend_from_slice(p);
    clean(&joined)
}

/// `net/http`'s `cleanPath`: `Clean`, but a trailing slash is kept.
pub fn mux_clean(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b"/".to_vec();
    }
    let mut np = absolute(p);
    if p.ends_with(b"/") && np != b"/" {
        np.push(b'/');
    }
    np
}

/// `net/url`'s escaping of a path (what a redirect's `Location` carries).
pub fn escape_path(p: &[u8]) -> String {
    let mut out = String::with_capacity(p.len());
    for &b in p {
        let keep = b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_as_go_parses_them() {
        let (f, e) = parse_query(b"value=a+b&x=%41&&y");
        assert!(e.is_none());
        assert_eq!(f.value("value"), b"a b");
        assert_eq!(f.value("x"), b"A");
        assert!(f.has("y") && f.value("y").is_empty());
        let (_, e) = parse_query(b"value=%zz");
        assert_eq!(e.as_deref(), Some(r#"invalid URL escape "%zz""#));
        let (f, e) = parse_query(b"recursive=true;sorted=true&a=1");
        assert_eq!(e.as_deref(), Some("invalid semicolon separator in query"));
        assert_eq!(f.value("a"), b"1");
    }

    #[test]
    fn body_values_come_before_query_values() {
        let ct = Some(&b"application/x-www-form-urlencoded"[..]);
        let (f, e) = parse_form(&http::Method::PUT, ct, b"value=body", "value=query");
        assert!(e.is_none());
        assert_eq!(f.value("value"), b"body");
        let (f, _) = parse_form(&http::Method::DELETE, ct, b"value=body", "");
        assert!(!f.has("value"));
        let (f, _) = parse_form(
            &http::Method::PUT,
            Some(b"application/json"),
            b"value=x",
            "",
        );
        assert!(!f.has("value"));
    }

    #[test]
    fn paths_clean_as_go_cleans_them() {
        assert_eq!(clean(b"/a//b/../c/."), b"/a/c");
        assert_eq!(clean(b"/../.."), b"/");
        assert_eq!(mux_clean(b"/v2/keys/a/"), b"/v2/keys/a/");
        assert_eq!(mux_clean(b"/v2/keys//a"), b"/v2/keys/a");
        assert_eq!(escape_path(b"/a b/%/\xc3\xa9"), "/a%20b/%25/%C3%A9");
    }
}
