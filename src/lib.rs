//! # etcd-v2
//!
//! A client for etcd's v2 HTTP API (etcd 3.4 and 3.5 with `--enable-v2=true`): a
//! faithful Rust port of the Python etcd Client 1.1.3 that works against today's
//! etcd, built on a sans-IO core.
//!
//! ## Choose a transport
//!
//! The core ([`ops`], [`response`], [`cluster`]) builds `http::Request` values
//! and parses `http::Response` bytes; it never touches a socket or a clock.
//! Transports execute the requests:
//!
//! - `http1` (default feature): a lean blocking HTTP/1.1 transport on
//!   `std::net`, `httparse` and rustls; [`Client::new`] and
//!   `ClientBuilder::build` use it;
//! - `http1-tokio` (feature, tokio): its async twin, which `AsyncClient::new`
//!   and `ClientBuilder::build_async` use when enabled;
//! - `reqwest` (feature `reqwest`, tokio): async over reqwest, the async
//!   default when `http1-tokio` is not enabled;
//! - `ureq` (feature `ureq`): blocking over ureq (`build_from(UreqTransport::new)`,
//!   or the blocking default when `http1` is not enabled);
//! - any type implementing [`Transport`] or [`AsyncTransport`], including a
//!   closure, through [`ClientBuilder::build_with`] or
//!   [`ClientBuilder::build_async_with`];
//! - `memory::MemoryEtcd` (feature `memory`): etcd v2 served in memory, with a
//!   virtual clock, injected faults and a simulated cluster, for unit tests
//!   (README, "Testing your code"). Its HTTP side (request decoding, etcd's exact
//!   answers) is the sans-IO `server` module (feature `server`).
//!
//! [`AsyncClient`] has [`Client`]'s API method for method; both drive the same
//! operations and state machines.
//!
//! ## The basics
//!
//! ```no_run
//! use etcd_v2::Client;
//!
//! let client = Client::new("127.0.0.1", 2379)?;
//! let node = client.node();
//! node.set("/app/config", "v1", None)?;                       // set
//! node.create_only("/app/lock", "me", Some(30))?;             // create with a TTL
//! node.update_if_value("/app/config", "v2", "v1", None)?;     // compare-and-swap
//! let read = node.get("/app/config", false)?;
//! assert_eq!(read.value(), Some("v2"));
//! match node.get("/missing", false) {
//!     Err(e) if e.is_key_not_found() => {}                     // the seed's KeyError
//!     other => panic!("{other:?}"),
//! }
//!
//! let queue = client.inorder().get_inorder("/jobs");
//! queue.add("first", None)?;
//! queue.add("second", None)?;
//! let items: Vec<String> = queue.list()?.into_iter().filter_map(|n| n.value).collect();
//! assert_eq!(items, ["first", "second"]);
//! # Ok::<(), etcd_v2::Error>(())
//! ```
//!
//! ## Watching
//!
//! [`Client::watch`] gives a stream of [`watch::WatchEvent`]s that never loses or
//! repeats an event; the rules live in the [`watch`] state machine.
//!
//! ## Locks and leaders
//!
//! `client.module().lock()` and `client.module().leader()` rebuild the seed's
//! modules on v2 primitives, as the state machines in [`recipes`]; locks use
//! python-etcd's key layout so Rust and Python processes can share them.
//!
//! ## Failover
//!
//! Give the builder several endpoints: the client pins the one that answered
//! last, skips a failed one for [`cluster::HOST_FAIL_WAIT`], never rotates on a
//! 4xx, and never resends a write that may already have been applied: after an
//! ambiguous failure (a timeout, a connection lost after sending, errorCode 300)
//! a write returns [`Error::OutcomeUnknown`], plain sets included, unless the
//! client was built with
//! [`ClientBuilder::resend_sets_after_unknown_outcome`] (see [`cluster`] and
//! [`ops::keys`]). Reads are resent.
//!
//! ## Driving an operation by hand
//!
//! Every call is an [`Operation`] value in [`ops::keys`]; build its request,
//! send it however you like, and parse the answer. See [`ops`].
//!
//! ## Writing your own transport
//!
//! Implement [`Transport`] (or pass a closure): copy every header and the whole
//! body, never follow redirects, and classify failures with
//! [`TransportErrorKind`]. Override [`Transport::now`] and [`Transport::sleep`]
//! to run the client on virtual time.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// Builder methods that each set one field and give the value back:
/// `setter!(/// docs name(arg: Type) -> field = expression; ...)`.
macro_rules! setter {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) -> $field:ident = $value:expr);+ $(;)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$field = $value;
                self
            }
        )+
    };
}

pub mod base64;
#[cfg(feature = "bridge")]
pub mod bridge;
pub mod client;
pub mod cluster;
mod credentials;
pub mod endpoint;
pub mod error;
pub mod event_json;
mod headers;
pub mod key;
pub mod listing;
pub mod machine;
#[cfg(feature = "memory")]
pub mod memory;
pub mod ops;
pub mod recipes;
pub mod response;
#[cfg(feature = "server")]
pub mod server;
pub mod timestamp;
pub mod transport;
#[path = "../transports/mod.rs"]
pub mod transports;
pub mod value;
pub mod watch;

/// The `http` crate this one builds on, re-exported so that hand-made requests
/// (`RawRequest::new(http::Method::PUT, ..)`) and transports need no
/// dependency of their own.
pub use http;

pub use client::{AsyncClient, Client, ClientBuilder, TlsOptions, TransportOptions};
pub use credentials::{Credentials, Secret};
pub use endpoint::Endpoint;
pub use error::{Error, ErrorCode, ErrorKind, EtcdError, TransportError, TransportErrorKind};
pub use ops::Operation;
pub use response::{Acknowledged, Action, ClusterInfo, KeysResponse, Node};
pub use transport::{AsyncTransport, Flow, HttpRequest, HttpResult, Transport, CLUSTER_HEADERS};

pub use transports::{DefaultAsyncTransport, DefaultTransport};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
