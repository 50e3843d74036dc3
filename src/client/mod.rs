//! The blocking [`Client`]: holds the endpoint pool and configuration, and drives
//! operations through a [`Transport`].

mod auth;
mod directory;
mod inorder;
mod members;
mod module;
mod node;
mod server;
mod watch;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use auth::AuthOps;
pub use directory::DirectoryOps;
pub use inorder::{InOrder, InOrderOps};
pub use members::MembersOps;
pub use module::{
    Campaign, KeepAlive, LeaderEvent, LeaderOps, Lock, LockGuard, LockOps, Modules, Observe,
};
pub use node::NodeOps;
pub use server::{ServerOps, StatOps};
pub use watch::{Watch, WatchOptions, WatchStopper};

use crate::cluster::{Attempts, EndpointPool, Verdict};
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ops::raw::RawRequest;
use crate::ops::Operation;
use crate::response::{parse_keys, KeysResponse};
use crate::transport::Transport;
use crate::DefaultTransport;

/// Default per-request timeout: longer than the ~7 s after which etcd itself
/// answers a stuck write with errorCode 300, so that etcd's definite answer
/// arrives before an ambiguous client-side timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Default long-poll timeout of a wait; when it passes, the wait is re-issued at
/// the same index, so nothing is lost.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default cap on a response body.
pub const DEFAULT_MAX_BODY_SIZE: usize = 64 * 1024 * 1024;

/// Options for the transport an adapter builds from a [`ClientBuilder`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportOptions {
    /// Bound on establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Largest response body read; a larger one is a
    /// [`crate::TransportErrorKind::BodyTooLarge`] error.
    pub max_body_size: usize,
    /// Idle connections kept per host.
    pub max_idle_per_host: usize,
    /// TLS settings for `https` endpoints.
    pub tls: TlsOptions,
}

impl Default for TransportOptions {
    fn default() -> TransportOptions {
        TransportOptions {
            connect_timeout: Duration::from_secs(3),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            max_idle_per_host: 32,
            tls: TlsOptions::default(),
        }
    }
}

/// TLS settings: the seed's `ssl_ca_bundle_filepath`, `ssl_client_cert_filepath`,
/// `ssl_client_key_filepath` and `ssl_do_verify`, as PEM file paths. The adapter
/// reads the files when the client is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// A PEM bundle of CA certificates to trust instead of the built-in roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// A PEM client certificate (chain) for client-certificate auth.
    pub client_cert_file: Option<std::path::PathBuf>,
    /// The PEM private key of the client certificate.
    pub client_key_file: Option<std::path::PathBuf>,
    /// Accept any server certificate: no chain or hostname verification.
    /// Dangerous; see [`ClientBuilder::danger_accept_invalid_certs`].
    pub danger_accept_invalid_certs: bool,
}

#[derive(Debug)]
struct Config {
    request_timeout: Option<Duration>,
    wait_timeout: Option<Duration>,
    deadline: Option<Duration>,
    auto_sync: Option<Duration>,
    prefer_leader: bool,
    credentials: Option<Credentials>,
}

struct Inner<T> {
    transport: T,
    pool: Mutex<EndpointPool>,
    config: Config,
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

impl<T: Transport> Clone for Client<T> {
    fn clone(&self) -> Client<T> {
        Client {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Transport> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.pool().endpoints())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]: endpoints, timeouts, credentials, TLS.
///
/// ```
/// use std::time::Duration;
/// let builder = etcd_v2::Client::builder()
///     .endpoint("http://10.0.0.1:2379")
///     .endpoint("http://10.0.0.2:2379")
///     .timeout(Duration::from_secs(3))
///     .basic_auth("root", "secret");
/// assert!(!format!("{builder:?}").contains("secret"));
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ClientBuilder {
    endpoints: Vec<String>,
    request_timeout: Option<Option<Duration>>,
    wait_timeout: Option<Option<Duration>>,
    deadline: Option<Duration>,
    auto_sync: Option<Duration>,
    prefer_leader: bool,
    fail_wait: Option<Duration>,
    credentials: Option<Credentials>,
    cluster_id: Option<String>,
    transport: TransportOptions,
}

impl ClientBuilder {
    /// Add an endpoint (`http://host:port` or `https://host:port`).
    pub fn endpoint(mut self, url: impl Into<String>) -> ClientBuilder {
        self.endpoints.push(url.into());
        self
    }

    /// Add several endpoints.
    pub fn endpoints<I, S>(mut self, urls: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.endpoints.extend(urls.into_iter().map(Into::into));
        self
    }

    /// Per-request timeout (default [`DEFAULT_REQUEST_TIMEOUT`]); `None` waits
    /// forever. Waits do not inherit it (see [`ClientBuilder::wait_timeout`]).
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.request_timeout = Some(timeout.into());
        self
    }

