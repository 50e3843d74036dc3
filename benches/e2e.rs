//! End-to-end throughput and CPU time against a real etcd it starts itself,
//! beside a raw baseline measured in the same run: a minimal keep-alive
//! HTTP/1.1 client on `std::net` sending the same requests and decoding
//! nothing. Every row prints its rate (or time) and its CPU time per operation
//! (`getrusage` of this process, user + system, over the measured operations
//! only), each as a ratio to raw, and the user part of that CPU time beside
//! raw's (the client's own work); contenders run in five interleaved rounds
//! and the medians are reported (ratios of the medians: on the 2-core VM the
//! ratio within one round swings widely from round to round, so pairing runs
//! round by round was tried and found noisier). Bare transport rows show how much of the gap
//! is the HTTP stack alone, and "raw on tokio" rows (raw's exchange on tokio's
//! sockets, no client) how much of the async rows' gap is tokio's.
//!
//! `cargo bench --bench e2e --features reqwest` compares the default clients
//! (http1) with reqwest; `--all-features` adds the ureq adapter and the
//! http1-tokio async client. `-- --quick` runs a quarter of the operations.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

#[cfg(feature = "http1-tokio")]
use etcd_v2::transports::http1::Http1AsyncTransport;
use etcd_v2::transports::http1::Http1Transport;
use etcd_v2::transports::reqwest::ReqwestTransport;
#[cfg(feature = "ureq")]
use etcd_v2::transports::ureq::UreqTransport;
use etcd_v2::{AsyncClient, Client, Transport, TransportOptions};

#[path = "shared/raw_tokio.rs"]
mod raw_tokio;

/// A keep-alive HTTP/1.1 connection that sends prepared requests and reads
/// whole responses (Content-Length or chunked): the least a client can do.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(authority: &str) -> Raw {
        let stream = TcpStream::connect(authority).expect("connect");
        stream.set_nodelay(true).unwrap();
        Raw {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::with_capacity(64 * 1024, stream),
        }
    }

    /// Send `request` and read the response; returns the status and body size.
    fn exchange(&mut self, request: &[u8], body: &mut Vec<u8>) -> (u16, usize) {
        self.writer.write_all(request).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = Some(v.trim().parse::<usize>().unwrap());
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        body.clear();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).unwrap();
                let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
                let start = body.len();
                body.resize(start + size, 0);
                self.reader.read_exact(&mut body[start..]).unwrap();
                line.clear();
                self.reader.read_line(&mut line).unwrap();
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            self.reader.read_exact(body).unwrap();
        }
        (status, body.len())
    }
}

fn get_request(authority: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes()
}

fn put_request(authority: &str, path: &str, value: &str) -> Vec<u8> {
    let form = format!("value={value}");
    format!(
        "PUT {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .into_bytes()
}

/// The process's own CPU time so far (every thread): user + system, and
/// user alone (the client's own work; system time is mostly the loopback
/// network stack, which raw pays alike).
fn cpu_time() -> (Duration, Duration) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(usage.ru_utime) + tv(usage.ru_stime), tv(usage.ru_utime))
}

/// Wall-clock and CPU time of one run.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    /// The user part of `cpu`.
    user: Duration,
}

