//! End-to-end throughput against a real etcd it starts itself, beside a raw
//! baseline measured in the same run: a minimal keep-alive HTTP/1.1 client on
//! `std::net` sending the same requests. Prints each figure and its ratio to the
//! baseline. Bare `UreqTransport` rows show how much of the gap is the HTTP
//! stack alone.
//!
//! `cargo bench --bench e2e --features reqwest` (a quick pass: add `-- --quick`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_v2::transports::ureq::UreqTransport;
use etcd_v2::{AsyncClient, Client, Transport, TransportOptions};

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

/// The best (fastest) of `runs` timings of `f`, which performs `ops` operations.
fn best<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

struct Report {
    rows: Vec<(String, String, String)>,
}

impl Report {
    fn rate(&mut self, what: &str, ops: usize, took: Duration, raw: Duration) {
        let rate = ops as f64 / took.as_secs_f64();
        let raw_rate = ops as f64 / raw.as_secs_f64();
        let ratio = rate / raw_rate;
        println!("{what:<48} {rate:>10.0} ops/s   raw {raw_rate:>10.0} ops/s   ratio {ratio:.3}");
        self.rows.push((
            what.to_owned(),
            format!("{rate:.0} ops/s"),
            format!("{ratio:.3} of raw"),
        ));
    }

    fn time(&mut self, what: &str, took: Duration, raw: Duration) {
        let ratio = took.as_secs_f64() / raw.as_secs_f64();
        println!(
            "{what:<48} {:>10.2} ms      raw {:>10.2} ms      ratio {ratio:.3}x",
            took.as_secs_f64() * 1e3,
            raw.as_secs_f64() * 1e3
        );
        self.rows.push((
            what.to_owned(),
            format!("{:.2} ms", took.as_secs_f64() * 1e3),
            format!("{ratio:.3}x raw"),
        ));
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

    let client = Client::builder()
        .endpoint(endpoint.clone())
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let async_client: AsyncClient = Client::builder()
        .endpoint(endpoint.clone())
        .build_async()
        .unwrap();
    client
        .node()
        .set("/bench/k", "a-small-value", None)
        .unwrap();
    let mut report = Report { rows: Vec::new() };
    let mut body = Vec::with_capacity(4 << 20);

    // Sequential GET.
    let n = 20_000 / scale;
    let get = get_request(&authority, "/v2/keys/bench/k");
    let mut raw = Raw::connect(&authority);
    for _ in 0..1000 {
        raw.exchange(&get, &mut body);
        client.node().get("/bench/k", false).unwrap();
    }
    let raw_get = best(3, || {
        (0..n).for_each(|_| assert_eq!(raw.exchange(&get, &mut body).0, 200))
    });
    let ureq_get = best(3, || {
        (0..n).for_each(|_| {
            client.node().get("/bench/k", false).unwrap();
        })
    });
    // Async loops run inside a task, as in an application (block_on from
    // outside the runtime would add a cross-thread wakeup per request).
    let in_task = |f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
        runtime.block_on(async { tokio::spawn(f).await.unwrap() })
    };
    let reqwest_get = best(3, || {
        let c = async_client.clone();
        in_task(Box::pin(async move {
            for _ in 0..n {
                c.node().get("/bench/k", false).await.unwrap();
            }
        }))
    });
    // The HTTP stack alone, with no Client around it: how much of the gap to
    // raw is ureq's own.
    let bare = Arc::new(UreqTransport::new(&TransportOptions::default()).unwrap());
    let uri = format!("{endpoint}/v2/keys/bench/k");
    let bare_get = best(3, || {
        (0..n).for_each(|_| {
            let request = http::Request::get(&uri).body(Vec::new()).unwrap();
            let response = bare.send(request, Some(Duration::from_secs(5))).unwrap();
            assert_eq!(response.status(), 200);
        })
    });
    report.rate("sequential GET, Client (ureq)", n, ureq_get, raw_get);
    report.rate(
        "sequential GET, bare UreqTransport (no Client)",
        n,
        bare_get,
        raw_get,
    );
    report.rate(
        "sequential GET, AsyncClient (reqwest)",
        n,
        reqwest_get,
        raw_get,
    );

