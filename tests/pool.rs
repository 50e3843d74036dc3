//! The endpoint pool as a state machine on virtual time: rotation, the fail
//! wait, pinning, no resend of unsafe requests, the all-failed error, deadlines
//! and cluster-ID pinning. No network, no sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_v2::cluster::{Attempts, EndpointPool, Verdict};
use etcd_v2::{Client, Endpoint, Error, Transport, TransportError, TransportErrorKind};

type Outcome = Result<http::Response<Vec<u8>>, TransportError>;

fn ep(name: &str) -> Endpoint {
    Endpoint::parse(&format!("http://{name}:2379")).unwrap()
}

fn pool(names: &[&str]) -> EndpointPool {
    EndpointPool::new(names.iter().map(|n| ep(n)).collect()).unwrap()
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

fn fail(kind: TransportErrorKind) -> Outcome {
    Err(TransportError::new(kind, "scripted"))
}

fn answer(status: u16, cluster: &str) -> Outcome {
    Ok(http::Response::builder()
        .status(status)
        .header("X-Etcd-Cluster-Id", cluster)
        .body(b"{}".to_vec())
        .unwrap())
}

/// Run one request through the pool: `outcomes` answers each endpoint in turn.
/// Returns the endpoints tried and the final verdict (Ok(status) or the error).
fn run(
    pool: &mut EndpointPool,
    mut attempts: Attempts,
    now: Instant,
    outcomes: &mut dyn FnMut(&Endpoint) -> Outcome,
) -> (Vec<String>, Result<u16, Error>) {
    let mut tried = Vec::new();
    loop {
        let endpoint = match pool.next_endpoint(&mut attempts, now) {
            Ok(e) => e,
            Err(e) => return (tried, Err(e)),
        };
        tried.push(
            endpoint
                .as_str()
                .trim_start_matches("http://")
                .trim_end_matches(":2379")
                .to_owned(),
        );
        match pool.handle(&mut attempts, &endpoint, outcomes(&endpoint), now) {
            Verdict::Deliver(r) => return (tried, Ok(r.status().as_u16())),
            Verdict::Retry => continue,
            Verdict::Fail(e) => return (tried, Err(e)),
        }
    }
}

/// Mark `name` failed at `now`, as a direct request to it that cannot connect
/// would (for example a health check).
fn mark(pool: &mut EndpointPool, name: &str, now: Instant) {
    let (tried, r) = run(pool, Attempts::new(true).only(ep(name)), now, &mut |_| {
        fail(TransportErrorKind::Connect)
    });
    assert_eq!(tried, [name]);
    assert!(r.is_err());
}

/// Endpoints named in `dead` refuse connections; the others answer 200.
fn alive_except(dead: &'static [&'static str]) -> impl FnMut(&Endpoint) -> Outcome {
    move |e: &Endpoint| {
        if dead.iter().any(|d| e.as_str().contains(&format!("//{d}:"))) {
            fail(TransportErrorKind::Connect)
        } else {
            answer(200, "c1")
        }
    }
}

#[test]
fn the_endpoint_that_answered_last_stays_pinned() {
    let mut p = pool(&["a", "b", "c"]);
    let t0 = Instant::now();
    let (tried, r) = run(&mut p, Attempts::new(true), t0, &mut alive_except(&["a"]));
    assert_eq!(
        (tried, r.unwrap()),
        (vec!["a".to_owned(), "b".to_owned()], 200)
    );
    assert_eq!(p.pinned(), &ep("b"));
    // The next requests start at b and stay there while it answers.
    for s in 1..4 {
        let (tried, _) = run(
            &mut p,
            Attempts::new(true),
            secs(t0, s as f64),
            &mut alive_except(&[]),
        );
        assert_eq!(tried, ["b"]);
    }
}

