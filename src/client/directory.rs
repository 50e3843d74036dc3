//! The seed's `DirectoryOps`: explicit directories.

use super::node::{conditions, with_ttl};
use super::Client;
use crate::error::Error;
use crate::ops::keys::{CreateDir, Delete, UpdateDir};
use crate::response::KeysResponse;
use crate::transport::Transport;

/// Directory operations (the seed's `client.directory`).
///
/// etcd refuses compare-and-delete on a directory: the conditional deletes here
/// return errorCode 102 ([`Error::is_not_a_file`]) with a note saying so, and
/// never fall back to an unconditional delete.
#[derive(Debug)]
pub struct DirectoryOps<'a, T: Transport> {
    client: &'a Client<T>,
}

impl<'a, T: Transport> DirectoryOps<'a, T> {
    pub(super) fn new(client: &'a Client<T>) -> DirectoryOps<'a, T> {
        DirectoryOps { client }
    }

    /// Create a directory, optionally expiring after `ttl` seconds. Fails with
    /// errorCode 105 ([`Error::is_already_exists`], the seed's
    /// `EtcdAlreadyExistsException`) if the key exists.
    pub fn create(&self, path: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
        self.client
            .execute(&with_ttl(CreateDir::new(path), ttl, CreateDir::ttl))
    }

    /// Change an existing directory's TTL (`None` makes it permanent).
    pub fn update_ttl(&self, path: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
        self.client
            .execute(&with_ttl(UpdateDir::new(path), ttl, UpdateDir::ttl))
    }

    /// Delete an empty directory (errorCode 108 if it is not empty). With a
    /// condition, etcd answers errorCode 102: it cannot compare-and-delete a
    /// directory.
    pub fn delete(
        &self,
        path: &str,
        current_value: Option<&str>,
        current_index: Option<u64>,
    ) -> Result<KeysResponse, Error> {
        self.client.execute(&conditions(
            Delete::new(path).dir(true),
            current_value,
            current_index,
        ))
    }

    /// Delete an empty directory only if it is at `current_index`. etcd refuses
    /// this (errorCode 102); the method exists for the seed's API and reports that
    /// refusal.
    pub fn delete_if_index(&self, path: &str, current_index: u64) -> Result<KeysResponse, Error> {
        self.delete(path, None, Some(current_index))
    }

    /// Delete a directory and everything below it; with `current_index`, etcd
    /// refuses (errorCode 102).
    pub fn delete_recursive(
        &self,
        path: &str,
        current_index: Option<u64>,
    ) -> Result<KeysResponse, Error> {
        self.client.execute(&conditions(
            Delete::new(path).recursive(true),
            None,
            current_index,
        ))
    }

    /// Delete a directory and its subtree only if it is at `current_index`; etcd
    /// refuses (errorCode 102).
    pub fn delete_recursive_if_index(
        &self,
        path: &str,
        current_index: u64,
    ) -> Result<KeysResponse, Error> {
        self.delete_recursive(path, Some(current_index))
    }
}
