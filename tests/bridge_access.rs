//! The v2 auth API over the bridge without a server: v2 permission patterns
//! as v3 ranges and back (`bridge::perms`), the requests' decoding
//! (`bridge::access_ask`), and the call (`bridge::access`) told v3's answers
//! by hand.

use std::collections::BTreeSet;
use std::time::Instant;

use etcd_v2::bridge::access::Access;
use etcd_v2::bridge::access_ask::{decode, Ask};
use etcd_v2::bridge::perms::{changes, parse_role, v2_patterns, v3_perms, Patterns};
use etcd_v2::bridge::v3::Post;
use etcd_v2::bridge::{Outcome, Request};
use etcd_v2::machine::{Machine, Step};
use etcd_v2::{base64, Error};
use serde_json::{json, Value};

const P: &[u8] = b"/t";

fn patterns(read: &[&str], write: &[&str]) -> Patterns {
    Patterns {
        read: read.iter().map(|s| s.to_string()).collect(),
        write: write.iter().map(|s| s.to_string()).collect(),
    }
}

fn keys(
    perms: &std::collections::BTreeMap<
        etcd_v2::bridge::perms::Range,
        etcd_v2::bridge::perms::Access,
    >,
) -> BTreeSet<(String, Option<String>, &'static str)> {
    perms
        .iter()
        .map(|((k, e), a)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                e.as_ref().map(|e| String::from_utf8_lossy(e).into_owned()),
                a.perm_type().unwrap_or("none"),
            )
        })
        .collect()
}

#[test]
fn a_prefix_pattern_is_a_range_of_nodes_and_markers_and_write_adds_parents() {
    let perms = v3_perms(P, &patterns(&[], &["/a/b/*"]));
    let got = keys(&perms);
    let s = |k: &str, e: Option<&str>, t: &'static str| (k.to_string(), e.map(str::to_string), t);
    for want in [
        s("/t/a/b/", Some("/t/a/b0"), "WRITE"),
        s("/t\0/a/b/", Some("/t\0/a/b0"), "WRITE"),
        s("/t\u{1}/a/b/", Some("/t\u{1}/a/b0"), "WRITE"),
        s("/t\u{2}/a/b/", Some("/t\u{2}/a/b0"), "WRITE"),
        // The parents, so that a write can make them.
        s("/t/a/", None, "WRITE"),
        s("/t/a/b/", None, "WRITE"),
        s("/t\u{1}/a", None, "WRITE"),
        s("/t\u{1}/a/b", None, "WRITE"),
        // The bridge's own: read everything under the prefix, write the serial key.
        s("/t", Some("/u"), "READ"),
        s("/t", None, "WRITE"),
    ] {
        assert!(got.contains(&want), "{want:?} missing from {got:#?}");
    }
    // Nothing outside the prefix, and no parent as a file.
    assert!(got.iter().all(|(k, _, _)| k.starts_with("/t")));
    assert!(!got.iter().any(|(k, e, _)| k == "/t/a" && e.is_none()));
}

#[test]
fn an_exact_pattern_is_its_keys_only() {
    let got = keys(&v3_perms(P, &patterns(&["/cfg/key"], &[])));
    let nodes: Vec<_> = got
        .iter()
        .filter(|(k, _, _)| k.starts_with("/t/"))
        .collect();
    assert_eq!(nodes.len(), 2, "{got:#?}");
    assert!(nodes.iter().all(|(_, e, t)| e.is_none() && *t == "READ"));
    // No write at all for a read-only role.
    assert!(got.iter().all(|(_, _, t)| *t == "READ"), "{got:#?}");
}

#[test]
fn patterns_read_back_as_given() {
    for given in [
        patterns(&["/app/*", "/x"], &["/app/*", "/a/b/c"]),
        patterns(&["/*"], &[]),
        patterns(&[], &["/q*", "/"]),
        patterns(&["/a", "/a/*"], &["/a"]),
    ] {
        let perms: Vec<_> = v3_perms(P, &given).into_iter().collect();
        assert_eq!(v2_patterns(P, &perms), given);
        // Through v3's JSON, as /v3/auth/role/get lists them.
        let listed: Vec<Value> = perms
            .iter()
            .map(|((k, e), a)| {
                let mut p = json!({ "key": base64::encode(k), "permType": a.perm_type() });
                if let Some(e) = e {
                    p["range_end"] = json!(base64::encode(e));
                }
                p
            })
            .collect();
        let parsed = parse_role(&json!({ "perm": listed })).expect("v3's JSON");
        assert_eq!(v2_patterns(P, &parsed), given);
    }
    // `*` alone is `/*`; a role v3 tools made outside the prefix shows nothing.
    let star: Vec<_> = v3_perms(P, &patterns(&["*"], &[])).into_iter().collect();
    assert_eq!(v2_patterns(P, &star), patterns(&["/*"], &[]));
    let foreign = parse_role(
        &json!({ "perm": [{ "key": base64::encode(b"a/"), "range_end": base64::encode(b"a0") }] }),
    )
    .unwrap();
    assert_eq!(v2_patterns(P, &foreign), Patterns::default());
    // READ is v3's default and may be left out, or come as a number.
    let numbered = parse_role(&json!({ "perm": [
        { "key": base64::encode(b"/t/k") },
        { "key": base64::encode(b"/t/w"), "permType": 1 },
        { "key": base64::encode(b"/t/rw"), "permType": "READWRITE" },
    ] }))
    .unwrap();
    assert_eq!(
        v2_patterns(P, &numbered),
        patterns(&["/k", "/rw"], &["/w", "/rw"])
    );
}