#[test]
fn a_failed_endpoint_rests_for_the_fail_wait() {
    // p is pinned; m is marked failed by a direct request; h is healthy.
    let mut p = pool(&["p", "m", "h"]);
    let t0 = Instant::now();
    mark(&mut p, "m", t0);
    assert!(p.is_marked(&ep("m"), secs(t0, 4.999)));
    assert!(!p.is_marked(&ep("m"), secs(t0, 5.0)));

    // At 1 s p fails: m comes next in ring order, but it is resting, so h is tried.
    let (tried, r) = run(
        &mut p,
        Attempts::new(true),
        secs(t0, 1.0),
        &mut alive_except(&["p"]),
    );
    assert_eq!(tried, ["p", "h"]);
    assert_eq!(r.unwrap(), 200);

    // At 5.5 s m has rested (failed at 0 s) but p has not (failed at 1 s): when the
    // pinned h fails, p is skipped and m is tried again.
    let (tried, r) = run(
        &mut p,
        Attempts::new(true),
        secs(t0, 5.5),
        &mut alive_except(&["h"]),
    );
    assert_eq!(tried, ["h", "m"]);
    assert_eq!(r.unwrap(), 200);
    assert_eq!(p.pinned(), &ep("m"));
}

#[test]
fn when_every_endpoint_is_marked_the_oldest_failure_is_tried_first() {
    let mut p = pool(&["a", "b", "c"]);
    let t0 = Instant::now();
    mark(&mut p, "c", t0);
    mark(&mut p, "a", secs(t0, 1.0));
    mark(&mut p, "b", secs(t0, 2.0));
    // All three are resting: c failed longest ago.
    let (tried, r) = run(
        &mut p,
        Attempts::new(true),
        secs(t0, 3.0),
        &mut alive_except(&[]),
    );
    assert_eq!(tried, ["c"]);
    assert_eq!(r.unwrap(), 200);
}

#[test]
fn the_clock_not_moving_changes_nothing() {
    let mut p = pool(&["a", "b"]);
    let t0 = Instant::now();
    let (tried, _) = run(&mut p, Attempts::new(true), t0, &mut alive_except(&["a"]));
    assert_eq!(tried, ["a", "b"]);
    for _ in 0..3 {
        let (tried, _) = run(&mut p, Attempts::new(true), t0, &mut alive_except(&[]));
        assert_eq!(tried, ["b"]);
        assert!(p.is_marked(&ep("a"), t0));
    }
}

