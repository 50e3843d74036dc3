//! The seed's `ServerOps` and `StatOps`.

use super::Client;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ops::members::Leader as MembersLeader;
use crate::ops::server::{Health, Machines, ServerVersion, Version};
use crate::ops::stats::{self, LeaderStats, SelfStats, StoreStats};
use crate::transport::Transport;

/// Server information (the seed's `client.server`). The seed's
/// `get_dashboard_url` has no counterpart: etcd removed its dashboard in 2.0.
#[derive(Debug)]
pub struct ServerOps<'a, T: Transport> {
    client: &'a Client<T>,
}

impl<'a, T: Transport> ServerOps<'a, T> {
    pub(super) fn new(client: &'a Client<T>) -> ServerOps<'a, T> {
        ServerOps { client }
    }

    /// The server and cluster versions (`/version`).
    pub fn get_version(&self) -> Result<ServerVersion, Error> {
        self.client.execute(&Version)
    }

    /// The client URLs of the cluster's started members (`/v2/machines`).
    pub fn get_machines(&self) -> Result<Vec<String>, Error> {
        self.client.execute(&Machines)
    }

    /// The leader's client URL (from `/v2/members/leader`).
    pub fn get_leader_url_prefix(&self) -> Result<String, Error> {
        let leader = self.client.execute(&MembersLeader)?;
        leader
            .client_urls
            .into_iter()
            .next()
            .ok_or_else(|| Error::Api {
                endpoint: self.client.prefix(),
                status: 200,
                message: format!("the leader {} has no client URL", leader.id),
            })
    }

    /// Whether the pinned member is healthy (`/health`: it has a leader and can
    /// serve). An unhealthy member answers 503, which is `Ok(false)`.
    pub fn health(&self) -> Result<bool, Error> {
        // Bind first: the pool's lock must be released before health_of locks it.
        let pinned = self.client.pool().pinned().clone();
        self.health_of(&pinned)
    }

    /// Whether `endpoint` is healthy.
    pub fn health_of(&self, endpoint: &Endpoint) -> Result<bool, Error> {
        match self.client.execute_on(endpoint, &Health) {
            Err(Error::Http { status: 503, .. }) => Ok(false),
            other => other,
        }
    }
}

/// Statistics (the seed's `client.stat`).
#[derive(Debug)]
pub struct StatOps<'a, T: Transport> {
    client: &'a Client<T>,
}

impl<'a, T: Transport> StatOps<'a, T> {
    pub(super) fn new(client: &'a Client<T>) -> StatOps<'a, T> {
        StatOps { client }
    }

    /// The statistics of the member that answers (`/v2/stats/self`).
    pub fn get_self_stats(&self) -> Result<SelfStats, Error> {
        self.client.execute(&stats::Member)
    }

    /// The v2 store's counters (`/v2/stats/store`).
    pub fn get_store_stats(&self) -> Result<StoreStats, Error> {
        self.client.execute(&stats::Store)
    }

    /// The leader's statistics: asks `/v2/members/leader` who leads, then asks
    /// that member directly (only the leader serves `/v2/stats/leader`).
    pub fn get_leader_stats(&self) -> Result<LeaderStats, Error> {
        let leader = self.client.execute(&MembersLeader)?;
        let url = leader.client_urls.first().ok_or_else(|| Error::Api {
            endpoint: self.client.prefix(),
            status: 200,
            message: format!("the leader {} has no client URL", leader.id),
        })?;
        self.get_leader_stats_from(&Endpoint::parse(url)?)
    }

    /// `/v2/stats/leader` from `endpoint`; a follower answers with
    /// [`Error::NotLeader`].
    pub fn get_leader_stats_from(&self, endpoint: &Endpoint) -> Result<LeaderStats, Error> {
        self.client.execute_on(endpoint, &stats::Leader)
    }
}
