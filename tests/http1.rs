//! The lean HTTP/1.1 transport against scripted servers: body framings
//! (chunked with extensions and trailers, Content-Length, until close),
//! keep-alive reuse and `Connection: close`, a pooled connection the server
//! closed while idle, streamed lines, timeouts and malformed answers.
#![cfg(feature = "http1")]

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_v2::transport::Flow;
use etcd_v2::transports::http1::Http1Transport;
use etcd_v2::{Transport, TransportErrorKind, TransportOptions};

mod raw_http;
use raw_http::read_request;

/// A server answering each request on a connection with `answer(n)` (n
/// counts requests overall), closing after it when `close(n)`. Its URL, and
/// the number of connections accepted.
fn server(
    answer: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
    close: impl Fn(usize) -> bool + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (answer, close) = (Arc::new(answer), Arc::new(close));
    let seen = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let (answer, close, requests) = (answer.clone(), close.clone(), requests.clone());
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while read_request(&mut reader) {
                    let n = requests.fetch_add(1, Ordering::SeqCst);
                    if writer.write_all(&answer(n)).is_err() || close(n) {
                        return;
                    }
                }
            });
        }
    });
    (url, connections)
}

/// A server that answers each connection's one request with `answer` and
/// then closes it without saying so, and the count of connections it has
/// closed so far (counted once the close is done).
fn closing_server(answer: &'static [u8]) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (seen, done) = (Arc::clone(&connections), Arc::clone(&closed));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                if read_request(&mut reader) {
                    let _ = writer.write_all(answer);
                }
                drop((writer, reader));
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (url, connections, closed)
}

/// Wait (at most 10 s) until `closed` reaches `n`.
fn await_closes(closed: &AtomicUsize, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while closed.load(Ordering::SeqCst) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never closed connection {n}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn transport() -> Http1Transport {
    Http1Transport::new(&TransportOptions::default()).unwrap()
}

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(format!("{url}/v2/keys/k"))
        .body(Vec::new())
        .unwrap()
}

