//! Golden requests: every keys operation's method, path, query, body and
//! headers, built with no server.

use etcd_v2::ops::keys::*;
use etcd_v2::ops::raw::RawRequest;
use etcd_v2::{Endpoint, Error, Operation};
use http::Method;

const FORM: &str = "application/x-www-form-urlencoded";

fn ep() -> Endpoint {
    Endpoint::parse("http://127.0.0.1:2379").unwrap()
}

/// Method, path-and-query, body, and whether a form content type is set.
fn golden(op: &impl Operation) -> (Method, String, String, bool) {
    let req = op.build(&ep()).unwrap();
    assert_eq!(req.uri().scheme_str(), Some("http"));
    assert_eq!(req.uri().authority().unwrap().as_str(), "127.0.0.1:2379");
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let has_body = !req.body().is_empty();
    if has_body {
        assert_eq!(ct.as_deref(), Some(FORM));
    }
    (
        req.method().clone(),
        req.uri().path_and_query().unwrap().to_string(),
        String::from_utf8(req.body().clone()).unwrap(),
        ct.is_some(),
    )
}

fn check(op: &impl Operation, method: Method, target: &str, body: &str) {
    let (m, t, b, _) = golden(op);
    assert_eq!((m, t.as_str(), b.as_str()), (method, target, body));
}

#[test]
fn get_and_its_options() {
    check(&Get::new("/a"), Method::GET, "/v2/keys/a", "");
    check(&Get::new("/"), Method::GET, "/v2/keys/", "");
    check(
        &Get::new("/dir").recursive(true).sorted(true).quorum(true),
        Method::GET,
        "/v2/keys/dir?recursive=true&sorted=true&quorum=true",
        "",
    );
    check(
        &Get::new("/d").sorted(true),
        Method::GET,
        "/v2/keys/d?sorted=true",
        "",
    );
    assert!(Get::new("/a").idempotent());
}

#[test]
fn writes_put_everything_in_the_form_body() {
    check(
        &Set::new("/message", "Hello world"),
        Method::PUT,
        "/v2/keys/message",
        "value=Hello+world",
    );
    check(
        &Set::new("/k", "v").ttl(5),
        Method::PUT,
        "/v2/keys/k",
        "value=v&ttl=5",
    );
    check(
        &Create::new("/k", "v"),
        Method::PUT,
        "/v2/keys/k",
        "value=v&prevExist=false",
    );
    check(
        &Create::new("/k", "v").ttl(0),
        Method::PUT,
        "/v2/keys/k",
        "value=v&ttl=0&prevExist=false",
    );
    check(
        &Update::new("/k", "v").ttl(9),
        Method::PUT,
        "/v2/keys/k",
        "value=v&ttl=9&prevExist=true",
    );
    check(
        &CompareAndSwap::new("/k", "two")
            .prev_value("one")
            .prev_index(7)
            .ttl(3),
        Method::PUT,
        "/v2/keys/k",
        "value=two&ttl=3&prevValue=one&prevIndex=7",
    );
    check(
        &CompareAndSwap::new("/k", "v").prev_exist(true),
        Method::PUT,
        "/v2/keys/k",
        "value=v&prevExist=true",
    );
    check(
        &Refresh::new("/k", 30),
        Method::PUT,
        "/v2/keys/k",
        "ttl=30&refresh=true&prevExist=true",
    );
    check(
        &Refresh::new("/leader", 10).prev_value("me"),
        Method::PUT,
        "/v2/keys/leader",
        "ttl=10&refresh=true&prevExist=true&prevValue=me",
    );
    check(
        &CreateDir::new("/d"),
        Method::PUT,
        "/v2/keys/d",
        "dir=true&prevExist=false",
    );
    check(
        &CreateDir::new("/d").ttl(4),
        Method::PUT,
        "/v2/keys/d",
        "dir=true&ttl=4&prevExist=false",
    );
    check(
        &UpdateDir::new("/d").ttl(4),
        Method::PUT,
        "/v2/keys/d",
        "dir=true&ttl=4&prevExist=true",
    );
    check(
        &UpdateDir::new("/d"),
        Method::PUT,
        "/v2/keys/d",
        "dir=true&ttl=&prevExist=true",
    );
    check(
        &CreateInOrder::new("/queue", "job 1"),
        Method::POST,
        "/v2/keys/queue",
        "value=job+1",
    );
    check(
        &CreateInOrder::new("/queue", "j").ttl(8),
        Method::POST,
        "/v2/keys/queue",
        "value=j&ttl=8",
    );
}

