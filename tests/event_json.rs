//! The hand-written keys-event parser (`etcd_v2::event_json`) against
//! serde's derive, the reference: on every body etcd answered in the
//! captured exchanges, on hand-made events with every field and escape, and
//! on each of them mangled byte by byte. Whenever the fast parser answers, its
//! answer must be serde's; on etcd's own answers it must answer. The borrowed
//! listing (`etcd_v2::listing`) is held to `Get`'s answer on the same bodies.

use std::path::Path;

use etcd_v2::event_json::{parse, parse_with_serde};
use etcd_v2::listing::NodeRef;
use etcd_v2::ops::keys::{Get, GetListing};
use etcd_v2::{Node, Operation};

/// The response bodies of the captured exchanges.
fn captured_bodies() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures");
    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the captures") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).unwrap_or_default();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.starts_with("# RESPONSE BODY") {
                let body: Vec<&str> = lines
                    .by_ref()
                    .take_while(|l| !l.starts_with("# "))
                    .collect();
                bodies.push(body.join("\n"));
            }
        }
    }
    bodies
}

const MADE: &[&str] = &[
    r#"{"action":"get","node":{"key":"/a","value":"1","modifiedIndex":7,"createdIndex":7}}"#,
    r#"{"action":"set","node":{"key":"/a","value":"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00\u0000","modifiedIndex":8,"createdIndex":8},"prevNode":{"key":"/a","value":"1","modifiedIndex":7,"createdIndex":7}}"#,
    r#" { "action" : "get" , "node" : { "dir" : true , "nodes" : [ { "key" : "/d/x" , "dir" : true } , { "key" : "/d/y" , "value" : "" , "ttl" : -1 , "expiration" : "2026-12-03T04:00:00.123456789Z" , "modifiedIndex" : 0 , "createdIndex" : 18446744073709551615 } ] , "key" : "/d" } } "#,
    r#"{"action":"expire","node":{"key":"/t","modifiedIndex":9,"createdIndex":3},"prevNode":{"key":"/t","value":"v","expiration":"2026-12-03T04:00:00Z","modifiedIndex":3,"createdIndex":3}}"#,
    r#"{"action":"get","node":{"dir":true}}"#,
    r#"{"action":"delete","node":{"key":"/n","value":null,"ttl":null,"expiration":null,"nodes":null,"modifiedIndex":4,"createdIndex":2},"prevNode":null}"#,
    r#"{"action":"compareAndSwap","node":{"key":"/\u2028<&>","value":"caf\u00e9 \u4e2d","ttl":5,"modifiedIndex":10,"createdIndex":9}}"#,
    r#"{"action":"get","node":{"key":"/e","dir":true,"nodes":[],"modifiedIndex":1,"createdIndex":1}}"#,
    // Fields in another order than etcd's: the previous node first, a
    // directory's `nodes` before its `dir`, an empty subdirectory's too.
    r#"{"prevNode":{"key":"/d","dir":true,"modifiedIndex":1,"createdIndex":1},"node":{"nodes":[{"nodes":[],"key":"/d/s","dir":true},{"key":"/d/t","dir":true},{"value":"1","key":"/d/x"}],"modifiedIndex":2,"key":"/d","dir":true,"createdIndex":2},"action":"get"}"#,
    // A file that carries `nodes`, and empty keys and values.
    r#"{"action":"get","node":{"key":"/f","value":"v","nodes":[{"key":"/f/x","dir":true},{"key":"","value":""}],"modifiedIndex":3,"createdIndex":3}}"#,
    r#"{"action":"get","node":{"key":"","dir":true,"nodes":[{"key":"","value":""},{"key":"/k","dir":true,"nodes":[{"key":"/k/l","value":"x"}]}]}}"#,
];

/// Each body, and variants of it: every byte removed, and every byte replaced
/// by each of a few JSON-significant bytes.
fn mangled(body: &str) -> Vec<Vec<u8>> {
    let bytes = body.as_bytes();
    let mut out = vec![bytes.to_vec()];
    for i in 0..bytes.len() {
        let mut cut = bytes.to_vec();
        cut.remove(i);
        out.push(cut);
        for b in *b"\"\\{}[],:0-.e nt" {
            if bytes[i] != b {
                let mut changed = bytes.to_vec();
                changed[i] = b;
                out.push(changed);
            }
        }
    }
    out
}

