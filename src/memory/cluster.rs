//! The simulated cluster around the store: members with their URLs and IDs, who
//! leads, the raft term and index, crashed, lagging and partitioned members,
//! and elections that take time.

use std::collections::VecDeque;

use crate::server::json::{self, Object};

use super::store::Store;

/// How a member is doing.
#[derive(Debug, Clone)]
pub enum Health {
    /// Serving, up to date.
    Up,
    /// Crashed: connections are refused.
    Down,
    /// Serving local reads from a store frozen when it fell behind (with the
    /// raft term it had then); with `cut_off`, its writes and quorum reads also
    /// time out, as a member cut off from the majority.
    Behind {
        /// The store as it was.
        store: Box<Store>,
        /// The raft term then.
        term: u64,
        /// The raft index then.
        raft_index: u64,
        /// Cut off from the others (not merely slow).
        cut_off: bool,
    },
}

/// A member.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its ID.
    pub id: u64,
    /// Its name ("" until started, for one added through the members API).
    pub name: String,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Client URLs (none until started).
    pub client_urls: Vec<String>,
    /// Its state.
    pub health: Health,
    /// Whether it was removed from the cluster.
    pub removed: bool,
    /// When it started (wall clock, Unix nanoseconds).
    pub started: i64,
    /// Its raft appends.
    pub appends: Appends,
}

/// A member's raft appends, counted for `/v2/stats/self` and
/// `/v2/stats/leader`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Appends {
    /// Received as a follower (`recvAppendRequestCnt`).
    pub received: u64,
    /// Sent as the leader (`sendAppendRequestCnt`).
    pub sent: u64,
    /// Sent to it by the current leader.
    pub succeeded: u64,
    /// The current leader failed to send it (it was down or cut off).
    pub failed: u64,
}

impl Member {
    /// Whether it answers at all.
    pub fn is_serving(&self) -> bool {
        !self.removed && !matches!(self.health, Health::Down) && !self.client_urls.is_empty()
    }

    /// Whether it takes part in raft (counts for a majority).
    pub fn is_voting(&self) -> bool {
        !self.removed
            && matches!(
                self.health,
                Health::Up | Health::Behind { cut_off: false, .. }
            )
    }

    /// The member's JSON (`/v2/members`).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        Object::new(out)
            .string("id", format!("{:x}", self.id).as_bytes())
            .string("name", self.name.as_bytes())
            .raw("peerURLs", |o| json::strings(o, &self.peer_urls))
            .raw("clientURLs", |o| json::strings(o, &self.client_urls))
            .end();
    }
}

/// The cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Its members, in the order they were created.
    pub members: Vec<Member>,
    /// The leader, when there is one.
    pub leader: Option<usize>,
    /// The current raft term.
    pub term: u64,
    /// The committed raft index.
    pub raft_index: u64,
    /// The cluster ID.
    pub id: u64,
    /// When the running election ends (monotonic nanoseconds), if one runs.
    pub election_ends: Option<u64>,
    /// When the leader took office (wall clock).
    pub leader_since: i64,
    /// The leader the followers last heard from: during an election they
    /// still name it (`/v2/members/leader`, `/v2/stats/self`), as etcd's do
    /// until a candidate asks for their vote.
    pub last_leader: usize,
    /// When the running election began (wall clock).
    pub election_began: i64,
    /// When the last raft entries were appended (wall clock, at most
    /// [`RECENT`]): the rates of `/v2/stats/self`.
    pub appends: VecDeque<i64>,
}

/// How many append times the cluster keeps (etcd's rate queue holds 200).
pub const RECENT: usize = 200;

/// A member ID derived from a seed (deterministic, never zero).
pub fn id_from(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).max(1)
}

impl Cluster {
    /// `n` members with these client URLs, the first leading (term 2, as a
    /// freshly started etcd 3.4 reports).
    pub fn new(client_urls: Vec<String>, seed: u64, wall: i64) -> Cluster {
        let n = client_urls.len();
        let members = client_urls
            .into_iter()
            .enumerate()
            .map(|(i, url)| Member {
                id: id_from(seed.wrapping_add(i as u64)),
                name: format!("memory{}", i + 1),
                peer_urls: vec![format!("http://127.0.0.1:{}", 2380 + 10_000 * i)],
                client_urls: vec![url],
                health: Health::Up,
                removed: false,
                started: wall,
                appends: Appends::default(),
            })
            .collect();
        let mut cluster = Cluster {
            members,
            leader: Some(0),
            term: 2,
            raft_index: 0,
            id: id_from(seed ^ 0xc1u64),
            election_ends: None,
            leader_since: wall,
            last_leader: 0,
            election_began: wall,
            appends: VecDeque::new(),
        };
        // The entries of the cluster's start: members, the leader's term, the
        // cluster version.
        cluster.commit(2 + 2 * n as u64, wall, 0);
        cluster
    }

