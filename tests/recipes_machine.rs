//! The lock, leader and renewal state machines on virtual time, against an
//! in-memory model of the v2 key space: a crashed holder's expiry, a release
//! waking exactly the next waiter, timeouts, renewal, ambiguous creates,
//! reentrancy. No network, no sleeping.

mod support;

use std::time::{Duration, Instant};

use etcd_v2::recipes::leader::{LeaderMachine, LeaderStep};
use etcd_v2::recipes::lock::{lock_dir, LockMachine, LockStep};
use etcd_v2::recipes::renew::{RenewStep, Renewer};
use etcd_v2::recipes::{KeysRequest, Outcome, Request};
use etcd_v2::Error;
use support::model::{poll_timeout, Model};

/// What a machine reported last.
#[derive(Debug, Clone, PartialEq)]
enum Result_ {
    Running,
    Acquired { key: String, at: Duration },
    Elected { renewed: bool, at: Duration },
    NotAcquired,
    TimedOut { at: Duration },
    Failed(String),
}

/// Any of the recipe machines.
enum Machine {
    Lock(LockMachine),
    Leader(LeaderMachine),
}

enum Polled {
    Send(Request),
    Sleep(Instant),
    Done(Result_),
}

struct Contender {
    name: &'static str,
    machine: Machine,
    pending: Option<(Request, Instant)>,
    sleeping: Option<Instant>,
    result: Result_,
    /// Every request sent, with the virtual time.
    log: Vec<(Duration, String)>,
}

struct Sim {
    model: Model,
    t0: Instant,
    now: Instant,
    contenders: Vec<Contender>,
}

fn describe(r: &Request) -> String {
    match r {
        Request::Keys(KeysRequest::CreateInOrder(_)) => "create".into(),
        Request::Keys(KeysRequest::Create(_)) => "create-key".into(),
        Request::Keys(KeysRequest::Get(_)) => "list".into(),
        Request::Keys(KeysRequest::Refresh(_)) => "refresh".into(),
        Request::Keys(KeysRequest::Delete(_)) => "delete".into(),
        Request::Wait { wait, timeout } => format!(
            "wait {}@{} for {:?}",
            wait.key(),
            wait.index().unwrap_or(0),
            timeout
        ),
    }
}

impl Sim {
    fn new() -> Sim {
        let t0 = Instant::now();
        Sim {
            model: Model::new(),
            t0,
            now: t0,
            contenders: Vec::new(),
        }
    }

    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    fn add(&mut self, name: &'static str, machine: Machine) {
        self.contenders.push(Contender {
            name,
            machine,
            pending: None,
            sleeping: None,
            result: Result_::Running,
            log: Vec::new(),
        });
    }

    fn get(&self, name: &str) -> &Contender {
        self.contenders.iter().find(|c| c.name == name).unwrap()
    }

    /// Drive every contender as far as it goes at the current time.
    fn settle(&mut self) {
        let (now, t0) = (self.now, self.t0);
        for c in &mut self.contenders {
            loop {
                if c.result != Result_::Running {
                    break;
                }
                if let Some((req, deadline)) = c.pending.take() {
                    let outcome = match self.model.run(&req, now) {
                        Some(o) => o,
                        None if now >= deadline => poll_timeout(),
                        None => {
                            c.pending = Some((req, deadline));
                            break;
                        }
                    };
                    handle(&mut c.machine, outcome, now).unwrap();
                    continue;
                }
                if c.sleeping.is_some_and(|s| now < s) {
                    break;
                }
                c.sleeping = None;
                match poll(&mut c.machine, now, t0) {
                    Polled::Send(req) => {
                        c.log.push((now - t0, describe(&req)));
                        let deadline = match &req {
                            Request::Wait { timeout, .. } => now + *timeout,
                            Request::Keys(_) => now,
                        };
                        c.pending = Some((req, deadline));
                    }
                    Polled::Sleep(at) => {
                        c.sleeping = Some(at);
                        break;
                    }
                    Polled::Done(r) => {
                        c.result = r;
                        break;
                    }
                }
            }
        }
    }

    /// Run until `until`, jumping from one interesting instant to the next.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.settle();
            let mut next = until;
            for c in &self.contenders {
                if c.result != Result_::Running {
                    continue;
                }
                if let Some((_, d)) = &c.pending {
                    next = next.min(*d);
                }
                if let Some(s) = c.sleeping {
                    next = next.min(s);
                }
            }
            if let Some(e) = self.model.next_expiry() {
                if e > self.now {
                    next = next.min(e);
                }
            }
            if next <= self.now {
                if self.now >= until {
                    return;
                }
                next = (self.now + Duration::from_millis(1)).min(until);
            }
            self.now = next;
            self.model.expire(self.now);
            if self.now >= until {
                self.settle();
                return;
            }
        }
    }
}

fn poll(m: &mut Machine, now: Instant, t0: Instant) -> Polled {
    match m {
        Machine::Lock(l) => match l.poll(now) {
            LockStep::Send(r) => Polled::Send(r),
            LockStep::SleepUntil(at) => Polled::Sleep(at),
            LockStep::Acquired(h) => Polled::Done(Result_::Acquired {
                key: h.key,
                at: now - t0,
            }),
            LockStep::NotAcquired => Polled::Done(Result_::NotAcquired),
            LockStep::TimedOut => Polled::Done(Result_::TimedOut { at: now - t0 }),
            LockStep::Failed(e) => Polled::Done(Result_::Failed(e.to_string())),
        },
        Machine::Leader(l) => match l.poll(now) {
            LeaderStep::Send(r) => Polled::Send(r),
            LeaderStep::SleepUntil(at) => Polled::Sleep(at),
            LeaderStep::Elected { renewed, .. } => Polled::Done(Result_::Elected {
                renewed,
                at: now - t0,
            }),
            LeaderStep::TimedOut => Polled::Done(Result_::TimedOut { at: now - t0 }),
            LeaderStep::Failed(e) => Polled::Done(Result_::Failed(e.to_string())),
        },
    }
}

fn handle(m: &mut Machine, o: Outcome, now: Instant) -> Result<(), Error> {
    match m {
        Machine::Lock(l) => l.handle(o, now),
        Machine::Leader(l) => l.handle(o, now),
    }
}

fn dir() -> String {
    lock_dir("job").unwrap()
}

