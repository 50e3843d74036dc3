//! Key paths: validation (the seed's `validate_path`), cleaning, and
//! percent-encoding (the seed's `get_fq_node_path`).
//!
//! etcd reads a key as the percent-decoded URL path after `/v2/keys`, cleaned with
//! Go's `path.Clean`. Go's router answers any path containing `//`, `/./` or
//! `/../` (even percent-encoded) with a `301` redirect, *for PUT too*, so the
//! client cleans keys itself and never relies on redirects:
//!
//! ```
//! use etcd_v2::key;
//! assert_eq!(key::clean("/a//b/./c/../d/").unwrap(), "/a/b/d");
//! assert_eq!(key::encode_path("/a b/100%/é?#&+;").as_str(), "/a%20b/100%25/%C3%A9%3F%23%26%2B%3B");
//! ```
//!
//! Every character that a Rust string can hold round-trips (control characters,
//! `%`, `?`, `#`, `&`, `+`, `;`, unicode). A `/` always separates segments: etcd
//! decodes `%2F` into a real `/`, so there is no way to put one inside a segment.
//! Keys must be absolute, as in the seed; a key whose segments start with `_` is
//! hidden from listings (etcd's convention).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::Error;

/// Characters left as they are in a path segment: RFC 3986's unreserved set.
/// Everything else is percent-encoded, including `+` and `;` (which etcd would
/// read literally anyway) so that no proxy can reinterpret them.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// etcd's listener (cmux) resets any connection whose request line exceeds 4096
/// bytes (measured against etcd 3.4: `PUT /v2/keys/<4072 bytes> HTTP/1.1\r\n` is
/// the longest accepted). Requests that would exceed it are refused client-side.
pub const MAX_REQUEST_LINE: usize = 4096;

