//! Failover on a real three-member cluster, over both transports: members
//! killed with SIGKILL, the leader killed mid-traffic, the fail wait observed on
//! real processes, and the members, stats and sync APIs. The tests run one at a
//! time (each brings its own cluster; elections on a loaded 2-core machine are
//! what they test, not what should disturb them).

// The SERIAL guard serializes whole tests, async ones included: a tokio test's
// future runs on its own thread (block_on), so holding a std guard across its
// awaits is intended.
#![allow(clippy::await_holding_lock)]

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use etcd_v2::{Client, Endpoint, Error, ErrorCode, TransportErrorKind};
use support::{authority, Etcd};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    support::one_at_a_time(&SERIAL)
}

/// Wait (at most 20 s) until every member of `etcd` lists a membership for
/// which `applied` holds, then let a [`raft_round`] pass.
fn settle_membership(
    etcd: &Etcd,
    what: &str,
    applied: impl Fn(&[etcd_v2::ops::members::Member]) -> bool,
) {
    let probe = support::client_for(etcd);
    let deadline = Instant::now() + Duration::from_secs(20);
    for url in etcd.endpoints() {
        let member = Endpoint::parse(url).unwrap();
        loop {
            let listed = probe.execute_on(&member, &etcd_v2::ops::members::List);
            if listed.as_deref().is_ok_and(&applied) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{url} never listed {what}: {listed:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    raft_round(etcd);
}

/// A write through raft, answered: etcd's raft drops a membership change
/// proposed while the previous one is not yet acknowledged as applied (the
/// proposer then waits until its request times out, and answers 500), and a
/// write proposed after that change has answered is committed in a later
/// raft round, so once it has answered the change is out of the way.
fn raft_round(etcd: &Etcd) {
    support::client_for(etcd)
        .node()
        .set("/raft-barrier", "x", None)
        .expect("a write between membership changes");
}

/// Wait until the member at `url` answers a local read.
fn wait_until_serving(url: &str) {
    let probe = Client::builder()
        .endpoint(url)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = Instant::now();
    while probe.node().get("/", false).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{url} did not come back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

etcd_test!(
    a_killed_member_is_skipped_and_tried_again_only_after_the_fail_wait,
    standalone,
    |_p| {
        let _serial = serial();
        let etcd = Etcd::start(3);
        let urls = etcd.endpoints().to_vec();
        // Client order [B, A, C] (A is member 0) and a 10 s fail wait.
        let (a, b, c) = (urls[0].clone(), urls[1].clone(), urls[2].clone());
        let client = recording!(Client::builder()
            .endpoints([b.clone(), a.clone(), c.clone()])
            .fail_wait(Duration::from_secs(10)));
        call!(client.node().set("/fw/k", "0", None)).unwrap();
        assert_eq!(client.prefix(), b);

        // A dies and is found dead by a direct health check at t0.
        etcd.kill(0, "KILL");
        let t0 = Instant::now();
        assert!(call!(client.server().health_of(&Endpoint::parse(&a).unwrap())).is_err());
        // A comes back at once (without the client noticing: it rests until
        // 10 s after t0), while B and C still make a majority it rejoins.
        etcd.restart(0);
        wait_until_serving(&a);

        // 4 s after t0 B dies: its requests move on; A comes next in ring
        // order but is resting (up again, which the client does not know).
        sleep!(Duration::from_secs(4).saturating_sub(t0.elapsed()));
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "restarting A took so long that its rest is nearly over"
        );
        etcd.kill(1, "KILL");
        // B is found failed after this, so it rests until 10 s after it at least.
        let b_killed = Instant::now();
        client.transport().clear();
        for _ in 0..5 {
            assert_eq!(
                call!(client.node().get("/fw/k", false)).unwrap().value(),
                Some("0")
            );
        }
        let sent = client.transport().sent();
        assert!(
            sent.iter().all(|s| s.to != authority(&a)),
            "A was tried while resting: {sent:?}"
        );
        assert_eq!(
            sent.iter().filter(|s| s.to == authority(&b)).count(),
            1,
            "B was tried once: {sent:?}"
        );
        assert_eq!(client.prefix(), c);

        // C dies once A has rested (10 s after t0) but before B has (10 s
        // after its failure, at least 4 s later): A is tried again.
        let rested = t0 + Duration::from_millis(10_100);
        sleep!(rested.saturating_duration_since(Instant::now()));
        assert!(
            Instant::now() + Duration::from_secs(1) < b_killed + Duration::from_secs(10),
            "the reads took so long that B may have rested too"
        );
        etcd.kill(2, "KILL");
        client.transport().clear();
        let read = call!(client.node().get("/fw/k", false)).unwrap();
        assert_eq!(read.value(), Some("0"), "A serves local reads on its own");
        let tried: Vec<String> = client
            .transport()
            .sent()
            .iter()
            .map(|s| s.to.clone())
            .collect();
        assert_eq!(
            tried,
            [authority(&c), authority(&a)],
            "C failed, B still resting, A rested"
        );
        assert_eq!(client.prefix(), a);
    }
);

etcd_test!(
    reads_and_writes_go_on_when_the_pinned_member_is_killed,
    standalone,
    |_p| {
        let _serial = serial();
        let etcd = Etcd::start(3);
        // If the pinned member is the leader, the first write after the kill may
        // end in errorCode 300 (an unknown outcome): these plain sets may be
        // resent, as this client opts in to.
        let client =
            recording!(support::builder_for(&etcd).resend_sets_after_unknown_outcome(true));
        let pinned = client.prefix();
        call!(client.node().set("/pin/k", "before", None)).unwrap();
        let victim = etcd.endpoints().iter().position(|u| *u == pinned).unwrap();
        etcd.kill(victim, "KILL");
        client.transport().clear();
        let q = client.inorder().get_inorder("/pin/q");
        for i in 0..20 {
            call!(client.node().set("/pin/k", &format!("v{i}"), None)).unwrap();
            let read = call!(client.node().get_quorum("/pin/k", false)).unwrap();
            assert_eq!(read.value(), Some(format!("v{i}").as_str()));
            call!(q.add(&format!("job {i}"), None)).unwrap();
        }
        assert_eq!(call!(q.list()).unwrap().len(), 20);
        assert_ne!(client.prefix(), pinned);
        let to_dead = client
            .transport()
            .sent()
            .iter()
            .filter(|s| s.to == authority(&pinned))
            .count();
        assert_eq!(to_dead, 1, "the dead member is tried once, then rests");
    }
);

etcd_test!(
    writes_resume_after_the_leader_is_killed_and_unsafe_writes_are_never_resent,
    standalone,
    |_p| {
        let _serial = serial();
        let etcd = Etcd::start(3);
        let probe = support::client_for(&etcd);
        let leader_url = probe.server().get_leader_url_prefix().unwrap();
        let leader = etcd
            .endpoints()
            .iter()
            .position(|u| *u == leader_url)
            .unwrap();
        let mut order = vec![leader_url.clone()];
        order.extend(
            etcd.endpoints()
                .iter()
                .filter(|u| **u != leader_url)
                .cloned(),
        );

        // Pinned to the leader, with etcd's own 300 (after ~7 s) arriving before our
        // 10 s timeout; and a second client whose 2 s timeout fires first.
        let patient = recording!(Client::builder().endpoints(order.clone()));
        let hasty = recording!(Client::builder()
            .endpoints(order.clone())
            .timeout(Duration::from_secs(2)));
        // Opted in to resending plain sets, with a 5 s timeout: its set must
        // land within its tries of the two live members, so they have 10 s
        // to elect a leader on a busy machine.
        let resending = recording!(Client::builder()
            .endpoints(order)
            .timeout(Duration::from_secs(5))
            .resend_sets_after_unknown_outcome(true));
        call!(patient.node().set("/elect/k", "0", None)).unwrap();
        call!(hasty.node().set("/elect/h", "0", None)).unwrap();
        call!(resending.node().set("/elect/r", "0", None)).unwrap();

        etcd.kill(leader, "KILL");
        let killed = Instant::now();

        // Unsafe writes right away, from both clients, concurrently with a safe one.
        let (p1, h1, h2, r1) = (
            patient.clone(),
            hasty.clone(),
            hasty.clone(),
            resending.clone(),
        );
        let created = spawn!({ call!(p1.node().create_only("/elect/created", "once", None)) });
        let created_hasty =
            spawn!({ call!(h1.node().create_only("/elect/created-hasty", "once", None)) });
        let set_hasty = spawn!({ call!(h2.node().set("/elect/h", "1", None)) });
        let set_resending = spawn!({ call!(r1.node().set("/elect/r", "1", None)) });
        let (created, created_hasty, set_hasty, set_resending) = (
            join!(created),
            join!(created_hasty),
            join!(set_hasty),
            join!(set_resending),
        );
        eprintln!(
            "killed member {leader} ({leader_url}); after {:?}:",
            killed.elapsed()
        );
        for s in patient
            .transport()
            .sent()
            .iter()
            .chain(hasty.transport().sent().iter())
        {
            eprintln!(
                "  {:>8?} {} {} {} -> {}",
                s.at.saturating_duration_since(killed),
                s.to,
                s.method,
                s.target,
                s.outcome
            );
        }
        for (sent, key, result) in [
            (patient.transport().sent(), "/elect/created", &created),
            (
                hasty.transport().sent(),
                "/elect/created-hasty",
                &created_hasty,
            ),
            (hasty.transport().sent(), "/elect/h", &set_hasty),
        ] {
            let creates: Vec<_> = sent
                .into_iter()
                .filter(|s| {
                    s.at >= killed
                        && s.method == "PUT"
                        && s.target.starts_with(&format!("/v2/keys{key}"))
                })
                .collect();
            let reached_a_live_member = creates.iter().filter(|s| s.outcome != "Connect").count();
            assert_eq!(
                reached_a_live_member, 1,
                "{key}: sent to one live member at most once: {creates:?}"
            );
            match result {
                Ok(r) => assert_eq!(
                    r.value(),
                    Some(if key == "/elect/h" { "1" } else { "once" })
                ),
                Err(Error::OutcomeUnknown { source }) => {
                    // errorCode 300 (etcd gave up after ~7 s), our own timeout, or a
                    // connection the dying leader reset after the request went out
                    // (sent in the instant between the SIGKILL and the process's
                    // end): each leaves the outcome unknown.
                    let raft = source.code() == Some(ErrorCode::RaftInternal);
                    let lost = matches!(&**source, Error::Transport { source, .. } if matches!(source.kind(), TransportErrorKind::Timeout | TransportErrorKind::Io));
                    assert!(raft || lost, "{key}: {source}");
                }
                Err(e) => panic!("{key}: {e}"),
            }
        }
        // A plain set from a client that opted in is resent elsewhere and lands.
        if let Err(e) = &set_resending {
            panic!("an opted-in plain set should be resent until a member takes it: {e}");
        }

        // Writes resume once a new leader is elected.
        let mut resumed = None;
        while killed.elapsed() < Duration::from_secs(40) {
            match call!(patient.node().set("/elect/k", "after", None)) {
                Ok(_) => {
                    resumed = Some(killed.elapsed());
                    break;
                }
                Err(e) => {
                    assert!(!e.is_invalid_input(), "{e}");
                    sleep!(Duration::from_millis(200));
                }
            }
        }
        let resumed = resumed.expect("writes never resumed after the leader was killed");
        eprintln!("writes resumed {resumed:?} after the leader was killed");
        let new_leader = call!(patient.server().get_leader_url_prefix()).unwrap();
        assert_ne!(new_leader, leader_url);
        let read = call!(patient.node().get_quorum("/elect/k", false)).unwrap();
        assert_eq!(read.value(), Some("after"));
        // Whatever happened to the unsafe creates, reading tells.
        for key in ["/elect/created", "/elect/created-hasty"] {
            match call!(patient.node().get_quorum(key, false)) {
                Ok(r) => assert_eq!(r.value(), Some("once")),
                Err(e) => assert!(e.is_key_not_found(), "{e}"),
            }
        }
    }
);

etcd_test!(members_stats_sync_and_cluster_ids, standalone, |_p| {
    let _serial = serial();
    let etcd = Etcd::start(3);
    let started = Instant::now();
    let client = build!(support::builder_for(&etcd));
    let members = call!(client.members().list()).unwrap();
    assert_eq!(members.len(), 3);
    let leader = call!(client.members().leader()).unwrap();
    let leader_url = leader.client_urls[0].clone();
    let follower_url = etcd
        .endpoints()
        .iter()
        .find(|u| **u != leader_url)
        .unwrap()
        .clone();

    // Only the leader serves leader statistics.
    let follower = Endpoint::parse(&follower_url).unwrap();
    let err = call!(client.stat().get_leader_stats_from(&follower)).unwrap_err();
    assert!(matches!(&err, Error::NotLeader { .. }), "{err}");
    assert!(err.to_string().contains("not the leader"), "{err}");
    let stats = call!(client.stat().get_leader_stats()).unwrap();
    assert_eq!(stats.leader, leader.id);
    assert_eq!(stats.followers.len(), 2);

    // Sync from the members list, pinning the leader.
    let syncing = build!(Client::builder()
        .endpoint(follower_url.clone())
        .prefer_leader(true));
    let synced = call!(syncing.sync_endpoints()).unwrap();
    assert_eq!(synced.len(), 3);
    assert_eq!(syncing.prefix(), leader_url);
    let auto = build!(Client::builder()
        .endpoint(follower_url.clone())
        .auto_sync(Duration::from_secs(60)));
    call!(auto.node().set("/sync/k", "v", None)).unwrap();
    assert_eq!(auto.endpoints().len(), 3, "synced before the first request");

    // Membership changes (etcd refuses them in the first 5 s after start).
    sleep!(Duration::from_secs(6).saturating_sub(started.elapsed()));
    let fake_peer = "http://127.0.0.1:1";
    let added = call!(client.members().add(&[fake_peer])).unwrap();
    assert_eq!(added.name, "", "unstarted");
    assert!(added.client_urls.is_empty());
    let listed = call!(client.members().list()).unwrap();
    assert!(listed.iter().any(|m| m.id == added.id));
    // Each change waits until the one before is applied on every member.
    settle_membership(&etcd, "the added member", |m| {
        m.iter().any(|m| m.id == added.id)
    });
    call!(client.members().update(&added.id, &["http://127.0.0.1:2"])).unwrap();
    raft_round(&etcd);
    let err = call!(client
        .members()
        .update(&added.id, &[&members[0].peer_urls[0]]))
    .unwrap_err();
    assert!(matches!(err, Error::Api { status: 409, .. }), "{err}");
    settle_membership(&etcd, "the updated peer URL", |m| {
        m.iter()
            .any(|m| m.id == added.id && m.peer_urls == ["http://127.0.0.1:2"])
    });
    call!(client.members().remove(&added.id)).unwrap();
    settle_membership(&etcd, "the removal", |m| {
        m.len() == 3 && m.iter().all(|m| m.id != added.id)
    });
    let err = call!(client.members().remove(&added.id)).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::OutcomeUnknown { .. } | Error::Api { status: 410, .. }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("removed") || err.to_string().contains("410"),
        "{err}"
    );
    assert_eq!(call!(client.members().list()).unwrap().len(), 3);

    // Another cluster's member is refused; the client keeps to its own cluster.
    let other = Etcd::start(1);
    let id = client.cluster_id().unwrap();
    let strict = recording!(Client::builder()
        .endpoints([other.endpoint().to_owned(), leader_url.clone()])
        .cluster_id(id.clone()));
    call!(strict.node().set("/ids/k", "mine", None)).unwrap();
    let sent = strict.transport().sent();
    assert_eq!(sent[0].to, authority(other.endpoint()));
    assert_eq!(strict.prefix(), leader_url);
    let lone = build!(Client::builder().endpoint(other.endpoint()).cluster_id(id));
    let err = call!(lone.node().get("/", false)).unwrap_err();
    assert!(matches!(err, Error::ClusterIdMismatch { .. }), "{err}");
    // Without an expected ID, the first answer pins it.
    let learner =
        build!(Client::builder().endpoints([leader_url.clone(), other.endpoint().to_owned()]));
    call!(learner.node().get("/", false)).unwrap();
    assert_eq!(learner.cluster_id(), client.cluster_id());
});

/// A member cut off from the majority keeps serving what it had, at its old
/// raft term; a client that has seen the cluster's newer term never takes
/// such a read. The partition: the leader is paused (SIGSTOP) while the other
/// two elect a new leader and take a write, then they are paused and it is
/// resumed, alone, still at its old term.
#[test]
fn a_read_from_a_member_cut_off_from_the_majority_is_refused_as_stale() {
    let _serial = serial();
    let etcd = Etcd::start(3);
    let urls = etcd.endpoints().to_vec();
    let probe = support::client_for(&etcd);
    let leader_url = probe.server().get_leader_url_prefix().unwrap();
    let a = urls.iter().position(|u| *u == leader_url).unwrap();
    let others: Vec<usize> = (0..3).filter(|i| *i != a).collect();
    probe.node().set("/term/k", "old", None).unwrap();
    // 5 s: a quorum read, and the resumed member's first answer, may be slow
    // on a busy machine; a timeout there would hide the stale answer.
    let reader = Client::builder()
        .endpoints([&urls[a], &urls[others[0]], &urls[others[1]]])
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // A quorum read: the write was answered once the member that took it had
    // applied it, and the leader applies on its own time (etcd 3.5 once
    // answered a plain read here with "Key not found").
    assert_eq!(
        reader.node().get_quorum("/term/k", false).unwrap().value(),
        Some("old")
    );
    assert_eq!(reader.prefix(), urls[a]);

    etcd.kill(a, "STOP");
    let majority = Client::builder()
        .endpoints([&urls[others[0]], &urls[others[1]]])
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let started = Instant::now();
    while majority.node().set("/term/k", "new", None).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "no new leader");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The reader sees the new term (asking one member directly keeps its pin).
    let b = Endpoint::parse(&urls[others[0]]).unwrap();
    let read = reader
        .execute_on(&b, &etcd_v2::ops::keys::Get::new("/term/k").quorum(true))
        .unwrap();
    assert_eq!(read.value(), Some("new"));
    assert_eq!(
        reader.prefix(),
        urls[a],
        "still pinned to the cut-off member"
    );

    for &i in &others {
        etcd.kill(i, "STOP");
    }
    etcd.kill(a, "CONT");
    let result = reader.node().get("/term/k", false);
    // A client that has seen no newer term takes what the member says: old data.
    let naive = Client::builder().endpoint(&urls[a]).build().unwrap();
    let naive_read = naive.node().get("/term/k", false).unwrap();
    for &i in &others {
        etcd.kill(i, "CONT");
    }
    assert_eq!(
        naive_read.value(),
        Some("old"),
        "the member serves stale data"
    );
    let err = match result {
        Ok(r) => panic!("a stale read was taken: {r:?}"),
        Err(e) => e,
    };
    let stale_from_a = match &err {
        Error::AllEndpointsFailed { failures } => failures
            .iter()
            .any(|(e, f)| *e == urls[a] && matches!(f, Error::StaleRead { .. })),
        Error::StaleRead { endpoint, .. } => *endpoint == urls[a],
        _ => false,
    };
    assert!(stale_from_a, "{err}");
    // Once the majority is back, the read is answered, and never with old data.
    let started = Instant::now();
    loop {
        match reader.node().get("/term/k", false) {
            Ok(r) if r.value() == Some("new") => break,
            Ok(r) => panic!("a stale read was taken: {r:?}"),
            Err(_) => {
                assert!(started.elapsed() < Duration::from_secs(30));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