fn agree(input: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(input) else {
        return false;
    };
    match parse(text) {
        Some(fast) => {
            let reference = parse_with_serde(text);
            assert_eq!(reference.ok(), Some(fast), "the parsers differ on {text:?}");
            true
        }
        None => false,
    }
}

#[test]
fn the_fast_parser_answers_every_captured_event_as_serde_does() {
    let mut events = 0;
    for body in captured_bodies() {
        // Every event etcd sent is one the fast parser takes.
        if parse_with_serde(&body).is_ok() {
            assert!(agree(body.as_bytes()), "not taken: {body}");
            events += 1;
        }
    }
    assert!(events > 100, "only {events} events in the captures");
}

#[test]
fn hand_made_events_with_every_field_and_escape_agree() {
    for body in MADE {
        assert!(parse_with_serde(body).is_ok(), "{body}");
        assert!(agree(body.as_bytes()), "not taken: {body}");
    }
}

#[test]
fn mangled_events_agree_or_are_left_to_serde() {
    let (taken, total) = on_mangled(agree);
    // Many mangled inputs are still events (a digit changed, a space added).
    assert!(taken > 100 && total > 10_000, "{taken} of {total}");
}

/// `check` on every mangled variant of the made events and of 40 captured
/// ones: how many it said yes to, and of how many.
fn on_mangled(check: fn(&[u8]) -> bool) -> (usize, usize) {
    let (mut yes, mut total) = (0, 0);
    for body in MADE
        .iter()
        .map(|s| s.to_string())
        .chain(captured_bodies().into_iter().take(40))
    {
        for input in mangled(&body) {
            total += 1;
            if check(&input) {
                yes += 1;
            }
        }
    }
    (yes, total)
}

