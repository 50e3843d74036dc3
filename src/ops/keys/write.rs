//! Writes of a key: [`Set`], [`Create`], [`Update`], [`CompareAndSwap`] and
//! [`Refresh`].

use super::{put, ttl_setter};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ops::{check_prev_index, check_prev_value, check_ttl, Operation, Params};
use crate::response::{parse_keys, KeysResponse};

/// Set a key's value, creating it (and its parents) if needed. A plain set
/// replaces the node: its TTL is dropped unless given again, and its
/// `createdIndex` is reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    key: String,
    value: String,
    ttl: Option<u64>,
}

impl Set {
    /// Set `key` to `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Set {
        Set {
            key: key.into(),
            value: value.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

impl Operation for Set {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("value", &self.value).push_opt("ttl", self.ttl);
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn repeatable(&self) -> bool {
        true
    }
}

/// Create a key only if it does not exist (`prevExist=false`); fails with
/// errorCode 105 otherwise (the seed's `create_only`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    key: String,
    value: String,
    ttl: Option<u64>,
}

impl Create {
    /// Create `key` with `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Create {
        Create {
            key: key.into(),
            value: value.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

impl Operation for Create {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("value", &self.value)
            .push_opt("ttl", self.ttl)
            .push("prevExist", "false");
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// Change a key only if it exists (`prevExist=true`); fails with errorCode 100
/// otherwise (the seed's `update_only`). Without a TTL, an existing TTL is
/// removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    key: String,
    value: String,
    ttl: Option<u64>,
}

impl Update {
    /// Update `key` to `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Update {
        Update {
            key: key.into(),
            value: value.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

impl Operation for Update {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        let mut form = Params::new();
        form.push("value", &self.value)
            .push_opt("ttl", self.ttl)
            .push("prevExist", "true");
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn repeatable(&self) -> bool {
        true
    }
}

/// Atomic compare-and-swap: set the value only if the current node matches every
/// condition given (`prevValue`, `prevIndex`, `prevExist`). A failed condition is
/// errorCode 101 (the seed's `EtcdPreconditionException`).
///
/// At least one condition is required. `prev_index(0)` and `prev_value("")` are
/// refused (etcd would treat the first as no condition and refuses the second),
/// as is `prev_exist(false)` together with a value or index condition (a create
/// has nothing to compare; etcd would silently ignore them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareAndSwap {
    key: String,
    value: String,
    ttl: Option<u64>,
    prev_value: Option<String>,
    prev_index: Option<u64>,
    prev_exist: Option<bool>,
}

impl CompareAndSwap {
    /// Swap `key` to `value`, under the conditions set next.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> CompareAndSwap {
        CompareAndSwap {
            key: key.into(),
            value: value.into(),
            ttl: None,
            prev_value: None,
            prev_index: None,
            prev_exist: None,
        }
    }

    /// Only if the current value is `value`.
    pub fn prev_value(mut self, value: impl Into<String>) -> CompareAndSwap {
        self.prev_value = Some(value.into());
        self
    }

    /// Only if the node's `modifiedIndex` is `index`.
    pub fn prev_index(mut self, index: u64) -> CompareAndSwap {
        self.prev_index = Some(index);
        self
    }

    /// Only if the node exists (`true`) or does not (`false`).
    pub fn prev_exist(mut self, exists: bool) -> CompareAndSwap {
        self.prev_exist = Some(exists);
        self
    }
    ttl_setter!();

    fn check(&self) -> Result<(), Error> {
        if self.prev_value.is_none() && self.prev_index.is_none() && self.prev_exist.is_none() {
            return Err(Error::invalid_argument(
                "conditions",
                "a compare-and-swap needs prev_value, prev_index or prev_exist (use Set for an unconditional write)",
            ));
        }
        if self.prev_exist == Some(false)
            && (self.prev_value.is_some() || self.prev_index.is_some())
        {
            return Err(Error::invalid_argument(
                "prev_exist",
                "prev_exist(false) is a create: there is no previous value or index to compare, and etcd would ignore them",
            ));
        }
        check_prev_index(self.prev_index)?;
        check_prev_value(self.prev_value.as_deref())
    }
}

impl Operation for CompareAndSwap {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(self.ttl)?;
        self.check()?;
        let mut form = Params::new();
        form.push("value", &self.value)
            .push_opt("ttl", self.ttl)
            .push_opt("prevValue", self.prev_value.as_deref())
            .push_opt("prevIndex", self.prev_index)
            .push_opt("prevExist", self.prev_exist);
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
}

/// Reset a key's TTL without touching its value (`refresh=true&prevExist=true`).
/// The answer's action is `update`. A refresh does not wake watchers and is not
/// replayed by a watch from an older index. Optionally guarded by the current
/// value or index (a failed guard is errorCode 101).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    key: String,
    ttl: u64,
    prev_value: Option<String>,
    prev_index: Option<u64>,
}

impl Refresh {
    /// Give `key` a fresh TTL of `ttl` seconds.
    pub fn new(key: impl Into<String>, ttl: u64) -> Refresh {
        Refresh {
            key: key.into(),
            ttl,
            prev_value: None,
            prev_index: None,
        }
    }

    /// Only if the current value is `value`.
    pub fn prev_value(mut self, value: impl Into<String>) -> Refresh {
        self.prev_value = Some(value.into());
        self
    }

    /// Only if the node's `modifiedIndex` is `index`.
    pub fn prev_index(mut self, index: u64) -> Refresh {
        self.prev_index = Some(index);
        self
    }
}

impl Operation for Refresh {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_ttl(Some(self.ttl))?;
        check_prev_index(self.prev_index)?;
        check_prev_value(self.prev_value.as_deref())?;
        let mut form = Params::new();
        form.push("ttl", &self.ttl.to_string())
            .push("refresh", "true")
            .push("prevExist", "true")
            .push_opt("prevValue", self.prev_value.as_deref())
            .push_opt("prevIndex", self.prev_index);
        put(endpoint, &self.key, &form)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response)
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn repeatable(&self) -> bool {
        true
    }
}