#[test]
fn all_failed_lists_each_endpoint_and_its_failure() {
    let mut p = pool(&["a", "b", "c"]);
    let (tried, r) = run(
        &mut p,
        Attempts::new(true),
        Instant::now(),
        &mut alive_except(&["a", "b", "c"]),
    );
    assert_eq!(tried, ["a", "b", "c"]);
    match r.unwrap_err() {
        Error::AllEndpointsFailed { failures } => {
            let names: Vec<&str> = failures.iter().map(|(e, _)| e.as_str()).collect();
            assert_eq!(names, ["http://a:2379", "http://b:2379", "http://c:2379"]);
            assert!(failures
                .iter()
                .all(|(_, e)| matches!(e, Error::Transport { .. })));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsafe_requests_are_never_resent_after_an_ambiguous_failure() {
    let t0 = Instant::now();
    for kind in [
        TransportErrorKind::Timeout,
        TransportErrorKind::Io,
        TransportErrorKind::BodyTooLarge,
        TransportErrorKind::Other,
    ] {
        let mut p = pool(&["a", "b"]);
        let (tried, r) = run(&mut p, Attempts::new(false), t0, &mut |_| fail(kind));
        assert_eq!(tried, ["a"], "{kind:?}");
        assert!(matches!(r, Err(Error::OutcomeUnknown { .. })), "{kind:?}");
        // The same failure on a safe request moves on.
        let mut p = pool(&["a", "b"]);
        let (tried, _) = run(&mut p, Attempts::new(true), t0, &mut |_| fail(kind));
        assert_eq!(tried, ["a", "b"], "{kind:?}");
    }
    // A connect failure sent nothing: safe to retry anywhere.
    let mut p = pool(&["a", "b"]);
    let (tried, r) = run(&mut p, Attempts::new(false), t0, &mut alive_except(&["a"]));
    assert_eq!(
        (tried, r.unwrap()),
        (vec!["a".to_owned(), "b".to_owned()], 200)
    );
    // A 5xx may come after the write was proposed: unknown for unsafe requests.
    let mut p = pool(&["a", "b"]);
    let (tried, r) = run(&mut p, Attempts::new(false), t0, &mut |_| answer(500, "c1"));
    assert_eq!(tried, ["a"]);
    assert!(matches!(r, Err(Error::OutcomeUnknown { .. })));
    let mut p = pool(&["a", "b"]);
    let (tried, _) = run(&mut p, Attempts::new(true), t0, &mut |_| answer(503, "c1"));
    assert_eq!(tried, ["a", "b"]);
}

#[test]
fn a_4xx_is_final() {
    for status in [400, 401, 403, 404, 405, 409, 412] {
        let mut p = pool(&["a", "b"]);
        let (tried, r) = run(&mut p, Attempts::new(true), Instant::now(), &mut |_| {
            answer(status, "c1")
        });
        assert_eq!(tried, ["a"]);
        assert_eq!(r.unwrap(), status);
        assert!(!p.is_marked(&ep("a"), Instant::now()));
    }
}

#[test]
fn a_long_poll_timeout_does_not_mark_the_member() {
    let mut p = pool(&["a", "b"]);
    let t0 = Instant::now();
    let (tried, r) = run(&mut p, Attempts::new(true).long_poll(true), t0, &mut |_| {
        fail(TransportErrorKind::Timeout)
    });
    assert_eq!(tried, ["a"]);
    assert!(matches!(r, Err(Error::Transport { .. })));
    assert!(!p.is_marked(&ep("a"), t0));
    // Other failures of a long poll do mark it and move on.
    let (tried, _) = run(
        &mut p,
        Attempts::new(true).long_poll(true),
        t0,
        &mut alive_except(&["a"]),
    );
    assert_eq!(tried, ["a", "b"]);
}

#[test]
fn a_deadline_stops_the_failover() {
    let mut p = pool(&["a", "b", "c"]);
    let t0 = Instant::now();
    let mut attempts = Attempts::new(true).with_deadline(Some(secs(t0, 2.0)));
    let first = p.next_endpoint(&mut attempts, t0).unwrap();
    assert!(matches!(
        p.handle(
            &mut attempts,
            &first,
            fail(TransportErrorKind::Timeout),
            secs(t0, 2.5)
        ),
        Verdict::Retry
    ));
    let err = p.next_endpoint(&mut attempts, secs(t0, 2.5)).unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded(_)), "{err}");
    assert!(err.to_string().contains("http://a:2379"), "{err}");
}

#[test]
fn the_cluster_id_of_the_first_answer_is_pinned() {
    let mut p = pool(&["a", "b"]);
    let t0 = Instant::now();
    let (_, r) = run(&mut p, Attempts::new(true), t0, &mut |_| answer(200, "c1"));
    assert_eq!(r.unwrap(), 200);
    assert_eq!(p.cluster_id(), Some("c1"));
    // b belongs to another cluster: refused, and a is asked instead.
    mark(&mut p, "a", t0);
    let mut other = |e: &Endpoint| {
        answer(
            200,
            if e.as_str().contains("//b:") {
                "c2"
            } else {
                "c1"
            },
        )
    };
    let (tried, r) = run(&mut p, Attempts::new(true), secs(t0, 1.0), &mut other);
    assert_eq!(tried, ["b", "a"]);
    assert_eq!(r.unwrap(), 200);

    // An expected ID refuses a lone endpoint of another cluster.
    let mut p = pool(&["b"]).with_cluster_id(Some("c1".into()));
    let (_, r) = run(&mut p, Attempts::new(true), t0, &mut |_| answer(200, "c2"));
    match r.unwrap_err() {
        Error::ClusterIdMismatch {
            expected, found, ..
        } => assert_eq!((expected.as_str(), found.as_str()), ("c1", "c2")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_sync_keeps_marks_and_can_pin_the_leader() {
    let mut p = pool(&["a", "b"]);
    let t0 = Instant::now();
    mark(&mut p, "a", t0);
    p.set_endpoints(vec![ep("a"), ep("b"), ep("c")], None)
        .unwrap();
    assert!(p.is_marked(&ep("a"), t0), "a keeps its mark");
    assert_eq!(p.endpoints().len(), 3);
    p.set_endpoints(vec![ep("a"), ep("b"), ep("c")], Some(&ep("c")))
        .unwrap();
    assert_eq!(p.pinned(), &ep("c"));
    assert!(p.set_endpoints(vec![], None).is_err());
    assert!(p.claim_sync(t0, Duration::from_secs(30)));
    assert!(!p.claim_sync(secs(t0, 29.0), Duration::from_secs(30)));
    assert!(p.claim_sync(secs(t0, 30.0), Duration::from_secs(30)));
}

/// A transport on a virtual clock: every send takes `cost` of virtual time and
/// fails to connect; the timeouts it was given are recorded.
struct SlowDeadTransport {
    clock: Arc<AtomicU64>,
    t0: Instant,
    cost: Duration,
    timeouts: Mutex<Vec<Option<Duration>>>,
}

impl SlowDeadTransport {
    /// Each send costs 2 s.
    fn new() -> SlowDeadTransport {
        SlowDeadTransport {
            clock: Arc::new(AtomicU64::new(0)),
            t0: Instant::now(),
            cost: Duration::from_secs(2),
            timeouts: Mutex::new(Vec::new()),
        }
    }

    /// Three endpoints, a 2 s timeout per attempt and a 3 s deadline.
    fn client_builder() -> etcd_v2::ClientBuilder {
        Client::builder()
            .endpoints(["http://a:2379", "http://b:2379", "http://c:2379"])
            .timeout(Duration::from_secs(2))
            .deadline(Duration::from_secs(3))
    }
}

impl Transport for SlowDeadTransport {
    fn send(&self, _r: http::Request<Vec<u8>>, timeout: Option<Duration>) -> Outcome {
        self.timeouts.lock().unwrap().push(timeout);
        self.clock
            .fetch_add(self.cost.as_nanos() as u64, Ordering::SeqCst);
        fail(TransportErrorKind::Timeout)
    }
    fn now(&self) -> Instant {
        self.t0 + Duration::from_nanos(self.clock.load(Ordering::SeqCst))
    }
    fn sleep(&self, d: Duration) {
        self.clock.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }
}

#[test]
fn the_client_cuts_each_attempt_to_the_deadline_on_its_transports_clock() {
    let transport = SlowDeadTransport::new();
    let client = SlowDeadTransport::client_builder()
        .build_with(transport)
        .unwrap();
    let err = client.node().get("/k", false).unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded(_)), "{err}");
    let timeouts = client.transport().timeouts.lock().unwrap().clone();
    // First attempt: the full 2 s; second: what is left of 3 s (1 s); then stop.
    assert_eq!(
        timeouts,
        [Some(Duration::from_secs(2)), Some(Duration::from_secs(1))]
    );
}

impl etcd_v2::AsyncTransport for SlowDeadTransport {
    async fn send(&self, r: http::Request<Vec<u8>>, timeout: Option<Duration>) -> Outcome {
        Transport::send(self, r, timeout)
    }
    fn now(&self) -> Instant {
        Transport::now(self)
    }
    async fn sleep(&self, d: Duration) {
        Transport::sleep(self, d)
    }
    fn spawn(&self, _task: etcd_v2::transport::Task) {}
}

#[tokio::test]
async fn the_async_client_cuts_attempts_to_the_deadline_on_its_transports_clock() {
    let transport = SlowDeadTransport::new();
    let client = SlowDeadTransport::client_builder()
        .build_async_with(transport)
        .unwrap();
    let err = client.node().get("/k", false).await.unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded(_)), "{err}");
    let timeouts = client.transport().timeouts.lock().unwrap().clone();
    assert_eq!(
        timeouts,
        [Some(Duration::from_secs(2)), Some(Duration::from_secs(1))]
    );
}

