//! The members API.

use super::Client;
use crate::error::Error;
use crate::ops::members::{Add, Leader, List, Member, Remove, Update};
use crate::transport::Transport;

/// Cluster membership (`/v2/members`). Errors are [`Error::Api`] with etcd's
/// message (404 unknown member, 409 peer URL in use, 410 already removed, 500
/// when etcd's strict reconfiguration check refuses an add).
#[derive(Debug)]
pub struct MembersOps<'a, T: Transport> {
    client: &'a Client<T>,
}

impl<'a, T: Transport> MembersOps<'a, T> {
    pub(super) fn new(client: &'a Client<T>) -> MembersOps<'a, T> {
        MembersOps { client }
    }

    /// Every member, started or not.
    pub fn list(&self) -> Result<Vec<Member>, Error> {
        self.client.execute(&List)
    }

    /// The current leader (503 during an election).
    pub fn leader(&self) -> Result<Member, Error> {
        self.client.execute(&Leader)
    }

    /// Add a member reachable at `peer_urls`; it is unnamed until it starts.
    pub fn add(&self, peer_urls: &[&str]) -> Result<Member, Error> {
        self.client.execute(&Add::new(peer_urls.iter().copied()))
    }

    /// Remove member `id`.
    pub fn remove(&self, id: &str) -> Result<(), Error> {
        self.client.execute(&Remove::new(id))
    }

    /// Change member `id`'s peer URLs.
    pub fn update(&self, id: &str, peer_urls: &[&str]) -> Result<(), Error> {
        self.client
            .execute(&Update::new(id, peer_urls.iter().copied()))
    }
}
