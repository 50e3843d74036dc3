//! The seed's `NodeOps`: reads, writes, conditional writes and deletes of keys.

use super::{AsyncClient, Client};
use crate::error::Error;
use crate::listing::Listing;
use crate::ops::keys::{
    CompareAndSwap, Create, CurrentIndex, Delete, Get, GetListing, Refresh, Set, Update,
};
use crate::response::KeysResponse;
use crate::transport::{AsyncTransport, Transport};

pub(super) fn with_ttl<O>(op: O, ttl: Option<u64>, set: fn(O, u64) -> O) -> O {
    match ttl {
        Some(t) => set(op, t),
        None => op,
    }
}

pub(super) fn conditions(mut op: Delete, value: Option<&str>, index: Option<u64>) -> Delete {
    if let Some(v) = value {
        op = op.prev_value(v);
    }
    if let Some(i) = index {
        op = op.prev_index(i);
    }
    op
}

/// The conditions of the seed's compare-and-swap.
struct Conditions<'a> {
    value: Option<&'a str>,
    index: Option<u64>,
    exists: Option<bool>,
}

/// The seed's compare-and-swap as an operation: with no condition at all, a
/// plain set (as in the seed).
fn cas(
    path: &str,
    value: &str,
    when: Conditions<'_>,
    ttl: Option<u64>,
) -> Result<CompareAndSwap, Set> {
    if when.value.is_none() && when.index.is_none() && when.exists.is_none() {
        return Err(with_ttl(Set::new(path, value), ttl, Set::ttl));
    }
    let mut op = with_ttl(CompareAndSwap::new(path, value), ttl, CompareAndSwap::ttl);
    if let Some(v) = when.value {
        op = op.prev_value(v);
    }
    if let Some(i) = when.index {
        op = op.prev_index(i);
    }
    if let Some(e) = when.exists {
        op = op.prev_exist(e);
    }
    Ok(op)
}