    /// Long-poll timeout of a single wait request (default
    /// [`DEFAULT_WAIT_TIMEOUT`]); when it passes the wait is re-issued at the same
    /// index.
    pub fn wait_timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.wait_timeout = Some(timeout.into());
        self
    }

    /// An overall deadline for each call, across every failover attempt (each
    /// attempt's timeout is cut to what is left). None by default. Waits are
    /// exempt: they take the long-poll timeout.
    pub fn deadline(mut self, deadline: Duration) -> ClientBuilder {
        self.deadline = Some(deadline);
        self
    }

    /// Refresh the endpoint list from `/v2/members` before a call when the last
    /// refresh is older than `interval` (see [`Client::sync_endpoints`]).
    pub fn auto_sync(mut self, interval: Duration) -> ClientBuilder {
        self.auto_sync = Some(interval);
        self
    }

    /// When syncing endpoints, pin the leader's client URL (from
    /// `/v2/members/leader`), so that writes go straight to it.
    pub fn prefer_leader(mut self, prefer: bool) -> ClientBuilder {
        self.prefer_leader = prefer;
        self
    }

    /// How long a failed endpoint is skipped (default
    /// [`crate::cluster::HOST_FAIL_WAIT`], the seed's `HOST_FAIL_WAIT_S`).
    pub fn fail_wait(mut self, wait: Duration) -> ClientBuilder {
        self.fail_wait = Some(wait);
        self
    }

    /// Send HTTP basic-auth credentials with every request.
    pub fn basic_auth(
        mut self,
        user: impl Into<String>,
        password: impl AsRef<str>,
    ) -> ClientBuilder {
        self.credentials = Some(Credentials::new(user, password));
        self
    }

    /// Only talk to the cluster with this ID (`X-Etcd-Cluster-Id`, hex). Without
    /// it, the client pins the ID of the first answer.
    pub fn cluster_id(mut self, id: impl Into<String>) -> ClientBuilder {
        self.cluster_id = Some(id.into());
        self
    }

    /// Bound on establishing a connection (default 3 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.transport.connect_timeout = timeout;
        self
    }

    /// Largest response body accepted (default [`DEFAULT_MAX_BODY_SIZE`]).
    pub fn max_body_size(mut self, bytes: usize) -> ClientBuilder {
        self.transport.max_body_size = bytes;
        self
    }

    /// Trust the CA certificates in this PEM file (the seed's
    /// `ssl_ca_bundle_filepath`).
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> ClientBuilder {
        self.transport.tls.ca_file = Some(path.into());
        self
    }

    /// Authenticate with this PEM client certificate and key (the seed's
    /// `ssl_client_cert_filepath` and `ssl_client_key_filepath`).
    pub fn client_cert(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> ClientBuilder {
        self.transport.tls.client_cert_file = Some(cert.into());
        self.transport.tls.client_key_file = Some(key.into());
        self
    }

    /// **Dangerous**: accept any server certificate, without verifying its chain
    /// or host name (the seed's `ssl_do_verify=False`). Anyone on the path can
    /// then impersonate etcd and read every key and credential.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> ClientBuilder {
        self.transport.tls.danger_accept_invalid_certs = accept;
        self
    }

    /// The transport options collected so far, for an adapter.
    pub fn transport_options(&self) -> &TransportOptions {
        &self.transport
    }

    /// Build a client that sends through `transport`.
    pub fn build_with<T: Transport>(self, transport: T) -> Result<Client<T>, Error> {
        let endpoints = if self.endpoints.is_empty() {
            vec![Endpoint::new("127.0.0.1", 2379, false)]
        } else {
            self.endpoints
                .iter()
                .map(|e| Endpoint::parse(e))
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut pool = EndpointPool::new(endpoints)?.with_cluster_id(self.cluster_id);
        if let Some(wait) = self.fail_wait {
            pool = pool.with_fail_wait(wait);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                pool: Mutex::new(pool),
                config: Config {
                    request_timeout: self
                        .request_timeout
                        .unwrap_or(Some(DEFAULT_REQUEST_TIMEOUT)),
                    wait_timeout: self.wait_timeout.unwrap_or(Some(DEFAULT_WAIT_TIMEOUT)),
                    deadline: self.deadline,
                    auto_sync: self.auto_sync,
                    prefer_leader: self.prefer_leader,
                    credentials: self.credentials,
                },
            }),
        })
    }
}