/// A cluster on a virtual clock whose membership changes: `/v2/members` lists
/// whatever `members` holds at the time; every keys request succeeds. Records
/// each request's path and host.
struct ChangingCluster {
    clock: Arc<AtomicU64>,
    t0: Instant,
    members: Mutex<Vec<&'static str>>,
    sent: Mutex<Vec<String>>,
}

impl ChangingCluster {
    fn advance(&self, d: Duration) {
        self.clock.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }
    fn take_sent(&self) -> Vec<String> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

impl Transport for ChangingCluster {
    fn send(&self, r: http::Request<Vec<u8>>, _timeout: Option<Duration>) -> Outcome {
        let host = r.uri().host().unwrap_or_default().to_owned();
        self.sent
            .lock()
            .unwrap()
            .push(format!("{host} {}", r.uri().path()));
        let body = if r.uri().path() == "/v2/members" {
            let members: Vec<String> = self
                .members
                .lock()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    format!(
                        r#"{{"id":"{i:x}","name":"{name}","peerURLs":["http://{name}:2380"],"clientURLs":["http://{name}:2379"]}}"#
                    )
                })
                .collect();
            format!(r#"{{"members":[{}]}}"#, members.join(","))
        } else {
            r#"{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":1,"createdIndex":1}}"#
                .to_owned()
        };
        Ok(http::Response::builder()
            .status(200)
            .header("X-Etcd-Cluster-Id", "c1")
            .body(body.into_bytes())
            .unwrap())
    }
    fn now(&self) -> Instant {
        self.t0 + Duration::from_nanos(self.clock.load(Ordering::SeqCst))
    }
    fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}

