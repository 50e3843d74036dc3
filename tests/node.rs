//! The seed's node operations against a real etcd: each method's success and
//! failure cases, TTLs, awkward keys and values.

mod support;

use std::time::{Duration, Instant};

use etcd_v2::ops::keys::{Get, GetListing, NoValueOnSuccess, Set};
use etcd_v2::ops::raw::RawRequest;
use etcd_v2::{Action, Error};

etcd_test!(set_then_get, |c, p| {
    let k = p.key("a");
    let set = call!(c.node().set(&k, "one", None)).unwrap();
    assert_eq!(set.action, Action::Set);
    assert_eq!(set.node.key, k);
    assert_eq!(set.value(), Some("one"));
    assert!(set.prev_node.is_none());
    assert!(set.cluster.etcd_index.is_some() && set.cluster.cluster_id.is_some());

    let got = call!(c.node().get(&k, false)).unwrap();
    assert_eq!(got.action, Action::Get);
    assert_eq!(got.value(), Some("one"));
    assert_eq!(got.node.modified_index, set.node.modified_index);
    assert!(!got.is_directory() && !got.is_deleted() && !got.is_collection());

    let again = call!(c.node().set(&k, "two", None)).unwrap();
    assert_eq!(
        again.prev_node.as_ref().and_then(|n| n.value.as_deref()),
        Some("one")
    );
    assert!(again.node.modified_index > set.node.modified_index);
});

etcd_test!(get_missing_is_key_not_found, |c, p| {
    let err = call!(c.node().get(&p.key("nope"), false)).unwrap_err();
    assert!(err.is_key_not_found(), "{err}");
    let nested = call!(c.node().get(&p.key("no/such/deep/key"), false)).unwrap_err();
    assert!(nested.is_key_not_found());
    assert_eq!(nested.etcd().unwrap().status, 404);
});

etcd_test!(get_below_a_file_is_not_a_directory, |c, p| {
    call!(c.node().set(&p.key("file"), "x", None)).unwrap();
    let err = call!(c.node().get(&p.key("file/child"), false)).unwrap_err();
    assert!(err.is_not_a_directory(), "{err}");
    let err = call!(c.node().set(&p.key("file/child"), "y", None)).unwrap_err();
    assert!(err.is_not_a_directory(), "{err}");
});

etcd_test!(set_on_a_directory_is_not_a_file, |c, p| {
    call!(c.node().set(&p.key("d/x"), "1", None)).unwrap();
    let err = call!(c.node().set(&p.key("d"), "v", None)).unwrap_err();
    assert!(err.is_not_a_file(), "{err}");
});

etcd_test!(root_is_read_only, |c, _p| {
    let err = call!(c.node().set("/", "v", None)).unwrap_err();
    assert!(err.is_root_read_only(), "{err}");
    let err = call!(c.node().delete("/", None, None)).unwrap_err();
    assert!(err.is_root_read_only(), "{err}");
    let root = call!(c.node().get("/", false)).unwrap();
    assert!(root.is_directory() && root.is_collection());
    assert_eq!(root.node.key, "/");
});

etcd_test!(recursive_sorted_and_quorum_reads, |c, p| {
    for k in ["c", "a", "sub/b", "b"] {
        call!(c.node().set(&p.key(k), k, None)).unwrap();
    }
    let flat = call!(c.node().get(p.dir(), false)).unwrap();
    assert!(flat.is_collection());
    assert_eq!(flat.children().len(), 4);
    let sub = flat.children().iter().find(|n| n.dir).unwrap();
    assert!(!sub.is_collection(), "one level only");

    let deep = call!(c.node().get(p.dir(), true)).unwrap();
    let sub = deep.children().iter().find(|n| n.dir).unwrap();
    assert!(sub.is_collection());
    assert_eq!(sub.children()[0].value.as_deref(), Some("sub/b"));

    let sorted = call!(c.node().get_sorted(p.dir(), false)).unwrap();
    let keys: Vec<&str> = sorted.children().iter().map(|n| n.key.as_str()).collect();
    let mut want = keys.clone();
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(keys.len(), 4);

    let quorum = call!(c.node().get_quorum(&p.key("a"), false)).unwrap();
    assert_eq!(quorum.value(), Some("a"));
    let missing = call!(c.node().get_quorum(&p.key("zz"), false)).unwrap_err();
    assert!(missing.is_key_not_found());

    let all =
        call!(c.execute(&Get::new(p.dir()).recursive(true).sorted(true).quorum(true))).unwrap();
    let leaves: Vec<&str> = all.node.leaves().iter().map(|n| n.value_str()).collect();
    assert_eq!(leaves, ["a", "b", "c", "sub/b"]);
});