impl Client {
    /// A builder for endpoints, timeouts, TLS and credentials.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

impl<T: Transport> Client<T> {
    fn pool(&self) -> MutexGuard<'_, EndpointPool> {
        // A panic while holding the lock cannot leave the pool inconsistent (each
        // update is a single assignment), so a poisoned lock is still usable.
        self.inner
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// The URL prefix of the pinned endpoint, e.g. `http://127.0.0.1:2379` (the
    /// seed's `prefix`).
    pub fn prefix(&self) -> String {
        self.pool().pinned().to_string()
    }

    /// The endpoints, in order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.pool().endpoints()
    }

    /// The cluster ID this client is pinned to, once known.
    pub fn cluster_id(&self) -> Option<String> {
        self.pool().cluster_id().map(str::to_owned)
    }

    /// Run any operation: build, send (with failover), parse.
    ///
    /// ```
    /// use etcd_v2::{ops::keys, Client, TransportError};
    /// let client = Client::builder()
    ///     .build_with(|_req: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, TransportError> {
    ///         Ok(http::Response::builder().status(201).body(
    ///             br#"{"action":"create","node":{"key":"/k","value":"v","modifiedIndex":9,"createdIndex":9}}"#.to_vec(),
    ///         ).unwrap())
    ///     })
    ///     .unwrap();
    /// let created = client.execute(&keys::Create::new("/k", "v").ttl(30)).unwrap();
    /// assert_eq!(created.node.created_index, 9);
    /// ```
    pub fn execute<O: Operation + ?Sized>(&self, op: &O) -> Result<O::Output, Error> {
        self.auto_sync();
        self.execute_with(op, self.attempts(op))
    }

    /// Run an operation against one endpoint only (which need not be one of the
    /// client's), with no failover: for questions about a particular member.
    pub fn execute_on<O: Operation + ?Sized>(
        &self,
        endpoint: &Endpoint,
        op: &O,
    ) -> Result<O::Output, Error> {
        self.execute_with(op, self.attempts(op).only(endpoint.clone()))
    }

    fn attempts<O: Operation + ?Sized>(&self, op: &O) -> Attempts {
        let deadline = match self.inner.config.deadline {
            Some(d) if !op.is_long_poll() => Some(self.inner.transport.now() + d),
            _ => None,
        };
        Attempts::new(op.idempotent())
            .long_poll(op.is_long_poll())
            .with_deadline(deadline)
    }

