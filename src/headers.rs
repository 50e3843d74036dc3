//! The names of the headers etcd sends, made once: looking a header up by a
//! ready [`HeaderName`] skips parsing its name on every answer, and a
//! transport reading an answer reuses these instead of building each name
//! from its bytes.

use http::header::HeaderName;

/// `X-Etcd-Index`: the store's index when the answer was made.
pub(crate) const X_ETCD_INDEX: HeaderName = HeaderName::from_static("x-etcd-index");
/// `X-Etcd-Cluster-Id`: the cluster's ID, in hexadecimal.
pub(crate) const X_ETCD_CLUSTER_ID: HeaderName = HeaderName::from_static("x-etcd-cluster-id");
/// `X-Raft-Index`: the member's raft index.
pub(crate) const X_RAFT_INDEX: HeaderName = HeaderName::from_static("x-raft-index");
/// `X-Raft-Term`: the member's raft term.
pub(crate) const X_RAFT_TERM: HeaderName = HeaderName::from_static("x-raft-term");

/// The headers an etcd answer usually carries, as etcd (Go) spells them, in
/// the order it sends them.
#[cfg(feature = "http1")]
static KNOWN: [(&str, HeaderName); 12] = {
    use http::header;
    [
        (
            "Access-Control-Allow-Headers",
            header::ACCESS_CONTROL_ALLOW_HEADERS,
        ),
        (
            "Access-Control-Allow-Methods",
            header::ACCESS_CONTROL_ALLOW_METHODS,
        ),
        (
            "Access-Control-Allow-Origin",
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
        ),
        ("Content-Type", header::CONTENT_TYPE),
        ("X-Etcd-Cluster-Id", X_ETCD_CLUSTER_ID),
        ("X-Etcd-Index", X_ETCD_INDEX),
        ("X-Raft-Index", X_RAFT_INDEX),
        ("X-Raft-Term", X_RAFT_TERM),
        ("Date", header::DATE),
        ("Content-Length", header::CONTENT_LENGTH),
        ("Transfer-Encoding", header::TRANSFER_ENCODING),
        ("Connection", header::CONNECTION),
    ]
};

/// The name of a header, in any case, if it is one etcd usually sends
/// (`None` for any other: build that one from its bytes). etcd's own
/// spelling is matched byte for byte first, any other case after.
#[cfg(feature = "http1")]
pub(crate) fn well_known(name: &str) -> Option<HeaderName> {
    // etcd's spelling: a `match` on the text is a jump on its length and one
    // comparison.
    let at = match name {
        "Access-Control-Allow-Headers" => 0,
        "Access-Control-Allow-Methods" => 1,
        "Access-Control-Allow-Origin" => 2,
        "Content-Type" => 3,
        "X-Etcd-Cluster-Id" => 4,
        "X-Etcd-Index" => 5,
        "X-Raft-Index" => 6,
        "X-Raft-Term" => 7,
        "Date" => 8,
        "Content-Length" => 9,
        "Transfer-Encoding" => 10,
        "Connection" => 11,
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
