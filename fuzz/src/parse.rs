//! Any status, headers and body, through the endpoint pool's verdict and every
//! operation's parser: nothing panics, every error is typed and printable,
//! the fast keys-event parser agrees with serde's whenever it answers, and the
//! borrowed listing with `Get`.
//!
//! Input: two bytes of status (mapped onto 100..=999), header lines
//! (`name: value`, `\n`-separated) up to an empty line, then the body. See
//! [`encode`], which the seed tool uses to turn captured exchanges into inputs.

use std::fmt::Debug;
use std::time::Instant;

use etcd_v2::cluster::{Attempts, EndpointPool, Verdict};
use etcd_v2::ops::{auth, keys, members, raw, server, stats};
use etcd_v2::{Endpoint, Error, KeysResponse, Node, Operation};

/// Encode a response as an input of this target.
pub fn encode(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = status.saturating_sub(100).to_be_bytes().to_vec();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// Decode an input into a response (headers that `http` refuses are skipped).
pub fn decode(data: &[u8]) -> Option<http::Response<Vec<u8>>> {
    if data.len() < 2 {
        return None;
    }
    let status = 100 + u16::from_be_bytes([data[0], data[1]]) % 900;
    let rest = &data[2..];
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None if rest.first() == Some(&b'\n') => (&rest[..0], &rest[1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let mut builder = http::Response::builder().status(status);
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = http::HeaderName::from_bytes(&line[..colon]);
        let value = http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (name, value) {
            builder = builder.header(name, value);
        }
    }
    builder.body(body.to_vec()).ok()
}

fn copy(r: &http::Response<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut out = http::Response::new(r.body().clone());
    *out.status_mut() = r.status();
    *out.headers_mut() = r.headers().clone();
    out
}

fn exercise_error(e: &Error) {
    let _ = e.to_string();
    let _ = format!("{e:?}");
    let _ = (e.code(), e.may_have_been_applied(), e.is_key_not_found());
    let _ = (e.is_precondition_failed(), e.is_invalid_input(), e.etcd());
    if let Error::Etcd(etcd) = e {
        assert!(etcd.status >= 100, "an etcd error carries its HTTP status");
    }
}

fn walk(node: &Node, depth: usize) {
    let _ = (node.is_directory(), node.is_hidden(), node.value_str());
    let _ = (node.ttl, node.expiration, node.modified_index);
    for child in node.children() {
        walk(child, depth + 1);
    }
    if depth == 0 {
        let _ = node.leaves();
    }
}

fn exercise_keys(r: &KeysResponse) {
    let _ = (
        r.is_directory(),
        r.is_deleted(),
        r.is_collection(),
        r.value(),
    );
    let _ = r.action.as_str();
    walk(&r.node, 0);
    if let Some(prev) = &r.prev_node {
        walk(prev, 0);
    }
    let _ = r.children();
}

fn check<O: Operation>(op: O, response: &http::Response<Vec<u8>>, look: impl Fn(&O::Output))
where
    O::Output: Debug,
{
    match op.parse(copy(response)) {
        Ok(out) => {
            let _ = format!("{out:?}");
            look(&out);
        }
        Err(e) => exercise_error(&e),
    }
}

fn nothing<T>(_: &T) {}

/// The harness.
pub fn run(data: &[u8]) {
    let Some(response) = decode(data) else {
        return;
    };

    // The fast keys-event parser answers as serde does whenever it answers.
    if let Ok(text) = std::str::from_utf8(response.body()) {
        if let Some(fast) = etcd_v2::event_json::parse(text) {
            let reference = etcd_v2::event_json::parse_with_serde(text);
            assert_eq!(
                reference.ok(),
                Some(fast),
                "the event parsers differ on {text:?}"
            );
        }
    }

    // The borrowed listing lends out what `Get` returns, or refuses alike.
    for recursive in [false, true] {
        let get = keys::Get::new("/k").recursive(recursive);
        let lent = keys::GetListing::new(get.clone()).parse(copy(&response));
        match (get.parse(copy(&response)), lent) {
            (Ok(owned), Ok(lent)) => {
                assert_eq!(lent.to_response(), owned, "the listing differs from Get");
                let _ = format!("{lent:?}");
                let leaves = lent.node().leaves().count();
                assert_eq!(leaves, owned.node.leaves().len());
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("one read, one refused: {a:?} / {b:?}"),
        }
    }

    // The pool judges a response before any parser sees it (cluster ID, 5xx).
    let endpoint = Endpoint::parse("http://127.0.0.1:2379").expect("a valid endpoint");
    let mut pool = EndpointPool::new(vec![endpoint.clone()])
        .expect("one endpoint")
        .with_cluster_id(Some("cc87f0f7eb420e9b".into()));
    for idempotent in [true, false] {
        let mut attempts = Attempts::new(idempotent);
        match pool.handle(
            &mut attempts,
            &endpoint,
            Ok(copy(&response)),
            Instant::now(),
        ) {
            Verdict::Deliver(r) => assert_eq!(r.status(), response.status()),
            Verdict::Retry => assert!(!attempts.failures().is_empty()),
            Verdict::Fail(e) => exercise_error(&e),
        }
    }

    let r = &response;
    let keys_look = |k: &KeysResponse| exercise_keys(k);
    check(
        keys::Get::new("/k").recursive(true).sorted(true),
        r,
        keys_look,
    );
    check(keys::Set::new("/k", "v"), r, keys_look);
    check(keys::Create::new("/k", "v"), r, keys_look);
    check(keys::Update::new("/k", "v"), r, keys_look);
    check(
        keys::CompareAndSwap::new("/k", "v").prev_value("w"),
        r,
        keys_look,
    );
    check(keys::Refresh::new("/k", 5), r, keys_look);
    check(keys::Delete::new("/k").prev_index(3), r, keys_look);
    check(keys::CreateDir::new("/d"), r, keys_look);
    check(keys::UpdateDir::new("/d"), r, keys_look);
    check(keys::CreateInOrder::new("/q", "v"), r, keys_look);
    check(keys::CurrentIndex::new("/k"), r, nothing);
    check(
        keys::Wait::new("/k").recursive(true).wait_index(7),
        r,
        |w| {
            if let keys::WaitOutcome::Event(e) = w {
                exercise_keys(e);
            }
        },
    );
    check(
        keys::NoValueOnSuccess::new(keys::Set::new("/k", "v")),
        r,
        nothing,
    );
    check(members::List, r, nothing);
    check(members::Leader, r, nothing);
    check(members::Add::new(["http://10.0.0.1:2380"]), r, nothing);
    check(members::Remove::new("8e9e05c52164694d"), r, nothing);
    check(
        members::Update::new("8e9e05c52164694d", ["http://10.0.0.1:2380"]),
        r,
        nothing,
    );
    check(server::Version, r, nothing);
    check(server::Health, r, nothing);
    check(server::Machines, r, nothing);
    check(stats::Member, r, nothing);
    check(stats::Leader, r, nothing);
    check(stats::Store, r, nothing);
    check(auth::Status::new(), r, nothing);
    check(auth::Enable::new(), r, nothing);
    check(auth::Disable::new(), r, nothing);
    check(auth::ListUsers::new(), r, nothing);
    check(auth::GetUser::new("u"), r, nothing);
    check(auth::CreateUser::new("u", "p", ["r"]), r, nothing);
    check(auth::DeleteUser::new("u"), r, nothing);
    check(auth::GrantRoles::new("u", ["r"]), r, nothing);
    check(auth::RevokeRoles::new("u", ["r"]), r, nothing);
    check(auth::ChangePassword::new("u", "p"), r, nothing);
    check(auth::ListRoles::new(), r, nothing);
    check(auth::GetRole::new("r"), r, |role| {
        let _ = role.to_string();
    });
    check(auth::CreateRole::new("r", ["/a/*"], ["/b"]), r, nothing);
    check(auth::DeleteRole::new("r"), r, nothing);
    check(auth::GrantPermissions::new("r", ["/a"], ["/b"]), r, nothing);
    check(
        auth::RevokePermissions::new("r", ["/a"], ["/b"]),
        r,
        nothing,
    );
    check(
        raw::RawRequest::new(http::Method::GET, "/v2/anything"),
        r,
        nothing,
    );
}
