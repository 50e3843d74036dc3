//! The fuzz harnesses of etcd-v2: plain functions that take libFuzzer's bytes
//! and panic when an invariant breaks. `fuzz_targets/` feeds them; the main
//! crate's `tests/fuzz_regressions.rs` replays saved inputs (the seed corpus
//! and every crash ever found) through the same functions, so a crash, once
//! fixed, stays fixed.
//!
//! | target | feeds | invariant |
//! |---|---|---|
//! | [`parse`] | any status, headers and body to every operation's parser | no panic; errors are typed and printable |
//! | [`keys`] | any string as a key | cleaning is idempotent; encoding then decoding gives back the cleaned key; built requests address that key |
//! | [`watch`] | a watcher against a model key space, with arbitrary outcomes, faults and time steps | at most one request in flight; no index reported twice; nothing lost |
//! | [`lock`] | 2–4 contenders against a model key space, with faults, stale reads, crashes and time steps; holders release and renew through the release and renewal machines | at most one request in flight per contender; a holder's lease is sound; never two holders |
//! | [`memory`] | the client (a writer, a recursive watch, 2–3 lock contenders) against MemoryEtcd with seeded and scripted faults, crashes, partitions and time steps | the watch reports each change once, in order; never two lock holders; a holder's key is in the store |
//! | [`campaign`] | 2–3 leader campaigns for one key, with faults, pauses, crashes and resignations | a lease is sound; never two leaders; gains and losses alternate; a leader emerges and resignations end |

// Each harness file is named explicitly, so that this crate root can also be
// included with `#[path]` from the main crate's tests.
#[path = "bytes.rs"]
pub mod bytes;
#[path = "campaign.rs"]
pub mod campaign;
#[allow(dead_code)]
#[path = "../../tests/support/capture.rs"]
pub mod capture;
#[path = "keys.rs"]
pub mod keys;
#[path = "lock.rs"]
pub mod lock;
#[path = "memory.rs"]
pub mod memory;
#[path = "../../tests/support/model.rs"]
pub mod model;
#[path = "parse.rs"]
pub mod parse;
#[path = "seed.rs"]
pub mod seed;
#[path = "watch.rs"]
pub mod watch;
