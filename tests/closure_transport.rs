//! The client driven through closure transports: canned answers, no network.

use std::sync::{Arc, Mutex};

use etcd_v2::{Client, Error, TransportError, TransportErrorKind};

type Req = http::Request<Vec<u8>>;
type Resp = Result<http::Response<Vec<u8>>, TransportError>;
type Step = Box<dyn Fn(&Req) -> Resp + Send + Sync>;
type Log = Arc<Mutex<Vec<String>>>;

fn answer(status: u16, body: &str) -> Resp {
    Ok(http::Response::builder()
        .status(status)
        .header("X-Etcd-Index", "10")
        .header("X-Etcd-Cluster-Id", "abc")
        .body(body.as_bytes().to_vec())
        .unwrap())
}

const GOT: &str =
    r#"{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":5,"createdIndex":5}}"#;

/// A transport that records each request's URI and answers from a script.
fn scripted(script: Vec<Step>) -> (impl Fn(Req) -> Resp, Log) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let step = Mutex::new(0usize);
    let transport = move |req: Req| {
        let mut i = step.lock().unwrap();
        let method = if req.method() == http::Method::GET {
            String::new()
        } else {
            format!("{} ", req.method())
        };
        log.lock().unwrap().push(format!("{method}{}", req.uri()));
        let f = script
            .get(*i)
            .unwrap_or_else(|| panic!("unexpected request {}", req.uri()));
        *i += 1;
        f(&req)
    };
    (transport, seen)
}

fn fail(kind: TransportErrorKind) -> Step {
    Box::new(move |_| Err(TransportError::new(kind, "scripted failure")))
}

fn ok(status: u16, body: &'static str) -> Step {
    Box::new(move |_| answer(status, body))
}

fn two_endpoints<T: etcd_v2::Transport>(t: T) -> Client<T> {
    Client::builder()
        .endpoint("http://a:2379")
        .endpoint("http://b:2379")
        .build_with(t)
        .unwrap()
}

#[test]
fn credentials_go_in_every_request_and_never_in_debug_output() {
    let client = Client::builder()
        .endpoint("http://a:2379")
        .basic_auth("root", "pa55word")
        .build_with(|req: Req| {
            let auth = req.headers().get(http::header::AUTHORIZATION).unwrap();
            assert_eq!(auth.to_str().unwrap(), "Basic cm9vdDpwYTU1d29yZA==");
            answer(200, GOT)
        })
        .unwrap();
    client.node().get("/k", false).unwrap();
    let shown = format!("{client:?}");
    assert!(
        shown.contains("root") && !shown.contains("pa55word") && !shown.contains("cm9vdDpw"),
        "{shown}"
    );
}

#[test]
fn a_connect_failure_moves_to_the_next_endpoint_and_pins_it() {
    let (t, seen) = scripted(vec![
        fail(TransportErrorKind::Connect),
        ok(200, GOT),
        ok(200, GOT),
    ]);
    let client = two_endpoints(t);
    assert_eq!(client.node().get("/k", false).unwrap().value(), Some("v"));
    assert_eq!(client.prefix(), "http://b:2379");
    client.node().get("/k", false).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "http://a:2379/v2/keys/k",
            "http://b:2379/v2/keys/k",
            "http://b:2379/v2/keys/k"
        ]
    );
}

