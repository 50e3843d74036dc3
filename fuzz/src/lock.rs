//! Two to four contenders for one lock against the model key space, driven by
//! arbitrary outcomes, faults, stale reads, crashes and time steps.
//!
//! Faults: refused connections (not applied), timeouts and lost connections
//! after the request was applied (outcome unknown), 2xx answers that cannot be
//! decoded (applied), 5xx pages (not applied), stale listings (a lagging member
//! answering from an earlier state), idle polls, long-poll timeouts,
//! errorCode 401 on a wait, out-of-turn polls, outcomes of the wrong kind,
//! processes that crash (their keys expire with the TTL), and holders that stop
//! renewing.
//!
//! Invariants:
//! - at most one request in flight per contender;
//! - a holder's lease is sound: until its `valid_until` its key exists;
//! - never two holders: at every instant at most one contender believes it
//!   holds the lock while its key still exists (a holder whose key expired has
//!   lost the lock, and finds out when it renews);
//! - an acquisition decided on a fresh listing is by the lowest existing key,
//!   whose value is the contender's id;
//! - no failure that waiting could cure ends an acquisition;
//! - everyone gets through: once the faults stop and holders release, every
//!   live contender finishes (holds then releases, times out, or gives up).

use std::time::{Duration, Instant};

use etcd_v2::machine::{Machine, Step};
use etcd_v2::ops::keys::{self, WaitOutcome};
use etcd_v2::recipes::lock::{lock_dir, Held, LockMachine, LockStep};
use etcd_v2::recipes::release::Release;
use etcd_v2::recipes::renew::RenewOnce;
use etcd_v2::recipes::{KeysRequest, Outcome, Request};
use etcd_v2::{ClusterInfo, Error, ErrorKind, Operation, TransportError, TransportErrorKind};

use super::bytes::Bytes;
use super::model::{poll_timeout, Model};

#[derive(Debug)]
enum State {
    Contending,
    Holding(Held),
    Done,
    Crashed,
}

struct Contender {
    id: String,
    ttl: u64,
    machine: Option<LockMachine>,
    /// The request in flight, when it was sent, and for a wait its timeout.
    in_flight: Option<(Request, Instant)>,
    state: State,
    /// Whether the last listing handed over came from a lagging member.
    stale: bool,
    attempts: u32,
    /// Whether the current attempt is non-blocking (it may give up on faults).
    non_blocking: bool,
}

struct Harness {
    dir: String,
    model: Model,
    now: Instant,
    /// Earlier states of the key space, and when they were current.
    past: Vec<(Model, Instant)>,
    contenders: Vec<Contender>,
}

fn transport(kind: TransportErrorKind) -> Error {
    Error::Transport {
        endpoint: "http://model:2379".into(),
        source: TransportError::new(kind, "injected"),
    }
}

fn wait_error(wait: &keys::Wait, status: u16, body: &str) -> Outcome {
    let response = http::Response::builder()
        .status(status)
        .header("X-Etcd-Index", "1")
        .body(body.as_bytes().to_vec())
        .expect("a valid response");
    Outcome::Wait(wait.parse(response))
}

impl Harness {
    fn start(&mut self, i: usize, b: &mut Bytes) {
        let config = b.byte();
        let c = &mut self.contenders[i];
        c.attempts += 1;
        c.ttl = 1 + u64::from(config % 4);
        let mut machine = LockMachine::new(self.dir.as_str(), c.id.as_str(), c.ttl);
        if config & 0x10 != 0 {
            machine = machine.reentrant();
        }
        c.non_blocking = config & 0x20 != 0;
        if c.non_blocking {
            machine = machine.non_blocking();
        }
        if config & 0x40 != 0 {
            let after = Duration::from_millis(u64::from(b.byte()) * 50);
            machine = machine.deadline(Some(self.now + after));
        }
        c.machine = Some(machine);
        c.in_flight = None;
        c.state = State::Contending;
        c.stale = false;
    }

    fn remember(&mut self) {
        if self.past.len() == 8 {
            self.past.remove(0);
        }
        self.past.push((self.model.clone(), self.now));
    }

    fn apply(&mut self, request: &KeysRequest) -> Result<Box<etcd_v2::KeysResponse>, Error> {
        if !matches!(request, KeysRequest::Get(_)) {
            self.remember(); // a read changes nothing worth remembering
        }
        self.model.apply(request, self.now).map(Box::new)
    }

