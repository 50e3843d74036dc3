//! The seed inputs of every target, from captured etcd exchanges: what
//! `scripts/fuzz.sh` starts each corpus with, and what the main crate's
//! regression test replays.
//!
//! - `parse`: every captured response, in the parse target's format;
//! - `keys`: every key (with its `prevValue`, if any) a captured request
//!   addressed;
//! - `watch`, `lock`: hand-written scenarios (faithful runs, then runs with
//!   faults), plus a sample of captured bodies used as raw scenario bytes.

use std::collections::BTreeSet;
use std::path::Path;

use super::capture;

/// One seed input.
pub struct Seed {
    /// The target it feeds: `parse`, `keys`, `watch`, `lock`, `campaign` or `memory`.
    pub target: &'static str,
    /// A file name for it.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

fn seed(target: &'static str, name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Seed {
    Seed {
        target,
        name: name.into(),
        bytes: bytes.into(),
    }
}

/// Every seed, from the captures in `captures` (a directory of capture files).
pub fn seeds(captures: &Path) -> Vec<Seed> {
    let captures = capture::all_in(captures);
    let mut out = Vec::new();
    let mut keys = BTreeSet::new();
    let mut bodies = Vec::new();
    for c in &captures {
        if let Some(r) = &c.response {
            let headers: Vec<(String, String)> = r
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let input = super::parse::encode(r.status().as_u16(), &headers, r.body());
            out.push(seed("parse", c.name.clone(), input));
            if !r.body().is_empty() {
                bodies.push((c.name.clone(), r.body().clone()));
            }
        }
        if let Some(path) = c.path().strip_prefix("/v2/keys") {
            let key = etcd_v2::key::decode_path(path);
            let value = c
                .query()
                .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "prevValue"))
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            keys.insert((key, value));
        }
    }
    for (i, (key, value)) in keys.iter().enumerate() {
        let mut input = key.as_bytes().to_vec();
        input.push(0xFF);
        input.extend_from_slice(value.as_bytes());
        out.push(seed("keys", format!("captured-{i:04}"), input));
    }

    // Watch: config byte, prior writes, start; then actions (see watch.rs).
    let watch: [(&str, &[u8]); 4] = [
        (
            "from-now",
            &[
                0, 0, 2, 0, 0, 2, 2, 2, 0, 1, 2, 2, 2, 2, 2, 2, 0, 3, 2, 2, 2, 2,
            ],
        ),
        (
            "from-index",
            &[2, 5, 3, 0, 1, 2, 3, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2],
        ),
        (
            "cleared",
            &[
                6, 0, 5, 0, 1, 2, 3, 4, 1, 1, 2, 2, 2, 0, 0, 2, 0, 0, 2, 0, 0, 2, 0, 0, 2, 2, 2, 2,
            ],
        ),
        (
            "faults",
            &[
                0, 3, 1, 0, 2, 8, 2, 9, 6, 0, 40, 2, 2, 10, 2, 2, 13, 2, 2, 12, 2, 2, 2, 7, 8, 9,
            ],
        ),
    ];
    for (name, bytes) in watch {
        out.push(seed("watch", name, bytes));
    }
    // Lock: contenders, their configs; then (contender, action, argument).
    let lock: [(&str, &[u8]); 3] = [
        (
            "two-faithful",
            &[
                0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
            ],
        ),
        (
            "three-crash",
            &[
                1, 2, 2, 2, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 6, 1, 0, 0, 4, 200, 2, 0, 0,
            ],
        ),
        (
            "faults",
            &[
                0, 0x12, 0x61, 9, 0, 0, 9, 1, 0, 12, 0, 0, 10, 1, 0, 11, 0, 0, 8, 1, 7, 0, 8,
            ],
        ),
    ];
    for (name, bytes) in lock {
        out.push(seed("lock", name, bytes));
    }
    // Campaign: contenders, TTL; then (contender, action, argument).
    let campaign: [(&str, &[u8]); 3] = [
        (
            "faithful",
            &[0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 4, 100, 0, 0, 0],
        ),
        (
            "pause-and-resume",
            &[1, 0, 0, 0, 0, 1, 0, 0, 9, 0, 4, 250, 4, 250, 1, 0, 0],
        ),
        (
            "faults-resign",
            &[0, 2, 0, 0, 8, 1, 0, 9, 0, 0, 7, 1, 0, 0, 11, 6, 0, 4, 120],
        ),
    ];
    for (name, bytes) in campaign {
        out.push(seed("campaign", name, bytes));
    }
    // Memory: members, fault seed (2), fault rate, TTL, contenders; then (op, arg).
    let memory: [(&str, &[u8]); 3] = [
        (
            "one-member-quiet",
            &[
                0, 0, 0, 0, 3, 0, 0, 1, 3, 0, 9, 0, 6, 0, 5, 0, 2, 100, 4, 1, 9, 0,
            ],
        ),
        (
            "three-members-faults",
            &[
                1, 0, 7, 40, 5, 1, 0, 2, 3, 1, 7, 3, 0, 5, 8, 0, 9, 0, 4, 200, 8, 1, 9, 0,
            ],
        ),
        (
            "partition-and-expiry",
            &[
                1, 1, 2, 10, 2, 0, 0, 2, 3, 0, 8, 2, 2, 250, 0, 1, 8, 3, 9, 0, 2, 250, 9, 0,
            ],
        ),
    ];
    for (name, bytes) in memory {
        out.push(seed("memory", name, bytes));
    }
    for (name, body) in bodies.iter().step_by(16) {
        out.push(seed("watch", format!("bytes-{name}"), body.clone()));
        out.push(seed("lock", format!("bytes-{name}"), body.clone()));
        out.push(seed("campaign", format!("bytes-{name}"), body.clone()));
        out.push(seed("memory", format!("bytes-{name}"), body.clone()));
    }
    out
}
