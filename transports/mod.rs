//! Transport adapters, each behind its feature: `ureq`
//! (blocking, default). Mounted from `lib.rs`; everything that touches sockets
//! lives here, outside the sans-IO core.

#[cfg(feature = "ureq")]
pub mod ureq;
