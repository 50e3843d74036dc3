//! What a member answers on its peer URL: etcd 3.4's peer handler serves
//! raft's own paths, `/members` and `/version`; everything else is Go's 404
//! (captures 519 and 520).

use crate::server::json::{self, Object};
use crate::server::reply;

use super::cluster::Cluster;

impl Cluster {
    /// The serving member whose peer URL is `authority` (`host:port`), if any.
    pub fn peer_at(&self, scheme: &str, authority: &str) -> Option<usize> {
        let url = format!("{scheme}://{authority}");
        self.members
            .iter()
            .position(|m| m.is_serving() && m.peer_urls.iter().any(|u| u == &url))
    }

    /// A request to a member's peer URL.
    pub fn peer_answer(&self, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match req.uri().path() {
            "/members" if req.method() == http::Method::GET => {
                reply::json(200, self.peer_members_json(), Some(self.id))
            }
            "/members" => reply::method_not_allowed("GET", Some(self.id)),
            "/version" => reply::json(
                200,
                br#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#.to_vec(),
                None,
            ),
            _ => reply::not_found(),
        }
    }

    /// `/members` on a peer URL: Go's encoding of the member structures
    /// (decimal IDs, fields in their declaration order), sorted by ID.
    fn peer_members_json(&self) -> Vec<u8> {
        let mut listed: Vec<_> = self.members.iter().filter(|m| !m.removed).collect();
        listed.sort_by_key(|m| m.id);
        let mut out = Vec::with_capacity(256);
        json::array(&mut out, &listed, |o, m| {
            Object::new(o)
                .number("id", m.id)
                .raw("peerURLs", |o| json::strings(o, &m.peer_urls))
                .string("name", m.name.as_bytes())
                .raw("clientURLs", |o| json::strings(o, &m.client_urls))
                .end();
        });
        out.push(b'\n');
        out
    }
}
