//! MemoryEtcd against a real etcd 3.4, operation by operation: random
//! sequences (sets, creates, updates, compare-and-swaps and -deletes with right
//! and wrong conditions, directories, recursive deletes, in-order posts, hidden
//! and awkward keys, sorted and recursive reads, waits from past indexes, TTLs
//! set and refreshed, malformed parameters) go to both, and every answer is
//! compared: status, errorCode, cause, action, node, prevNode, indexes.
//!
//! Each sequence runs under a fresh key prefix of the real member, against a
//! fresh MemoryEtcd started at the member's current index (so indexes, the
//! history window and its errors line up exactly); its keys are removed
//! afterwards. Expiry timestamps are not compared, TTLs to within a second.
//!
//! `bash scripts/differential.sh N [SEED]` runs N sequences; `cargo test`
//! runs `DIFF_SEQUENCES` (default 200), always against etcd 3.4. The last line reads
//! `differential: N sequences, M operations, D differences`.
//!
//! With `DIFF_BACKEND=bridge` (`scripts/differential.sh N SEED --bridge`), the
//! other side is the v3 bridge on a second etcd 3.4 that serves no v2, driven
//! by hand (its machine, its v3 transactions over the default transport). Operations the bridge
//! does not provide yet (directory TTLs) and waits from before the sequence
//! (v2 answers those from its 1000-event window) are left out; indexes are compared relative to each side's index at the start
//! of the sequence, in-order names included.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use etcd_v2::bridge::{Outcome, Request};
use etcd_v2::machine::{Machine, Step};
use etcd_v2::memory::MemoryEtcd;
use etcd_v2::server::request::{decode, Route};
use etcd_v2::DefaultTransport;
use etcd_v2::Operation;
use etcd_v2::{Transport, TransportOptions};
use serde_json::Value;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, per_cent: u64) -> bool {
        self.next() % 100 < per_cent
    }
}

const KEYS: &[&str] = &[
    "a",
    "b",
    "c",
    "d1/x",
    "d1/y",
    "d1/_h",
    "d1/s/z",
    "d2",
    "_hid",
    "_hd/k",
    "sp ace",
    "per%cent",
    "q?mark",
    "uni✓",
    "plus+sign",
    "q",
    "q/in",
];
const DIRS: &[&str] = &["", "d1", "d1/s", "d2", "q", "_hd", "nodir"];
const VALUES: &[&str] = &[
    "v0",
    "v1",
    "v2",
    "",
    "sp ace&=?",
    "ü✓\u{2028}<x>",
    "{\"j\":1}",
];

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn path(prefix: &str, key: &str) -> String {
    let mut p = format!("/v2/keys{prefix}");
    for seg in key.split('/').filter(|s| !s.is_empty()) {
        p.push('/');
        p.push_str(&encode_segment(seg));
    }
    p
}

