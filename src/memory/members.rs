//! The members API of the simulated cluster: list, leader, add, remove and
//! update, as etcd 3.4 answers them.

use crate::server::reply;
use crate::server::request::MembersRequest;

use super::cluster::{id_from, Health, Member};
use super::core::{Core, Handled, REQUEST_TIMEOUT};

/// etcd's health interval: how long a member must have been connected to the
/// others before it accepts a new member.
const HEALTH_INTERVAL: i64 = 5_000_000_000;

impl Core {
    pub(super) fn members(&mut self, m: MembersRequest, member: usize, t: u64) -> Handled {
        let id = self.cluster.id;
        let r =
            |status, message: &str| Handled::Reply(reply::http_error(status, message, Some(id)));
        match m {
            MembersRequest::List => {
                Handled::Reply(reply::json(200, self.cluster.members_json(), Some(id)))
            }
            // During an election the followers still name the leader they
            // last heard from (etcd's do until a candidate asks for their
            // vote); without a majority raft knows none: 503.
            MembersRequest::Leader => match self.cluster.leader.or_else(|| {
                let l = self.cluster.last_leader;
                let known = self.cluster.has_quorum() && !self.cluster.members[l].removed;
                known.then_some(l)
            }) {
                None => r(503, "During election"),
                Some(l) => {
                    let mut body = Vec::new();
                    self.cluster.members[l].write_json(&mut body);
                    body.push(b'\n');
                    Handled::Reply(reply::json(200, body, Some(id)))
                }
            },
            // etcd's strict reconfiguration check (on by default) refuses an
            // addition before proposing it: etcd's 500 for any error that is
            // not the API's own (captures 533, 537, 555).
            MembersRequest::Add(_) if !self.may_add_member(member, t) => {
                r(500, "Internal Server Error")
            }
            // A change proposed without a leader is dropped by raft; the
            // request times out, which etcd answers as any other error.
            _ if self.cluster.leader.is_none() => Handled::Stall {
                until: Some(t + REQUEST_TIMEOUT),
                then: Some(reply::http_error(500, "Internal Server Error", Some(id))),
            },
            MembersRequest::Add(peers) => {
                if self.peer_taken(&peers, None) {
                    return r(409, "membership: peerURL exists");
                }
                let seed = self.cluster.members.len() as u64 ^ t;
                let member = Member {
                    id: id_from(seed ^ self.cluster.id),
                    name: String::new(),
                    peer_urls: peers,
                    client_urls: Vec::new(),
                    health: Health::Down,
                    removed: false,
                    started: self.wall(t),
                    appends: Default::default(),
                };
                let mut body = Vec::new();
                member.write_json(&mut body);
                body.push(b'\n');
                self.cluster.members.push(member);
                self.membership_entry(t);
                Handled::Reply(reply::json(201, body, Some(id)))
            }
            MembersRequest::Remove(mid) => {
                match self.cluster.members.iter().position(|m| m.id == mid) {
                    Some(i) if self.cluster.members[i].removed => {
                        r(410, &format!("Member permanently removed: {mid:x}"))
                    }
                    Some(i) => {
                        self.cluster.members[i].removed = true;
                        self.membership_entry(t);
                        // etcd deletes the member's key and records it under
                        // removed_members: two changes of the store.
                        self.store.internal_event();
                        if self.cluster.leader == Some(i) {
                            self.cluster.start_election(t, self.election, self.wall(t));
                        }
                        Handled::Reply(reply::no_content(id))
                    }
                    None => r(404, &format!("No such member: {mid:x}")),
                }
            }
            MembersRequest::Update(mid, peers) => {
                let Some(i) = self.cluster.members.iter().position(|m| m.id == mid) else {
                    return r(404, &format!("No such member: {mid:x}"));
                };
                if self.cluster.members[i].removed {
                    // membership.ErrIDRemoved, which the update path does
                    // not map: etcd's 500 (capture 543).
                    return r(500, "Internal Server Error");
                }
                if self.peer_taken(&peers, Some(i)) {
                    return r(409, "membership: peerURL exists");
                }
                self.cluster.members[i].peer_urls = peers;
                self.membership_entry(t);
                Handled::Reply(reply::no_content(id))
            }
        }
    }

    /// etcd 3.4's `mayAddMember`: after the addition, a majority of the
    /// members must have started, and the member asked must have been
    /// connected to every other member for etcd's health interval (5 s): none
    /// down, cut off, never started, or (re)started less than 5 s ago.
    fn may_add_member(&self, asked: usize, t: u64) -> bool {
        let listed: Vec<_> = self.cluster.members.iter().filter(|m| !m.removed).collect();
        let started = listed.iter().filter(|m| !m.client_urls.is_empty()).count();
        let after = listed.len() + 1;
        let ready = (started == 1 && after == 2) || started > after / 2;
        let me = &self.cluster.members[asked];
        let since = self.wall(t).saturating_sub(HEALTH_INTERVAL);
        let connected = |m: &Member| {
            !m.client_urls.is_empty()
                && m.is_voting()
                && me.is_voting()
                && m.started.max(me.started) <= since
        };
        let all_connected = self
            .cluster
            .members
            .iter()
            .enumerate()
            .all(|(i, m)| i == asked || m.removed || connected(m));
        ready && all_connected
    }

    fn peer_taken(&self, peers: &[String], except: Option<usize>) -> bool {
        self.cluster.members.iter().enumerate().any(|(i, m)| {
            Some(i) != except && !m.removed && m.peer_urls.iter().any(|p| peers.contains(p))
        })
    }

    /// A membership change at `t`: a raft entry and an internal store write.
    fn membership_entry(&mut self, t: u64) {
        self.cluster.commit(1, self.wall(t), 0);
        self.store.internal_event();
    }
}
