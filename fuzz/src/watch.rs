//! The watch state machine against a faithful model of etcd's event history,
//! driven by arbitrary writes, outcomes, faults and time steps.
//!
//! Every answer is an HTTP response parsed by the operation's real parser (or a
//! transport failure), as a client would hand it over. Faults: idle polls
//! (with etcd's `X-Etcd-Index`: the index the watch began at, before any
//! matching event it would have answered with),
//! long-poll timeouts, refused connections, 5xx pages, undecodable bodies,
//! errorCode 401 (the model keeps a small history window), replays of events
//! older than asked for (a lagging member), stale snapshots, abandoned requests
//! (a dropped async future), outcomes of the wrong kind, and the occasional
//! fatal error.
//!
//! Invariants:
//! - at most one request in flight: `poll` never asks for a second request
//!   before the first one's outcome is handed over;
//! - no index reported twice: change indexes strictly increase, and a resync's
//!   index is never below what was reported before it; changes after a resync
//!   are above its index;
//! - nothing is lost: once the watcher has caught up, every matching event from
//!   the start index on was reported, or is covered by a resync.

use std::time::{Duration, Instant};

use etcd_v2::watch::{Outcome, Request, Step, WatchEvent, Watcher};
use etcd_v2::{Error, Operation, TransportError, TransportErrorKind};

use super::bytes::Bytes;

const KEYS: [&str; 5] = ["/w/a", "/w/b/c", "/w/_h", "/x", "/w"];

#[derive(Debug, Clone)]
struct Event {
    key: &'static str,
    index: u64,
    action: &'static str,
}

/// A faithful server: the event history (etcd keeps a bounded window) and the
/// store index.
struct History {
    events: Vec<Event>,
    index: u64,
    window: usize,
}

impl History {
    fn write(&mut self, key: &'static str, action: &'static str) {
        self.index += 1;
        self.events.push(Event {
            key,
            index: self.index,
            action,
        });
    }

    /// The oldest index a wait may still ask for (etcd's `StartIndex`).
    fn start_index(&self) -> u64 {
        if self.events.len() > self.window {
            self.events[self.events.len() - self.window].index
        } else {
            0
        }
    }
}

fn matches(watched: &str, recursive: bool, key: &str) -> bool {
    key == watched || (recursive && key.starts_with(&format!("{watched}/")))
}

fn response(status: u16, index: u64, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("X-Etcd-Index", index.to_string())
        .body(body.as_bytes().to_vec())
        .expect("a valid response")
}

