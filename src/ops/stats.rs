//! Statistics (`/v2/stats/self`, `/v2/stats/leader`, `/v2/stats/store`): the
//! seed's `StatOps`, typed. None of them needs credentials.

use std::collections::BTreeMap;
use std::time::SystemTime;

use http::Method;
use serde::{Deserialize, Deserializer};

use super::{request, Operation, Params};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::response::{endpoint_of, parse_json};

fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.and_then(|t| crate::timestamp::parse_rfc3339(&t)))
}

/// Who this member thinks leads, and since when.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderInfo {
    /// The leader's member ID.
    #[serde(default)]
    pub leader: String,
    /// How long that leader has led, as etcd prints it (e.g. `14m47.9s`).
    #[serde(default)]
    pub uptime: String,
    /// When it became leader.
    #[serde(default, deserialize_with = "timestamp")]
    pub start_time: Option<SystemTime>,
}

/// A member's own statistics (`/v2/stats/self`). Note that etcd 3.4 reports
/// `state` unreliably (any raft state change sets it to `StateLeader`); ask
/// `/v2/members/leader` to know who leads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfStats {
    /// The member's name.
    pub name: String,
    /// The member's ID.
    pub id: String,
    /// The raft state etcd reports (`StateLeader`, `StateFollower`).
    #[serde(default)]
    pub state: String,
    /// When the member started.
    #[serde(default, deserialize_with = "timestamp")]
    pub start_time: Option<SystemTime>,
    /// Its view of the leader.
    pub leader_info: LeaderInfo,
    /// Append requests received.
    #[serde(default)]
    pub recv_append_request_cnt: u64,
    /// Append requests sent.
    #[serde(default)]
    pub send_append_request_cnt: u64,
    /// Packages received per second (followers).
    #[serde(default)]
    pub recv_pkg_rate: Option<f64>,
    /// Bytes received per second (followers).
    #[serde(default)]
    pub recv_bandwidth_rate: Option<f64>,
    /// Packages sent per second (the leader).
    #[serde(default)]
    pub send_pkg_rate: Option<f64>,
    /// Bytes sent per second (the leader).
    #[serde(default)]
    pub send_bandwidth_rate: Option<f64>,
}

/// Latency of the leader's appends to a follower, in seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// The latest.
    pub current: f64,
    /// The mean.
    pub average: f64,
    /// The standard deviation.
    pub standard_deviation: f64,
    /// The smallest.
    pub minimum: f64,
    /// The largest.
    pub maximum: f64,
}

/// Successful and failed appends to a follower.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Counts {
    /// Failed appends.
    pub fail: u64,
    /// Successful appends.
    pub success: u64,
}

/// The leader's view of one follower.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FollowerStats {
    /// Append latency.
    pub latency: Latency,
    /// Append counts.
    pub counts: Counts,
}

/// The leader's statistics (`/v2/stats/leader`), served by the leader only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LeaderStats {
    /// The leader's member ID.
    pub leader: String,
    /// Each follower by member ID (empty on a single member).
    #[serde(default)]
    pub followers: BTreeMap<String, FollowerStats>,
}

/// The v2 store's operation counters (`/v2/stats/store`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct StoreStats {
    pub gets_success: u64,
    pub gets_fail: u64,
    pub sets_success: u64,
    pub sets_fail: u64,
    pub delete_success: u64,
    pub delete_fail: u64,
    pub update_success: u64,
    pub update_fail: u64,
    pub create_success: u64,
    pub create_fail: u64,
    pub compare_and_swap_success: u64,
    pub compare_and_swap_fail: u64,
    pub compare_and_delete_success: u64,
    pub compare_and_delete_fail: u64,
    /// Keys expired by their TTL.
    pub expire_count: u64,
    /// Watchers currently registered.
    pub watchers: u64,
}

macro_rules! stats_op {
    ($(#[$doc:meta])* $name:ident, $path:literal, $out:ty, $what:literal, leader_only: $leader_only:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;

        impl Operation for $name {
            type Output = $out;
            fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
                request(endpoint, Method::GET, $path, &Params::new(), None)
            }
            fn parse(&self, response: http::Response<Vec<u8>>) -> Result<$out, Error> {
                if $leader_only && response.status() == http::StatusCode::FORBIDDEN {
                    return Err(Error::NotLeader { endpoint: endpoint_of(&response) });
                }
                parse_json(&response, $what)
            }
            fn idempotent(&self) -> bool {
                true
            }
        }
    };
}

stats_op!(
    /// `GET /v2/stats/self`: the statistics of the member that answers.
    Member, "/v2/stats/self", SelfStats, "self statistics", leader_only: false
);
stats_op!(
    /// `GET /v2/stats/leader`; a follower answers 403, which is
    /// [`Error::NotLeader`].
    Leader, "/v2/stats/leader", LeaderStats, "leader statistics", leader_only: true
);
stats_op!(
    /// `GET /v2/stats/store`.
    Store, "/v2/stats/store", StoreStats, "store statistics", leader_only: false
);
