//! The cluster side of v2 over the bridge: `/v2/members` (list, leader, add,
//! remove, update) and `/v2/machines`, carried out with
//! `/v3/cluster/member/*` and `/v3/maintenance/status` and answered as etcd
//! v2 answers them.

use std::time::Instant;

use serde::Deserialize;
use serde_json::{json, Value};

use super::v3::{number, Header, Post};
use super::{Answer, Outcome, Request};
use crate::error::Error;
use crate::machine::{output_once, Step};
use crate::memory::cluster::{members_json, Health, Member};
use crate::server::reply;
use crate::server::request::MembersRequest;

/// What is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// `GET /v2/machines`: every member's client URLs.
    Machines,
    /// A members request.
    Members(MembersRequest),
}

/// A member as the v3 gateway lists it.
#[derive(Debug, Clone, Deserialize)]
struct V3Member {
    #[serde(rename = "ID", deserialize_with = "number")]
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

impl V3Member {
    fn v2(&self) -> Member {
        Member {
            id: self.id,
            name: self.name.clone(),
            peer_urls: self.peer_urls.clone(),
            client_urls: self.client_urls.clone(),
            health: Health::Up,
            removed: false,
            started: 0,
            appends: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Listed {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    members: Vec<V3Member>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default, deserialize_with = "number")]
    leader: u64,
}

#[derive(Deserialize)]
struct Added {
    member: V3Member,
}

/// Where an [`Admin`] call is.
#[derive(Debug)]
enum State {
    /// Ready to list the members (every ask starts there: it also checks the
    /// cluster ID before anything changes).
    List,
    Listing,
    /// Ready to ask the answering member who leads.
    Status(Listed),
    StatusSent(Listed),
    /// Ready to change the membership.
    Change(Listed),
    Changing(Listed),
    Done(Option<Result<http::Response<Vec<u8>>, Error>>),
}

/// One `/v2/members` or `/v2/machines` request over the bridge: a
/// [`Machine`](crate::machine::Machine) whose output is etcd v2's answer.
#[derive(Debug)]
pub struct Admin {
    ask: Ask,
    state: State,
    cluster_id: Option<String>,
    deadline: Option<Instant>,
}

impl Admin {
    /// Carry out `ask`.
    pub fn new(ask: Ask) -> Admin {
        Admin {
            ask,
            state: State::List,
            cluster_id: None,
            deadline: None,
        }
    }

    /// Only work with the cluster whose ID (hex) is `id`: a list from another
    /// is refused with [`Error::ClusterIdMismatch`] before any change.
    pub fn expect_cluster(mut self, id: Option<String>) -> Admin {
        self.cluster_id = id;
        self
    }

    /// End with [`Error::DeadlineExceeded`] if not over by `deadline`
    /// (checked before each request: a change is the last one).
    pub fn deadline(mut self, deadline: Option<Instant>) -> Admin {
        self.deadline = deadline;
        self
    }

    fn listed(&mut self, value: Value) -> Result<(), Error> {
        let listed: Listed = serde_json::from_value(value).map_err(|e| decode_error(&e))?;
        let found = reply::cluster_id_text(listed.header.cluster_id);
        if let Some(expected) = &self.cluster_id {
            if !expected.eq_ignore_ascii_case(&found) {
                return Err(Error::ClusterIdMismatch {
                    endpoint: String::new(),
                    expected: expected.clone(),
                    found,
                });
            }
        }
        let id = Some(listed.header.cluster_id);
        self.state = match &self.ask {
            Ask::Machines => {
                let urls: Vec<&str> = listed
                    .members
                    .iter()
                    .flat_map(|m| m.client_urls.iter().map(String::as_str))
                    .collect();
                let mut answer = reply::text(200, urls.join(", ").into_bytes());
                if let Some(id) = id {
                    insert_cluster_id(&mut answer, id);
                }
                State::Done(Some(Ok(answer)))
            }
            Ask::Members(MembersRequest::List) => {
                let members: Vec<Member> = listed.members.iter().map(V3Member::v2).collect();
                let body = members_json(members.iter().collect());
                State::Done(Some(Ok(reply::json(200, body, id))))
            }
            Ask::Members(MembersRequest::Leader) => State::Status(listed),
            Ask::Members(_) => State::Change(listed),
        };
        Ok(())
    }

    fn leader(&mut self, listed: &Listed, value: Value) -> Result<(), Error> {
        let status: Status = serde_json::from_value(value).map_err(|e| decode_error(&e))?;
        let id = Some(listed.header.cluster_id);
        let answer = match listed.members.iter().find(|m| m.id == status.leader) {
            Some(m) if status.leader != 0 => {
                let mut body = Vec::new();
                m.v2().write_json(&mut body);
                body.push(b'\n');
                reply::json(200, body, id)
            }
            _ => reply::http_error(503, "During election", id),
        };
        self.state = State::Done(Some(Ok(answer)));
        Ok(())
    }