#[test]
fn an_update_changes_only_what_differs_and_leaves_foreign_permissions_alone() {
    let before: Vec<_> = v3_perms(P, &patterns(&["/a/*"], &["/a/*"]))
        .into_iter()
        .chain([(
            (b"other".to_vec(), None),
            etcd_v2::bridge::perms::Access {
                read: true,
                write: false,
            },
        )])
        .collect();
    let wanted = v3_perms(P, &patterns(&["/a/*"], &[]));
    let sent = changes("r", P, &before, &wanted);
    let revoked: Vec<&Value> = sent
        .iter()
        .filter(|(p, _)| *p == "/v3/auth/role/revoke")
        .map(|(_, b)| b)
        .collect();
    let granted: Vec<&Value> = sent
        .iter()
        .filter(|(p, _)| *p == "/v3/auth/role/grant")
        .map(|(_, b)| b)
        .collect();
    // The write-only ranges go (parents none here: `/a/*`'s only parent is
    // the root), the serial key's write goes, `other` stays.
    assert!(revoked
        .iter()
        .all(|b| b["key"] != json!(base64::encode(b"other"))));
    assert!(revoked
        .iter()
        .any(|b| b["key"] == json!(base64::encode(P)) && b.get("range_end").is_none()));
    // The node and marker ranges were READWRITE and become READ.
    assert_eq!(granted.len(), 4, "{granted:#?}");
    assert!(granted
        .iter()
        .all(|b| b["perm"]["permType"] == "READ" && b["name"] == "r"));
    // Nothing to do when nothing differs.
    let same: Vec<_> = wanted.clone().into_iter().collect();
    assert!(changes("r", P, &same, &wanted).is_empty());
}