etcd_test!(a_listing_lends_out_what_get_reads, |c, p| {
    for (k, v) in [
        ("a", "1"),
        ("sub/b", "<&> \"quoted\" \\ \u{2028}"),
        ("sub/deeper/c", "caf\u{e9} \u{1f600}"),
        ("_hidden", "h"),
    ] {
        call!(c.node().set(&p.key(k), v, None)).unwrap();
    }
    call!(c.node().set(&p.key("timed"), "t", Some(1000))).unwrap();
    call!(c.directory().create(&p.key("empty"), None)).unwrap();
    // TTLs count down between two reads: compared apart, within a second.
    fn without_ttls(mut node: etcd_v2::Node) -> (etcd_v2::Node, Vec<i64>) {
        let mut ttls = Vec::new();
        let mut stack = vec![&mut node];
        while let Some(n) = stack.pop() {
            ttls.extend(n.ttl.take());
            stack.extend(n.children.iter_mut().flatten());
        }
        (node, ttls)
    }
    for recursive in [false, true] {
        let get = Get::new(p.dir()).recursive(recursive).sorted(true);
        let owned = call!(c.execute(&get)).unwrap();
        let lent = call!(c.execute(&GetListing::new(get.clone()))).unwrap();
        assert_eq!(lent.action(), &Action::Get);
        // Other tests write to the same member meanwhile.
        assert!(lent.cluster().etcd_index >= owned.cluster.etcd_index);
        assert!(owned.cluster.etcd_index.is_some());
        let (lent_node, lent_ttls) = without_ttls(lent.to_response().node);
        let (owned_node, owned_ttls) = without_ttls(owned.node);
        assert_eq!(lent_node, owned_node, "recursive: {recursive}");
        assert_eq!(lent_ttls.len(), 1);
        assert!((lent_ttls[0] - owned_ttls[0]).abs() <= 1);
    }
    let lent = call!(c.node().get_listing(p.dir(), true)).unwrap();
    let mut values: Vec<&str> = lent.node().leaves().map(|n| n.value_str()).collect();
    values.sort_unstable();
    assert_eq!(
        values,
        [
            "1",
            "<&> \"quoted\" \\ \u{2028}",
            "caf\u{e9} \u{1f600}",
            "t"
        ]
    );
    let empty = lent.node().children().find(|n| n.key().ends_with("/empty"));
    assert!(empty.is_some_and(|e| e.is_collection() && e.children().count() == 0));
    let missing = call!(c.node().get_listing(&p.key("nope"), false)).unwrap_err();
    assert!(missing.is_key_not_found(), "{missing}");
    // The shortcuts: sorted children, and a quorum read of the same tree.
    let sorted = call!(c.node().get_listing_sorted(p.dir(), false)).unwrap();
    let keys: Vec<&str> = sorted.node().children().map(|n| n.key()).collect();
    let mut in_order = keys.clone();
    in_order.sort_unstable();
    assert!(keys.len() > 1);
    assert_eq!(keys, in_order);
    // One level only: no child directory's children listed.
    assert!(sorted.node().children().all(|n| !n.is_collection()));
    let quorum = call!(c.node().get_listing_quorum(p.dir(), true)).unwrap();
    let mut quorum_values: Vec<&str> = quorum.node().leaves().map(|n| n.value_str()).collect();
    quorum_values.sort_unstable();
    assert_eq!(quorum_values, values);
    let missing = call!(c.node().get_listing_quorum(&p.key("nope"), false)).unwrap_err();
    assert!(missing.is_key_not_found(), "{missing}");
});

etcd_test!(create_only_and_update_only, |c, p| {
    let k = p.key("k");
    let created = call!(c.node().create_only(&k, "first", None)).unwrap();
    assert_eq!(created.action, Action::Create);
    let err = call!(c.node().create_only(&k, "second", None)).unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(
        call!(c.node().get(&k, false)).unwrap().value(),
        Some("first")
    );

    let updated = call!(c.node().update_only(&k, "third", None)).unwrap();
    assert_eq!(updated.action, Action::Update);
    assert_eq!(
        updated.node.created_index, created.node.created_index,
        "update keeps createdIndex"
    );
    let err = call!(c.node().update_only(&p.key("missing"), "x", None)).unwrap_err();
    assert!(err.is_key_not_found(), "{err}");
});

