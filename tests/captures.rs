//! Parsing of real etcd 3.4 answers (tests/fixtures/captures): every keys
//! capture parses into its typed result or typed error, field by field.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use etcd_v2::ops::keys::{Get, NoValueOnSuccess, Set, Wait, WaitOutcome};
use etcd_v2::response::{parse_acknowledged, parse_keys};
use etcd_v2::{Action, Error, ErrorCode, Node, Operation};
use serde_json::Value;
use support::capture::{self, Capture};

fn check_node(node: &Node, json: &Value, ctx: &str) {
    assert_eq!(node.key, json["key"].as_str().unwrap_or("/"), "{ctx}: key");
    assert_eq!(
        node.value.as_deref(),
        json["value"].as_str(),
        "{ctx}: value"
    );
    assert_eq!(
        node.dir,
        json["dir"].as_bool().unwrap_or(false),
        "{ctx}: dir"
    );
    assert_eq!(node.ttl, json["ttl"].as_i64(), "{ctx}: ttl");
    assert_eq!(
        node.created_index,
        json["createdIndex"].as_u64().unwrap_or(0),
        "{ctx}"
    );
    assert_eq!(
        node.modified_index,
        json["modifiedIndex"].as_u64().unwrap_or(0),
        "{ctx}"
    );
    assert_eq!(
        node.expiration.is_some(),
        json["expiration"].is_string(),
        "{ctx}: expiration"
    );
    match json["nodes"].as_array() {
        Some(children) => {
            assert_eq!(node.children().len(), children.len(), "{ctx}: children");
            for (n, j) in node.children().iter().zip(children) {
                check_node(n, j, ctx);
            }
        }
        None => assert!(node.children().is_empty(), "{ctx}: no children"),
    }
}

fn is_keys(c: &Capture) -> bool {
    c.path().starts_with("/v2/keys")
        && c.response.is_some()
        && !c.truncated
        && !matches!(c.method.as_str(), "OPTIONS" | "HEAD")
}

