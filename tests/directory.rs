//! The seed's directory and in-order operations against a real etcd.

mod support;

use std::time::{Duration, Instant};

use etcd_v2::{Action, Error};

etcd_test!(create_directory_and_fail_if_it_exists, |c, p| {
    let d = p.key("dir");
    let created = call!(c.directory().create(&d, None)).unwrap();
    assert_eq!(created.action, Action::Create);
    assert!(created.is_directory());
    let err = call!(c.directory().create(&d, None)).unwrap_err();
    assert!(
        err.is_already_exists(),
        "the seed's EtcdAlreadyExistsException: {err}"
    );
    call!(c.node().set(&p.key("file"), "x", None)).unwrap();
    let err = call!(c.directory().create(&p.key("file"), None)).unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    let err = call!(c.directory().create(&p.key("file/sub"), None)).unwrap_err();
    assert!(err.is_not_a_directory(), "{err}");
    let listed = call!(c.node().get(&d, false)).unwrap();
    assert!(listed.is_collection() && listed.children().is_empty());
});

etcd_test!(
    directory_with_ttl_expires_and_can_be_made_permanent,
    |c, p| {
        let d = p.key("ttl-dir");
        // TTL 5: the child below must be written before the directory expires,
        // even on a busy machine.
        let created = call!(c.directory().create(&d, Some(5))).unwrap();
        assert!(created.node.expiration.is_some());
        call!(c.node().set(&p.key("ttl-dir/child"), "c", None)).unwrap();
        let start = Instant::now();
        while call!(c.node().get(&d, false)).is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the directory did not expire"
            );
            sleep!(Duration::from_millis(100));
        }
        let err = call!(c.node().get(&p.key("ttl-dir/child"), false)).unwrap_err();
        assert!(
            err.is_key_not_found(),
            "children expire with their directory: {err}"
        );

        let d2 = p.key("keep-dir");
        // TTL 5: the version read and the TTL's removal land before it ends,
        // even on a busy machine. A twin left with its TTL shows when it
        // would have ended.
        call!(c.directory().create(&d2, Some(5))).unwrap();
        let twin = p.key("twin-dir");
        call!(c.directory().create(&twin, Some(5))).unwrap();
        let server = call!(c.server().get_version()).unwrap().server;
        match call!(c.directory().update_ttl(&d2, None)) {
            Ok(permanent) => {
                // The bridge keeps 3.4's semantics whatever the member.
                assert!(
                    server.starts_with("3.4") || support::is_bridge(),
                    "etcd {server} changed a dir's TTL"
                );
                assert!(permanent.node.expiration.is_none());
                let start = Instant::now();
                while call!(c.node().get(&twin, false)).is_ok() {
                    assert!(
                        start.elapsed() < Duration::from_secs(20),
                        "the twin directory did not expire"
                    );
                    sleep!(Duration::from_millis(100));
                }
                assert!(call!(c.node().get(&d2, false)).is_ok());
            }
            // etcd 3.5 cannot change a directory's TTL (etcd issue #13589): it
            // answers 500, errorCode 300 "Not a file", having changed nothing.
            // The client reports that as a definite refusal, not an unknown
            // outcome.
            Err(e) => {
                assert!(
                    server.starts_with("3.5") && !support::is_bridge(),
                    "etcd {server}: {e}"
                );
                assert!(e.is_not_a_file() && !e.may_have_been_applied(), "{e}");
                assert!(e.to_string().contains("13589"), "{e}");
            }
        }
    }
);

etcd_test!(delete_empty_directory_but_not_a_full_one, |c, p| {
    let d = p.key("d");
    call!(c.node().set(&p.key("d/x"), "1", None)).unwrap();
    let err = call!(c.directory().delete(&d, None, None)).unwrap_err();
    assert!(err.is_directory_not_empty(), "{err}");
    let err = call!(c.node().delete(&d, None, None)).unwrap_err();
    assert!(
        err.is_not_a_file(),
        "a directory needs dir or recursive: {err}"
    );
    assert!(err.to_string().contains("recursive"), "{err}");
    call!(c.node().delete(&p.key("d/x"), None, None)).unwrap();
    let gone = call!(c.directory().delete(&d, None, None)).unwrap();
    assert_eq!(gone.action, Action::Delete);
    assert!(gone.is_deleted() && gone.is_directory());
    let err = call!(c.directory().delete(&d, None, None)).unwrap_err();
    assert!(err.is_key_not_found(), "{err}");
});

