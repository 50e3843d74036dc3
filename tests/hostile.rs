//! Hostile servers, over both transports: truncated bodies, HTML error pages,
//! JSON of the wrong shape, a body larger than the configured maximum, a slow
//! drip, a redirect, a connection reset mid-body. Each gives a typed error,
//! never a panic, with the failover rules applied (a safe request moves to the
//! next endpoint; an unsafe one is not resent). Scripted servers are raw TCP
//! listeners (for what HTTP libraries will not produce) and mockito.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_v2::{Client, Error, TransportErrorKind};

const GOT: &str =
    r#"{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":5,"createdIndex":5}}"#;

/// What a scripted server does with each request it reads.
#[derive(Clone)]
enum Misbehave {
    /// Answer with these raw bytes, then close.
    Raw(Vec<u8>),
    /// Answer with headers promising a body, send part of it, then reset.
    Reset { promised: usize, sent: usize },
    /// Read only the start of the request, answer with part of a body, then
    /// close with the rest of the request unread: the kernel sends a TCP RST.
    Rst,
    /// Send the headers, then one body byte every `every`.
    Drip { every: Duration },
    /// Answer properly (a valid etcd event).
    Fine,
}

/// A server on a free loopback port that reads one request per connection and
/// misbehaves as told. Returns its URL and a counter of requests seen.
fn server(behaviour: Misbehave) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let behaviour = behaviour.clone();
            let count = Arc::clone(&count);
            std::thread::spawn(move || serve(stream, behaviour, &count));
        }
    });
    (url, seen)
}

fn read_request(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return false,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        let mut body = vec![0; len];
        if stream.read_exact(&mut body).is_err() {
            return false;
        }
    }
    true
}