#[test]
fn values_are_form_encoded_exactly() {
    let (_, _, body, _) = golden(&Set::new("/k", "a+b &c=d;e%f\u{e9}\n\0"));
    assert_eq!(body, "value=a%2Bb+%26c%3Dd%3Be%25f%C3%A9%0A%00");
    let decoded: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        decoded,
        vec![("value".to_owned(), "a+b &c=d;e%f\u{e9}\n\0".to_owned())]
    );
    let (_, _, body, has_ct) = golden(&Set::new("/k", ""));
    assert_eq!(body, "value=");
    assert!(has_ct);
}

#[test]
fn deletes_put_conditions_in_the_query_and_send_no_body() {
    check(&Delete::new("/k"), Method::DELETE, "/v2/keys/k", "");
    check(
        &Delete::new("/k").prev_value("v 1&x"),
        Method::DELETE,
        "/v2/keys/k?prevValue=v+1%26x",
        "",
    );
    check(
        &Delete::new("/k").prev_index(42),
        Method::DELETE,
        "/v2/keys/k?prevIndex=42",
        "",
    );
    check(
        &Delete::new("/k").prev_value("a").prev_index(3),
        Method::DELETE,
        "/v2/keys/k?prevValue=a&prevIndex=3",
        "",
    );
    check(
        &Delete::new("/d").dir(true),
        Method::DELETE,
        "/v2/keys/d?dir=true",
        "",
    );
    check(
        &Delete::new("/d").recursive(true),
        Method::DELETE,
        "/v2/keys/d?dir=true&recursive=true",
        "",
    );
    check(
        &Delete::new("/d").dir(true).prev_index(5),
        Method::DELETE,
        "/v2/keys/d?prevIndex=5&dir=true",
        "",
    );
    let req = Delete::new("/k").prev_value("x").build(&ep()).unwrap();
    assert!(req.body().is_empty());
    assert!(req.headers().get(http::header::CONTENT_TYPE).is_none());
}

#[test]
fn wait_is_a_long_poll_get() {
    let w = Wait::new("/w").recursive(true).wait_index(12);
    check(
        &w,
        Method::GET,
        "/v2/keys/w?wait=true&waitIndex=12&recursive=true",
        "",
    );
    check(&Wait::new("/w"), Method::GET, "/v2/keys/w?wait=true", "");
    assert!(w.is_long_poll() && w.idempotent());
    assert!(!Get::new("/w").is_long_poll());
}

#[test]
fn no_value_on_success_adds_the_flag_to_the_query() {
    check(
        &NoValueOnSuccess::new(Set::new("/k", "v")),
        Method::PUT,
        "/v2/keys/k?noValueOnSuccess=true",
        "value=v",
    );
    check(
        &NoValueOnSuccess::new(CreateInOrder::new("/q", "v")),
        Method::POST,
        "/v2/keys/q?noValueOnSuccess=true",
        "value=v",
    );
    assert!(!NoValueOnSuccess::new(Create::new("/k", "v")).idempotent());
    assert!(!NoValueOnSuccess::new(Set::new("/k", "v")).idempotent());
    assert!(NoValueOnSuccess::new(Set::new("/k", "v")).repeatable());
    assert!(!NoValueOnSuccess::new(Create::new("/k", "v")).repeatable());
}

