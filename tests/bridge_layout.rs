//! The bridge's keyspace layout on its own: which node holds which lease,
//! which keys a change puts (and on which lease), and which keys a commit
//! compares; and how the gateway's answers read (errors, numbers).

use std::collections::BTreeMap;

use etcd_v2::bridge::layout::{holder, new_leases, Layout};
use etcd_v2::memory::store::Flat;

fn node(dir: bool, expire: Option<i64>) -> Flat {
    Flat {
        dir,
        value: Vec::new(),
        created: 1,
        modified: 1,
        expire,
    }
}

fn tree(nodes: &[(&str, bool, Option<i64>)]) -> BTreeMap<Vec<u8>, Flat> {
    nodes
        .iter()
        .map(|&(path, dir, expire)| (path.as_bytes().to_vec(), node(dir, expire)))
        .collect()
}

/// Every node of `/d` on lease 99.
fn all_on_99() -> BTreeMap<Vec<u8>, u64> {
    [
        (b"/d".to_vec(), 99),
        (b"/d/x".to_vec(), 99),
        (b"/d/y".to_vec(), 99),
    ]
    .into_iter()
    .collect()
}

/// The lease each put of `ops` puts its key on, by key.
fn puts(ops: &[serde_json::Value]) -> BTreeMap<String, Option<String>> {
    ops.iter()
        .filter_map(|op| op.get("request_put"))
        .map(|put| {
            let key = etcd_v2::base64::decode(put["key"].as_str().unwrap_or_default())
                .unwrap_or_default();
            let lease = put.get("lease").and_then(|l| l.as_str()).map(str::to_owned);
            (String::from_utf8_lossy(&key).into_owned(), lease)
        })
        .collect()
}

#[test]
fn a_commit_holds_only_while_what_it_changes_is_as_read() {
    let layout = Layout::new(b"P".to_vec());
    let before = tree(&[
        ("/d", true, None),
        ("/d/x", false, None),
        ("/d/y", false, None),
        ("/k", false, Some(5)),
        ("/same", false, None),
    ]);
    let after = tree(&[("/k2", false, None), ("/same", false, None)]);
    let revisions: BTreeMap<Vec<u8>, u64> = [
        (b"/d".to_vec(), 3),
        (b"/d/x".to_vec(), 4),
        (b"/d/y".to_vec(), 4),
        (b"/k".to_vec(), 7),
        (b"/same".to_vec(), 8),
    ]
    .into_iter()
    .collect();
    let compares = layout.unchanged(&before, &after, &revisions, 100);
    let keys: Vec<String> = compares
        .iter()
        .map(|c| {
            let key =
                etcd_v2::base64::decode(c["key"].as_str().unwrap_or_default()).unwrap_or_default();
            format!(
                "{}@{}",
                String::from_utf8_lossy(&key),
                c["mod_revision"].as_str().unwrap_or_default()
            )
        })
        .collect();
    // The removed directory (not each key below it) and the removed key;
    // nothing for what stays as it was, or is new.
    assert_eq!(keys, ["P/d/@3", "P/k@7"]);
    assert_eq!(layout.unchanged(&before, &after, &revisions, 1).len(), 1);
}

#[test]
fn the_node_expiring_first_of_a_path_and_its_directories_holds_it() {
    let t = tree(&[
        ("/a", true, Some(10)),
        ("/a/b", true, None),
        ("/a/b/c", false, Some(20)),
        ("/a/b/d", false, Some(5)),
        ("/e", true, Some(7)),
        ("/e/f", false, Some(7)),
    ]);
    assert_eq!(holder(&t, b"/a/b/c"), Some(&b"/a"[..]));
    assert_eq!(holder(&t, b"/a/b/d"), Some(&b"/a/b/d"[..]));
    assert_eq!(holder(&t, b"/a/b"), Some(&b"/a"[..]));
    assert_eq!(
        holder(&t, b"/e/f"),
        Some(&b"/e"[..]),
        "the topmost on a tie"
    );
    assert_eq!(holder(&tree(&[("/x", false, None)]), b"/x"), None);
}