fn lock(id: &str, ttl: u64) -> Machine {
    Machine::Lock(LockMachine::new(dir(), id, ttl))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn the_lowest_key_holds_and_the_layout_is_python_etcds() {
    let mut sim = Sim::new();
    sim.add("a", lock("id-a", 30));
    sim.run_until(sim.at(0.1));
    match &sim.get("a").result {
        Result_::Acquired { key, .. } => {
            assert!(key.starts_with("/_locks/job/"), "{key}");
            let name = key.rsplit('/').next().unwrap();
            assert_eq!(name.len(), 20);
            assert_eq!(
                sim.model.value(key).as_deref(),
                Some("id-a"),
                "the value is the holder's id"
            );
        }
        other => panic!("{other:?}"),
    }
    sim.add("b", lock("id-b", 30));
    sim.run_until(sim.at(5.0));
    assert_eq!(
        sim.get("b").result,
        Result_::Running,
        "b waits while a holds"
    );
    assert_eq!(sim.model.children(&dir()).len(), 2);
}

#[test]
fn a_crashed_holders_key_expires_and_the_next_waiter_takes_over() {
    let mut sim = Sim::new();
    sim.add("a", lock("id-a", 10));
    sim.run_until(sim.at(0.0));
    assert!(matches!(sim.get("a").result, Result_::Acquired { .. }));
    // a crashes: nobody renews its key. b contends a second later with a short
    // TTL of its own, which it must keep alive while it waits.
    sim.now = sim.at(1.0);
    sim.add("b", lock("id-b", 3));
    sim.run_until(sim.at(30.0));
    match &sim.get("b").result {
        Result_::Acquired { at, .. } => {
            assert!(secs(*at) >= 10.0, "not before a's TTL: {at:?}");
            assert!(
                secs(*at) <= 10.0 + 0.5,
                "right after a's key expired: {at:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let refreshes = sim
        .get("b")
        .log
        .iter()
        .filter(|(_, r)| r == "refresh")
        .count();
    assert!(
        refreshes >= 8,
        "b refreshed its waiting key about every second: {refreshes}"
    );
}

#[test]
fn a_release_wakes_exactly_the_next_waiter() {
    let mut sim = Sim::new();
    sim.add("a", lock("id-a", 100));
    sim.run_until(sim.at(0.0));
    sim.add("b", lock("id-b", 100));
    sim.run_until(sim.at(1.0));
    sim.add("c", lock("id-c", 100));
    sim.run_until(sim.at(2.0));
    let a_key = match &sim.get("a").result {
        Result_::Acquired { key, .. } => key.clone(),
        other => panic!("{other:?}"),
    };
    // b watches a, c watches b.
    let b_wait = sim
        .get("b")
        .log
        .iter()
        .rev()
        .find(|(_, r)| r.starts_with("wait"))
        .unwrap()
        .1
        .clone();
    assert!(b_wait.contains(&a_key), "{b_wait}");
    let c_wait = sim
        .get("c")
        .log
        .iter()
        .rev()
        .find(|(_, r)| r.starts_with("wait"))
        .unwrap()
        .1
        .clone();
    assert!(
        !c_wait.contains(&a_key),
        "c watches its predecessor, not the holder: {c_wait}"
    );
    let c_requests_before = sim.get("c").log.len();

    sim.now = sim.at(5.0);
    sim.model
        .apply(
            &KeysRequest::Delete(
                etcd_v2::ops::keys::Delete::new(a_key.as_str()).prev_value("id-a"),
            ),
            sim.now,
        )
        .unwrap();
    sim.run_until(sim.at(5.5));
    assert!(matches!(sim.get("b").result, Result_::Acquired { at, .. } if secs(at) == 5.0));
    assert_eq!(sim.get("c").result, Result_::Running);
    assert_eq!(
        sim.get("c").log.len(),
        c_requests_before,
        "c was not woken: no herd"
    );
}

#[test]
fn an_acquisition_really_times_out() {
    let mut sim = Sim::new();
    sim.add("a", lock("id-a", 100));
    sim.run_until(sim.at(0.0));
    let deadline = sim.at(3.0);
    sim.add(
        "b",
        Machine::Lock(LockMachine::new(dir(), "id-b", 100).deadline(Some(deadline))),
    );
    sim.run_until(sim.at(10.0));
    assert_eq!(
        sim.get("b").result,
        Result_::TimedOut {
            at: Duration::from_secs(3)
        }
    );
    // Every poll it sent ended by the deadline.
    for (t, r) in &sim.get("b").log {
        if let Some(rest) = r.split(" for ").nth(1) {
            let d: f64 = rest.trim_end_matches('s').parse().unwrap_or(0.0);
            assert!(secs(*t) + d <= 3.0 + 1e-9, "{t:?} {r}");
        }
    }
    assert_eq!(
        sim.get("b").log.last().unwrap().1,
        "delete",
        "it removes its key"
    );
    assert_eq!(sim.model.children(&dir()).len(), 1, "only a's key is left");
}

#[test]
fn a_non_blocking_attempt_leaves_nothing_behind() {
    let mut sim = Sim::new();
    sim.add("a", lock("id-a", 100));
    sim.run_until(sim.at(0.0));
    sim.add(
        "b",
        Machine::Lock(LockMachine::new(dir(), "id-b", 100).non_blocking()),
    );
    sim.run_until(sim.at(1.0));
    assert_eq!(sim.get("b").result, Result_::NotAcquired);
    assert_eq!(sim.model.children(&dir()).len(), 1);
}

/// A request the cluster may have applied, whose answer never came.
fn unknown_outcome() -> Error {
    Error::OutcomeUnknown {
        source: Box::new(Error::Transport {
            endpoint: "model".into(),
            source: etcd_v2::TransportError::new(etcd_v2::TransportErrorKind::Io, "timed out"),
        }),
    }
}

/// Drive `m` against a cluster that answers nothing (no quorum: every write
/// times out, every read fails), for at most `rounds` requests: the step it
/// ended on, and the requests sent.
fn against_a_dead_cluster(m: &mut LockMachine, rounds: usize) -> (LockStep, Vec<String>) {
    let mut now = Instant::now();
    let mut sent = Vec::new();
    for _ in 0..rounds {
        match m.poll(now) {
            LockStep::Send(req) => {
                sent.push(describe(&req));
                let e = if describe(&req).starts_with("create") {
                    unknown_outcome()
                } else {
                    Error::Transport {
                        endpoint: "model".into(),
                        source: etcd_v2::TransportError::new(
                            etcd_v2::TransportErrorKind::Connect,
                            "refused",
                        ),
                    }
                };
                m.handle(Outcome::Keys(Err(e)), now).unwrap();
            }
            LockStep::SleepUntil(at) => now = at,
            other => return (other, sent),
        }
    }
    (m.poll(now), sent)
}

#[test]
fn a_non_blocking_attempt_gives_up_on_a_cluster_that_cannot_answer() {
    let mut m = LockMachine::new(dir(), "id-n", 30).non_blocking();
    let (step, sent) = against_a_dead_cluster(&mut m, 100);
    let LockStep::Failed(e) = step else {
        panic!("a non-blocking attempt kept trying: {step:?} after {sent:?}")
    };
    assert!(e.to_string().contains("refused"), "{e}");
    assert_eq!(sent.len(), 4, "{sent:?}");
    // Reads that work between writes that never do are no progress either (a
    // member cut off from the majority answers reads, stalls writes).
    let mut m = LockMachine::new(dir(), "id-p", 30).non_blocking();
    let mut model = Model::new();
    let now = Instant::now();
    let mut creates = 0;
    let step = loop {
        match m.poll(now) {
            LockStep::Send(req) if describe(&req).starts_with("create") => {
                creates += 1;
                m.handle(Outcome::Keys(Err(unknown_outcome())), now)
                    .unwrap();
            }
            LockStep::Send(req) => {
                let o = model.run(&req, now).unwrap();
                m.handle(o, now).unwrap();
            }
            LockStep::SleepUntil(_) => panic!("no failed read, no pause"),
            other => break other,
        }
        assert!(creates <= 10, "a non-blocking attempt kept trying");
    };
    assert!(matches!(step, LockStep::Failed(_)), "{step:?}");
    assert_eq!(creates, 4);
    // The create's outcome is unknown: whoever drives it must look for the key.
    assert!(m.create_pending());
    // A blocking acquisition waits as long as it takes (its caller bounds it
    // with a deadline).
    let mut blocking = LockMachine::new(dir(), "id-b", 30);
    let (step, sent) = against_a_dead_cluster(&mut blocking, 100);
    assert!(
        matches!(step, LockStep::Send(_) | LockStep::SleepUntil(_)),
        "{step:?}"
    );
    assert!(sent.len() >= 40, "{}", sent.len());
}

#[test]
fn an_ambiguous_create_is_resolved_by_reading_never_by_a_second_key() {
    let t = Instant::now();
    let mut model = Model::new();
    let mut m = LockMachine::new(dir(), "id-x", 30);
    let LockStep::Send(create) = m.poll(t) else {
        panic!()
    };
    // The POST is applied, but its answer is lost.
    model.run(&create, t).unwrap();
    let lost = Error::OutcomeUnknown {
        source: Box::new(Error::Transport {
            endpoint: "model".into(),
            source: etcd_v2::TransportError::new(etcd_v2::TransportErrorKind::Io, "reset"),
        }),
    };
    m.handle(Outcome::Keys(Err(lost)), t).unwrap();
    let LockStep::Send(find) = m.poll(t) else {
        panic!()
    };
    assert_eq!(describe(&find), "list");
    let outcome = model.run(&find, t).unwrap();
    m.handle(outcome, t).unwrap();
    // The key found is refreshed (proving it exists and is ours) before the
    // lock is reported held.
    let acquired = loop {
        match m.poll(t) {
            LockStep::Send(req) => {
                assert!(!describe(&req).starts_with("create"), "{}", describe(&req));
                let o = model.run(&req, t).unwrap();
                m.handle(o, t).unwrap();
            }
            other => break other,
        }
    };
    assert!(matches!(acquired, LockStep::Acquired(_)), "{acquired:?}");
    assert_eq!(model.children(&dir()).len(), 1, "exactly one key");
}

#[test]
fn an_acquisition_abandoned_with_its_create_in_doubt_removes_the_key_it_may_have_made() {
    use etcd_v2::machine::{Machine as _, Step};
    let t = Instant::now();
    let mut model = Model::new();
    let mut m = LockMachine::new(dir(), "id-dropped", 30);
    let LockStep::Send(create) = m.poll(t) else {
        panic!()
    };
    // The POST is applied, and the acquisition is dropped before its answer.
    model.run(&create, t).unwrap();
    assert_eq!(model.children(&dir()).len(), 1);
    let mut release = m.abandoned();
    let released = loop {
        match release.poll(t) {
            Step::Send(req) => {
                let o = model.run(&req, t).unwrap();
                release.handle(o, t).unwrap();
            }
            Step::Done(out) => break out,
            other => panic!("{other:?}"),
        }
    };
    assert!(released.unwrap(), "the key it made was found and deleted");
    assert!(
        model.children(&dir()).is_empty(),
        "{:?}",
        model.children(&dir())
    );
}

/// Start `m` with a create whose answer is lost and that a quorum listing
/// does not show (still on its way): the held-back create, and the second
/// create the machine sends instead (not yet run).
fn a_create_held_back(m: &mut LockMachine, model: &mut Model, t: Instant) -> (Request, Request) {
    let LockStep::Send(first) = m.poll(t) else {
        panic!()
    };
    assert_eq!(describe(&first), "create");
    m.handle(Outcome::Keys(Err(unknown_outcome())), t).unwrap();
    let LockStep::Send(find) = m.poll(t) else {
        panic!()
    };
    assert!(matches!(&find, Request::Keys(r) if is_quorum_read(r)));
    let o = model.run(&find, t).unwrap();
    m.handle(o, t).unwrap();
    let LockStep::Send(second) = m.poll(t) else {
        panic!()
    };
    assert_eq!(describe(&second), "create");
    (first, second)
}

#[test]
fn a_create_applied_late_leaves_no_stray_in_the_queue_or_after_the_release() {
    use etcd_v2::recipes::release::Release;
    let t = Instant::now();
    // Applied between the quorum listing and the second create: the stray
    // comes first, and would hold the lock for nobody until its TTL.
    let mut model = Model::new();
    let mut m = LockMachine::new(dir(), "id-late", 30);
    let (first, second) = a_create_held_back(&mut m, &mut model, t);
    model.run(&first, t).unwrap();
    let o = model.run(&second, t).unwrap();
    m.handle(o, t).unwrap();
    let (sent, out) = settle_machine(&mut m, &mut model, t);
    assert_eq!(sent, ["list", "delete", "list"]);
    let held = out.unwrap().unwrap().expect("acquired");
    assert!(held.strays, "a create may still be on its way");
    assert_eq!(model.children(&dir()), [held.key], "the stray is gone");

    // Applied after the second create: the stray comes after ours.
    let mut model = Model::new();
    let mut m = LockMachine::new(dir(), "id-late", 30);
    let (first, second) = a_create_held_back(&mut m, &mut model, t);
    let o = model.run(&second, t).unwrap();
    model.run(&first, t).unwrap();
    m.handle(o, t).unwrap();
    let (sent, out) = settle_machine(&mut m, &mut model, t);
    assert_eq!(sent, ["list", "delete", "list"]);
    let held = out.unwrap().unwrap().expect("acquired");
    assert_eq!(model.children(&dir()), [held.key]);

    // Applied after the lock was acquired: the release sweeps it (a listing
    // after each delete), and reports the key itself deleted.
    let mut model = Model::new();
    let mut m = LockMachine::new(dir(), "id-late", 30);
    let (first, second) = a_create_held_back(&mut m, &mut model, t);
    let o = model.run(&second, t).unwrap();
    m.handle(o, t).unwrap();
    let (sent, out) = settle_machine(&mut m, &mut model, t);
    assert_eq!(sent, ["list"]);
    let held = out.unwrap().unwrap().expect("acquired");
    model.run(&first, t).unwrap();
    assert_eq!(model.children(&dir()).len(), 2);
    let mut release = Release::key(held.key.as_str(), "id-late").sweeping(dir());
    let (sent, out) = settle_machine(&mut release, &mut model, t);
    assert_eq!(sent, ["delete", "list", "delete", "list"]);
    assert!(out.unwrap().unwrap());
    assert!(model.children(&dir()).is_empty());
    // Without the sweep (no create in doubt), a release lists nothing.
    model.set(
        &format!("{}/00000000000000000099", dir()),
        "id-late",
        None,
        t,
    );
    let (sent, _) = settle_machine(&mut Release::key("/l/gone", "id-late"), &mut model, t);
    assert_eq!(sent, ["delete"]);
    // A sweep that keeps finding strays stops after three listings.
    let mut model = Model::new();
    for i in 0..6 {
        model.set(
            &format!("{}/0000000000000000001{i}", dir()),
            "id-late",
            None,
            t,
        );
    }
    let mut release = Release::key("/l/gone", "id-late").sweeping(dir());
    let (sent, out) = settle_machine(&mut release, &mut model, t);
    assert_eq!(sent.iter().filter(|s| *s == "list").count(), 3, "{sent:?}");
    assert!(!out.unwrap().unwrap(), "the key itself was gone already");
    assert_eq!(model.children(&dir()).len(), 3);
}

#[test]
fn a_deadline_with_the_create_in_doubt_removes_the_key_it_may_have_made() {
    let t = Instant::now();
    let deadline = t + Duration::from_secs(1);
    let mut model = Model::new();
    let mut m = LockMachine::new(dir(), "id-slow", 30).deadline(Some(deadline));
    let LockStep::Send(create) = m.poll(t) else {
        panic!()
    };
    // Applied, but the answer was cut off by the deadline.
    model.run(&create, t).unwrap();
    m.handle(Outcome::Keys(Err(unknown_outcome())), deadline)
        .unwrap();
    let (sent, out) = settle_machine(&mut m, &mut model, deadline);
    assert_eq!(sent, ["list", "delete"], "found by its id and deleted");
    assert!(out.unwrap().unwrap().is_none(), "timed out");
    assert!(model.children(&dir()).is_empty());
    // Not applied: one listing, and nothing to delete.
    let mut m = LockMachine::new(dir(), "id-slow", 30).deadline(Some(deadline));
    let LockStep::Send(_) = m.poll(t) else {
        panic!()
    };
    m.handle(Outcome::Keys(Err(unknown_outcome())), deadline)
        .unwrap();
    let (sent, out) = settle_machine(&mut m, &mut model, deadline);
    assert_eq!(sent, ["list"]);
    assert!(out.unwrap().unwrap().is_none());
}

#[test]
fn an_earlier_acquisitions_key_left_behind_is_deleted_not_waited_for() {
    // The same contender (one id) acquires again after a release that failed:
    // its old key, first in line, is its own, not another holder's.
    let t = Instant::now();
    let mut model = Model::new();
    model.set(
        &format!("{}/00000000000000000001", dir()),
        "id-again",
        Some(30),
        t,
    );
    let mut m = LockMachine::new(dir(), "id-again", 30);
    let (sent, out) = settle_machine(&mut m, &mut model, t);
    assert_eq!(sent, ["create", "list", "delete", "list"]);
    let held = out
        .unwrap()
        .unwrap()
        .expect("acquired at once, not after the TTL");
    assert!(!held.strays, "no create in doubt");
    assert_eq!(model.children(&dir()), [held.key]);
}

#[test]
fn a_reentrant_holder_acquires_again_without_a_new_key() {
    let mut sim = Sim::new();
    sim.add(
        "first",
        Machine::Lock(LockMachine::new(dir(), "worker-7", 100).reentrant()),
    );
    sim.run_until(sim.at(0.0));
    sim.add(
        "again",
        Machine::Lock(LockMachine::new(dir(), "worker-7", 100).reentrant()),
    );
    sim.add(
        "other",
        Machine::Lock(LockMachine::new(dir(), "worker-8", 100).reentrant()),
    );
    sim.run_until(sim.at(1.0));
    let (Result_::Acquired { key: k1, .. }, Result_::Acquired { key: k2, .. }) =
        (&sim.get("first").result, &sim.get("again").result)
    else {
        panic!(
            "{:?} {:?}",
            sim.get("first").result,
            sim.get("again").result
        );
    };
    assert_eq!(k1, k2, "the same key");
    assert_eq!(
        sim.get("other").result,
        Result_::Running,
        "another value waits"
    );
    assert_eq!(sim.model.children(&dir()).len(), 2);
}

#[test]
fn a_waiter_whose_own_key_vanished_starts_over_and_still_gets_the_lock() {
    let mut sim = Sim::new();
    sim.add("a", lock("id-a", 100));
    sim.run_until(sim.at(0.0));
    sim.add("b", lock("id-b", 100));
    sim.run_until(sim.at(1.0));
    // Someone deletes b's waiting key behind its back, then a releases.
    let keys = sim.model.children(&dir());
    sim.model.delete(&keys[1]);
    sim.model.delete(&keys[0]);
    sim.run_until(sim.at(40.0));
    assert!(
        matches!(sim.get("b").result, Result_::Acquired { .. }),
        "{:?}",
        sim.get("b").result
    );
}

#[test]
fn leader_election_first_come_renew_and_take_over_after_expiry() {
    let mut sim = Sim::new();
    sim.add(
        "a",
        Machine::Leader(LeaderMachine::new("/service/leader", "a", 5)),
    );
    sim.run_until(sim.at(0.0));
    assert_eq!(
        sim.get("a").result,
        Result_::Elected {
            renewed: false,
            at: Duration::ZERO
        }
    );
    sim.add(
        "a-again",
        Machine::Leader(LeaderMachine::new("/service/leader", "a", 5)),
    );
    sim.add(
        "b",
        Machine::Leader(LeaderMachine::new("/service/leader", "b", 5)),
    );
    sim.run_until(sim.at(1.0));
    assert_eq!(
        sim.get("a-again").result,
        Result_::Elected {
            renewed: true,
            at: Duration::ZERO
        },
        "renewal by the leader"
    );
    assert_eq!(sim.get("b").result, Result_::Running);
    // a stops renewing (crashed): its key lapses 5 s after the renewal at 0 s.
    // (Nothing renews b either, so look right after the takeover.)
    sim.run_until(sim.at(6.0));
    match sim.get("b").result {
        Result_::Elected { renewed: false, at } => {
            assert!((5.0..=5.5).contains(&secs(at)), "{at:?}")
        }
        ref other => panic!("{other:?}"),
    }
    assert_eq!(sim.model.value("/service/leader").as_deref(), Some("b"));
}

#[test]
fn leader_election_times_out_and_resolves_an_unknown_create() {
    let mut sim = Sim::new();
    sim.add("a", Machine::Leader(LeaderMachine::new("/l", "a", 100)));
    sim.run_until(sim.at(0.0));
    let deadline = sim.at(2.0);
    sim.add(
        "b",
        Machine::Leader(LeaderMachine::new("/l", "b", 100).deadline(Some(deadline))),
    );
    sim.run_until(sim.at(10.0));
    assert_eq!(
        sim.get("b").result,
        Result_::TimedOut {
            at: Duration::from_secs(2)
        }
    );

    let t = Instant::now();
    let mut model = Model::new();
    let mut m = LeaderMachine::new("/l2", "c", 10);
    let LeaderStep::Send(create) = m.poll(t) else {
        panic!()
    };
    model.run(&create, t).unwrap();
    let lost = Error::OutcomeUnknown {
        source: Box::new(Error::Transport {
            endpoint: "model".into(),
            source: etcd_v2::TransportError::new(etcd_v2::TransportErrorKind::Timeout, "lost"),
        }),
    };
    m.handle(Outcome::Keys(Err(lost)), t).unwrap();
    // It reads the key, finds its own value, and renews rather than creating again.
    for expected in ["list", "refresh"] {
        let LeaderStep::Send(req) = m.poll(t) else {
            panic!()
        };
        assert_eq!(describe(&req), expected);
        let o = model.run(&req, t).unwrap();
        m.handle(o, t).unwrap();
    }
    assert!(matches!(
        m.poll(t),
        LeaderStep::Elected { renewed: true, .. }
    ));
}

#[test]
fn renewal_every_third_of_the_ttl_and_loss() {
    let t0 = Instant::now();
    let mut model = Model::new();
    model.set("/k", "me", Some(9), t0);
    let mut r = Renewer::new("/k", "me", 9, t0);
    let mut sends = Vec::new();
    let mut now = t0;
    while now < t0 + Duration::from_secs(30) {
        match r.poll(now) {
            RenewStep::SleepUntil(at) => now = at,
            RenewStep::Send(req) => {
                sends.push((now - t0).as_secs());
                let o = model.apply(&req, now);
                r.handle(o, now).unwrap();
            }
            RenewStep::Lost(e) => panic!("{e}"),
        }
    }
    assert_eq!(sends, [3, 6, 9, 12, 15, 18, 21, 24, 27]);
    assert!(model.value("/k").is_some(), "kept alive");

    // Transient failures are retried soon; the TTL running out is loss.
    let mut r = Renewer::new("/k", "me", 9, now);
    let mut failures = 0;
    let lost = loop {
        match r.poll(now) {
            RenewStep::SleepUntil(at) => now = at,
            RenewStep::Send(_) => {
                failures += 1;
                let err = Error::Transport {
                    endpoint: "model".into(),
                    source: etcd_v2::TransportError::new(
                        etcd_v2::TransportErrorKind::Connect,
                        "down",
                    ),
                };
                r.handle(Err(err), now).unwrap();
            }
            RenewStep::Lost(e) => break e,
        }
    };
    assert!(failures > 10, "retried every 250 ms: {failures}");
    assert!(matches!(lost, Error::LockLost { .. }), "{lost}");
    assert!(lost.to_string().contains("TTL ran out"), "{lost}");

    // Someone else's value, or no key: lost at once.
    for (value, reason) in [("other", "another holder"), ("me", "no longer exists")] {
        let mut model = Model::new();
        if value == "other" {
            model.set("/k2", "other", Some(9), now);
        }
        let mut r = Renewer::new("/k2", "me", 9, now);
        let RenewStep::SleepUntil(at) = r.poll(now) else {
            panic!()
        };
        let RenewStep::Send(req) = r.poll(at) else {
            panic!()
        };
        let o = model.apply(&req, at);
        r.handle(o, at).unwrap();
        match r.poll(at) {
            RenewStep::Lost(e) => assert!(e.to_string().contains(reason), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn driving_a_machine_out_of_turn_is_an_error_not_a_panic() {
    let t = Instant::now();
    let mut m = LockMachine::new(dir(), "x", 10);
    assert!(
        m.handle(Outcome::Keys(Err(Error::Misuse("x".into()))), t)
            .is_err(),
        "nothing in flight"
    );
    let LockStep::Send(_) = m.poll(t) else {
        panic!()
    };
    assert!(
        matches!(m.poll(t), LockStep::Failed(Error::Misuse(_))),
        "one request at a time"
    );
    assert!(
        m.handle(poll_timeout(), t).is_err(),
        "a wait outcome for a create"
    );
    let mut l = LeaderMachine::new("/l", "v", 10);
    assert!(l.handle(poll_timeout(), t).is_err());
    let mut r = Renewer::new("/k", "v", 10, t);
    assert!(r.handle(Err(Error::Misuse("x".into())), t).is_err());
}

/// Drive any recipe machine against the model at a fixed instant until it asks
/// to sleep or finishes; the requests sent, described.
fn settle_machine<M>(m: &mut M, model: &mut Model, now: Instant) -> (Vec<String>, Option<M::Output>)
where
    M: etcd_v2::machine::Machine<Request = Request, Outcome = Outcome>,
{
    use etcd_v2::machine::{Machine, Step};
    let mut sent = Vec::new();
    for _ in 0..100 {
        match Machine::poll(m, now) {
            Step::Send(req) => {
                sent.push(describe(&req));
                let outcome = model.run(&req, now).unwrap_or_else(poll_timeout);
                Machine::handle(m, outcome, now).unwrap();
            }
            Step::SleepUntil(_) => return (sent, None),
            Step::Event(_) => {}
            Step::Done(output) => return (sent, Some(output)),
        }
    }
    panic!("the machine never settled: {sent:?}");
}

#[test]
fn a_release_deletes_only_its_own_key_and_resolves_an_unknown_outcome() {
    use etcd_v2::recipes::release::Release;
    let t = Instant::now();
    let mut model = Model::new();
    model.set("/l/mine", "me", None, t);
    model.set("/l/theirs", "them", None, t);
    let (sent, out) = settle_machine(&mut Release::key("/l/mine", "me"), &mut model, t);
    assert_eq!(
        (sent, out.unwrap().unwrap()),
        (vec!["delete".to_owned()], true)
    );
    assert!(model.value("/l/mine").is_none());
    let (_, out) = settle_machine(&mut Release::key("/l/theirs", "me"), &mut model, t);
    assert!(
        !out.unwrap().unwrap(),
        "another holder's key is not deleted"
    );
    assert_eq!(model.value("/l/theirs").as_deref(), Some("them"));
    let (_, out) = settle_machine(&mut Release::key("/l/gone", "me"), &mut model, t);
    assert!(!out.unwrap().unwrap());

    // The first delete is applied but its answer lost: a second, guarded delete
    // finds it gone, and the release did delete it.
    use etcd_v2::machine::{Machine, Step};
    model.set("/l/mine", "me", None, t);
    let mut r = Release::key("/l/mine", "me");
    let Step::Send(first) = Machine::poll(&mut r, t) else {
        panic!()
    };
    model.run(&first, t).unwrap();
    let lost = Error::OutcomeUnknown {
        source: Box::new(Error::Transport {
            endpoint: "model".into(),
            source: etcd_v2::TransportError::new(etcd_v2::TransportErrorKind::Io, "reset"),
        }),
    };
    Machine::handle(&mut r, Outcome::Keys(Err(lost)), t).unwrap();
    let (sent, out) = settle_machine(&mut r, &mut model, t);
    assert_eq!(
        (sent, out.unwrap().unwrap()),
        (vec!["delete".to_owned()], true)
    );

    // Applied, but its 200 could not be read: the same, not "not ours".
    model.set("/l/mine", "me", None, t);
    let mut r = Release::key("/l/mine", "me");
    let Step::Send(first) = Machine::poll(&mut r, t) else {
        panic!()
    };
    model.run(&first, t).unwrap();
    let garbled = Error::Decode {
        endpoint: "model".into(),
        status: 200,
        reason: "cut short".into(),
        body: "{\"action\":\"compareAndDel".into(),
    };
    Machine::handle(&mut r, Outcome::Keys(Err(garbled)), t).unwrap();
    let (sent, out) = settle_machine(&mut r, &mut model, t);
    assert_eq!(
        (sent, out.unwrap().unwrap()),
        (vec!["delete".to_owned()], true)
    );

    // A reentrant holder's key, found by its value.
    model.set("/l/00000000000000000042", "worker-7", None, t);
    let (sent, out) = settle_machine(&mut Release::find("/l", "worker-7"), &mut model, t);
    assert_eq!(sent, ["list", "delete"]);
    assert!(out.unwrap().unwrap());
    assert!(model.value("/l/00000000000000000042").is_none());
}

#[test]
fn a_keep_alive_extends_its_lease_and_a_pause_past_the_ttl_ends_it_without_a_request() {
    use etcd_v2::machine::{Machine, Step};
    use etcd_v2::recipes::lease::{Lease, TTL_RAN_OUT};
    use etcd_v2::recipes::renew::KeepAlive;
    let t0 = Instant::now();
    let mut model = Model::new();
    model.set("/k", "me", Some(9), t0);
    let lease = Lease::held("/k", Some(t0 + Duration::from_secs(9)));
    let mut ka = KeepAlive::new(lease.clone(), "me", 9, t0);
    let mut now = t0;
    let mut renewals = Vec::new();
    while now < t0 + Duration::from_secs(20) {
        match Machine::poll(&mut ka, now) {
            Step::SleepUntil(at) => now = at,
            Step::Send(req) => {
                renewals.push((now - t0).as_secs());
                let o = model.run(&req, now).unwrap();
                Machine::handle(&mut ka, o, now).unwrap();
                assert_eq!(lease.valid_until(), Some(now + Duration::from_secs(9)));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(renewals, [3, 6, 9, 12, 15, 18]);
    assert!(lease.holds(now));
    // Paused 10 s (past the 9 s TTL): the first poll after knows, and sends
    // nothing.
    let resumed = now + Duration::from_secs(10);
    assert!(matches!(Machine::poll(&mut ka, resumed), Step::Done(())));
    assert!(!lease.holds(resumed));
    assert_eq!(lease.lost_reason().as_deref(), Some(TTL_RAN_OUT));
}

#[test]
fn renewing_once_refuses_a_lapsed_lease_without_a_request() {
    use etcd_v2::machine::{Machine, Step};
    use etcd_v2::recipes::renew::RenewOnce;
    let t = Instant::now();
    let mut model = Model::new();
    model.set("/k", "me", Some(5), t);
    let mut lapsed = RenewOnce::new("/k", "me", 5, t);
    match Machine::poll(&mut lapsed, t) {
        Step::Done(Err(Error::LockLost { .. })) => {}
        other => panic!("{other:?}"),
    }
    let mut live = RenewOnce::new("/k", "me", 5, t + Duration::from_secs(3));
    let (sent, out) = settle_machine(&mut live, &mut model, t);
    assert_eq!(sent, ["refresh"]);
    assert_eq!(out.unwrap().unwrap(), t + Duration::from_secs(5));
    let mut taken = RenewOnce::new("/k", "someone-else", 5, t + Duration::from_secs(3));
    let (_, out) = settle_machine(&mut taken, &mut model, t);
    assert!(matches!(out.unwrap(), Err(Error::LockLost { .. })));
}

#[test]
fn a_campaign_elects_renews_campaigns_again_after_a_loss_and_resigns() {
    use etcd_v2::machine::{Machine, Step};
    use etcd_v2::recipes::campaign::Campaign;
    use etcd_v2::recipes::lease::{Lease, LeaseChange};
    use std::sync::{Arc, Mutex};
    let t0 = Instant::now();
    let mut model = Model::new();
    let lease = Lease::none("/leader");
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&heard);
    lease.listen(Box::new(move |change| {
        h.lock().unwrap().push(match change {
            LeaseChange::Gained => "gained".to_owned(),
            LeaseChange::Lost(reason) => format!("lost: {reason}"),
        })
    }));
    let mut c = Campaign::new("/leader", "me", 3, lease.clone()).unwrap();
    let (sent, _) = settle_machine(&mut c, &mut model, t0);
    assert_eq!(sent, ["create-key"]);
    assert!(lease.holds(t0));
    // Renewed every second: still leader at 10 s.
    let mut now = t0;
    while now < t0 + Duration::from_secs(10) {
        match Machine::poll(&mut c, now) {
            Step::SleepUntil(at) => now = at,
            Step::Send(req) => {
                let o = model.run(&req, now).unwrap();
                Machine::handle(&mut c, o, now).unwrap();
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(lease.holds(now) && model.value("/leader").as_deref() == Some("me"));
    // The key is taken behind its back: the next renewal finds out; the
    // campaign waits for the new leader's key to go and is elected again.
    model.delete("/leader");
    model.set("/leader", "usurper", Some(2), now);
    let mut elected_again = None;
    for _ in 0..200 {
        model.expire(now);
        match Machine::poll(&mut c, now) {
            Step::SleepUntil(at) => now = at,
            Step::Send(req) => {
                let o = match model.run(&req, now) {
                    Some(o) => o,
                    None => {
                        now = model.next_expiry().unwrap_or(now + Duration::from_secs(1));
                        model.expire(now);
                        model.run(&req, now).unwrap_or_else(poll_timeout)
                    }
                };
                Machine::handle(&mut c, o, now).unwrap();
            }
            other => panic!("{other:?}"),
        }
        if lease.holds(now) && model.value("/leader").as_deref() == Some("me") {
            elected_again = Some(now);
            break;
        }
    }
    assert!(elected_again.is_some(), "{:?}", heard.lock().unwrap());
    let heard_so_far = heard.lock().unwrap().clone();
    assert_eq!(heard_so_far.first().map(String::as_str), Some("gained"));
    assert!(
        heard_so_far[1].starts_with("lost: another holder"),
        "{heard_so_far:?}"
    );
    assert_eq!(heard_so_far[2], "gained");
    // Resigning deletes the key (guarded by our value) and ends.
    c.resign();
    let (sent, out) = settle_machine(&mut c, &mut model, now);
    assert_eq!(sent, ["delete"]);
    assert!(out.is_some());
    assert!(model.value("/leader").is_none());
    assert!(!lease.holds(now));
}

#[test]
fn a_failing_election_backs_off_doubling_to_two_seconds_never_a_fixed_second() {
    use etcd_v2::machine::{Machine, Step};
    use etcd_v2::recipes::campaign::Campaign;
    use etcd_v2::recipes::lease::Lease;
    let t0 = Instant::now();
    let mut c = Campaign::new("/leader", "me", 3, Lease::none("/leader")).unwrap();
    let unauthorized = || {
        Outcome::Keys(Err(Error::Api {
            endpoint: "model".into(),
            status: 403,
            message: "forbidden".into(),
        }))
    };
    let mut now = t0;
    let mut pauses = Vec::new();
    for _ in 0..8 {
        match Machine::poll(&mut c, now) {
            Step::Send(_) => Machine::handle(&mut c, unauthorized(), now).unwrap(),
            other => panic!("{other:?}"),
        }
        match Machine::poll(&mut c, now) {
            Step::SleepUntil(at) => {
                pauses.push((at - now).as_millis());
                now = at;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pauses, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
}

/// Whether a keys request is a quorum read.
fn is_quorum_read(r: &KeysRequest) -> bool {
    use etcd_v2::Operation;
    let endpoint: etcd_v2::Endpoint = "http://127.0.0.1:2379".parse().unwrap();
    let http = r.build(&endpoint).unwrap();
    matches!(r, KeysRequest::Get(_)) && http.uri().query().unwrap_or("").contains("quorum=true")
}

/// A model where another contender holds the lock of [`dir`].
fn held_by_another(t: Instant) -> Model {
    let mut model = Model::new();
    model.set(
        &format!("{}/00000000000000000001", dir()),
        "holder",
        None,
        t,
    );
    model
}

/// Answer `request` as a cluster with one member behind the others answers a
/// client talking to that member: writes and quorum reads reach the leader
/// (`model`), local reads come from the member's older store (`behind`). What
/// was sent, with a quorum read marked.
fn through_a_member_behind(
    request: &Request,
    model: &mut Model,
    behind: &mut Model,
    t: Instant,
    sent: &mut Vec<String>,
) -> Outcome {
    match request {
        Request::Keys(k @ KeysRequest::Get(_)) if !is_quorum_read(k) => {
            sent.push("list".into());
            Outcome::Keys(behind.apply_lagging(k, t).map(Box::new))
        }
        Request::Keys(k) => {
            sent.push(describe(request) + if is_quorum_read(k) { " (quorum)" } else { "" });
            Outcome::Keys(model.apply(k, t).map(Box::new))
        }
        Request::Wait { .. } => {
            sent.push(describe(request));
            poll_timeout()
        }
    }
}

/// Run `rounds` of `m`'s requests through a member behind the others (see
/// [`through_a_member_behind`]); each poll must ask for a request.
fn rounds_behind<M>(
    m: &mut M,
    rounds: usize,
    (model, behind): (&mut Model, &mut Model),
    t: Instant,
    sent: &mut Vec<String>,
) where
    M: etcd_v2::machine::Machine<Request = Request, Outcome = Outcome>,
{
    for _ in 0..rounds {
        let etcd_v2::machine::Step::Send(req) = m.poll(t) else {
            panic!("no request after {sent:?}")
        };
        let o = through_a_member_behind(&req, model, behind, t, sent);
        m.handle(o, t).unwrap();
    }
}

#[test]
fn a_member_behind_the_others_never_makes_a_contender_create_a_second_key() {
    // Its listing, without the key the contender just created, is checked by
    // a quorum read rather than taken as the key's expiry (which created key
    // after key, as fast as the member answered).
    let t = Instant::now();
    let (mut model, mut behind) = (Model::new(), Model::new());
    // The member has the directory (with a key since gone at the leader), not
    // the contender's key.
    behind.set(&format!("{}/00000000000000000001", dir()), "id-a", None, t);
    let mut m = LockMachine::new(dir(), "id-b", 30);
    let mut sent = Vec::new();
    let step = loop {
        match m.poll(t) {
            LockStep::Send(req) if sent.len() < 20 => {
                let o = through_a_member_behind(&req, &mut model, &mut behind, t, &mut sent);
                m.handle(o, t).unwrap();
            }
            other => break other,
        }
    };
    assert!(
        matches!(step, LockStep::Acquired(_)),
        "{step:?} after {sent:?}"
    );
    assert_eq!(sent, ["create", "list", "list (quorum)"]);
    assert_eq!(model.children(&dir()).len(), 1, "exactly one key");

    // The same when the member has not even seen the directory (a 100).
    let mut m = LockMachine::new("/_locks/fresh", "id-c", 30);
    let mut sent = Vec::new();
    rounds_behind(&mut m, 3, (&mut model, &mut behind), t, &mut sent);
    assert!(matches!(m.poll(t), LockStep::Acquired(_)), "{sent:?}");
    assert_eq!(sent, ["create", "list", "list (quorum)"]);

    // A key really gone (expired) is still found gone: the quorum read says so.
    let mut m = LockMachine::new(dir(), "id-d", 30);
    let mut sent = Vec::new();
    rounds_behind(&mut m, 1, (&mut model, &mut behind), t, &mut sent);
    for key in model.children(&dir()) {
        model.delete(&key);
    }
    rounds_behind(&mut m, 3, (&mut model, &mut behind), t, &mut sent);
    assert_eq!(sent, ["create", "list", "list (quorum)", "create"]);
}

#[test]
fn a_member_behind_the_others_never_makes_a_campaign_spin() {
    // "a" leads; the member "b" talks to has not seen it. The create fails
    // ("already exists", at the leader), the local read says "not found": a
    // quorum read settles it, and "b" waits rather than creating again.
    let t = Instant::now();
    let (mut model, mut behind) = (Model::new(), Model::new());
    model.set("/l", "a", Some(100), t);
    let mut m = LeaderMachine::new("/l", "b", 10);
    let mut sent = Vec::new();
    rounds_behind(&mut m, 4, (&mut model, &mut behind), t, &mut sent);
    assert_eq!(
        sent[..3],
        ["create-key", "list", "list (quorum)"],
        "{sent:?}"
    );
    assert!(sent[3].starts_with("wait /l@"), "{sent:?}");

    // Gone at the quorum too: then it creates.
    model.delete("/l");
    let mut m = LeaderMachine::new("/l2", "c", 10);
    let mut sent = Vec::new();
    model.set("/l2", "a", Some(100), t);
    rounds_behind(&mut m, 2, (&mut model, &mut behind), t, &mut sent);
    model.delete("/l2");
    rounds_behind(&mut m, 2, (&mut model, &mut behind), t, &mut sent);
    assert_eq!(sent, ["create-key", "list", "list (quorum)", "create-key"]);
    assert!(matches!(
        m.poll(t),
        LeaderStep::Elected { renewed: false, .. }
    ));

    // The member still shows our value after the key expired at the leader:
    // the failed renewal is followed by a quorum read, not by renewing again
    // on the member's word.
    model.set("/l3", "d", Some(100), t);
    behind.set("/l3", "d", Some(100), t);
    let mut m = LeaderMachine::new("/l3", "d", 10);
    let mut sent = Vec::new();
    rounds_behind(&mut m, 2, (&mut model, &mut behind), t, &mut sent);
    model.delete("/l3");
    rounds_behind(&mut m, 3, (&mut model, &mut behind), t, &mut sent);
    assert_eq!(
        sent,
        [
            "create-key",
            "list",
            "refresh",
            "list (quorum)",
            "create-key"
        ]
    );
    assert!(matches!(
        m.poll(t),
        LeaderStep::Elected { renewed: false, .. }
    ));
}

#[test]
fn a_wait_behind_a_key_older_than_the_history_starts_from_the_read_and_refusals_and_empty_answers_are_paced(
) {
    // The holder's key last changed over 1000 events ago (etcd keeps 1000): a
    // wait from its modifiedIndex + 1 is refused with errorCode 401, and a
    // machine that then read and waited from the same index again spun, unpaced,
    // until the key changed. The wait starts after the read's X-Etcd-Index, an
    // idle poll moves it on, and a refusal all the same (a cluster making 1000
    // changes within a round trip) reads again only after a pause.
    use etcd_v2::ops::keys::{Wait, WaitOutcome};
    use etcd_v2::ClusterInfo;
    let t = Instant::now();
    let mut model = held_by_another(t);
    model.set("/l", "holder", None, t);
    for i in 0..1100 {
        model.set("/filler", &i.to_string(), None, t);
    }
    let contenders = [
        ("lock", lock("b", 30)),
        (
            "campaign",
            Machine::Leader(LeaderMachine::new("/l", "b", 30)),
        ),
    ];
    for (name, mut m) in contenders {
        // Up to the first wait, answering reads with the store's index as etcd
        // does (the model's own answers leave it out).
        let mut read_at = None;
        let wait = loop {
            match poll(&mut m, t, t) {
                Polled::Send(Request::Wait { wait, .. }) => break wait,
                Polled::Send(Request::Keys(k)) => {
                    let mut answer = model.apply(&k, t);
                    if let (KeysRequest::Get(_), Ok(r)) = (&k, &mut answer) {
                        r.cluster.etcd_index = Some(model.index());
                        read_at = Some(model.index());
                    }
                    handle(&mut m, Outcome::Keys(answer.map(Box::new)), t).unwrap();
                }
                _ => panic!("{name}: no wait"),
            }
        };
        let read_at = read_at.expect("a read before the wait");
        assert_eq!(wait.index(), Some(read_at + 1), "{name}");
        let request = Request::Wait {
            wait: wait.clone(),
            timeout: Duration::from_secs(1),
        };
        assert!(model.run(&request, t).is_none(), "{name}: refused or ended");

        // An idle poll that etcd started at a later index, ended after 5 s,
        // moves the wait on, at once.
        let idle = |at| {
            Outcome::Wait(Ok(WaitOutcome::Idle {
                cluster: ClusterInfo {
                    etcd_index: Some(at),
                    ..ClusterInfo::default()
                },
            }))
        };
        let t1 = t + Duration::from_secs(5);
        handle(&mut m, idle(read_at + 50), t1).unwrap();
        let Polled::Send(Request::Wait { wait: again, .. }) = poll(&mut m, t1, t) else {
            panic!("{name}: no wait after the idle poll");
        };
        assert_eq!(again.index(), Some(read_at + 51), "{name}");
        assert_eq!(again.key(), wait.key(), "{name}");

        // An empty answer at once (etcd gives none; a server that did would
        // be polled without end): the next wait comes after a pause, from the
        // same index when the answer's is older.
        handle(&mut m, idle(read_at), t1).unwrap();
        let Polled::Sleep(at) = poll(&mut m, t1, t) else {
            panic!("{name}: waited again at once after an empty answer at once");
        };
        assert!(at >= t1 + Duration::from_millis(100), "{name}");
        let Polled::Send(Request::Wait { wait: again, .. }) = poll(&mut m, at, t) else {
            panic!("{name}: no wait after the pause");
        };
        assert_eq!(again.index(), Some(read_at + 51), "{name}");

        // A wait refused anyway (as one from the key's own index is): a pause,
        // then a read.
        let old = Request::Wait {
            wait: Wait::new(wait.key()).wait_index(2),
            timeout: Duration::from_secs(1),
        };
        let refused = model.run(&old, at).expect("refused at once");
        assert!(
            matches!(&refused, Outcome::Wait(Err(e)) if e.is_event_index_cleared()),
            "{name}: {refused:?}"
        );
        handle(&mut m, refused, at).unwrap();
        let Polled::Sleep(until) = poll(&mut m, at, t) else {
            panic!("{name}: a refused wait read again at once");
        };
        assert!(until >= at + Duration::from_millis(100), "{name}");
        assert!(
            matches!(
                poll(&mut m, until, t),
                Polled::Send(Request::Keys(KeysRequest::Get(_)))
            ),
            "{name}: no read after the pause"
        );
    }
}

#[test]
fn a_waiters_pauses_never_delay_the_refresh_of_its_key() {
    // A server answering every wait at once with nothing: the pauses grow
    // (100, 200, 400, 800 ms), but the waiter still refreshes its key on time
    // (a third of its 3 s TTL after its create), not after the pause, which
    // could let the key expire and cost it its place.
    use etcd_v2::ops::keys::WaitOutcome;
    use etcd_v2::ClusterInfo;
    let t = Instant::now();
    let mut model = held_by_another(t);
    let mut m = LockMachine::new(dir(), "b", 3);
    loop {
        match m.poll(t) {
            LockStep::Send(Request::Wait { .. }) => break,
            LockStep::Send(Request::Keys(k)) => {
                let answer = model.apply(&k, t).map(Box::new);
                m.handle(Outcome::Keys(answer), t).unwrap();
            }
            other => panic!("{other:?}"),
        }
    }
    let mut now = t;
    let refreshed_at = loop {
        let idle = WaitOutcome::Idle {
            cluster: ClusterInfo::default(),
        };
        m.handle(Outcome::Wait(Ok(idle)), now).unwrap();
        let LockStep::SleepUntil(at) = m.poll(now) else {
            panic!("an empty answer at once was not paced");
        };
        now = at;
        match m.poll(now) {
            LockStep::Send(Request::Wait { .. }) => {}
            LockStep::Send(Request::Keys(KeysRequest::Refresh(_))) => break now,
            other => panic!("{other:?}"),
        }
        assert!(now < t + Duration::from_secs(5), "no refresh");
    };
    assert_eq!(refreshed_at, t + Duration::from_secs(1));
}

#[test]
fn an_acquisition_abandoned_while_it_gives_up_still_removes_its_key() {
    let t = Instant::now();
    let deadline = t + Duration::from_secs(1);
    let mut model = Model::new();
    model.set(&format!("{}/00000000000000000001", dir()), "other", None, t);
    let mut m = LockMachine::new(dir(), "id-gone", 30).deadline(Some(deadline));
    for expected in ["create", "list"] {
        let LockStep::Send(req) = m.poll(t) else {
            panic!()
        };
        assert_eq!(describe(&req), expected);
        let o = model.run(&req, t).unwrap();
        m.handle(o, t).unwrap();
    }
    let LockStep::Send(wait) = m.poll(t) else {
        panic!()
    };
    assert!(describe(&wait).starts_with("wait"));
    m.handle(poll_timeout(), deadline).unwrap();
    // Past the deadline it gives up: its delete is on its way when the
    // driver abandons the acquisition (an async acquire_timeout dropped).
    let LockStep::Send(delete) = m.poll(deadline) else {
        panic!()
    };
    assert_eq!(describe(&delete), "delete");
    let (sent, released) = settle_machine(&mut m.abandoned(), &mut model, deadline);
    assert_eq!(sent, ["delete"]);
    assert!(released.unwrap().unwrap(), "the key was deleted");
    assert_eq!(
        model.children(&dir()).len(),
        1,
        "only the other holder's key"
    );
}
