//! The seed's `DirectoryOps`: explicit directories.

use super::node::{conditions, with_ttl};
use super::{AsyncClient, Client};
use crate::error::Error;
use crate::ops::keys::{CreateDir, Delete, UpdateDir};
use crate::response::KeysResponse;
use crate::transport::{AsyncTransport, Transport};

macro_rules! directory_api {
    (sync) => { directory_api!(@ [] []); };
    (async) => { directory_api!(@ [async] [.await]); };
    (@ [$($kw:tt)*] [$($aw:tt)*]) => {
        /// Create a directory, optionally expiring after `ttl` seconds. Fails
        /// with errorCode 105 ([`Error::is_already_exists`], the seed's
        /// `EtcdAlreadyExistsException`) if the key exists.
        pub $($kw)* fn create(&self, path: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
            self.client.execute(&with_ttl(CreateDir::new(path), ttl, CreateDir::ttl))$($aw)*
        }

        /// Change an existing directory's TTL (`None` makes it permanent).
        pub $($kw)* fn update_ttl(&self, path: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
            self.client.execute(&with_ttl(UpdateDir::new(path), ttl, UpdateDir::ttl))$($aw)*
        }

        /// Delete an empty directory (errorCode 108 if it is not empty). With a
        /// condition, etcd answers errorCode 102: it cannot compare-and-delete a
        /// directory.
        pub $($kw)* fn delete(
            &self,
            path: &str,
            current_value: Option<&str>,
            current_index: Option<u64>,
        ) -> Result<KeysResponse, Error> {
            self.client
                .execute(&conditions(Delete::new(path).dir(true), current_value, current_index))$($aw)*
        }

        /// Delete an empty directory only if it is at `current_index`. etcd
        /// refuses this (errorCode 102); the method exists for the seed's API and
        /// reports that refusal.
        pub $($kw)* fn delete_if_index(&self, path: &str, current_index: u64) -> Result<KeysResponse, Error> {
            self.delete(path, None, Some(current_index))$($aw)*
        }

        /// Delete a directory and everything below it; with `current_index`,
        /// etcd refuses (errorCode 102).
        pub $($kw)* fn delete_recursive(&self, path: &str, current_index: Option<u64>) -> Result<KeysResponse, Error> {
            self.client
                .execute(&conditions(Delete::new(path).recursive(true), None, current_index))$($aw)*
        }

        /// Delete a directory and its subtree only if it is at `current_index`;
        /// etcd refuses (errorCode 102).
        pub $($kw)* fn delete_recursive_if_index(&self, path: &str, current_index: u64) -> Result<KeysResponse, Error> {
            self.delete_recursive(path, Some(current_index))$($aw)*
        }
    };
}

group!(
    /// Directory operations (the seed's `client.directory`).
    ///
    /// etcd refuses compare-and-delete on a directory: the conditional deletes here
    /// return errorCode 102 ([`Error::is_not_a_file`]) with a note saying so, and
    /// never fall back to an unconditional delete.
    ///
    /// ```
    /// # #[cfg(feature = "memory")]
    /// # fn main() -> Result<(), etcd_v2::Error> {
    /// use etcd_v2::{memory::MemoryEtcd, Client};
    /// // Against a cluster: Client::new("127.0.0.1", 2379)?. Here, etcd in memory:
    /// let etcd = MemoryEtcd::builder().build();
    /// let client = Client::builder().endpoints(etcd.endpoints()).build_with(etcd.clone())?;
    /// let dirs = client.directory();
    /// dirs.create("/sessions", Some(30))?;            // a directory that expires
    /// client.node().set("/sessions/a", "x", None)?;
    /// let refused = dirs.delete("/sessions", None, None).unwrap_err();
    /// assert!(refused.is_directory_not_empty());
    /// dirs.delete_recursive("/sessions", None)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "memory"))]
    /// # fn main() {}
    /// ```
    DirectoryOps, directory_api
);