#[test]
fn a_connect_failure_is_safe_to_retry_even_for_a_create() {
    let (t, seen) = scripted(vec![fail(TransportErrorKind::Connect), ok(201, GOT)]);
    let client = two_endpoints(t);
    client.node().create_only("/k", "v", None).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn an_ambiguous_failure_is_never_resent_for_unsafe_requests() {
    for kind in [
        TransportErrorKind::Timeout,
        TransportErrorKind::Io,
        TransportErrorKind::Other,
    ] {
        let (t, seen) = scripted(vec![fail(kind)]);
        let client = two_endpoints(t);
        let err = client.node().create_only("/k", "v", None).unwrap_err();
        assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
        assert!(err.may_have_been_applied());
        assert!(
            err.to_string()
                .contains("outcome of the request is unknown"),
            "{err}"
        );
        assert_eq!(seen.lock().unwrap().len(), 1, "{kind:?}: sent once only");
    }
    type Call<T> = Box<dyn Fn(&Client<T>) -> Result<etcd_v2::KeysResponse, Error>>;
    let unsafe_calls: Vec<Call<_>> = vec![
        Box::new(|c| c.node().update_if_value("/k", "v", "old", None)),
        Box::new(|c| c.node().delete("/k", None, None)),
        Box::new(|c| c.node().delete_if_index("/k", 3)),
        Box::new(|c| c.inorder().get_inorder("/q").add("v", None)),
        Box::new(|c| c.directory().create("/d", None)),
    ];
    for call in unsafe_calls {
        let (t, seen) = scripted(vec![fail(TransportErrorKind::Timeout)]);
        let client = two_endpoints(t);
        assert!(matches!(call(&client), Err(Error::OutcomeUnknown { .. })));
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}

#[test]
fn an_ambiguous_failure_is_retried_for_reads_and_for_plain_sets_only_when_opted_in() {
    let (t, seen) = scripted(vec![fail(TransportErrorKind::Timeout), ok(200, GOT)]);
    let client = two_endpoints(t);
    client.node().get("/k", false).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2, "a read is resent");

    type Call<T> = Box<dyn Fn(&Client<T>) -> Result<etcd_v2::KeysResponse, Error>>;
    let plain_writes: Vec<Call<_>> = vec![
        Box::new(|c| c.node().set("/k", "v", None)),
        Box::new(|c| c.node().update_only("/k", "v", None)),
        Box::new(|c| c.node().refresh("/k", 5)),
        Box::new(|c| c.directory().update_ttl("/d", Some(5))),
    ];
    for call in &plain_writes {
        let (t, seen) = scripted(vec![fail(TransportErrorKind::Timeout), ok(200, GOT)]);
        let err = call(&two_endpoints(t)).unwrap_err();
        assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
        assert!(err.may_have_been_applied());
        assert_eq!(seen.lock().unwrap().len(), 1, "not resent by default");
    }
    for call in &plain_writes {
        let (t, seen) = scripted(vec![fail(TransportErrorKind::Timeout), ok(200, GOT)]);
        let client = Client::builder()
            .endpoints(["http://a:2379", "http://b:2379"])
            .resend_sets_after_unknown_outcome(true)
            .build_with(t)
            .unwrap();
        call(&client).unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2, "resent when opted in");
    }
}

#[test]
fn a_4xx_answer_is_final_and_never_rotates() {
    let missing = r#"{"errorCode":100,"message":"Key not found","cause":"/k","index":10}"#;
    let (t, seen) = scripted(vec![ok(404, missing)]);
    let client = two_endpoints(t);
    let err = client.node().get("/k", false).unwrap_err();
    assert!(err.is_key_not_found());
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(client.prefix(), "http://a:2379");
}

