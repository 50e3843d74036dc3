//! Shared test support: throwaway etcd members (through `scripts/etcd.sh`, the
//! same mechanism the demo and CI use), captured exchanges, and the `etcd_test!`
//! macro that writes a test body once for every client.
#![allow(dead_code)]

pub mod capture;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The project's etcd script.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/etcd.sh")
}

/// Throwaway etcd members on free loopback ports, stopped (by PID) on drop, or by
/// the script's watchdog when the test binary exits.
#[derive(Debug)]
pub struct Etcd {
    dir: PathBuf,
    endpoints: Vec<String>,
    attempts: u32,
    /// With `ETCD_BACKEND=memory`, the served MemoryEtcd behind `shared()`.
    memory: Option<etcd_v2::memory::Served>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Take `lock`, for a stretch of a test that no other test of the binary may run
/// at the same time (a test that panicked while holding it does not block the
/// others).
///
/// For example, etcd takes one membership change at a time: a second one
/// proposed while the first is pending is dropped by raft and answered, 7 s
/// later, with a 500.
pub fn one_at_a_time(lock: &'static Mutex<()>) -> MutexGuard<'static, ()> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

fn run_script(args: &[&str]) -> String {
    run_script_env(args, &[])
}

/// The script's exit status when no etcd of the wanted version is installed (only
/// then is installing one the fix).
const MISSING_ETCD: i32 = 3;

fn run_script_env(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script().display()));
    if !out.status.success() {
        let hint = if out.status.code() == Some(MISSING_ETCD) {
            "\nThese tests need a real etcd 3.4/3.5: install it with `apt-get install -y etcd-server` \
             (or run `bash scripts/test.sh`, which installs it; ETCD_VERSION=3.5 for etcd 3.5), or set \
             ETCD_BIN."
        } else {
            ""
        };
        panic!(
            "scripts/etcd.sh {} failed ({}):\n{}{hint}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh state directory name for throwaway members (not created).
pub fn state_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "etcd-v2-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ))
}

impl Etcd {
    /// Start `members` members (1 or 3), passing `extra` flags to each. Fails the
    /// test, loudly, when etcd is missing.
    pub fn start_with(members: usize, extra: &[&str]) -> Etcd {
        Etcd::start_with_env(members, extra, &[])
    }

    /// Start `members` members with `extra` flags and the script run with `env`
    /// (e.g. `ETCD_SCHEME=https`).
    pub fn start_with_env(members: usize, extra: &[&str], env: &[(&str, &str)]) -> Etcd {
        Etcd::start_in(state_dir(), members, extra, env)
    }

    /// Start `members` members with their state in `dir` (which may already hold
    /// files of the caller's, such as certificates: the members' watchdog removes
    /// the whole directory once this test binary has exited).
    pub fn start_in(dir: PathBuf, members: usize, extra: &[&str], env: &[(&str, &str)]) -> Etcd {
        let owner = std::process::id().to_string();
        let n = members.to_string();
        let dir_s = dir.to_string_lossy().into_owned();
        let mut args = vec!["start", dir_s.as_str(), n.as_str(), owner.as_str()];
        args.extend_from_slice(extra);
        let out = run_script_env(&args, env);
        let line = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} line in {out:?}"))
                .to_owned()
        };
        let endpoints = line("ENDPOINTS=").split(',').map(str::to_owned).collect();
        let attempts = line("ATTEMPTS=").parse().expect("ATTEMPTS=n");
        Etcd {
            dir,
            endpoints,
            attempts,
            memory: None,
        }
    }

    /// How many tries the script needed to start the members (1 unless a port
    /// was lost between the check and etcd's bind).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Start `members` members.
    pub fn start(members: usize) -> Etcd {
        Etcd::start_with(members, &[])
    }