#[test]
fn a_directory_given_a_ttl_takes_what_is_below_it_onto_its_lease_and_back() {
    let layout = Layout::new(b"P".to_vec());
    let second = 1_000_000_000;
    let before = tree(&[
        ("/d", true, None),
        ("/d/x", false, None),
        ("/d/y", false, Some(50 * second)),
    ]);
    let leases: BTreeMap<Vec<u8>, u64> = [(b"/d/y".to_vec(), 7)].into_iter().collect();
    let mut after = before.clone();
    after.insert(b"/d".to_vec(), node(true, Some(10 * second)));
    // One new lease: the directory's (y's own stays, but y now ends with
    // the directory).
    let needed = new_leases(&before, &after, 0);
    assert_eq!(needed, [(b"/d".to_vec(), 11)].into_iter().collect());
    let granted = [(b"/d".to_vec(), 99)].into_iter().collect();
    let put = puts(&layout.diff(&before, &after, (&leases, &Default::default()), &granted));
    let on = |k: &str| put.get(k).cloned().flatten();
    assert_eq!(on("P/d/"), Some("99".into()));
    assert_eq!(
        on("P/d/x"),
        Some("99".into()),
        "moved onto the directory's lease"
    );
    assert_eq!(on("P/d/y"), Some("99".into()));
    assert_eq!(
        on("P\u{1}/d/y"),
        Some("99".into()),
        "its expiry goes with it"
    );

    // Made permanent again: y needs a lease of its own again (its old one
    // may have ended), x none.
    let leases = all_on_99();
    let needed = new_leases(&after, &before, 0);
    assert_eq!(needed, [(b"/d/y".to_vec(), 51)].into_iter().collect());
    let granted = [(b"/d/y".to_vec(), 100)].into_iter().collect();
    let put = puts(&layout.diff(&after, &before, (&leases, &Default::default()), &granted));
    assert_eq!(put.get("P/d/"), Some(&None));
    assert_eq!(put.get("P/d/x"), Some(&None));
    assert_eq!(put.get("P/d/y"), Some(&Some("100".into())));

    // Nothing changed: nothing put, nothing granted.
    let granted = BTreeMap::new();
    assert!(new_leases(&after, &after, 0).is_empty());
    let leases = all_on_99();
    assert!(
        puts(&layout.diff(&after, &after, (&leases, &Default::default()), &granted)).is_empty()
    );
}

// ---- the gateway's answers (bridge::v3) ----

use etcd_v2::bridge::v3::{error_of, Header};
use etcd_v2::Error;

fn answer(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .body(body.as_bytes().to_vec())
        .expect("response")
}

#[test]
fn both_gateway_error_shapes_read_as_the_same_error() {
    // etcd 3.4 and 3.5 (captured), and 3.6's google.rpc.Status.
    for body in [
        r#"{"error":"etcdserver: member not found","message":"etcdserver: member not found","code":5}"#,
        r#"{"code":5,"message":"etcdserver: member not found","details":[]}"#,
    ] {
        match error_of(&answer(404, body)) {
            Error::Api {
                status, message, ..
            } => {
                assert_eq!(
                    (status, message.as_str()),
                    (404, "etcdserver: member not found")
                )
            }
            other => panic!("{body}: {other}"),
        }
    }
    // Not JSON (a proxy's page): an HTTP error with the body's start.
    assert!(matches!(
        error_of(&answer(502, "<html>bad gateway</html>")),
        Error::Http { status: 502, .. }
    ));
}

#[test]
fn numbers_come_as_strings_or_numbers() {
    let header: Header = serde_json::from_str(
        r#"{"cluster_id":"12237504764579765809","revision":7,"raft_term":"2"}"#,
    )
    .expect("header");
    assert_eq!(
        (header.cluster_id, header.revision, header.raft_term),
        (12237504764579765809, 7, 2)
    );
    assert!(serde_json::from_str::<Header>(r#"{"revision":"seven"}"#).is_err());
}
