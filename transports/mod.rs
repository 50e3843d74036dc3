//! Transport adapters, each behind its feature: `ureq` (blocking, default) and
//! `reqwest` (async, tokio); and `system`, the operating system's clock, sleep
//! and threads that blocking transports use by default. Mounted from `lib.rs`;
//! everything that touches sockets, files, threads or a runtime lives here,
//! outside the sans-IO core.

#[cfg(feature = "http1")]
pub mod http1;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(any(feature = "reqwest", feature = "http1"))]
mod rustls_config;
pub mod system;
#[cfg(any(feature = "reqwest", feature = "http1-tokio"))]
pub mod tokio;
#[cfg(feature = "ureq")]
pub mod ureq;

/// The transport [`crate::Client`] uses when none is named: the lean
/// HTTP/1.1 transport with the `http1` feature (a default one), else ureq
/// with the `ureq` feature, else [`crate::transport::NoTransport`] (build
/// with [`crate::ClientBuilder::build_with`]).
#[cfg(feature = "http1")]
pub type DefaultTransport = self::http1::Http1Transport;

/// The transport [`crate::Client`] uses when none is named: the lean
/// HTTP/1.1 transport with the `http1` feature (a default one), else ureq
/// with the `ureq` feature, else [`crate::transport::NoTransport`] (build
/// with [`crate::ClientBuilder::build_with`]).
#[cfg(all(feature = "ureq", not(feature = "http1")))]
pub type DefaultTransport = self::ureq::UreqTransport;

/// The transport [`crate::Client`] uses when none is named: the lean
/// HTTP/1.1 transport with the `http1` feature (a default one), else ureq
/// with the `ureq` feature, else [`crate::transport::NoTransport`] (build
/// with [`crate::ClientBuilder::build_with`]).
#[cfg(not(any(feature = "ureq", feature = "http1")))]
pub type DefaultTransport = crate::transport::NoTransport;

#[cfg(any(feature = "ureq", feature = "http1"))]
impl crate::ClientBuilder {
    /// Build a client over the default blocking transport
    /// ([`DefaultTransport`]), reading any TLS files configured.
    pub fn build(self) -> Result<crate::Client, crate::Error> {
        self.build_from(DefaultTransport::new)
    }
}

#[cfg(any(feature = "ureq", feature = "http1"))]
impl crate::Client {
    /// A client for one etcd member at `host:port` over plain HTTP (the seed's
    /// `Client(host, port)`). Nothing is sent until the first request.
    ///
    /// ```
    /// let client = etcd_v2::Client::new("127.0.0.1", 2379).unwrap();
    /// assert_eq!(client.prefix(), "http://127.0.0.1:2379");
    /// ```
    pub fn new(host: &str, port: u16) -> Result<crate::Client, crate::Error> {
        crate::Client::builder()
            .endpoint(crate::Endpoint::new(host, port, false).to_string())
            .build()
    }
}

/// The transport [`crate::AsyncClient`] uses when none is named: the lean
/// HTTP/1.1 transport on tokio with the `http1-tokio` feature (a default
/// one), else reqwest with the `reqwest` feature, else
/// [`crate::transport::NoTransport`] (build with
/// [`crate::ClientBuilder::build_async_with`]).
#[cfg(feature = "http1-tokio")]
pub type DefaultAsyncTransport = self::http1::Http1AsyncTransport;

/// The transport [`crate::AsyncClient`] uses when none is named: the lean
/// HTTP/1.1 transport on tokio with the `http1-tokio` feature (a default
/// one), else reqwest with the `reqwest` feature, else
/// [`crate::transport::NoTransport`] (build with
/// [`crate::ClientBuilder::build_async_with`]).
#[cfg(all(feature = "reqwest", not(feature = "http1-tokio")))]
pub type DefaultAsyncTransport = self::reqwest::ReqwestTransport;

/// The transport [`crate::AsyncClient`] uses when none is named: the lean
/// HTTP/1.1 transport on tokio with the `http1-tokio` feature (a default
/// one), else reqwest with the `reqwest` feature, else
/// [`crate::transport::NoTransport`] (build with
/// [`crate::ClientBuilder::build_async_with`]).
#[cfg(not(any(feature = "reqwest", feature = "http1-tokio")))]
pub type DefaultAsyncTransport = crate::transport::NoTransport;

#[cfg(any(feature = "reqwest", feature = "http1-tokio"))]
impl crate::ClientBuilder {
    /// Build an async client over the default async transport
    /// ([`DefaultAsyncTransport`]), reading any TLS files configured.
    pub fn build_async(self) -> Result<crate::AsyncClient, crate::Error> {
        self.build_async_from(DefaultAsyncTransport::new)
    }
}

#[cfg(any(feature = "reqwest", feature = "http1-tokio"))]
impl crate::AsyncClient {
    /// An async client for one etcd member at `host:port` over plain HTTP.
    /// Nothing is sent until the first request.
    ///
    /// ```
    /// let client = etcd_v2::AsyncClient::new("127.0.0.1", 2379).unwrap();
    /// assert_eq!(client.prefix(), "http://127.0.0.1:2379");
    /// ```
    pub fn new(host: &str, port: u16) -> Result<crate::AsyncClient, crate::Error> {
        crate::Client::builder()
            .endpoint(crate::Endpoint::new(host, port, false).to_string())
            .build_async()
    }
}