#[test]
fn auto_sync_refreshes_the_endpoints_once_per_interval_on_the_transports_clock() {
    let transport = ChangingCluster {
        clock: Arc::new(AtomicU64::new(0)),
        t0: Instant::now(),
        members: Mutex::new(vec!["a", "b", "c"]),
        sent: Mutex::new(Vec::new()),
    };
    let client = Client::builder()
        .endpoint("http://a:2379")
        .auto_sync(Duration::from_secs(60))
        .build_with(transport)
        .unwrap();
    let t = client.transport();

    // The first call syncs before its own request.
    client.node().get("/k", false).unwrap();
    assert_eq!(t.take_sent(), ["a /v2/members", "a /v2/keys/k"]);
    let hosts = |c: &Client<ChangingCluster>| -> Vec<String> {
        c.endpoints()
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        hosts(&client),
        ["http://a:2379", "http://b:2379", "http://c:2379"]
    );

    // Within the interval: no sync, however many calls.
    t.members.lock().unwrap().push("d");
    for _ in 0..3 {
        t.advance(Duration::from_secs(19));
        client.node().get("/k", false).unwrap();
    }
    assert_eq!(t.take_sent(), ["a /v2/keys/k"; 3]);
    assert_eq!(hosts(&client).len(), 3);

    // Once the interval has passed: one sync, which sees the new member.
    t.advance(Duration::from_secs(4));
    client.node().get("/k", false).unwrap();
    client.node().get("/k", false).unwrap();
    assert_eq!(
        t.take_sent(),
        ["a /v2/members", "a /v2/keys/k", "a /v2/keys/k"]
    );
    assert_eq!(
        hosts(&client),
        [
            "http://a:2379",
            "http://b:2379",
            "http://c:2379",
            "http://d:2379"
        ]
    );
}

/// Answers every request with one event and records the timeout each was given.
struct TimeoutRecorder {
    timeouts: Mutex<Vec<(bool, Option<Duration>)>>,
}

impl Transport for TimeoutRecorder {
    fn send(&self, r: http::Request<Vec<u8>>, timeout: Option<Duration>) -> Outcome {
        let is_wait = r.uri().query().is_some_and(|q| q.contains("wait=true"));
        self.timeouts.lock().unwrap().push((is_wait, timeout));
        Ok(http::Response::builder()
            .status(200)
            .header("X-Etcd-Index", "9")
            .body(
                br#"{"action":"set","node":{"key":"/k","value":"v","modifiedIndex":9,"createdIndex":9}}"#
                    .to_vec(),
            )
            .unwrap())
    }
}

#[test]
fn waits_take_their_own_timeout_not_the_per_request_one_nor_the_deadline() {
    let client = Client::builder()
        .endpoint("http://a:2379")
        .timeout(Duration::from_secs(2))
        .wait_timeout(Duration::from_secs(45))
        .deadline(Duration::from_secs(3))
        .build_with(TimeoutRecorder {
            timeouts: Mutex::new(Vec::new()),
        })
        .unwrap();
    client.node().get("/k", false).unwrap();
    client.node().wait_from("/k", 5, false).unwrap();
    client.node().set("/k", "v", None).unwrap();
    let mut watch = client.watch("/k").from_index(9).start().unwrap();
    watch.next().unwrap().unwrap();
    let timeouts = client.transport().timeouts.lock().unwrap().clone();
    let request = Some(Duration::from_secs(2));
    let wait = Some(Duration::from_secs(45));
    assert_eq!(
        timeouts,
        [
            (false, request),
            (true, wait),
            (false, request),
            (true, wait)
        ]
    );

    // With no wait timeout, a wait may block for as long as etcd keeps it open.
    let forever = Client::builder()
        .endpoint("http://a:2379")
        .timeout(Duration::from_secs(2))
        .wait_timeout(None)
        .build_with(TimeoutRecorder {
            timeouts: Mutex::new(Vec::new()),
        })
        .unwrap();
    forever.node().wait_from("/k", 5, false).unwrap();
    assert_eq!(
        *forever.transport().timeouts.lock().unwrap(),
        [(true, None)]
    );
}