    /// Check that at most one contender holds the lock with a live key.
    fn check_exclusion(&mut self) {
        self.model.expire(self.now);
        let holders: Vec<&str> = self
            .contenders
            .iter()
            .filter_map(|c| match &c.state {
                State::Holding(held)
                    if self.model.value(&held.key).as_deref() == Some(c.id.as_str()) =>
                {
                    Some(c.id.as_str())
                }
                _ => None,
            })
            .collect();
        assert!(holders.len() <= 1, "two holders at once: {holders:?}");
        // Holding is a lease: until `valid_until` (the TTL after the last write of
        // the key was sent) the key cannot have expired, so a holder that counts
        // itself as holding really does.
        for c in &self.contenders {
            if let State::Holding(held) = &c.state {
                if self.now < held.valid_until {
                    assert_eq!(
                        self.model.value(&held.key).as_deref(),
                        Some(c.id.as_str()),
                        "{}: its lease runs until {:?} from now but its key is gone",
                        c.id,
                        held.valid_until - self.now
                    );
                }
            }
        }
    }

    /// Poll contender `i`; returns whether anything happened (not a sleep).
    fn poll(&mut self, i: usize) -> bool {
        let now = self.now;
        let c = &mut self.contenders[i];
        let Some(machine) = c.machine.as_mut() else {
            return false;
        };
        match machine.poll(now) {
            LockStep::Send(request) => {
                assert!(
                    c.in_flight.is_none(),
                    "{}: a second request {request:?} in flight",
                    c.id
                );
                c.in_flight = Some((request, now));
            }
            LockStep::SleepUntil(at) => {
                assert!(
                    at > now && at - now <= Duration::from_secs(2),
                    "backoff {:?}",
                    at - now
                );
                return false;
            }
            LockStep::Acquired(held) => {
                if !c.stale {
                    let children = self.model.children(&self.dir);
                    assert_eq!(
                        children.first(),
                        Some(&held.key),
                        "{}: not the lowest key",
                        c.id
                    );
                    assert_eq!(self.model.value(&held.key).as_deref(), Some(c.id.as_str()));
                }
                c.machine = None;
                c.state = State::Holding(held);
            }
            LockStep::NotAcquired | LockStep::TimedOut => {
                c.machine = None;
                c.state = State::Done;
            }
            LockStep::Failed(Error::Misuse(m)) => {
                assert!(
                    c.in_flight.is_some(),
                    "{}: misuse reported without misuse: {m}",
                    c.id
                );
            }
            // A non-blocking attempt reports faults that keep coming; what
            // it may have left behind is its driver's to undo (here: the TTL).
            LockStep::Failed(e)
                if c.non_blocking
                    && matches!(
                        e.kind(),
                        ErrorKind::Connect
                            | ErrorKind::Timeout
                            | ErrorKind::ConnectionLost
                            | ErrorKind::Unavailable
                            | ErrorKind::Decode
                            | ErrorKind::StaleRead
                    ) =>
            {
                c.machine = None;
                c.state = State::Done;
            }
            LockStep::Failed(e) => panic!("{}: an acquisition failed: {e}", c.id),
        }
        true
    }