#[test]
fn a_5xx_rotates_safe_requests_and_stops_unsafe_ones() {
    let raft = r#"{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}"#;
    let (t, seen) = scripted(vec![ok(500, raft), ok(200, GOT)]);
    let client = two_endpoints(t);
    client.node().get_quorum("/k", false).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);

    let (t, seen) = scripted(vec![ok(500, raft)]);
    let client = two_endpoints(t);
    let err = client
        .node()
        .update_if_index("/k", "v", 4, None)
        .unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
    assert_eq!(err.code(), Some(etcd_v2::ErrorCode::RaftInternal));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn when_every_endpoint_fails_the_error_lists_each() {
    let (t, _) = scripted(vec![
        fail(TransportErrorKind::Connect),
        fail(TransportErrorKind::Connect),
    ]);
    let client = two_endpoints(t);
    let err = client.node().get("/k", false).unwrap_err();
    match &err {
        Error::AllEndpointsFailed { failures } => {
            let names: Vec<&str> = failures.iter().map(|(e, _)| e.as_str()).collect();
            assert_eq!(names, ["http://a:2379", "http://b:2379"]);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("all servers have failed") && text.contains("http://b:2379"),
        "{text}"
    );
}

#[test]
fn allow_reconnect_false_tries_one_endpoint() {
    use etcd_v2::ops::raw::RawRequest;
    let (t, seen) = scripted(vec![fail(TransportErrorKind::Connect)]);
    let client = two_endpoints(t);
    let req = RawRequest::new(http::Method::GET, "/keys/k").allow_reconnect(false);
    let err = client.send(&req).unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_raw_request_keeps_the_clients_deadline_across_its_attempts() {
    use etcd_v2::ops::raw::RawRequest;
    use std::time::Duration;
    // Each attempt fails slowly; the call's 1.5 s deadline ends it before
    // the third endpoint, as for any other call (the first attempt may
    // overrun its 900 ms by 600 ms on a busy machine and still leave room for
    // the second).
    let slow = || -> Step {
        Box::new(|_| {
            std::thread::sleep(Duration::from_millis(900));
            Err(TransportError::new(
                TransportErrorKind::Connect,
                "slow refusal",
            ))
        })
    };
    let (t, seen) = scripted(vec![slow(), slow(), slow()]);
    let client = Client::builder()
        .endpoints(["http://a:2379", "http://b:2379", "http://c:2379"])
        .deadline(Duration::from_millis(1500))
        .build_with(t)
        .unwrap();
    let err = client
        .send_raw(&RawRequest::new(http::Method::GET, "/keys/k"))
        .unwrap_err();
    assert_eq!(err.kind(), etcd_v2::ErrorKind::DeadlineExceeded, "{err}");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[cfg(feature = "bridge")]
#[test]
fn over_the_bridge_a_raw_requests_resend_choices_are_refused_not_dropped() {
    use etcd_v2::ops::raw::RawRequest;
    let (t, seen) = scripted(vec![]);
    let client = Client::builder()
        .endpoint("http://a:2379")
        .v3_bridge("/bridge")
        .build_with(t)
        .unwrap();
    for req in [
        RawRequest::new(http::Method::GET, "/keys/k").allow_reconnect(false),
        RawRequest::new(http::Method::PUT, "/keys/k")
            .data("value", "v")
            .safe_to_resend(true),
        RawRequest::new(http::Method::GET, "/keys/k").safe_to_resend(false),
    ] {
        let err = client.send_raw(&req).unwrap_err();
        assert!(matches!(err, Error::NotOnBridge(_)), "{err}");
    }
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
    // A write declared unsafe to resend is what the bridge does anyway (the
    // CLI's setdir sends one): not refused.
    let (t, seen) = scripted(vec![fail(TransportErrorKind::Connect)]);
    let client = Client::builder()
        .endpoint("http://a:2379")
        .v3_bridge("/bridge")
        .build_with(t)
        .unwrap();
    let req = RawRequest::new(http::Method::PUT, "/keys/k")
        .data("dir", "true")
        .safe_to_resend(false);
    let err = client.send_raw(&req).unwrap_err();
    assert!(!matches!(err, Error::NotOnBridge(_)), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1, "sent, over the bridge");
}

#[test]
fn a_wait_reissued_after_an_idle_poll_resumes_after_the_store_index() {
    let set =
        r#"{"action":"set","node":{"key":"/w","value":"x","modifiedIndex":11,"createdIndex":11}}"#;
    let (t, seen) = scripted(vec![ok(404, ""), ok(200, ""), ok(200, ""), ok(200, set)]);
    let client = Client::builder()
        .endpoint("http://a:2379")
        .build_with(t)
        .unwrap();
    let event = client.node().wait("/w", false).unwrap();
    assert_eq!(event.node.modified_index, 11);
    // "now" is the store index from a quorum GET (10 in every scripted
    // answer), so the first poll already has an index and no event between
    // polls can be lost.
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "http://a:2379/v2/keys/w?quorum=true",
            "http://a:2379/v2/keys/w?wait=true&waitIndex=11",
            "http://a:2379/v2/keys/w?wait=true&waitIndex=11",
            "http://a:2379/v2/keys/w?wait=true&waitIndex=11",
        ]
    );
}

#[test]
fn a_long_poll_timeout_polls_again_at_the_same_index_on_the_same_member() {
    let set =
        r#"{"action":"set","node":{"key":"/w","value":"x","modifiedIndex":12,"createdIndex":12}}"#;
    let (t, seen) = scripted(vec![
        fail(TransportErrorKind::Timeout),
        fail(TransportErrorKind::Timeout),
        ok(200, set),
    ]);
    let client = two_endpoints(t);
    let event = client.node().wait_from("/w", 7, true).unwrap();
    assert_eq!(event.node.modified_index, 12);
    let want = "http://a:2379/v2/keys/w?wait=true&waitIndex=7&recursive=true";
    assert_eq!(*seen.lock().unwrap(), [want, want, want]);
    assert_eq!(
        client.prefix(),
        "http://a:2379",
        "a quiet key is not a failed member"
    );
}

#[test]
fn garbage_answers_are_typed_errors() {
    let cases = [
        (200, "<html>proxy</html>"),
        (200, r#"{"action":"get"}"#),
        (200, r#"{"action":"get","node":{"key":5}}"#),
        (
            200,
            r#"{"action":"get","node":{"key":"/k","expiration":"yesterday"}}"#,
        ),
        (
            200,
            "{\"action\":\"get\",\"node\":{\"key\":\"/k\",\"value\":\"trunc",
        ),
        (502, "<html>Bad gateway</html>"),
        (404, "404 page not found\n"),
    ];
    for (status, body) in cases {
        let client = Client::builder()
            .endpoint("http://a:2379")
            .build_with(move |_req: Req| answer(status, body))
            .unwrap();
        let err = client.node().get("/k", false).unwrap_err();
        match (status, &err) {
            (200, Error::Decode { status: 200, .. }) => assert!(err.may_have_been_applied()),
            (502, Error::Http { status: 502, .. }) | (404, Error::Http { status: 404, .. }) => {}
            _ => panic!("{status} {body:?}: {err:?}"),
        }
    }
}

/// Captures log records so a test can read what the client logged.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

static LOGS: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn requests_are_logged_at_debug_level_without_credentials() {
    log::set_logger(&LOGS).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let client = Client::builder()
        .endpoint("http://a:2379")
        .endpoint("http://b:2379")
        .basic_auth("root", "pa55word")
        .build_with(|req: Req| {
            if req.uri().host() == Some("a") {
                Err(TransportError::new(TransportErrorKind::Connect, "refused"))
            } else {
                answer(200, GOT)
            }
        })
        .unwrap();
    client.node().get("/k", false).unwrap();
    let logs = LOGS.0.lock().unwrap().clone();
    // Through tracing's log compatibility: the request (method and path), the
    // failover with its reason, and the call's outcome.
    let has = |level: &str, parts: &[&str]| {
        logs.iter()
            .any(|l| l.starts_with(level) && parts.iter().all(|p| l.contains(p)))
    };
    assert!(has("DEBUG", &["sending", "GET", "/v2/keys/k"]), "{logs:?}");
    assert!(
        has("INFO", &["failover", "http://a:2379", "connect"]),
        "{logs:?}"
    );
    assert!(has("DEBUG", &["done", "ok"]), "{logs:?}");
    assert!(
        !logs
            .iter()
            .any(|l| l.contains("pa55word") || l.contains("cm9vdDpwYTU1d29yZA")),
        "{logs:?}"
    );
}

/// The async client over async closure transports: the same driver rules.
mod async_closures {
    use super::*;

    fn async_answer(status: u16, body: &'static str) -> Resp {
        answer(status, body)
    }

    #[tokio::test]
    async fn an_async_closure_is_a_transport() {
        let client = Client::builder()
            .endpoint("http://a:2379")
            .basic_auth("root", "pa55word")
            .build_async_with(|req: Req| async move {
                assert!(req.headers().contains_key(http::header::AUTHORIZATION));
                async_answer(200, GOT)
            })
            .unwrap();
        assert_eq!(
            client.node().get("/k", false).await.unwrap().value(),
            Some("v")
        );
        assert!(!format!("{client:?}").contains("pa55word"));
    }

    #[tokio::test]
    async fn the_async_client_never_resends_unsafe_requests_either() {
        let count = Arc::new(Mutex::new(0));
        let seen = Arc::clone(&count);
        let client = Client::builder()
            .endpoints(["http://a:2379", "http://b:2379"])
            .build_async_with(move |_req: Req| {
                *seen.lock().unwrap() += 1;
                async {
                    Err::<http::Response<Vec<u8>>, _>(TransportError::new(
                        TransportErrorKind::Timeout,
                        "lost",
                    ))
                }
            })
            .unwrap();
        let err = client
            .node()
            .create_only("/k", "v", None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
        assert_eq!(*count.lock().unwrap(), 1);
        let err = client.node().set("/k", "v", None).await.unwrap_err();
        assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
        assert_eq!(
            *count.lock().unwrap(),
            2,
            "a plain set is not resent either"
        );
        let err = client.node().get("/k", false).await.unwrap_err();
        assert!(matches!(err, Error::AllEndpointsFailed { .. }), "{err}");
        assert_eq!(*count.lock().unwrap(), 4, "a read tried both endpoints");
    }

    #[tokio::test]
    async fn an_async_wait_reissues_after_idle_polls() {
        let set = r#"{"action":"set","node":{"key":"/w","value":"x","modifiedIndex":11,"createdIndex":11}}"#;
        let step = Arc::new(Mutex::new(0usize));
        let client = Client::builder()
            .endpoint("http://a:2379")
            .build_async_with(move |req: Req| {
                let n = {
                    let mut s = step.lock().unwrap();
                    *s += 1;
                    *s
                };
                async move {
                    match n {
                        1 => {
                            assert_eq!(req.method(), http::Method::GET);
                            assert_eq!(req.uri().query(), Some("quorum=true"));
                            answer(404, "")
                        }
                        2 | 3 => {
                            assert_eq!(req.uri().query(), Some("wait=true&waitIndex=11"));
                            answer(200, "")
                        }
                        _ => answer(200, set),
                    }
                }
            })
            .unwrap();
        assert_eq!(
            client
                .node()
                .wait("/w", false)
                .await
                .unwrap()
                .node
                .modified_index,
            11
        );
    }
}

#[test]
fn transport_options_a_given_transport_cannot_see_are_refused_not_dropped() {
    let transport = |_req: Req| -> Resp { unreachable!("nothing is sent") };
    let builders = [
        ("ca_file", Client::builder().ca_file("/etc/etcd/ca.pem")),
        (
            "client_cert",
            Client::builder().client_cert("/etc/etcd/c.pem", "/etc/etcd/c.key"),
        ),
        (
            "danger_accept_invalid_certs",
            Client::builder().danger_accept_invalid_certs(true),
        ),
        (
            "connect_timeout",
            Client::builder().connect_timeout(std::time::Duration::from_millis(250)),
        ),
        ("max_body_size", Client::builder().max_body_size(1024)),
    ];
    for (name, builder) in builders {
        let err = builder.clone().build_with(transport).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains(name),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("build_from"), "{err}");
        // The async client's builder refuses them the same way.
        #[cfg(feature = "memory")]
        {
            let err = builder
                .clone()
                .build_async_with(etcd_v2::memory::MemoryEtcd::new())
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains(name),
                "async {name}: {err}"
            );
        }
        // build_from hands them to the transport being built.
        let mut seen = None;
        builder
            .build_from(|options| {
                seen = Some(options.clone());
                Ok(transport)
            })
            .unwrap();
        assert_ne!(
            seen.unwrap(),
            etcd_v2::TransportOptions::default(),
            "{name}"
        );
    }
    // Options that are the transport's own business are fine.
    Client::builder()
        .timeout(std::time::Duration::from_secs(1))
        .basic_auth("u", "p")
        .build_with(transport)
        .unwrap();
}

/// An answer from a member at raft term `term`.
fn at_term(term: u64, value: &'static str) -> Step {
    Box::new(move |_| {
        Ok(http::Response::builder()
            .status(200)
            .header("X-Etcd-Index", "10")
            .header("X-Raft-Term", term.to_string())
            .body(
                format!(r#"{{"action":"get","node":{{"key":"/k","value":"{value}","modifiedIndex":5,"createdIndex":5}}}}"#)
                    .into_bytes(),
            )
            .unwrap())
    })
}

#[test]
fn a_read_from_a_member_behind_the_raft_term_is_stale_and_goes_elsewhere() {
    let (t, seen) = scripted(vec![
        // a is down; b answers at term 7 and is pinned ...
        fail(TransportErrorKind::Connect),
        at_term(7, "new"),
        // ... then b answers at term 5 (cut off since): stale; a answers.
        at_term(5, "old"),
        at_term(7, "new"),
        // A quorum read goes through raft: its answer is never stale.
        at_term(5, "quorum"),
    ]);
    let client = Client::builder()
        .endpoints(["http://a:2379", "http://b:2379"])
        .fail_wait(std::time::Duration::ZERO)
        .build_with(t)
        .unwrap();
    assert_eq!(client.node().get("/k", false).unwrap().value(), Some("new"));
    let read = client.node().get("/k", false).unwrap();
    assert_eq!(read.value(), Some("new"), "the stale answer was not used");
    assert_eq!(
        client.node().get_quorum("/k", false).unwrap().value(),
        Some("quorum")
    );
    let hosts: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|uri| uri.split('/').nth(2).unwrap_or("").to_owned())
        .collect();
    assert_eq!(hosts, ["a:2379", "b:2379", "b:2379", "a:2379", "a:2379"]);

    // With nowhere else to go, the stale answer is an error, never data.
    let (t, _) = scripted(vec![at_term(9, "new"), at_term(8, "old")]);
    let client = Client::builder()
        .endpoint("http://a:2379")
        .build_with(t)
        .unwrap();
    client.node().get("/k", false).unwrap();
    let err = client.node().get("/k", false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::StaleRead {
                term: 8,
                highest: 9,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn error_kinds_are_flat_and_see_through_the_wrappers() {
    use etcd_v2::ErrorKind;
    // The http crate is re-exported: a raw request needs nothing else.
    let raw = etcd_v2::ops::raw::RawRequest::new(etcd_v2::http::Method::PUT, "/keys/k");
    let _ = raw;
    let client =
        |status: u16, body: &'static str| two_endpoints(move |_req: Req| answer(status, body));
    let cases: Vec<(Error, ErrorKind)> = vec![
        (
            client(
                404,
                r#"{"errorCode":100,"message":"Key not found","index":1}"#,
            )
            .node()
            .get("/k", false)
            .unwrap_err(),
            ErrorKind::KeyNotFound,
        ),
        (
            client(
                412,
                r#"{"errorCode":101,"message":"Compare failed","index":1}"#,
            )
            .node()
            .update_if_value("/k", "b", "a", None)
            .unwrap_err(),
            ErrorKind::PreconditionFailed,
        ),
        (
            client(
                500,
                r#"{"errorCode":300,"message":"Raft Internal Error","index":0}"#,
            )
            .node()
            .create_only("/k", "v", None)
            .unwrap_err(),
            ErrorKind::Unavailable,
        ),
        (
            client(200, "not json").node().get("/k", false).unwrap_err(),
            ErrorKind::Decode,
        ),
        (
            client(200, GOT).node().get("relative", false).unwrap_err(),
            ErrorKind::InvalidInput,
        ),
    ];
    for (err, kind) in &cases {
        assert_eq!(err.kind(), *kind, "{err}");
    }
    // errorCode 300 on a create: the outcome is unknown, and the kind says why.
    assert!(cases[2].0.may_have_been_applied());
    assert!(matches!(cases[2].0, Error::OutcomeUnknown { .. }));
    // Every endpoint failing: the last failure's kind.
    let (t, _) = scripted(vec![
        fail(TransportErrorKind::Connect),
        fail(TransportErrorKind::Timeout),
    ]);
    let err = two_endpoints(t).node().get("/k", false).unwrap_err();
    assert!(matches!(err, Error::AllEndpointsFailed { .. }));
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.kind().as_str(), "timeout");
}

#[test]
fn a_blocking_acquisition_that_fails_removes_the_key_it_made() {
    // The key is made, second in line; the wait on the first is refused for
    // good (403): the error is returned, and the key is deleted first, as
    // the async client does in the background.
    let id = Arc::new(Mutex::new(String::new()));
    let seen: Log = Arc::new(Mutex::new(Vec::new()));
    let (id2, log) = (Arc::clone(&id), Arc::clone(&seen));
    let transport = move |req: Req| -> Resp {
        let body = String::from_utf8_lossy(req.body()).into_owned();
        log.lock()
            .unwrap()
            .push(format!("{} {} {body}", req.method(), req.uri()));
        let ours = "/_locks/job/00000000000000000010";
        match (req.method().as_str(), req.uri().query().unwrap_or("")) {
            ("POST", _) => {
                let value = body
                    .trim_start_matches("value=")
                    .split('&')
                    .next()
                    .unwrap_or("");
                *id2.lock().unwrap() = value.to_owned();
                answer(
                    201,
                    &format!(
                        r#"{{"action":"create","node":{{"key":"{ours}","value":"{value}","modifiedIndex":10,"createdIndex":10}}}}"#
                    ),
                )
            }
            ("GET", q) if q.contains("wait=true") => answer(
                403,
                r#"{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":10}"#,
            ),
            ("GET", _) => {
                let value = id2.lock().unwrap().clone();
                answer(
                    200,
                    &format!(
                        r#"{{"action":"get","node":{{"key":"/_locks/job","dir":true,"nodes":[{{"key":"/_locks/job/00000000000000000005","value":"other","modifiedIndex":5,"createdIndex":5}},{{"key":"{ours}","value":"{value}","modifiedIndex":10,"createdIndex":10}}],"modifiedIndex":5,"createdIndex":5}}}}"#
                    ),
                )
            }
            ("DELETE", _) => answer(
                200,
                r#"{"action":"compareAndDelete","node":{"key":"/_locks/job/00000000000000000010","modifiedIndex":11,"createdIndex":10}}"#,
            ),
            _ => answer(500, "unexpected"),
        }
    };
    let client = Client::builder()
        .endpoint("http://a:2379")
        .build_with(transport)
        .unwrap();
    let mut lock = client.module().lock().get_lock("job", 30);
    let err = lock.acquire().unwrap_err();
    assert!(err.to_string().contains("110"), "{err}");
    let log = seen.lock().unwrap();
    let last = log.last().expect("requests");
    let value = id.lock().unwrap().clone();
    assert!(
        last.starts_with("DELETE http://a:2379/v2/keys/_locks/job/00000000000000000010?prevValue=")
            && last.contains(&value),
        "{log:#?}"
    );
}

#[cfg(feature = "reqwest")]
#[test]
fn an_async_release_dropped_midway_is_finished_in_the_background() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    let deletes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&deletes);
    let transport = move |req: Req| {
        let counted = Arc::clone(&counted);
        async move {
            let ours = "/_locks/job/00000000000000000010";
            let body = String::from_utf8_lossy(req.body()).into_owned();
            let value = body
                .trim_start_matches("value=")
                .split('&')
                .next()
                .unwrap_or("")
                .to_owned();
            match req.method().as_str() {
                "POST" => answer(
                    201,
                    &format!(
                        r#"{{"action":"create","node":{{"key":"{ours}","value":"{value}","modifiedIndex":10,"createdIndex":10}}}}"#
                    ),
                ),
                "GET" => answer(
                    200,
                    &format!(
                        r#"{{"action":"get","node":{{"key":"/_locks/job","dir":true,"nodes":[{{"key":"{ours}","value":"x","modifiedIndex":10,"createdIndex":10}}],"modifiedIndex":5,"createdIndex":5}}}}"#
                    ),
                ),
                "DELETE" => {
                    if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                        // The first delete never comes back.
                        std::future::pending::<()>().await;
                    }
                    answer(
                        200,
                        r#"{"action":"compareAndDelete","node":{"key":"/_locks/job/00000000000000000010","modifiedIndex":11,"createdIndex":10}}"#,
                    )
                }
                _ => answer(500, "unexpected"),
            }
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = Client::builder()
            .endpoint("http://a:2379")
            .build_async_with(transport)
            .unwrap();
        let mut lock = client.module().lock().get_lock("job", 30);
        // Our key is first in line: held.
        lock.acquire().await.unwrap();
        assert!(lock.is_held());
        let abandoned = tokio::time::timeout(Duration::from_millis(50), lock.release()).await;
        assert!(abandoned.is_err(), "the first delete never answers");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while deletes.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            deletes.load(Ordering::SeqCst),
            2,
            "released in the background"
        );
    });
}