    /// `n` raft entries committed, the first at `first` (wall clock), the
    /// others `step` nanoseconds apart: the leader appends each to every
    /// follower that is up (a crashed or cut-off one counts a failure; a
    /// lagging one, nothing).
    pub fn commit(&mut self, n: u64, first: i64, step: i64) {
        self.raft_index += n;
        let Some(l) = self.leader else {
            return;
        };
        let mut sent = 0;
        for (i, m) in self.members.iter_mut().enumerate() {
            if i == l || m.removed {
                continue;
            }
            match m.health {
                Health::Up => {
                    m.appends.received += n;
                    m.appends.succeeded += n;
                    sent += n;
                }
                Health::Down | Health::Behind { cut_off: true, .. } => m.appends.failed += n,
                Health::Behind { .. } => {}
            }
        }
        self.members[l].appends.sent += sent;
        let kept = n.min(RECENT as u64);
        for k in n - kept..n {
            let at = i64::try_from(k).unwrap_or(i64::MAX).saturating_mul(step);
            self.appends.push_back(first.saturating_add(at));
        }
        while self.appends.len() > RECENT {
            self.appends.pop_front();
        }
    }

    /// The member serving `authority` (`host:port`), if any.
    pub fn member_at(&self, scheme: &str, authority: &str) -> Option<usize> {
        let url = format!("{scheme}://{authority}");
        self.members
            .iter()
            .position(|m| !m.removed && m.client_urls.iter().any(|u| u == &url))
    }

    /// Whether the voting members are a majority of the cluster.
    pub fn has_quorum(&self) -> bool {
        let all = self.members.iter().filter(|m| !m.removed).count();
        let voting = self.members.iter().filter(|m| m.is_voting()).count();
        voting * 2 > all
    }

    /// Start an election at `now` (monotonic) lasting `duration`, if a majority
    /// can hold one; the leader, if any, steps down.
    pub fn start_election(&mut self, now: u64, duration: u64, wall: i64) {
        self.leader = None;
        self.election_began = wall;
        self.election_ends = Some(now + duration);
    }

    /// Finish an election whose time has come: the first voting member leads,
    /// in a new term. Without a majority the election goes on.
    pub fn settle(&mut self, now: u64, wall: i64) {
        let Some(ends) = self.election_ends else {
            return;
        };
        if now < ends || !self.has_quorum() {
            return;
        }
        if let Some(i) = self.members.iter().position(Member::is_voting) {
            self.leader = Some(i);
            self.last_leader = i;
            self.term += 1;
            self.election_ends = None;
            self.leader_since = wall;
            // The new leader's statistics start afresh.
            for m in &mut self.members {
                m.appends.succeeded = 0;
                m.appends.failed = 0;
            }
            self.commit(1, wall, 0);
        }
    }

    /// The term and raft index member `i` reports.
    pub fn view_of(&self, i: usize) -> (u64, u64) {
        match &self.members[i].health {
            Health::Behind {
                term, raft_index, ..
            } => (*term, *raft_index),
            _ => (self.term, self.raft_index),
        }
    }

    /// `/v2/members`.
    pub fn members_json(&self) -> Vec<u8> {
        members_json(self.members.iter().filter(|m| !m.removed).collect())
    }

    /// `/v2/machines`: the client URLs of started members, sorted as etcd
    /// sorts them.
    pub fn machines(&self) -> Vec<u8> {
        let mut urls: Vec<&str> = self
            .members
            .iter()
            .filter(|m| !m.removed)
            .flat_map(|m| m.client_urls.iter().map(String::as_str))
            .collect();
        urls.sort_unstable();
        urls.join(", ").into_bytes()
    }
}

/// `/v2/members` of these members: sorted by ID as etcd lists them.
pub fn members_json(mut listed: Vec<&Member>) -> Vec<u8> {
    listed.sort_by_key(|m| format!("{:016x}", m.id));
    let mut out = Vec::with_capacity(256);
    Object::new(&mut out)
        .raw("members", |o| {
            json::array(o, &listed, |o, m| m.write_json(o))
        })
        .end();
    out.push(b'\n');
    out
}

/// A duration as Go prints one (`1m2.5s`, `419.928269ms`).
pub fn go_duration(ns: i64) -> String {
    let ns = ns.max(0) as u128;
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return trim(format!("{}.{:03}", ns / 1_000, ns % 1_000)) + "µs";
    }
    if ns < 1_000_000_000 {
        return trim(format!("{}.{:06}", ns / 1_000_000, ns % 1_000_000)) + "ms";
    }
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out + &trim(format!("{s}.{frac:09}")) + "s"
}

fn trim(s: String) -> String {
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