etcd_test!(compare_and_swap_every_condition, |c, p| {
    let k = p.key("cas");
    let v1 = call!(c.node().set(&k, "one", None)).unwrap();
    let idx = v1.node.modified_index;

    let err = call!(c.node().update_if_value(&k, "x", "wrong", None)).unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert!(err
        .etcd()
        .unwrap()
        .cause
        .as_deref()
        .unwrap()
        .contains("wrong"));
    let err = call!(c.node().update_if_index(&k, "x", idx + 1000, None)).unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");

    let v2 = call!(c.node().update_if_value(&k, "two", "one", None)).unwrap();
    assert_eq!(v2.action, Action::CompareAndSwap);
    assert_eq!(v2.prev_node.unwrap().value.as_deref(), Some("one"));
    let v3 = call!(c
        .node()
        .update_if_index(&k, "three", v2.node.modified_index, Some(60)))
    .unwrap();
    assert_eq!(v3.value(), Some("three"));
    assert!(v3.node.ttl.is_some());

    let both = call!(c.node().compare_and_swap(
        &k,
        "four",
        Some("three"),
        Some(v3.node.modified_index),
        None,
        None
    ));
    assert_eq!(both.unwrap().value(), Some("four"));
    let exists = call!(c
        .node()
        .compare_and_swap(&k, "five", None, None, Some(true), None))
    .unwrap();
    assert_eq!(exists.value(), Some("five"));
    let err = call!(c
        .node()
        .compare_and_swap(&k, "six", None, None, Some(false), None))
    .unwrap_err();
    assert!(err.is_already_exists());
    let err = call!(c
        .node()
        .compare_and_swap(&p.key("none"), "x", Some("a"), None, None, None))
    .unwrap_err();
    assert!(err.is_key_not_found(), "{err}");
    // No condition at all: the seed's plain set.
    let plain = call!(c
        .node()
        .compare_and_swap(&k, "seven", None, None, None, None))
    .unwrap();
    assert_eq!(plain.action, Action::Set);
    // Refused before sending: a zero index and an empty value.
    let err = call!(c.node().update_if_index(&k, "x", 0, None)).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    let err = call!(c.node().update_if_value(&k, "x", "", None)).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert_eq!(
        call!(c.node().get(&k, false)).unwrap().value(),
        Some("seven")
    );
});

etcd_test!(delete_and_compare_and_delete, |c, p| {
    let k = p.key("del");
    let set = call!(c.node().set(&k, "v", None)).unwrap();

    let err = call!(c.node().delete_if_value(&k, "other")).unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let err = call!(c.node().delete_if_index(&k, set.node.modified_index + 1)).unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let err = call!(c
        .node()
        .delete(&k, Some("v"), Some(set.node.modified_index + 1)))
    .unwrap_err();
    assert!(
        err.is_precondition_failed(),
        "both conditions must hold: {err}"
    );
    // Still there: the failed conditions deleted nothing.
    assert_eq!(call!(c.node().get(&k, false)).unwrap().value(), Some("v"));

    let gone = call!(c.node().delete_if_value(&k, "v")).unwrap();
    assert_eq!(gone.action, Action::CompareAndDelete);
    assert!(gone.is_deleted());
    assert_eq!(gone.prev_node.unwrap().value.as_deref(), Some("v"));

    let set = call!(c.node().set(&k, "w", None)).unwrap();
    let gone = call!(c.node().delete_if_index(&k, set.node.modified_index)).unwrap();
    assert_eq!(gone.action, Action::CompareAndDelete);

    call!(c.node().set(&k, "z", None)).unwrap();
    let gone = call!(c.node().delete(&k, None, None)).unwrap();
    assert_eq!(gone.action, Action::Delete);
    let err = call!(c.node().delete(&k, None, None)).unwrap_err();
    assert!(err.is_key_not_found(), "{err}");
    let err = call!(c.node().delete_if_value(&k, "z")).unwrap_err();
    assert!(err.is_key_not_found(), "{err}");

    // A zero index would be an unconditional delete in etcd: refused, nothing deleted.
    call!(c.node().set(&k, "keep", None)).unwrap();
    let err = call!(c.node().delete_if_index(&k, 0)).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    let err = call!(c.node().compare_and_delete(&k, false, None, None, false)).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert_eq!(
        call!(c.node().get(&k, false)).unwrap().value(),
        Some("keep")
    );
    let gone = call!(c
        .node()
        .compare_and_delete(&k, false, Some("keep"), None, false))
    .unwrap();
    assert_eq!(gone.action, Action::CompareAndDelete);
});

