//! The client against MemoryEtcd, end to end: a writer, a recursive watch and
//! two or three lock contenders share a simulated cluster (one or three
//! members, virtual time) while seeded random faults, scripted faults,
//! crashes, partitions, lagging members (stale reads in the current term) and
//! time steps hit it.
//!
//! Invariants, checked after every step:
//! - the watch reports every change under its prefix once, in order: each
//!   event it gives is the next one MemoryEtcd's history holds (nothing lost,
//!   nothing repeated), until the history window passes it (then a resync);
//! - never two contenders think they hold the lock, and one that does finds
//!   its key, holding its id, in the store (its lease is sound).

use std::time::Duration;

use etcd_v2::client::Lock;
use etcd_v2::client::WatchNext;
use etcd_v2::memory::{Fault, FaultRule, MemoryEtcd, RandomFaults};
use etcd_v2::watch::WatchEvent;
use etcd_v2::Client;

use super::bytes::Bytes;

const PREFIX: &str = "/w";
const KEYS: [&str; 4] = ["/w/a", "/w/b", "/w/d/c", "/w/_h"];

fn fault(b: u8) -> Fault {
    match b % 6 {
        0 => Fault::Refuse,
        1 => Fault::TimeoutBeforeApply,
        2 => Fault::TimeoutAfterApply,
        3 => Fault::DropResponseAfterApply,
        4 => Fault::ServerError(502),
        _ => Fault::RaftTimeout {
            applied: b & 0x40 != 0,
        },
    }
}

/// Run one input.
pub fn run(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let members = if bytes.byte() & 1 == 0 { 1 } else { 3 };
    let etcd = MemoryEtcd::builder()
        .members(members)
        .virtual_time(true)
        .build();
    let client = || {
        Client::builder()
            .endpoints(etcd.endpoints())
            .timeout(Duration::from_secs(3))
            .build_with(etcd.clone())
            .expect("client")
    };
    let writer = client();
    let seed = u64::from(bytes.u16());
    let per_mille = u16::from(bytes.below(60));
    if per_mille > 0 {
        etcd.random_faults(RandomFaults {
            seed,
            per_mille,
            faults: (0..6).map(fault).collect(),
        });
    }
    let ttl = 5 + u64::from(bytes.below(10));
    let contenders = 2 + usize::from(bytes.below(2));
    let mut locks: Vec<Lock<Client<MemoryEtcd>>> = (0..contenders)
        .map(|_| client().module().lock().get_lock("job", ttl))
        .collect();
    let from = etcd.index() + 1;
    let mut watch = client()
        .watch(PREFIX)
        .recursive(true)
        .from_index(from)
        .start()
        .expect("a watch from a given index starts without a request");
    let mut next_index = from;
    let mut steps = 0;
    while !bytes.done() && steps < 64 {
        steps += 1;
        let (op, arg) = (bytes.below(10), bytes.byte());
        let who = usize::from(arg) % contenders;
        match op {
            0 | 1 => {
                let key = KEYS[usize::from(arg) % KEYS.len()];
                let _ = match arg % 3 {
                    0 => writer.node().set(key, &format!("v{arg}"), None),
                    1 => writer.node().delete(key, None, None),
                    _ => writer.node().set(key, "t", Some(u64::from(arg % 7) + 1)),
                };
            }
            2 => etcd.advance(Duration::from_millis(u64::from(arg) * 50)),
            3 => {
                let _ = locks[who].try_acquire();
            }
            4 => {
                let _ = locks[who].acquire_timeout(Duration::from_millis(u64::from(arg) * 20));
            }
            5 => {
                let _ = locks[who].release();
            }
            6 => {
                let _ = locks[who].renew(ttl);
            }
            7 => etcd.inject(FaultRule::new(fault(arg)).times(1)),
            // Lagging came last: it takes half of the partitions' arguments,
            // so the saved inputs from before it keep their meaning.
            8 if members == 3 => match arg % 4 {
                0 => {
                    etcd.crash_leader();
                }
                1 => (0..3).for_each(|i| etcd.restart(i)),
                2 if arg < 0x80 => etcd.partition(usize::from(arg) % 3),
                2 => etcd.lag(usize::from(arg) % 3),
                _ => (0..3).for_each(|i| etcd.heal(i)),
            },
            _ => next_index = drain(&etcd, &mut watch, next_index, false),
        }
        check_locks(&etcd, &locks);
    }
    (0..3).for_each(|i| {
        if i < members {
            etcd.restart(i);
            etcd.heal(i);
        }
    });
    etcd.clear_faults();
    drain(&etcd, &mut watch, next_index, true);
    watch.stopper().stop();
}

/// Take every event the history holds from `next` through the watch, checking
/// each is the one expected; the index to expect next. While faults may hit
/// (not `healed`), the watch may time out (a cluster that cannot answer);
/// once every member is back and faults are off, it must deliver.
fn drain(
    etcd: &MemoryEtcd,
    watch: &mut etcd_v2::client::Watch<Client<MemoryEtcd>>,
    mut next: u64,
    healed: bool,
) -> u64 {
    loop {
        let expected = match etcd.first_event(PREFIX, true, next) {
            Ok(Some(e)) => Some(e),
            Ok(None) => return next,
            // The history moved past: the watch must resync.
            Err(e) if e.is_event_index_cleared() => None,
            Err(e) => panic!("reading the history failed: {e}"),
        };
        // Once healed, longer than a wait's timeout (60 s): a long poll that a
        // fault stalled before the faults were cleared ends first.
        let patience = if healed { 150 } else { 30 };
        let got = watch.next_timeout(Duration::from_secs(patience));
        match (expected, got) {
            (Some(want), Ok(WatchNext::Event(WatchEvent::Change(change)))) => {
                assert_eq!(
                    (change.node.modified_index, &change.node.key, &change.action),
                    (want.node.modified_index, &want.node.key, &want.action),
                    "the watch skipped or repeated an event"
                );
                next = change.node.modified_index + 1;
            }
            (None, Ok(WatchNext::Event(WatchEvent::Resync { index, .. }))) => next = index + 1,
            (_, Ok(WatchNext::Timeout)) if !healed => return next,
            // A watch that gave up (too many failures) reports it; it ends.
            (_, Err(_)) | (_, Ok(WatchNext::Ended)) => return u64::MAX,
            (want, other) => panic!("expected {want:?}, the watch gave {other:?}"),
        }
        if next == u64::MAX {
            return next;
        }
    }
}

fn check_locks(etcd: &MemoryEtcd, locks: &[Lock<Client<MemoryEtcd>>]) {
    let held: Vec<&Lock<Client<MemoryEtcd>>> = locks.iter().filter(|l| l.is_held()).collect();
    assert!(held.len() <= 1, "{} contenders hold the lock", held.len());
    for l in held {
        let key = l.key().expect("a holder knows its key");
        assert_eq!(
            etcd.value(key).as_deref(),
            Some(l.id()),
            "a holder's key is gone or taken: its lease is unsound"
        );
    }
}