    /// The v3 request of a membership change.
    fn change(&self) -> Post {
        let (path, body) = match &self.ask {
            Ask::Members(MembersRequest::Add(peers)) => {
                ("/v3/cluster/member/add", json!({ "peerURLs": peers }))
            }
            Ask::Members(MembersRequest::Remove(id)) => {
                ("/v3/cluster/member/remove", json!({ "ID": id.to_string() }))
            }
            Ask::Members(MembersRequest::Update(id, peers)) => (
                "/v3/cluster/member/update",
                json!({ "ID": id.to_string(), "peerURLs": peers }),
            ),
            // Reads never get here (see `listed`).
            _ => ("/v3/cluster/member/list", json!({})),
        };
        Post::applying(path, body)
    }

    /// etcd v2's answer to the change's outcome.
    fn changed(
        &self,
        listed: &Listed,
        outcome: Result<Value, Error>,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let id = listed.header.cluster_id;
        let message = match outcome {
            Ok(value) => {
                return match &self.ask {
                    Ask::Members(MembersRequest::Add(_)) => {
                        let added: Added =
                            serde_json::from_value(value).map_err(|e| decode_error(&e))?;
                        let mut body = Vec::new();
                        added.member.v2().write_json(&mut body);
                        body.push(b'\n');
                        Ok(reply::json(201, body, Some(id)))
                    }
                    _ => Ok(reply::no_content(id)),
                };
            }
            Err(Error::Api { message, .. }) => message,
            Err(e) => return Err(e),
        };
        let member = match &self.ask {
            Ask::Members(MembersRequest::Remove(m) | MembersRequest::Update(m, _)) => *m,
            _ => 0,
        };
        // etcd's v3 messages (rpctypes), as v2's members API words them.
        let (status, v2) = match message.as_str() {
            "etcdserver: member not found" => (404, format!("No such member: {member:x}")),
            "etcdserver: ID removed" => (410, format!("Member permanently removed: {member:x}")),
            "etcdserver: Peer URLs already exists" => (409, "membership: peerURL exists".into()),
            _ => (500, message),
        };
        Ok(reply::http_error(status, &v2, Some(id)))
    }
}

fn insert_cluster_id(answer: &mut http::Response<Vec<u8>>, id: u64) {
    if let Ok(value) = http::HeaderValue::from_str(&reply::cluster_id_text(id)) {
        answer.headers_mut().insert("X-Etcd-Cluster-Id", value);
    }
}

fn decode_error(e: &serde_json::Error) -> Error {
    Error::Decode {
        endpoint: String::new(),
        status: 200,
        reason: e.to_string(),
        body: String::new(),
    }
}

impl Admin {
    fn step(&mut self, now: Instant) -> Step<Request, (), Answer> {
        let ready = matches!(
            self.state,
            State::List | State::Status(_) | State::Change(_)
        );
        if ready && self.deadline.is_some_and(|d| now >= d) {
            self.state = State::Done(None);
            return Step::Done(Err(Error::DeadlineExceeded(
                "the call's deadline passed before it was over; nothing was changed".into(),
            )));
        }
        match std::mem::replace(&mut self.state, State::Done(None)) {
            State::Done(mut output) => output_once(&mut output, "bridge members call"),
            State::List => {
                self.state = State::Listing;
                Step::Send(Request::Post(Post::reading(
                    "/v3/cluster/member/list",
                    json!({}),
                )))
            }
            State::Status(listed) => {
                self.state = State::StatusSent(listed);
                Step::Send(Request::Post(Post::reading(
                    "/v3/maintenance/status",
                    json!({}),
                )))
            }
            State::Change(listed) => {
                let change = self.change();
                self.state = State::Changing(listed);
                Step::Send(Request::Post(change))
            }
            in_flight @ (State::Listing | State::StatusSent(_) | State::Changing(_)) => {
                self.state = in_flight;
                Step::Done(Err(Error::Misuse(
                    "the bridge members call was polled while a request was in flight".into(),
                )))
            }
        }
    }

    fn take(&mut self, outcome: Outcome, _now: Instant) -> Result<(), Error> {
        let Outcome::Post(result) = outcome else {
            return Err(Error::Misuse(
                "a bridge outcome that does not match the request in flight".into(),
            ));
        };
        let state = std::mem::replace(&mut self.state, State::Done(None));
        let handled = match (state, result) {
            (State::Listing, Ok(value)) => self.listed(value),
            (State::StatusSent(listed), Ok(value)) => self.leader(&listed, value),
            (State::Changing(listed), result) => {
                let answer = self.changed(&listed, result);
                self.state = State::Done(Some(answer));
                Ok(())
            }
            (State::Listing | State::StatusSent(_), Err(e)) => Err(e),
            (other, _) => {
                self.state = other;
                return Err(Error::Misuse(
                    "a bridge outcome that does not match the request in flight".into(),
                ));
            }
        };
        if let Err(e) = handled {
            self.state = State::Done(Some(Err(e)));
        }
        Ok(())
    }
}

bridge_machine!(Admin);
