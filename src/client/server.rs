//! The seed's `ServerOps` and `StatOps`.

use super::{AsyncClient, Client};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ops::members::{Leader as MembersLeader, Member};
use crate::ops::server::{Health, Machines, ServerVersion, Version};
use crate::ops::stats::{self, LeaderStats, SelfStats, StoreStats};
use crate::transport::{AsyncTransport, Transport};

/// The leader's client URL, or an error saying it has none.
fn leader_url(leader: Member, asked: String) -> Result<String, Error> {
    let id = leader.id.clone();
    leader
        .client_urls
        .into_iter()
        .next()
        .ok_or_else(|| Error::Api {
            endpoint: asked,
            status: 200,
            message: format!("the leader {id} has no client URL"),
        })
}

/// An unhealthy member answers 503 `{"health":"false"}`: that is `false`.
fn health(result: Result<bool, Error>) -> Result<bool, Error> {
    match result {
        Err(Error::Http { status: 503, .. }) => Ok(false),
        other => other,
    }
}

macro_rules! server_api {
    (sync) => { server_api!(@ [] []); };
    (async) => { server_api!(@ [async] [.await]); };
    (@ [$($kw:tt)*] [$($aw:tt)*]) => {
        /// The server and cluster versions (`/version`).
        pub $($kw)* fn get_version(&self) -> Result<ServerVersion, Error> {
            self.client.execute(&Version)$($aw)*
        }

        /// The client URLs of the cluster's started members (`/v2/machines`).
        pub $($kw)* fn get_machines(&self) -> Result<Vec<String>, Error> {
            self.client.execute(&Machines)$($aw)*
        }

        /// The leader's client URL (from `/v2/members/leader`).
        pub $($kw)* fn get_leader_url_prefix(&self) -> Result<String, Error> {
            let leader = self.client.execute(&MembersLeader)$($aw)*?;
            leader_url(leader, self.client.prefix())
        }

        /// Whether the pinned member is healthy (`/health`: it has a leader and
        /// can serve). An unhealthy member answers 503, which is `Ok(false)`.
        pub $($kw)* fn health(&self) -> Result<bool, Error> {
            // Bind first: the pool's lock must be released before the request.
            let pinned = self.client.shared().pool().pinned().clone();
            self.health_of(&pinned)$($aw)*
        }

        /// Whether `endpoint` is healthy.
        pub $($kw)* fn health_of(&self, endpoint: &Endpoint) -> Result<bool, Error> {
            health(self.client.execute_on(endpoint, &Health)$($aw)*)
        }
    };
}

macro_rules! stat_api {
    (sync) => { stat_api!(@ [] []); };
    (async) => { stat_api!(@ [async] [.await]); };
    (@ [$($kw:tt)*] [$($aw:tt)*]) => {
        /// The statistics of the member that answers (`/v2/stats/self`).
        pub $($kw)* fn get_self_stats(&self) -> Result<SelfStats, Error> {
            self.client.execute(&stats::Member)$($aw)*
        }

        /// The v2 store's counters (`/v2/stats/store`).
        pub $($kw)* fn get_store_stats(&self) -> Result<StoreStats, Error> {
            self.client.execute(&stats::Store)$($aw)*
        }

        /// The leader's statistics: asks `/v2/members/leader` who leads, then
        /// asks that member directly (only the leader serves
        /// `/v2/stats/leader`).
        pub $($kw)* fn get_leader_stats(&self) -> Result<LeaderStats, Error> {
            let leader = self.client.execute(&MembersLeader)$($aw)*?;
            let url = leader_url(leader, self.client.prefix())?;
            self.get_leader_stats_from(&Endpoint::parse(&url)?)$($aw)*
        }

        /// `/v2/stats/leader` from `endpoint`; a follower answers with
        /// [`Error::NotLeader`].
        pub $($kw)* fn get_leader_stats_from(&self, endpoint: &Endpoint) -> Result<LeaderStats, Error> {
            self.client.execute_on(endpoint, &stats::Leader)$($aw)*
        }
    };
}

group!(
    /// Server information (the seed's `client.server`). The seed's
    /// `get_dashboard_url` has no counterpart: etcd removed its dashboard in 2.0.
    ///
    /// ```
    /// # #[cfg(feature = "memory")]
    /// # fn main() -> Result<(), etcd_v2::Error> {
    /// use etcd_v2::{memory::MemoryEtcd, Client};
    /// // Against a cluster: Client::new("127.0.0.1", 2379)?. Here, etcd in memory:
    /// let etcd = MemoryEtcd::builder().members(3).build();
    /// let client = Client::builder().endpoints(etcd.endpoints()).build_with(etcd.clone())?;
    /// let server = client.server();
    /// assert!(server.health()?);
    /// assert_eq!(server.get_machines()?.len(), 3);
    /// println!("etcd {}, leader at {}", server.get_version()?.server,
    ///          server.get_leader_url_prefix()?);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "memory"))]
    /// # fn main() {}
    /// ```
    ServerOps, server_api
);

group!(
    /// Statistics (the seed's `client.stat`).
    ///
    /// ```
    /// # #[cfg(feature = "memory")]
    /// # fn main() -> Result<(), etcd_v2::Error> {
    /// use etcd_v2::{memory::MemoryEtcd, Client};
    /// // Against a cluster: Client::new("127.0.0.1", 2379)?. Here, etcd in memory:
    /// let etcd = MemoryEtcd::builder().build();
    /// let client = Client::builder().endpoints(etcd.endpoints()).build_with(etcd.clone())?;
    /// let stats = client.stat();
    /// assert_eq!(stats.get_self_stats()?.state, "StateLeader");
    /// client.node().set("/k", "v", None)?;
    /// assert!(stats.get_store_stats()?.sets_success >= 1);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "memory"))]
    /// # fn main() {}
    /// ```
    StatOps, stat_api
);