    /// Hand contender `i` the outcome of its request: faithful, or a fault
    /// chosen by `b` (`None`: faithful only). Returns whether it was handed over
    /// (a wait may still be pending).
    fn deliver(&mut self, i: usize, b: Option<&mut Bytes>) -> bool {
        let Some((request, sent)) = self.contenders[i].in_flight.clone() else {
            return false;
        };
        let choice = b.map_or(0, |b| b.byte() % 16);
        let mut stale = false;
        let outcome = match &request {
            Request::Keys(k) => match choice {
                0..=7 => Outcome::Keys(self.apply(k)),
                8 => Outcome::Keys(Err(transport(TransportErrorKind::Connect))),
                9 => {
                    let _ = self.apply(k);
                    Outcome::Keys(Err(Error::OutcomeUnknown {
                        source: Box::new(transport(TransportErrorKind::Io)),
                    }))
                }
                10 => {
                    let _ = self.apply(k);
                    Outcome::Keys(Err(Error::Decode {
                        endpoint: "http://model:2379".into(),
                        status: 200,
                        reason: "injected".into(),
                        body: String::new(),
                    }))
                }
                11 => Outcome::Keys(Err(Error::Http {
                    endpoint: "http://model:2379".into(),
                    status: 503,
                    location: None,
                    body: String::new(),
                })),
                12 | 13 if matches!(k, KeysRequest::Get(_)) && !self.past.is_empty() => {
                    // A lagging member answers from an earlier state.
                    let pick = usize::from(choice) % self.past.len();
                    let (mut old, _) = self.past[pick].clone();
                    stale = true;
                    Outcome::Keys(old.apply_lagging(k, self.now).map(Box::new))
                }
                _ => {
                    let _ = self.apply(k);
                    Outcome::Keys(Err(Error::OutcomeUnknown {
                        source: Box::new(transport(TransportErrorKind::Timeout)),
                    }))
                }
            },
            Request::Wait { wait, timeout } => match choice {
                0..=8 => match self.model.run(&request, self.now) {
                    Some(outcome) => outcome,
                    None if self.now >= sent + *timeout => poll_timeout(),
                    None => return false, // still waiting
                },
                9 => Outcome::Wait(Ok(WaitOutcome::Idle {
                    cluster: ClusterInfo::default(),
                })),
                10 => poll_timeout(),
                11 => Outcome::Wait(Err(transport(TransportErrorKind::Connect))),
                12 => wait_error(
                    wait,
                    400,
                    r#"{"errorCode":401,"message":"The event in requested index is outdated and cleared","index":1}"#,
                ),
                _ => wait_error(wait, 502, "<html>bad gateway</html>"),
            },
        };
        let now = self.now;
        let c = &mut self.contenders[i];
        c.in_flight = None;
        if matches!(request, Request::Keys(KeysRequest::Get(_))) {
            c.stale = stale;
        }
        let machine = c
            .machine
            .as_mut()
            .expect("a request in flight has a machine");
        let handled = machine.handle(outcome, now);
        assert!(handled.is_ok(), "{}: {handled:?}", c.id);
        self.poll(i);
        true
    }

    /// A holder releases (a [`Release`]) or renews (a [`RenewOnce`]), each
    /// request answered faithfully or, when `b` says so, applied with its
    /// answer lost (an unknown outcome).
    fn holder_acts(&mut self, i: usize, release: bool, b: Option<&mut Bytes>) {
        let State::Holding(held) = &self.contenders[i].state else {
            return;
        };
        let (key, until) = (held.key.clone(), held.valid_until);
        let (id, ttl) = (self.contenders[i].id.clone(), self.contenders[i].ttl);
        let now = self.now;
        if release {
            let mut machine = Release::key(key.as_str(), id.as_str());
            let released = self.drive_inline(&mut machine, b);
            // Whatever the answers, the holder's key is gone afterwards (key
            // names are never reused, so one gone stays gone).
            assert!(
                released.is_err() || self.model.value(&key).is_none(),
                "{id}: released {released:?} but its key is still there"
            );
            self.contenders[i].state = State::Done;
            return;
        }
        let mut machine = RenewOnce::new(key.as_str(), id.as_str(), ttl, until);
        let renewed = self.drive_inline(&mut machine, b);
        let c = &mut self.contenders[i];
        match (renewed, &mut c.state) {
            (Ok(until), State::Holding(held)) => {
                assert!(until <= now + Duration::from_secs(ttl));
                held.valid_until = until;
            }
            _ => c.state = State::Done,
        }
    }

    /// Run a one-shot recipe machine here and now against the model.
    fn drive_inline<M>(&mut self, machine: &mut M, mut b: Option<&mut Bytes>) -> M::Output
    where
        M: Machine<Request = Request, Outcome = Outcome, Event = ()>,
    {
        for _ in 0..16 {
            match Machine::poll(machine, self.now) {
                Step::Send(Request::Keys(k)) => {
                    let lost = b.as_deref_mut().is_some_and(|b| b.byte() % 4 == 0);
                    let result = self.apply(&k);
                    let outcome = if lost {
                        Outcome::Keys(Err(Error::OutcomeUnknown {
                            source: Box::new(transport(TransportErrorKind::Timeout)),
                        }))
                    } else {
                        Outcome::Keys(result)
                    };
                    let handled = Machine::handle(machine, outcome, self.now);
                    assert!(handled.is_ok(), "{handled:?}");
                }
                Step::Done(output) => return output,
                // A retry's pause: time moves on.
                Step::SleepUntil(at) => {
                    assert!(at > self.now && at - self.now <= Duration::from_secs(2));
                    self.now = at;
                }
                Step::Send(_) | Step::Event(()) => panic!("a one-shot machine asked to wait"),
            }
        }
        panic!("a one-shot machine did not finish");
    }

