//! Fuzz target: see `etcd_v2_fuzz::memory`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| etcd_v2_fuzz::memory::run(data));
