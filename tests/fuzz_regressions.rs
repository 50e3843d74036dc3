//! The fuzz harnesses (fuzz/src), run on every seed input (from the captured
//! exchanges) and on every input saved in fuzz/regressions/<target>/ (each crash
//! the fuzzers ever found, kept after its fix). A harness panics when an
//! invariant breaks, so each input here is a test that can fail.

#[allow(dead_code, unused_imports)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::Path;

fn run(target: &str, bytes: &[u8]) {
    match target {
        "parse" => harness::parse::run(bytes),
        "keys" => harness::keys::run(bytes),
        "watch" => harness::watch::run(bytes),
        "lock" => harness::lock::run(bytes),
        "campaign" => harness::campaign::run(bytes),
        "memory" => harness::memory::run(bytes),
        other => panic!("unknown fuzz target {other}"),
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_seed_input_passes_its_harness() {
    let seeds = harness::seed::seeds(&root().join("tests/fixtures/captures"));
    for target in ["parse", "keys", "watch", "lock", "campaign", "memory"] {
        let n = seeds.iter().filter(|s| s.target == target).count();
        assert!(n >= 3, "{target} has {n} seeds");
    }
    for s in &seeds {
        let outcome = std::panic::catch_unwind(|| run(s.target, &s.bytes));
        assert!(outcome.is_ok(), "{}/{} failed", s.target, s.name);
    }
}

#[test]
fn every_saved_crash_stays_fixed() {
    let dir = root().join("fuzz/regressions");
    let mut replayed = 0;
    for target in ["parse", "keys", "watch", "lock", "campaign", "memory"] {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable directory").path();
            let bytes = std::fs::read(&path).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| run(target, &bytes));
            assert!(outcome.is_ok(), "{} fails again", path.display());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} saved crash inputs");
}

#[test]
fn hand_written_hostile_inputs_pass() {
    let deep = format!("{}{}", "{\"nodes\":[".repeat(5000), "]}".repeat(5000));
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("parse", harness::parse::encode(200, &[], deep.as_bytes())),
        ("parse", harness::parse::encode(200, &[("X-Etcd-Index".into(), "99999999999999999999999".into())], b"{}")),
        ("parse", harness::parse::encode(201, &[], br#"{"action":"set","node":{"key":"/a","modifiedIndex":18446744073709551615,"ttl":-9223372036854775808}}"#)),
        ("parse", harness::parse::encode(400, &[], br#"{"errorCode":4294967296,"message":"x"}"#)),
        ("parse", harness::parse::encode(500, &[], b"\xff\xfe")),
        ("keys", b"/a/../../..//./\xFF".to_vec()),
        ("keys", b"/%2F/%ZZ/\xF0\x9F\x98\x80\xFF%".to_vec()),
        ("keys", [b"/".as_slice(), &[b'k'; 5000]].concat()),
    ];
    cases.push(("keys", [&b"/k\xFF"[..], &[b'v'; 5000]].concat()));
    for (target, bytes) in cases {
        let outcome = std::panic::catch_unwind(|| run(target, &bytes));
        assert!(
            outcome.is_ok(),
            "{target}: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        );
    }
}
