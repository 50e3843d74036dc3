//! Transport adapters, each behind its feature: `ureq` (blocking, default) and
//! `reqwest` (async, tokio); and `system`, the operating system's clock, sleep
//! and threads that blocking transports use by default. Mounted from `lib.rs`;
//! everything that touches sockets, files, threads or a runtime lives here,
//! outside the sans-IO core.

#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "reqwest")]
pub mod reqwest;
pub mod system;
#[cfg(feature = "reqwest")]
pub mod tokio;
#[cfg(feature = "ureq")]
pub mod ureq;

/// The transport [`crate::Client`] uses when none is named: ureq with the default
/// feature, otherwise [`crate::transport::NoTransport`] (build with
/// [`crate::ClientBuilder::build_with`]).
#[cfg(feature = "ureq")]
pub type DefaultTransport = self::ureq::UreqTransport;

/// The transport [`crate::Client`] uses when none is named: ureq with the default
/// feature, otherwise [`crate::transport::NoTransport`] (build with
/// [`crate::ClientBuilder::build_with`]).
#[cfg(not(feature = "ureq"))]
pub type DefaultTransport = crate::transport::NoTransport;

/// The transport [`crate::AsyncClient`] uses when none is named: reqwest with the
/// `reqwest` feature, otherwise [`crate::transport::NoTransport`] (build with
/// [`crate::ClientBuilder::build_async_with`]).
#[cfg(feature = "reqwest")]
pub type DefaultAsyncTransport = self::reqwest::ReqwestTransport;

/// The transport [`crate::AsyncClient`] uses when none is named: reqwest with the
/// `reqwest` feature, otherwise [`crate::transport::NoTransport`] (build with
/// [`crate::ClientBuilder::build_async_with`]).
#[cfg(not(feature = "reqwest"))]
pub type DefaultAsyncTransport = crate::transport::NoTransport;