etcd_test!(delete_recursive_removes_the_subtree, |c, p| {
    for k in ["tree/a", "tree/b/c", "tree/b/d/e"] {
        call!(c.node().set(&p.key(k), "v", None)).unwrap();
    }
    let gone = call!(c.directory().delete_recursive(&p.key("tree"), None)).unwrap();
    assert!(gone.is_deleted());
    let err = call!(c.node().get(&p.key("tree/b/d/e"), false)).unwrap_err();
    assert!(err.is_key_not_found());
});

etcd_test!(
    compare_and_delete_on_a_directory_is_refused_and_deletes_nothing,
    |c, p| {
        let d = p.key("cad");
        call!(c.node().set(&p.key("cad/child"), "v", None)).unwrap();
        let index = call!(c.node().get(&d, false)).unwrap().node.modified_index;
        let empty = p.key("cad-empty");
        let empty_index = call!(c.directory().create(&empty, None))
            .unwrap()
            .node
            .modified_index;

        // etcd refuses every form of compare-and-delete on a directory with errorCode
        // 102, even with the right index; the client says so and never falls back to
        // an unconditional delete.
        let refusals = [
            call!(c.directory().delete_if_index(&empty, empty_index)).unwrap_err(),
            call!(c.directory().delete(&empty, Some("x"), None)).unwrap_err(),
            call!(c.directory().delete_recursive_if_index(&d, index)).unwrap_err(),
            call!(c.directory().delete_recursive(&d, Some(index))).unwrap_err(),
            call!(c
                .node()
                .compare_and_delete(&d, true, None, Some(index), true))
            .unwrap_err(),
        ];
        for err in refusals {
            assert!(err.is_not_a_file(), "{err}");
            assert_eq!(err.etcd().unwrap().status, 403);
            assert!(
                err.to_string()
                    .contains("compare-and-delete on a directory"),
                "{err}"
            );
        }
        assert!(call!(c.node().get(&empty, false)).unwrap().is_directory());
        assert_eq!(
            call!(c.node().get(&p.key("cad/child"), false))
                .unwrap()
                .value(),
            Some("v")
        );
    }
);

etcd_test!(inorder_keys_keep_creation_order, |c, p| {
    let q = c.inorder().get_inorder(&p.key("queue"));
    assert_eq!(q.path(), p.key("queue"));
    let mut added = Vec::new();
    for i in 0..12 {
        let r = call!(q.add(&format!("job {i}"), None)).unwrap();
        assert_eq!(r.action, Action::Create);
        let name = r.node.key.rsplit('/').next().unwrap().to_owned();
        assert_eq!(name.len(), 20, "20-digit zero-padded: {name}");
        assert!(name.bytes().all(|b| b.is_ascii_digit()));
        added.push(r.node.key.clone());
    }
    let listed = call!(q.list()).unwrap();
    let values: Vec<String> = listed.iter().map(|n| n.value_str().to_owned()).collect();
    let want: Vec<String> = (0..12).map(|i| format!("job {i}")).collect();
    assert_eq!(values, want);
    let keys: Vec<String> = listed.iter().map(|n| n.key.clone()).collect();
    assert_eq!(keys, added);

    // pop by name (last segment) or by full key
    let popped = call!(q.pop(added[0].rsplit('/').next().unwrap())).unwrap();
    assert_eq!(popped.prev_node.unwrap().value.as_deref(), Some("job 0"));
    let popped = call!(q.pop(&added[1])).unwrap();
    assert_eq!(popped.prev_node.unwrap().value.as_deref(), Some("job 1"));
    let err = call!(q.pop(&added[1])).unwrap_err();
    assert!(err.is_key_not_found(), "{err}");
    assert_eq!(call!(q.list()).unwrap().len(), 10);

    let gone = call!(q.delete()).unwrap();
    assert!(gone.is_deleted());
    assert!(call!(q.list()).unwrap_err().is_key_not_found());
});