macro_rules! node_api {
    (sync) => { node_api!(@ [] [] "Blocks until"); };
    (async) => { node_api!(@ [async] [.await] "Resolves when"); };
    (@ [$($kw:tt)*] [$($aw:tt)*] $until:literal) => {
        /// Read a key, or list a directory (its whole subtree with `recursive`).
        pub $($kw)* fn get(&self, path: &str, recursive: bool) -> Result<KeysResponse, Error> {
            self.client.execute(&Get::new(path).recursive(recursive))$($aw)*
        }

        /// Like `get`, answered as a [`Listing`] whose nodes borrow their keys
        /// and values from the answer instead of owning them: for large
        /// listings, an allocation spared per key and per value (on etcd's own
        /// JSON; see [`crate::listing`]). Sorted or quorum listings:
        /// `get_listing_sorted`, `get_listing_quorum`, or any [`Get`] through
        /// `execute(&GetListing::new(get))`.
        pub $($kw)* fn get_listing(&self, path: &str, recursive: bool) -> Result<Listing, Error> {
            self.client.execute(&GetListing::new(Get::new(path).recursive(recursive)))$($aw)*
        }

        /// Like `get_sorted` (children in key order), answered as a
        /// [`Listing`] as `get_listing` is.
        pub $($kw)* fn get_listing_sorted(&self, path: &str, recursive: bool) -> Result<Listing, Error> {
            self.client
                .execute(&GetListing::new(Get::new(path).recursive(recursive).sorted(true)))$($aw)*
        }

        /// Like `get_quorum` (read through raft), answered as a [`Listing`] as
        /// `get_listing` is.
        pub $($kw)* fn get_listing_quorum(&self, path: &str, recursive: bool) -> Result<Listing, Error> {
            self.client
                .execute(&GetListing::new(Get::new(path).recursive(recursive).quorum(true)))$($aw)*
        }

        /// Like `get`, listing children in key order (in-order keys sort by
        /// creation).
        pub $($kw)* fn get_sorted(&self, path: &str, recursive: bool) -> Result<KeysResponse, Error> {
            self.client.execute(&Get::new(path).recursive(recursive).sorted(true))$($aw)*
        }

        /// Like `get`, but linearizable: read through raft rather than the
        /// member's local, possibly stale, state.
        pub $($kw)* fn get_quorum(&self, path: &str, recursive: bool) -> Result<KeysResponse, Error> {
            self.client.execute(&Get::new(path).recursive(recursive).quorum(true))$($aw)*
        }

        /// Set a key's value, with an optional TTL in seconds. A plain set
        /// replaces the node (its TTL is dropped unless given again).
        pub $($kw)* fn set(&self, path: &str, value: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
            self.client.execute(&with_ttl(Set::new(path, value), ttl, Set::ttl))$($aw)*
        }

        /// The store's current index (`X-Etcd-Index`), read with a `HEAD` of the
        /// root: nothing is written. A watch or wait from `current_index() + 1`
        /// sees every change made after this call.
        pub $($kw)* fn current_index(&self) -> Result<u64, Error> {
            self.client.execute(&CurrentIndex::new("/"))$($aw)*
        }

        #[doc = concat!($until, " the key (or, with `recursive`, anything below it) changes, with that change.")]
        pub $($kw)* fn wait(&self, path: &str, recursive: bool) -> Result<KeysResponse, Error> {
            self.client.first_change(path, recursive, None)$($aw)*
        }

        /// Return the first change at or after `index` (possibly one in the
        /// past; etcd keeps the last 1000 events, older indexes give errorCode
        /// 401).
        pub $($kw)* fn wait_from(&self, path: &str, index: u64, recursive: bool) -> Result<KeysResponse, Error> {
            self.client.first_change(path, recursive, Some(index))$($aw)*
        }

        /// The seed's compare-and-swap: set `value` only if every condition
        /// given holds (`current_value`, `current_index`, `prev_exists`). With no
        /// condition at all it is a plain `set`, as in the seed.
        pub $($kw)* fn compare_and_swap(
            &self,
            path: &str,
            value: &str,
            current_value: Option<&str>,
            current_index: Option<u64>,
            prev_exists: Option<bool>,
            ttl: Option<u64>,
        ) -> Result<KeysResponse, Error> {
            let when = Conditions {
                value: current_value,
                index: current_index,
                exists: prev_exists,
            };
            match cas(path, value, when, ttl) {
                Ok(op) => self.client.execute(&op)$($aw)*,
                Err(set) => self.client.execute(&set)$($aw)*,
            }
        }

        /// Set a key only if it does not exist yet (errorCode 105 otherwise).
        pub $($kw)* fn create_only(&self, path: &str, value: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
            self.client.execute(&with_ttl(Create::new(path, value), ttl, Create::ttl))$($aw)*
        }

        /// Set a key only if it exists (errorCode 100 otherwise).
        pub $($kw)* fn update_only(&self, path: &str, value: &str, ttl: Option<u64>) -> Result<KeysResponse, Error> {
            self.client.execute(&with_ttl(Update::new(path, value), ttl, Update::ttl))$($aw)*
        }

        /// Set a key only if its `modifiedIndex` is `current_index` (errorCode
        /// 101 otherwise).
        pub $($kw)* fn update_if_index(
            &self,
            path: &str,
            value: &str,
            current_index: u64,
            ttl: Option<u64>,
        ) -> Result<KeysResponse, Error> {
            let op = CompareAndSwap::new(path, value).prev_index(current_index);
            self.client.execute(&with_ttl(op, ttl, CompareAndSwap::ttl))$($aw)*
        }

        /// Set a key only if its value is `current_value` (errorCode 101
        /// otherwise).
        pub $($kw)* fn update_if_value(
            &self,
            path: &str,
            value: &str,
            current_value: &str,
            ttl: Option<u64>,
        ) -> Result<KeysResponse, Error> {
            let op = CompareAndSwap::new(path, value).prev_value(current_value);
            self.client.execute(&with_ttl(op, ttl, CompareAndSwap::ttl))$($aw)*
        }

        /// Reset a key's TTL without changing its value (watchers are not
        /// woken).
        pub $($kw)* fn refresh(&self, path: &str, ttl: u64) -> Result<KeysResponse, Error> {
            self.client.execute(&Refresh::new(path, ttl))$($aw)*
        }

        /// Delete a key; with `current_value` and/or `current_index`, only if
        /// they match (a compare-and-delete, errorCode 101 otherwise).
        pub $($kw)* fn delete(
            &self,
            path: &str,
            current_value: Option<&str>,
            current_index: Option<u64>,
        ) -> Result<KeysResponse, Error> {
            self.client.execute(&conditions(Delete::new(path), current_value, current_index))$($aw)*
        }

        /// Delete a key only if its `modifiedIndex` is `current_index`.
        pub $($kw)* fn delete_if_index(&self, path: &str, current_index: u64) -> Result<KeysResponse, Error> {
            self.delete(path, None, Some(current_index))$($aw)*
        }

        /// Delete a key only if its value is `current_value`.
        pub $($kw)* fn delete_if_value(&self, path: &str, current_value: &str) -> Result<KeysResponse, Error> {
            self.delete(path, Some(current_value), None)$($aw)*
        }

        /// The seed's `CommonOps.compare_and_delete`: delete only if the
        /// conditions hold; at least one is required. `is_recursive` implies
        /// `is_dir`. etcd refuses compare-and-delete on directories (errorCode
        /// 102), and this never falls back to an unconditional delete.
        pub $($kw)* fn compare_and_delete(
            &self,
            path: &str,
            is_dir: bool,
            current_value: Option<&str>,
            current_index: Option<u64>,
            is_recursive: bool,
        ) -> Result<KeysResponse, Error> {
            if current_value.is_none() && current_index.is_none() {
                return Err(Error::invalid_argument(
                    "conditions",
                    "a compare-and-delete needs current_value or current_index",
                ));
            }
            let op = Delete::new(path).dir(is_dir).recursive(is_recursive);
            self.client.execute(&conditions(op, current_value, current_index))$($aw)*
        }
    };
}

group!(
    /// Node operations (the seed's `client.node`), for a [`Client`] or an
    /// [`AsyncClient`]. Every method returns the typed answer or a typed [`Error`]:
    /// a missing key is [`Error::is_key_not_found`], a failed condition
    /// [`Error::is_precondition_failed`], an existing key
    /// [`Error::is_already_exists`].
    ///
    /// ```
    /// # #[cfg(feature = "memory")]
    /// # fn main() -> Result<(), etcd_v2::Error> {
    /// use etcd_v2::{memory::MemoryEtcd, Client};
    /// // Against a cluster: Client::new("127.0.0.1", 2379)?. Here, etcd in memory:
    /// let etcd = MemoryEtcd::builder().build();
    /// let client = Client::builder().endpoints(etcd.endpoints()).build_with(etcd.clone())?;
    /// let node = client.node();
    /// node.set("/app/config", "v1", None)?;
    /// let read = node.get("/app/config", false)?;
    /// assert_eq!(read.value(), Some("v1"));
    /// // A compare-and-swap whose condition fails changes nothing.
    /// let refused = node.update_if_value("/app/config", "v3", "v2", None).unwrap_err();
    /// assert!(refused.is_precondition_failed());
    /// node.delete("/app/config", None, None)?;
    /// assert!(node.get("/app/config", false).unwrap_err().is_key_not_found());
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "memory"))]
    /// # fn main() {}
    /// ```
    NodeOps, node_api
);
