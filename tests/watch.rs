//! Watch streams against a real etcd: thousands of changes seen exactly once in
//! order (also across a SIGKILLed member), resync after falling behind etcd's
//! 1000-event history, stopping from another thread, and etcd's own hidden-key
//! and refresh behaviours.
//!
//! The heavy tests bring their own etcd so that other tests' writes cannot push
//! them past the 1000-event window.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_v2::ops::keys::CurrentIndex;
use etcd_v2::watch::WatchEvent;
use etcd_v2::Action;
use support::Etcd;

/// Write `count` changes under `dir` (sets on 50 keys, every tenth a delete of a
/// key just set), keeping at most `max_ahead` indexes ahead of `seen` so the
/// watcher stays inside etcd's history window. Calls `at_half` half-way.
/// Returns every modifiedIndex written.
fn write_changes(
    writer: etcd_v2::Client,
    dir: String,
    count: usize,
    seen: Arc<AtomicU64>,
    max_ahead: u64,
    at_half: impl FnOnce(),
) -> Vec<u64> {
    let mut indexes: Vec<u64> = Vec::with_capacity(count);
    let mut at_half = Some(at_half);
    for i in 0..count {
        if i == count / 2 {
            if let Some(f) = at_half.take() {
                f();
            }
        }
        while let Some(&last) = indexes.last() {
            if last.saturating_sub(seen.load(Ordering::SeqCst)) < max_ahead {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let r = if i % 10 == 9 {
            // Delete the key set by the previous change.
            writer
                .node()
                .delete(&format!("{dir}/k{}", (i - 1) % 50), None, None)
        } else {
            writer
                .node()
                .set(&format!("{dir}/k{}", i % 50), &i.to_string(), None)
        };
        indexes.push(r.expect("write").node.modified_index);
    }
    indexes
}

/// Stops a watch if the writer thread holding it panics, so that a failed
/// writer never leaves the reader waiting forever.
struct StopOnPanic(etcd_v2::client::WatchStopper);

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// Read `$count` changes from `$watch` (with the test's `call!`), publishing
/// progress in `$seen`; a resync fails the test.
macro_rules! read_changes {
    ($watch:ident, $count:expr, $seen:expr, |$w:ident| $next:expr) => {{
        let mut indexes: Vec<u64> = Vec::with_capacity($count);
        while indexes.len() < $count {
            let $w = &mut $watch;
            match $next.expect("the watch ended").expect("watch error") {
                WatchEvent::Change(c) => {
                    $seen.store(c.node.modified_index, Ordering::SeqCst);
                    indexes.push(c.node.modified_index);
                }
                WatchEvent::Resync { index, .. } => panic!("unexpected resync at {index}"),
            }
        }
        indexes
    }};
}

fn assert_exactly_once_in_order(written: &[u64], seen: &[u64]) {
    assert_eq!(seen.len(), written.len());
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
    let a: BTreeSet<u64> = written.iter().copied().collect();
    let b: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(a.len(), written.len(), "the writer got distinct indexes");
    assert_eq!(a, b, "every modifiedIndex exactly once");
}

etcd_test!(
    a_recursive_watcher_sees_3000_changes_exactly_once_in_order,
    standalone,
    |_p| {
        let etcd = Etcd::own();
        let client = build!(support::builder_for(&etcd));
        let start = call!(client.execute(&CurrentIndex::new("/stream"))).unwrap() + 1;
        let mut watch = call!(client
            .watch("/stream")
            .recursive(true)
            .from_index(start)
            .poll_timeout(Duration::from_secs(1))
            .start())
        .unwrap();
        let seen = Arc::new(AtomicU64::new(start));
        let writer = {
            let (c, s) = (support::client_for(&etcd), Arc::clone(&seen));
            let guard = StopOnPanic(watch.stopper());
            std::thread::spawn(move || {
                let _guard = guard;
                write_changes(c, "/stream".into(), 3000, s, 600, || ())
            })
        };
        let started = Instant::now();
        let got = read_changes!(watch, 3000, seen, |w| call!(w.next()));
        let written = writer.join().unwrap();
        eprintln!(
            "3000 changes written and watched in {:?}",
            started.elapsed()
        );
        assert_exactly_once_in_order(&written, &got);
    }
);

etcd_test!(the_same_across_a_sigkilled_member, standalone, |_p| {
    // Over the bridge too (ETCD_BACKEND=bridge): three members without v2.
    let bridged = support::is_bridge();
    let etcd = if bridged {
        Etcd::start_with_env(3, &[], &[("ETCD_V2_FLAGS", "v3only")])
    } else {
        Etcd::start(3)
    };
    let over = |b: etcd_v2::ClientBuilder| {
        if bridged {
            b.v3_bridge(support::BRIDGE_PREFIX)
        } else {
            b
        }
    };
    let probe = over(support::builder_for(&etcd)).build().unwrap();
    // A bridge write is two v3 transactions through raft: fewer of them keep
    // the test's time in line with the v2 run.
    let changes = if bridged { 600 } else { 3000 };
    let started = Instant::now();
    let leader = probe.server().get_leader_url_prefix().unwrap();
    let followers: Vec<String> = etcd
        .endpoints()
        .iter()
        .filter(|u| **u != leader)
        .cloned()
        .collect();
    let victim = etcd
        .endpoints()
        .iter()
        .position(|u| *u == followers[0])
        .unwrap();
    // The watcher is pinned to a follower; the writer to the leader.
    let watcher_client = build!(over(etcd_v2::Client::builder().endpoints([
        followers[0].clone(),
        followers[1].clone(),
        leader.clone()
    ])));
    let writer_client =
        over(etcd_v2::Client::builder().endpoints([leader.clone(), followers[1].clone()]))
            .build()
            .unwrap();
    let start = call!(watcher_client.execute(&CurrentIndex::new("/ha"))).unwrap() + 1;
    let mut watch = call!(watcher_client
        .watch("/ha")
        .recursive(true)
        .from_index(start)
        .poll_timeout(Duration::from_secs(1))
        .start())
    .unwrap();
    let seen = Arc::new(AtomicU64::new(start));
    let etcd = Arc::new(etcd);
    let writer = {
        let (s, e) = (Arc::clone(&seen), Arc::clone(&etcd));
        let guard = StopOnPanic(watch.stopper());
        std::thread::spawn(move || {
            let _guard = guard;
            write_changes(writer_client, "/ha".into(), changes, s, 600, move || {
                support::kill_follower(&e, victim)
            })
        })
    };
    let got = read_changes!(watch, changes, seen, |w| call!(w.next()));
    let written = writer.join().unwrap();
    eprintln!(
        "{changes} changes written and watched across a SIGKILL in {:?}",
        started.elapsed()
    );
    assert_exactly_once_in_order(&written, &got);
    assert_ne!(
        watcher_client.prefix(),
        followers[0],
        "the watcher moved off the killed member"
    );
});

etcd_test!(
    falling_more_than_1000_events_behind_gives_one_resync_and_nothing_twice,
    standalone,
    |_p| {
        let etcd = Etcd::own();
        let client = build!(support::builder_for(&etcd));
        let writer = support::client_for(&etcd);
        let start = call!(client.execute(&CurrentIndex::new("/behind"))).unwrap() + 1;
        let mut watch = call!(client
            .watch("/behind")
            .recursive(true)
            .from_index(start)
            .start())
        .unwrap();
        let mut reported = Vec::new();
        for i in 0..5 {
            writer
                .node()
                .set(&format!("/behind/k{i}"), "early", None)
                .unwrap();
        }
        for _ in 0..5 {
            reported.push(call!(watch.next()).unwrap().unwrap());
        }
        // The watcher pauses while 1500 changes go by.
        let mut last = 0;
        for i in 0..1500 {
            last = writer
                .node()
                .set(&format!("/behind/k{}", i % 20), &i.to_string(), None)
                .unwrap()
                .node
                .modified_index;
        }
        let resync = call!(watch.next()).unwrap().unwrap();
        let WatchEvent::Resync {
            snapshot: Some(snapshot),
            index,
        } = &resync
        else {
            panic!("expected a resync, got {resync:?}");
        };
        assert!(
            *index >= last,
            "the snapshot is at least as new as the last write"
        );
        assert_eq!(snapshot.node.leaves().len(), 20);
        let k7 = snapshot
            .node
            .leaves()
            .into_iter()
            .find(|n| n.key == "/behind/k7")
            .unwrap();
        assert_eq!(
            k7.value.as_deref(),
            Some("1487"),
            "the snapshot holds the latest values"
        );
        reported.push(resync.clone());
        // Afterwards, changes resume after the snapshot's index.
        let mut after = Vec::new();
        for i in 0..10 {
            after.push(
                writer
                    .node()
                    .set("/behind/after", &i.to_string(), None)
                    .unwrap()
                    .node
                    .modified_index,
            );
        }
        for _ in 0..10 {
            reported.push(call!(watch.next()).unwrap().unwrap());
        }
        let indexes: Vec<u64> = reported.iter().map(WatchEvent::index).collect();
        assert!(
            indexes.windows(2).all(|w| w[0] < w[1]),
            "nothing twice, in order: {indexes:?}"
        );
        assert_eq!(
            reported
                .iter()
                .filter(|e| matches!(e, WatchEvent::Resync { .. }))
                .count(),
            1
        );
        assert_eq!(&indexes[6..], &after[..]);
    }
);

etcd_test!(
    a_watch_can_be_stopped_from_another_thread_or_task,
    |client, p| {
        let mut watch = call!(client
            .watch(p.dir())
            .recursive(true)
            .poll_timeout(Duration::from_secs(30))
            .start())
        .unwrap();
        let stopper = watch.stopper();
        let started = Instant::now();
        let reader = spawn!({
            let mut events = 0;
            while call!(watch.next()).is_some() {
                events += 1;
            }
            events
        });
        sleep!(Duration::from_millis(300));
        stopper.stop();
        assert_eq!(join!(reader), 0);
        // Stopped while its 30 s long poll was still open, not at its end
        // (bounded generously for a busy machine).
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "stopped before the poll timeout: {:?}",
            started.elapsed()
        );
    }
);

etcd_test!(
    from_now_skips_the_past_and_from_an_index_replays_it,
    |c, p| {
        let first = call!(c.node().set(&p.key("k"), "1", None))
            .unwrap()
            .node
            .modified_index;
        call!(c.node().set(&p.key("k"), "2", None)).unwrap();
        let mut replay = call!(c.watch(&p.key("k")).from_index(first).start()).unwrap();
        let mut values = Vec::new();
        for _ in 0..2 {
            match call!(replay.next()).unwrap().unwrap() {
                WatchEvent::Change(ch) => values.push(ch.value().unwrap().to_owned()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(values, ["1", "2"]);

        let mut live = call!(c.watch(&p.key("k")).start()).unwrap();
        let writer = support::client();
        let key = p.key("k");
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            writer.node().set(&key, "3", None).unwrap();
        });
        match call!(live.next()).unwrap().unwrap() {
            WatchEvent::Change(ch) => assert_eq!(ch.value(), Some("3"), "the past is not reported"),
            other => panic!("{other:?}"),
        }
        handle.join().unwrap();
    }
);

etcd_test!(a_refresh_does_not_wake_watchers_live_or_replayed, |c, p| {
    let k = p.key("r");
    let set = call!(c.node().set(&k, "v", Some(60))).unwrap();
    // Replayed: the refresh is skipped, the next set is reported.
    call!(c.node().refresh(&k, 120)).unwrap();
    call!(c.node().set(&k, "after-refresh", None)).unwrap();
    let mut replay = call!(c.watch(&k).from_index(set.node.modified_index + 1).start()).unwrap();
    match call!(replay.next()).unwrap().unwrap() {
        WatchEvent::Change(ch) => {
            assert_eq!(ch.action, Action::Set);
            assert_eq!(ch.value(), Some("after-refresh"));
        }
        other => panic!("{other:?}"),
    }
    // Live: a refresh while the watch waits does not wake it.
    let mut live = call!(c.watch(&k).start()).unwrap();
    let writer = support::client();
    let key = k.clone();
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        writer.node().refresh(&key, 30).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        writer.node().set(&key, "woke", None).unwrap();
    });
    match call!(live.next()).unwrap().unwrap() {
        WatchEvent::Change(ch) => assert_eq!(ch.value(), Some("woke")),
        other => panic!("{other:?}"),
    }
    handle.join().unwrap();
});