etcd_test!(
    ttl_expires_and_refresh_extends_without_touching_the_value,
    |c, p| {
        let k = p.key("ttl");
        // TTL 5: refreshed below before it runs out, even on a busy machine.
        let set = call!(c.node().set(&k, "keep", Some(5))).unwrap();
        assert!(set.node.expiration.is_some());
        assert!(matches!(set.node.ttl, Some(4 | 5)));

        // Refresh to a longer TTL: value unchanged, action update.
        let refreshed = call!(c.node().refresh(&k, 30)).unwrap();
        assert_eq!(refreshed.action, Action::Update);
        assert_eq!(refreshed.value(), Some("keep"));
        assert!(refreshed.node.ttl.unwrap() > 20);
        assert!(refreshed.node.expiration > set.node.expiration);
        let err = call!(c.node().refresh(&p.key("missing"), 5)).unwrap_err();
        assert!(err.is_key_not_found(), "{err}");

        // Back to one second: gone soon after.
        call!(c.node().refresh(&k, 1)).unwrap();
        let start = Instant::now();
        loop {
            match call!(c.node().get(&k, false)) {
                Ok(_) => {
                    assert!(
                        start.elapsed() < Duration::from_secs(15),
                        "the key did not expire"
                    );
                    sleep!(Duration::from_millis(100));
                }
                Err(e) => {
                    assert!(e.is_key_not_found(), "{e}");
                    break;
                }
            }
        }
        // The expiry is an event.
        let expired = call!(c.node().wait_from(&k, set.node.modified_index + 1, false)).unwrap();
        let mut event = expired;
        while event.action != Action::Expire {
            event = call!(c.node().wait_from(&k, event.node.modified_index + 1, false)).unwrap();
        }
        assert!(event.is_deleted());

        // A plain set drops a TTL; an update without one removes it.
        call!(c.node().set(&k, "a", Some(100))).unwrap();
        let plain = call!(c.node().set(&k, "b", None)).unwrap();
        assert!(plain.node.ttl.is_none() && plain.node.expiration.is_none());
    }
);

etcd_test!(awkward_keys_round_trip_exactly, |c, p| {
    let names = [
        "space in name",
        "100%",
        "what?",
        "hash#tag",
        "a&b=c",
        "plus+sign",
        "semi;colon",
        "caf\u{e9} \u{65e5}\u{672c} \u{1f600}",
        "tab\there",
        "colon:at@tilde~",
        "%2F-not-a-slash",
        "%2E%2E",
        "line\u{2028}sep",
        "ctrl\u{1}\u{7f}",
    ];
    for name in names {
        let k = p.key(name);
        let set = call!(c.node().set(&k, name, None)).unwrap();
        assert_eq!(set.node.key, k, "{name:?}");
        let got = call!(c.node().get(&k, false)).unwrap();
        assert_eq!(got.node.key, k, "{name:?}");
        assert_eq!(got.value(), Some(name), "{name:?}");
    }
    let listing = call!(c.node().get(p.dir(), false)).unwrap();
    assert_eq!(listing.children().len(), names.len());
    for child in listing.children() {
        assert_eq!(
            child.value.as_deref(),
            Some(crate::support_basename(&child.key))
        );
    }
    // Cleaning happens client-side: etcd would answer 301 to these.
    call!(c.node().set(&p.key("x//y/./z/../w"), "clean", None)).unwrap();
    assert_eq!(
        call!(c.node().get(&p.key("x/y/w"), false)).unwrap().value(),
        Some("clean")
    );
    // Keys must be absolute (the seed's validate_path).
    let err = call!(c.node().get("relative/key", false)).unwrap_err();
    assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
});

fn support_basename(key: &str) -> &str {
    key.rsplit('/').next().unwrap()
}