fn form(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_segment(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One request of a sequence.
#[derive(Debug, Clone)]
struct Op {
    method: &'static str,
    target: String,
    body: String,
    sorted: bool,
}

/// What a sequence has seen so far, to make conditions that can hold.
#[derive(Default)]
struct Seen {
    indexes: Vec<u64>,
    last: u64,
    /// The key (as etcd reports it) and index of each change.
    events: Vec<(String, u64)>,
}

fn generate(rng: &mut Rng, prefix: &str, seen: &Seen) -> Op {
    let key = *rng.pick(KEYS);
    let dir = *rng.pick(DIRS);
    let value = rng.pick(VALUES).to_string();
    let some_index = |rng: &mut Rng| {
        if seen.indexes.is_empty() || rng.chance(25) {
            seen.last + 1 + rng.below(3) as u64
        } else {
            *rng.pick(&seen.indexes)
        }
    };
    let ttl = || (100 + seen.last % 900).to_string();
    let put = |target: String, body: String| Op {
        method: "PUT",
        target,
        body,
        sorted: false,
    };
    match rng.below(24) {
        0..=3 => put(path(prefix, key), form(&[("value", value)])),
        4 => put(
            format!("{}?prevExist=false", path(prefix, key)),
            form(&[("value", value)]),
        ),
        5 => put(
            format!("{}?prevExist=true", path(prefix, key)),
            form(&[("value", value)]),
        ),
        6 => {
            let prev = rng.pick(VALUES).to_string();
            let q = if prev.is_empty() {
                "v0".to_owned()
            } else {
                prev
            };
            put(
                format!("{}?prevValue={}", path(prefix, key), encode_segment(&q)),
                form(&[("value", value)]),
            )
        }
        7 => put(
            format!("{}?prevIndex={}", path(prefix, key), some_index(rng)),
            form(&[("value", value)]),
        ),
        8 => put(format!("{}?dir=true", path(prefix, dir)), String::new()),
        9 => put(path(prefix, key), form(&[("value", value), ("ttl", ttl())])),
        10 => put(
            path(prefix, key),
            form(&[
                ("refresh", "true".into()),
                ("prevExist", "true".into()),
                ("ttl", ttl()),
            ]),
        ),
        11 => put(
            format!("{}?dir=true&prevExist=true", path(prefix, dir)),
            form(&[("ttl", ttl())]),
        ),
        12 => Op {
            method: "POST",
            target: path(prefix, dir),
            body: form(&[("value", value)]),
            sorted: false,
        },
        13 => Op {
            method: "DELETE",
            target: path(prefix, key),
            body: String::new(),
            sorted: false,
        },
        14 => {
            let flag = *rng.pick(&["dir=true", "recursive=true", "dir=true&recursive=true"]);
            Op {
                method: "DELETE",
                target: format!("{}?{flag}", path(prefix, dir)),
                body: String::new(),
                sorted: false,
            }
        }
        15 => {
            let cond = if rng.chance(50) {
                let value: &&str = rng.pick(&["v0", "v1", "v2"]);
                format!("prevValue={}", encode_segment(value))
            } else {
                format!("prevIndex={}", some_index(rng))
            };
            Op {
                method: "DELETE",
                target: format!("{}?{cond}", path(prefix, key)),
                body: String::new(),
                sorted: false,
            }
        }
        16..=18 => {
            let (recursive, sorted) = (rng.chance(50), rng.chance(50));
            let quorum = rng.chance(20);
            let target = if rng.chance(50) {
                path(prefix, key)
            } else {
                path(prefix, dir)
            };
            // A quorum read with wait=true is a quorum read: answered at once.
            let (method, wait) = match (rng.chance(10), quorum && rng.chance(30)) {
                (true, _) => ("HEAD", ""),
                (false, wait) => ("GET", if wait { "&wait=true" } else { "" }),
            };
            Op {
                method,
                target: format!(
                    "{target}?recursive={recursive}&sorted={sorted}&quorum={quorum}{wait}"
                ),
                body: String::new(),
                sorted,
            }
        }
        19 | 20 if !seen.events.is_empty() => {
            // A wait from a past index with an event to find: answered at once.
            let (key, at) = rng.pick(&seen.events).clone();
            let recursive = rng.chance(50);
            let target = if recursive {
                // A directory above the changed key.
                let cut = key.rfind('/').unwrap_or(0);
                let above = &key[..cut];
                if above.len() >= prefix.len() {
                    above.to_owned()
                } else {
                    prefix.to_owned()
                }
            } else {
                key
            };
            let path = format!(
                "/v2/keys{}",
                target
                    .split('/')
                    .map(encode_segment)
                    .collect::<Vec<_>>()
                    .join("/")
            );
            Op {
                method: "GET",
                target: format!("{path}?wait=true&recursive={recursive}&waitIndex={at}"),
                body: String::new(),
                sorted: false,
            }
        }
        21 => {
            let bad = *rng.pick(&[
                "ttl=abc",
                "ttl=-1",
                "prevIndex=x",
                "prevValue=",
                "prevExist=maybe",
                "refresh=true",
                "refresh=true&ttl=5&value=x",
                "dir=yes",
                "wait=true",
            ]);
            put(
                format!("{}?{bad}", path(prefix, key)),
                form(&[("value", value)]),
            )
        }
        22 => Op {
            // From index 1: the sequence's first change, or errorCode 401 once
            // the member's history has moved past it.
            method: "GET",
            target: format!("{}?wait=true&recursive=true&waitIndex=1", path(prefix, "")),
            body: String::new(),
            sorted: false,
        },
        _ => put(
            format!("{}?noValueOnSuccess=true", path(prefix, key)),
            form(&[("value", value)]),
        ),
    }
}

fn request(endpoint: &str, op: &Op) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder()
        .method(op.method)
        .uri(format!("{endpoint}{}", op.target));
    if !op.body.is_empty() {
        b = b.header("content-type", "application/x-www-form-urlencoded");
    }
    b.body(op.body.clone().into_bytes()).expect("request")
}

/// An answer reduced to what must match, its indexes counted from `start`.
fn summary(
    r: &Result<http::Response<Vec<u8>>, etcd_v2::TransportError>,
    sorted: bool,
    start: u64,
) -> Value {
    let r = match r {
        Ok(r) => r,
        Err(e) => return Value::String(format!("transport: {:?}", e.kind())),
    };
    let mut body = serde_json::from_slice::<Value>(r.body())
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(r.body()).into_owned()));
    normalise(&mut body, sorted);
    relative(&mut body, start);
    let index = r
        .headers()
        .get("x-etcd-index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|i| from(i, start));
    serde_json::json!({
        "status": r.status().as_u16(),
        "index": index,
        "body": body,
    })
}