etcd_test!(
    hidden_children_are_skipped_live_but_replayed_from_an_index,
    |c, p| {
        let dir = p.key("h");
        call!(c.directory().create(&dir, None)).unwrap();
        // Live: the hidden child's change is not reported, the visible one is.
        let mut live = call!(c.watch(&dir).recursive(true).start()).unwrap();
        let writer = support::client();
        let (hidden, visible) = (p.key("h/_secret"), p.key("h/visible"));
        let (h2, v2) = (hidden.clone(), visible.clone());
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let idx = writer
                .node()
                .set(&h2, "hidden", None)
                .unwrap()
                .node
                .modified_index;
            writer.node().set(&v2, "visible", None).unwrap();
            idx
        });
        match call!(live.next()).unwrap().unwrap() {
            WatchEvent::Change(ch) => assert_eq!(ch.node.key, visible),
            other => panic!("{other:?}"),
        }
        let hidden_index = handle.join().unwrap();
        // Replayed from an index: the hidden child's change is there.
        let mut replay = call!(c
            .watch(&dir)
            .recursive(true)
            .from_index(hidden_index)
            .start())
        .unwrap();
        match call!(replay.next()).unwrap().unwrap() {
            WatchEvent::Change(ch) => {
                assert_eq!(ch.node.key, hidden);
                assert!(ch.node.is_hidden());
            }
            other => panic!("{other:?}"),
        }
    }
);

