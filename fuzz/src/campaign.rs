//! Two or three leader campaigns for one key against the model key space, each
//! holding leadership in its own lease, driven by arbitrary outcomes, faults,
//! pauses, crashes, resignations and time steps.
//!
//! Faults: refused connections (not applied), writes applied with their answer
//! lost (outcome unknown), 5xx pages (not applied), idle polls, long-poll
//! timeouts, errorCode 401 on a wait; a campaign that is not driven for a while
//! (a paused process: time passes, its lease must end by itself); a crash (its
//! key expires with its TTL); a resignation.
//!
//! Invariants:
//! - at most one request in flight per campaign, and no misuse;
//! - a lease is sound: while a campaign's lease holds, the key exists and holds
//!   that campaign's value;
//! - so never two leaders: at most one lease holds at any instant;
//! - the lease's listeners hear gains and losses alternately;
//! - progress: once the faults stop, a live campaign leads within a bounded
//!   time, and a resignation removes the key.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_v2::machine::{Machine, Step};
use etcd_v2::ops::keys::WaitOutcome;
use etcd_v2::recipes::campaign::Campaign;
use etcd_v2::recipes::lease::{Lease, LeaseChange};
use etcd_v2::recipes::{Outcome, Request};
use etcd_v2::{ClusterInfo, Error, TransportError, TransportErrorKind};

use super::bytes::Bytes;
use super::model::{poll_timeout, Model};

const KEY: &str = "/fuzz/leader";

struct Contender {
    value: String,
    machine: Option<Campaign>,
    lease: Arc<Lease>,
    /// What the lease's listeners heard: true for a gain.
    heard: Arc<Mutex<Vec<bool>>>,
    in_flight: Option<(Request, Instant)>,
    /// When it asked to be polled again.
    sleeping_until: Option<Instant>,
    resigned: bool,
}

fn transport(kind: TransportErrorKind) -> Error {
    Error::Transport {
        endpoint: "http://model:2379".into(),
        source: TransportError::new(kind, "injected"),
    }
}

struct Harness {
    model: Model,
    now: Instant,
    contenders: Vec<Contender>,
}

impl Harness {
    fn check(&mut self) {
        self.model.expire(self.now);
        let mut leaders = Vec::new();
        for c in &self.contenders {
            if c.lease.holds(self.now) {
                assert_eq!(
                    self.model.value(KEY).as_deref(),
                    Some(c.value.as_str()),
                    "{}: its lease holds but the key is not its own",
                    c.value
                );
                leaders.push(c.value.clone());
            }
            let heard = c.heard.lock().expect("the listener's log");
            for pair in heard.windows(2) {
                assert_ne!(
                    pair[0], pair[1],
                    "{}: gains and losses alternate: {heard:?}",
                    c.value
                );
            }
            assert!(
                heard.first().is_none_or(|gain| *gain),
                "{}: a loss before any gain",
                c.value
            );
        }
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
    }

    /// Poll contender `i` once; returns whether it did anything.
    fn poll(&mut self, i: usize) -> bool {
        let now = self.now;
        let c = &mut self.contenders[i];
        let Some(machine) = c.machine.as_mut() else {
            return false;
        };
        if c.in_flight.is_some() {
            return false;
        }
        match Machine::poll(machine, now) {
            Step::Send(request) => {
                c.sleeping_until = None;
                c.in_flight = Some((request, now));
                true
            }
            Step::SleepUntil(at) => {
                assert!(at >= now, "a sleep into the past");
                assert!(
                    at - now <= Duration::from_secs(31),
                    "a sleep of {:?}",
                    at - now
                );
                c.sleeping_until = Some(at);
                false
            }
            Step::Event(()) => true,
            Step::Done(()) => {
                assert!(
                    c.resigned,
                    "{}: a campaign ended without resigning",
                    c.value
                );
                c.machine = None;
                false
            }
        }
    }

    /// Deliver contender `i`'s outcome: faithful, or a fault chosen by `b`.
    fn deliver(&mut self, i: usize, b: Option<&mut Bytes>) -> bool {
        let Some((request, sent)) = self.contenders[i].in_flight.clone() else {
            return false;
        };
        let choice = b.map_or(0, |b| b.byte() % 12);
        let now = self.now;
        let outcome = match &request {
            Request::Keys(k) => match choice {
                0..=6 => Outcome::Keys(self.model.apply(k, now).map(Box::new)),
                7 => Outcome::Keys(Err(transport(TransportErrorKind::Connect))),
                8 | 9 => {
                    let _ = self.model.apply(k, now);
                    Outcome::Keys(Err(Error::OutcomeUnknown {
                        source: Box::new(transport(TransportErrorKind::Io)),
                    }))
                }
                _ => Outcome::Keys(Err(Error::Http {
                    endpoint: "http://model:2379".into(),
                    status: 503,
                    location: None,
                    body: String::new(),
                })),
            },
            Request::Wait { timeout, .. } => match choice {
                0..=8 => match self.model.run(&request, now) {
                    Some(outcome) => outcome,
                    None if now >= sent + *timeout => poll_timeout(),
                    None => return false,
                },
                9 => Outcome::Wait(Ok(WaitOutcome::Idle {
                    cluster: ClusterInfo::default(),
                })),
                10 => poll_timeout(),
                _ => Outcome::Wait(Err(transport(TransportErrorKind::Connect))),
            },
        };
        let c = &mut self.contenders[i];
        c.in_flight = None;
        let machine = c
            .machine
            .as_mut()
            .expect("a request in flight has a machine");
        let handled = Machine::handle(machine, outcome, now);
        assert!(handled.is_ok(), "{}: {handled:?}", c.value);
        true
    }