etcd_test!(unicode_empty_and_large_values, |c, p| {
    let values = [
        "",
        "h\u{e9}llo w\u{f6}rld \u{2713} \u{65e5}\u{672c}\u{8a9e} \u{1f389}",
        "a+b & c=d; e%20f",
        "{\"json\": [1, 2, 3]}",
        "line1\nline2\r\n",
        "nul\0byte",
        "<tag>&amp;</tag>",
    ];
    for (i, v) in values.iter().enumerate() {
        let k = p.key(&format!("v{i}"));
        let set = call!(c.node().set(&k, v, None)).unwrap();
        assert_eq!(set.value(), Some(*v));
        assert_eq!(
            call!(c.node().get(&k, false)).unwrap().value(),
            Some(*v),
            "{v:?}"
        );
    }
    if support::is_bridge() {
        // Over the bridge a write's v3 transaction carries the value twice
        // (the node and the event record), and a replaced value once more:
        // 1.5 MB is past etcd's default request limit, refused as a whole
        // (README's bridge table).
        let err = call!(c.node().set(&p.key("big"), &"x".repeat(1_500_000), None)).unwrap_err();
        assert!(!err.may_have_been_applied(), "a definite refusal: {err}");
        assert!(err.to_string().contains("larger than max"), "{err}");
        assert!(call!(c.node().get(&p.key("big"), false))
            .unwrap_err()
            .is_key_not_found());
    }
    let big = "x".repeat(if support::is_bridge() {
        400_000
    } else {
        1_500_000
    });
    call!(c.node().set(&p.key("big"), &big, None)).unwrap();
    assert_eq!(
        call!(c.node().get(&p.key("big"), false))
            .unwrap()
            .value()
            .map(str::len),
        Some(big.len())
    );
    // etcd refuses forms over 10 MiB (errorCode 210): refused before sending.
    let huge = "y".repeat(11 * 1024 * 1024);
    let err = call!(c.node().set(&p.key("huge"), &huge, None)).unwrap_err();
    assert!(
        err.is_invalid_input() && err.to_string().contains("10 MiB"),
        "{err}"
    );
    // Just under the limit is accepted by etcd (by v2; the bridge refuses it
    // as above).
    let max = "z".repeat(etcd_v2::ops::MAX_FORM_SIZE - "value=".len());
    let written = call!(c.node().set(&p.key("max"), &max, None));
    if support::is_bridge() {
        assert!(!written.unwrap_err().may_have_been_applied());
    } else {
        written.unwrap();
    }
});

etcd_test!(wait_returns_the_next_change, |c, p| {
    let k = p.key("w");
    let first = call!(c.node().set(&k, "0", None)).unwrap();
    // From an index in the past: replayed.
    call!(c.node().set(&k, "1", None)).unwrap();
    let replay = call!(c.node().wait_from(&k, first.node.modified_index + 1, false)).unwrap();
    assert_eq!(replay.value(), Some("1"));

    // Live: a writer changes the key while we wait.
    let writer = support::client();
    let key = k.clone();
    let rewriter = support::keep_writing(move || {
        writer.node().set(&key, "2", None).unwrap();
    });
    let event = call!(c.node().wait(&k, false)).unwrap();
    rewriter.stop();
    assert_eq!(event.action, Action::Set);
    assert_eq!(event.value(), Some("2"));

    // Recursive: a change below the directory.
    let writer = support::client();
    let child = p.key("dir/child");
    let rewriter = support::keep_writing(move || {
        writer.node().set(&child, "c", None).unwrap();
    });
    let event = call!(c.node().wait(&p.key("dir"), true)).unwrap();
    rewriter.stop();
    assert_eq!(event.node.key, p.key("dir/child"));
});

etcd_test!(
    a_wait_outlives_its_long_poll_timeout,
    builder: |b| b.wait_timeout(Duration::from_millis(300)),
    |c, p| {
        let k = p.key("slow");
        let writer = support::client();
        let key = k.clone();
        // The first write comes 1.5 s after the start (1.2 s, then the
        // rewriter's 300 ms: past several 300 ms polls), then again until the
        // wait has it: a wait that came late still sees one.
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1200));
            support::keep_writing(move || {
                writer.node().set(&key, "late", None).unwrap();
            })
        });
        let event = call!(c.node().wait(&k, false)).unwrap();
        handle.join().unwrap().stop();
        assert_eq!(event.value(), Some("late"));
        assert!(started.elapsed() >= Duration::from_millis(1200));
        assert_eq!(c.prefix(), support::Etcd::shared().endpoint());
    }
);

