//! A loop to profile one client kind against a running etcd (no figures of
//! its own: run it under `perf record` or `strace -c`).
//!
//! ```sh
//! bash scripts/etcd.sh start /tmp/prof 1 $$     # prints ENDPOINTS=...
//! cargo bench --bench profile --features "reqwest http1-tokio" -- http1 get http://127.0.0.1:PORT 20000
//! perf record -g target/release/deps/profile-* http1 get http://127.0.0.1:PORT 20000
//! valgrind --tool=callgrind target/release/deps/profile-* http1 get http://127.0.0.1:PORT 2000
//! ```
//!
//! Kinds: `http1`, `ureq`, `bare-http1` (the transport alone), `http1-tokio`,
//! `reqwest`, `raw` (the e2e bench's baseline, `get` and `put`), `raw-tokio`
//! (the same exchange on tokio's sockets, `get` only: what tokio itself costs,
//! with no client); operations: `get`, `put`, `list` (of `/bench/big`, which
//! the e2e bench fills), `listing` (the same, read as a borrowed `Listing`).
//! The async kinds run in a task on a two-worker tokio runtime
//! (`PROFILE_WORKERS=N` for N workers), or on a current-thread one with
//! `PROFILE_RUNTIME=current-thread`. `PROFILE_TASKS=16` shares the calls
//! among 16 threads (`http1`, `ureq`) or tasks (`http1-tokio`, `reqwest`) on
//! one client, as the e2e bench's concurrent rows do, or among K threads
//! (`raw`) or tasks (`raw-tokio`) with a connection each, as its raw rows
//! do; `bare-http1` refuses it.

use std::time::{Duration, Instant};

#[path = "shared/raw_tokio.rs"]
mod raw_tokio;

use etcd_v2::transports::http1::{Http1AsyncTransport, Http1Transport};
use etcd_v2::transports::reqwest::ReqwestTransport;
use etcd_v2::transports::ureq::UreqTransport;
use etcd_v2::{AsyncClient, Client, Transport, TransportOptions};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [kind, op, endpoint, n] = args.as_slice() else {
        eprintln!("usage: profile KIND OP ENDPOINT N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("a count");
    let builder = || Client::builder().endpoint(endpoint.clone());
    let started = Instant::now();
    let blocking = |c: &Client<_>| run_blocking(c, op, n);
    if tasks() > 1 && kind == "bare-http1" {
        eprintln!("PROFILE_TASKS is for every kind but bare-http1");
        std::process::exit(2);
    }
    match kind.as_str() {
        "http1" => blocking(&builder().build_http1().unwrap()),
        "ureq" => run_blocking(&builder().build_from(UreqTransport::new).unwrap(), op, n),
        "bare-http1" => {
            let t = Http1Transport::new(&TransportOptions::default()).unwrap();
            let uri = format!("{endpoint}/v2/keys/bench/k");
            for _ in 0..n {
                let request = http::Request::get(&uri).body(Vec::new()).unwrap();
                t.send(request, Some(Duration::from_secs(5))).unwrap();
            }
        }
        "raw" => {
            let authority = endpoint.trim_start_matches("http://");
            let k = tasks();
            std::thread::scope(|s| {
                for i in 0..k {
                    s.spawn(move || raw(authority, op, share(n, k, i)));
                }
            });
        }
        "raw-tokio" => raw_tokio(endpoint.trim_start_matches("http://"), op, n),
        "http1-tokio" => run_async(
            builder()
                .build_async_from(Http1AsyncTransport::new)
                .unwrap(),
            op,
            n,
        ),
        "reqwest" => run_async(
            builder().build_async_from(ReqwestTransport::new).unwrap(),
            op,
            n,
        ),
        other => panic!("unknown kind {other}"),
    }
    eprintln!("{n} x {op} over {kind}: {:?}", started.elapsed());
}

/// The e2e bench's baseline: one write, then the answer read through a
/// buffer, nothing decoded (GET and PUT), on a connection of its own.
fn raw(authority: &str, op: &str, n: usize) {
    use std::io::{BufRead, BufReader, Read, Write};
    let stream = std::net::TcpStream::connect(authority).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let request = match op {
        "get" => {
            format!("GET /v2/keys/bench/k HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: raw\r\n\r\n")
        }
        "put" => format!(
            "PUT /v2/keys/bench/k HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: raw\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 19\r\n\r\n\
             value=a-small-value"
        ),
        other => panic!("raw does get and put, not {other}"),
    };
    let mut line = String::new();
    let mut body = Vec::new();
    for _ in 0..n {
        writer.write_all(request.as_bytes()).unwrap();
        let mut length = 0;
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let lower = line.trim_end().to_ascii_lowercase();
            if lower.is_empty() {
                break;
            }
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body).unwrap();
    }
}

