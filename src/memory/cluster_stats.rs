//! The simulated cluster's statistics, `/v2/stats/self` and `/v2/stats/leader`,
//! written field for field as etcd 3.4 writes them, with counters that follow
//! the simulated raft appends (see [`Cluster::commit`]).

use crate::server::json::Object;
use crate::timestamp::format_rfc3339_nanos;

use super::cluster::{go_duration, Cluster, Health};

/// The size of one simulated append, in bytes (for the bandwidth rates).
const APPEND_BYTES: f64 = 100.0;
/// The latency of an append to a follower that is up, in seconds (loopback).
const LATENCY: f64 = 0.0005;
/// One second in nanoseconds: etcd's rates cover the last second.
const SECOND: i64 = 1_000_000_000;

impl Cluster {
    /// The appends in the second up to `wall`.
    fn recent_appends(&self, wall: i64) -> u32 {
        let n = self
            .appends
            .iter()
            .filter(|&&t| t <= wall && wall - t < SECOND)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// `/v2/stats/self` of member `i` at `wall`: counters of the appends it
    /// received and sent, and (only when there were appends in the last
    /// second, as etcd leaves out rates of zero) their rates.
    pub fn self_stats(&self, i: usize, wall: i64) -> Vec<u8> {
        let m = &self.members[i];
        let hex = |j: usize| format!("{:x}", self.members[j].id);
        // etcd 3.4 records any change of raft's state as becoming leader, so a
        // member campaigning without a majority reports itself leading since
        // its campaign began; the others name the leader they last heard from.
        let (leading, leader, since) = if self.leader == Some(i) {
            (true, hex(i), self.leader_since)
        } else if self.leader.is_none() && !self.has_quorum() {
            (true, hex(i), self.election_began)
        } else {
            (false, hex(self.last_leader), self.leader_since)
        };
        let recent = f64::from(self.recent_appends(wall));
        let up = |f: &&super::cluster::Member| !f.removed && matches!(f.health, Health::Up);
        let followers = self.members.iter().filter(up).count().saturating_sub(1);
        let uptime = wall.saturating_sub(since).max(0);
        let mut out = Vec::with_capacity(360);
        let mut o = Object::new(&mut out);
        o.string("name", m.name.as_bytes())
            .string("id", hex(i).as_bytes())
            .string(
                "state",
                if leading {
                    b"StateLeader"
                } else {
                    b"StateFollower"
                },
            )
            .string("startTime", format_rfc3339_nanos(m.started).as_bytes())
            .raw("leaderInfo", |o| {
                Object::new(o)
                    .string("leader", leader.as_bytes())
                    .string("uptime", go_duration(uptime).as_bytes())
                    .string("startTime", format_rfc3339_nanos(since).as_bytes())
                    .end();
            })
            .number("recvAppendRequestCnt", m.appends.received);
        if !leading && recent > 0.0 && up(&m) {
            o.number("recvPkgRate", recent)
                .number("recvBandwidthRate", recent * APPEND_BYTES);
        }
        o.number("sendAppendRequestCnt", m.appends.sent);
        if self.leader == Some(i) && recent > 0.0 && followers > 0 {
            let rate = recent * f64::from(u32::try_from(followers).unwrap_or(u32::MAX));
            o.number("sendPkgRate", rate)
                .number("sendBandwidthRate", rate * APPEND_BYTES);
        }
        o.end();
        out
    }

    /// `/v2/stats/leader` (only the leader has them): each follower's appends
    /// from this leader, sent and failed, keyed by ID in the order Go writes a
    /// map's keys (sorted).
    pub fn leader_stats(&self) -> Option<Vec<u8>> {
        let l = self.leader?;
        let mut followers: Vec<(String, (u64, u64))> = self
            .members
            .iter()
            .enumerate()
            .filter(|(i, m)| *i != l && !m.removed)
            .map(|(_, m)| {
                (
                    format!("{:x}", m.id),
                    (m.appends.succeeded, m.appends.failed),
                )
            })
            .collect();
        followers.sort();
        let mut out = Vec::with_capacity(200 + 200 * followers.len());
        Object::new(&mut out)
            .string("leader", format!("{:x}", self.members[l].id).as_bytes())
            .raw("followers", |o| {
                let mut f = Object::new(o);
                for (id, (success, fail)) in &followers {
                    let latency = if *success > 0 { LATENCY } else { 0.0 };
                    f.raw(id, |o| {
                        Object::new(o)
                            .raw("latency", |o| {
                                Object::new(o)
                                    .number("current", latency)
                                    .number("average", latency)
                                    .number("standardDeviation", 0)
                                    .number("minimum", latency)
                                    .number("maximum", latency)
                                    .end();
                            })
                            .raw("counts", |o| {
                                Object::new(o)
                                    .number("fail", fail)
                                    .number("success", success)
                                    .end();
                            })
                            .end();
                    });
                }
                f.end();
            })
            .end();
        Some(out)
    }
}