#[test]
fn every_keys_capture_parses_into_its_typed_result() {
    let captures: Vec<Capture> = capture::all().into_iter().filter(is_keys).collect();
    assert!(
        captures.len() > 200,
        "only {} keys captures",
        captures.len()
    );
    let mut codes_seen = BTreeSet::new();
    for c in &captures {
        let response = c.response();
        let status = response.status().as_u16();
        let body = response.body().clone();
        let query = c.query().unwrap_or("");
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        let ctx = &c.name;
        if query.contains("stream=true") {
            continue; // streaming is not an API of this client
        }
        if (200..300).contains(&status)
            && query.contains("noValueOnSuccess=true")
            && c.method != "DELETE"
        {
            let ack = parse_acknowledged(&response).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(
                ack.action.as_str(),
                json.as_ref().unwrap()["action"].as_str().unwrap()
            );
            continue;
        }
        let parsed = if query.contains("wait=true") {
            match Wait::new("/x").parse(response) {
                Ok(WaitOutcome::Idle { cluster }) => {
                    assert!(body.is_empty(), "{ctx}: idle with a body");
                    assert!(
                        cluster.etcd_index.is_some(),
                        "{ctx}: idle without X-Etcd-Index"
                    );
                    continue;
                }
                Ok(WaitOutcome::Event(e)) => Ok(*e),
                Err(e) => Err(e),
            }
        } else {
            parse_keys(&response)
        };
        match (parsed, json) {
            (Ok(r), Some(j)) => {
                assert!((200..300).contains(&status), "{ctx}");
                assert_eq!(r.action.as_str(), j["action"].as_str().unwrap(), "{ctx}");
                check_node(&r.node, &j["node"], ctx);
                match r.prev_node {
                    Some(p) => check_node(&p, &j["prevNode"], ctx),
                    None => assert!(j["prevNode"].is_null(), "{ctx}"),
                }
                let idx = response_header(c, "X-Etcd-Index");
                assert_eq!(r.cluster.etcd_index, idx, "{ctx}: X-Etcd-Index");
                assert_eq!(
                    r.cluster.raft_index,
                    response_header(c, "X-Raft-Index"),
                    "{ctx}"
                );
                assert_eq!(
                    r.cluster.raft_term,
                    response_header(c, "X-Raft-Term"),
                    "{ctx}"
                );
                assert!(r.cluster.cluster_id.is_some(), "{ctx}: cluster id");
            }
            (Err(Error::Etcd(e)), Some(j)) => {
                let code = j["errorCode"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{ctx}: {j}")) as u16;
                assert_eq!(e.code.as_u16(), code, "{ctx}");
                assert_eq!(e.status, status, "{ctx}");
                assert_eq!(e.code.http_status(), status, "{ctx}: documented status");
                assert_eq!(e.message, j["message"].as_str().unwrap(), "{ctx}");
                assert_eq!(
                    e.cause.as_deref(),
                    j["cause"].as_str().filter(|s| !s.is_empty()),
                    "{ctx}"
                );
                assert_eq!(e.index, j["index"].as_u64().unwrap(), "{ctx}");
                assert!(
                    !matches!(e.code, ErrorCode::Other(_)),
                    "{ctx}: undocumented code {code}"
                );
                codes_seen.insert(code);
            }
            (Err(Error::Http { status: s, .. }), _) => {
                assert_eq!(s, status, "{ctx}");
                assert!(!(200..300).contains(&status), "{ctx}");
            }
            (other, j) => panic!("{ctx}: unexpected {other:?} for {j:?}"),
        }
    }
    let documented: BTreeSet<u16> = [
        100, 101, 102, 104, 105, 107, 108, 110, 201, 202, 203, 209, 210, 211, 212, 300, 401,
    ]
    .into();
    assert_eq!(
        codes_seen, documented,
        "every error code etcd was seen to send"
    );
}

fn response_header(c: &Capture, name: &str) -> Option<u64> {
    c.response
        .as_ref()?
        .headers()
        .get(name)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[test]
fn root_has_no_key_in_json_but_is_slash() {
    let r = Get::new("/")
        .parse(capture::load("005-get-root-slash").response())
        .unwrap();
    assert_eq!(r.node.key, "/");
    assert!(r.is_directory() && r.is_collection());
}

#[test]
fn a_set_reports_action_indexes_and_headers() {
    let r = Set::new("/message", "Hello world")
        .parse(capture::load("007-set-new-201").response())
        .unwrap();
    assert_eq!(r.action, Action::Set);
    assert_eq!(r.value(), Some("Hello world"));
    assert_eq!((r.node.created_index, r.node.modified_index), (5022, 5022));
    assert_eq!(r.cluster.etcd_index, Some(5022));
    assert_eq!(r.cluster.raft_index, Some(6154));
    assert_eq!(r.cluster.raft_term, Some(2));
    assert_eq!(r.cluster.cluster_id.as_deref(), Some("cc87f0f7eb420e9b"));
    assert!(r.prev_node.is_none() && !r.is_deleted());

    let over = parse_keys(&capture::load("009-set-overwrite-200").response()).unwrap();
    assert!(over.prev_node.is_some());
}

#[test]
fn expiration_is_a_timestamp_and_ttl_is_seconds() {
    let r = parse_keys(&capture::load("059-ttl-refresh").response()).unwrap();
    assert_eq!(r.action, Action::Update);
    assert_eq!(r.node.ttl, Some(30));
    // "2026-11-24T01:26:21.251878408Z"
    assert_eq!(
        r.node.expiration,
        Some(UNIX_EPOCH + Duration::new(1_795_483_581, 251_878_408))
    );
    assert_eq!(r.prev_node.unwrap().ttl, Some(10));
}

#[test]
fn listings_distinguish_collections() {
    let one_level = Get::new("/dir1")
        .parse(capture::load("071-dir-list-one-level").response())
        .unwrap();
    assert!(one_level.is_collection());
    let sub = one_level
        .children()
        .iter()
        .find(|n| n.dir)
        .expect("a sub-directory");
    assert!(
        !sub.is_collection(),
        "sub-dirs of a one-level listing are not listed"
    );

    let recursive = Get::new("/dir1")
        .recursive(true)
        .parse(capture::load("072-dir-list-recursive").response())
        .unwrap();
    let sub = recursive.children().iter().find(|n| n.dir).unwrap();
    assert!(sub.is_collection());
    let leaves: Vec<&str> = recursive
        .node
        .leaves()
        .iter()
        .map(|n| n.key.as_str())
        .collect();
    assert_eq!(leaves, ["/dir1/a", "/dir1/sub/b", "/dir1/c"]);

    let empty = Get::new("/d")
        .parse(capture::load("070-dir-get-empty").response())
        .unwrap();
    assert!(empty.is_collection() && empty.children().is_empty());
}

#[test]
fn deletions_and_expiries_are_deleted() {
    for name in [
        "017-delete-key",
        "131-cad-prevValue-ok",
        "055-ttl-expire-watch-event",
    ] {
        let r = parse_keys(&capture::load(name).response()).unwrap();
        assert!(r.is_deleted(), "{name}");
        assert!(r.node.value.is_none(), "{name}");
    }
    let expire = parse_keys(&capture::load("055-ttl-expire-watch-event").response()).unwrap();
    assert_eq!(expire.action, Action::Expire);
}

#[test]
fn hidden_keys_are_flagged() {
    let r = parse_keys(&capture::load("100-hidden-get-direct").response()).unwrap();
    assert!(r.node.is_hidden(), "{}", r.node.key);
}

#[test]
fn seed_exceptions_map_onto_error_helpers() {
    let err = |name: &str| parse_keys(&capture::load(name).response()).unwrap_err();
    assert!(err("018-get-missing-100").is_key_not_found());
    assert!(err("104-cas-prevValue-fail-101").is_precondition_failed());
    assert!(err("013-create-exists-105").is_already_exists());
    assert!(err("134-cad-on-dir-102").is_not_a_file());
    assert!(err("082-parent-is-file-104").is_not_a_directory());
    assert!(err("078-dir-delete-dir-true-108").is_directory_not_empty());
    assert!(err("089-delete-root-107").is_root_read_only());
    assert!(err("180-watch-event-index-cleared-401").is_event_index_cleared());
    assert!(err("255-auth-guest-put-401-110").is_unauthorized());
    let missing = err("020-get-missing-nested-100");
    assert_eq!(missing.etcd().unwrap().cause.as_deref(), Some("/no"));
    let raft = err("561-cl-elect-t0.0-put-c2");
    assert_eq!(raft.code(), Some(ErrorCode::RaftInternal));
    assert!(raft.to_string().contains("Raft Internal Error"), "{raft}");
}

#[test]
fn no_value_on_success_parses_to_an_acknowledgement() {
    let ack = NoValueOnSuccess::new(Set::new("/cas/nv", "one"))
        .parse(capture::load("120-novalue-set").response())
        .unwrap();
    assert_eq!(ack.action, Action::Set);
    assert_eq!(ack.cluster.etcd_index, Some(5089));
    // A plain parse of the same answer says what is wrong.
    let e = parse_keys(&capture::load("120-novalue-set").response()).unwrap_err();
    assert!(
        matches!(e, Error::Decode { .. }) && e.to_string().contains("noValueOnSuccess"),
        "{e}"
    );
    // Errors are unchanged.
    let e = NoValueOnSuccess::new(Set::new("/x", "y"))
        .parse(capture::load("125-novalue-cas-fail").response())
        .unwrap_err();
    assert!(e.is_precondition_failed());
}

#[test]
fn an_idle_wait_keeps_the_store_index() {
    let out = Wait::new("/w/never")
        .parse(capture::load("177-watch-wait-timeout-client-side").response())
        .unwrap();
    match out {
        WaitOutcome::Idle { cluster } => assert_eq!(cluster.etcd_index, Some(5120)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_etcd_answers_are_http_errors() {
    let e = parse_keys(&capture::load("197-esc-double-slash-get-301").response()).unwrap_err();
    match e {
        Error::Http {
            status: 301,
            location,
            ..
        } => assert!(location.is_some()),
        other => panic!("{other:?}"),
    }
    let e = parse_keys(&capture::load("021-method-patch-405").response()).unwrap_err();
    assert!(matches!(e, Error::Http { status: 405, .. }), "{e}");
    let e = parse_keys(&capture::load("011-head-missing").response()).unwrap_err();
    assert!(matches!(e, Error::Http { status: 404, .. }), "{e}");
}

#[test]
fn values_round_trip_unicode_and_escapes() {
    for (name, want) in [
        ("035-value-unicode", None),
        ("036-value-empty", Some("")),
        ("041-value-u2028", Some("a\u{2028}b")),
    ] {
        let r = parse_keys(&capture::load(name).response()).unwrap();
        if let Some(w) = want {
            assert_eq!(r.value(), Some(w), "{name}");
        } else {
            assert!(!r.value().unwrap().is_ascii(), "{name}");
        }
    }
    let invalid = parse_keys(&capture::load("040-value-invalid-utf8").response()).unwrap();
    assert!(invalid.value().unwrap().contains('\u{fffd}'));
}

#[test]
fn a_body_that_is_not_utf8_is_a_decode_error() {
    // etcd itself sends U+FFFD for invalid bytes (capture 040); a server that
    // sends raw invalid bytes inside a JSON string (a value, a key) gets a typed
    // error.
    for body in [
        &b"{\"action\":\"get\",\"node\":{\"key\":\"/a\",\"value\":\"\xff\xfe\",\"modifiedIndex\":7,\"createdIndex\":7}}"[..],
        &b"{\"action\":\"get\",\"node\":{\"key\":\"/\xc3\",\"modifiedIndex\":7,\"createdIndex\":7}}"[..],
    ] {
        let response = http::Response::builder()
            .status(200)
            .body(body.to_vec())
            .unwrap();
        match parse_keys(&response).unwrap_err() {
            Error::Decode { status, reason, .. } => {
                assert_eq!(status, 200);
                assert!(reason.contains("invalid unicode"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    // An error body that is not UTF-8 is still an error, not a panic.
    let response = http::Response::builder()
        .status(404)
        .body(b"{\"errorCode\":100,\"message\":\"\xff\"}".to_vec())
        .unwrap();
    assert!(matches!(
        parse_keys(&response).unwrap_err(),
        Error::Http { status: 404, .. }
    ));
}

#[test]
fn cluster_headers_are_read_whatever_their_order_with_the_first_of_a_repeat() {
    use etcd_v2::response::ClusterInfo;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-raft-term", "7".parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("X-Etcd-Cluster-Id", "cdf818194e3a8c32".parse().unwrap());
    headers.append("x-etcd-index", " 42 ".parse().unwrap());
    headers.append("x-etcd-index", "43".parse().unwrap());
    headers.insert("x-raft-index", "not a number".parse().unwrap());
    let info = ClusterInfo::from_headers(&headers);
    assert_eq!(
        info,
        ClusterInfo {
            etcd_index: Some(42),
            raft_index: None,
            raft_term: Some(7),
            cluster_id: Some("cdf818194e3a8c32".to_owned()),
        }
    );
    // A malformed first value is not replaced by a later one.
    let mut headers = http::HeaderMap::new();
    headers.append("x-etcd-index", "x".parse().unwrap());
    headers.append("x-etcd-index", "5".parse().unwrap());
    assert_eq!(ClusterInfo::from_headers(&headers).etcd_index, None);
    assert_eq!(
        ClusterInfo::from_headers(&http::HeaderMap::new()),
        ClusterInfo::default()
    );
}

/// `response` with only [`etcd_v2::CLUSTER_HEADERS`] left: what a transport's
/// `send_keeping_cluster_headers` may hand back.
fn thinned(response: &http::Response<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut thin = http::Response::new(response.body().clone());
    *thin.status_mut() = response.status();
    for (name, value) in response.headers() {
        if etcd_v2::CLUSTER_HEADERS.contains(name) {
            thin.headers_mut().append(name.clone(), value.clone());
        }
    }
    thin
}

#[test]
fn keys_answers_parse_alike_with_only_the_cluster_headers() {
    // The keys operations say they read no other header, so the client lets
    // the transport leave the others out: every keys capture (successes,
    // etcd errors, redirects and pages) parses to the same result both ways.
    let mut compared = 0;
    for c in capture::all().iter().filter(|c| is_keys(c)) {
        let Some(response) = &c.response else {
            continue;
        };
        let full = c.response();
        let thin = thinned(response);
        assert!(thin.headers().len() < full.headers().len(), "{}", c.name);
        assert!(Get::new("/k").reads_only_cluster_headers());
        assert!(Wait::new("/k").reads_only_cluster_headers());
        assert!(NoValueOnSuccess::new(Set::new("/k", "v")).reads_only_cluster_headers());
        for r in [&full, &thin] {
            assert_eq!(
                format!("{:?}", Get::new("/k").parse(r.clone())),
                format!("{:?}", Get::new("/k").parse(full.clone())),
                "{}",
                c.name
            );
            assert_eq!(
                format!("{:?}", Wait::new("/k").parse(r.clone())),
                format!("{:?}", Wait::new("/k").parse(full.clone())),
                "{}",
                c.name
            );
            assert_eq!(
                format!("{:?}", parse_acknowledged(r)),
                format!("{:?}", parse_acknowledged(&full)),
                "{}",
                c.name
            );
        }
        compared += 1;
    }
    assert!(compared > 100, "only {compared} keys captures");
}

#[cfg(feature = "bridge")]
#[test]
fn gateway_answers_parse_alike_with_only_the_cluster_headers() {
    // The v3 bridge's gateway calls say they read no header beyond the
    // cluster headers (the gateway sends none of them): each call's success,
    // and an error, with the gateway's headers as etcd 3.4 sent them (the
    // project's v3 gateway captures: a put, a lease grant, an authentication
    // and a put without a key), parse alike thinned.
    use etcd_v2::bridge::v3::{Authenticate, LeaseGrant, Post, Txn};
    let answer = |status: u16, body: &str| {
        let mut r = http::Response::new(body.as_bytes().to_vec());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        for (name, value) in [
            (
                "access-control-allow-headers",
                "accept, content-type, authorization",
            ),
            (
                "access-control-allow-methods",
                "POST, GET, OPTIONS, PUT, DELETE",
            ),
            ("access-control-allow-origin", "*"),
            ("content-type", "application/json"),
            ("grpc-metadata-content-type", "application/grpc"),
            ("date", "Wed, 02 Dec 2026 08:14:24 GMT"),
        ] {
            r.headers_mut().append(name, value.parse().unwrap());
        }
        r
    };
    const HEADER: &str = r#""header":{"cluster_id":"12237504764579765809","member_id":"2073005896338425251","revision":"43","raft_term":"2"}"#;
    let error = answer(
        400,
        r#"{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}"#,
    );
    let put = answer(200, &format!("{{{HEADER}}}"));
    let granted = answer(
        200,
        &format!(r#"{{{HEADER},"ID":"5018032761854927215","TTL":"60"}}"#),
    );
    let token = answer(
        200,
        &format!(r#"{{{HEADER},"token":"MHgrLYbKikVKDIOY.139"}}"#),
    );
    /// Parses alike whole and thinned, and says it may be thinned.
    fn alike<O: Operation>(op: &O, full: &http::Response<Vec<u8>>) -> String
    where
        O::Output: std::fmt::Debug,
    {
        assert!(op.reads_only_cluster_headers(), "{}", op.name());
        let thin = thinned(full);
        assert!(thin.headers().is_empty());
        let whole = format!("{:?}", op.parse(full.clone()));
        assert_eq!(format!("{:?}", op.parse(thin)), whole, "{}", op.name());
        whole
    }
    let post = Post::applying("/v3/kv/put", serde_json::json!({}));
    let txn = Txn::write(Vec::new(), Vec::new());
    let grant = LeaseGrant { ttl: 60 };
    let authenticate = Authenticate {
        user: "root".to_owned(),
        password: etcd_v2::Secret::new("secret"),
    };
    for full in [&put, &error] {
        alike(&post, full);
        alike(&txn, full);
    }
    assert_eq!(alike(&grant, &granted), "Ok(5018032761854927215)");
    assert!(alike(&grant, &error).starts_with("Err("));
    assert_eq!(
        alike(&authenticate, &token),
        r#"Ok("MHgrLYbKikVKDIOY.139")"#
    );
    assert!(alike(&authenticate, &error).starts_with("Err("));
}