etcd_test!(send_mirrors_the_seeds_low_level_call, |c, p| {
    let path = format!("/keys{}", p.key("raw"));
    let put = RawRequest::new(http::Method::PUT, path.as_str())
        .value("r")
        .data("ttl", "60");
    let r = call!(c.send(&put)).unwrap();
    assert_eq!(r.value(), Some("r"));
    assert!(r.node.ttl.is_some());
    let raw = call!(c.send_raw(&RawRequest::new(http::Method::GET, path.as_str()))).unwrap();
    assert_eq!(raw.status(), 200);
    assert!(raw.headers().contains_key("x-etcd-index"));
    let missing = format!("/keys{}", p.key("none"));
    let raw = call!(c.send_raw(&RawRequest::new(http::Method::GET, missing.as_str()))).unwrap();
    assert_eq!(raw.status(), 404, "raw answers keep their status");
    let err = call!(c.send(&RawRequest::new(http::Method::GET, missing.as_str()))).unwrap_err();
    assert!(err.is_key_not_found());
    let version =
        call!(c.send_raw(&RawRequest::unversioned(http::Method::GET, "/version"))).unwrap();
    assert!(String::from_utf8_lossy(version.body()).contains("etcdserver"));
});

etcd_test!(no_value_on_success_acknowledges_only, |c, p| {
    let ack = call!(c.execute(&NoValueOnSuccess::new(Set::new(p.key("nv"), "big value")))).unwrap();
    assert_eq!(ack.action, Action::Set);
    let index = ack.cluster.etcd_index.unwrap();
    let got = call!(c.node().get(&p.key("nv"), false)).unwrap();
    assert_eq!(got.node.modified_index, index);
});

etcd_test!(prefix_names_the_pinned_endpoint, |c, _p| {
    assert_eq!(c.prefix(), support::Etcd::shared().endpoint());
    call!(c.node().get("/", false)).unwrap();
    assert!(c.cluster_id().is_some());
});

etcd_test!(
    one_client_is_shared_by_many_threads_or_tasks,
    |client, p| {
        fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
        assert_shareable::<etcd_v2::Client>();
        assert_shareable::<etcd_v2::AsyncClient>();
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let c = client.clone();
                let p = p.clone();
                spawn!({
                    for i in 0..25 {
                        let k = p.key(&format!("t{t}/k{i}"));
                        call!(c.node().set(&k, &format!("{t}-{i}"), None)).unwrap();
                        let got = call!(c.node().get(&k, false)).unwrap();
                        assert_eq!(got.value(), Some(format!("{t}-{i}").as_str()));
                    }
                })
            })
            .collect();
        for h in handles {
            join!(h);
        }
        let all = call!(client.node().get(p.dir(), true)).unwrap();
        assert_eq!(all.node.leaves().len(), 200);
    }
);

etcd_test!(
    ttls_up_to_max_ttl_are_kept_and_longer_ones_refused_before_sending,
    |c, p| {
        use etcd_v2::ops::MAX_TTL;
        let rec = recording!(support::builder_with(|b| b));
        let k = p.key("longest");
        let set = call!(rec.node().set(&k, "v", Some(MAX_TTL))).unwrap();
        assert_eq!(
            set.node.ttl,
            Some(MAX_TTL as i64),
            "etcd keeps the longest TTL exactly"
        );
        assert!(set.node.expiration.is_some());
        let got = call!(c.node().get(&k, false)).unwrap();
        let left = got.node.ttl.unwrap();
        assert!(
            (MAX_TTL as i64 - 3..=MAX_TTL as i64).contains(&left),
            "{left}"
        );
        let sent = rec.transport().sent().len();
        for ttl in [MAX_TTL + 1, 9_000_000_000, u64::MAX] {
            let node = rec.node();
            let results = [
                call!(node.set(&k, "v", Some(ttl))),
                call!(node.create_only(&p.key("new"), "v", Some(ttl))),
                call!(node.update_only(&k, "v", Some(ttl))),
                call!(node.compare_and_swap(&k, "w", Some("v"), None, None, Some(ttl))),
                call!(node.update_if_index(&k, "w", set.node.modified_index, Some(ttl))),
                call!(node.update_if_value(&k, "w", "v", Some(ttl))),
                call!(node.refresh(&k, ttl)),
                call!(rec.directory().create(&p.key("dir"), Some(ttl))),
                call!(rec.directory().update_ttl(&p.key("dir"), Some(ttl))),
                call!(rec.inorder().get_inorder(&p.key("q")).add("v", Some(ttl))),
                call!(rec.inorder().get_inorder(&p.key("q")).create(Some(ttl))),
            ];
            for (i, r) in results.into_iter().enumerate() {
                let err = r.unwrap_err();
                assert!(
                    matches!(err, Error::InvalidArgument { name: "ttl", .. }),
                    "call {i} with ttl {ttl}: {err}"
                );
            }
        }
        assert_eq!(rec.transport().sent().len(), sent, "nothing was sent");
        assert_eq!(call!(c.node().get(&k, false)).unwrap().value(), Some("v"));
    }
);

