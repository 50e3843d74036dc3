//! Failover on a real three-member cluster: members killed with SIGKILL, the
//! leader killed mid-traffic, the fail wait observed on real processes, and the
//! members, stats and sync APIs. The tests run one at a time (each brings its own
//! cluster; elections on a loaded 2-core machine are what they test, not what
//! should disturb them).

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use etcd_v2::{Client, Endpoint, Error, ErrorCode};
use support::{authority, recording_client, Etcd, Recorder};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
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

#[test]
fn a_killed_member_is_skipped_and_tried_again_only_after_the_fail_wait() {
    let _serial = serial();
    let etcd = Etcd::start(3);
    let urls = etcd.endpoints().to_vec();
    // Client order [B, A, C] (A is member 0) and a 4 s fail wait.
    let (a, b, c) = (urls[0].clone(), urls[1].clone(), urls[2].clone());
    let client = recording_client(
        Client::builder()
            .endpoints([b.clone(), a.clone(), c.clone()])
            .fail_wait(Duration::from_secs(4)),
    );
    client.node().set("/fw/k", "0", None).unwrap();
    assert_eq!(client.prefix(), b);

    // A dies and is found dead by a direct health check at t0.
    etcd.kill(0, "KILL");
    let t0 = Instant::now();
    assert!(client
        .server()
        .health_of(&Endpoint::parse(&a).unwrap())
        .is_err());

    // A second later B dies: its requests move on; A comes next in ring order
    // but is resting. (With two members down there is no quorum: reads only.)
    std::thread::sleep(Duration::from_secs(1));
    etcd.kill(1, "KILL");
    client.transport().clear();
    for _ in 0..5 {
        assert_eq!(
            client.node().get("/fw/k", false).unwrap().value(),
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

    // A comes back (without the client noticing), and C dies once A has rested
    // (4 s after t0) but before B has (4 s after its failure, 1 s later): A is
    // tried again.
    etcd.restart(0);
    wait_until_serving(&a);
    let rested = t0 + Duration::from_millis(4100);
    std::thread::sleep(rested.saturating_duration_since(Instant::now()));
    etcd.kill(2, "KILL");
    client.transport().clear();
    let read = client.node().get("/fw/k", false).unwrap();
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

#[test]
fn reads_and_writes_go_on_when_the_pinned_member_is_killed() {
    let _serial = serial();
    let etcd = Etcd::start(3);
    let client = recording_client(support::builder_for(&etcd));
    let pinned = client.prefix();
    client.node().set("/pin/k", "before", None).unwrap();
    let victim = etcd.endpoints().iter().position(|u| *u == pinned).unwrap();
    etcd.kill(victim, "KILL");
    client.transport().clear();
    let q = client.inorder().get_inorder("/pin/q");
    for i in 0..20 {
        client.node().set("/pin/k", &format!("v{i}"), None).unwrap();
        assert_eq!(
            client.node().get_quorum("/pin/k", false).unwrap().value(),
            Some(format!("v{i}").as_str())
        );
        q.add(&format!("job {i}"), None).unwrap();
    }
    assert_eq!(q.list().unwrap().len(), 20);
    assert_ne!(client.prefix(), pinned);
    let to_dead = client
        .transport()
        .sent()
        .iter()
        .filter(|s| s.to == authority(&pinned))
        .count();
    assert_eq!(to_dead, 1, "the dead member is tried once, then rests");
}

#[test]
fn writes_resume_after_the_leader_is_killed_and_unsafe_writes_are_never_resent() {
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
    let patient = recording_client(Client::builder().endpoints(order.clone()));
    let hasty = recording_client(
        Client::builder()
            .endpoints(order)
            .timeout(Duration::from_secs(2)),
    );
    patient.node().set("/elect/k", "0", None).unwrap();
    hasty.node().set("/elect/h", "0", None).unwrap();

    etcd.kill(leader, "KILL");
    let killed = Instant::now();

    // Unsafe writes right away, from both clients, concurrently with a safe one.
    let unsafe_patient = std::thread::scope(|s| {
        let h1 = s.spawn(|| patient.node().create_only("/elect/created", "once", None));
        let h2 = s.spawn(|| {
            hasty
                .node()
                .create_only("/elect/created-hasty", "once", None)
        });
        let h3 = s.spawn(|| hasty.node().set("/elect/h", "1", None));
        let r1 = h1.join().unwrap();
        let r2 = h2.join().unwrap();
        let r3 = h3.join().unwrap();
        (r1, r2, r3)
    });
    let (created, created_hasty, safe_hasty) = unsafe_patient;
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

    for (client, key, result) in [
        (&patient, "/elect/created", &created),
        (&hasty, "/elect/created-hasty", &created_hasty),
    ] {
        let creates: Vec<_> = client
            .transport()
            .sent()
            .into_iter()
            .filter(|s| s.method == "PUT" && s.target.starts_with(&format!("/v2/keys{key}")))
            .collect();
        let reached_a_live_member = creates.iter().filter(|s| s.outcome != "Connect").count();
        assert_eq!(
            reached_a_live_member, 1,
            "{key}: sent to one live member at most once: {creates:?}"
        );
        match result {
            Ok(r) => assert_eq!(r.value(), Some("once")),
            Err(e) => {
                assert!(matches!(e, Error::OutcomeUnknown { .. }), "{key}: {e}");
                if client.prefix() != leader_url {
                    // errorCode 300 or a timeout: both leave the outcome unknown.
                    let code = e.code();
                    assert!(
                        code == Some(ErrorCode::RaftInternal) || code.is_none(),
                        "{e}"
                    );
                }
            }
        }
    }
    // The safe write with the short timeout is retried elsewhere and lands.
    if let Err(e) = &safe_hasty {
        panic!("a safe write should be retried until a member takes it: {e}");
    }

    // Writes resume once a new leader is elected.
    let mut resumed = None;
    while killed.elapsed() < Duration::from_secs(40) {
        match patient.node().set("/elect/k", "after", None) {
            Ok(_) => {
                resumed = Some(killed.elapsed());
                break;
            }
            Err(e) => {
                assert!(!e.is_invalid_input(), "{e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    let resumed = resumed.expect("writes never resumed after the leader was killed");
    eprintln!("writes resumed {resumed:?} after the leader was killed");
    let new_leader = patient.server().get_leader_url_prefix().unwrap();
    assert_ne!(new_leader, leader_url);
    assert_eq!(
        patient
            .node()
            .get_quorum("/elect/k", false)
            .unwrap()
            .value(),
        Some("after")
    );
    // Whatever happened to the unsafe creates, reading tells.
    for key in ["/elect/created", "/elect/created-hasty"] {
        match patient.node().get_quorum(key, false) {
            Ok(r) => assert_eq!(r.value(), Some("once")),
            Err(e) => assert!(e.is_key_not_found(), "{e}"),
        }
    }
}

#[test]
fn members_stats_sync_and_cluster_ids() {
    let _serial = serial();
    let etcd = Etcd::start(3);
    let started = Instant::now();
    let client = support::client_for(&etcd);
    let members = client.members().list().unwrap();
    assert_eq!(members.len(), 3);
    let leader = client.members().leader().unwrap();
    let leader_url = leader.client_urls[0].clone();
    let follower_url = etcd
        .endpoints()
        .iter()
        .find(|u| **u != leader_url)
        .unwrap()
        .clone();

    // Only the leader serves leader statistics.
    let err = client
        .stat()
        .get_leader_stats_from(&Endpoint::parse(&follower_url).unwrap())
        .unwrap_err();
    assert!(matches!(&err, Error::NotLeader { .. }), "{err}");
    assert!(err.to_string().contains("not the leader"), "{err}");
    let stats = client.stat().get_leader_stats().unwrap();
    assert_eq!(stats.leader, leader.id);
    assert_eq!(stats.followers.len(), 2);

    // Sync from the members list, pinning the leader.
    let syncing = Client::builder()
        .endpoint(follower_url.clone())
        .prefer_leader(true)
        .build()
        .unwrap();
    let synced = syncing.sync_endpoints().unwrap();
    assert_eq!(synced.len(), 3);
    assert_eq!(syncing.prefix(), leader_url);
    let auto = Client::builder()
        .endpoint(follower_url.clone())
        .auto_sync(Duration::from_secs(60))
        .build()
        .unwrap();
    auto.node().set("/sync/k", "v", None).unwrap();
    assert_eq!(auto.endpoints().len(), 3, "synced before the first request");

    // Membership changes (etcd refuses them in the first 5 s after start).
    std::thread::sleep(Duration::from_secs(6).saturating_sub(started.elapsed()));
    let fake_peer = "http://127.0.0.1:1";
    let added = client.members().add(&[fake_peer]).unwrap();
    assert_eq!(added.name, "", "unstarted");
    assert!(added.client_urls.is_empty());
    let listed = client.members().list().unwrap();
    assert!(listed.iter().any(|m| m.id == added.id));
    client
        .members()
        .update(&added.id, &["http://127.0.0.1:2"])
        .unwrap();
    let err = client
        .members()
        .update(&added.id, &[&members[0].peer_urls[0]])
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 409, .. }), "{err}");
    client.members().remove(&added.id).unwrap();
    let err = client.members().remove(&added.id).unwrap_err();
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
    assert_eq!(client.members().list().unwrap().len(), 3);

    // Another cluster's member is refused; the client keeps to its own cluster.
    let other = Etcd::start(1);
    let id = client.cluster_id().unwrap();
    let strict = recording_client(
        Client::builder()
            .endpoints([other.endpoint().to_owned(), leader_url.clone()])
            .cluster_id(id.clone()),
    );
    strict.node().set("/ids/k", "mine", None).unwrap();
    let sent = strict.transport().sent();
    assert_eq!(sent[0].to, authority(other.endpoint()));
    assert_eq!(strict.prefix(), leader_url);
    let lone = Client::builder()
        .endpoint(other.endpoint())
        .cluster_id(id)
        .build()
        .unwrap();
    let err = lone.node().get("/", false).unwrap_err();
    assert!(matches!(err, Error::ClusterIdMismatch { .. }), "{err}");
    // Without an expected ID, the first answer pins it.
    let learner = Client::builder()
        .endpoints([leader_url.clone(), other.endpoint().to_owned()])
        .build()
        .unwrap();
    learner.node().get("/", false).unwrap();
    assert_eq!(learner.cluster_id(), client.cluster_id());
    let _: &Recorder<_> = strict.transport();
}