#[test]
fn only_reads_are_idempotent_and_only_plain_writes_repeatable() {
    // No write is resent after an ambiguous failure unless the client opts in,
    // and then only these plain writes.
    for (name, idempotent, repeatable) in [
        (
            "set",
            Set::new("/k", "v").idempotent(),
            Set::new("/k", "v").repeatable(),
        ),
        (
            "update",
            Update::new("/k", "v").idempotent(),
            Update::new("/k", "v").repeatable(),
        ),
        (
            "refresh",
            Refresh::new("/k", 1).idempotent(),
            Refresh::new("/k", 1).repeatable(),
        ),
        (
            "update dir",
            UpdateDir::new("/k").idempotent(),
            UpdateDir::new("/k").repeatable(),
        ),
    ] {
        assert!(!idempotent && repeatable, "{name}");
    }
    assert!(!Create::new("/k", "v").repeatable());
    assert!(!CompareAndSwap::new("/k", "v").prev_value("x").repeatable());
    assert!(!Delete::new("/k").repeatable());
    assert!(!CreateInOrder::new("/k", "v").repeatable());
    assert!(!Create::new("/k", "v").idempotent());
    assert!(!CompareAndSwap::new("/k", "v").prev_value("x").idempotent());
    assert!(!Delete::new("/k").idempotent());
    assert!(!CreateDir::new("/k").idempotent());
    assert!(!CreateInOrder::new("/k", "v").idempotent());
}

#[test]
fn keys_are_cleaned_and_encoded() {
    let cases = [
        ("/a b", "/v2/keys/a%20b"),
        ("/100%", "/v2/keys/100%25"),
        ("/what?", "/v2/keys/what%3F"),
        ("/x#y", "/v2/keys/x%23y"),
        ("/a&b=c", "/v2/keys/a%26b%3Dc"),
        ("/a+b", "/v2/keys/a%2Bb"),
        ("/a;b", "/v2/keys/a%3Bb"),
        ("/\u{e9}", "/v2/keys/%C3%A9"),
        ("/a//b/./c/../d/", "/v2/keys/a/b/d"),
        ("/_hidden", "/v2/keys/_hidden"),
    ];
    for (key, want) in cases {
        let (_, target, _, _) = golden(&Get::new(key));
        assert_eq!(target, want, "{key}");
        let (_, target, _, _) = golden(&Set::new(key, "v"));
        assert_eq!(target, want, "{key}");
    }
}

#[test]
fn invalid_keys_and_options_are_refused_before_sending() {
    let e = Get::new("relative").build(&ep()).unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e}");
    assert!(e.is_invalid_input());

    let long = format!("/{}", "k".repeat(5000));
    let e = Set::new(long.as_str(), "v").build(&ep()).unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e}");
    assert!(e.to_string().contains("4096"), "{e}");
    // etcd accepts a PUT of a 4072-byte key (measured), but its DELETE would
    // exceed the request line limit: the client caps keys so that whatever it
    // creates, it can delete.
    let longest = format!("/{}", "k".repeat(4069));
    assert!(Set::new(longest.as_str(), "v").build(&ep()).is_ok());
    assert!(Delete::new(longest.as_str()).build(&ep()).is_ok());
    let too_long = format!("/{}", "k".repeat(4070));
    assert!(matches!(
        Set::new(too_long.as_str(), "v").build(&ep()),
        Err(Error::InvalidKey { .. })
    ));
    // Multi-byte characters count encoded.
    let wide = format!("/{}", "\u{e9}".repeat(700));
    assert!(Get::new(wide.as_str()).build(&ep()).is_err());

    // A long compared value fits in a PUT body but not in a DELETE query.
    let big = "v".repeat(5000);
    assert!(CompareAndSwap::new("/k", "n")
        .prev_value(big.as_str())
        .build(&ep())
        .is_ok());
    let e = Delete::new("/k")
        .prev_value(big.as_str())
        .build(&ep())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidArgument {
                name: "request",
                ..
            }
        ),
        "{e}"
    );

    for e in [
        CompareAndSwap::new("/k", "v").build(&ep()).unwrap_err(),
        CompareAndSwap::new("/k", "v")
            .prev_index(0)
            .build(&ep())
            .unwrap_err(),
        CompareAndSwap::new("/k", "v")
            .prev_value("")
            .build(&ep())
            .unwrap_err(),
        CompareAndSwap::new("/k", "v")
            .prev_exist(false)
            .prev_value("x")
            .build(&ep())
            .unwrap_err(),
        Delete::new("/k").prev_index(0).build(&ep()).unwrap_err(),
        Delete::new("/k").prev_value("").build(&ep()).unwrap_err(),
        Refresh::new("/k", 5)
            .prev_index(0)
            .build(&ep())
            .unwrap_err(),
    ] {
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    }
}

