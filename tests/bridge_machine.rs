//! The bridge's machines on their own, without a server: the members call
//! (`bridge::admin`), the token wrapper (`bridge::auth`) and the keys call's
//! deadline (`bridge::Call`), each told outcomes by hand.

use std::time::{Duration, Instant};

use etcd_v2::bridge::admin::{Admin, Ask};
use etcd_v2::bridge::auth::Authed;
use etcd_v2::bridge::v3::Post;
use etcd_v2::bridge::{Answer, Call, Outcome, Request};
use etcd_v2::machine::{Machine, Step};
use etcd_v2::server::request::{KeysRequest, MembersRequest};
use etcd_v2::{Credentials, Error, Operation};
use serde_json::{json, Value};
// ---- admin ----

fn run(
    ask: Ask,
    answers: Vec<Result<Value, Error>>,
) -> (Vec<Post>, Result<http::Response<Vec<u8>>, Error>) {
    let mut admin = Admin::new(ask);
    let mut sent = Vec::new();
    let mut answers = answers.into_iter();
    let now = Instant::now();
    loop {
        match admin.poll(now) {
            Step::Send(Request::Post(post)) => {
                sent.push(post);
                let answer = answers
                    .next()
                    .unwrap_or_else(|| Err(Error::Misuse("no more".into())));
                admin
                    .handle(Outcome::Post(answer), now)
                    .expect("matching outcome");
            }
            Step::Done(out) => return (sent, out),
            other => panic!("unexpected step {other:?}"),
        }
    }
}

fn list() -> Value {
    // The shape of etcd 3.4's answer (captured).
    serde_json::from_str(r#"{"header":{"cluster_id":"12237504764579765809","member_id":"2073005896338425251","raft_term":"2"},"members":[{"ID":"2073005896338425251","name":"gw","peerURLs":["http://127.0.0.1:26891"],"clientURLs":["http://127.0.0.1:26791"]},{"ID":"12183234703273129429","peerURLs":["http://127.0.0.1:26999"],"isLearner":true}]}"#).expect("json")
}

#[test]
fn the_members_list_is_v2s_with_hex_ids_sorted() {
    let (sent, out) = run(Ask::Members(MembersRequest::List), vec![Ok(list())]);
    assert_eq!(sent.len(), 1);
    let answer = out.expect("answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        String::from_utf8_lossy(answer.body()),
        "{\"members\":[{\"id\":\"1cc4cbe1248ac5a3\",\"name\":\"gw\",\"peerURLs\":[\"http://127.0.0.1:26891\"],\"clientURLs\":[\"http://127.0.0.1:26791\"]},{\"id\":\"a9138b69bfce75d5\",\"name\":\"\",\"peerURLs\":[\"http://127.0.0.1:26999\"],\"clientURLs\":[]}]}\n"
    );
    assert_eq!(answer.headers()["X-Etcd-Cluster-Id"], "a9d459bf0ded5e31");
}

#[test]
fn machines_are_the_client_urls_and_the_leader_comes_from_the_status() {
    let (_, out) = run(Ask::Machines, vec![Ok(list())]);
    assert_eq!(out.expect("answer").body(), b"http://127.0.0.1:26791");
    let status = json!({"leader": "2073005896338425251"});
    let (sent, out) = run(
        Ask::Members(MembersRequest::Leader),
        vec![Ok(list()), Ok(status)],
    );
    assert_eq!(sent[1].path(), "/v3/maintenance/status");
    assert!(String::from_utf8_lossy(out.expect("answer").body()).contains("\"name\":\"gw\""));
    let (_, out) = run(
        Ask::Members(MembersRequest::Leader),
        vec![Ok(list()), Ok(json!({}))],
    );
    assert_eq!(out.expect("answer").status(), 503);
}

#[test]
fn changes_are_never_resent_and_errors_read_as_v2s() {
    let not_found = Error::Api {
        endpoint: String::new(),
        status: 404,
        message: "etcdserver: member not found".into(),
    };
    let (sent, out) = run(
        Ask::Members(MembersRequest::Remove(0x3039)),
        vec![Ok(list()), Err(not_found)],
    );
    assert!(!Operation::idempotent(&sent[1]));
    assert!(Operation::idempotent(&sent[0]));
    let answer = out.expect("answer");
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.body(), b"{\"message\":\"No such member: 3039\"}");
    let added =
        json!({"member": {"ID": "12183234703273129429", "peerURLs": ["http://127.0.0.1:26999"]}});
    let (sent, out) = run(
        Ask::Members(MembersRequest::Add(vec!["http://127.0.0.1:26999".into()])),
        vec![Ok(list()), Ok(added)],
    );
    assert_eq!(sent[1].path(), "/v3/cluster/member/add");
    assert_eq!(out.expect("answer").status(), 201);
}