etcd_test!(
    a_non_recursive_watch_ignores_children_and_sees_deletes,
    |c, p| {
        let k = p.key("d");
        let made = call!(c.node().set(&p.key("d/child"), "x", None)).unwrap();
        let deleted = call!(c.directory().delete_recursive(&k, None)).unwrap();
        let mut w = call!(c.watch(&k).from_index(made.node.modified_index).start()).unwrap();
        match call!(w.next()).unwrap().unwrap() {
            WatchEvent::Change(ch) => {
                assert_eq!(
                    ch.node.modified_index, deleted.node.modified_index,
                    "the child's set is not reported"
                );
                assert!(ch.is_deleted());
            }
            other => panic!("{other:?}"),
        }
    }
);

etcd_test!(
    a_change_made_right_after_start_is_the_first_event,
    |c, p| {
        let k = p.key("early");
        call!(c.node().set(&k, "before", None)).unwrap();
        for round in 0..5 {
            let mut watch = call!(c.watch(&k).start()).unwrap();
            // Written at once, before the first next(): it must not be missed.
            let value = format!("after-{round}");
            let write = call!(c.node().set(&k, &value, None)).unwrap();
            match call!(watch.next()) {
                Some(Ok(WatchEvent::Change(change))) => {
                    assert_eq!(change.node.modified_index, write.node.modified_index);
                    assert_eq!(change.value(), Some(value.as_str()));
                }
                other => panic!("{other:?}"),
            }
        }
    }
);