    /// One member shared by every test of this binary (each test uses its own key
    /// prefix). Stopped by the watchdog when the binary exits.
    ///
    /// With `ETCD_BACKEND=memory`, it is a MemoryEtcd served over HTTP in this
    /// process instead (`scripts/test.sh` runs the node, directory, watch and
    /// recipe tests so, besides against etcd 3.4 and 3.5).
    pub fn shared() -> &'static Etcd {
        static SHARED: OnceLock<Etcd> = OnceLock::new();
        SHARED.get_or_init(|| match std::env::var("ETCD_BACKEND").as_deref() {
            Ok("memory") => Etcd::memory(),
            Ok("bridge") => Etcd::start_with_env(1, &[], &[("ETCD_V2_FLAGS", "v3only")]),
            Ok("etcd") | Err(_) => Etcd::start(1),
            Ok(other) => panic!("ETCD_BACKEND={other}: expected etcd, memory or bridge"),
        })
    }

    /// One member of the test's own (not the shared one): a started etcd, or
    /// with `ETCD_BACKEND=memory` a fresh MemoryEtcd served on a loopback port.
    pub fn own() -> Etcd {
        match std::env::var("ETCD_BACKEND").as_deref() {
            Ok("memory") => Etcd::memory(),
            _ => Etcd::start(1),
        }
    }

    /// One member of the test's own, of the kind the shared one is: as
    /// [`Etcd::own`], and a member without v2 with `ETCD_BACKEND=bridge`
    /// (reach it with [`backend_builder_for`]). For tests whose many writes
    /// would push the shared member's history past the other tests' waits.
    pub fn own_backend() -> Etcd {
        if is_bridge() {
            Etcd::start_with_env(1, &[], &[("ETCD_V2_FLAGS", "v3only")])
        } else {
            Etcd::own()
        }
    }

    /// A MemoryEtcd (one member, real time) served on a loopback port.
    pub fn memory() -> Etcd {
        let served = etcd_v2::memory::MemoryEtcd::new()
            .serve()
            .expect("serve MemoryEtcd");
        Etcd {
            dir: state_dir(),
            endpoints: served.endpoints().to_vec(),
            attempts: 1,
            memory: Some(served),
        }
    }

    /// Whether this is a MemoryEtcd rather than a real member.
    pub fn is_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// The client URLs.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The first client URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[0]
    }

    /// The member's state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Send `signal` (e.g. "KILL") to member `i` (0-based) and wait until it exits.
    pub fn kill(&self, i: usize, signal: &str) {
        let dir = self.dir.to_string_lossy();
        run_script(&["kill", &dir, &(i + 1).to_string(), signal]);
    }

    /// Start member `i` (0-based) again with its data.
    pub fn restart(&self, i: usize) {
        let dir = self.dir.to_string_lossy();
        run_script(&["restart", &dir, &(i + 1).to_string()]);
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if self.memory.is_some() {
            return;
        }
        let dir = self.dir.to_string_lossy().into_owned();
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &dir])
            .output();
    }
}

/// A key prefix unique to one test, so tests can share a member.
#[derive(Debug, Clone)]
pub struct Prefix(pub String);

