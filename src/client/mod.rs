//! The clients: [`Client`] (blocking, over a [`Transport`]) and [`AsyncClient`]
//! (over an [`AsyncTransport`]). Both hold the endpoint pool and configuration
//! and drive the same operations and state machines; their public APIs match
//! method for method. Every method is written once, in a macro that expands to
//! a blocking and an `async` version (they differ only by `.await`).

/// A group of calls (`client.node()`, `client.members()`, ...): the struct
/// holding the client, and its calls in both modes from the group's api
/// macro, which takes `sync` or `async`.
macro_rules! group {
    ($(#[$doc:meta])* $name:ident, $api:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<'a, C> {
            client: &'a C,
        }

        impl<'a, C> $name<'a, C> {
            pub(super) fn new(client: &'a C) -> $name<'a, C> {
                $name { client }
            }
        }

        /// The blocking calls: each returns once etcd has answered (or the call
        /// failed for good).
        impl<T: Transport> $name<'_, Client<T>> {
            $api!(sync);
        }

        /// The async calls: each resolves once etcd has answered (or the call
        /// failed for good); nothing blocks a thread.
        impl<T: AsyncTransport> $name<'_, AsyncClient<T>> {
            $api!(async);
        }
    };
}

mod auth;
mod background;
mod builder;
#[cfg(feature = "bridge")]
mod copy;
mod directory;
mod driver;
mod inorder;
mod leader;
mod lock;
mod members;
mod module;
mod node;
mod recipe_driver;
mod server;
mod shared;
mod signal;
mod watch;
mod watch_worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use auth::AuthOps;
pub use background::KeepAlive;
pub use builder::{
    ClientBuilder, TlsOptions, TransportOptions, DEFAULT_MAX_BODY_SIZE, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
};
pub use directory::DirectoryOps;
pub use inorder::{InOrder, InOrderOps};
pub use leader::{Campaign, LeaderEvent, LeaderOps, Observe};
pub use lock::{Lock, LockGuard, LockOps};
pub use members::MembersOps;
pub use module::Modules;
pub use node::NodeOps;
pub use server::{ServerOps, StatOps};
pub use watch::{Watch, WatchNext, WatchOptions, WatchStopper};

use crate::cluster::Attempts;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ops::raw::RawRequest;
use crate::ops::Operation;
use crate::response::{parse_keys, KeysResponse};
use crate::transport::{AsyncTransport, Transport};
use crate::{DefaultAsyncTransport, DefaultTransport};
use shared::{After, Shared};

/// Longest single sleep of a driver loop, so that a stop is noticed quickly.
pub(crate) const STOP_CHECK: Duration = Duration::from_millis(50);

struct Inner<T> {
    transport: T,
    shared: Shared,
}

/// A blocking etcd v2 client: the seed's `Client`.
///
/// Cheap to clone (an `Arc`), `Send + Sync`, and shared by many threads over one
/// connection pool. It logs requests through the `log` facade at debug level
/// (never credentials) and prints nothing.
///
/// ```no_run
/// let client = etcd_v2::Client::new("127.0.0.1", 2379)?;
/// client.node().set("/greeting", "hello", None)?;
/// assert_eq!(client.node().get("/greeting", false)?.value(), Some("hello"));
/// # Ok::<(), etcd_v2::Error>(())
/// ```
pub struct Client<T: Transport = DefaultTransport> {
    inner: Arc<Inner<T>>,
}

/// An async etcd v2 client: [`Client`]'s API, method for method, with `async`
/// methods. Cheap to clone and `Send + Sync`; its futures are `Send`.
///
/// ```no_run
/// # #[cfg(feature = "reqwest")]
/// # async fn demo() -> Result<(), etcd_v2::Error> {
/// let client = etcd_v2::AsyncClient::new("127.0.0.1", 2379)?;
/// client.node().set("/greeting", "hello", None).await?;
/// assert_eq!(client.node().get("/greeting", false).await?.value(), Some("hello"));
/// # Ok(())
/// # }
/// ```
pub struct AsyncClient<T: AsyncTransport = DefaultAsyncTransport> {
    inner: Arc<Inner<T>>,
}