#[cfg(feature = "reqwest")]
#[test]
fn an_async_watch_whose_next_is_dropped_keeps_its_place() {
    use std::time::Duration;
    let transport = |req: Req| async move {
        assert!(
            req.uri().query().unwrap_or("").contains("waitIndex=5"),
            "{}",
            req.uri()
        );
        // The event comes after the callers below have given up twice.
        tokio::time::sleep(Duration::from_millis(300)).await;
        set_event_5()
    };
    // On tokio's paused clock: the timeouts below end before the answer
    // however busy the machine.
    let runtime = paused_runtime();
    runtime.block_on(async {
        let client = Client::builder()
            .endpoint("http://a:2379")
            .build_async_with(transport)
            .unwrap();
        let mut watch = client.watch("/k").from_index(5).start().await.unwrap();
        let as_stream = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut watch), cx)
        });
        assert!(tokio::time::timeout(Duration::from_millis(50), as_stream)
            .await
            .is_err());
        assert_eq!(
            watch.next_index(),
            Some(5),
            "its place while a poll is in progress"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), watch.next())
                .await
                .is_err()
        );
        let Some(Ok(etcd_v2::watch::WatchEvent::Change(change))) = watch.next().await else {
            panic!("the watch ended")
        };
        assert_eq!(change.node.modified_index, 5);
        assert_eq!(watch.next_index(), Some(6));
    });
}

