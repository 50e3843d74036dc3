//! The members API.

use super::{AsyncClient, Client};
use crate::error::Error;
use crate::ops::members::{Add, Leader, List, Member, Remove, Update};
use crate::transport::{AsyncTransport, Transport};

macro_rules! members_api {
    (sync) => { members_api!(@ [] []); };
    (async) => { members_api!(@ [async] [.await]); };
    (@ [$($kw:tt)*] [$($aw:tt)*]) => {
        /// Every member, started or not.
        pub $($kw)* fn list(&self) -> Result<Vec<Member>, Error> {
            self.client.execute(&List)$($aw)*
        }

        /// The current leader (503 during an election).
        pub $($kw)* fn leader(&self) -> Result<Member, Error> {
            self.client.execute(&Leader)$($aw)*
        }

        /// Add a member reachable at `peer_urls`; it is unnamed until it starts.
        pub $($kw)* fn add(&self, peer_urls: &[&str]) -> Result<Member, Error> {
            self.client.execute(&Add::new(peer_urls.iter().copied()))$($aw)*
        }

        /// Remove member `id`.
        pub $($kw)* fn remove(&self, id: &str) -> Result<(), Error> {
            self.client.execute(&Remove::new(id))$($aw)*
        }

        /// Change member `id`'s peer URLs.
        pub $($kw)* fn update(&self, id: &str, peer_urls: &[&str]) -> Result<(), Error> {
            self.client.execute(&Update::new(id, peer_urls.iter().copied()))$($aw)*
        }
    };
}

group!(
    /// Cluster membership (`/v2/members`). Errors are [`Error::Api`] with etcd's
    /// message (404 unknown member, 409 peer URL in use, 410 already removed).
    ///
    /// A change answered 500 is [`Error::OutcomeUnknown`], and is not resent:
    /// etcd answers 500 ("Internal Server Error") both when it refuses a change
    /// (its strict reconfiguration check, e.g. an add while a member is not
    /// connected) and when its own wait for the change ran out (5 s plus two
    /// election timeouts), which can still apply. One way to meet the second:
    /// etcd's raft drops a change proposed while the previous one is not yet
    /// acknowledged as applied, so a change sent the instant another returns
    /// may hang until that timeout. List the members to see which happened.
    /// Over the v3 bridge, etcd's v3 answer tells a refusal apart: it is
    /// [`Error::Api`] with status 500 and etcd's v3 message.
    ///
    /// ```
    /// # #[cfg(feature = "memory")]
    /// # fn main() -> Result<(), etcd_v2::Error> {
    /// use etcd_v2::{memory::MemoryEtcd, Client};
    /// // Against a cluster: Client::new("127.0.0.1", 2379)?. Here, etcd in memory:
    /// let etcd = MemoryEtcd::builder().members(3).build();
    /// let client = Client::builder().endpoints(etcd.endpoints()).build_with(etcd.clone())?;
    /// let members = client.members();
    /// let all = members.list()?;
    /// assert_eq!(all.len(), 3);
    /// let leader = members.leader()?;
    /// assert!(all.iter().any(|m| m.id == leader.id));
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "memory"))]
    /// # fn main() {}
    /// ```
    MembersOps, members_api
);