fn measure<F: FnMut() + ?Sized>(f: &mut F) -> Sample {
    let (cpu, user) = cpu_time();
    let t = Instant::now();
    f();
    let wall = t.elapsed();
    let (cpu_after, user_after) = cpu_time();
    Sample {
        wall,
        cpu: cpu_after.saturating_sub(cpu),
        user: user_after.saturating_sub(user),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A contender: a name and a run of the workload.
type Contender<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Run each contender once per round, rounds interleaved (so a slow spell of
/// the machine hits all alike); the median wall and CPU time of each, by name.
fn rounds(rounds: usize, mut contenders: Vec<Contender<'_>>) -> Vec<(&'static str, Sample)> {
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); contenders.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in contenders.iter_mut().enumerate() {
            samples[i].push(measure(f));
        }
    }
    contenders
        .iter()
        .zip(samples)
        .map(|((name, _), s)| {
            let sample = Sample {
                wall: median(s.iter().map(|x| x.wall).collect()),
                cpu: median(s.iter().map(|x| x.cpu).collect()),
                user: median(s.iter().map(|x| x.user).collect()),
            };
            (*name, sample)
        })
        .collect()
}

struct Report {
    rows: Vec<[String; 6]>,
}

impl Report {
    /// A throughput row: `ops` operations in `s`, against `raw`.
    fn rate(&mut self, what: &str, ops: usize, s: Sample, raw: Sample) {
        let per = |d: Duration| d.as_secs_f64() / ops as f64;
        let (rate, raw_rate) = (1.0 / per(s.wall), 1.0 / per(raw.wall));
        let (cpu, raw_cpu) = (per(s.cpu) * 1e6, per(raw.cpu) * 1e6);
        let (user, raw_user) = (per(s.user) * 1e6, per(raw.user) * 1e6);
        println!(
            "{what:<50} {rate:>9.0} ops/s ({:.2} of raw {raw_rate:.0})   CPU {cpu:>7.1} us/op ({:.2}x raw {raw_cpu:.1}; user {user:.1}, raw's {raw_user:.1})",
            rate / raw_rate,
            cpu / raw_cpu
        );
        self.rows.push([
            what.to_owned(),
            format!("{rate:.0}/s"),
            format!("{:.2}", rate / raw_rate),
            format!("{cpu:.1} us"),
            format!("{:.2}x", cpu / raw_cpu),
            format!("{user:.1} us ({raw_user:.1})"),
        ]);
    }

    /// A duration row: one operation took `s`, against `raw`.
    fn time(&mut self, what: &str, s: Sample, raw: Sample) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{what:<50} {:>9.2} ms ({:.2}x raw {:.2})   CPU {:>7.2} ms ({:.2}x raw {:.2}; user {:.2}, raw's {:.2})",
            ms(s.wall),
            ms(s.wall) / ms(raw.wall),
            ms(raw.wall),
            ms(s.cpu),
            ms(s.cpu) / ms(raw.cpu),
            ms(raw.cpu),
            ms(s.user),
            ms(raw.user)
        );
        self.rows.push([
            what.to_owned(),
            format!("{:.2} ms", ms(s.wall)),
            format!("{:.2}x", ms(s.wall) / ms(raw.wall)),
            format!("{:.2} ms", ms(s.cpu)),
            format!("{:.2}x", ms(s.cpu) / ms(raw.cpu)),
            format!("{:.2} ms ({:.2})", ms(s.user), ms(raw.user)),
        ]);
    }
}