/// An index counted from `start` (0, etcd's index of a refused request, stays).
fn from(index: u64, start: u64) -> i64 {
    if index == 0 {
        0
    } else {
        index as i64 - start as i64
    }
}

/// Every index of an answer counted from `start`: the fields and the numbers
/// of in-order names.
fn relative(v: &mut Value, start: u64) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), x.as_u64()) {
                    ("index" | "modifiedIndex" | "createdIndex", Some(i)) => {
                        *x = Value::from(from(i, start))
                    }
                    ("key", _) => {
                        if let Some(key) = x.as_str() {
                            *x = Value::from(relative_key(key, start));
                        }
                    }
                    ("cause", _) => {
                        if let Some(cause) = x.as_str() {
                            *x = Value::from(relative_cause(cause, start));
                        }
                    }
                    _ => relative(x, start),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| relative(x, start)),
        _ => {}
    }
}

/// `op` with the indexes it names (`prevIndex`, `waitIndex`) moved from the
/// real member's numbering (from `start`) to the other side's (from
/// `other_start`).
fn renumbered(op: &Op, start: u64, other_start: u64) -> Op {
    let (path, query) = op.target.split_once('?').unwrap_or((&op.target, ""));
    // In-order names carry indexes too.
    let path = path
        .split('/')
        .map(|seg| match seg.parse::<u64>() {
            Ok(n) if seg.len() == 20 && n >= start => format!("{:020}", n - start + other_start),
            _ => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/");
    let whole = if query.is_empty() && !op.target.contains('?') {
        path
    } else {
        format!("{path}?{query}")
    };
    let mut target = String::new();
    let mut rest = whole.as_str();
    while let Some(at) = ["prevIndex=", "waitIndex="]
        .iter()
        .filter_map(|name| rest.find(name).map(|i| i + name.len()))
        .min()
    {
        target.push_str(&rest[..at]);
        rest = &rest[at..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<u64>() {
            Ok(n) if n >= start => target.push_str(&(n - start + other_start).to_string()),
            _ => target.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    target.push_str(rest);
    Op {
        target,
        ..op.clone()
    }
}

/// A failed comparison's cause, `[given != found]`, with indexes counted from
/// `start`.
fn relative_cause(cause: &str, start: u64) -> String {
    let Some(inner) = cause.strip_prefix('[').and_then(|c| c.strip_suffix(']')) else {
        return cause.to_owned();
    };
    let parts: Vec<&str> = inner.split(" != ").collect();
    match parts.as_slice() {
        [a, b] => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) => format!("[{} != {}]", from(a, start), from(b, start)),
            _ => cause.to_owned(),
        },
        _ => cause.to_owned(),
    }
}

fn relative_key(key: &str, start: u64) -> String {
    key.split('/')
        .map(|seg| match seg.parse::<u64>() {
            Ok(n) if seg.len() == 20 => format!("#{}", from(n, start)),
            _ => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The other side of the comparison.
enum Other {
    /// A MemoryEtcd started at the member's index.
    Memory(MemoryEtcd),
    /// The v3 bridge on a member without v2, under this v3 prefix.
    Bridge { v3: String, prefix: &'static str },
}

const BRIDGE_PREFIX: &str = "/bridge-differential";

/// Send `op` to `endpoint` with `real` and parse the answer.
fn send_op<O: Operation>(
    real: &DefaultTransport,
    endpoint: &etcd_v2::Endpoint,
    op: &O,
    timeout: Option<Duration>,
) -> Result<Result<O::Output, etcd_v2::Error>, etcd_v2::TransportError> {
    let sent = real.send(op.build(endpoint).expect("request"), timeout)?;
    Ok(op.parse(sent))
}

/// What the bridge answers to `op`: its machine driven by hand, its v3
/// transactions sent with `real`. `None`: the bridge does not provide it.
fn bridge_answer(
    real: &DefaultTransport,
    v3: &str,
    prefix: &str,
    op: &Op,
    timeout: Option<Duration>,
) -> Option<Result<http::Response<Vec<u8>>, etcd_v2::TransportError>> {
    let v2 = request("http://bridge", op);
    if let Route::Keys(k) = decode(&v2) {
        if etcd_v2::bridge::unsupported(&k).is_some() {
            return None;
        }
    }
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let mut call = etcd_v2::bridge::call_for(prefix.as_bytes(), &v2, unix_now).ok()?;
    let endpoint = etcd_v2::Endpoint::parse(v3).expect("endpoint");
    let now = std::time::Instant::now();
    let failed = |e: etcd_v2::Error| {
        println!("the bridge failed: {e}");
        Some(Err(etcd_v2::TransportError::new(
            etcd_v2::TransportErrorKind::Io,
            e.to_string(),
        )))
    };
    loop {
        match call.poll(now) {
            Step::Send(request) => {
                let outcome = match request {
                    Request::Txn(txn) => send_op(real, &endpoint, &txn, timeout).map(Outcome::Txn),
                    Request::Grant(grant) => {
                        send_op(real, &endpoint, &grant, timeout).map(Outcome::Grant)
                    }
                    Request::Watch(watch) => real
                        .send_streaming(watch.build(&endpoint).expect("watch"), timeout, &mut |l| {
                            watch.accept(l)
                        })
                        .map(|r| Outcome::Watch(watch.parse(r))),
                    Request::Post(post) => {
                        send_op(real, &endpoint, &post, timeout).map(Outcome::Post)
                    }
                    // The compared member has no auth: never asked.
                    Request::Authenticate(auth) => send_op(real, &endpoint, &auth, timeout)
                        .map(|token| Outcome::Authenticated(token.map(|_| ()))),
                };
                match outcome {
                    Ok(outcome) => {
                        if let Err(e) = call.handle(outcome, now) {
                            return failed(e);
                        }
                    }
                    Err(e) => return Some(Err(e)),
                }
            }
            Step::Done(Ok(answer)) => return Some(Ok(answer)),
            // Refused before anything was written: left out on both sides.
            Step::Done(Err(etcd_v2::Error::NotOnBridge(_))) => return None,
            Step::Done(Err(e)) => return failed(e),
            Step::SleepUntil(_) | Step::Event(()) => {
                unreachable!("the bridge call neither sleeps nor emits")
            }
        }
    }
}

fn normalise(v: &mut Value, sorted: bool) {
    // To within a second: the two count down on separate clocks.
    support::normalise_json(v, sorted, &|t| Value::from(t / 2));
}

fn ttl_close(a: &Value, b: &Value) -> bool {
    // `ttl/2` may differ by one when the two TTLs straddle a boundary.
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| match y.get(k) {
                    Some(w) if k == "ttl" => {
                        (v.as_i64().unwrap_or(0) - w.as_i64().unwrap_or(0)).abs() <= 1
                    }
                    Some(w) => ttl_close(v, w),
                    None => false,
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| ttl_close(v, w))
        }
        _ => a == b,
    }
}

fn index_of(r: &Result<http::Response<Vec<u8>>, etcd_v2::TransportError>) -> Option<u64> {
    r.as_ref()
        .ok()?
        .headers()
        .get("x-etcd-index")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn main() {
    let sequences: u64 = std::env::var("DIFF_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let ops_per_sequence = 40 + 8;
    // MemoryEtcd serves etcd 3.4's v2: compare with 3.4 whatever ETCD_VERSION
    // the rest of the suite runs on.
    let etcd = support::Etcd::start_with_env(1, &[], &[("ETCD_VERSION", "3.4")]);
    let endpoint = etcd.endpoint().to_owned();
    let bridge = std::env::var("DIFF_BACKEND").as_deref() == Ok("bridge");
    let v3_only = bridge.then(|| {
        support::Etcd::start_with_env(
            1,
            &[],
            &[("ETCD_VERSION", "3.4"), ("ETCD_V2_FLAGS", "v3only")],
        )
    });
    let real = DefaultTransport::new(&TransportOptions::default()).expect("transport");
    // A wait for a change that never comes ends at 2 s on both sides (the
    // same "timeout" answer); everything else gets 30 s, so that a write etcd
    // is slow to commit on a busy machine is never taken for a difference.
    let timeout = Some(Duration::from_secs(30));
    let wait_timeout = Some(Duration::from_secs(2));
    let timeout_of = |op: &Op| {
        if op.method == "GET" && op.target.contains("wait=true") {
            wait_timeout
        } else {
            timeout
        }
    };
    let mut operations = 0u64;
    let mut differences = 0u64;
    let mut first: Option<String> = None;
    for s in 0..sequences {
        let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(s));
        // Fixed width: no prefix is a prefix of another's (etcd matches a wait
        // against a deleted directory whose key merely starts its own).
        let prefix = format!("/diff-{seed}-{s:06}");
        let probe = real.send(
            request(
                &endpoint,
                &Op {
                    method: "GET",
                    target: "/v2/keys/".into(),
                    body: String::new(),
                    sorted: false,
                },
            ),
            timeout,
        );
        let start = index_of(&probe).expect("the member's index");
        let other = match &v3_only {
            Some(v3) => Other::Bridge {
                v3: v3.endpoint().to_owned(),
                prefix: BRIDGE_PREFIX,
            },
            None => Other::Memory(MemoryEtcd::builder().starting_index(start).build()),
        };
        let probe_op = Op {
            method: "GET",
            target: "/v2/keys/".into(),
            body: String::new(),
            sorted: false,
        };
        let other_start = match &other {
            Other::Memory(_) => start,
            Other::Bridge { v3, prefix } => {
                let probe = bridge_answer(&real, v3, prefix, &probe_op, timeout);
                index_of(&probe.expect("a read over the bridge")).expect("the bridge's index")
            }
        };
        let mut seen = Seen {
            last: start,
            ..Seen::default()
        };
        for _ in 0..ops_per_sequence {
            let op = generate(&mut rng, &prefix, &seen);
            let timeout = timeout_of(&op);
            let got = match &other {
                Other::Memory(memory) => {
                    Transport::send(memory, request(&memory.endpoints()[0], &op), timeout)
                }
                Other::Bridge { v3, prefix } => {
                    // A wait from before the sequence: v2 answers from its
                    // 1000-event window, the bridge from v3's whole history
                    // (a documented difference).
                    if op.target.ends_with("waitIndex=1") {
                        continue;
                    }
                    let op = renumbered(&op, start, other_start);
                    match bridge_answer(&real, v3, prefix, &op, timeout) {
                        Some(answer) => answer,
                        None => continue, // not provided by the bridge yet
                    }
                }
            };
            let want = real.send(request(&endpoint, &op), timeout);
            operations += 1;
            let (w, g) = (
                summary(&want, op.sorted, start),
                summary(&got, op.sorted, other_start),
            );
            if std::env::var("DIFF_TRACE").is_ok() {
                println!(
                    "{s}: {} {} {:?}\n  etcd:  {w}\n  other: {g}",
                    op.method, op.target, op.body
                );
            }
            if !ttl_close(&w, &g) {
                differences += 1;
                if std::env::var("DIFF_SHOW_ALL").is_ok() {
                    println!("difference in sequence {s}: {} {} {:?}\n  etcd:       {w}\n  other:      {g}", op.method, op.target, op.body);
                }
                if first.is_none() {
                    first = Some(format!(
                        "sequence {s} (seed {seed}), after {} operations: {} {}  body {:?}\n  etcd:       {w}\n  other:      {g}",
                        operations, op.method, op.target, op.body
                    ));
                }
                break;
            }
            if let Some(i) = index_of(&want) {
                seen.last = seen.last.max(i);
                let changed = matches!(op.method, "PUT" | "POST" | "DELETE")
                    && want.as_ref().is_ok_and(|r| r.status().is_success());
                if changed {
                    seen.indexes.push(i);
                    if let Some(key) = want
                        .as_ref()
                        .ok()
                        .and_then(|r| serde_json::from_slice::<Value>(r.body()).ok())
                        .and_then(|v| v["node"]["key"].as_str().map(str::to_owned))
                    {
                        seen.events.push((key, i));
                    }
                }
            }
        }
        // Leave nothing behind that could expire during a later sequence.
        let clear = Op {
            method: "DELETE",
            target: format!("/v2/keys{prefix}?recursive=true"),
            body: String::new(),
            sorted: false,
        };
        let _ = real.send(request(&endpoint, &clear), timeout);
        if let Other::Bridge { v3, prefix } = &other {
            let _ = bridge_answer(&real, v3, prefix, &clear, timeout);
        }
    }
    if let Some(f) = &first {
        println!("first difference: {f}");
    }
    println!(
        "differential: {sequences} sequences, {operations} operations, {differences} differences"
    );
    if differences > 0 {
        std::process::exit(1);
    }
}
