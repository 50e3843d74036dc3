//! Any string as a key (and a value, and an endpoint URL): cleaning is
//! idempotent and yields an absolute key with no empty, `.` or `..` segment;
//! encoding then decoding gives back the cleaned key; every request built for
//! it addresses exactly that key and carries the value intact, or is refused
//! with a typed invalid-input error for a stated reason.
//!
//! Input: the key, a `0xFF` byte (never part of UTF-8), then the value; each is
//! decoded lossily.

use etcd_v2::key::{self, MAX_REQUEST_LINE};
use etcd_v2::ops::keys;
use etcd_v2::{Endpoint, Error, Operation};

fn form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

fn field(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The key a request addresses, decoded as etcd decodes it.
fn addressed(request: &http::Request<Vec<u8>>) -> String {
    let path = request.uri().path();
    let rest = path
        .strip_prefix("/v2/keys")
        .unwrap_or_else(|| panic!("{path:?} is not under /v2/keys"));
    let decoded = key::decode_path(rest);
    if decoded.is_empty() {
        "/".to_owned()
    } else {
        decoded
    }
}

fn refused_for_length(e: &Error, what: &str) {
    assert!(e.is_invalid_input(), "{what}: {e:?}");
    let text = e.to_string();
    assert!(
        text.contains("request line") || text.contains("byte path") || text.contains("forms over"),
        "{what}: refused for another reason: {text}"
    );
}

/// The harness.
pub fn run(data: &[u8]) {
    let (raw_key, raw_value) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let raw_key = String::from_utf8_lossy(raw_key).into_owned();
    let value = String::from_utf8_lossy(raw_value).into_owned();
    let endpoint = Endpoint::parse("http://127.0.0.1:2379").expect("a valid endpoint");

    // Any string may be offered as an endpoint: parsing never panics, and an
    // accepted endpoint always yields valid request URIs.
    if let Ok(other) = Endpoint::parse(&value) {
        let built = keys::Get::new("/k").build(&other);
        assert!(built.is_ok(), "{value:?} parsed as {other:?} but {built:?}");
    }

    let cleaned = match key::clean(&raw_key) {
        Ok(c) => c,
        Err(e) => {
            assert!(!raw_key.starts_with('/'), "{raw_key:?} refused: {e}");
            assert!(matches!(e, Error::InvalidKey { .. }));
            let built = keys::Get::new(raw_key.as_str()).build(&endpoint);
            assert!(built.is_err_and(|e| e.is_invalid_input()));
            return;
        }
    };
    assert!(cleaned.starts_with('/'), "{raw_key:?} -> {cleaned:?}");
    assert!(cleaned == "/" || !cleaned.ends_with('/'), "{cleaned:?}");
    for segment in cleaned[1..].split('/').filter(|_| cleaned != "/") {
        assert!(
            !matches!(segment, "" | "." | ".."),
            "{raw_key:?} -> {cleaned:?}"
        );
    }
    assert_eq!(
        key::clean(&cleaned).ok().as_deref(),
        Some(cleaned.as_str()),
        "idempotent"
    );

    let encoded = key::encode_path(&cleaned);
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%/".contains(&b)),
        "{encoded:?}"
    );
    assert_eq!(
        key::decode_path(&encoded),
        cleaned,
        "round trip of {raw_key:?}"
    );

    // A GET has no query: it is refused exactly when the path is too long.
    let path_len = "/v2/keys".len() + encoded.len();
    let max_path = MAX_REQUEST_LINE - "DELETE ".len() - " HTTP/1.1\r\n".len();
    match keys::Get::new(raw_key.as_str()).build(&endpoint) {
        Ok(request) => {
            assert!(path_len <= max_path);
            assert_eq!(addressed(&request), cleaned);
        }
        Err(e) => {
            assert!(path_len > max_path, "{path_len} bytes refused: {e}");
            refused_for_length(&e, "get");
        }
    }

    // Writes carry the value in a form body, byte for byte.
    match keys::Set::new(raw_key.as_str(), value.as_str())
        .ttl(5)
        .build(&endpoint)
    {
        Ok(request) => {
            assert_eq!(addressed(&request), cleaned);
            let pairs = form(request.body());
            assert_eq!(field(&pairs, "value").as_deref(), Some(value.as_str()));
            assert_eq!(field(&pairs, "ttl").as_deref(), Some("5"));
        }
        Err(e) => refused_for_length(&e, "set"),
    }
    match keys::CreateInOrder::new(raw_key.as_str(), value.as_str()).build(&endpoint) {
        Ok(request) => {
            assert_eq!(addressed(&request), cleaned);
            assert_eq!(
                field(&form(request.body()), "value").as_deref(),
                Some(value.as_str())
            );
        }
        Err(e) => refused_for_length(&e, "post"),
    }
    // A compare-and-delete carries its guard in the query (etcd ignores a
    // DELETE body): never dropped, never altered.
    match keys::Delete::new(raw_key.as_str())
        .prev_value(value.as_str())
        .build(&endpoint)
    {
        Ok(request) => {
            assert_eq!(addressed(&request), cleaned);
            let query = request.uri().query().unwrap_or("");
            let pairs = form(query.as_bytes());
            assert!(!value.is_empty(), "an empty prevValue was sent");
            assert_eq!(field(&pairs, "prevValue").as_deref(), Some(value.as_str()));
        }
        // etcd cannot compare against an empty value (errorCode 201).
        Err(e) if value.is_empty() => assert!(e.is_invalid_input(), "{e:?}"),
        Err(e) => refused_for_length(&e, "compare-and-delete"),
    }
    match keys::Wait::new(raw_key.as_str())
        .recursive(true)
        .wait_index(9)
        .build(&endpoint)
    {
        Ok(request) => {
            assert_eq!(addressed(&request), cleaned);
            assert_eq!(
                request.uri().query(),
                Some("wait=true&waitIndex=9&recursive=true")
            );
        }
        Err(e) => refused_for_length(&e, "wait"),
    }
}