impl Report {
    /// Throughput rows for every contender but the first (raw).
    fn rates(&mut self, ops: usize, samples: Vec<(&'static str, Sample)>) {
        let raw = samples[0].1;
        for (name, s) in &samples[1..] {
            self.rate(name, ops, *s, raw);
        }
    }

    /// Per-operation time rows for every contender but the first (raw),
    /// each run doing `reps` operations.
    fn times(&mut self, reps: usize, samples: Vec<(&'static str, Sample)>) {
        let raw = scaled(samples[0].1, reps as u32);
        for (name, s) in &samples[1..] {
            self.time(name, scaled(*s, reps as u32), raw);
        }
    }
}

fn scaled(s: Sample, n: u32) -> Sample {
    Sample {
        wall: s.wall / n,
        cpu: s.cpu / n,
        user: s.user / n,
    }
}

/// The median time from the start of a write (by `writer`) to `waiter`, a
/// wait from the index `index()` gives, having the event; CPU per event.
fn watch_latency(
    events: usize,
    authority: &str,
    writer: &mut Raw,
    index: impl Fn() -> u64,
    waiter: &mut (dyn FnMut(u64) + Send),
) -> Sample {
    let put = put_request(authority, "/v2/keys/bench/w", "x");
    let mut walls = Vec::new();
    let (cpu, user) = cpu_time();
    for _ in 0..events {
        let index = index();
        let (tx, rx) = std::sync::mpsc::channel::<Instant>();
        let started = std::thread::scope(|scope| {
            let waiter = &mut *waiter;
            scope.spawn(move || {
                waiter(index);
                tx.send(Instant::now()).unwrap();
            });
            // Let the wait reach etcd first.
            std::thread::sleep(Duration::from_millis(5));
            let t = Instant::now();
            let mut b = Vec::new();
            writer.exchange(&put, &mut b);
            rx.recv().unwrap().duration_since(t)
        });
        walls.push(started);
    }
    let (cpu_after, user_after) = cpu_time();
    Sample {
        wall: median(walls),
        cpu: cpu_after.saturating_sub(cpu) / events as u32,
        user: user_after.saturating_sub(user) / events as u32,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 4 } else { 1 };
    // Start a throwaway member through the project's script.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/etcd.sh");
    let dir = std::env::temp_dir().join(format!("etcd-v2-bench-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(&script)
        .args([
            "start",
            &dir.to_string_lossy(),
            "1",
            &std::process::id().to_string(),
        ])
        .output()
        .expect("run scripts/etcd.sh");
    assert!(
        out.status.success(),
        "etcd did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let endpoint = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("ENDPOINTS=").map(str::to_owned))
        .expect("an endpoint");
    let authority = endpoint.trim_start_matches("http://").to_owned();
    let version = Command::new("etcd").arg("--version").output().ok();
    println!(
        "etcd-v2 end-to-end benchmark: etcd {} at {endpoint}, {} CPUs",
        version
            .and_then(|v| String::from_utf8_lossy(&v.stdout)
                .lines()
                .next()
                .map(str::to_owned))
            .unwrap_or_default(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    let lean: Client<Http1Transport> = Client::builder()
        .endpoint(endpoint.clone())
        .build_http1()
        .unwrap();
    #[cfg(feature = "ureq")]
    let ureq: Client<UreqTransport> = Client::builder()
        .endpoint(endpoint.clone())
        .build_from(UreqTransport::new)
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let reqwest: AsyncClient<ReqwestTransport> = Client::builder()
        .endpoint(endpoint.clone())
        .build_async_from(ReqwestTransport::new)
        .unwrap();
    #[cfg(feature = "http1-tokio")]
    let lean_async: AsyncClient<Http1AsyncTransport> = Client::builder()
        .endpoint(endpoint.clone())
        .build_async_from(Http1AsyncTransport::new)
        .unwrap();
    lean.node().set("/bench/k", "a-small-value", None).unwrap();
    let mut report = Report { rows: Vec::new() };
    let mut body = Vec::with_capacity(4 << 20);
    const ROUNDS: usize = 5;
    // Async loops run inside a task, as in an application (block_on from
    // outside the runtime would add a cross-thread wakeup per request).
    let in_task = |f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
        runtime.block_on(async { tokio::spawn(f).await.unwrap() })
    };
    let uri = format!("{endpoint}/v2/keys/bench/k");

    // A blocking and an async contender running `$op` (on the client `$c`)
    // `$n` times.
    macro_rules! blocking {
        ($name:expr, $client:expr, $n:expr, |$c:ident| $op:expr) => {
            (
                $name,
                Box::new(|| {
                    let $c = &$client;
                    for _ in 0..$n {
                        $op;
                    }
                }) as Box<dyn FnMut()>,
            )
        };
    }
    macro_rules! nonblocking {
        ($name:expr, $client:expr, $n:expr, |$c:ident| $op:expr) => {
            (
                $name,
                Box::new(|| {
                    let $c = $client.clone();
                    let n = $n;
                    in_task(Box::pin(async move {
                        let $c = &$c;
                        for _ in 0..n {
                            $op;
                        }
                    }))
                }) as Box<dyn FnMut()>,
            )
        };
    }

    // Sequential GET.
    let n = 20_000 / scale;
    let get = get_request(&authority, "/v2/keys/bench/k");
    let mut raw = Raw::connect(&authority);
    for _ in 0..1000 {
        raw.exchange(&get, &mut body);
        lean.node().get("/bench/k", false).unwrap();
    }
    let bare_lean = Http1Transport::new(&TransportOptions::default()).unwrap();
    #[cfg(feature = "ureq")]
    let bare_ureq = UreqTransport::new(&TransportOptions::default()).unwrap();
    let bare = |t: &dyn Transport| {
        let request = http::Request::get(&uri).body(Vec::new()).unwrap();
        let response = t.send(request, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(response.status(), 200);
    };
    // Raw's exchange on tokio, in a task as the async clients' loops run:
    // what tokio itself costs, with no client.
    let mut raw_async = Some(runtime.block_on(raw_tokio::connect(&authority)));
    {
        // More contenders with the `ureq` and `http1-tokio` features.
        #[allow(unused_mut)]
        let mut c: Vec<Contender> = vec![
            (
                "raw",
                Box::new(|| (0..n).for_each(|_| assert_eq!(raw.exchange(&get, &mut body).0, 200))),
            ),
            blocking!("sequential GET, Client (http1)", lean, n, |c| c
                .node()
                .get("/bench/k", false)
                .unwrap()),
            blocking!(
                "sequential GET, bare Http1Transport (no Client)",
                bare_lean,
                n,
                |t| bare(t)
            ),
            nonblocking!("sequential GET, AsyncClient (reqwest)", reqwest, n, |c| c
                .node()
                .get("/bench/k", false)
                .await
                .unwrap()),
        ];
        #[cfg(feature = "http1-tokio")]
        c.push(nonblocking!(
            "sequential GET, AsyncClient (http1-tokio)",
            lean_async,
            n,
            |c| c.node().get("/bench/k", false).await.unwrap()
        ));
        #[cfg(feature = "ureq")]
        c.push(blocking!("sequential GET, Client (ureq)", ureq, n, |c| c
            .node()
            .get("/bench/k", false)
            .unwrap()));
        #[cfg(feature = "ureq")]
        c.push(blocking!(
            "sequential GET, bare UreqTransport (no Client)",
            bare_ureq,
            n,
            |t| bare(t)
        ));
        // Last, so that whatever tokio's workers do after it falls on no
        // blocking row.
        c.push((
            "sequential GET, raw on tokio (no client)",
            Box::new(|| {
                let (mut stream, get) = (raw_async.take().unwrap(), get.clone());
                let stream = runtime.block_on(async move {
                    tokio::spawn(async move {
                        raw_tokio::gets(&mut stream, &get, n).await;
                        stream
                    })
                    .await
                    .unwrap()
                });
                raw_async = Some(stream);
            }),
        ));
        report.rates(n, rounds(ROUNDS, c));
    }

    // Sequential PUT.
    let n = 5_000 / scale;
    let put = put_request(&authority, "/v2/keys/bench/s", "a-small-value");
    {
        // More contenders with the `ureq` and `http1-tokio` features.
        #[allow(unused_mut)]
        let mut c: Vec<Contender> = vec![
            (
                "raw",
                Box::new(|| (0..n).for_each(|_| assert!(raw.exchange(&put, &mut body).0 < 300))),
            ),
            blocking!("sequential PUT, Client (http1)", lean, n, |c| c
                .node()
                .set("/bench/s", "a-small-value", None)
                .unwrap()),
            nonblocking!("sequential PUT, AsyncClient (reqwest)", reqwest, n, |c| c
                .node()
                .set("/bench/s", "a-small-value", None)
                .await
                .unwrap()),
        ];
        #[cfg(feature = "http1-tokio")]
        c.push(nonblocking!(
            "sequential PUT, AsyncClient (http1-tokio)",
            lean_async,
            n,
            |c| c
                .node()
                .set("/bench/s", "a-small-value", None)
                .await
                .unwrap()
        ));
        #[cfg(feature = "ureq")]
        c.push(blocking!("sequential PUT, Client (ureq)", ureq, n, |c| c
            .node()
            .set("/bench/s", "a-small-value", None)
            .unwrap()));
        report.rates(n, rounds(ROUNDS, c));
    }

    // A 10,000-key recursive listing.
    let value = "v".repeat(100);
    let loader: Vec<_> = (0..8)
        .map(|t| {
            let c = lean.clone();
            let value = value.clone();
            std::thread::spawn(move || {
                for i in (t..10_000).step_by(8) {
                    c.node()
                        .set(&format!("/bench/big/d{}/k{i:05}", i % 10), &value, None)
                        .unwrap();
                }
            })
        })
        .collect();
    loader.into_iter().for_each(|h| h.join().unwrap());
    let list = get_request(&authority, "/v2/keys/bench/big?recursive=true");
    raw.exchange(&list, &mut body);
    let listing_bytes = body.len();
    let reps = 20 / scale.min(4);
    println!("(the listing is {listing_bytes} bytes)");
    {
        let listed = |r: etcd_v2::KeysResponse| assert_eq!(r.node.leaves().len(), 10_000);
        // More contenders with the `ureq` and `http1-tokio` features.
        #[allow(unused_mut)]
        let mut c: Vec<Contender> = vec![
            (
                "raw",
                Box::new(|| {
                    (0..reps).for_each(|_| {
                        raw.exchange(&list, &mut body);
                    })
                }),
            ),
            blocking!(
                "10,000-key recursive GET + parse, Client (http1)",
                lean,
                reps,
                |c| listed(c.node().get("/bench/big", true).unwrap())
            ),
            blocking!(
                "the same, read as a borrowed Listing, Client (http1)",
                lean,
                reps,
                |c| assert_eq!(
                    c.node()
                        .get_listing("/bench/big", true)
                        .unwrap()
                        .node()
                        .leaves()
                        .count(),
                    10_000
                )
            ),
            nonblocking!(
                "10,000-key recursive GET + parse, AsyncClient (reqwest)",
                reqwest,
                reps,
                |c| listed(c.node().get("/bench/big", true).await.unwrap())
            ),
        ];
        #[cfg(feature = "http1-tokio")]
        c.push(nonblocking!(
            "10,000-key recursive GET + parse, AsyncClient (http1-tokio)",
            lean_async,
            reps,
            |c| listed(c.node().get("/bench/big", true).await.unwrap())
        ));
        #[cfg(feature = "ureq")]
        c.push(blocking!(
            "10,000-key recursive GET + parse, Client (ureq)",
            ureq,
            reps,
            |c| listed(c.node().get("/bench/big", true).unwrap())
        ));
        report.times(reps, rounds(ROUNDS, c));
    }

    // 16 threads or tasks: one shared client against 16 raw connections.
    let threads = 16;
    let per = 4_000 / scale;
    macro_rules! threads {
        ($name:expr, $client:expr) => {
            (
                $name,
                Box::new(|| {
                    std::thread::scope(|scope| {
                        for _ in 0..threads {
                            let c = &$client;
                            scope.spawn(move || {
                                for _ in 0..per {
                                    c.node().get("/bench/k", false).unwrap();
                                }
                            });
                        }
                    })
                }) as Box<dyn FnMut()>,
            )
        };
    }
    macro_rules! tasks {
        ($name:expr, $client:expr) => {
            (
                $name,
                Box::new(|| {
                    runtime.block_on(async {
                        let tasks: Vec<_> = (0..threads)
                            .map(|_| {
                                let c = $client.clone();
                                tokio::spawn(async move {
                                    for _ in 0..per {
                                        c.node().get("/bench/k", false).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    })
                }) as Box<dyn FnMut()>,
            )
        };
    }
    {
        let raw_threads = || {
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        let mut conn = Raw::connect(&authority);
                        let mut body = Vec::new();
                        for _ in 0..per {
                            assert_eq!(conn.exchange(&get, &mut body).0, 200);
                        }
                    });
                }
            })
        };
        // Raw's exchange on tokio (16 tasks on the same two-worker runtime,
        // a connection each): what tokio itself reaches, with no client.
        let raw_tasks = || {
            runtime.block_on(async {
                let tasks: Vec<_> = (0..threads)
                    .map(|_| {
                        let (authority, get) = (authority.clone(), get.clone());
                        tokio::spawn(async move {
                            let mut stream = raw_tokio::connect(&authority).await;
                            raw_tokio::gets(&mut stream, &get, per).await;
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        };
        // More contenders with the `ureq` and `http1-tokio` features.
        #[allow(unused_mut)]
        let mut c: Vec<Contender> = vec![
            ("raw", Box::new(raw_threads)),
            threads!("16 threads sharing one Client (http1), GET", lean),
            tasks!("16 tasks sharing one AsyncClient (reqwest), GET", reqwest),
        ];
        #[cfg(feature = "http1-tokio")]
        c.push(tasks!(
            "16 tasks sharing one AsyncClient (http1-tokio), GET",
            lean_async
        ));
        #[cfg(feature = "ureq")]
        c.push(threads!("16 threads sharing one Client (ureq), GET", ureq));
        c.push((
            "16 tasks on tokio, raw (a connection each), GET",
            Box::new(raw_tasks),
        ));
        report.rates(threads * per, rounds(ROUNDS, c));
    }

    // Watch latency: from the start of a write to the waiter having it.
    let events = 200 / scale;
    let mut writer = Raw::connect(&authority);
    let wait = |index: u64| {
        get_request(
            &authority,
            &format!("/v2/keys/bench/w?wait=true&waitIndex={index}"),
        )
    };
    let index = || lean.node().current_index().unwrap() + 1;
    let raw_watch = watch_latency(events, &authority, &mut writer, index, &mut |index| {
        let mut conn = Raw::connect(&authority);
        let mut b = Vec::new();
        assert_eq!(conn.exchange(&wait(index), &mut b).0, 200);
    });
    let lean_watch = watch_latency(events, &authority, &mut writer, index, &mut |index| {
        lean.node().wait_from("/bench/w", index, false).unwrap();
    });
    report.time("watch event latency, Client (http1)", lean_watch, raw_watch);
    #[cfg(feature = "ureq")]
    {
        let ureq_watch = watch_latency(events, &authority, &mut writer, index, &mut |index| {
            ureq.node().wait_from("/bench/w", index, false).unwrap();
        });
        report.time("watch event latency, Client (ureq)", ureq_watch, raw_watch);
    }

    println!(
        "\n| workload | result | vs raw | CPU per op | CPU vs raw | user CPU per op (raw's) |\n|---|---|---|---|---|---|"
    );
    for [what, result, ratio, cpu, cpu_ratio, user] in &report.rows {
        println!("| {what} | {result} | {ratio} | {cpu} | {cpu_ratio} | {user} |");
    }
    let _ = Command::new("bash")
        .arg(&script)
        .args(["stop", &dir.to_string_lossy()])
        .output();
}
