//! The members API (`/v2/members`): list, add, remove, update, leader. Its errors
//! are `{"message": ...}` bodies ([`Error::Api`]).

use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::{json_request, Operation};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::response::{parse_empty, parse_json};

/// A cluster member.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The member ID (16 hex digits).
    pub id: String,
    /// The name; empty for a member added but not started yet.
    #[serde(default)]
    pub name: String,
    /// The peer URLs.
    #[serde(default, rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    /// The client URLs; empty for a member not started yet.
    #[serde(default, rename = "clientURLs")]
    pub client_urls: Vec<String>,
}

#[derive(Deserialize)]
struct RawMembers {
    #[serde(default)]
    members: Option<Vec<Member>>,
}

fn member_path(id: &str) -> Result<String, Error> {
    if id.is_empty() || id.len() > 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid_argument(
            "id",
            format!("{id:?}: a member ID is 1 to 16 hex digits"),
        ));
    }
    Ok(format!("/v2/members/{id}"))
}

fn check_urls(urls: &[String]) -> Result<(), Error> {
    if urls.is_empty() {
        return Err(Error::invalid_argument(
            "peer_urls",
            "at least one peer URL is needed",
        ));
    }
    Ok(())
}

/// `GET /v2/members`.
///
/// ```
/// use etcd_v2::{ops::members::List, Operation};
/// let r = http::Response::builder().status(200).body(
///     br#"{"members":[{"id":"1e94b85c0897e61c","name":"t1","peerURLs":["http://127.0.0.1:2380"],"clientURLs":["http://127.0.0.1:2379"]}]}"#.to_vec(),
/// ).unwrap();
/// let members = List.parse(r).unwrap();
/// assert_eq!(members[0].client_urls, ["http://127.0.0.1:2379"]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct List;

impl Operation for List {
    type Output = Vec<Member>;
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        json_request(endpoint, Method::GET, "/v2/members", None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Vec<Member>, Error> {
        let raw: RawMembers = parse_json(&response, "a member list")?;
        Ok(raw.members.unwrap_or_default())
    }
    fn idempotent(&self) -> bool {
        true
    }
}

/// `GET /v2/members/leader`: the current leader (503 during an election).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leader;

impl Operation for Leader {
    type Output = Member;
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        json_request(endpoint, Method::GET, "/v2/members/leader", None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Member, Error> {
        parse_json(&response, "a member")
    }
    fn idempotent(&self) -> bool {
        true
    }
}

/// `POST /v2/members`: add a member by its peer URLs (201 with the new member,
/// unnamed until it starts). Not safe to resend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    peer_urls: Vec<String>,
}

impl Add {
    /// Add a member reachable at `peer_urls`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(peer_urls: I) -> Add {
        Add {
            peer_urls: peer_urls.into_iter().map(Into::into).collect(),
        }
    }
}

impl Operation for Add {
    type Output = Member;
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_urls(&self.peer_urls)?;
        let body = json!({ "peerURLs": self.peer_urls });
        json_request(endpoint, Method::POST, "/v2/members", Some(&body))
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Member, Error> {
        parse_json(&response, "a member")
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// `DELETE /v2/members/<id>` (204; 404 if unknown, 410 if already removed). Not
/// safe to resend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remove {
    id: String,
}

impl Remove {
    /// Remove the member `id`.
    pub fn new(id: impl Into<String>) -> Remove {
        Remove { id: id.into() }
    }
}

impl Operation for Remove {
    type Output = ();
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        json_request(endpoint, Method::DELETE, &member_path(&self.id)?, None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<(), Error> {
        parse_empty(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// `PUT /v2/members/<id>`: change a member's peer URLs (204).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    id: String,
    peer_urls: Vec<String>,
}

impl Update {
    /// Give member `id` these peer URLs.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        id: impl Into<String>,
        peer_urls: I,
    ) -> Update {
        Update {
            id: id.into(),
            peer_urls: peer_urls.into_iter().map(Into::into).collect(),
        }
    }
}

impl Operation for Update {
    type Output = ();
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_urls(&self.peer_urls)?;
        let body = json!({ "peerURLs": self.peer_urls });
        json_request(endpoint, Method::PUT, &member_path(&self.id)?, Some(&body))
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<(), Error> {
        parse_empty(&response)
    }
    /// A second application would overwrite a change made in between.
    fn idempotent(&self) -> bool {
        false
    }
}