fn serve(mut stream: TcpStream, behaviour: Misbehave, count: &AtomicUsize) {
    if let Misbehave::Rst = behaviour {
        let mut start = [0u8; 8];
        if stream.read_exact(&mut start).is_ok() {
            count.fetch_add(1, Ordering::SeqCst);
            // Let the rest of the request arrive, so that it is unread at close.
            std::thread::sleep(Duration::from_millis(50));
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"action\":";
            let _ = stream.write_all(head.as_bytes());
        }
        return;
    }
    loop {
        if !read_request(&mut stream) {
            return;
        }
        count.fetch_add(1, Ordering::SeqCst);
        match &behaviour {
            Misbehave::Raw(bytes) => {
                let _ = stream.write_all(bytes);
                return;
            }
            Misbehave::Reset { promised, sent } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {promised}\r\n\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&GOT.as_bytes()[..(*sent).min(GOT.len())]);
                let _ = stream.flush();
                // SO_LINGER 0 would send a RST; dropping after a partial body
                // closes the connection early either way.
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            Misbehave::Rst => unreachable!("handled before reading"),
            Misbehave::Drip { every } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", GOT.len());
                let _ = stream.write_all(head.as_bytes());
                for b in GOT.as_bytes() {
                    std::thread::sleep(*every);
                    if stream.write_all(&[*b]).is_err() {
                        return;
                    }
                }
            }
            Misbehave::Fine => {
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Etcd-Index: 5\r\nContent-Length: {}\r\n\r\n{GOT}",
                    GOT.len()
                );
                if stream.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

fn http_response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn builder(urls: &[&str]) -> etcd_v2::ClientBuilder {
    Client::builder()
        .endpoints(urls.iter().map(|u| u.to_string()))
        .timeout(Duration::from_secs(2))
        .max_body_size(64 * 1024)
}

etcd_test!(
    a_truncated_body_is_a_failure_after_sending,
    standalone,
    |_p| {
        // Content-Length promises more than arrives.
        let (bad, _) = server(Misbehave::Reset {
            promised: GOT.len() + 50,
            sent: 20,
        });
        let (good, good_seen) = server(Misbehave::Fine);
        let c = build!(builder(&[&bad, &good]));
        // A safe read moves on to the next endpoint.
        assert_eq!(call!(c.node().get("/k", false)).unwrap().value(), Some("v"));
        assert_eq!(good_seen.load(Ordering::SeqCst), 1);
        // An unsafe write is not resent: its outcome is unknown.
        let c = build!(builder(&[&bad, &good]));
        let err = call!(c.node().create_only("/k", "v", None)).unwrap_err();
        assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
        assert_eq!(good_seen.load(Ordering::SeqCst), 1, "not resent");
        // Alone, the failure is a typed transport error that may have been applied.
        let c = build!(builder(&[&bad]));
        let err = call!(c.node().get("/k", false)).unwrap_err();
        match &err {
            Error::Transport { source, .. } => assert!(source.kind().may_have_been_sent(), "{err}"),
            other => panic!("{other:?}"),
        }
    }
);

etcd_test!(a_connection_reset_mid_body_is_typed, standalone, |_p| {
    for behaviour in [
        Misbehave::Reset {
            promised: 10_000,
            sent: 30,
        },
        Misbehave::Rst,
    ] {
        let (bad, _) = server(behaviour.clone());
        let c = build!(builder(&[&bad]));
        let err = call!(c.node().get("/k", false)).unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(err.may_have_been_applied());
        // A reset write is not resent to the next endpoint.
        let (bad, seen) = server(behaviour);
        let (good, good_seen) = server(Misbehave::Fine);
        let c = build!(builder(&[&bad, &good]));
        let err = call!(c.node().delete("/k", None, None)).unwrap_err();
        assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
        assert_eq!(
            (
                seen.load(Ordering::SeqCst),
                good_seen.load(Ordering::SeqCst)
            ),
            (1, 0)
        );
    }
});

etcd_test!(an_html_error_page_is_an_http_error, standalone, |_p| {
    let page = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>";
    let (bad, _) = server(Misbehave::Raw(http_response(
        "502 Bad Gateway",
        "text/html",
        page,
    )));
    let (good, good_seen) = server(Misbehave::Fine);
    // A 5xx from a proxy rotates a safe request...
    let c = build!(builder(&[&bad, &good]));
    assert!(call!(c.node().get("/k", false)).is_ok());
    assert_eq!(good_seen.load(Ordering::SeqCst), 1);
    // ...and alone is an HTTP error carrying the start of the page.
    let c = build!(builder(&[&bad]));
    match call!(c.node().get("/k", false)).unwrap_err() {
        Error::Http {
            status: 502, body, ..
        } => assert!(body.contains("Bad Gateway"), "{body}"),
        other => panic!("{other:?}"),
    }
    // A 4xx HTML page is final.
    let (html404, _) = server(Misbehave::Raw(http_response(
        "404 Not Found",
        "text/html",
        "<html>nope</html>",
    )));
    let c = build!(builder(&[&html404, &good]));
    assert!(matches!(
        call!(c.node().get("/k", false)),
        Err(Error::Http { status: 404, .. })
    ));
    assert_eq!(good_seen.load(Ordering::SeqCst), 1, "a 4xx never rotates");
});

etcd_test!(
    json_of_the_wrong_shape_is_a_decode_error,
    standalone,
    |_p| {
        let bodies = [
            r#"{"action":"get"}"#,
            r#"{"action":"get","node":{"key":["not","a","string"]}}"#,
            r#"{"action":"get","node":{"key":"/k","modifiedIndex":-1}}"#,
            r#"{"action":"get","node":{"key":"/k","nodes":{"not":"a list"}}}"#,
            r#"[1,2,3]"#,
            r#"null"#,
            "{\"action\":\"get\",\"node\":{\"key\":\"/k\",\"value\":\"\\ud800\"}}",
            "not json at all",
        ];
        for body in bodies {
            let (bad, _) = server(Misbehave::Raw(http_response(
                "200 OK",
                "application/json",
                body,
            )));
            let c = build!(builder(&[&bad]));
            match call!(c.node().get("/k", false)) {
                Err(e @ Error::Decode { status: 200, .. }) => {
                    assert!(e.may_have_been_applied());
                    // The member that sent it is named (the client names it
                    // after the parse of a success).
                    assert!(e.to_string().contains(bad.as_str()), "{e}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        // An error status with a body of the wrong shape is still a typed error.
        let (bad, _) = server(Misbehave::Raw(http_response(
            "404 Not Found",
            "application/json",
            r#"{"errorCode":"100"}"#,
        )));
        let c = build!(builder(&[&bad]));
        assert!(matches!(
            call!(c.node().get("/k", false)),
            Err(Error::Http { status: 404, .. })
        ));
    }
);

etcd_test!(
    a_body_over_the_maximum_is_refused_and_memory_stays_bounded,
    standalone,
    |_p| {
        // 1 GB promised and streamed, against a 64 KiB maximum: the client
        // stops reading and hangs up, so the server cannot send it all (what
        // it did send fits in the sockets' buffers). Reading it all would have
        // taken a gigabyte of memory.
        const PROMISED: usize = 1 << 30;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let bad = format!("http://{}", listener.local_addr().unwrap());
        let (done, written) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut sent = 0;
            if read_request(&mut stream) {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {PROMISED}\r\n\r\n{{\"action\":\"get\",\"node\":{{\"key\":\"/k\",\"value\":\"");
                let chunk = vec![b'x'; 64 * 1024];
                if stream.write_all(head.as_bytes()).is_ok() {
                    while sent < PROMISED && stream.write_all(&chunk).is_ok() {
                        sent += chunk.len();
                    }
                }
            }
            let _ = done.send(sent);
        });
        let c = build!(builder(&[&bad]));
        let err = call!(c.node().get("/k", false)).unwrap_err();
        match &err {
            Error::Transport { source, .. } => {
                assert_eq!(source.kind(), TransportErrorKind::BodyTooLarge, "{err}")
            }
            other => panic!("{other:?}"),
        }
        drop(c);
        let sent = written
            .recv_timeout(Duration::from_secs(20))
            .expect("the client hung up, ending the server's writes");
        assert!(
            sent < 64 << 20,
            "the server sent {sent} bytes: the client kept reading"
        );
        // Also with a chunked body (no length announced up front).
        let mut chunked = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let piece = "y".repeat(32 * 1024);
        for _ in 0..100 {
            chunked.extend_from_slice(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let (bad, _) = server(Misbehave::Raw(chunked));
        let c = build!(builder(&[&bad]));
        let err = call!(c.node().get("/k", false)).unwrap_err();
        assert!(
            matches!(&err, Error::Transport { source, .. } if source.kind() == TransportErrorKind::BodyTooLarge),
            "{err}"
        );
    }
);

etcd_test!(a_slow_drip_times_out, standalone, |_p| {
    let (bad, _) = server(Misbehave::Drip {
        every: Duration::from_millis(200),
    });
    let c = build!(Client::builder()
        .endpoint(bad.clone())
        .timeout(Duration::from_millis(800)));
    let started = Instant::now();
    let err = call!(c.node().get("/k", false)).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, Error::Transport { source, .. } if source.kind() == TransportErrorKind::Timeout),
        "{err:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "the drip was cut by the request timeout: {took:?}"
    );
    // An unsafe write through the same drip: outcome unknown, sent once.
    let (bad, seen) = server(Misbehave::Drip {
        every: Duration::from_millis(200),
    });
    let (good, good_seen) = server(Misbehave::Fine);
    let c = build!(Client::builder()
        .endpoints([bad, good])
        .timeout(Duration::from_millis(800)));
    assert!(matches!(
        call!(c.node().update_if_value("/k", "v", "old", None)),
        Err(Error::OutcomeUnknown { .. })
    ));
    assert_eq!(
        (
            seen.load(Ordering::SeqCst),
            good_seen.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
});

etcd_test!(a_redirect_is_never_followed, standalone, |_p| {
    let (good, good_seen) = server(Misbehave::Fine);
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {good}/v2/keys/k\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (bad, _) = server(Misbehave::Raw(redirect.into_bytes()));
    let c = build!(builder(&[&bad]));
    match call!(c.node().set("/k", "v", None)).unwrap_err() {
        Error::Http {
            status: 307,
            location,
            ..
        } => assert_eq!(
            location.as_deref(),
            Some(format!("{good}/v2/keys/k").as_str())
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        good_seen.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
});

etcd_test!(garbage_instead_of_http_is_typed, standalone, |_p| {
    for junk in [
        &b"SSH-2.0-OpenSSH_9.2\r\n"[..],
        b"HTTP/1.1 abc\r\n\r\n",
        b"\x00\x01\x02\x03",
        b"",
    ] {
        let (bad, _) = server(Misbehave::Raw(junk.to_vec()));
        let c = build!(builder(&[&bad]));
        let err = call!(c.node().get("/k", false)).unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{junk:?}: {err:?}");
    }
});

etcd_test!(mockito_answers_are_typed_too, standalone, |_p| {
    // mockito's blocking constructor runs its own runtime: build it off the
    // test's runtime so one body serves both transports.
    let mut server = std::thread::spawn(mockito::Server::new)
        .join()
        .expect("mockito");
    let html = server
        .mock("GET", "/v2/keys/k")
        .with_status(503)
        .with_header("content-type", "text/html")
        .with_body("<html>maintenance</html>")
        .create();
    let c = build!(Client::builder().endpoint(server.url()));
    assert!(matches!(
        call!(c.node().get("/k", false)),
        Err(Error::Http { status: 503, .. })
    ));
    html.assert();
    let shape = server
        .mock("PUT", "/v2/keys/k")
        .with_status(201)
        .with_header("content-type", "application/json")
        .with_body(r#"{"errorCode":105}"#)
        .create();
    assert!(matches!(
        call!(c.node().set("/k", "v", None)),
        Err(Error::Decode { status: 201, .. })
    ));
    shape.assert();
});