#[test]
fn malformed_auth_requests_are_answered_as_v2_does_before_anything_is_asked() {
    let put = http::Method::PUT;
    let refused = |method: &http::Method, path: &str, body: &str| {
        let answer = decode(method, path, body.as_bytes()).expect_err("refused");
        (
            answer.status().as_u16(),
            String::from_utf8_lossy(answer.body()).into_owned(),
        )
    };
    let (status, body) = refused(&put, "/users/bob", "{not json");
    assert_eq!(
        (status, body.as_str()),
        (400, "{\"message\":\"Invalid JSON in request body.\"}")
    );
    let (status, body) = refused(&put, "/users/bob", r#"{"user":"carol","password":"x"}"#);
    assert_eq!(status, 400);
    assert!(
        body.contains("User JSON name does not match the name in the URL"),
        "{body}"
    );
    let (_, body) = refused(
        &put,
        "/users/bob",
        r#"{"user":"bob","roles":["a"],"grant":["b"]}"#,
    );
    assert!(body.contains("both roles and grant/revoke"), "{body}");
    let (_, body) = refused(
        &put,
        "/roles/r",
        r#"{"role":"r","permissions":{"kv":{"read":["/a"]}},"grant":{"kv":{"read":["/b"]}}}"#,
    );
    assert!(body.contains("both permissions and grant/revoke"), "{body}");
    let (status, _) = refused(&http::Method::POST, "/users", "");
    assert_eq!(status, 405);
    assert_eq!(
        decode(&http::Method::GET, "/enable", b"").ok(),
        Some(Ask::Status)
    );
    assert_eq!(
        decode(&http::Method::DELETE, "/roles/r", b"").ok(),
        Some(Ask::DeleteRole("r".into()))
    );
}

/// Run a call, answering each request in turn; the requests sent and the end.
fn run(
    ask: Ask,
    answers: Vec<Result<Value, Error>>,
) -> (Vec<Post>, Result<http::Response<Vec<u8>>, Error>) {
    let mut call = Access::new(P.to_vec(), ask);
    let mut answers = answers.into_iter();
    let mut sent = Vec::new();
    let now = Instant::now();
    loop {
        match call.poll(now) {
            Step::Send(Request::Post(post)) => {
                sent.push(post);
                let answer = answers
                    .next()
                    .unwrap_or_else(|| Err(Error::Misuse("no more".into())));
                call.handle(Outcome::Post(answer), now)
                    .expect("matching outcome");
            }
            Step::Done(out) => return (sent, out),
            other => panic!("unexpected step {other:?}"),
        }
    }
}

fn api(message: &str) -> Error {
    Error::Api {
        endpoint: String::new(),
        status: 400,
        message: message.into(),
    }
}

fn header() -> Value {
    json!({ "header": { "cluster_id": "255" } })
}

#[test]
fn a_change_whose_outcome_is_unknown_ends_the_call_and_nothing_more_is_sent() {
    let ask = decode(
        &http::Method::PUT,
        "/roles/r",
        br#"{"role":"r","permissions":{"kv":{"write":["/a/*"]}}}"#,
    )
    .unwrap();
    let unknown = Error::OutcomeUnknown {
        source: Box::new(api("connection reset")),
    };
    let (sent, out) = run(
        ask,
        vec![
            Err(api("etcdserver: role name not found")),
            Ok(header()),
            Err(unknown),
        ],
    );
    assert_eq!(
        sent.iter().map(Post::path).collect::<Vec<_>>(),
        [
            "/v3/auth/role/get",
            "/v3/auth/role/add",
            "/v3/auth/role/grant"
        ]
    );
    assert!(sent[1].applies() && sent[2].applies() && !sent[0].applies());
    assert!(matches!(out, Err(Error::OutcomeUnknown { .. })), "{out:?}");
}

#[test]
fn auth_on_is_told_by_a_failed_login_and_enabling_twice_is_a_conflict() {
    // On, asked by root (who may list the users): a conflict.
    let (sent, out) = run(
        Ask::Enable,
        vec![
            Err(api(
                "etcdserver: authentication failed, invalid user ID or password",
            )),
            Ok(json!({ "header": {}, "users": ["root"] })),
        ],
    );
    let paths: Vec<_> = sent.iter().map(Post::path).collect();
    assert_eq!(paths, ["/v3/auth/authenticate", "/v3/auth/user/list"]);
    assert!(!sent[1].applies());
    let out = out.unwrap();
    assert_eq!(out.status(), 409);
    assert_eq!(out.body(), b"{\"message\":\"auth: already enabled\"}");
    // On, asked by anyone else: refused first, as etcd v2 does.
    let (_, out) = run(
        Ask::Enable,
        vec![
            Err(api(
                "etcdserver: authentication failed, invalid user ID or password",
            )),
            Err(api("etcdserver: user name is empty")),
        ],
    );
    let out = out.unwrap();
    assert_eq!(out.status(), 401);
    assert_eq!(out.body(), b"{\"message\":\"Insufficient credentials\"}");
    // Off, a root user without the root role: the role is made (or found)
    // and granted before auth is turned on.
    let (sent, out) = run(
        Ask::Enable,
        vec![
            Err(api("etcdserver: authentication is not enabled")),
            Ok(json!({ "header": {}, "roles": [] })),
            Err(api("etcdserver: role name already exists")),
            Ok(header()),
            Ok(header()),
        ],
    );
    let paths: Vec<_> = sent.iter().map(Post::path).collect();
    assert_eq!(
        paths,
        [
            "/v3/auth/authenticate",
            "/v3/auth/user/get",
            "/v3/auth/role/add",
            "/v3/auth/user/grant",
            "/v3/auth/enable"
        ]
    );
    assert_eq!(out.unwrap().status(), 200);
}

#[test]
fn a_foreign_cluster_ends_the_call_before_any_change() {
    let ask = decode(&http::Method::DELETE, "/users/root", b"").unwrap();
    let mut call = Access::new(P.to_vec(), ask).expect_cluster(Some("aa".into()));
    let now = Instant::now();
    let Step::Send(Request::Post(probe)) = call.poll(now) else {
        panic!("a probe")
    };
    assert_eq!(probe.path(), "/v3/auth/authenticate");
    call.handle(Outcome::Post(Ok(header())), now).unwrap();
    match call.poll(now) {
        Step::Done(Err(Error::ClusterIdMismatch { found, .. })) => assert_eq!(found, "ff"),
        other => panic!("{other:?}"),
    }
}