    /// The next instant anything can happen.
    fn advance(&mut self) {
        let mut next = self.model.next_expiry().filter(|e| *e > self.now);
        for c in &self.contenders {
            if let Some((Request::Wait { timeout, .. }, sent)) = &c.in_flight {
                let at = *sent + *timeout;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
            if let (Some(_), None, Some(at)) = (&c.machine, &c.in_flight, c.sleeping_until) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        let step = Duration::from_millis(50);
        self.now = match next {
            Some(at) if at > self.now => at.min(self.now + Duration::from_secs(5)),
            _ => self.now + step,
        };
    }
}

/// The harness.
pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let n = 2 + usize::from(b.below(2));
    let ttl = 1 + u64::from(b.below(3));
    let now = Instant::now();
    let mut h = Harness {
        model: Model::new(),
        now,
        contenders: (0..n)
            .map(|i| {
                let value = format!("candidate-{i}");
                let lease = Lease::none(KEY);
                let heard = Arc::new(Mutex::new(Vec::new()));
                let log = Arc::clone(&heard);
                lease.listen(Box::new(move |change| {
                    log.lock()
                        .expect("the listener's log")
                        .push(matches!(change, LeaseChange::Gained));
                }));
                let machine = Campaign::new(KEY, value.as_str(), ttl, Arc::clone(&lease))
                    .expect("a valid campaign");
                Contender {
                    value,
                    machine: Some(machine),
                    lease,
                    heard,
                    in_flight: None,
                    sleeping_until: None,
                    resigned: false,
                }
            })
            .collect(),
    };

    while !b.done() {
        let i = usize::from(b.below(n as u8));
        match b.below(10) {
            0..=3 if !h.deliver(i, Some(&mut b)) => {
                h.poll(i);
            }
            0..=3 => {}
            4 | 5 => h.now += Duration::from_millis(u64::from(b.byte()) * 20),
            6 => {
                // The process dies: nothing more from it; its key expires.
                let c = &mut h.contenders[i];
                c.machine = None;
                c.in_flight = None;
            }
            7 if h.contenders[i].in_flight.is_none() => {
                let c = &mut h.contenders[i];
                if let Some(machine) = c.machine.as_mut() {
                    machine.resign();
                    c.resigned = true;
                }
            }
            _ => {} // a pause: time moves on without this campaign
        }
        h.check();
    }

    // No more faults: every live campaign is driven faithfully; within a bound
    // one of them leads (unless all resigned or crashed), and resignations end
    // with the key no longer theirs.
    let live = h
        .contenders
        .iter()
        .any(|c| c.machine.is_some() && !c.resigned);
    let mut leading = false;
    for _ in 0..5_000 {
        let mut busy = false;
        for i in 0..n {
            busy |= h.deliver(i, None);
            busy |= h.poll(i);
        }
        h.check();
        leading = h.contenders.iter().any(|c| c.lease.holds(h.now));
        let resigning = h
            .contenders
            .iter()
            .any(|c| c.resigned && c.machine.is_some());
        if (leading || !live) && !resigning {
            break;
        }
        if !busy {
            h.advance();
        }
    }
    assert!(
        !live || leading,
        "no live campaign became leader once the faults stopped"
    );
    // A resignation gives the key up; one whose every delete failed (during the
    // faults), or that crashed midway, leaves it to expire with its TTL, which
    // nobody renews.
    let expired = h.now + Duration::from_secs(ttl + 1);
    while h.now < expired {
        for i in 0..n {
            h.deliver(i, None);
            h.poll(i);
        }
        h.check();
        h.advance();
    }
    h.check();
    for c in &h.contenders {
        if c.resigned {
            assert!(
                c.machine.is_none(),
                "{}: the resignation never ended",
                c.value
            );
            assert_ne!(
                h.model.value(KEY).as_deref(),
                Some(c.value.as_str()),
                "{}: resigned a TTL ago, but the key is still its own",
                c.value
            );
        }
    }
}
