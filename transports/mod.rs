//! Transport adapters, each behind its feature: `ureq` (blocking, default) and
//! `reqwest` (async, tokio). Mounted from `lib.rs`; everything that touches
//! sockets, files, threads or a runtime lives here, outside the sans-IO core.

#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "reqwest")]
pub mod tokio;
#[cfg(feature = "ureq")]
pub mod ureq;