    /// Wake every waiter whose poll has an answer; then move time to the next
    /// instant anything can happen.
    fn advance(&mut self) {
        let mut next: Option<Instant> = self.model.next_expiry();
        for c in &self.contenders {
            if let Some((Request::Wait { timeout, .. }, sent)) = &c.in_flight {
                next = Some(next.map_or(*sent + *timeout, |n| n.min(*sent + *timeout)));
            }
        }
        let step = Duration::from_millis(100);
        self.now = match next {
            Some(at) if at > self.now => at
                .min(self.now + Duration::from_secs(5))
                .max(self.now + step),
            _ => self.now + step,
        };
    }
}

/// The harness.
pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let n = 2 + usize::from(b.below(3));
    let t0 = Instant::now();
    let mut h = Harness {
        dir: lock_dir("fuzz").expect("a valid lock name"),
        model: Model::new(),
        now: t0,
        past: Vec::new(),
        contenders: (0..n)
            .map(|i| Contender {
                id: format!("contender-{i}"),
                ttl: 1,
                machine: None,
                in_flight: None,
                state: State::Done,
                stale: false,
                attempts: 0,
                non_blocking: false,
            })
            .collect(),
    };
    for i in 0..n {
        h.start(i, &mut b);
    }

    while !b.done() {
        let i = usize::from(b.below(n as u8));
        match b.below(10) {
            0..=3 => match h.contenders[i].state {
                State::Contending if h.contenders[i].in_flight.is_some() => {
                    h.deliver(i, Some(&mut b));
                }
                State::Contending => {
                    h.poll(i);
                }
                State::Holding(_) => {
                    let release = b.byte() & 1 == 0;
                    h.holder_acts(i, release, Some(&mut b));
                }
                State::Done if h.contenders[i].attempts < 4 => h.start(i, &mut b),
                State::Done | State::Crashed => {}
            },
            4 | 5 => h.now += Duration::from_millis(u64::from(b.byte()) * 20),
            6 => {
                // The process dies: nothing more from it; its key expires.
                let c = &mut h.contenders[i];
                c.machine = None;
                c.in_flight = None;
                c.state = State::Crashed;
            }
            7 => {
                h.poll(i); // out of turn, if a request is in flight
            }
            8 => {
                // An outcome of the wrong kind is refused and changes nothing.
                let c = &mut h.contenders[i];
                if let Some(machine) = c.machine.as_mut() {
                    let wrong = match &c.in_flight {
                        Some((Request::Wait { .. }, _)) => {
                            Outcome::Keys(Err(transport(TransportErrorKind::Connect)))
                        }
                        _ => Outcome::Wait(Err(transport(TransportErrorKind::Connect))),
                    };
                    let refused = machine.handle(wrong, h.now);
                    assert!(matches!(refused, Err(Error::Misuse(_))), "{refused:?}");
                }
            }
            _ => {
                // A holder that stops renewing (a long pause) keeps believing.
            }
        }
        h.check_exclusion();
    }

    // No more faults: answers come at once, holders release at once, and time
    // moves on only when nobody can act; everyone finishes.
    for _ in 0..20_000 {
        let mut busy = false;
        let mut acted = false;
        for i in 0..n {
            match h.contenders[i].state {
                State::Contending => {
                    busy = true;
                    acted |= if h.contenders[i].in_flight.is_some() {
                        h.deliver(i, None)
                    } else {
                        h.poll(i)
                    };
                }
                State::Holding(_) => {
                    busy = true;
                    acted = true;
                    h.holder_acts(i, true, None);
                }
                State::Done | State::Crashed => {}
            }
            h.check_exclusion();
        }
        if !busy {
            return;
        }
        if !acted {
            h.advance();
        }
    }
    let stuck: Vec<String> = h
        .contenders
        .iter()
        .map(|c| format!("{}: {:?} {:?}", c.id, c.state, c.in_flight))
        .collect();
    panic!("contenders never finished: {stuck:?}");
}