impl Prefix {
    /// A fresh prefix named after the test.
    pub fn new(name: &str) -> Prefix {
        Prefix(format!(
            "/t/{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ))
    }

    /// A key under the prefix.
    pub fn key(&self, rest: &str) -> String {
        format!("{}/{}", self.0, rest.trim_start_matches('/'))
    }

    /// The prefix itself, as a directory key.
    pub fn dir(&self) -> &str {
        &self.0
    }
}

/// The builder every test client starts from.
pub fn builder_for(etcd: &Etcd) -> etcd_v2::ClientBuilder {
    etcd_v2::Client::builder()
        .endpoints(etcd.endpoints().iter().cloned())
        .timeout(Duration::from_secs(15))
}

/// A blocking client for `etcd`.
pub fn client_for(etcd: &Etcd) -> etcd_v2::Client {
    builder_for(etcd).build().expect("client")
}

/// POST `body` to the v3 JSON gateway's `path` on `endpoint`: the answer's
/// status and JSON (`Null` if it is none), or the transport's failure.
pub fn v3_try_post(
    endpoint: &str,
    path: &str,
    body: String,
) -> Result<(u16, serde_json::Value), etcd_v2::TransportError> {
    use etcd_v2::Transport;
    let raw =
        etcd_v2::DefaultTransport::new(&etcd_v2::TransportOptions::default()).expect("a transport");
    let request = http::Request::post(format!("{endpoint}{path}"))
        .body(body.into_bytes())
        .expect("a request");
    let answer = raw.send(request, Some(Duration::from_secs(10)))?;
    let json = serde_json::from_slice(answer.body()).unwrap_or(serde_json::Value::Null);
    Ok((answer.status().as_u16(), json))
}

/// POST `body` to the v3 JSON gateway's `path` on `endpoint`; the answer's
/// JSON (panics unless it is a 200).
pub fn v3_post_to(endpoint: &str, path: &str, body: String) -> serde_json::Value {
    match v3_try_post(endpoint, path, body) {
        Ok((200, json)) => json,
        other => panic!("{endpoint}{path}: {other:?}"),
    }
}

/// Kill member `victim` (0-based) of `etcd`, a follower when the test chose
/// it: should an election have made it the leader since (or be under way),
/// leadership moves to another member first (a leader killed under a write
/// leaves that write's outcome unknown, which a test's writer does not
/// resend).
pub fn kill_follower(etcd: &Etcd, victim: usize) {
    let url = &etcd.endpoints()[victim];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = v3_post_to(url, "/v3/maintenance/status", "{}".into());
        let me = status["header"]["member_id"].as_str().unwrap_or_default();
        // No leader named: an election is under way; ask again.
        let leader = status["leader"].as_str().unwrap_or_default();
        if !leader.is_empty() && leader != "0" && leader != me {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "member {victim} stayed the leader, or no leader came: {status}"
        );
        if leader == me {
            let members = v3_post_to(url, "/v3/cluster/member/list", "{}".into());
            let other = members["members"]
                .as_array()
                .and_then(|all| {
                    all.iter()
                        .find_map(|m| m["ID"].as_str().filter(|id| *id != me))
                })
                .expect("another member")
                .to_owned();
            // Refused or failed if leadership moved meanwhile: asked again.
            let _ = v3_try_post(
                url,
                "/v3/maintenance/transfer-leadership",
                format!(r#"{{"targetID":"{other}"}}"#),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    etcd.kill(victim, "KILL");
}

/// The builder for a member from [`Etcd::own_backend`]: over the bridge with
/// `ETCD_BACKEND=bridge`.
pub fn backend_builder_for(etcd: &Etcd) -> etcd_v2::ClientBuilder {
    let base = builder_for(etcd);
    if is_bridge() {
        base.v3_bridge(BRIDGE_PREFIX)
    } else {
        base
    }
}

/// A blocking client on the shared member (over the bridge with
/// `ETCD_BACKEND=bridge`).
pub fn client() -> etcd_v2::Client {
    builder_with(|b| b).build().expect("client")
}

/// A thread that repeats a write every 300 ms until [`Rewriter::stop`].
///
/// A wait "from now" starts at the store's index when it begins, so a write
/// that lands before it began is not one it sees; on a busy machine a fixed
/// head start for the waiter is no guarantee. Writing again until the waiter
/// has its event makes the test independent of which comes first.
pub struct Rewriter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// Start a [`Rewriter`] of `write`.
pub fn keep_writing(write: impl Fn() + Send + 'static) -> Rewriter {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = std::sync::Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        while !stopped.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(300));
            write();
        }
    });
    Rewriter { stop, thread }
}

impl Rewriter {
    /// Stop writing (after at most one more write), and wait for the thread.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the writer panicked");
    }
}

/// Whether the shared member is reached through the v3 bridge
/// (`ETCD_BACKEND=bridge`: a member without v2).
#[allow(dead_code)]
pub fn is_bridge() -> bool {
    std::env::var("ETCD_BACKEND").as_deref() == Ok("bridge")
}

/// The prefix of the v2 tree in the v3 keyspace when the tests run over the
/// bridge.
pub const BRIDGE_PREFIX: &str = "/v2-on-v3";

/// The builder for the shared member, configured further by `tweak` (over the
/// v3 bridge with `ETCD_BACKEND=bridge`).
pub fn builder_with(
    tweak: impl FnOnce(etcd_v2::ClientBuilder) -> etcd_v2::ClientBuilder,
) -> etcd_v2::ClientBuilder {
    let base = builder_for(Etcd::shared());
    tweak(if is_bridge() {
        base.v3_bridge(BRIDGE_PREFIX)
    } else {
        base
    })
}

/// Write a test body once, run it for every client kind: a `blocking` test
/// with the ureq client and a `nonblocking` tokio test with the reqwest client.
/// Inside the body:
/// - `$c` is the client (on the shared member) and `$p` a fresh key prefix;
/// - wrap each client call in `call!(...)` (it adds `.await` for async);
/// - `build!(builder)` builds another client of the same kind,
///   `recording!(builder)` one over a [`Recorder`];
/// - `spawn!({ ... })` runs a body concurrently (a thread, or a task) and
///   `join!(handle)` waits for it; `sleep!(duration)` sleeps either way.
///
/// An optional `builder: |b| ...` configures `$c`; the `standalone` form has no
/// `$c` (for tests that bring their own etcd).
#[macro_export]
macro_rules! etcd_test {
    ($name:ident, |$c:ident, $p:ident| $body:block) => {
        $crate::etcd_test!(@ $name, [$c = $crate::support::builder_with(|b| b)], $p, $body);
    };
    ($name:ident, builder: |$b:ident| $tweak:expr, |$c:ident, $p:ident| $body:block) => {
        $crate::etcd_test!(@ $name, [$c = $crate::support::builder_with(|$b| $tweak)], $p, $body);
    };
    ($name:ident, standalone, |$p:ident| $body:block) => {
        $crate::etcd_test!(@ $name, [], $p, $body);
    };
    (@ $name:ident, [$($c:ident = $builder:expr)?], $p:ident, $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn blocking() {
                #[allow(unused_macros)]
                macro_rules! call {
                    ($e:expr) => { $e };
                }
                #[allow(unused_macros)]
                macro_rules! build {
                    ($bb:expr) => { $bb.build().expect("client") };
                }
                #[allow(unused_macros)]
                macro_rules! recording {
                    ($bb:expr) => { $crate::support::recording_client($bb) };
                }
                #[allow(unused_macros)]
                macro_rules! spawn {
                    ($task:block) => { std::thread::spawn(move || $task) };
                }
                #[allow(unused_macros)]
                macro_rules! join {
                    ($h:expr) => { $h.join().expect("the spawned body panicked") };
                }
                #[allow(unused_macros)]
                macro_rules! sleep {
                    ($d:expr) => { std::thread::sleep($d) };
                }
                #[allow(unused_macros)]
                macro_rules! is_async {
                    () => { false };
                }
                #[allow(unused_macros)]
                macro_rules! try_build {
                    ($bb:expr) => { $bb.build() };
                }
                $(let $c = $builder.build().expect("client");)?
                let $p = $crate::support::Prefix::new(concat!(stringify!($name), "-b"));
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nonblocking() {
                #[allow(unused_macros)]
                macro_rules! call {
                    ($e:expr) => { $e.await };
                }
                #[allow(unused_macros)]
                macro_rules! build {
                    ($bb:expr) => { $bb.build_async().expect("client") };
                }
                #[allow(unused_macros)]
                macro_rules! recording {
                    ($bb:expr) => { $crate::support::async_recording_client($bb) };
                }
                #[allow(unused_macros)]
                macro_rules! spawn {
                    ($task:block) => { tokio::spawn(async move $task) };
                }
                #[allow(unused_macros)]
                macro_rules! join {
                    ($h:expr) => { $h.await.expect("the spawned body panicked") };
                }
                #[allow(unused_macros)]
                macro_rules! sleep {
                    ($d:expr) => { tokio::time::sleep($d).await };
                }
                #[allow(unused_macros)]
                macro_rules! is_async {
                    () => { true };
                }
                #[allow(unused_macros)]
                macro_rules! try_build {
                    ($bb:expr) => { $bb.build_async() };
                }
                $(let $c = $builder.build_async().expect("client");)?
                let $p = $crate::support::Prefix::new(concat!(stringify!($name), "-a"));
                $body
            }
        }
    };
}

/// One request a [`Recorder`] saw.
#[derive(Debug, Clone)]
pub struct Sent {
    /// `host:port` it went to.
    pub to: String,
    /// The method.
    pub method: String,
    /// The path and query.
    pub target: String,
    /// The status, or the transport failure's kind.
    pub outcome: String,
    /// When it was sent.
    pub at: std::time::Instant,
    /// Its `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// A transport that records every request it forwards to the inner one.
pub struct Recorder<T> {
    inner: T,
    log: std::sync::Mutex<Vec<Sent>>,
}

impl<T> Recorder<T> {
    /// Record what goes through `inner`.
    pub fn new(inner: T) -> Recorder<T> {
        Recorder {
            inner,
            log: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.log.lock().unwrap().clone()
    }

    /// Forget what was sent so far.
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl<T> Recorder<T> {
    fn record(
        &self,
        request: &http::Request<Vec<u8>>,
        at: std::time::Instant,
        result: &Result<http::Response<Vec<u8>>, etcd_v2::TransportError>,
    ) {
        let to = request
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let method = request.method().to_string();
        let target = request
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let outcome = match result {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("{:?}", e.kind()),
        };
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.log.lock().unwrap().push(Sent {
            to,
            method,
            target,
            outcome,
            at,
            authorization,
        });
    }
}

fn without_body(request: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut copy = http::Request::builder()
        .method(request.method().clone())
        .uri(request.uri().clone())
        .body(Vec::new())
        .unwrap();
    *copy.headers_mut() = request.headers().clone();
    copy
}

impl<T: etcd_v2::Transport> etcd_v2::Transport for Recorder<T> {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<Vec<u8>>, etcd_v2::TransportError> {
        let at = std::time::Instant::now();
        let copy = without_body(&request);
        let result = self.inner.send(request, timeout);
        self.record(&copy, at, &result);
        result
    }

    fn send_streaming(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
        line: &mut dyn FnMut(&[u8]) -> etcd_v2::Flow,
    ) -> Result<http::Response<Vec<u8>>, etcd_v2::TransportError> {
        let at = std::time::Instant::now();
        let copy = without_body(&request);
        let result = self.inner.send_streaming(request, timeout, line);
        self.record(&copy, at, &result);
        result
    }
}

impl<T: etcd_v2::AsyncTransport> etcd_v2::AsyncTransport for Recorder<T> {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<Vec<u8>>, etcd_v2::TransportError> {
        let at = std::time::Instant::now();
        let copy = without_body(&request);
        let result = self.inner.send(request, timeout).await;
        self.record(&copy, at, &result);
        result
    }

    async fn send_streaming<'a>(
        &'a self,
        request: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
        line: &'a mut (dyn FnMut(&[u8]) -> etcd_v2::Flow + Send),
    ) -> Result<http::Response<Vec<u8>>, etcd_v2::TransportError> {
        let at = std::time::Instant::now();
        let copy = without_body(&request);
        let result = self.inner.send_streaming(request, timeout, line).await;
        self.record(&copy, at, &result);
        result
    }

    async fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration).await
    }