fn put(url: &str) -> http::Request<Vec<u8>> {
    http::Request::put(format!("{url}/v2/keys/k"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(b"value=v".to_vec())
        .unwrap()
}

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

#[test]
fn chunked_bodies_with_extensions_and_trailers_read_whole() {
    let (url, _) = server(
        |_| {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n".to_vec()
        },
        |_| false,
    );
    let t = transport();
    for _ in 0..3 {
        let answer = t.send(get(&url), TIMEOUT).unwrap();
        assert_eq!(answer.body(), b"hello, world");
    }
}

#[test]
fn keep_alive_reuses_one_connection_and_close_does_not() {
    let fine = |_| b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
    let (url, connections) = server(fine, |_| false);
    let t = transport();
    for _ in 0..5 {
        assert_eq!(t.send(get(&url), TIMEOUT).unwrap().body(), b"ok");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    // `Connection: close`, and a body delimited by the end of the stream.
    let (url, connections) = server(
        |n| {
            if n % 2 == 0 {
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec()
            } else {
                b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec()
            }
        },
        |_| true,
    );
    assert_eq!(t.send(get(&url), TIMEOUT).unwrap().body(), b"ok");
    assert_eq!(t.send(get(&url), TIMEOUT).unwrap().body(), b"until the end");
    assert_eq!(t.send(get(&url), TIMEOUT).unwrap().body(), b"ok");
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[test]
fn a_pooled_connection_the_server_closed_is_not_used_for_a_write() {
    // The server closes each connection after its answer, without saying so:
    // the next request (a write, which must not be sent on a dead connection
    // and then fail ambiguously) goes on a new one.
    let (url, connections, closed) =
        closing_server(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    let t = transport();
    for i in 0..4 {
        let answer = t.send(put(&url), TIMEOUT).unwrap();
        assert_eq!(answer.status(), 201);
        // The close has reached the client before its next request.
        await_closes(&closed, i + 1);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 4);
}

#[test]
fn a_read_on_a_pooled_connection_the_server_closed_goes_again_on_a_new_one() {
    // A GET is sent on a pooled connection without checking it first (one
    // system call less); when the server had closed it, the GET (which
    // changes nothing) goes once more on a new connection.
    let (url, connections, closed) =
        closing_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let t = transport();
    for i in 0..4 {
        assert_eq!(t.send(get(&url), TIMEOUT).unwrap().body(), b"ok");
        await_closes(&closed, i + 1);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 4);
}

#[test]
fn streamed_lines_arrive_one_by_one_and_stop_when_told() {
    let (url, _) = server(
        |_| {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\none\n\r\n9\r\ntwo\nthree\r\n5\r\n\nfour\r\n0\r\n\r\n"
                .to_vec()
        },
        |_| false,
    );
    let t = transport();
    let mut lines = Vec::new();
    t.send_streaming(get(&url), TIMEOUT, &mut |l| {
        lines.push(String::from_utf8_lossy(l).into_owned());
        Flow::Continue
    })
    .unwrap();
    assert_eq!(lines, ["one", "two", "three", "four"]);
    let mut first = Vec::new();
    t.send_streaming(get(&url), TIMEOUT, &mut |l| {
        first.push(l.to_vec());
        Flow::Stop
    })
    .unwrap();
    assert_eq!(first, [b"one".to_vec()]);
    // A non-2xx answer comes back whole.
    let (url, _) = server(
        |_| b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope".to_vec(),
        |_| false,
    );
    let answer = t
        .send_streaming(get(&url), TIMEOUT, &mut |_| panic!("no lines for a 404"))
        .unwrap();
    assert_eq!(
        (answer.status().as_u16(), answer.body().as_slice()),
        (404, &b"nope"[..])
    );
}

#[test]
fn silence_is_a_timeout_and_garbage_an_error_after_sending() {
    let (url, _) = server(
        |_| {
            std::thread::sleep(Duration::from_secs(3));
            Vec::new()
        },
        |_| false,
    );
    let t = transport();
    let started = Instant::now();
    let err = t
        .send(get(&url), Some(Duration::from_millis(300)))
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Timeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (url, _) = server(|_| b"SMTP ready\r\n\r\n".to_vec(), |_| true);
    let err = t.send(get(&url), TIMEOUT).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Io, "{err}");
    // Nothing listening: nothing was sent.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = t.send(get(&url), TIMEOUT).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err}");
    // Not an http URL: refused before anything.
    let err = t
        .send(
            http::Request::get("ftp://127.0.0.1/x")
                .body(Vec::new())
                .unwrap(),
            TIMEOUT,
        )
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Request, "{err}");
}

#[test]
fn a_body_over_the_limit_is_refused_unread() {
    let (url, _) = server(
        |_| b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n".to_vec(),
        |_| true,
    );
    let mut options = TransportOptions::default();
    options.max_body_size = 1000;
    let t = Http1Transport::new(&options).unwrap();
    let err = t.send(get(&url), TIMEOUT).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::BodyTooLarge, "{err}");
}

/// A timeout or connect timeout too large to add to the clock is no bound,
/// never a panic.
#[test]
fn timeouts_too_large_for_the_clock_are_no_bound() {
    let (url, _) = server(
        |_| b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        |_| false,
    );
    let mut options = TransportOptions::default();
    options.connect_timeout = Duration::MAX;
    let t = Http1Transport::new(&options).unwrap();
    let answer = t.send(get(&url), Some(Duration::MAX)).unwrap();
    assert_eq!(answer.body(), b"ok");
}

/// An etcd-like answer, its header names in several cases, with a chunked
/// body: what `send_keeping_cluster_headers` must thin without losing the
/// framing or the connection.
const MIXED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: application/json\r\nx-etcd-cluster-id: 35621cb036846001\r\nX-ETCD-INDEX: 7\r\nX-Raft-Index: 9\r\nx-raft-term: 2\r\nLocation: /elsewhere\r\nDate: Thu, 03 Dec 2026 18:52:35 GMT\r\nX-Other: o\r\nTransfer-Encoding: chunked\r\n\r\n";
const MIXED_BODY: &str =
    r#"{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":7,"createdIndex":7}}"#;

fn mixed_answer() -> Vec<u8> {
    let mut answer = MIXED_HEAD.to_vec();
    answer.extend_from_slice(
        format!("{:x}\r\n{MIXED_BODY}\r\n0\r\n\r\n", MIXED_BODY.len()).as_bytes(),
    );
    answer
}

/// The answer's header names, sorted.
fn names(answer: &http::Response<Vec<u8>>) -> Vec<String> {
    let mut names: Vec<String> = answer.headers().keys().map(|n| n.to_string()).collect();
    names.sort();
    names
}

const CLUSTER_NAMES: [&str; 5] = [
    "location",
    "x-etcd-cluster-id",
    "x-etcd-index",
    "x-raft-index",
    "x-raft-term",
];

#[test]
fn keeping_cluster_headers_drops_the_others_and_keeps_the_body_and_connection() {
    let (url, connections) = server(|_| mixed_answer(), |_| false);
    let t = transport();
    for _ in 0..2 {
        let thin = t.send_keeping_cluster_headers(get(&url), TIMEOUT).unwrap();
        assert_eq!(names(&thin), CLUSTER_NAMES);
        assert_eq!(thin.headers()["x-etcd-index"], "7");
        assert_eq!(thin.headers()["location"], "/elsewhere");
        assert_eq!(thin.body(), MIXED_BODY.as_bytes());
        let whole = t.send(get(&url), TIMEOUT).unwrap();
        assert_eq!(whole.headers().len(), 10, "{:?}", names(&whole));
        assert_eq!(whole.headers()["x-other"], "o");
        assert_eq!(whole.headers()["date"], "Thu, 03 Dec 2026 18:52:35 GMT");
        assert_eq!(whole.body(), MIXED_BODY.as_bytes());
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one kept-alive connection"
    );
}

#[test]
fn a_client_reads_its_keys_answers_thinned_and_hands_raw_answers_whole() {
    let (url, _) = server(|_| mixed_answer(), |_| false);
    let client = etcd_v2::Client::builder()
        .endpoint(url)
        .build_http1()
        .unwrap();
    let got = client.node().get("/k", false).unwrap();
    assert_eq!(got.node.value.as_deref(), Some("v"));
    assert_eq!(
        (
            got.cluster.etcd_index,
            got.cluster.raft_index,
            got.cluster.raft_term
        ),
        (Some(7), Some(9), Some(2))
    );
    assert_eq!(got.cluster.cluster_id.as_deref(), Some("35621cb036846001"));
    let raw = client
        .send_raw(&etcd_v2::ops::raw::RawRequest::new(
            http::Method::GET,
            "/keys/k",
        ))
        .unwrap();
    assert_eq!(raw.headers().len(), 10, "{:?}", names(&raw));
    assert_eq!(raw.headers()["content-type"], "application/json");
}

/// Run `f` to its end on a current-thread tokio runtime.
#[cfg(feature = "http1-tokio")]
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[cfg(feature = "http1-tokio")]
#[test]
fn the_async_twin_keeps_cluster_headers_alike() {
    use etcd_v2::transports::http1::Http1AsyncTransport;
    use etcd_v2::AsyncTransport;
    let (url, connections) = server(|_| mixed_answer(), |_| false);
    block_on(async {
        let t = Http1AsyncTransport::new(&TransportOptions::default()).unwrap();
        let thin = t
            .send_keeping_cluster_headers(get(&url), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(names(&thin), CLUSTER_NAMES);
        assert_eq!(thin.body(), MIXED_BODY.as_bytes());
        let whole = AsyncTransport::send(&t, get(&url), TIMEOUT).await.unwrap();
        assert_eq!(whole.headers().len(), 10, "{:?}", names(&whole));
    });
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

/// A chunked answer: a small chunk, a 9 MiB one (far more than the
/// transport's read buffer), then a small one; and the body it carries.
fn big_chunked_answer() -> (Vec<u8>, Vec<u8>) {
    let big: Vec<u8> = (0..9 * 1024 * 1024 + 7)
        .map(|i: usize| (i.wrapping_mul(31) % 251) as u8)
        .collect();
    let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n".to_vec();
    answer.extend_from_slice(format!("{:x}\r\n", big.len()).as_bytes());
    answer.extend_from_slice(&big);
    answer.extend_from_slice(b"\r\n2\r\nyz\r\n0\r\n\r\n");
    let mut body = b"abc".to_vec();
    body.extend_from_slice(&big);
    body.extend_from_slice(b"yz");
    (answer, body)
}

/// A chunk that claims 1 MiB, sends 10 bytes and hangs up.
const SHORT_CHUNK: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n0123456789";

/// A chunk claiming more than a 1,000-byte maximum, none of it sent: refused
/// at once, unread (before, the transport waited for the bytes until its
/// timeout).
const CLAIMED_CHUNK: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n";

#[test]
fn large_chunks_are_read_whole_and_short_or_oversized_ones_refused() {
    let (answer, body) = big_chunked_answer();
    let (url, connections) = server(move |_| answer.clone(), |_| false);
    let t = transport();
    for _ in 0..2 {
        assert!(t.send(get(&url), TIMEOUT).unwrap().body() == &body[..]);
    }
    // The chunks' ends were read exactly: the connection went on.
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    let (url, _) = server(|_| SHORT_CHUNK.to_vec(), |_| true);
    let err = t.send(get(&url), TIMEOUT).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Io, "{err}");
    assert!(err.to_string().contains("short of its body"), "{err}");
    let (url, _) = server(|_| CLAIMED_CHUNK.to_vec(), |_| false);
    let mut options = TransportOptions::default();
    options.max_body_size = 1000;
    let small = Http1Transport::new(&options).unwrap();
    let err = small.send(get(&url), TIMEOUT).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::BodyTooLarge, "{err}");
    // The body so far counts: 600 + 400 bytes is the maximum, taken; after
    // 600, a chunk of 401 is refused unread (the server never sends it: a
    // read would end in the timeout instead).
    let (url, _) = server(|_| edge_chunks(400, true), |_| false);
    assert_eq!(small.send(get(&url), TIMEOUT).unwrap().body().len(), 1000);
    let (url, _) = server(|_| edge_chunks(401, false), |_| false);
    let err = small.send(get(&url), TIMEOUT).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::BodyTooLarge, "{err}");
}

/// A chunk of 600 bytes, then one claiming `second`, sent only if `sent`
/// (then the end).
fn edge_chunks(second: usize, sent: bool) -> Vec<u8> {
    let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n".to_vec();
    answer.extend_from_slice(&[b'a'; 600]);
    answer.extend_from_slice(format!("\r\n{second:x}\r\n").as_bytes());
    if sent {
        answer.extend_from_slice(&vec![b'b'; second]);
        answer.extend_from_slice(b"\r\n0\r\n\r\n");
    }
    answer
}

#[cfg(feature = "http1-tokio")]
#[test]
fn the_async_twin_reads_large_chunks_alike() {
    use etcd_v2::transports::http1::Http1AsyncTransport;
    use etcd_v2::AsyncTransport;
    let (answer, body) = big_chunked_answer();
    let (url, connections) = server(move |_| answer.clone(), |_| false);
    let (short, _) = server(|_| SHORT_CHUNK.to_vec(), |_| true);
    let (claimed, _) = server(|_| CLAIMED_CHUNK.to_vec(), |_| false);
    block_on(async {
        let t = Http1AsyncTransport::new(&TransportOptions::default()).unwrap();
        for _ in 0..2 {
            let answer = AsyncTransport::send(&t, get(&url), TIMEOUT).await.unwrap();
            assert!(answer.body() == &body[..]);
        }
        let err = AsyncTransport::send(&t, get(&short), TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Io, "{err}");
        assert!(err.to_string().contains("short of its body"), "{err}");
        let mut options = TransportOptions::default();
        options.max_body_size = 1000;
        let err = AsyncTransport::send(
            &Http1AsyncTransport::new(&options).unwrap(),
            get(&claimed),
            TIMEOUT,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::BodyTooLarge, "{err}");
    });
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

/// A listener that accepts connections and never says a word (a member whose
/// TLS handshake stalls); its `https` URL. The connections are kept open
/// until the listener's thread ends with the test process.
fn silent_tls_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        for stream in listener.incoming().flatten() {
            kept.push(stream);
        }
    });
    url
}