/// Validate and clean a key: it must start with `/` (the seed's rule); `//`, `.`
/// and `..` segments are resolved as Go's `path.Clean` does (never above the
/// root); a trailing slash is dropped. The root is `/`.
///
/// ```
/// use etcd_v2::key;
/// assert_eq!(key::clean("/").unwrap(), "/");
/// assert_eq!(key::clean("/../x").unwrap(), "/x");
/// assert!(key::clean("relative").unwrap_err().is_invalid_input());
/// ```
pub fn clean(key: &str) -> Result<String, Error> {
    if !key.starts_with('/') {
        return Err(Error::InvalidKey {
            key: key.to_owned(),
            reason: "a key must be absolute (start with '/')".into(),
        });
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in key.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut cleaned = String::with_capacity(key.len());
    for segment in &segments {
        cleaned.push('/');
        cleaned.push_str(segment);
    }
    if cleaned.is_empty() {
        cleaned.push('/');
    }
    Ok(cleaned)
}

/// Percent-encode a cleaned key for the URL path, segment by segment (the `/`
/// separators stay). The result decodes back to exactly `cleaned`.
pub fn encode_path(cleaned: &str) -> String {
    let mut out = String::with_capacity(cleaned.len() + 8);
    encode_path_into(cleaned, &mut out);
    out
}

/// [`encode_path`], appended to `out`.
pub(crate) fn encode_path_into(cleaned: &str, out: &mut String) {
    // One pass: every segment is encoded with SEGMENT, and the separators
    // are kept.
    out.extend(utf8_percent_encode(cleaned, PATH));
}

/// [`SEGMENT`], keeping `/`: a whole path encoded at once.
const PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// Whether `key` is already what [`clean`] makes of it: absolute, and no
/// empty, `.` or `..` segment (`/` itself is left to `clean`).
pub(crate) fn is_clean(key: &str) -> bool {
    key.strip_prefix('/').is_some_and(|rest| {
        rest.as_bytes()
            .split(|&b| b == b'/')
            .all(|segment| !matches!(segment, b"" | b"." | b".."))
    })
}

/// Decode a percent-encoded path back to text, as etcd does (invalid UTF-8 becomes
/// U+FFFD). Inverse of [`encode_path`].
pub fn decode_path(encoded: &str) -> String {
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned()
}

/// Join a directory key and a child name (which may itself contain `/`).
///
/// ```
/// assert_eq!(etcd_v2::key::join("/queue", "00000000000000000042"), "/queue/00000000000000000042");
/// assert_eq!(etcd_v2::key::join("/queue/", "/x"), "/queue/x");
/// ```
pub fn join(dir: &str, name: &str) -> String {
    format!(
        "{}/{}",
        dir.trim_end_matches('/'),
        name.trim_start_matches('/')
    )
}

/// The key of `name` inside the directory `dir` (a queue entry, a lock
/// contender): `name` may span several segments, but none of them may be `.` or
/// `..`, and it may not be empty, so the result is always strictly below `dir`.
/// A name that would resolve elsewhere is refused rather than cleaned into
/// another place.
///
/// ```
/// use etcd_v2::key;
/// assert_eq!(key::child("/q", "00000000000000000042").unwrap(), "/q/00000000000000000042");
/// assert_eq!(key::child("/_locks", "jobs/nightly").unwrap(), "/_locks/jobs/nightly");
/// assert!(key::child("/q", "../victim").unwrap_err().is_invalid_input());
/// assert!(key::child("/_locks", "a/./b").is_err());
/// assert!(key::child("/q", "/").is_err());
/// ```
pub fn child(dir: &str, name: &str) -> Result<String, Error> {
    let refuse = |reason: &str| Error::InvalidKey {
        key: name.to_owned(),
        reason: format!("{reason}, so it cannot name something inside {dir:?}"),
    };
    if name.split('/').any(|s| s == "." || s == "..") {
        return Err(refuse("it has a '.' or '..' segment"));
    }
    if name.split('/').all(str::is_empty) {
        return Err(refuse("it is empty"));
    }
    let dir = clean(dir)?;
    let joined = clean(&join(&dir, name))?;
    let inside = dir == "/" || joined.starts_with(&format!("{dir}/"));
    if !inside || joined == dir {
        return Err(refuse("it resolves outside the directory"));
    }
    Ok(joined)
}

/// The last segment of a key (`"b"` for `/a/b`); etcd hides keys whose last
/// segment starts with `_`.
pub fn basename(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_matches_go_path_clean() {
        let cases = [
            ("/", "/"),
            ("//", "/"),
            ("/a", "/a"),
            ("/a/", "/a"),
            ("/a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../../a", "/a"),
            ("/a/b/..", "/a"),
            ("/a/...", "/a/..."),
            ("/.hidden/..x", "/.hidden/..x"),
            ("/_h", "/_h"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn a_key_is_clean_exactly_when_cleaning_leaves_it_as_it_is() {
        let keys = [
            "/",
            "//",
            "/a",
            "/a/",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/../../a",
            "/a/b/..",
            "/a/...",
            "/.hidden/..x",
            "/_h",
            "/a/b/c",
            "/.",
            "/..",
            "/a/.",
            "",
            "a",
            " /a",
            "/a b/c%2F",
            "/ü/ß",
        ];
        for key in keys {
            let same = clean(key).is_ok_and(|c| c == key);
            assert_eq!(is_clean(key), same && key != "/", "{key:?}");
        }
    }

    #[test]
    fn relative_and_empty_keys_are_invalid() {
        for bad in ["", "a", "a/b", " /a"] {
            let err = clean(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("absolute"));
        }
    }

    #[test]
    fn awkward_characters_are_encoded_and_decode_back() {
        let keys = [
            "/a b",
            "/100%",
            "/what?",
            "/x#y",
            "/a&b=c",
            "/a+b",
            "/a;b",
            "/é/日本/😀",
            "/tab\there",
            "/nul\0byte",
            "/del\u{7f}",
            "/line\u{2028}sep",
            "/%2F",
            "/%2E%2E",
            "/a:b@c~d",
        ];
        for k in keys {
            let enc = encode_path(k);
            assert!(
                enc.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#'),
                "{enc}"
            );
            assert_eq!(decode_path(&enc), k);
        }
        assert_eq!(encode_path("/a b/c"), "/a%20b/c");
        assert_eq!(encode_path("/%2F"), "/%252F");
        assert_eq!(encode_path("/"), "/");
    }

    #[test]
    fn children_stay_inside_their_directory() {
        assert_eq!(child("/q", "1").unwrap(), "/q/1");
        assert_eq!(child("/q/", "/a//b/").unwrap(), "/q/a/b");
        assert_eq!(child("/", "x").unwrap(), "/x");
        for bad in ["..", "../x", "a/../../x", ".", "./a", "", "/", "//", "a/.."] {
            let err = child("/q", bad).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn join_and_basename() {
        assert_eq!(join("/q", "1"), "/q/1");
        assert_eq!(join("/q/", "/1"), "/q/1");
        assert_eq!(basename("/a/_b"), "_b");
        assert_eq!(basename("/"), "");
    }
}
