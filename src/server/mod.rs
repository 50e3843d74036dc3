//! etcd's side of the v2 protocol, sans-IO: decoding a request as etcd 3.4's
//! HTTP layer reads it ([`request::decode`]) and encoding answers as it writes
//! them ([`reply`]), with the typed events and errors in between ([`types`]).
//!
//! It holds no keys: a backend (the in-memory store behind
//! [`crate::memory::MemoryEtcd`], or another) applies the decoded requests. The
//! Go details a faithful server needs live here: form parsing and its error
//! texts ([`form`]), the mux's redirects and 404/405 pages, and Go's JSON
//! escaping ([`json`]).
//!
//! ```
//! use etcd_v2::server::request::{decode, Route};
//!
//! let request = http::Request::put("/v2/keys/a?prevExist=false")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(b"value=1&ttl=5".to_vec())
//!     .unwrap();
//! let Route::Keys(keys) = decode(&request) else { panic!() };
//! assert_eq!((keys.key.as_slice(), keys.prev_exist, keys.ttl), (&b"/a"[..], Some(false), Some(5)));
//! ```

pub mod form;
pub mod json;
pub mod reply;
pub mod request;
pub mod types;
