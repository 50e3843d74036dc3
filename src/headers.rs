//! The names of the headers etcd sends, made once: looking a header up by a
//! ready [`HeaderName`] skips parsing its name on every answer, and a
//! transport reading an answer reuses these instead of building each name
//! from its bytes.

use http::header::{HeaderName, HeaderValue};

/// The lower-case names of etcd's own headers, written once: the
/// [`HeaderName`]s below are made from them, and code that matches a name as
/// text ([`Cluster::find`]) matches these.
pub(crate) mod lower {
    /// `x-etcd-index`.
    pub(crate) const X_ETCD_INDEX: &str = "x-etcd-index";
    /// `x-etcd-cluster-id`.
    pub(crate) const X_ETCD_CLUSTER_ID: &str = "x-etcd-cluster-id";
    /// `x-raft-index`.
    pub(crate) const X_RAFT_INDEX: &str = "x-raft-index";
    /// `x-raft-term`.
    pub(crate) const X_RAFT_TERM: &str = "x-raft-term";
}

/// `X-Etcd-Index`: the store's index when the answer was made.
pub(crate) const X_ETCD_INDEX: HeaderName = HeaderName::from_static(lower::X_ETCD_INDEX);
/// `X-Etcd-Cluster-Id`: the cluster's ID, in hexadecimal.
pub(crate) const X_ETCD_CLUSTER_ID: HeaderName = HeaderName::from_static(lower::X_ETCD_CLUSTER_ID);
/// `X-Raft-Index`: the member's raft index.
pub(crate) const X_RAFT_INDEX: HeaderName = HeaderName::from_static(lower::X_RAFT_INDEX);
/// `X-Raft-Term`: the member's raft term.
pub(crate) const X_RAFT_TERM: HeaderName = HeaderName::from_static(lower::X_RAFT_TERM);

/// etcd's four cluster headers of one answer, found in one pass over its
/// headers (a name matched as text, its length first, which is cheaper than
/// hashing it for a lookup); of a repeated header the first counts.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cluster<'a> {
    /// `X-Etcd-Index`.
    pub(crate) etcd_index: Option<&'a HeaderValue>,
    /// `X-Raft-Index`.
    pub(crate) raft_index: Option<&'a HeaderValue>,
    /// `X-Raft-Term`.
    pub(crate) raft_term: Option<&'a HeaderValue>,
    /// `X-Etcd-Cluster-Id`.
    pub(crate) cluster_id: Option<&'a HeaderValue>,
}

