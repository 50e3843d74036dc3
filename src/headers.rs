//! The names of the headers etcd sends, made once: looking a header up by a
//! ready [`HeaderName`] skips parsing its name on every answer, and a
//! transport reading an answer reuses these instead of building each name
//! from its bytes.

use http::header::HeaderName;

/// The lower-case names of etcd's own headers, written once: the
/// [`HeaderName`]s below are made from them, and code that matches a name as
/// text (`ClusterInfo::from_headers`) matches these.
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
