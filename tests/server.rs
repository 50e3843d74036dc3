//! The seed's server and stat operations, and the members list, against a real
//! single-member etcd.

// The MEMBERSHIP guard serializes the membership test's two variants, async
// included: a tokio test's future runs on its own thread (block_on), so holding a
// std guard across its awaits is intended.
#![allow(clippy::await_holding_lock)]

mod support;

use std::sync::Mutex;

use etcd_v2::Endpoint;

etcd_test!(version_machines_leader_and_health, |c, _p| {
    let version = call!(c.server().get_version()).unwrap();
    assert!(
        version.server.starts_with("3.4.") || version.server.starts_with("3.5."),
        "{version:?}"
    );
    assert!(!version.cluster.is_empty());
    let endpoint = support::Etcd::shared().endpoint().to_owned();
    assert_eq!(
        call!(c.server().get_machines()).unwrap(),
        std::slice::from_ref(&endpoint)
    );
    assert_eq!(call!(c.server().get_leader_url_prefix()).unwrap(), endpoint);
    assert!(call!(c.server().health()).unwrap());
});

etcd_test!(statistics, |c, p| {
    let me = call!(c.stat().get_self_stats()).unwrap();
    assert_eq!(me.name, "m1");
    // etcd prints member IDs with %x: up to 16 hex digits, fewer with leading zeros.
    assert!(
        (1..=16).contains(&me.id.len()) && me.id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{}",
        me.id
    );
    assert_eq!(me.leader_info.leader, me.id, "a single member leads itself");
    assert!(me.start_time.is_some());

    let before = call!(c.stat().get_store_stats()).unwrap();
    call!(c.node().set(&p.key("s"), "v", None)).unwrap();
    let after = call!(c.stat().get_store_stats()).unwrap();
    assert!(after.sets_success > before.sets_success);

    let leader = call!(c.stat().get_leader_stats()).unwrap();
    assert_eq!(leader.leader, me.id);
    assert!(leader.followers.is_empty());
    let here = Endpoint::parse(support::Etcd::shared().endpoint()).unwrap();
    assert_eq!(
        call!(c.stat().get_leader_stats_from(&here)).unwrap().leader,
        me.id
    );
});

/// Membership changes, one test variant at a time (see
/// [`support::one_at_a_time`]).
static MEMBERSHIP: Mutex<()> = Mutex::new(());

/// A membership change that etcd refuses, as `$c` answers it (the error).
///
/// etcd's raft drops a membership change proposed before the previous one's
/// raft round has been acknowledged as applied: the change is never applied
/// and the member answers 500 once its request timeout (7 s here) has run out,
/// which the client reports as an unknown outcome (it may have applied). A
/// quorum read goes through raft, so once it has answered the previous change
/// is out of the way; it is made before each change. Should a change still
/// come back unknown, it is sent again (at most three times in all), which is
/// harmless here: these changes are refused and never apply.
macro_rules! refused_change {
    ($c:expr, $p:expr, $change:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            let _ = call!($c.node().get_quorum(&$p.key("raft-barrier"), false));
            let err = call!($change).unwrap_err();
            if !matches!(err, etcd_v2::Error::OutcomeUnknown { .. }) || tries == 3 {
                break err;
            }
        }
    }};
}

etcd_test!(members_of_a_single_member_cluster, |c, p| {
    let _membership = support::one_at_a_time(&MEMBERSHIP);
    let members = call!(c.members().list()).unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].name, "m1");
    assert_eq!(members[0].client_urls, [support::Etcd::shared().endpoint()]);
    let leader = call!(c.members().leader()).unwrap();
    assert_eq!(leader.id, members[0].id);
    let err = refused_change!(c, p, c.members().remove("deadbeef"));
    assert!(
        matches!(err, etcd_v2::Error::Api { status: 404, .. }),
        "{err}"
    );
    let err = call!(c.members().remove("not-hex")).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    let err = call!(c.members().add(&[])).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    let err = refused_change!(c, p, c.members().add(&[&members[0].peer_urls[0]]));
    assert!(
        matches!(err, etcd_v2::Error::Api { status: 409, .. }),
        "{err}"
    );
});

etcd_test!(sync_endpoints_reads_the_members, |c, _p| {
    let synced = call!(c.sync_endpoints()).unwrap();
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0].as_str(), support::Etcd::shared().endpoint());
});
