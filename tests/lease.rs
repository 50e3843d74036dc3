//! Holding a lock and leading are leases, on virtual time: once the TTL has
//! passed since the last successful acquisition or renewal request was sent,
//! `is_held()` and `is_leader()` are false and the loss is reported, before any
//! request goes out. The transport here is a tiny fake etcd (just the requests
//! the lock and leader recipes send) on a clock the test moves.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_v2::client::LeaderEvent;
use etcd_v2::{Client, Error, Transport, TransportError};

/// A fake etcd v2 on a virtual clock, recording every request.
#[derive(Clone)]
struct Fake {
    clock: Arc<Mutex<Instant>>,
    state: Arc<Mutex<State>>,
    /// How long each request takes: the clock moves on this much between a
    /// request being sent and its answer arriving.
    latency: Arc<Mutex<Duration>>,
}

#[derive(Default)]
struct State {
    index: u64,
    keys: BTreeMap<String, (String, u64)>,
    sent: Vec<String>,
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn reply(status: u16, index: u64, body: String) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("X-Etcd-Index", index.to_string())
        .body(body.into_bytes())
        .unwrap()
}

fn node(key: &str, value: &str, index: u64) -> String {
    format!(r#"{{"key":"{key}","value":"{value}","modifiedIndex":{index},"createdIndex":{index}}}"#)
}

/// Create `key` holding `value` at the next index.
fn create(s: &mut State, key: String, value: String) -> http::Response<Vec<u8>> {
    s.index += 1;
    let index = s.index;
    s.keys.insert(key.clone(), (value.clone(), index));
    let node = node(&key, &value, index);
    reply(
        201,
        index,
        format!(r#"{{"action":"create","node":{node}}}"#),
    )
}

impl Fake {
    fn new() -> Fake {
        Fake {
            clock: Arc::new(Mutex::new(Instant::now())),
            state: Arc::new(Mutex::new(State {
                index: 10,
                ..State::default()
            })),
            latency: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap() = latency;
    }

    fn advance(&self, by: Duration) {
        *self.clock.lock().unwrap() += by;
    }

    fn sent(&self) -> usize {
        self.state.lock().unwrap().sent.len()
    }

    fn answer(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let mut s = self.state.lock().unwrap();
        let key = request
            .uri()
            .path()
            .trim_start_matches("/v2/keys")
            .to_owned();
        let f = form(request.body());
        let kind = if f.contains_key("refresh") {
            " refresh"
        } else if f.get("prevExist").map(String::as_str) == Some("false") {
            " create"
        } else {
            ""
        };
        s.sent.push(format!("{} {key}{kind}", request.method()));
        let query = form(request.uri().query().unwrap_or("").as_bytes());
        let failed = |status, code, message: &str, index| {
            reply(
                status,
                index,
                format!(
                    r#"{{"errorCode":{code},"message":"{message}","cause":"{key}","index":{index}}}"#
                ),
            )
        };
        let missing = |index| failed(404, 100, "Key not found", index);
        match request.method().as_str() {
            "POST" => {
                let child = format!("{key}/{:020}", s.index + 1);
                create(&mut s, child, f["value"].clone())
            }
            "GET" => {
                let prefix = format!("{key}/");
                let children: Vec<String> = s
                    .keys
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, (v, i))| node(k, v, *i))
                    .collect();
                if let Some((v, i)) = s.keys.get(&key) {
                    return reply(
                        200,
                        s.index,
                        format!(r#"{{"action":"get","node":{}}}"#, node(&key, v, *i)),
                    );
                }
                if children.is_empty() {
                    return missing(s.index);
                }
                reply(
                    200,
                    s.index,
                    format!(
                        r#"{{"action":"get","node":{{"key":"{key}","dir":true,"nodes":[{}]}}}}"#,
                        children.join(",")
                    ),
                )
            }
            "PUT" if f.get("prevExist").map(String::as_str) == Some("false") => {
                if s.keys.contains_key(&key) {
                    return failed(412, 105, "Key already exists", s.index);
                }
                create(&mut s, key.clone(), f["value"].clone())
            }
            "PUT" | "DELETE" => {
                let guard = f.get("prevValue").or(query.get("prevValue")).cloned();
                let Some((value, index)) = s.keys.get(&key).cloned() else {
                    return missing(s.index);
                };
                if guard.is_some_and(|g| g != value) {
                    return failed(412, 101, "Compare failed", s.index);
                }
                if request.method() == http::Method::DELETE {
                    s.keys.remove(&key);
                    s.index += 1;
                }
                reply(
                    200,
                    s.index,
                    format!(
                        r#"{{"action":"update","node":{}}}"#,
                        node(&key, &value, index)
                    ),
                )
            }
            other => panic!("the fake does not serve {other}"),
        }
    }
}

impl Transport for Fake {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        _timeout: Option<Duration>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let answer = self.answer(&request);
        let latency = *self.latency.lock().unwrap();
        self.advance(latency);
        Ok(answer)
    }

    fn now(&self) -> Instant {
        *self.clock.lock().unwrap()
    }

    fn sleep(&self, _duration: Duration) {
        // Virtual time moves only when the test says so; yield the real thread.
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn client(fake: &Fake) -> Client<Fake> {
    Client::builder().build_with(fake.clone()).unwrap()
}

/// A fake etcd, and a lock with a 10 s TTL acquired through it.
fn held_lock() -> (Fake, etcd_v2::client::Lock<Client<Fake>>) {
    let fake = Fake::new();
    let mut lock = client(&fake).module().lock().get_lock("job", 10);
    lock.acquire().unwrap();
    (fake, lock)
}

#[test]
fn a_lock_counts_as_held_only_until_its_ttl_passes_without_a_renewal() {
    let (fake, mut lock) = held_lock();
    assert!(lock.is_held());
    fake.advance(Duration::from_millis(9_999));
    assert!(lock.is_held(), "the TTL has not passed yet");
    let before = fake.sent();
    fake.advance(Duration::from_millis(1));
    assert!(!lock.is_held(), "the TTL passed with no renewal");
    assert_eq!(fake.sent(), before, "known without any request");
    assert_eq!(
        lock.lost_reason().as_deref(),
        Some("its TTL ran out before a renewal succeeded")
    );
    // Renewing a lapsed lock is refused without sending: etcd may have given it
    // to someone else already.
    let err = lock.renew(10).unwrap_err();
    assert!(matches!(err, Error::LockLost { .. }), "{err}");
    assert_eq!(fake.sent(), before);
}

#[test]
fn a_renewal_extends_the_lease_from_when_it_was_sent() {
    let (fake, mut lock) = held_lock();
    fake.advance(Duration::from_secs(6));
    lock.renew(10).unwrap();
    fake.advance(Duration::from_secs(9));
    assert!(
        lock.is_held(),
        "15 s after acquiring, 9 s after the renewal"
    );
    fake.advance(Duration::from_secs(1));
    assert!(!lock.is_held());
}

#[test]
fn a_lease_counts_from_when_its_request_was_sent_not_from_its_answer() {
    let fake = Fake::new();
    let mut lock = client(&fake).module().lock().get_lock("job", 10);
    // Every request takes 3 s: the create is sent at `sent`, answered 3 s
    // later, and the listing that confirms the lock takes 3 s more.
    fake.set_latency(Duration::from_secs(3));
    let sent = fake.now();
    lock.acquire().unwrap();
    fake.set_latency(Duration::ZERO);
    let until = sent + Duration::from_secs(10);
    fake.advance(until - fake.now() - Duration::from_millis(1));
    assert!(
        lock.is_held(),
        "1 ms before the TTL has passed since the create was sent"
    );
    fake.advance(Duration::from_millis(1));
    assert!(
        !lock.is_held(),
        "10 s after the create was sent (7 s after its answer) the lease has run out"
    );

    // A renewal counts from when it was sent too.
    let mut lock = client(&fake).module().lock().get_lock("job2", 10);
    lock.acquire().unwrap();
    fake.set_latency(Duration::from_secs(4));
    let sent = fake.now();
    let before = fake.sent();
    lock.renew(10).unwrap();
    fake.set_latency(Duration::ZERO);
    assert_eq!(fake.sent(), before + 1, "one refresh, however slow");
    fake.advance(sent + Duration::from_secs(10) - fake.now() - Duration::from_millis(1));
    assert!(lock.is_held());
    fake.advance(Duration::from_millis(1));
    assert!(
        !lock.is_held(),
        "10 s after the renewal was sent (6 s after its answer)"
    );
}

#[test]
fn a_guard_past_its_ttl_reports_the_loss_on_release() {
    let fake = Fake::new();
    let client = client(&fake);
    let mut lock = client.module().lock().get_lock("job", 3);
    let guard = lock.lock().unwrap();
    assert!(guard.is_held());
    let alive = guard
        .keep_alive()
        .expect("a guard from lock() keeps the lock alive");
    assert!(!alive.is_lost());
    // A jump past the TTL with no request in between (a paused process).
    let before = fake.sent();
    fake.advance(Duration::from_secs(4));
    assert!(!guard.is_held());
    assert!(alive.is_lost());
    let lost = alive
        .wait_lost(Duration::from_secs(5))
        .expect("the loss is reported");
    assert!(matches!(lost, Error::LockLost { .. }), "{lost}");
    let renewals = fake.state.lock().unwrap().sent[before..]
        .iter()
        .filter(|r| r.ends_with("refresh"))
        .count();
    assert_eq!(renewals, 0, "nothing was renewed after the TTL passed");
    let err = guard.release().unwrap_err();
    assert!(matches!(err, Error::LockLost { .. }), "{err}");
}

/// A fake etcd, and a campaign with a 6 s TTL elected through it.
fn elected() -> (Fake, etcd_v2::client::Campaign<Client<Fake>>) {
    let fake = Fake::new();
    let campaign = client(&fake)
        .module()
        .leader()
        .campaign("/leader", "me", 6)
        .unwrap();
    assert!(matches!(
        campaign.next_event(Duration::from_secs(5)),
        Some(LeaderEvent::Elected)
    ));
    (fake, campaign)
}

#[test]
fn a_campaign_stops_leading_when_its_ttl_passes_and_says_so_in_its_events() {
    let (fake, campaign) = elected();
    assert!(campaign.is_leader());
    let before = fake.sent();
    fake.advance(Duration::from_secs(7));
    // The first look after the jump already knows, whoever looks first; and
    // the loss is in the event stream the moment is_leader() says false (no
    // wait: the two cannot disagree).
    assert!(!campaign.is_leader());
    match campaign.next_event(Duration::ZERO) {
        Some(LeaderEvent::Lost(e)) => assert!(e.to_string().contains("TTL ran out"), "{e}"),
        other => panic!("{other:?}"),
    }
    // It campaigns again (the key is still its own in the fake) and is elected;
    // the lapsed leadership itself was never renewed: the first request after
    // the jump is the new campaign's create.
    assert!(matches!(
        campaign.next_event(Duration::from_secs(5)),
        Some(LeaderEvent::Elected)
    ));
    assert!(campaign.is_leader());
    let sent = fake.state.lock().unwrap().sent[before..].to_vec();
    assert_eq!(
        sent.first().map(String::as_str),
        Some("PUT /leader create"),
        "{sent:?}"
    );
}

#[test]
fn a_loss_found_by_a_renewal_is_in_is_leader_before_the_event_is_seen() {
    let (fake, campaign) = elected();
    // Someone else's value replaces ours; the next renewal (due every 2 s)
    // is refused for it.
    fake.state
        .lock()
        .unwrap()
        .keys
        .insert("/leader".into(), ("other".into(), 99));
    fake.advance(Duration::from_millis(2_500));
    match campaign.next_event(Duration::from_secs(5)) {
        Some(LeaderEvent::Lost(e)) => {
            assert!(!campaign.is_leader(), "the event said lost: {e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_ttl_etcd_would_misread_is_refused_by_every_recipe() {
    let fake = Fake::new();
    let client = client(&fake);
    for ttl in [etcd_v2::ops::MAX_TTL + 1, u64::MAX] {
        let mut lock = client.module().lock().get_lock("job", ttl);
        assert!(lock.try_acquire().unwrap_err().is_invalid_input());
        assert!(lock.acquire().unwrap_err().is_invalid_input());
        assert!(lock
            .acquire_timeout(Duration::from_secs(1))
            .unwrap_err()
            .is_invalid_input());
        let mut rlock = client.module().lock().get_rlock("job", "me", ttl);
        assert!(rlock.try_acquire().unwrap_err().is_invalid_input());
        let leader = client.module().leader();
        assert!(leader
            .set_or_renew("/l", "me", ttl)
            .unwrap_err()
            .is_invalid_input());
        assert!(leader
            .set_or_renew_timeout("/l", "me", ttl, Duration::from_secs(1))
            .unwrap_err()
            .is_invalid_input());
        assert!(leader
            .keep_alive("/l", "me", ttl)
            .unwrap_err()
            .is_invalid_input());
        assert!(leader
            .campaign("/l", "me", ttl)
            .unwrap_err()
            .is_invalid_input());
    }
    let mut held = client.module().lock().get_lock("job", 5);
    held.acquire().unwrap();
    assert!(held.renew(u64::MAX).unwrap_err().is_invalid_input());
    assert_eq!(fake.sent(), 2, "only the acquisition was sent (POST, list)");
    // The longest TTL is taken, by the lock and by the leader recipes.
    let max = etcd_v2::ops::MAX_TTL;
    let mut longest = client.module().lock().get_lock("longest", max);
    assert!(longest.try_acquire().unwrap());
    longest.renew(max).unwrap();
    client
        .module()
        .leader()
        .set_or_renew("/longest", "me", max)
        .unwrap();
}