#[cfg(feature = "reqwest")]
#[test]
fn on_tokios_paused_clock_an_async_watchs_backoffs_pass_at_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    // Six transient failures (100 ms doubling: 6.3 s of backoff), then the
    // event. The closure transport tells the client tokio's time, so on a
    // paused clock the backoffs pass at once, as its sleeps do; on the
    // system's clock they were a busy loop of 6.3 real seconds.
    let failures = Arc::new(AtomicUsize::new(0));
    let failed = Arc::clone(&failures);
    let transport = move |_req: Req| {
        let failed = Arc::clone(&failed);
        async move {
            if failed.fetch_add(1, Ordering::SeqCst) < 6 {
                return answer(503, r#"{"message":"unavailable"}"#);
            }
            set_event_5()
        }
    };
    let runtime = paused_runtime();
    let real = std::time::Instant::now();
    runtime.block_on(async {
        let virtual_start = tokio::time::Instant::now();
        let client = Client::builder()
            .endpoint("http://a:2379")
            .build_async_with(transport)
            .unwrap();
        let mut watch = client.watch("/k").from_index(5).start().await.unwrap();
        let Some(Ok(etcd_v2::watch::WatchEvent::Change(change))) = watch.next().await else {
            panic!("the watch ended")
        };
        assert_eq!(change.node.modified_index, 5);
        assert!(
            virtual_start.elapsed() >= Duration::from_millis(6300),
            "the backoffs were kept: {:?}",
            virtual_start.elapsed()
        );
    });
    assert_eq!(failures.load(Ordering::SeqCst), 7);
    assert!(
        real.elapsed() < Duration::from_secs(3),
        "the backoffs took {:?} of real time",
        real.elapsed()
    );
}

/// A current-thread tokio runtime on a paused clock (tokio's `test-util`).
#[cfg(feature = "reqwest")]
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// The answer to a wait on `/k` from index 5: a set at index 5.
#[cfg(feature = "reqwest")]
fn set_event_5() -> Resp {
    answer(
        200,
        r#"{"action":"set","node":{"key":"/k","value":"v","modifiedIndex":5,"createdIndex":5}}"#,
    )
}
