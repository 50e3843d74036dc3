//! The keys API (`/v2/keys`): one operation per call.
//!
//! Values and write options travel in a form-encoded body (so long values never
//! hit etcd's 4096-byte request line limit); the options of GET and DELETE travel
//! in the query string, because etcd ignores a DELETE body, which would turn a
//! compare-and-delete into an unconditional delete.
//!
//! "Safe to resend" is whether the client sends the request again, to another
//! member, after a failure that leaves its outcome unknown (a timeout, a
//! connection lost after sending, errorCode 300). No write is, by default: a
//! write applied twice is two events to every watcher, and in between another
//! writer's value is overwritten. The plain writes marked "opt-in" are resent
//! only by a client built with
//! [`crate::ClientBuilder::resend_sets_after_unknown_outcome`].
//!
//! | operation | request | safe to resend |
//! |---|---|---|
//! | [`Get`] | `GET ?recursive&sorted&quorum` | yes |
//! | [`Set`] | `PUT value, ttl` | opt-in |
//! | [`Create`] | `PUT value, ttl, prevExist=false` | no |
//! | [`Update`] | `PUT value, ttl, prevExist=true` | opt-in |
//! | [`CompareAndSwap`] | `PUT value, ttl, prevValue, prevIndex, prevExist` | no |
//! | [`Refresh`] | `PUT ttl, refresh=true, prevExist=true` | opt-in |
//! | [`Delete`] | `DELETE ?prevValue&prevIndex&recursive&dir` | no |
//! | [`CreateDir`] | `PUT dir=true, ttl, prevExist=false` | no |
//! | [`UpdateDir`] | `PUT dir=true, ttl, prevExist=true` | opt-in |
//! | [`CreateInOrder`] | `POST value, ttl` | no |
//! | [`Wait`] | `GET ?wait=true&waitIndex&recursive` (long poll) | yes |
//! | [`CurrentIndex`] | `HEAD` (the store index, no body); with `quorum`, `GET ?quorum=true` | yes |
//! | [`NoValueOnSuccess`] | any write above with `noValueOnSuccess=true` | as the write |

use http::Method;

pub use super::MAX_TTL;
use super::{request, Params};
use crate::endpoint::Endpoint;
use crate::error::Error;

mod no_value;
mod read;
mod tree;
mod write;

pub use no_value::{NoValueOnSuccess, Write};
pub(crate) use read::{wait_after_idle, wait_after_read};
pub use read::{CurrentIndex, Get, GetListing, Wait, WaitOutcome};
pub use tree::{CreateDir, CreateInOrder, Delete, UpdateDir};
pub use write::{CompareAndSwap, Create, Refresh, Set, Update};

macro_rules! ttl_setter {
    () => {
        /// Expire the node after `seconds` (etcd's TTL is whole seconds; 0 expires
        /// it at the next sweep). Above [`crate::ops::MAX_TTL`] the request is refused before
        /// sending (etcd would misread it).
        pub fn ttl(mut self, seconds: u64) -> Self {
            self.ttl = Some(seconds);
            self
        }
    };
}
pub(crate) use ttl_setter;

/// The value and index conditions of a compare-and-swap, a refresh or a
/// compare-and-delete.
macro_rules! condition_setters {
    () => {
        /// Only if the current value is `value`.
        pub fn prev_value(mut self, value: impl Into<String>) -> Self {
            self.prev_value = Some(value.into());
            self
        }

        /// Only if the node's `modifiedIndex` is `index`.
        pub fn prev_index(mut self, index: u64) -> Self {
            self.prev_index = Some(index);
            self
        }
    };
}
pub(crate) use condition_setters;

/// `impl Operation` for a write answered with a keys event: the key is the
/// field `$field`; `$resend` is `never` (never resent after an unknown outcome)
/// or `opt_in` (resent only by a client that asks for it); `$build` builds the
/// request from `$s` (the operation) and `$e` (the endpoint). Extra methods may
/// follow.
macro_rules! keys_write {
    ($op:ty, $field:ident, $resend:ident, |$s:ident, $e:ident| $build:expr $(, $($extra:item)*)?) => {
        impl crate::ops::Operation for $op {
            type Output = crate::response::KeysResponse;
            fn key(&self) -> Option<&str> {
                Some(&self.$field)
            }
            fn build(
                &self,
                $e: &crate::endpoint::Endpoint,
            ) -> Result<http::Request<Vec<u8>>, crate::error::Error> {
                let $s = self;
                $build
            }
            fn parse(
                &self,
                response: http::Response<Vec<u8>>,
            ) -> Result<crate::response::KeysResponse, crate::error::Error> {
                crate::response::parse_keys(&response)
            }
            fn reads_responder_on_success(&self) -> bool {
                false
            }
            fn reads_only_cluster_headers(&self) -> bool {
                true
            }
            fn idempotent(&self) -> bool {
                false
            }
            fn repeatable(&self) -> bool {
                keys_write!(@repeatable $resend)
            }
            $($($extra)*)?
        }
    };
    (@repeatable never) => {
        false
    };
    (@repeatable opt_in) => {
        true
    };
}
pub(crate) use keys_write;

pub(crate) fn put(
    endpoint: &Endpoint,
    key: &str,
    form: &Params,
) -> Result<http::Request<Vec<u8>>, Error> {
    request(
        endpoint,
        Method::PUT,
        &keys_path(key)?,
        &Params::new(),
        Some(form),
    )
}

/// The request target of a key (see `ops::keys_path`).
pub(crate) use super::keys_path;