/// A connect timeout far beyond the request's, so that only the request's
/// timeout can end the call early.
fn slow_connecting() -> TransportOptions {
    let mut options = TransportOptions::default();
    options.connect_timeout = Duration::from_secs(30);
    options
}

#[test]
fn a_stalled_handshake_ends_with_the_requests_timeout_and_sends_nothing() {
    let url = silent_tls_server();
    let t = Http1Transport::new(&slow_connecting()).unwrap();
    let started = Instant::now();
    let err = t
        .send(put(&url), Some(Duration::from_millis(300)))
        .unwrap_err();
    // Ended by the request's 300 ms, not the 30 s connect timeout (the bound
    // is loose for a busy machine).
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err}");
    assert!(!err.kind().may_have_been_sent(), "{err}");
    assert!(err.message().contains("timeout ran out"), "{err}");
}

#[cfg(feature = "http1-tokio")]
#[test]
fn the_async_twin_ends_a_stalled_handshake_with_the_requests_timeout_too() {
    use etcd_v2::transports::http1::Http1AsyncTransport;
    use etcd_v2::AsyncTransport;
    let url = silent_tls_server();
    block_on(async {
        let t = Http1AsyncTransport::new(&slow_connecting()).unwrap();
        let started = Instant::now();
        let err = AsyncTransport::send(&t, put(&url), Some(Duration::from_millis(300)))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10), "{err}");
        assert_eq!(err.kind(), TransportErrorKind::Connect, "{err}");
        assert!(!err.kind().may_have_been_sent(), "{err}");
        assert!(err.message().contains("timeout ran out"), "{err}");
    });
}
