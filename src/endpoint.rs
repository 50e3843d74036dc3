//! An etcd member's client URL (`http://127.0.0.1:2379`).

use std::fmt;

use crate::error::Error;

/// The client URL of one etcd member: scheme, host and port, with no path.
///
/// ```
/// use etcd_v2::Endpoint;
/// let e = Endpoint::parse("http://127.0.0.1:2379/").unwrap();
/// assert_eq!(e.as_str(), "http://127.0.0.1:2379");
/// assert_eq!(Endpoint::new("::1", 2379, true).as_str(), "https://[::1]:2379");
/// assert!(Endpoint::parse("ftp://x").is_err());
/// ```
#[derive(Clone)]
pub struct Endpoint {
    // Shared: an endpoint is cloned into every attempt, and a clone costs no
    // allocation.
    prefix: std::sync::Arc<str>,
    https: bool,
    // The prefix as a URI's scheme and authority, read once: a request's URI
    // is assembled from them and its path. `None` when the host makes no
    // valid authority (building a request then fails, naming the URI).
    parts: Option<(http::uri::Scheme, http::uri::Authority)>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("prefix", &self.prefix)
            .field("https", &self.https)
            .finish()
    }
}

// The parts follow from the prefix: equality and hashing are the prefix's.
impl PartialEq for Endpoint {
    fn eq(&self, other: &Endpoint) -> bool {
        self.prefix == other.prefix && self.https == other.https
    }
}

impl Eq for Endpoint {}

impl std::hash::Hash for Endpoint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.prefix.hash(state);
        self.https.hash(state);
    }
}

impl Endpoint {
    /// An endpoint from a host name or IP address and a port (the seed's
    /// `Client(host, port, is_ssl)`). IPv6 addresses are bracketed.
    pub fn new(host: &str, port: u16, https: bool) -> Endpoint {
        let scheme = if https { "https" } else { "http" };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let prefix = if host.contains(':') {
            format!("{scheme}://[{host}]:{port}")
        } else {
            format!("{scheme}://{host}:{port}")
        };
        let scheme = if https {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        };
        let authority = prefix
            .split_once("://")
            .and_then(|(_, authority)| http::uri::Authority::try_from(authority).ok());
        Endpoint {
            parts: authority.map(|authority| (scheme, authority)),
            prefix: prefix.into(),
            https,
        }
    }

    /// Parse a client URL: `http://host:port` or `https://host:port`, an optional
    /// trailing `/`, no path, no credentials (give those to the client builder).
    /// A URL without a port gets etcd's default client port, 2379.
    pub fn parse(url: &str) -> Result<Endpoint, Error> {
        let bad = |reason: &str| Error::invalid_argument("endpoint", format!("{url:?}: {reason}"));
        let uri: http::Uri = url
            .trim()
            .parse()
            .map_err(|e| bad(&format!("not a URL ({e})")))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(bad(&format!("scheme {other:?} is not http or https"))),
            None => return Err(bad("missing scheme (http:// or https://)")),
        };
        let authority = uri.authority().ok_or_else(|| bad("missing host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials do not belong in the URL; use the builder's basic_auth",
            ));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("an endpoint has no path or query"));
        }
        if authority.host().is_empty() {
            return Err(bad("missing host"));
        }
        // `Authority::port` hides a port that does not fit in 16 bits: read it here.
        let port_text = authority
            .as_str()
            .strip_prefix(authority.host())
            .unwrap_or("")
            .trim_start_matches(':');
        let port = if port_text.is_empty() {
            2379
        } else {
            port_text.parse::<u16>().map_err(|_| {
                bad(&format!(
                    "port {port_text:?} is not a number from 0 to 65535"
                ))
            })?
        };
        Ok(Endpoint::new(authority.host(), port, https))
    }

    /// The URL prefix, e.g. `http://127.0.0.1:2379` (the seed's `prefix`).
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// Whether the endpoint uses TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The URI of `path_and_query` (already encoded) on this endpoint, from
    /// the parts read once rather than by parsing the whole URL again.
    pub(crate) fn uri(&self, path_and_query: String) -> Result<http::Uri, Error> {
        let bad = |e: &dyn fmt::Display| Error::invalid_argument("request", e.to_string());
        let Some((scheme, authority)) = &self.parts else {
            return http::Uri::try_from(format!("{}{path_and_query}", self.prefix))
                .map_err(|e| bad(&e));
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(scheme.clone());
        parts.authority = Some(authority.clone());
        parts.path_and_query =
            Some(http::uri::PathAndQuery::try_from(path_and_query).map_err(|e| bad(&e))?);
        http::Uri::from_parts(parts).map_err(|e| bad(&e))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix)
    }
}

impl std::str::FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Endpoint, Error> {
        Endpoint::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let cases = [
            ("http://127.0.0.1:2379", "http://127.0.0.1:2379"),
            ("https://etcd.local:4001/", "https://etcd.local:4001"),
            ("http://[::1]:2379", "http://[::1]:2379"),
            ("http://example", "http://example:2379"),
        ];
        for (input, want) in cases {
            assert_eq!(Endpoint::parse(input).unwrap().as_str(), want);
        }
        assert!(Endpoint::parse("https://h:1").unwrap().is_https());
    }

    #[test]
    fn a_uri_assembled_from_the_parts_is_the_whole_url_parsed() {
        for (endpoint, path) in [
            ("http://127.0.0.1:2379", "/v2/keys/a%20b?recursive=true"),
            ("https://etcd.local:4001", "/v2/keys/x"),
            ("http://[::1]:2379", "/version"),
        ] {
            let e = Endpoint::parse(endpoint).unwrap();
            let whole: http::Uri = format!("{endpoint}{path}").parse().unwrap();
            assert_eq!(e.uri(path.to_owned()).unwrap(), whole);
            assert_eq!(
                e.uri(path.to_owned()).unwrap().to_string(),
                whole.to_string()
            );
        }
        // A host that makes no authority still fails, when the request is built.
        let odd = Endpoint::new("a b", 1, false);
        assert!(odd.uri("/v2/keys/x".to_owned()).is_err());
        assert_eq!(odd, odd.clone());
    }

    #[test]
    fn refuses_what_is_not_an_endpoint() {
        for bad in [
            "",
            "127.0.0.1:2379",
            "ftp://h:1",
            "http://h:1/v2",
            "http://h:1/?x=1",
            "http://u:p@h:1",
            "http://h:99999",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(err.is_invalid_input(), "{bad}: {err}");
        }
    }
}