impl Client {
    /// A builder for endpoints, timeouts, TLS and credentials (for either
    /// client).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

macro_rules! common_impls {
    ($client:ident, $bound:ident) => {
        impl<T: $bound> Clone for $client<T> {
            fn clone(&self) -> $client<T> {
                $client {
                    inner: Arc::clone(&self.inner),
                }
            }
        }

        impl<T: $bound> std::fmt::Debug for $client<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($client))
                    .field("endpoints", &self.inner.shared.pool().endpoints())
                    .field("config", &self.inner.shared.config)
                    .finish_non_exhaustive()
            }
        }
    };
}

common_impls!(Client, Transport);
common_impls!(AsyncClient, AsyncTransport);

/// The methods of both clients. `sync` expands them blocking, `async` as
/// `async fn`s awaiting the transport.
macro_rules! client_api {
    (sync) => {
        client_api!(@ [] []);
    };
    (async) => {
        client_api!(@ [async] [.await]);
    };
    (@ [$($kw:tt)*] [$($aw:tt)*]) => {
        pub(crate) fn from_parts(transport: T, shared: Shared) -> Self {
            Self {
                inner: Arc::new(Inner { transport, shared }),
            }
        }

        /// The transport.
        pub fn transport(&self) -> &T {
            &self.inner.transport
        }

        pub(crate) fn shared(&self) -> &Shared {
            &self.inner.shared
        }

        /// The URL prefix of the pinned endpoint, e.g. `http://127.0.0.1:2379`
        /// (the seed's `prefix`).
        pub fn prefix(&self) -> String {
            self.inner.shared.pool().pinned().to_string()
        }

        /// The endpoints, in order.
        pub fn endpoints(&self) -> Vec<Endpoint> {
            self.inner.shared.pool().endpoints()
        }

        /// The cluster ID this client is pinned to, once known.
        pub fn cluster_id(&self) -> Option<String> {
            self.inner.shared.pool().cluster_id().map(str::to_owned)
        }

        /// Run any operation: build, send (with failover), parse.
        pub $($kw)* fn execute<O: Operation + Sync + ?Sized>(&self, op: &O) -> Result<O::Output, Error> {
            self.auto_sync()$($aw)*;
            let attempts = self.attempts(op);
            self.execute_with(op, attempts)$($aw)*
        }

        /// Run an operation against one endpoint only (which need not be one of
        /// the client's), with no failover: for questions about a particular
        /// member.
        pub $($kw)* fn execute_on<O: Operation + Sync + ?Sized>(
            &self,
            endpoint: &Endpoint,
            op: &O,
        ) -> Result<O::Output, Error> {
            let attempts = self.attempts(op).only(endpoint.clone());
            self.execute_with(op, attempts)$($aw)*
        }

        pub(crate) fn attempts<O: Operation + ?Sized>(&self, op: &O) -> Attempts {
            self.inner.shared.attempts(op, self.inner.transport.now())
        }

        pub(crate) $($kw)* fn execute_with<O: Operation + Sync + ?Sized>(
            &self,
            op: &O,
            attempts: Attempts,
        ) -> Result<O::Output, Error> {
            #[cfg(feature = "bridge")]
            if let Some(prefix) = &self.inner.shared.config.bridge {
                let endpoint = self.inner.shared.pool().pinned().clone();
                let request = op.build(&endpoint)?;
                // `/version` and `/health` are served by every member, v2 or not.
                if !crate::bridge::passes_through(&request) {
                    return self.execute_bridged(prefix, op, (endpoint, request), &attempts)$($aw)*;
                }
            }
            self.execute_direct(op, attempts)$($aw)*
        }

        /// Carry out a v2 operation over the v3 bridge: the request the
        /// operation builds is translated by [`crate::bridge::Call`], whose v3
        /// requests go through the pool, and the v2 answer it makes is parsed
        /// as etcd's would be.
        #[cfg(feature = "bridge")]
        $($kw)* fn execute_bridged<O: Operation + Sync + ?Sized>(
            &self,
            prefix: &[u8],
            op: &O,
            (endpoint, request): (Endpoint, http::Request<Vec<u8>>),
            attempts: &Attempts,
        ) -> Result<O::Output, Error> {
            let expected = self.inner.shared.pool().cluster_id().map(str::to_owned);
            let now = self.inner.transport.unix_nanos();
            let call = crate::bridge::call_for(prefix, &request, now)?
                .expect_cluster(expected)
                .wait_timeout(attempts.timeout())
                .deadline(attempts.deadline());
            let shared = &self.inner.shared;
            let has_token = shared.bridge_token().is_some();
            let mut call = crate::bridge::auth::Authed::new(call, shared.config.credentials.clone(), has_token);
            let options = driver::RunOptions {
                deadline: attempts.deadline(),
                ..Default::default()
            };
            let mut response = self.run_machine_with(&mut call, options)$($aw)*??;
            if let Some(err) = self
                .inner
                .shared
                .pool()
                .note_cluster_id(&response, endpoint.as_str())
            {
                return Err(err);
            }
            response
                .extensions_mut()
                .insert(crate::response::RespondedBy(endpoint.as_str().to_owned()));
            op.parse(response)
        }

        /// Run an operation through the pool as it is (over the bridge too:
        /// the bridge's own v3 requests).
        pub(crate) $($kw)* fn execute_direct<O: Operation + Sync + ?Sized>(
            &self,
            op: &O,
            mut attempts: Attempts,
        ) -> Result<O::Output, Error> {
            let shared = &self.inner.shared;
            let span = shared::call_span(op);
            loop {
                let prepared = match shared.prepare(op, &mut attempts, self.inner.transport.now(), &span) {
                    Ok(prepared) => prepared,
                    Err(e) => {
                        shared::failed_early(&span, &e);
                        return Err(e);
                    }
                };
                let outcome = if op.streamed() {
                    let mut line = |l: &[u8]| op.line(l);
                    self.inner
                        .transport
                        .send_streaming(prepared.request, prepared.timeout, &mut line)$($aw)*
                } else if op.reads_only_cluster_headers() {
                    self.inner
                        .transport
                        .send_keeping_cluster_headers(prepared.request, prepared.timeout)$($aw)*
                } else {
                    self.inner.transport.send(prepared.request, prepared.timeout)$($aw)*
                };
                let now = self.inner.transport.now();
                match shared.conclude(op, &mut attempts, &prepared.endpoint, outcome, now, &span) {
                    After::Done(result) => return result,
                    After::Retry => continue,
                }
            }
        }

        /// Refresh the endpoint list from `/v2/members`: every started member's
        /// client URLs become the endpoints (failure marks of endpoints that stay
        /// are kept). With [`ClientBuilder::prefer_leader`], the leader is pinned.
        /// Returns the new list.
        pub $($kw)* fn sync_endpoints(&self) -> Result<Vec<Endpoint>, Error> {
            let list = crate::ops::members::List;
            let members = self.execute_with(&list, self.attempts(&list))$($aw)*?;
            let leader = if self.inner.shared.config.prefer_leader {
                let op = crate::ops::members::Leader;
                self.execute_with(&op, self.attempts(&op))$($aw)*.ok()
            } else {
                None
            };
            let endpoints = self.inner.shared.apply_sync(&members, leader.as_ref())?;
            tracing::info!(endpoints = ?endpoints.iter().map(Endpoint::as_str).collect::<Vec<_>>(), "endpoints synced from the members");
            Ok(endpoints)
        }

        $($kw)* fn auto_sync(&self) {
            // Without auto-sync, no clock is read.
            if self.inner.shared.config.auto_sync.is_none() {
                return;
            }
            if self.inner.shared.sync_due(self.inner.transport.now()) {
                if let Err(e) = self.sync_endpoints()$($aw)* {
                    tracing::info!(error = %e, "endpoint sync failed; keeping the current endpoints");
                }
            }
        }

        /// Send a hand-made request and parse the answer as a keys response (the
        /// seed's `send`).
        pub $($kw)* fn send(&self, request: &RawRequest) -> Result<KeysResponse, Error> {
            parse_keys(&self.send_raw(request)$($aw)*?)
        }

        /// Send a hand-made request and return the raw answer, whatever its
        /// status (the seed's `send(..., return_raw=True)`).
        /// Like every call, it keeps the client's deadline and endpoint
        /// sync. Over the v3 bridge, which decides itself which v3 requests
        /// may be resent and where, a request with `allow_reconnect(false)` or a
        /// `safe_to_resend` other than its method's default is refused with
        /// [`Error::NotOnBridge`] before anything is sent.
        pub $($kw)* fn send_raw(&self, request: &RawRequest) -> Result<http::Response<Vec<u8>>, Error> {
            #[cfg(feature = "bridge")]
            if self.inner.shared.config.bridge.is_some() && request.sets_resending() {
                return Err(Error::NotOnBridge(
                    "a raw request's allow_reconnect(false) or a safe_to_resend other than \
                     its method's default: the bridge decides which v3 requests are resent, \
                     and to which member"
                        .into(),
                ));
            }
            self.auto_sync()$($aw)*;
            let attempts = self.attempts(request).with_failover(request.allows_reconnect());
            self.execute_with(request, attempts)$($aw)*
        }

        /// Sleep on the transport's clock until `at`, in short steps, unless
        /// `stop` is set.
        pub(crate) $($kw)* fn sleep_until(&self, at: Instant, stop: Option<&AtomicBool>) {
            loop {
                let now = self.inner.transport.now();
                if now >= at || stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                    return;
                }
                self.inner.transport.sleep((at - now).min(STOP_CHECK))$($aw)*;
            }
        }

        /// Watch `key` for changes: a stream of [`crate::watch::WatchEvent`]s that
        /// never loses or repeats an event. See [`WatchOptions`] and
        /// [`crate::watch`].
        pub fn watch(&self, key: &str) -> WatchOptions<Self> {
            WatchOptions::new(self.clone(), key)
        }

        /// Node operations: the seed's `client.node`.
        pub fn node(&self) -> NodeOps<'_, Self> {
            NodeOps::new(self)
        }

        /// Directory operations: the seed's `client.directory`.
        pub fn directory(&self) -> DirectoryOps<'_, Self> {
            DirectoryOps::new(self)
        }

        /// In-order (queue) operations: the seed's `client.inorder`.
        pub fn inorder(&self) -> InOrderOps<'_, Self> {
            InOrderOps::new(self)
        }

        /// Server information: the seed's `client.server`.
        pub fn server(&self) -> ServerOps<'_, Self> {
            ServerOps::new(self)
        }

        /// Statistics: the seed's `client.stat`.
        pub fn stat(&self) -> StatOps<'_, Self> {
            StatOps::new(self)
        }

        /// The members API.
        pub fn members(&self) -> MembersOps<'_, Self> {
            MembersOps::new(self)
        }

        /// The auth API: users, roles, enable and disable.
        pub fn auth(&self) -> AuthOps<'_, Self> {
            AuthOps::new(self)
        }

        /// The seed's `client.module`: locks and leader election.
        pub fn module(&self) -> Modules<'_, Self> {
            Modules::new(self)
        }
    };
}

impl<T: Transport> Client<T> {
    client_api!(sync);
}

impl<T: AsyncTransport> AsyncClient<T> {
    client_api!(async);
}
