//! Reading values, one way on both [`Node`] and [`KeysResponse`] (whose methods
//! read its `node`):
//!
//! - [`Node::value`]: the text, `None` for a directory, a deleted or expired
//!   node, or an answer to a write sent with `noValueOnSuccess` (the field
//!   [`Node::value`](struct@Node) itself holds the same, owned);
//! - [`Node::value_str`]: the text, or `""` when there is none (the seed's
//!   habit);
//! - [`Node::value_as`]: the text parsed with [`FromStr`] (numbers, booleans,
//!   addresses);
//! - [`Node::json`]: the text deserialized from JSON.
//!
//! The last two fail with a typed error: [`Error::NoValue`] when there is no
//! value, [`Error::BadValue`] when it does not parse.
//!
//! ```
//! use etcd_v2::{Node, ops::keys::Get, Operation};
//! let body = br#"{"action":"get","node":{"key":"/app/port","value":"8080","modifiedIndex":3,"createdIndex":3}}"#;
//! let response = http::Response::builder().status(200).body(body.to_vec()).unwrap();
//! let read = Get::new("/app/port").parse(response).unwrap();
//! assert_eq!(read.value(), Some("8080"));
//! assert_eq!(read.value_as::<u16>().unwrap(), 8080);
//! assert!(read.value_as::<bool>().unwrap_err().to_string().contains("/app/port"));
//! ```

use std::str::FromStr;

use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::response::{KeysResponse, Node};

impl Node {
    /// The value's text; `None` for a directory, a deleted or expired node, or
    /// an answer to a write sent with `noValueOnSuccess`.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// The value's text, or `""` when there is none.
    pub fn value_str(&self) -> &str {
        self.value().unwrap_or("")
    }

    /// The value parsed as a `T` ([`FromStr`]): [`Error::NoValue`] when there is
    /// no value, [`Error::BadValue`] when it does not parse.
    pub fn value_as<T>(&self) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        value_as(&self.key, self.value())
    }

    /// The value deserialized from JSON as a `T`: [`Error::NoValue`] when there
    /// is no value, [`Error::BadValue`] when it is not that JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        json(&self.key, self.value())
    }
}

fn require_value<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str, Error> {
    value.ok_or_else(|| Error::NoValue {
        key: key.to_owned(),
    })
}

/// `value` of the node at `key`, parsed as a `T` (shared with
/// [`crate::listing::NodeRef::value_as`]).
pub(crate) fn value_as<T>(key: &str, value: Option<&str>) -> Result<T, Error>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text = require_value(key, value)?;
    text.parse().map_err(|e: T::Err| Error::BadValue {
        key: key.to_owned(),
        reason: format!("not a {}: {e}", std::any::type_name::<T>()),
    })
}

/// `value` of the node at `key`, deserialized from JSON as a `T`.
pub(crate) fn json<T: DeserializeOwned>(key: &str, value: Option<&str>) -> Result<T, Error> {
    let text = require_value(key, value)?;
    serde_json::from_str(text).map_err(|e| Error::BadValue {
        key: key.to_owned(),
        reason: format!("not JSON for a {}: {e}", std::any::type_name::<T>()),
    })
}

impl KeysResponse {
    /// The node's value text (see [`Node::value`]).
    pub fn value(&self) -> Option<&str> {
        self.node.value()
    }

    /// The node's value text, or `""` (see [`Node::value_str`]).
    pub fn value_str(&self) -> &str {
        self.node.value_str()
    }

    /// The node's value parsed as a `T` (see [`Node::value_as`]).
    pub fn value_as<T>(&self) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.node.value_as()
    }

    /// The node's value deserialized from JSON (see [`Node::json`]).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.node.json()
    }
}