/// `PROFILE_TASKS=K`: the calls are shared among K threads (or tasks) on one
/// client, as the e2e bench's 16-thread and 16-task rows do (`raw` and
/// `raw-tokio`: among K threads or tasks with a connection each); 1 by
/// default.
fn tasks() -> usize {
    std::env::var("PROFILE_TASKS")
        .ok()
        .and_then(|k| k.parse().ok())
        .filter(|&k| k > 0)
        .unwrap_or(1)
}

/// The calls of the `i`th of `k` threads or tasks: `n` in all.
fn share(n: usize, k: usize, i: usize) -> usize {
    n / k + usize::from(i < n % k)
}

fn run_blocking<T: Transport + 'static>(c: &Client<T>, op: &str, n: usize) {
    let k = tasks();
    if k > 1 {
        std::thread::scope(|s| {
            for i in 0..k {
                s.spawn(move || run_blocking_alone(c, op, share(n, k, i)));
            }
        });
    } else {
        run_blocking_alone(c, op, n);
    }
}

fn run_blocking_alone<T: Transport + 'static>(c: &Client<T>, op: &str, n: usize) {
    for _ in 0..n {
        match op {
            "get" => drop(c.node().get("/bench/k", false).unwrap()),
            "put" => drop(c.node().set("/bench/k", "a-small-value", None).unwrap()),
            "list" => drop(c.node().get("/bench/big", true).unwrap()),
            "listing" => drop(c.node().get_listing("/bench/big", true).unwrap()),
            other => panic!("unknown op {other}"),
        }
    }
}

fn run_async<T: etcd_v2::AsyncTransport + 'static>(c: AsyncClient<T>, op: &str, n: usize) {
    let k = tasks();
    runtime().block_on(async move {
        let calls = (0..k).map(|i| {
            let (c, op) = (c.clone(), op.to_owned());
            tokio::spawn(async move { run_async_alone(c, &op, share(n, k, i)).await })
        });
        for call in calls.collect::<Vec<_>>() {
            call.await.unwrap();
        }
    });
}

/// A tokio runtime of two workers (or `PROFILE_WORKERS`), or with
/// `PROFILE_RUNTIME=current-thread` tokio's single-threaded scheduler.
fn runtime() -> tokio::runtime::Runtime {
    if std::env::var("PROFILE_RUNTIME").as_deref() == Ok("current-thread") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        let workers = std::env::var("PROFILE_WORKERS")
            .ok()
            .and_then(|w| w.parse().ok())
            .filter(|&w| w > 0)
            .unwrap_or(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap()
    }
}

async fn run_async_alone<T: etcd_v2::AsyncTransport + 'static>(
    c: AsyncClient<T>,
    op: &str,
    n: usize,
) {
    for _ in 0..n {
        match op {
            "get" => drop(c.node().get("/bench/k", false).await.unwrap()),
            "put" => drop(
                c.node()
                    .set("/bench/k", "a-small-value", None)
                    .await
                    .unwrap(),
            ),
            "list" => drop(c.node().get("/bench/big", true).await.unwrap()),
            "listing" => drop(c.node().get_listing("/bench/big", true).await.unwrap()),
            other => panic!("unknown op {other}"),
        }
    }
}

/// The raw GET on tokio: `PROFILE_TASKS` tasks (on the runtime [`runtime`]
/// picks), each with its own connection, writing the request and reading the
/// answer up to its Content-Length, nothing decoded.
fn raw_tokio(authority: &str, op: &str, n: usize) {
    assert_eq!(op, "get", "raw-tokio does get only");
    let request: std::sync::Arc<[u8]> =
        format!("GET /v2/keys/bench/k HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: raw\r\n\r\n")
            .into_bytes()
            .into();
    let k = tasks();
    runtime().block_on(async move {
        let calls = (0..k).map(|i| {
            let (request, authority) = (request.clone(), authority.to_owned());
            tokio::spawn(async move {
                let mut stream = raw_tokio::connect(&authority).await;
                raw_tokio::gets(&mut stream, &request, share(n, k, i)).await;
            })
        });
        for call in calls.collect::<Vec<_>>() {
            call.await.unwrap();
        }
    });
}