#[test]
fn deep_nesting_is_left_to_serde() {
    let mut body = String::from(r#"{"action":"get","node":"#);
    for _ in 0..150 {
        body.push_str(r#"{"key":"/d","dir":true,"nodes":["#);
    }
    body.push_str(r#"{"key":"/leaf"}"#);
    for _ in 0..150 {
        body.push_str("]}");
    }
    body.push('}');
    assert!(parse(&body).is_none());
    assert!(parse_with_serde(&body).is_err(), "serde's recursion limit");
}

#[test]
fn indexes_beyond_u64_are_left_to_serde_and_the_largest_is_read() {
    let event = |index: &str| {
        format!(
            r#"{{"action":"get","node":{{"key":"/a","modifiedIndex":{index},"createdIndex":1}}}}"#
        )
    };
    for too_large in [
        "18446744073709551616",
        "99999999999999999999",
        "184467440737095516150",
    ] {
        let body = event(too_large);
        assert!(parse(&body).is_none(), "{body}");
        assert!(parse_with_serde(&body).is_err(), "{body}");
    }
    let largest = parse(&event("18446744073709551615")).expect("u64::MAX");
    assert_eq!(largest.1.map(|n| n.modified_index), Some(u64::MAX));
    for (digits, want) in [
        ("0", Some(0)),
        ("7", Some(7)),
        ("00", None),
        ("01", None),
        ("1.0", None),
        ("1e3", None),
        // The most digits read without overflow checks, and the fewest with.
        ("9999999999999999999", Some(9_999_999_999_999_999_999)),
        ("10000000000000000000", Some(10_000_000_000_000_000_000)),
    ] {
        let got = parse(&event(digits))
            .and_then(|e| e.1)
            .map(|n| n.modified_index);
        assert_eq!(got, want, "{digits}");
    }
}

#[test]
fn whitespace_around_every_token_is_taken_and_agrees() {
    // etcd writes none, so the parser looks for each byte before skipping
    // any: JSON with whitespace everywhere it may go is still read, alike.
    let mut taken = 0;
    for body in captured_bodies()
        .iter()
        .map(String::as_str)
        .chain(MADE.iter().copied())
    {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        if parse_with_serde(body).is_err() {
            continue;
        }
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        for text in [spaced(body), pretty] {
            assert!(agree(text.as_bytes()), "not taken: {text}");
        }
        taken += 1;
    }
    assert!(taken > 100, "only {taken} bodies");
}

/// `body` with whitespace before and after every `{}[],:` outside strings.
fn spaced(body: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    for c in body.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '{' | '}' | '[' | ']' | ',' | ':' => {
                out.push_str(" \t");
                out.push(c);
                out.push_str("\r\n ");
            }
            '"' => {
                in_string = true;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A successful answer with `body` and etcd's cluster headers.
fn answer(body: &[u8]) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(200)
        .header("X-Etcd-Index", "41")
        .header("X-Raft-Index", "90")
        .header("X-Raft-Term", "2")
        .header("X-Etcd-Cluster-Id", "cdf818194e3a8c32")
        .body(body.to_vec())
        .unwrap()
}

/// A [`NodeRef`]'s readers against the owned [`Node`]'s, down its subtree.
fn same_node(lent: NodeRef<'_>, owned: &Node) {
    assert_eq!(lent.key(), owned.key);
    assert_eq!(lent.value(), owned.value());
    assert_eq!(lent.value_str(), owned.value_str());
    assert_eq!(lent.is_directory(), owned.is_directory());
    assert_eq!(lent.is_collection(), owned.is_collection());
    assert_eq!(lent.is_hidden(), owned.is_hidden());
    assert_eq!(lent.ttl(), owned.ttl);
    assert_eq!(lent.expiration(), owned.expiration);
    assert_eq!(lent.modified_index(), owned.modified_index);
    assert_eq!(lent.created_index(), owned.created_index);
    assert_eq!(
        lent.value_as::<u64>().map_err(|e| e.to_string()),
        owned.value_as::<u64>().map_err(|e| e.to_string())
    );
    let lent_leaves: Vec<&str> = lent.leaves().map(|n| n.key()).collect();
    let owned_leaves: Vec<&str> = owned.leaves().iter().map(|n| n.key.as_str()).collect();
    assert_eq!(lent_leaves, owned_leaves);
    assert_eq!(lent.children().count(), owned.children().len());
    hints_hold(lent.children());
    hints_hold(lent.leaves());
    for (l, o) in lent.children().zip(owned.children()) {
        same_node(l, o);
    }
}

/// At every step of `iter`, its `size_hint` bounds what is left of it.
fn hints_hold<I: Iterator + Clone>(mut iter: I) {
    loop {
        let (low, high) = iter.size_hint();
        let left = iter.clone().count();
        assert!(
            low <= left && high.is_none_or(|h| left <= h),
            "{low}..{high:?} against {left}"
        );
        if iter.next().is_none() {
            break;
        }
    }
}

/// `body` read by `Get` and by `GetListing`, flat and recursive: the same
/// answer, or the same error. Whether `Get` read it.
fn listing_agrees(body: &[u8]) -> bool {
    let mut read = false;
    for recursive in [false, true] {
        let get = Get::new("/k").recursive(recursive);
        let owned = get.clone().parse(answer(body));
        let lent = GetListing::new(get).parse(answer(body));
        match (owned, lent) {
            (Ok(owned), Ok(lent)) => {
                assert_eq!(
                    lent.to_response(),
                    owned,
                    "{}",
                    String::from_utf8_lossy(body)
                );
                assert_eq!(lent.action(), &owned.action);
                assert_eq!(lent.cluster(), &owned.cluster);
                same_node(lent.node(), &owned.node);
                match (lent.prev_node(), &owned.prev_node) {
                    (Some(l), Some(o)) => same_node(l, o),
                    (None, None) => {}
                    other => panic!("previous nodes differ: {other:?}"),
                }
                read = true;
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!(
                "one read, one refused {:?}: {a:?} / {b:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }
    read
}

#[test]
fn a_listing_lends_out_what_get_returns_for_every_captured_and_made_event() {
    let mut read = 0;
    for body in captured_bodies()
        .iter()
        .map(String::as_str)
        .chain(MADE.iter().copied())
    {
        if listing_agrees(body.as_bytes()) {
            read += 1;
        }
    }
    assert!(read > 100, "only {read} events read");
}

#[test]
fn a_listing_agrees_with_get_on_mangled_events_and_on_what_serde_reads_alone() {
    let (read, total) = on_mangled(listing_agrees);
    assert!(read > 100 && total > 10_000, "{read} of {total}");
    // What only serde reads (an unknown field, a field name written with an
    // escape) is lent out alike; what it refuses too (nesting past its
    // limit, a body that is not UTF-8, no node) is refused with Get's error.
    let unknown = br#"{"action":"get","node":{"key":"/a","value":"1","future":[1,{"x":2}],"modifiedIndex":3,"createdIndex":3}}"#;
    assert!(parse(std::str::from_utf8(unknown).unwrap()).is_none());
    assert!(listing_agrees(unknown));
    let escaped_name = br#"{"action":"get","node":{"k\u0065y":"/a","value":"1"}}"#;
    assert!(parse(std::str::from_utf8(escaped_name).unwrap()).is_none());
    assert!(listing_agrees(escaped_name));
    let mut deep = String::from(r#"{"action":"get","node":"#);
    for _ in 0..110 {
        deep.push_str(r#"{"key":"/d","dir":true,"nodes":["#);
    }
    deep.push_str(r#"{"key":"/leaf","value":"x"}"#);
    for _ in 0..110 {
        deep.push_str("]}");
    }
    deep.push('}');
    assert!(!listing_agrees(deep.as_bytes()));
    assert!(!listing_agrees(
        b"{\"action\":\"get\",\"node\":{\"key\":\"/\xff\"}}"
    ));
    assert!(!listing_agrees(br#"{"action":"get"}"#));
    assert!(!listing_agrees(br#"{"action":"get","node":null}"#));
}

#[test]
fn a_listing_refuses_an_error_answer_as_get_does() {
    let error = br#"{"errorCode":100,"message":"Key not found","cause":"/k","index":41}"#;
    let response = || {
        http::Response::builder()
            .status(404)
            .header("X-Etcd-Index", "41")
            .body(error.to_vec())
            .unwrap()
    };
    let owned = Get::new("/k").parse(response()).unwrap_err();
    let lent = GetListing::new(Get::new("/k"))
        .parse(response())
        .unwrap_err();
    assert!(lent.is_key_not_found(), "{lent}");
    assert_eq!(lent.to_string(), owned.to_string());
}

#[test]
fn a_listings_strings_with_escapes_and_empty_directories_read_as_get_reads_them() {
    let body = br#"{"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/\u003cq\u0026\"\\","value":"caf\u00e9 \ud83d\ude00","modifiedIndex":5,"createdIndex":5},{"key":"/d/empty","dir":true,"modifiedIndex":6,"createdIndex":6},{"key":"/d/_hidden","value":"7","ttl":9,"expiration":"2026-12-05T04:00:00.5Z","modifiedIndex":7,"createdIndex":7}],"modifiedIndex":2,"createdIndex":2}}"#;
    assert!(listing_agrees(body));
    let listing = GetListing::new(Get::new("/d").recursive(true))
        .parse(answer(body))
        .unwrap();
    let children: Vec<NodeRef<'_>> = listing.node().children().collect();
    assert_eq!(children[0].key(), "/d/<q&\"\\");
    assert_eq!(children[0].value(), Some("caf\u{e9} \u{1f600}"));
    // An empty directory of a recursive listing is a listed collection.
    assert!(children[1].is_collection());
    assert_eq!(children[1].children().count(), 0);
    assert!(children[2].is_hidden());
    assert_eq!(children[2].value_as::<u8>().unwrap(), 7);
    assert_eq!(listing.len(), 4);
    // Flat, the empty directory is not listed.
    let flat = GetListing::new(Get::new("/d")).parse(answer(body)).unwrap();
    assert!(!flat.node().children().nth(1).unwrap().is_collection());
    assert!(flat.node().is_collection());
}
