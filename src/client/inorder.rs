//! The seed's `InOrderOps`: directories of in-order keys (queues).

use super::node::with_ttl;
use super::{AsyncClient, Client};
use crate::error::Error;
use crate::key;
use crate::ops::keys::{CreateDir, CreateInOrder, Delete, Get};
use crate::response::{KeysResponse, Node};
use crate::transport::{AsyncTransport, Transport};

/// In-order operations (the seed's `client.inorder`).
///
/// ```
/// # #[cfg(feature = "memory")]
/// # fn main() -> Result<(), etcd_v2::Error> {
/// use etcd_v2::{memory::MemoryEtcd, Client};
/// // Against a cluster: Client::new("127.0.0.1", 2379)?. Here, etcd in memory:
/// let etcd = MemoryEtcd::builder().build();
/// let client = Client::builder().endpoints(etcd.endpoints()).build_with(etcd.clone())?;
/// let queue = client.inorder().get_inorder("/jobs");
/// queue.add("first", None)?;
/// queue.add("second", None)?;
/// let items = queue.list()?;
/// assert_eq!(items.iter().map(|n| n.value.as_deref()).collect::<Vec<_>>(),
///            [Some("first"), Some("second")]);
/// let name = items[0].key.rsplit('/').next().unwrap_or_default();
/// queue.pop(name)?;                                // by the name etcd generated
/// assert_eq!(queue.list()?.len(), 1);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "memory"))]
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct InOrderOps<'a, C> {
    client: &'a C,
}

impl<'a, C: Clone> InOrderOps<'a, C> {
    pub(super) fn new(client: &'a C) -> InOrderOps<'a, C> {
        InOrderOps { client }
    }

    /// A handle on the in-order directory at `path` (the seed's `get_inorder`).
    /// Nothing is sent until a method of the handle is called; the key is
    /// validated then.
    pub fn get_inorder(&self, path: &str) -> InOrder<C> {
        InOrder {
            client: self.client.clone(),
            path: path.to_owned(),
        }
    }
}

/// An in-order directory: values appended under keys etcd generates in creation
/// order (the seed's `_InOrder`).
#[derive(Debug, Clone)]
pub struct InOrder<C> {
    client: C,
    path: String,
}

impl<C> InOrder<C> {
    /// The directory's key.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The key of entry `name` (its last segment, or its full key): always
    /// inside the directory (a name with `.` or `..` segments is refused).
    fn entry_key(&self, name: &str) -> Result<String, Error> {
        let dir = key::clean(&self.path)?;
        let dir_prefix = format!("{}/", dir.trim_end_matches('/'));
        key::child(&dir, name.strip_prefix(&dir_prefix).unwrap_or(name))
    }
}

macro_rules! inorder_api {
    (sync) => { inorder_api!(@ [] [] "Blocks until"); };
    (async) => { inorder_api!(@ [async] [.await] "Resolves when"); };
    (@ [$($kw:tt)*] [$($aw:tt)*] $until:literal) => {
        /// Create the directory explicitly (not usually needed: `add` creates
        /// it). Fails with errorCode 105 if it exists.
        pub $($kw)* fn create(&self, ttl: Option<u64>) -> Result<KeysResponse, Error> {
            self.client
                .execute(&with_ttl(CreateDir::new(self.path.as_str()), ttl, CreateDir::ttl))$($aw)*
        }

        /// Append `value`, optionally expiring after `ttl` seconds. The
        /// generated key is the answer's `node.key`.
        pub $($kw)* fn add(&self, value: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
            self.client
                .execute(&with_ttl(CreateInOrder::new(self.path.as_str(), value), ttl, CreateInOrder::ttl))$($aw)*
        }

        /// The entries, oldest first (a sorted listing).
        pub $($kw)* fn list(&self) -> Result<Vec<Node>, Error> {
            let listing = self.client.execute(&Get::new(self.path.as_str()).sorted(true))$($aw)*?;
            Ok(listing.node.children.unwrap_or_default())
        }

        /// Remove the entry `name` (the last segment of its key, or its full key)
        /// and return the deletion, whose `prev_node` holds the value. A name
        /// that would reach outside the directory (`..`, `.`) is refused with
        /// [`Error::InvalidKey`] before anything is sent.
        pub $($kw)* fn pop(&self, name: &str) -> Result<KeysResponse, Error> {
            self.client.execute(&Delete::new(self.entry_key(name)?))$($aw)*
        }

        /// Delete the directory and every entry.
        pub $($kw)* fn delete(&self) -> Result<KeysResponse, Error> {
            self.client.execute(&Delete::new(self.path.as_str()).recursive(true))$($aw)*
        }

        #[doc = concat!($until, " something in the directory changes, with that change.")]
        pub $($kw)* fn wait(&self) -> Result<KeysResponse, Error> {
            self.client.first_change(&self.path, true, None)$($aw)*
        }
    };
}

impl<T: Transport> InOrder<Client<T>> {
    inorder_api!(sync);
}

impl<T: AsyncTransport> InOrder<AsyncClient<T>> {
    inorder_api!(async);
}
