//! Configuring a client: endpoints, timeouts, credentials, TLS, sync.

use std::time::Duration;

use super::shared::{Config, Shared};
use super::{AsyncClient, Client};
use crate::cluster::{EndpointPool, Timeout};
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::transport::{AsyncTransport, Transport};

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
    request_timeout: Timeout,
    wait_timeout: Timeout,
    deadline: Option<Duration>,
    auto_sync: Option<Duration>,
    prefer_leader: bool,
    fail_wait: Option<Duration>,
    credentials: Option<Credentials>,
    cluster_id: Option<String>,
    resend_sets: bool,
    #[cfg(feature = "bridge")]
    bridge: Option<String>,
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

    setter!(
        /// Per-request timeout (default [`DEFAULT_REQUEST_TIMEOUT`]); `None` waits
        /// forever. Waits do not inherit it (see [`ClientBuilder::wait_timeout`]).
        timeout(timeout: impl Into<Option<Duration>>) -> request_timeout = Timeout::from(timeout.into());

        /// Long-poll timeout of a single wait request (default
        /// [`DEFAULT_WAIT_TIMEOUT`]); when it passes the wait is re-issued at the same
        /// index.
        wait_timeout(timeout: impl Into<Option<Duration>>) -> wait_timeout = Timeout::from(timeout.into());

        /// An overall deadline for each call, across every failover attempt (each
        /// attempt's timeout is cut to what is left). None by default. Waits are
        /// exempt: they take the long-poll timeout.
        deadline(deadline: Duration) -> deadline = Some(deadline);

        /// Refresh the endpoint list from `/v2/members` before a call when the last
        /// refresh is older than `interval` (see [`Client::sync_endpoints`]).
        auto_sync(interval: Duration) -> auto_sync = Some(interval);

        /// When syncing endpoints, pin the leader's client URL (from
        /// `/v2/members/leader`), so that writes go straight to it.
        prefer_leader(prefer: bool) -> prefer_leader = prefer;

        /// How long a failed endpoint is skipped (default
        /// [`crate::cluster::HOST_FAIL_WAIT`], the seed's `HOST_FAIL_WAIT_S`).
        fail_wait(wait: Duration) -> fail_wait = Some(wait);

        /// Resend a plain `set` (and `update_only`, a TTL `refresh`, a directory's
        /// `update_ttl`) to another member after a failure that leaves its outcome
        /// unknown: a timeout, a connection lost after sending, errorCode 300. Off by
        /// default: such a write may already have been applied, and applying it
        /// again is a second event for every watcher and, in between, overwrites
        /// whatever another writer stored (seen with a leader killed mid-write). With
        /// it off, the call returns [`Error::OutcomeUnknown`] and you decide. Creates,
        /// compare-and-swaps, deletes and in-order POSTs are never resent.
        resend_sets_after_unknown_outcome(resend: bool) -> resend_sets = resend
    );

    /// Send HTTP basic-auth credentials with every request.
    pub fn basic_auth(
        mut self,
        user: impl Into<String>,
        password: impl AsRef<str>,
    ) -> ClientBuilder {
        self.credentials = Some(Credentials::new(user, password));
        self
    }

    setter!(
        /// Only talk to the cluster with this ID (`X-Etcd-Cluster-Id`, hex). Without
        /// it, the client pins the ID of the first answer.
        cluster_id(id: impl Into<String>) -> cluster_id = Some(id.into())
    );

    /// Speak v2 over etcd's v3 JSON gateway, keeping the v2 tree under
    /// `prefix` in the v3 keyspace: for clusters that no longer serve v2
    /// (etcd 3.6 and later). See [`crate::bridge`] for the layout and what
    /// works so far; a prefix that is empty (or only slashes) fails at build
    /// time, and so does resending plain sets (not offered over the bridge).
    /// With [`ClientBuilder::basic_auth`], the bridge authenticates through
    /// `/v3/auth/authenticate` and sends the token it gets.
    #[cfg(feature = "bridge")]
    pub fn v3_bridge(mut self, prefix: impl Into<String>) -> ClientBuilder {
        self.bridge = Some(prefix.into());
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

    /// Build a client that sends through `transport`, a transport of your own
    /// (or a closure). The builder's transport options (TLS files, connect
    /// timeout, body limit, idle connections) configure the transports this crate
    /// builds and cannot reach yours: if any was set, this is an
    /// [`Error::InvalidArgument`] naming them, never a client that quietly goes
    /// without them. Build your transport from them with
    /// [`ClientBuilder::build_from`] instead.
    ///
    /// ```
    /// let transport = |_: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, etcd_v2::TransportError> {
    ///     unreachable!()
    /// };
    /// let err = etcd_v2::Client::builder().ca_file("/etc/etcd/ca.pem").build_with(transport).unwrap_err();
    /// assert!(err.to_string().contains("ca_file"));
    /// ```
    pub fn build_with<T: Transport>(self, transport: T) -> Result<Client<T>, Error> {
        self.refuse_unseen_options()?;
        self.build_from(|_| Ok(transport))
    }

    /// Build an async client that sends through `transport`; like
    /// [`ClientBuilder::build_with`], refused if transport options were set
    /// (use [`ClientBuilder::build_async_from`]).
    pub fn build_async_with<T: AsyncTransport>(
        self,
        transport: T,
    ) -> Result<AsyncClient<T>, Error> {
        self.refuse_unseen_options()?;
        self.build_async_from(|_| Ok(transport))
    }

    /// Build a client over the transport `make` builds from this builder's
    /// transport options (TLS files, timeouts, limits), so that none is lost.
    ///
    /// ```
    /// # #[cfg(feature = "ureq")] {
    /// use etcd_v2::transports::ureq::UreqTransport;
    /// let client = etcd_v2::Client::builder()
    ///     .connect_timeout(std::time::Duration::from_secs(1))
    ///     .build_from(UreqTransport::new)
    ///     .unwrap();
    /// # }
    /// ```
    pub fn build_from<T, F>(self, make: F) -> Result<Client<T>, Error>
    where
        T: Transport,
        F: FnOnce(&TransportOptions) -> Result<T, Error>,
    {
        let (transport, shared) = self.made_with(make)?;
        Ok(Client::from_parts(transport, shared))
    }

    /// Build an async client over the transport `make` builds from this
    /// builder's transport options.
    pub fn build_async_from<T, F>(self, make: F) -> Result<AsyncClient<T>, Error>
    where
        T: AsyncTransport,
        F: FnOnce(&TransportOptions) -> Result<T, Error>,
    {
        let (transport, shared) = self.made_with(make)?;
        Ok(AsyncClient::from_parts(transport, shared))
    }

    /// The transport `make` builds from the transport options, and the rest.
    fn made_with<T>(
        self,
        make: impl FnOnce(&TransportOptions) -> Result<T, Error>,
    ) -> Result<(T, Shared), Error> {
        let transport = make(&self.transport)?;
        Ok((transport, self.into_shared()?))
    }

    /// The transport options set on this builder that a transport handed to
    /// `build_with` would never see.
    fn refuse_unseen_options(&self) -> Result<(), Error> {
        let default = TransportOptions::default();
        let t = &self.transport;
        let set: Vec<&str> = [
            ("ca_file", t.tls.ca_file.is_some()),
            (
                "client_cert",
                t.tls.client_cert_file.is_some() || t.tls.client_key_file.is_some(),
            ),
            (
                "danger_accept_invalid_certs",
                t.tls.danger_accept_invalid_certs,
            ),
            (
                "connect_timeout",
                t.connect_timeout != default.connect_timeout,
            ),
            ("max_body_size", t.max_body_size != default.max_body_size),
            (
                "max_idle_per_host",
                t.max_idle_per_host != default.max_idle_per_host,
            ),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if set.is_empty() {
            return Ok(());
        }
        Err(Error::invalid_argument(
            "transport",
            format!(
                "{} configure the transports this crate builds, and the transport given to \
                 build_with cannot see them; build it from them with build_from(|options| ...) \
                 (or build_async_from), or configure your transport yourself and leave them unset",
                set.join(", ")
            ),
        ))
    }

    fn into_shared(self) -> Result<Shared, Error> {
        #[cfg(feature = "bridge")]
        let bridge = match &self.bridge {
            Some(prefix) => Some(bridge_prefix(prefix, &config_options(&self))?),
            None => None,
        };
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
        let config = Config {
            request_timeout: self.request_timeout.or(Some(DEFAULT_REQUEST_TIMEOUT)),
            wait_timeout: self.wait_timeout.or(Some(DEFAULT_WAIT_TIMEOUT)),
            deadline: self.deadline,
            auto_sync: self.auto_sync,
            prefer_leader: self.prefer_leader,
            credentials: self.credentials,
            resend_sets: self.resend_sets,
            #[cfg(feature = "bridge")]
            bridge,
        };
        Ok(Shared::new(pool, config))
    }
}

/// The options set that the bridge cannot honour yet.
#[cfg(feature = "bridge")]
fn config_options(b: &ClientBuilder) -> Vec<&'static str> {
    let mut set = Vec::new();
    if b.resend_sets {
        set.push("resend_sets_after_unknown_outcome");
    }
    set
}

/// The bridge's prefix, checked, or the first option set that it cannot
/// honour.
#[cfg(feature = "bridge")]
fn bridge_prefix(prefix: &str, unsupported: &[&'static str]) -> Result<Vec<u8>, Error> {
    if let Some(option) = unsupported.first() {
        return Err(Error::NotOnBridge(format!(
            "the option `{option}` (not honoured over the bridge yet)"
        )));
    }
    crate::bridge::check_prefix(prefix)
}
