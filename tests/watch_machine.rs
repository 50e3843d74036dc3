//! Transcripts of the watcher state machine on virtual time: each rule as a
//! scripted exchange of requests, outcomes and time steps. No network.

use std::time::{Duration, Instant};

use etcd_v2::ops::keys::WaitOutcome;
use etcd_v2::response::parse_keys;
use etcd_v2::watch::{Outcome, Request, Step, WatchEvent, Watcher};
use etcd_v2::{ClusterInfo, Error, TransportError, TransportErrorKind};

fn response(status: u16, index: u64, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("X-Etcd-Index", index.to_string())
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn change(key: &str, index: u64) -> Outcome {
    let body = format!(
        r#"{{"action":"set","node":{{"key":"{key}","value":"v{index}","modifiedIndex":{index},"createdIndex":{index}}}}}"#
    );
    Outcome::Wait(Ok(WaitOutcome::Event(Box::new(
        parse_keys(&response(200, index, &body)).unwrap(),
    ))))
}

fn idle() -> Outcome {
    Outcome::Wait(Ok(WaitOutcome::Idle {
        cluster: ClusterInfo::default(),
    }))
}

fn wait_err(e: Error) -> Outcome {
    Outcome::Wait(Err(e))
}

fn etcd_error(code: u16, status: u16, index: u64) -> Error {
    let body = format!(r#"{{"errorCode":{code},"message":"m","cause":"c","index":{index}}}"#);
    parse_keys(&response(status, index, &body)).unwrap_err()
}

fn transport(kind: TransportErrorKind) -> Error {
    Error::Transport {
        endpoint: "http://a:2379".into(),
        source: TransportError::new(kind, "scripted"),
    }
}

/// Poll and expect a wait at `index`.
fn expect_wait(w: &mut Watcher, now: Instant, index: u64, recursive: bool) {
    match w.poll(now) {
        Step::Send(Request::Wait(wait)) => {
            assert_eq!(wait.index(), Some(index));
            assert_eq!(wait.is_recursive(), recursive);
        }
        other => panic!("expected a wait at {index}, got {other:?}"),
    }
}

fn expect_change(w: &mut Watcher, now: Instant, index: u64) {
    match w.poll(now) {
        Step::Emit(WatchEvent::Change(c)) => assert_eq!(c.node.modified_index, index),
        other => panic!("expected change {index}, got {other:?}"),
    }
}

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn from_now_reads_the_store_index_then_waits_from_the_next() {
    let t = Instant::now();
    let mut w = Watcher::new("/k", false);
    match w.poll(t) {
        Step::Send(Request::CurrentIndex(_)) => {}
        other => panic!("{other:?}"),
    }
    w.handle(Outcome::CurrentIndex(Ok(41)), t).unwrap();
    expect_wait(&mut w, t, 42, false);
}

#[test]
fn from_an_index_waits_there_directly() {
    let t = Instant::now();
    let mut w = Watcher::new("/dir", true).from_index(7);
    expect_wait(&mut w, t, 7, true);
}

#[test]
fn after_each_event_the_next_wait_is_its_index_plus_one() {
    let t = Instant::now();
    let mut w = Watcher::new("/dir", true).from_index(7);
    let mut asked_for = Vec::new();
    for index in [9, 10, 15] {
        asked_for.push(w.next_index().unwrap());
        let asked = w.next_index().unwrap();
        expect_wait(&mut w, t, asked, true);
        w.handle(change("/dir/x", index), t).unwrap();
        expect_change(&mut w, t, index);
        assert_eq!(w.next_index(), Some(index + 1));
    }
    assert_eq!(asked_for, [7, 10, 11]);
    expect_wait(&mut w, t, 16, true);
}

#[test]
fn an_empty_answer_or_a_poll_timeout_re_issues_at_once_at_the_same_index() {
    let t = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(5);
    expect_wait(&mut w, t, 5, false);
    let t1 = ms(t, 30_000);
    w.handle(idle(), t1).unwrap();
    expect_wait(&mut w, t1, 5, false);
    let t2 = ms(t, 60_000);
    w.handle(wait_err(transport(TransportErrorKind::Timeout)), t2)
        .unwrap();
    expect_wait(&mut w, t2, 5, false);
}

fn idle_at(index: u64) -> Outcome {
    Outcome::Wait(Ok(WaitOutcome::Idle {
        cluster: ClusterInfo {
            etcd_index: Some(index),
            ..ClusterInfo::default()
        },
    }))
}

#[test]
fn an_empty_answer_moves_the_wait_on_to_where_etcd_began_it() {
    // etcd had no event for the key from the wait's index up to the index it
    // began the watch at (X-Etcd-Index): the next wait starts after that, so
    // a quiet key on a busy cluster never falls out of the 1000-event history
    // (which made the watch resync, or end without resync).
    let t = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(5);
    expect_wait(&mut w, t, 5, false);
    let t1 = ms(t, 30_000);
    w.handle(idle_at(5000), t1).unwrap();
    expect_wait(&mut w, t1, 5001, false);
    // Never backwards (a member behind the others answering next).
    let t2 = ms(t, 60_000);
    w.handle(idle_at(4000), t2).unwrap();
    expect_wait(&mut w, t2, 5001, false);
    // An event after it is reported.
    w.handle(change("/k", 5001), t2).unwrap();
    expect_change(&mut w, t2, 5001);
    expect_wait(&mut w, t2, 5002, false);
}

#[test]
fn empty_answers_at_once_are_paced_and_keep_the_index() {
    // etcd ends an idle wait only when it drops the watch; a server answering
    // every wait at once with nothing gets the backoff, not a loop. Such an
    // answer is no idle watch (etcd's v2-on-v3 emulation gives one, with the
    // current index, for an index compacted away): the index stays.
    let t = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(5);
    expect_wait(&mut w, t, 5, false);
    w.handle(idle_at(7), ms(t, 10)).unwrap();
    assert!(matches!(w.poll(ms(t, 10)), Step::SleepUntil(at) if at == ms(t, 110)));
    expect_wait(&mut w, ms(t, 110), 5, false);
    w.handle(idle_at(7), ms(t, 120)).unwrap();
    assert!(matches!(w.poll(ms(t, 120)), Step::SleepUntil(at) if at == ms(t, 320)));
    expect_wait(&mut w, ms(t, 320), 5, false);
    // A replayed event at once (older than asked for) is paced alike.
    w.handle(change("/k", 4), ms(t, 330)).unwrap();
    assert!(matches!(w.poll(ms(t, 330)), Step::SleepUntil(at) if at == ms(t, 730)));
    expect_wait(&mut w, ms(t, 730), 5, false);
    w.handle(change("/k", 9), ms(t, 330)).unwrap();
    expect_change(&mut w, ms(t, 330), 9);
    expect_wait(&mut w, ms(t, 330), 10, false);
    w.handle(idle_at(9), ms(t, 340)).unwrap();
    assert!(matches!(w.poll(ms(t, 340)), Step::SleepUntil(at) if at == ms(t, 440)));
}

#[test]
fn a_directory_is_resynced_even_when_its_index_is_older() {
    // Updating a directory's TTL is an event for a watcher of the directory
    // that leaves its modifiedIndex as it was: a directory's snapshot proves
    // nothing, so a 401 on it resyncs.
    let t = Instant::now();
    let mut w = Watcher::new("/d", false).from_index(10);
    expect_wait(&mut w, t, 10, false);
    w.handle(wait_err(etcd_error(401, 400, 2000)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    let body = r#"{"action":"get","node":{"key":"/d","dir":true,"ttl":60,"expiration":"2030-01-01T00:00:00Z","modifiedIndex":5,"createdIndex":5}}"#;
    w.handle(
        Outcome::Snapshot(parse_keys(&response(200, 2000, body)).map(Box::new)),
        t,
    )
    .unwrap();
    assert!(matches!(
        w.poll(t),
        Step::Emit(WatchEvent::Resync {
            index: 2000,
            snapshot: Some(_)
        })
    ));
}

#[test]
fn a_history_cleared_again_right_after_a_resync_is_read_again_after_a_pause() {
    // A cluster making over 1000 changes in a round trip: the wait after a
    // resync is refused again. The next snapshot comes after a backoff that
    // grows until a wait works, not at once, round after round.
    let t = Instant::now();
    let mut w = Watcher::new("/k", true).from_index(10);
    let snapshot = |index: u64| {
        let body = r#"{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":3,"createdIndex":3}}"#;
        Outcome::Snapshot(parse_keys(&response(200, index, body)).map(Box::new))
    };
    expect_wait(&mut w, t, 10, true);
    // The first refusal: read at once.
    w.handle(wait_err(etcd_error(401, 400, 2000)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(snapshot(2000), t).unwrap();
    assert!(matches!(
        w.poll(t),
        Step::Emit(WatchEvent::Resync { index: 2000, .. })
    ));
    expect_wait(&mut w, t, 2001, true);
    // Refused again before any wait worked: after 100 ms, then 200 ms.
    w.handle(wait_err(etcd_error(401, 400, 3100)), t).unwrap();
    assert!(matches!(w.poll(t), Step::SleepUntil(at) if at == ms(t, 100)));
    assert!(matches!(
        w.poll(ms(t, 100)),
        Step::Send(Request::Snapshot(_))
    ));
    w.handle(snapshot(3100), ms(t, 100)).unwrap();
    assert!(matches!(
        w.poll(ms(t, 100)),
        Step::Emit(WatchEvent::Resync { index: 3100, .. })
    ));
    expect_wait(&mut w, ms(t, 100), 3101, true);
    w.handle(wait_err(etcd_error(401, 400, 4200)), ms(t, 100))
        .unwrap();
    assert!(matches!(w.poll(ms(t, 100)), Step::SleepUntil(at) if at == ms(t, 300)));
    // Once a wait works, a later refusal is read at once again.
    assert!(matches!(
        w.poll(ms(t, 300)),
        Step::Send(Request::Snapshot(_))
    ));
    w.handle(snapshot(4200), ms(t, 300)).unwrap();
    assert!(matches!(
        w.poll(ms(t, 300)),
        Step::Emit(WatchEvent::Resync { .. })
    ));
    expect_wait(&mut w, ms(t, 300), 4201, true);
    w.handle(change("/k", 4201), ms(t, 300)).unwrap();
    expect_change(&mut w, ms(t, 300), 4201);
    expect_wait(&mut w, ms(t, 300), 4202, true);
    w.handle(wait_err(etcd_error(401, 400, 6000)), ms(t, 300))
        .unwrap();
    assert!(matches!(
        w.poll(ms(t, 300)),
        Step::Send(Request::Snapshot(_))
    ));
}

#[test]
fn a_key_unchanged_since_the_refused_wait_is_followed_without_a_resync() {
    // A quiet key on a busy cluster: the wait after a long-poll timeout is
    // refused (401). The key is there, last changed before the index the wait
    // asked for, so no event was lost: no resync, and the watch goes on from
    // the snapshot's index.
    let t = Instant::now();
    let got = |modified: u64, at: u64| {
        let body = format!(
            r#"{{"action":"get","node":{{"key":"/k","value":"v","modifiedIndex":{modified},"createdIndex":3}}}}"#
        );
        Outcome::Snapshot(parse_keys(&response(200, at, &body)).map(Box::new))
    };
    let mut w = Watcher::new("/k", false).from_index(10);
    expect_wait(&mut w, t, 10, false);
    w.handle(
        wait_err(transport(TransportErrorKind::Timeout)),
        ms(t, 60_000),
    )
    .unwrap();
    expect_wait(&mut w, ms(t, 60_000), 10, false);
    w.handle(wait_err(etcd_error(401, 400, 2000)), ms(t, 60_000))
        .unwrap();
    assert!(matches!(
        w.poll(ms(t, 60_000)),
        Step::Send(Request::Snapshot(_))
    ));
    w.handle(got(9, 2000), ms(t, 60_000)).unwrap();
    expect_wait(&mut w, ms(t, 60_000), 2001, false);
    w.handle(change("/k", 2005), ms(t, 60_000)).unwrap();
    expect_change(&mut w, ms(t, 60_000), 2005);

    // Changed at or after the index waited from: a change may be lost.
    let mut w = Watcher::new("/k", false).from_index(10);
    expect_wait(&mut w, t, 10, false);
    w.handle(wait_err(etcd_error(401, 400, 2000)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(got(10, 2000), t).unwrap();
    assert!(matches!(
        w.poll(t),
        Step::Emit(WatchEvent::Resync {
            index: 2000,
            snapshot: Some(_)
        })
    ));
    expect_wait(&mut w, t, 2001, false);

    // Gone: it may have been created and deleted in between.
    let mut w = Watcher::new("/k", false).from_index(10);
    expect_wait(&mut w, t, 10, false);
    w.handle(wait_err(etcd_error(401, 400, 2000)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(Outcome::Snapshot(Err(etcd_error(100, 404, 2000))), t)
        .unwrap();
    assert!(matches!(
        w.poll(t),
        Step::Emit(WatchEvent::Resync {
            index: 2000,
            snapshot: None
        })
    ));

    // A recursive watch cannot tell (a child deleted in between leaves no
    // trace): it resyncs.
    let mut w = Watcher::new("/k", true).from_index(10);
    expect_wait(&mut w, t, 10, true);
    w.handle(wait_err(etcd_error(401, 400, 2000)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(got(9, 2000), t).unwrap();
    assert!(matches!(
        w.poll(t),
        Step::Emit(WatchEvent::Resync { index: 2000, .. })
    ));
}

#[test]
fn indexes_at_the_top_of_the_range_end_nothing_in_a_panic() {
    let t = Instant::now();
    let mut w = Watcher::new("/k", false);
    assert!(matches!(w.poll(t), Step::Send(Request::CurrentIndex(_))));
    w.handle(Outcome::CurrentIndex(Ok(u64::MAX)), t).unwrap();
    expect_wait(&mut w, t, u64::MAX, false);
    w.handle(change("/k", u64::MAX), t).unwrap();
    expect_change(&mut w, t, u64::MAX);
    expect_wait(&mut w, t, u64::MAX, false);
    w.handle(idle_at(u64::MAX), ms(t, 30_000)).unwrap();
    expect_wait(&mut w, ms(t, 30_000), u64::MAX, false);
}

#[test]
fn a_transport_failure_re_issues_at_the_same_index_after_a_backoff() {
    let t0 = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(5);
    let mut now = t0;
    let mut backoffs = Vec::new();
    for kind in [
        TransportErrorKind::Connect,
        TransportErrorKind::Io,
        TransportErrorKind::Other,
    ] {
        expect_wait(&mut w, now, 5, false);
        w.handle(wait_err(transport(kind)), now).unwrap();
        let Step::SleepUntil(at) = w.poll(now) else {
            panic!()
        };
        // The clock not moving changes nothing: still sleeping, nothing sent.
        assert!(matches!(w.poll(now), Step::SleepUntil(a) if a == at));
        backoffs.push(at - now);
        now = at;
    }
    assert_eq!(
        backoffs,
        [
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400)
        ]
    );
    // Every endpoint down, a 5xx: also transient.
    expect_wait(&mut w, now, 5, false);
    w.handle(wait_err(etcd_error(300, 500, 0)), now).unwrap();
    let Step::SleepUntil(at) = w.poll(now) else {
        panic!()
    };
    assert_eq!(at - now, Duration::from_millis(800));
    now = at;
    expect_wait(&mut w, now, 5, false);
    w.handle(
        wait_err(Error::AllEndpointsFailed { failures: vec![] }),
        now,
    )
    .unwrap();
    let Step::SleepUntil(at) = w.poll(now) else {
        panic!()
    };
    now = at;
    // Success resets the backoff.
    expect_wait(&mut w, now, 5, false);
    w.handle(change("/k", 6), now).unwrap();
    expect_change(&mut w, now, 6);
    expect_wait(&mut w, now, 7, false);
    w.handle(wait_err(transport(TransportErrorKind::Connect)), now)
        .unwrap();
    let Step::SleepUntil(at) = w.poll(now) else {
        panic!()
    };
    assert_eq!(at - now, Duration::from_millis(100));
}

#[test]
fn the_backoff_is_capped() {
    let mut now = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(1);
    let mut last = Duration::ZERO;
    for _ in 0..12 {
        expect_wait(&mut w, now, 1, false);
        w.handle(wait_err(transport(TransportErrorKind::Connect)), now)
            .unwrap();
        let Step::SleepUntil(at) = w.poll(now) else {
            panic!()
        };
        last = at - now;
        now = at;
    }
    assert_eq!(last, Duration::from_secs(5));
}

#[test]
fn history_cleared_gives_one_resync_and_continues_after_it() {
    let t = Instant::now();
    let mut w = Watcher::new("/dir", true).from_index(10);
    expect_wait(&mut w, t, 10, true);
    w.handle(wait_err(etcd_error(401, 400, 2500)), t).unwrap();
    let get = match w.poll(t) {
        Step::Send(Request::Snapshot(get)) => get,
        other => panic!("{other:?}"),
    };
    let req =
        etcd_v2::Operation::build(&get, &etcd_v2::Endpoint::parse("http://a:1").unwrap()).unwrap();
    assert_eq!(
        req.uri().query(),
        Some("recursive=true&sorted=true&quorum=true"),
        "a recursive snapshot that no lagging member can answer"
    );
    let snapshot = r#"{"action":"get","node":{"key":"/dir","dir":true,"nodes":[{"key":"/dir/a","value":"1","modifiedIndex":2400,"createdIndex":3}],"modifiedIndex":3,"createdIndex":3}}"#;
    w.handle(
        Outcome::Snapshot(parse_keys(&response(200, 2500, snapshot)).map(Box::new)),
        t,
    )
    .unwrap();
    match w.poll(t) {
        Step::Emit(WatchEvent::Resync {
            snapshot: Some(s),
            index: 2500,
        }) => assert_eq!(s.children().len(), 1),
        other => panic!("{other:?}"),
    }
    expect_wait(&mut w, t, 2501, true);
    // Anything at or below the resync index is never reported.
    let later = ms(t, 2_000);
    w.handle(change("/dir/a", 2500), later).unwrap();
    expect_wait(&mut w, later, 2501, true);
    w.handle(change("/dir/a", 2501), later).unwrap();
    expect_change(&mut w, later, 2501);
}

#[test]
fn a_resync_of_a_missing_key_carries_no_snapshot() {
    let t = Instant::now();
    let mut w = Watcher::new("/gone", false).from_index(3);
    expect_wait(&mut w, t, 3, false);
    w.handle(wait_err(etcd_error(401, 400, 1500)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(Outcome::Snapshot(Err(etcd_error(100, 404, 1600))), t)
        .unwrap();
    match w.poll(t) {
        Step::Emit(WatchEvent::Resync {
            snapshot: None,
            index: 1600,
        }) => {}
        other => panic!("{other:?}"),
    }
    expect_wait(&mut w, t, 1601, false);
}

#[test]
fn a_failed_snapshot_is_retried_after_a_backoff() {
    let t = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(3);
    expect_wait(&mut w, t, 3, false);
    w.handle(wait_err(etcd_error(401, 400, 1500)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(
        Outcome::Snapshot(Err(transport(TransportErrorKind::Connect))),
        t,
    )
    .unwrap();
    let Step::SleepUntil(at) = w.poll(t) else {
        panic!()
    };
    assert!(matches!(w.poll(at), Step::Send(Request::Snapshot(_))));
}

#[test]
fn a_stale_snapshot_never_takes_the_watch_back() {
    // Found by the watch fuzzer: a watch from "now" (index 37) got errorCode 401
    // and then a snapshot from a lagging member at 34; it resumed from 35 and
    // reported index 37, which precedes its start.
    let t = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(38);
    expect_wait(&mut w, t, 38, false);
    w.handle(wait_err(etcd_error(401, 400, 37)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(Outcome::Snapshot(Err(etcd_error(100, 404, 34))), t)
        .unwrap();
    // Read again after a pause, not a resync to 34.
    let Step::SleepUntil(at) = w.poll(t) else {
        panic!("a stale snapshot was accepted")
    };
    assert!(matches!(w.poll(at), Step::Send(Request::Snapshot(_))));
    w.handle(Outcome::Snapshot(Err(etcd_error(100, 404, 40))), at)
        .unwrap();
    match w.poll(at) {
        Step::Emit(WatchEvent::Resync {
            snapshot: None,
            index: 40,
        }) => {}
        other => panic!("{other:?}"),
    }
    expect_wait(&mut w, at, 41, false);
}

#[test]
fn without_resync_a_cleared_history_ends_the_watch() {
    let t = Instant::now();
    let mut w = Watcher::new("/k", false)
        .from_index(3)
        .resync_on_cleared_history(false);
    expect_wait(&mut w, t, 3, false);
    w.handle(wait_err(etcd_error(401, 400, 1500)), t).unwrap();
    match w.poll(t) {
        Step::Failed(e) => assert!(e.is_event_index_cleared()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(w.poll(t), Step::Finished));
}

#[test]
fn without_resync_a_later_wait_refused_on_an_unchanged_key_goes_on() {
    // etcdctl's watch (this crate's CLI) has no resync: a 401 ends it. Its
    // first wait from an index etcd has dropped still fails at once (above).
    // A later one, refused only because a long-poll timeout left the watch
    // without a wait on a busy cluster, reads the key: unchanged, nothing was
    // lost and the watch goes on; changed, the 401 ends it as before.
    let t = Instant::now();
    let got = |modified: u64, at: u64| {
        let body = format!(
            r#"{{"action":"get","node":{{"key":"/k","value":"v","modifiedIndex":{modified},"createdIndex":3}}}}"#
        );
        Outcome::Snapshot(parse_keys(&response(200, at, &body)).map(Box::new))
    };
    let mut w = Watcher::new("/k", false)
        .from_index(10)
        .resync_on_cleared_history(false);
    expect_wait(&mut w, t, 10, false);
    w.handle(wait_err(transport(TransportErrorKind::Timeout)), t)
        .unwrap();
    expect_wait(&mut w, t, 10, false);
    w.handle(wait_err(etcd_error(401, 400, 2000)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(got(9, 2000), t).unwrap();
    expect_wait(&mut w, t, 2001, false);
    // Refused again after a long poll that ran its course (read at once),
    // the key changed since: the 401 ends the watch.
    let later = ms(t, 60_000);
    w.handle(wait_err(transport(TransportErrorKind::Timeout)), later)
        .unwrap();
    expect_wait(&mut w, later, 2001, false);
    w.handle(wait_err(etcd_error(401, 400, 4000)), later)
        .unwrap();
    let at = later;
    assert!(matches!(w.poll(at), Step::Send(Request::Snapshot(_))));
    w.handle(got(2500, 4000), at).unwrap();
    match w.poll(at) {
        Step::Failed(e) => assert!(e.is_event_index_cleared(), "{e:?}"),
        other => panic!("{other:?}"),
    }

    // From the store index the caller read as "now" (a client's watch
    // without an index), the first wait is checked too: the index is the
    // watcher's own, not one the caller asked for.
    let mut w = Watcher::new("/k", false)
        .after_store_index(9)
        .resync_on_cleared_history(false);
    expect_wait(&mut w, t, 10, false);
    w.handle(wait_err(etcd_error(401, 400, 2000)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Send(Request::Snapshot(_))));
    w.handle(got(9, 2000), t).unwrap();
    expect_wait(&mut w, t, 2001, false);

    // A recursive watch cannot tell: its 401 ends it at once.
    let mut w = Watcher::new("/k", true)
        .from_index(10)
        .resync_on_cleared_history(false);
    expect_wait(&mut w, t, 10, true);
    w.handle(change("/k/a", 12), t).unwrap();
    expect_change(&mut w, t, 12);
    expect_wait(&mut w, t, 13, true);
    w.handle(wait_err(etcd_error(401, 400, 2000)), t).unwrap();
    assert!(matches!(w.poll(t), Step::Failed(e) if e.is_event_index_cleared()));
}

#[test]
fn a_replayed_or_older_event_is_never_reported_twice() {
    let t = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(10);
    expect_wait(&mut w, t, 10, false);
    w.handle(change("/k", 12), t).unwrap();
    expect_change(&mut w, t, 12);
    // A member that replays 12 (after a failover, say) or answers with 11,
    // each after a long poll (one at once is paced: see above).
    let mut now = t;
    for stale in [12, 11, 3] {
        expect_wait(&mut w, now, 13, false);
        now += Duration::from_secs(2);
        w.handle(change("/k", stale), now).unwrap();
    }
    expect_wait(&mut w, now, 13, false);
}

#[test]
fn other_errors_end_the_watch() {
    for err in [
        etcd_error(110, 401, 0),
        etcd_error(104, 400, 5),
        Error::InvalidKey {
            key: "x".into(),
            reason: "r".into(),
        },
    ] {
        let t = Instant::now();
        let mut w = Watcher::new("/k", false).from_index(1);
        expect_wait(&mut w, t, 1, false);
        w.handle(wait_err(err), t).unwrap();
        assert!(matches!(w.poll(t), Step::Failed(_)));
        assert!(matches!(w.poll(t), Step::Finished));
    }
}

#[test]
fn at_most_one_request_is_in_flight_and_misuse_is_an_error() {
    let t = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(1);
    expect_wait(&mut w, t, 1, false);
    // Polling again before handing the outcome back sends nothing new.
    assert!(matches!(w.poll(t), Step::Failed(Error::Misuse(_))));
    // An outcome of the wrong kind is refused and changes nothing.
    let err = w
        .handle(Outcome::Snapshot(Err(etcd_error(100, 404, 1))), t)
        .unwrap_err();
    assert!(matches!(err, Error::Misuse(_)));
    let err = w.handle(Outcome::CurrentIndex(Ok(9)), t).unwrap_err();
    assert!(matches!(err, Error::Misuse(_)));
    w.handle(change("/k", 2), t).unwrap();
    expect_change(&mut w, t, 2);
    // An outcome with nothing in flight is refused too.
    assert!(w.handle(change("/k", 3), t).is_err());
}

#[test]
fn finishing_stops_everything() {
    let t = Instant::now();
    let mut w = Watcher::new("/k", false).from_index(1);
    expect_wait(&mut w, t, 1, false);
    w.finish();
    assert!(matches!(w.poll(t), Step::Finished));
    w.handle(change("/k", 2), t).unwrap();
    assert!(matches!(w.poll(ms(t, 10)), Step::Finished));
}

#[test]
fn without_retries_a_failure_that_waiting_may_cure_ends_the_watch() {
    // etcdctl's watch ends when the cluster cannot answer; the CLI's too.
    let now = Instant::now();
    for failure in [
        Error::AllEndpointsFailed { failures: vec![] },
        transport(TransportErrorKind::Connect),
        etcd_error(300, 500, 0),
    ] {
        let mut w = Watcher::new("/k", false)
            .from_index(5)
            .retry_failures(false);
        expect_wait(&mut w, now, 5, false);
        let text = failure.to_string();
        w.handle(wait_err(failure), now).unwrap();
        let Step::Failed(e) = w.poll(now) else {
            panic!("{text}: the watch went on")
        };
        assert_eq!(e.to_string(), text);
    }
    // A poll that ran its course is no failure: the same wait again.
    let mut w = Watcher::new("/k", false)
        .from_index(5)
        .retry_failures(false);
    expect_wait(&mut w, now, 5, false);
    w.handle(wait_err(transport(TransportErrorKind::Timeout)), now)
        .unwrap();
    expect_wait(&mut w, now, 5, false);
}