#[test]
fn next_timeout_returns_on_time_and_the_poll_it_leaves_loses_nothing() {
    use etcd_v2::client::WatchNext;
    let c = support::client();
    let p = support::Prefix::new("next-timeout");
    let k = p.key("k");
    let mut watch = c.watch(&k).start().unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(
            watch.next_timeout(Duration::from_millis(200)).unwrap(),
            WatchNext::Timeout
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    // The long poll left in flight delivers what comes next, once.
    let written = c.node().set(&k, "1", None).unwrap();
    match watch.next_timeout(Duration::from_secs(10)).unwrap() {
        WatchNext::Event(WatchEvent::Change(change)) => {
            assert_eq!(change.node.modified_index, written.node.modified_index)
        }
        other => panic!("{other:?}"),
    }
    let second = c.node().set(&k, "2", None).unwrap();
    match watch.next() {
        Some(Ok(WatchEvent::Change(change))) => {
            assert_eq!(change.node.modified_index, second.node.modified_index)
        }
        other => panic!("{other:?}"),
    }
    watch.stopper().stop();
    assert_eq!(
        watch.next_timeout(Duration::from_secs(1)).unwrap(),
        WatchNext::Ended
    );
    assert!(watch.next().is_none());
}

etcd_test!(
    a_stopper_ends_a_next_blocked_in_a_long_poll_at_once,
    |c, p| {
        let k = p.key("idle");
        // A long poll of 60 s that nothing will end early but the stopper.
        let mut watch = call!(c.watch(&k).poll_timeout(Duration::from_secs(60)).start()).unwrap();
        let stopper = watch.stopper();
        let stopping = spawn!({
            sleep!(Duration::from_millis(300));
            stopper.stop();
        });
        let started = Instant::now();
        assert!(call!(watch.next()).is_none(), "a stopped watch ends");
        let took = started.elapsed();
        join!(stopping);
        assert!(
            took < Duration::from_secs(20),
            "the stop waited for the poll: {took:?}"
        );
    }
);

#[test]
fn a_quiet_key_on_a_busy_cluster_is_followed_without_resyncs() {
    // Over 1000 changes elsewhere while the key stays as it was: the wait
    // after a long-poll timeout asks for an index etcd has dropped (401). The
    // key is there, unchanged since, so no event was lost: the watch goes on
    // without a resync (it used to resync after every long-poll timeout on a
    // cluster this busy), and still reports the key's next change. Without
    // resync (etcdctl's watch, the CLI's) it goes on too, where it used to end
    // with the 401: there from an index given, so that the check is the one
    // made once a wait has come back.
    use etcd_v2::client::WatchNext;
    // A member of its own: the writes would push the shared member's history
    // past other tests' waits.
    let etcd = support::Etcd::own_backend();
    let c = support::backend_builder_for(&etcd).build().unwrap();
    for resync in [true, false] {
        let p = support::Prefix::new("quiet");
        let k = p.key("k");
        let set = c.node().set(&k, "0", None).unwrap();
        let mut watch = c
            .watch(&k)
            .resync(resync)
            .from_index(set.node.modified_index + 1)
            .poll_timeout(Duration::from_secs(1))
            .start()
            .unwrap();
        // The first long poll is under way before the writes.
        assert_eq!(
            watch.next_timeout(Duration::from_millis(200)).unwrap(),
            WatchNext::Timeout
        );
        for i in 0..1100 {
            c.node().set(&p.key("busy"), &i.to_string(), None).unwrap();
        }
        assert_eq!(
            watch.next_timeout(Duration::from_secs(4)).unwrap(),
            WatchNext::Timeout,
            "resync {resync}"
        );
        let written = c.node().set(&k, "1", None).unwrap();
        match watch.next_timeout(Duration::from_secs(10)).unwrap() {
            WatchNext::Event(WatchEvent::Change(change)) => {
                assert_eq!(change.node.modified_index, written.node.modified_index)
            }
            other => panic!("resync {resync}: {other:?}"),
        }
    }
}