impl<'a> Cluster<'a> {
    /// Find the cluster headers among `headers`.
    pub(crate) fn find(headers: &'a http::HeaderMap) -> Cluster<'a> {
        let mut found = Cluster::default();
        for (name, value) in headers {
            let slot = match name.as_str() {
                lower::X_ETCD_INDEX => &mut found.etcd_index,
                lower::X_RAFT_INDEX => &mut found.raft_index,
                lower::X_RAFT_TERM => &mut found.raft_term,
                lower::X_ETCD_CLUSTER_ID => &mut found.cluster_id,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        found
    }
}

/// A header's value read as a number exactly as
/// `value.to_str().ok()?.trim().parse::<u64>().ok()` reads it (spaces and
/// tabs around it, an optional `+`, at least one digit, no overflow), without
/// the checks of text a value of digits does not need.
pub(crate) fn number(value: &HeaderValue) -> Option<u64> {
    // Of the whitespace `str::trim` takes, `to_str` lets through only spaces
    // and tabs; any other byte that is not a digit (or a leading `+`) makes
    // both readings fail.
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = value.as_bytes();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |at| at + 1);
    let text = &bytes[start..end];
    let digits = text.strip_prefix(b"+").unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The headers an etcd answer usually carries as etcd (Go) spells them, each
/// spelling written once: [`KNOWN`] and the `match` in [`well_known`] both
/// use these.
#[cfg(feature = "http1")]
mod spelled {
    pub(super) const ALLOW_HEADERS: &str = "Access-Control-Allow-Headers";
    pub(super) const ALLOW_METHODS: &str = "Access-Control-Allow-Methods";
    pub(super) const ALLOW_ORIGIN: &str = "Access-Control-Allow-Origin";
    pub(super) const CONTENT_TYPE: &str = "Content-Type";
    pub(super) const ETCD_CLUSTER_ID: &str = "X-Etcd-Cluster-Id";
    pub(super) const ETCD_INDEX: &str = "X-Etcd-Index";
    pub(super) const RAFT_INDEX: &str = "X-Raft-Index";
    pub(super) const RAFT_TERM: &str = "X-Raft-Term";
    pub(super) const DATE: &str = "Date";
    pub(super) const CONTENT_LENGTH: &str = "Content-Length";
    pub(super) const TRANSFER_ENCODING: &str = "Transfer-Encoding";
    pub(super) const CONNECTION: &str = "Connection";
}

/// The headers an etcd answer usually carries, in the order etcd sends them.
#[cfg(feature = "http1")]
static KNOWN: [(&str, HeaderName); 12] = {
    use http::header;
    [
        (spelled::ALLOW_HEADERS, header::ACCESS_CONTROL_ALLOW_HEADERS),
        (spelled::ALLOW_METHODS, header::ACCESS_CONTROL_ALLOW_METHODS),
        (spelled::ALLOW_ORIGIN, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        (spelled::CONTENT_TYPE, header::CONTENT_TYPE),
        (spelled::ETCD_CLUSTER_ID, X_ETCD_CLUSTER_ID),
        (spelled::ETCD_INDEX, X_ETCD_INDEX),
        (spelled::RAFT_INDEX, X_RAFT_INDEX),
        (spelled::RAFT_TERM, X_RAFT_TERM),
        (spelled::DATE, header::DATE),
        (spelled::CONTENT_LENGTH, header::CONTENT_LENGTH),
        (spelled::TRANSFER_ENCODING, header::TRANSFER_ENCODING),
        (spelled::CONNECTION, header::CONNECTION),
    ]
};

/// The name of a header, in any case, if it is one etcd usually sends
/// (`None` for any other: build that one from its bytes). etcd's own
/// spelling is matched byte for byte first, any other case after.
#[cfg(feature = "http1")]
pub(crate) fn well_known(name: &str) -> Option<HeaderName> {
    // etcd's spelling: a `match` on the text is a jump on its length and one
    // comparison. The positions are [`KNOWN`]'s (a test checks them).
    let at = match name {
        spelled::ALLOW_HEADERS => 0,
        spelled::ALLOW_METHODS => 1,
        spelled::ALLOW_ORIGIN => 2,
        spelled::CONTENT_TYPE => 3,
        spelled::ETCD_CLUSTER_ID => 4,
        spelled::ETCD_INDEX => 5,
        spelled::RAFT_INDEX => 6,
        spelled::RAFT_TERM => 7,
        spelled::DATE => 8,
        spelled::CONTENT_LENGTH => 9,
        spelled::TRANSFER_ENCODING => 10,
        spelled::CONNECTION => 11,
        _ => {
            return KNOWN
                .iter()
                .find(|(spelled, _)| spelled.eq_ignore_ascii_case(name))
                .map(|(_, known)| known.clone())
        }
    };
    Some(KNOWN[at].1.clone())
}

#[cfg(all(test, feature = "http1"))]
mod tests {
    use super::*;
    use http::header;

    #[test]
    fn known_names_match_in_any_case_and_others_do_not() {
        assert_eq!(well_known("X-Etcd-Index"), Some(X_ETCD_INDEX));
        assert_eq!(well_known("content-type"), Some(header::CONTENT_TYPE));
        assert_eq!(well_known("DATE"), Some(header::DATE));
        assert_eq!(well_known("X-Raft-Term"), Some(X_RAFT_TERM));
        assert_eq!(well_known("X-Raft-Terms"), None);
        assert_eq!(well_known("X-Etcd-Inde"), None);
        assert_eq!(
            well_known("access-control-allow-METHODS"),
            Some(header::ACCESS_CONTROL_ALLOW_METHODS)
        );
        for (spelled, name) in &KNOWN {
            // The fast path's positions match the table's.
            assert_eq!(well_known(spelled).as_ref(), Some(name));
            assert_eq!(
                well_known(&spelled.to_ascii_uppercase()).as_ref(),
                Some(name)
            );
            assert_eq!(well_known(name.as_str()).as_ref(), Some(name));
        }
        assert_eq!(well_known("Server"), None);
        assert_eq!(well_known(""), None);
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::*;

    /// `number` reads every value as the text reading it replaces does.
    #[test]
    fn a_number_reads_as_trim_then_parse() {
        let mut values: Vec<Vec<u8>> = [
            "0",
            "7",
            " 42\t",
            "+5",
            "++5",
            "-5",
            "+",
            "",
            " ",
            "1 2",
            "18446744073709551615",
            "18446744073709551616",
            "000000000000000000000000000001",
            "0x10",
            "12a",
            "٣",
            "1\u{a0}",
        ]
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
        values.push(b"9\x80".to_vec());
        values.push(b"\t\t+0012 ".to_vec());
        // Every single byte a header value may hold, alone and beside digits.
        for b in (0u8..=255).filter(|&b| b == b'\t' || (b >= 32 && b != 127)) {
            values.push(vec![b]);
            values.push(vec![b'1', b]);
            values.push(vec![b, b'2']);
        }
        for bytes in values {
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            let by_text = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            assert_eq!(number(&value), by_text, "{bytes:?}");
        }
    }

    /// The first of a repeated cluster header counts, whatever the case it
    /// was sent in, and other headers are passed over.
    #[test]
    fn the_cluster_headers_are_found_in_one_pass() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::DATE, HeaderValue::from_static("today"));
        headers.append(X_RAFT_TERM, HeaderValue::from_static("3"));
        headers.append(X_RAFT_TERM, HeaderValue::from_static("9"));
        headers.insert(
            HeaderName::from_bytes(b"X-Etcd-Cluster-ID").unwrap(),
            HeaderValue::from_static("cdf818194e3a8c32"),
        );
        headers.insert(X_ETCD_INDEX, HeaderValue::from_static("12"));
        let found = Cluster::find(&headers);
        assert_eq!(found.raft_term.and_then(number), Some(3));
        assert_eq!(found.etcd_index.and_then(number), Some(12));
        assert_eq!(found.raft_index, None);
        assert_eq!(
            found.cluster_id.map(HeaderValue::as_bytes),
            Some(&b"cdf818194e3a8c32"[..])
        );
        assert!(Cluster::find(&http::HeaderMap::new()).etcd_index.is_none());
    }
}