#[test]
fn endpoints_retarget_without_rebuilding() {
    let op = Set::new("/k", "v");
    let a = op
        .build(&Endpoint::parse("http://10.0.0.1:2379").unwrap())
        .unwrap();
    let b = op
        .build(&Endpoint::parse("https://[::1]:4001").unwrap())
        .unwrap();
    assert_eq!(a.uri(), "http://10.0.0.1:2379/v2/keys/k");
    assert_eq!(b.uri(), "https://[::1]:4001/v2/keys/k");
    assert_eq!(a.body(), b.body());
}

#[test]
fn raw_requests_mirror_the_seeds_send() {
    check(
        &RawRequest::new(Method::PUT, "/keys/a")
            .value("x")
            .parameter("prevExist", "false")
            .data("ttl", "5"),
        Method::PUT,
        "/v2/keys/a?prevExist=false",
        "ttl=5&value=x",
    );
    check(
        &RawRequest::unversioned(Method::GET, "/version"),
        Method::GET,
        "/version",
        "",
    );
    assert!(RawRequest::new(Method::GET, "/keys/a").idempotent());
    assert!(!RawRequest::new(Method::POST, "/keys/a").idempotent());
    assert!(RawRequest::new(Method::PUT, "/keys/a")
        .safe_to_resend(true)
        .idempotent());
}

#[test]
fn no_auth_or_member_write_is_idempotent_and_their_reads_are() {
    use etcd_v2::ops::{auth, members};
    let none: [&str; 0] = [];
    let writes: [(&str, bool); 12] = [
        ("enable", auth::Enable::new().idempotent()),
        ("disable", auth::Disable::new().idempotent()),
        (
            "create user",
            auth::CreateUser::new("u", "p", none).idempotent(),
        ),
        ("delete user", auth::DeleteUser::new("u").idempotent()),
        (
            "grant roles",
            auth::GrantRoles::new("u", ["r"]).idempotent(),
        ),
        (
            "revoke roles",
            auth::RevokeRoles::new("u", ["r"]).idempotent(),
        ),
        // A second application overwrites a change made in between.
        (
            "change password",
            auth::ChangePassword::new("u", "p").idempotent(),
        ),
        (
            "create role",
            auth::CreateRole::new("r", ["/a"], none).idempotent(),
        ),
        ("delete role", auth::DeleteRole::new("r").idempotent()),
        // Applied twice, these answer 409 (a duplicate grant) and 400 (role
        // not updated): a change that worked would be reported as failed.
        (
            "grant permissions",
            auth::GrantPermissions::new("r", ["/a"], none).idempotent(),
        ),
        (
            "revoke permissions",
            auth::RevokePermissions::new("r", ["/a"], none).idempotent(),
        ),
        (
            "update member",
            members::Update::new("8e9e05c52164694d", ["http://127.0.0.1:2380"]).idempotent(),
        ),
    ];
    for (name, idempotent) in writes {
        assert!(!idempotent, "{name}");
    }
    assert!(auth::Status::new().idempotent());
    assert!(auth::ListUsers::new().idempotent() && auth::GetRole::new("r").idempotent());
    assert!(members::List.idempotent());
}