fn event_json(e: &Event) -> String {
    let value = if e.action == "set" {
        format!(r#","value":"v{}""#, e.index)
    } else {
        String::new()
    };
    format!(
        r#"{{"action":"{}","node":{{"key":"{}"{value},"modifiedIndex":{},"createdIndex":{}}}}}"#,
        e.action, e.key, e.index, e.index
    )
}

fn etcd_error(code: u16, status: u16, index: u64, message: &str) -> http::Response<Vec<u8>> {
    let body =
        format!(r#"{{"errorCode":{code},"message":"{message}","cause":"fuzz","index":{index}}}"#);
    response(status, index, &body)
}

fn transport(kind: TransportErrorKind) -> Error {
    Error::Transport {
        endpoint: "http://model:2379".into(),
        source: TransportError::new(kind, "injected"),
    }
}

struct Harness {
    key: &'static str,
    recursive: bool,
    /// Whether 401 may give a resync (else it ends the watch, or the watch
    /// goes on when the key shows nothing was lost).
    resync: bool,
    history: History,
    watcher: Watcher,
    in_flight: Option<Request>,
    now: Instant,
    /// The first index the watch covers, once known.
    start: Option<u64>,
    changes: Vec<u64>,
    last: Option<u64>,
    resynced_to: Option<u64>,
    over: bool,
}

impl Harness {
    /// The faithful answer to the request in flight, or `None` while a wait has
    /// nothing to report yet.
    fn answer(&mut self, request: &Request) -> Option<Outcome> {
        let h = &self.history;
        match request {
            Request::CurrentIndex(op) => {
                Some(Outcome::CurrentIndex(op.parse(response(200, h.index, ""))))
            }
            Request::Wait(wait) => {
                let from = wait.index().expect("every wait has an index");
                if from < h.start_index() {
                    let r = etcd_error(
                        401,
                        400,
                        h.index,
                        "The event in requested index is outdated and cleared",
                    );
                    return Some(Outcome::Wait(wait.parse(r)));
                }
                let event = h
                    .events
                    .iter()
                    .find(|e| e.index >= from && matches(self.key, self.recursive, e.key))?;
                Some(Outcome::Wait(wait.parse(response(
                    200,
                    h.index,
                    &event_json(event),
                ))))
            }
            Request::Snapshot(get) => Some(Outcome::Snapshot(self.snapshot(get, h.index))),
        }
    }

    fn snapshot(
        &self,
        get: &etcd_v2::ops::keys::Get,
        at: u64,
    ) -> Result<Box<etcd_v2::KeysResponse>, Error> {
        let h = &self.history;
        let last = h
            .events
            .iter()
            .rev()
            .find(|e| e.index <= at && matches(self.key, self.recursive, e.key));
        // A recursive watch reads its directory (whose own index the model
        // does not keep: the last change below it stands in, which makes its
        // snapshot look newer, never older); a watched file is there with
        // its last change's index, or gone after a delete or an expiry.
        let r = match last {
            None => etcd_error(100, 404, at, "Key not found"),
            Some(e) if !self.recursive && e.action != "set" => {
                etcd_error(100, 404, at, "Key not found")
            }
            Some(e) if !self.recursive => {
                let body = format!(
                    r#"{{"action":"get","node":{{"key":"{}","value":"v{}","modifiedIndex":{},"createdIndex":{}}}}}"#,
                    self.key, e.index, e.index, e.index
                );
                response(200, at, &body)
            }
            Some(e) => {
                let body = format!(
                    r#"{{"action":"get","node":{{"key":"{}","dir":true,"modifiedIndex":{},"createdIndex":1}}}}"#,
                    self.key, e.index
                );
                response(200, at, &body)
            }
        };
        get.parse(r).map(Box::new)
    }

    /// The `X-Etcd-Index` of an empty answer to `request`, as etcd gives it:
    /// the store index its watch began at. A wait that found a matching event
    /// at or after its index by then answers with it, so it began before the
    /// first such event; `back` steps further back (a member behind the others
    /// began it at its own, older index).
    fn idle_index(&self, request: &Request, back: u8) -> u64 {
        let h = &self.history;
        let Request::Wait(wait) = request else {
            return h.index;
        };
        let from = wait.index().unwrap_or(h.index + 1);
        let latest = h
            .events
            .iter()
            .find(|e| e.index >= from && matches(self.key, self.recursive, e.key))
            .map_or(h.index, |e| e.index - 1)
            .min(h.index);
        latest.saturating_sub(u64::from(back % 4))
    }

    /// A fault (or a faithful answer) for the request in flight, chosen by `b`.
    fn outcome(&mut self, request: &Request, b: &mut Bytes) -> Option<Outcome> {
        let choice = b.byte();
        let index = self.history.index;
        let failure = |e: Error| match request {
            Request::CurrentIndex(_) => Outcome::CurrentIndex(Err(e)),
            Request::Wait(_) => Outcome::Wait(Err(e)),
            Request::Snapshot(_) => Outcome::Snapshot(Err(e)),
        };
        let parsed = |r: http::Response<Vec<u8>>| match request {
            Request::CurrentIndex(op) => Outcome::CurrentIndex(op.parse(r)),
            Request::Wait(op) => Outcome::Wait(op.parse(r)),
            Request::Snapshot(op) => Outcome::Snapshot(op.parse(r).map(Box::new)),
        };
        Some(match choice % 16 {
            0..=6 => return self.answer(request),
            7 => parsed(response(200, self.idle_index(request, b.byte()), "")),
            8 => failure(transport(TransportErrorKind::Timeout)),
            9 => failure(transport(TransportErrorKind::Connect)),
            10 => parsed(response(502, index, "<html>bad gateway</html>")),
            11 => parsed(response(200, index, "{\"action\":\"get\",\"node\":")),
            // etcd clears history only behind its current index (a restarted
            // member has none at all); a wait for the future never gets 401.
            12 if !matches!(request, Request::Wait(w) if w.index() > Some(index)) => {
                parsed(etcd_error(
                    401,
                    400,
                    index,
                    "The event in requested index is outdated and cleared",
                ))
            }
            13 => {
                match request {
                    // A lagging member replays an event older than asked for.
                    Request::Wait(wait) => {
                        let from = wait.index().unwrap_or(0);
                        let old =
                            self.history.events.iter().rev().find(|e| {
                                e.index < from && matches(self.key, self.recursive, e.key)
                            });
                        match old {
                            Some(e) => parsed(response(200, index, &event_json(e))),
                            None => parsed(response(200, self.idle_index(request, b.byte()), "")),
                        }
                    }
                    // A lagging member answers a snapshot from an older index.
                    Request::Snapshot(get) => {
                        let at = u64::from(b.byte()) % (index + 1);
                        Outcome::Snapshot(self.snapshot(get, at))
                    }
                    Request::CurrentIndex(_) => failure(transport(TransportErrorKind::Io)),
                }
            }
            14 => failure(Error::OutcomeUnknown {
                source: Box::new(transport(TransportErrorKind::Io)),
            }),
            _ if choice == 255 => {
                // A fatal error: the watch ends.
                parsed(etcd_error(
                    110,
                    401,
                    index,
                    "The request requires user authentication",
                ))
            }
            _ => parsed(response(503, index, "")),
        })
    }

    fn emitted(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Change(change) => {
                let i = change.node.modified_index;
                if let Some(last) = self.last {
                    assert!(i > last, "index {i} reported after {last}");
                }
                if let Some(start) = self.start {
                    assert!(i >= start, "index {i} is before the start {start}");
                }
                assert!(
                    self.history.events.iter().any(|e| e.index == i
                        && e.key == change.node.key
                        && matches(self.key, self.recursive, e.key)),
                    "index {i} ({}) is not a matching event",
                    change.node.key
                );
                self.changes.push(i);
                self.last = Some(i);
            }
            WatchEvent::Resync { index, .. } => {
                assert!(self.resync, "a resync was reported with resync off");
                if let Some(last) = self.last {
                    assert!(
                        index >= last,
                        "a resync to {index} after {last} was reported"
                    );
                }
                assert!(index <= self.history.index, "a resync from the future");
                self.resynced_to = Some(index);
                self.start.get_or_insert(index + 1);
                self.last = Some(index);
            }
        }
    }

    /// Poll once and act on the step.
    fn poll(&mut self) {
        match self.watcher.poll(self.now) {
            Step::Send(request) => {
                assert!(
                    self.in_flight.is_none(),
                    "a second request ({request:?}) while {:?} is in flight",
                    self.in_flight
                );
                self.in_flight = Some(request);
            }
            Step::Emit(event) => self.emitted(event),
            Step::SleepUntil(at) => {
                assert!(at > self.now, "a sleep into the past");
                assert!(at - self.now <= Duration::from_secs(5), "backoff above 5 s");
                self.now = at;
            }
            Step::Failed(Error::Misuse(m)) => {
                assert!(
                    self.in_flight.is_some(),
                    "misuse reported without misuse: {m}"
                );
            }
            Step::Failed(_) | Step::Finished => self.over = true,
        }
    }

    fn deliver(&mut self, outcome: Outcome) {
        if let Outcome::CurrentIndex(Ok(index)) = &outcome {
            // A watch from "now" covers what comes after the index it read.
            self.start.get_or_insert(index + 1);
        }
        let handled = self.watcher.handle(outcome, self.now);
        assert!(handled.is_ok(), "{handled:?}");
        self.in_flight = None;
    }
}

/// The harness.
pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let config = b.byte();
    let recursive = config & 1 == 0;
    let key = if recursive { "/w" } else { "/w/a" };
    let mut history = History {
        events: Vec::new(),
        index: u64::from(b.below(50)),
        window: 1 + usize::from((config >> 1) % 8),
    };
    for _ in 0..b.below(6) {
        history.write(KEYS[usize::from(b.below(5))], "set");
    }
    let resync = config & 0x80 == 0;
    let mut watcher = Watcher::new(key, recursive).resync_on_cleared_history(resync);
    let mut start = None;
    if b.byte() & 1 == 1 {
        let from = 1 + u64::from(b.byte()) % (history.index + 3);
        watcher = watcher.from_index(from);
        start = Some(from);
    }
    let mut h = Harness {
        key,
        recursive,
        resync,
        history,
        watcher,
        in_flight: None,
        now: Instant::now(),
        start,
        changes: Vec::new(),
        last: None,
        resynced_to: None,
        over: false,
    };

    while !b.done() && !h.over {
        match b.below(10) {
            0 | 1 => {
                let key = KEYS[usize::from(b.below(5))];
                let action = ["set", "delete", "expire"][usize::from(b.below(3))];
                h.history.write(key, action);
            }
            2..=5 => match h.in_flight.clone() {
                Some(request) => {
                    if let Some(outcome) = h.outcome(&request, &mut b) {
                        h.deliver(outcome);
                    }
                }
                None => h.poll(),
            },
            6 => h.now += Duration::from_millis(u64::from(b.u16())),
            // Polling out of turn never yields a second request.
            7 => h.poll(),
            // An async driver dropped its future: the outcome never arrives.
            8 => {
                h.watcher.cancel_in_flight();
                h.in_flight = None;
            }
            // An outcome of the wrong kind (or with nothing in flight) is refused
            // and changes nothing.
            _ => {
                let wrong = match h.in_flight {
                    Some(Request::Wait(_)) => Outcome::CurrentIndex(Ok(1)),
                    _ => Outcome::Wait(Err(transport(TransportErrorKind::Connect))),
                };
                let refused = h.watcher.handle(wrong, h.now);
                assert!(matches!(refused, Err(Error::Misuse(_))), "{refused:?}");
            }
        }
    }

    // Catch up with faithful answers only; then nothing may be missing.
    if h.over {
        return;
    }
    for _ in 0..100_000 {
        match h.in_flight.clone() {
            Some(request) => match h.answer(&request) {
                Some(outcome) => h.deliver(outcome),
                None => break, // a wait with nothing newer: caught up
            },
            None => {
                h.poll();
                if h.over {
                    return;
                }
            }
        }
    }
    // Caught up: a wait with no matching event at or after its index.
    assert!(
        matches!(h.in_flight, Some(Request::Wait(_))),
        "the watcher did not settle on a wait: {:?}",
        h.in_flight
    );
    let start = h.start.expect("the start is known once a wait is issued");
    for e in &h.history.events {
        if e.index >= start && matches(h.key, h.recursive, e.key) {
            let covered = h.resynced_to.is_some_and(|r| e.index <= r);
            assert!(
                covered || h.changes.contains(&e.index),
                "event {e:?} was lost (start {start}, reported {:?}, resync {:?})",
                h.changes,
                h.resynced_to
            );
        }
    }
}