#[test]
fn another_cluster_is_refused_before_any_change() {
    let mut admin =
        Admin::new(Ask::Members(MembersRequest::Remove(1))).expect_cluster(Some("ffff".into()));
    let now = Instant::now();
    assert!(matches!(admin.poll(now), Step::Send(_)));
    admin
        .handle(Outcome::Post(Ok(list())), now)
        .expect("matching");
    assert!(matches!(
        admin.poll(now),
        Step::Done(Err(Error::ClusterIdMismatch { .. }))
    ));
}

// ---- auth ----

fn refused() -> Error {
    Error::Api {
        endpoint: String::new(),
        status: 401,
        message: "etcdserver: invalid auth token".into(),
    }
}

fn sent(step: Step<Request, (), Answer>) -> Request {
    match step {
        Step::Send(request) => request,
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn a_token_first_then_a_new_one_once_when_refused_for_it() {
    let now = Instant::now();
    let creds = Credentials::new("root", "pw");
    let mut call = Authed::new(Admin::new(Ask::Machines), Some(creds), false);
    assert!(
        matches!(sent(call.poll(now)), Request::Authenticate(a) if a.user == "root" && a.password.expose() == "pw")
    );
    call.handle(Outcome::Authenticated(Ok(())), now)
        .expect("matching");
    let list = sent(call.poll(now));
    assert!(matches!(&list, Request::Post(_)));
    // Refused for its token: a new token, and the same request again.
    call.handle(Outcome::Post(Err(refused())), now)
        .expect("matching");
    assert!(matches!(sent(call.poll(now)), Request::Authenticate(_)));
    call.handle(Outcome::Authenticated(Ok(())), now)
        .expect("matching");
    assert_eq!(sent(call.poll(now)), list);
    // Refused again right after: the call ends with it (no loop).
    ends_with_status(&mut call, now, Outcome::Post(Err(refused())), 401);
}

#[test]
fn wrong_credentials_are_answered_as_v2_and_no_credentials_ask_nothing() {
    let now = Instant::now();
    let creds = Credentials::new("root", "nope");
    let mut call = Authed::new(Admin::new(Ask::Machines), Some(creds), false);
    sent(call.poll(now));
    let failed = || Error::Api {
        endpoint: String::new(),
        status: 400,
        message: "etcdserver: authentication failed, invalid user ID or password".into(),
    };
    // Answered as etcd v2 answers wrong credentials: a 401, not the v3 error.
    answers_401(&mut call, now, failed(), "Insufficient credentials");
    // A keys call answers with the keys API's errorCode 110.
    let get = KeysRequest {
        key: b"/a".to_vec(),
        ..KeysRequest::default()
    };
    let creds = Credentials::new("root", "nope");
    let mut keys = Authed::new(Call::new("/p", get, 0), Some(creds), false);
    sent(keys.poll(now));
    answers_401(&mut keys, now, failed(), "\"errorCode\":110");

    let mut plain = Authed::new(Admin::new(Ask::Machines), None, false);
    assert!(matches!(sent(plain.poll(now)), Request::Post(_)));
    ends_with_status(&mut plain, now, Outcome::Post(Err(refused())), 401);
}

/// Hand a refused authentication to `machine` and check it answers v2's 401
/// with `wanted` in its body.
fn answers_401<M>(machine: &mut M, now: Instant, refusal: Error, wanted: &str)
where
    M: Machine<Request = Request, Outcome = Outcome, Event = (), Output = Answer>,
{
    machine
        .handle(Outcome::Authenticated(Err(refusal)), now)
        .expect("matching");
    match machine.poll(now) {
        Step::Done(Ok(answer)) => {
            assert_eq!(answer.status(), 401);
            let body = String::from_utf8_lossy(answer.body()).into_owned();
            assert!(body.contains(wanted), "{body}");
        }
        other => panic!("expected v2's 401, got {other:?}"),
    }
}

/// Hand `outcome` to `machine` and check it ends with an [`Error::Api`] of
/// `status`.
fn ends_with_status<M>(machine: &mut M, now: Instant, outcome: Outcome, status: u16)
where
    M: Machine<Request = Request, Outcome = Outcome, Event = (), Output = Answer>,
{
    machine.handle(outcome, now).expect("matching");
    match machine.poll(now) {
        Step::Done(Err(Error::Api { status: s, .. })) => assert_eq!(s, status),
        other => panic!("expected an error of status {status}, got {other:?}"),
    }
}

// ---- call ----

#[test]
fn a_call_past_its_deadline_ends_before_sending_anything() {
    let now = Instant::now();
    let get = KeysRequest {
        key: b"/a".to_vec(),
        ..KeysRequest::default()
    };
    let mut late = Call::new("/p", get.clone(), 0).deadline(Some(now));
    assert!(matches!(
        late.poll(now),
        Step::Done(Err(Error::DeadlineExceeded(_)))
    ));
    let mut in_time = Call::new("/p", get, 0).deadline(Some(now + Duration::from_secs(1)));
    assert!(matches!(in_time.poll(now), Step::Send(Request::Txn(_))));
    // While the read is in flight the deadline is the request's to keep;
    // the call checks again before its next request.
    let later = now + Duration::from_secs(2);
    in_time
        .handle(Outcome::Txn(Err(Error::Misuse("lost".into()))), later)
        .expect("matching outcome");
    assert!(matches!(
        in_time.poll(later),
        Step::Done(Err(Error::Misuse(_)))
    ));
}

#[test]
fn a_commit_refused_for_an_ended_lease_is_planned_again_never_answered() {
    let now = Instant::now();
    let put = KeysRequest {
        method: etcd_v2::server::request::KeysMethod::Put,
        key: b"/k".to_vec(),
        value: b"v".to_vec(),
        ..KeysRequest::default()
    };
    let mut call = Call::new("/p", put, 0);
    // An empty tree, read at revision 5.
    let read: etcd_v2::bridge::v3::TxnResponse = serde_json::from_value(json!({
        "header": {"cluster_id": "1", "revision": "5", "raft_term": "2"},
        "succeeded": true,
        "responses": []
    }))
    .expect("a read");
    for _ in 0..2 {
        assert!(
            matches!(call.poll(now), Step::Send(Request::Txn(_))),
            "the read"
        );
        call.handle(Outcome::Txn(Ok(read.clone())), now)
            .expect("matching");
        let Step::Send(Request::Txn(commit)) = call.poll(now) else {
            panic!("the commit");
        };
        assert!(String::from_utf8_lossy(commit.body()).contains("compare"));
        // etcd refused the commit as a whole: its lease had ended.
        let gone = Error::Api {
            endpoint: String::new(),
            status: 404,
            message: "etcdserver: requested lease not found".into(),
        };
        call.handle(Outcome::Txn(Err(gone)), now).expect("matching");
    }
    // Still going: it reads again rather than answering or failing.
    assert!(matches!(call.poll(now), Step::Send(Request::Txn(_))));
}

#[test]
fn a_hostile_gateways_largest_revision_is_no_panic() {
    let now = Instant::now();
    for method in [
        etcd_v2::server::request::KeysMethod::Put,
        etcd_v2::server::request::KeysMethod::Post,
    ] {
        let write = KeysRequest {
            method,
            key: b"/k".to_vec(),
            value: b"v".to_vec(),
            ..KeysRequest::default()
        };
        let mut call = Call::new("/p", write, 0);
        let read: etcd_v2::bridge::v3::TxnResponse = serde_json::from_value(json!({
            "header": {"cluster_id": "1", "revision": u64::MAX.to_string(), "raft_term": "2"},
            "succeeded": true,
            "responses": [{"response_range": {"kvs": [{
                "key": etcd_v2::base64::encode(b"/p"),
                "create_revision": u64::MAX.to_string(),
                "mod_revision": u64::MAX.to_string(),
            }]}}]
        }))
        .expect("a read");
        assert!(matches!(call.poll(now), Step::Send(Request::Txn(_))));
        call.handle(Outcome::Txn(Ok(read)), now).expect("matching");
        // Planned, or refused: either way, no overflow.
        let _ = call.poll(now);
    }
}

/// A v3 watch line of one revision: `events` as (type, key, value).
fn watch_line(revision: u64, events: &[(&str, Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    use etcd_v2::base64::encode;
    let events: Vec<Value> = events
        .iter()
        .map(|(kind, key, value)| {
            json!({
                "type": kind,
                "kv": {"key": encode(key), "mod_revision": revision.to_string(), "value": encode(value)},
                "prev_kv": {"key": encode(key), "create_revision": "3", "mod_revision": "3"},
            })
        })
        .collect();
    json!({"result": {"header": {"revision": revision.to_string()}, "events": events}})
        .to_string()
        .into_bytes()
}

/// What a wait on `key` answers to a removal of directory `/foo` (with its
/// file `/foo/a`) at revision 11, then a set of `key`: the key of the event
/// it ends with. The watch began at revision `began` (10: both are live; 12:
/// both come from the history).
fn wait_after_a_removal_of_foo(key: &str, recursive: bool, began: u64) -> String {
    use etcd_v2::bridge::watch::{record, Found, Watch};
    use etcd_v2::cluster::Timeout;
    use etcd_v2::server::types::{Action, Event, NodeView};
    use etcd_v2::transport::Flow;
    let serial = b"/p".to_vec();
    let node = |path: &str| [&serial[..], path.as_bytes()].concat();
    let watch = Watch::new(
        &serial,
        key.as_bytes(),
        recursive,
        Some(11),
        Timeout::Default,
    );
    let created = format!(r#"{{"result":{{"header":{{"revision":"{began}"}},"created":true}}}}"#);
    assert_eq!(watch.accept(created.as_bytes()), Flow::Continue);
    let dir = NodeView {
        dir: true,
        ..NodeView::bare(b"/foo", 11, 3)
    };
    let removal = Event::new(Action::Delete, dir.clone(), Some(dir), 11);
    let line = watch_line(
        11,
        &[
            ("PUT", serial.clone(), record(11, &removal)),
            ("DELETE", node("/foo/"), Vec::new()),
            ("DELETE", node("/foo/a"), Vec::new()),
        ],
    );
    if watch.accept(&line) == Flow::Continue {
        let set = Event::new(
            Action::Set,
            NodeView {
                value: Some(b"v".to_vec()),
                ..NodeView::bare(key.as_bytes(), 12, 12)
            },
            None,
            12,
        );
        let line = watch_line(
            12,
            &[
                ("PUT", serial.clone(), record(12, &set)),
                ("PUT", node(key), b"v".to_vec()),
            ],
        );
        assert_eq!(watch.accept(&line), Flow::Stop);
    }
    let ok = http::Response::new(Vec::new());
    let watched = watch.parse(ok).unwrap();
    let Some(Found::Event { json, .. }) = watched.found else {
        panic!("{:?}", watched.found)
    };
    let event: Value = serde_json::from_slice(&json).unwrap();
    event["node"]["key"].as_str().unwrap().to_owned()
}

#[test]
fn a_live_wait_sees_a_removal_only_of_its_own_key_as_etcds_watcher_hub_tells_it_and_a_replay_as_its_history(
) {
    let live = |key, recursive| wait_after_a_removal_of_foo(key, recursive, 10);
    // A name that merely starts like the removed directory's, and a key below
    // it that was not there: etcd v2's live watchers are not told.
    assert_eq!(live("/foobar", false), "/foobar");
    assert_eq!(live("/foo/z", false), "/foo/z");
    // A removed file below it, the directory itself, or (recursive) anything
    // below it: told.
    assert_eq!(live("/foo/a", false), "/foo");
    assert_eq!(live("/foo", false), "/foo");
    assert_eq!(live("/", true), "/foo");
    // etcd's history replay matches a removed directory by the start of the
    // name (`strings.HasPrefix`), so a wait from before sees both; the bridge
    // replays as etcd does.
    let replayed = |key, recursive| wait_after_a_removal_of_foo(key, recursive, 12);
    assert_eq!(replayed("/foobar", false), "/foo");
    assert_eq!(replayed("/foo/z", false), "/foo");
}
