//! The seed's `InOrderOps`: directories of in-order keys (queues).

use super::node::with_ttl;
use super::Client;
use crate::error::Error;
use crate::key;
use crate::ops::keys::{CreateDir, CreateInOrder, Delete, Get};
use crate::response::{KeysResponse, Node};
use crate::transport::Transport;

/// In-order operations (the seed's `client.inorder`).
#[derive(Debug)]
pub struct InOrderOps<'a, T: Transport> {
    client: &'a Client<T>,
}

impl<'a, T: Transport> InOrderOps<'a, T> {
    pub(super) fn new(client: &'a Client<T>) -> InOrderOps<'a, T> {
        InOrderOps { client }
    }

    /// A handle on the in-order directory at `path` (the seed's `get_inorder`).
    /// Nothing is sent until a method of the handle is called; the key is
    /// validated then.
    pub fn get_inorder(&self, path: &str) -> InOrder<T> {
        InOrder {
            client: self.client.clone(),
            path: path.to_owned(),
        }
    }
}

/// An in-order directory: values appended under keys etcd generates in creation
/// order (the seed's `_InOrder`).
#[derive(Debug, Clone)]
pub struct InOrder<T: Transport> {
    client: Client<T>,
    path: String,
}

impl<T: Transport> InOrder<T> {
    /// The directory's key.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Create the directory explicitly (not usually needed: [`InOrder::add`]
    /// creates it). Fails with errorCode 105 if it exists.
    pub fn create(&self, ttl: Option<u64>) -> Result<KeysResponse, Error> {
        self.client.execute(&with_ttl(
            CreateDir::new(self.path.as_str()),
            ttl,
            CreateDir::ttl,
        ))
    }

    /// Append `value`, optionally expiring after `ttl` seconds. The generated key
    /// is the answer's `node.key`.
    pub fn add(&self, value: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
        self.client.execute(&with_ttl(
            CreateInOrder::new(self.path.as_str(), value),
            ttl,
            CreateInOrder::ttl,
        ))
    }

    /// The entries, oldest first (a sorted listing).
    pub fn list(&self) -> Result<Vec<Node>, Error> {
        let listing = self
            .client
            .execute(&Get::new(self.path.as_str()).sorted(true))?;
        Ok(listing.node.children.unwrap_or_default())
    }

    /// Remove the entry `name` (the last segment of its key, or its full key) and
    /// return the deletion, whose `prev_node` holds the value.
    pub fn pop(&self, name: &str) -> Result<KeysResponse, Error> {
        let dir_prefix = format!("{}/", self.path.trim_end_matches('/'));
        let name = name.strip_prefix(&dir_prefix).unwrap_or(name);
        self.client
            .execute(&Delete::new(key::join(&self.path, name)))
    }

    /// Delete the directory and every entry.
    pub fn delete(&self) -> Result<KeysResponse, Error> {
        self.client
            .execute(&Delete::new(self.path.as_str()).recursive(true))
    }

    /// Block until something in the directory changes and return that change.
    pub fn wait(&self) -> Result<KeysResponse, Error> {
        self.client.first_change(&self.path, true, None)
    }
}