    fn execute_with<O: Operation + ?Sized>(
        &self,
        op: &O,
        mut attempts: Attempts,
    ) -> Result<O::Output, Error> {
        let config = &self.inner.config;
        let base_timeout = attempts.timeout().unwrap_or(if op.is_long_poll() {
            config.wait_timeout
        } else {
            config.request_timeout
        });
        loop {
            let now = self.inner.transport.now();
            let endpoint = self.pool().next_endpoint(&mut attempts, now)?;
            // Each attempt gets the per-request timeout, cut to what is left of the
            // call's deadline.
            let timeout = match (attempts.deadline(), base_timeout) {
                (Some(deadline), Some(t)) => Some(t.min(deadline.saturating_duration_since(now))),
                (Some(deadline), None) => Some(deadline.saturating_duration_since(now)),
                (None, t) => t,
            };
            let mut request = op.build(&endpoint)?;
            if let Some(credentials) = &config.credentials {
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, credentials.header().clone());
            }
            log::debug!("{} {}", request.method(), request.uri());
            let outcome = self.inner.transport.send(request, timeout);
            if let Err(e) = &outcome {
                log::debug!("{endpoint}: {e}");
            }
            let now = self.inner.transport.now();
            let verdict = self.pool().handle(&mut attempts, &endpoint, outcome, now);
            match verdict {
                Verdict::Deliver(response) => return op.parse(response),
                Verdict::Retry => continue,
                Verdict::Fail(err) => return Err(err),
            }
        }
    }

    /// Refresh the endpoint list from `/v2/members`: every started member's
    /// client URLs become the endpoints (failure marks of endpoints that stay are
    /// kept). With [`ClientBuilder::prefer_leader`], the leader is pinned. Returns
    /// the new list.
    pub fn sync_endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        let members = self.execute_with(
            &crate::ops::members::List,
            self.attempts(&crate::ops::members::List),
        )?;
        let mut endpoints = Vec::new();
        for url in members.iter().flat_map(|m| &m.client_urls) {
            match Endpoint::parse(url) {
                Ok(endpoint) if !endpoints.contains(&endpoint) => endpoints.push(endpoint),
                Ok(_) => {}
                Err(e) => log::debug!("ignoring a member's client URL: {e}"),
            }
        }
        if endpoints.is_empty() {
            return Err(Error::invalid_argument(
                "members",
                "the cluster reported no client URLs; keeping the current endpoints",
            ));
        }
        let leader = if self.inner.config.prefer_leader {
            let op = crate::ops::members::Leader;
            self.execute_with(&op, self.attempts(&op))
                .ok()
                .and_then(|m| m.client_urls.first().and_then(|u| Endpoint::parse(u).ok()))
        } else {
            None
        };
        self.pool().set_endpoints(endpoints, leader.as_ref())?;
        Ok(self.endpoints())
    }

    fn auto_sync(&self) {
        let Some(interval) = self.inner.config.auto_sync else {
            return;
        };
        let now = self.inner.transport.now();
        if self.pool().claim_sync(now, interval) {
            if let Err(e) = self.sync_endpoints() {
                log::debug!("endpoint sync failed, keeping the current endpoints: {e}");
            }
        }
    }

    /// Send a hand-made request and parse the answer as a keys response (the
    /// seed's `send`).
    pub fn send(&self, request: &RawRequest) -> Result<KeysResponse, Error> {
        parse_keys(&self.send_raw(request)?)
    }

    /// Send a hand-made request and return the raw answer, whatever its status
    /// (the seed's `send(..., return_raw=True)`).
    pub fn send_raw(&self, request: &RawRequest) -> Result<http::Response<Vec<u8>>, Error> {
        let attempts =
            Attempts::new(request.idempotent()).with_failover(request.allows_reconnect());
        self.execute_with(request, attempts)
    }

    /// Watch `key` for changes: a stream (a blocking iterator) that never loses or
    /// repeats an event. See [`WatchOptions`] and [`crate::watch`].
    ///
    /// ```no_run
    /// let client = etcd_v2::Client::new("127.0.0.1", 2379)?;
    /// for event in client.watch("/config").recursive(true).start() {
    ///     match event? {
    ///         etcd_v2::watch::WatchEvent::Change(c) => println!("{} {}", c.action, c.node.key),
    ///         etcd_v2::watch::WatchEvent::Resync { index, .. } => println!("resynced at {index}"),
    ///     }
    /// }
    /// # Ok::<(), etcd_v2::Error>(())
    /// ```
    pub fn watch(&self, key: &str) -> WatchOptions<T> {
        WatchOptions::new(self.clone(), key)
    }

    /// Run a request of the watcher through the pool, with `poll_timeout` for
    /// its long polls.
    pub(crate) fn run_watch_request(
        &self,
        request: &crate::watch::Request,
        poll_timeout: Option<Option<std::time::Duration>>,
    ) -> crate::watch::Outcome {
        use crate::watch::{Outcome, Request};
        match request {
            Request::CurrentIndex(op) => Outcome::CurrentIndex(self.execute(op)),
            Request::Snapshot(op) => Outcome::Snapshot(self.execute(op).map(Box::new)),
            Request::Wait(op) => {
                self.auto_sync();
                let mut attempts = self.attempts(op);
                if let Some(t) = poll_timeout {
                    attempts = attempts.with_timeout(t);
                }
                Outcome::Wait(self.execute_with(op, attempts))
            }
        }
    }

    /// The first change of `key` from `index` (or from now), through the watcher
    /// (without resync: errorCode 401 is returned as an error).
    pub(crate) fn first_change(
        &self,
        key: &str,
        recursive: bool,
        index: Option<u64>,
    ) -> Result<KeysResponse, Error> {
        let mut options = self.watch(key).recursive(recursive).resync(false);
        if let Some(i) = index {
            options = options.from_index(i);
        }
        match options.start().next() {
            Some(Ok(crate::watch::WatchEvent::Change(change))) => Ok(*change),
            Some(Ok(crate::watch::WatchEvent::Resync { .. })) => Err(Error::Misuse(
                "a watch without resync reported a resync".into(),
            )),
            Some(Err(e)) => Err(e),
            None => Err(Error::Misuse("the watch ended without an event".into())),
        }
    }

    /// Node operations: the seed's `client.node`.
    pub fn node(&self) -> NodeOps<'_, T> {
        NodeOps::new(self)
    }

    /// Directory operations: the seed's `client.directory`.
    pub fn directory(&self) -> DirectoryOps<'_, T> {
        DirectoryOps::new(self)
    }

    /// In-order (queue) operations: the seed's `client.inorder`.
    pub fn inorder(&self) -> InOrderOps<'_, T> {
        InOrderOps::new(self)
    }

    /// Server information: the seed's `client.server`.
    pub fn server(&self) -> ServerOps<'_, T> {
        ServerOps::new(self)
    }

    /// Statistics: the seed's `client.stat`.
    pub fn stat(&self) -> StatOps<'_, T> {
        StatOps::new(self)
    }

    /// The members API.
    pub fn members(&self) -> MembersOps<'_, T> {
        MembersOps::new(self)
    }

    /// The auth API: users, roles, enable and disable.
    pub fn auth(&self) -> AuthOps<'_, T> {
        AuthOps::new(self)
    }
}