/// etcd's own bound, measured: it keeps a key's expiry as nanoseconds since
/// 1970 in an i64, so a TTL reaching past 2262-04-11T23:47:16Z is misread (kept
/// as a key that never expires), and one above 2^63 ns wraps into the past (an
/// already expired key). This is why the client refuses TTLs over `MAX_TTL`.
#[test]
fn etcds_own_ttl_bound_is_where_its_expiry_overflows() {
    let c = support::client();
    let p = support::Prefix::new("ttl-bound");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let bound = (i64::MAX as u128 - now.as_nanos()) / 1_000_000_000;
    let bound = u64::try_from(bound).unwrap();
    assert!(
        etcd_v2::ops::MAX_TTL < bound - 60,
        "MAX_TTL is below etcd's bound"
    );
    let raw = |key: &str, ttl: u64| {
        let path = format!("/keys{key}");
        c.send(
            &RawRequest::new(http::Method::PUT, path.as_str())
                .value("v")
                .data("ttl", ttl.to_string()),
        )
        .unwrap()
    };
    let below = raw(&p.key("below"), bound - 60);
    assert_eq!(below.node.ttl, Some((bound - 60) as i64), "kept exactly");
    let above = raw(&p.key("above"), bound + 60);
    assert_eq!(above.node.ttl, None, "misread: a key that never expires");
    assert!(above.node.expiration.is_none());
    let wrapped = raw(&p.key("wrapped"), u64::MAX);
    assert_eq!(wrapped.node.ttl, Some(-1), "misread: expired a second ago");
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.node().get(&p.key("wrapped"), false).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the wrapped key should expire at once"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A transport that passes requests to etcd, but reports the first write's
/// answer as lost (a timeout after etcd applied it), as a leader killed
/// mid-write does.
struct LosesFirstWriteAnswer {
    inner: etcd_v2::DefaultTransport,
    writes: std::sync::Mutex<usize>,
}

impl etcd_v2::Transport for LosesFirstWriteAnswer {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<Vec<u8>>, etcd_v2::TransportError> {
        // A v2 write, or a bridge commit (a v3 transaction with conditions).
        let write = request.method() == http::Method::PUT
            || (request.uri().path() == "/v3/kv/txn"
                && String::from_utf8_lossy(request.body()).contains("\"compare\""));
        let answer = self.inner.send(request, timeout)?;
        let mut writes = self.writes.lock().unwrap();
        if write {
            *writes += 1;
            if *writes == 1 {
                return Err(etcd_v2::TransportError::new(
                    etcd_v2::TransportErrorKind::Timeout,
                    "the answer was lost",
                ));
            }
        }
        Ok(answer)
    }
}

#[test]
fn a_set_whose_answer_was_lost_is_not_resent_unless_opted_in() {
    let etcd = support::Etcd::shared();
    let p = support::Prefix::new("no-resend");
    // Two URLs of the one member, so that failover has somewhere to go.
    let endpoints = [
        etcd.endpoint().to_owned(),
        etcd.endpoint().replace("127.0.0.1", "localhost"),
    ];
    let observer = support::client();
    for opt_in in [false, true] {
        let k = p.key(&format!("k-{opt_in}"));
        let start = observer
            .execute(&etcd_v2::ops::keys::CurrentIndex::new(&k))
            .unwrap();
        let mut builder = etcd_v2::Client::builder()
            .endpoints(endpoints.clone())
            .resend_sets_after_unknown_outcome(opt_in);
        if support::is_bridge() {
            builder = builder.v3_bridge(support::BRIDGE_PREFIX);
            if opt_in {
                // Not offered over the bridge: refused when the client is built.
                let err = builder.build().unwrap_err();
                assert!(matches!(err, Error::NotOnBridge(_)), "{err}");
                continue;
            }
        }
        let client = builder
            .build_from(|options| {
                Ok(LosesFirstWriteAnswer {
                    inner: etcd_v2::DefaultTransport::new(options)?,
                    writes: std::sync::Mutex::new(0),
                })
            })
            .unwrap();
        let result = client.node().set(&k, "v", None);
        let writes = *client.transport().writes.lock().unwrap();
        let mut watch = observer.watch(&k).from_index(start + 1).start().unwrap();
        let first = match watch.next() {
            Some(Ok(etcd_v2::watch::WatchEvent::Change(c))) => c,
            other => panic!("{other:?}"),
        };
        let later = observer.node().get(&k, false).unwrap().node.modified_index;
        if opt_in {
            result.unwrap();
            assert_eq!(writes, 2, "resent once, as asked");
            assert!(
                later > first.node.modified_index,
                "applied twice: two events"
            );
        } else {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
            assert!(err.may_have_been_applied());
            assert_eq!(writes, 1, "never resent");
            assert_eq!(later, first.node.modified_index, "applied exactly once");
        }
    }
}

etcd_test!(
    current_index_reads_the_store_index_without_writing,
    |c, p| {
        let before = call!(c.node().current_index()).unwrap();
        let again = call!(c.node().current_index()).unwrap();
        assert!(again >= before, "nothing was written by reading it");
        let written = call!(c.node().set(&p.key("k"), "v", None)).unwrap();
        assert!(written.node.modified_index > before);
        let after = call!(c.node().current_index()).unwrap();
        assert!(after >= written.node.modified_index);
        // A wait from index + 1 sees the next change and nothing before it.
        let next = call!(c.node().set(&p.key("k"), "w", None)).unwrap();
        let seen = call!(c.node().wait_from(&p.key("k"), after + 1, false)).unwrap();
        assert_eq!(seen.node.modified_index, next.node.modified_index);
    }
);

etcd_test!(typed_values_parse_or_say_why_not, |c, p| {
    call!(c.node().set(&p.key("port"), "8080", None)).unwrap();
    call!(c
        .node()
        .set(&p.key("conf"), r#"{"replicas":3,"name":"web"}"#, None))
    .unwrap();
    let port = call!(c.node().get(&p.key("port"), false)).unwrap();
    assert_eq!(port.value_as::<u16>().unwrap(), 8080);
    assert_eq!(port.node.value_as::<u64>().unwrap(), 8080);
    let err = port.value_as::<bool>().unwrap_err();
    assert!(
        matches!(err, Error::BadValue { .. }) && err.to_string().contains("port"),
        "{err}"
    );
    assert_eq!(err.kind(), etcd_v2::ErrorKind::BadValue);
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Conf {
        replicas: u32,
        name: String,
    }
    let conf: Conf = call!(c.node().get(&p.key("conf"), false))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        conf,
        Conf {
            replicas: 3,
            name: "web".into()
        }
    );
    assert!(matches!(
        port.json::<Conf>().unwrap_err(),
        Error::BadValue { .. }
    ));
    // The same on a node of a listing.
    let listed = call!(c.node().get(p.dir(), true)).unwrap();
    let conf_node = listed
        .children()
        .iter()
        .find(|n| n.key.ends_with("/conf"))
        .unwrap();
    assert_eq!(conf_node.json::<Conf>().unwrap(), conf);
    assert!(matches!(
        listed.node.json::<Conf>().unwrap_err(),
        Error::NoValue { .. }
    ));
    let dir = call!(c.node().get(p.dir(), false)).unwrap();
    assert_eq!(dir.value(), None);
    assert_eq!(dir.value_str(), "");
    let err = dir.value_as::<u16>().unwrap_err();
    assert!(matches!(err, Error::NoValue { .. }), "{err}");
    // The three ways to read the text agree.
    let leaf = &dir
        .children()
        .iter()
        .find(|n| n.key.ends_with("port"))
        .unwrap();
    assert_eq!(leaf.value(), leaf.value.as_deref());
    assert_eq!(leaf.value_str(), "8080");
});