    fn spawn(&self, task: etcd_v2::transport::Task) {
        self.inner.spawn(task)
    }
}

/// A blocking client over a recording default transport.
pub fn recording_client(
    builder: etcd_v2::ClientBuilder,
) -> etcd_v2::Client<Recorder<etcd_v2::DefaultTransport>> {
    builder
        .build_from(|options| etcd_v2::DefaultTransport::new(options).map(Recorder::new))
        .unwrap()
}

/// An async client over a recording default async transport.
pub fn async_recording_client(
    builder: etcd_v2::ClientBuilder,
) -> etcd_v2::AsyncClient<Recorder<etcd_v2::DefaultAsyncTransport>> {
    builder
        .build_async_from(|options| etcd_v2::DefaultAsyncTransport::new(options).map(Recorder::new))
        .unwrap()
}

/// `host:port` of a client URL.
pub fn authority(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned()
}
pub mod model;

/// Make a v2 JSON body comparable: drop `expiration`, replace `ttl` by what
/// `ttl` makes of it (the two sides count down on separate clocks), and sort
/// `nodes` by key unless the listing was asked `sorted` (etcd lists in map
/// order otherwise).
pub fn normalise_json(
    v: &mut serde_json::Value,
    sorted: bool,
    ttl: &dyn Fn(i64) -> serde_json::Value,
) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            m.remove("expiration");
            if let Some(t) = m.get("ttl").and_then(Value::as_i64) {
                m.insert("ttl".into(), ttl(t));
            }
            for (_, x) in m.iter_mut() {
                normalise_json(x, sorted, ttl);
            }
            if !sorted {
                if let Some(Value::Array(nodes)) = m.get_mut("nodes") {
                    nodes.sort_by_key(|n| n["key"].as_str().unwrap_or("").to_owned());
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalise_json(x, sorted, ttl)),
        _ => {}
    }
}