    // Sequential SET.
    let n = 5_000 / scale;
    let put = put_request(&authority, "/v2/keys/bench/s", "a-small-value");
    let raw_set = best(3, || {
        (0..n).for_each(|_| assert!(raw.exchange(&put, &mut body).0 < 300))
    });
    let ureq_set = best(3, || {
        (0..n).for_each(|_| {
            client
                .node()
                .set("/bench/s", "a-small-value", None)
                .unwrap();
        })
    });
    let reqwest_set = best(3, || {
        let c = async_client.clone();
        in_task(Box::pin(async move {
            for _ in 0..n {
                c.node()
                    .set("/bench/s", "a-small-value", None)
                    .await
                    .unwrap();
            }
        }))
    });
    report.rate("sequential SET, Client (ureq)", n, ureq_set, raw_set);
    report.rate(
        "sequential SET, AsyncClient (reqwest)",
        n,
        reqwest_set,
        raw_set,
    );

    // A 10,000-key recursive listing.
    let value = "v".repeat(100);
    let loader: Vec<_> = (0..8)
        .map(|t| {
            let c = client.clone();
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
    let raw_list = best(3, || {
        (0..reps).for_each(|_| {
            raw.exchange(&list, &mut body);
        })
    });
    let ureq_list = best(3, || {
        for _ in 0..reps {
            let r = client.node().get("/bench/big", true).unwrap();
            assert_eq!(r.node.leaves().len(), 10_000);
        }
    });
    let reqwest_list = best(3, || {
        let c = async_client.clone();
        in_task(Box::pin(async move {
            for _ in 0..reps {
                let r = c.node().get("/bench/big", true).await.unwrap();
                assert_eq!(r.node.leaves().len(), 10_000);
            }
        }))
    });
    println!("(the listing is {listing_bytes} bytes)");
    report.time(
        "10,000-key recursive GET + parse, Client (ureq)",
        ureq_list / reps as u32,
        raw_list / reps as u32,
    );
    report.time(
        "10,000-key recursive GET + parse, AsyncClient",
        reqwest_list / reps as u32,
        raw_list / reps as u32,
    );

    // 16 threads: one shared Client against 16 raw connections.
    let threads = 16;
    let per = 4_000 / scale;
    let raw_par = best(3, || {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (authority, get) = (authority.clone(), get.clone());
                std::thread::spawn(move || {
                    let mut conn = Raw::connect(&authority);
                    let mut body = Vec::new();
                    for _ in 0..per {
                        assert_eq!(conn.exchange(&get, &mut body).0, 200);
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
    let shared = Arc::new(client.clone());
    let ureq_par = best(3, || {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let c = Arc::clone(&shared);
                std::thread::spawn(move || {
                    for _ in 0..per {
                        c.node().get("/bench/k", false).unwrap();
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
    let bare_par = best(3, || {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (bare, uri) = (Arc::clone(&bare), uri.clone());
                std::thread::spawn(move || {
                    for _ in 0..per {
                        let request = http::Request::get(&uri).body(Vec::new()).unwrap();
                        let response = bare.send(request, Some(Duration::from_secs(5))).unwrap();
                        assert_eq!(response.status(), 200);
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
    let reqwest_par = best(3, || {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..threads)
                .map(|_| {
                    let c = async_client.clone();
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
    });
    report.rate(
        "16 threads sharing one Client (ureq), GET",
        threads * per,
        ureq_par,
        raw_par,
    );
    report.rate(
        "16 threads sharing one bare UreqTransport, GET",
        threads * per,
        bare_par,
        raw_par,
    );
    report.rate(
        "16 tasks sharing one AsyncClient, GET",
        threads * per,
        reqwest_par,
        raw_par,
    );

    println!("\n| measurement | result | vs raw baseline |\n|---|---|---|");
    for (what, result, ratio) in &report.rows {
        println!("| {what} | {result} | {ratio} |");
    }
    let _ = Command::new("bash")
        .arg(&script)
        .args(["stop", &dir.to_string_lossy()])
        .output();
}