etcd_test!(inorder_create_add_with_ttl_and_wait, |c, p| {
    let q = c.inorder().get_inorder(&p.key("tq"));
    let created = call!(q.create(None)).unwrap();
    assert!(created.is_directory());
    assert!(call!(q.create(None)).unwrap_err().is_already_exists());
    assert!(call!(q.list()).unwrap().is_empty());

    let short = call!(q.add("short-lived", Some(1))).unwrap();
    assert!(short.node.expiration.is_some());
    call!(q.add("durable", None)).unwrap();
    let start = Instant::now();
    while call!(q.list()).unwrap().len() != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the entry did not expire"
        );
        sleep!(Duration::from_millis(100));
    }
    assert_eq!(call!(q.list()).unwrap()[0].value_str(), "durable");

    let writer = support::client();
    let dir = p.key("tq");
    let rewriter = support::keep_writing(move || {
        writer
            .inorder()
            .get_inorder(&dir)
            .add("late", None)
            .unwrap();
    });
    let mut event = call!(q.wait()).unwrap();
    if support::is_bridge() && event.action == Action::Expire {
        // The bridge tells an expiry late: when v3's lease ends, or just
        // before the next write below it, whichever comes first (README's
        // bridge table). v2 told it at the TTL, before this wait began.
        assert!(
            event.node.key.ends_with(short.node.key.as_str()),
            "{event:?}"
        );
        let next = event.node.modified_index + 1;
        event = call!(c.node().wait_from(&p.key("tq"), next, true)).unwrap();
    }
    rewriter.stop();
    assert_eq!(event.action, Action::Create);
    assert_eq!(event.value(), Some("late"));

    // In-order POST below a file is errorCode 104.
    call!(c.node().set(&p.key("file"), "f", None)).unwrap();
    let below_file = c.inorder().get_inorder(&p.key("file"));
    assert!(call!(below_file.add("x", None))
        .unwrap_err()
        .is_not_a_directory());
});

etcd_test!(
    queue_entry_and_lock_names_cannot_escape_their_directory,
    |c, p| {
        let victim = p.key("victim");
        call!(c.node().set(&victim, "precious", None)).unwrap();
        let q = c.inorder().get_inorder(&p.key("q"));
        let entry = call!(q.add("job", None)).unwrap();
        // Names, and full keys inside the queue that climb out of it.
        let through_the_queue = format!("{}/../victim", p.key("q"));
        for bad in [
            "../victim",
            "..",
            ".",
            "a/../../victim",
            "./x",
            "",
            through_the_queue.as_str(),
        ] {
            let err = call!(q.pop(bad)).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{bad:?}: {err}");
        }
        assert_eq!(
            call!(c.node().get(&victim, false)).unwrap().value(),
            Some("precious")
        );
        // The entry's name and its full key still work.
        let name = etcd_v2::key::basename(&entry.node.key).to_owned();
        let popped = call!(q.pop(&name)).unwrap();
        assert_eq!(popped.prev_node.unwrap().value.as_deref(), Some("job"));

        let outside = format!("../..{}", p.key("escaped"));
        for name in ["../../x/y", outside.as_str(), "a/./b", "/"] {
            let mut lock = c.module().lock().get_lock(name, 5);
            let err = call!(lock.try_acquire()).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{name:?}: {err}");
            let mut rlock = c.module().lock().get_rlock(name, "me", 5);
            let err = call!(rlock.try_acquire()).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{name:?}: {err}");
            let err = call!(rlock.get_active_value()).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{name:?}: {err}");
            let err = call!(lock.get_active_index()).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{name:?}: {err}");
        }
        assert!(call!(c.node().get("/x", false))
            .unwrap_err()
            .is_key_not_found());
        assert!(call!(c.node().get(&p.key("escaped"), false))
            .unwrap_err()
            .is_key_not_found());
    }
);
