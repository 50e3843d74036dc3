//! The few calls of etcd's v3 JSON gateway the bridge makes, as an
//! [`Operation`]: one transaction (`POST /v3/kv/txn`) of ranges, puts and
//! deletes, with the JSON the gateway reads and writes (keys and values in
//! base64, 64-bit numbers as strings, fields left out when zero).

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::base64;
use crate::endpoint::Endpoint;
use crate::error::{body_prefix, Error};
use crate::ops::Operation;
use crate::response::endpoint_of;

/// A 64-bit number the gateway writes as a string (or, from other servers, a
/// number).
pub(crate) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        Text(String),
        Int(u64),
        Signed(i64),
    }
    match Num::deserialize(d)? {
        Num::Text(s) => s.parse().map_err(serde::de::Error::custom),
        Num::Int(n) => Ok(n),
        Num::Signed(n) => u64::try_from(n).map_err(serde::de::Error::custom),
    }
}

/// Bytes the gateway writes in base64.
fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    base64::decode(&text).ok_or_else(|| serde::de::Error::custom("not base64"))
}

/// The header of every v3 answer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// The cluster's ID.
    #[serde(default, deserialize_with = "number")]
    pub cluster_id: u64,
    /// The answering member's ID.
    #[serde(default, deserialize_with = "number")]
    pub member_id: u64,
    /// The store's revision when it answered.
    #[serde(default, deserialize_with = "number")]
    pub revision: u64,
    /// The member's raft term.
    #[serde(default, deserialize_with = "number")]
    pub raft_term: u64,
}

/// A key and its value with their revisions.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    #[serde(default, deserialize_with = "bytes")]
    pub key: Vec<u8>,
    /// The revision that created it.
    #[serde(default, deserialize_with = "number")]
    pub create_revision: u64,
    /// The revision of its last change.
    #[serde(default, deserialize_with = "number")]
    pub mod_revision: u64,
    /// The value.
    #[serde(default, deserialize_with = "bytes")]
    pub value: Vec<u8>,
    /// The lease it is attached to (0: none).
    #[serde(default, deserialize_with = "number")]
    pub lease: u64,
}

/// The answer to a range.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct RangeResponse {
    /// The keys found.
    #[serde(default)]
    pub kvs: Vec<KeyValue>,
    /// Whether more keys matched than were returned.
    #[serde(default)]
    pub more: bool,
}

/// The answer to one operation of a transaction.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ResponseOp {
    /// A range's answer.
    pub response_range: Option<RangeResponse>,
}

/// The answer to a transaction.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct TxnResponse {
    /// The header.
    #[serde(default)]
    pub header: Header,
    /// Whether every comparison held (the success branch ran).
    #[serde(default)]
    pub succeeded: bool,
    /// The answers of the branch that ran, in order.
    #[serde(default)]
    pub responses: Vec<ResponseOp>,
    /// The endpoint that answered (not part of the JSON).
    #[serde(skip)]
    pub endpoint: String,
}

/// The end of the range of keys starting with `prefix`: `prefix` with its last
/// byte below 0xff incremented (the gateway's `range_end` for a prefix).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: all keys from the prefix on.
    vec![0]
}

/// A range of one key, or of `[key, end)`.
pub fn range(key: &[u8], end: Option<&[u8]>) -> Value {
    let mut r = json!({ "key": base64::encode(key) });
    if let Some(end) = end {
        r["range_end"] = json!(base64::encode(end));
    }
    json!({ "request_range": r })
}

/// Put `value` at `key`.
pub fn put(key: &[u8], value: &[u8]) -> Value {
    put_on(key, value, None)
}

/// Put `value` at `key`, on `lease` if any (a put without a lease detaches
/// the key from the one it had).
pub fn put_on(key: &[u8], value: &[u8], lease: Option<u64>) -> Value {
    let mut put = json!({ "key": base64::encode(key), "value": base64::encode(value) });
    if let Some(lease) = lease {
        put["lease"] = json!(lease.to_string());
    }
    json!({ "request_put": put })
}

/// `POST /v3/lease/grant`: a lease of `ttl` seconds; the output is its ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The seconds.
    pub ttl: u64,
}

#[derive(Deserialize)]
struct Granted {
    #[serde(rename = "ID", deserialize_with = "number")]
    id: u64,
}

/// An [`Operation`] that posts a JSON body to the gateway and reads one
/// field of the answer; idempotent (asked again, it only makes another lease
/// or token, unused).
macro_rules! v3_question {
    ($ty:ty, $path:literal, $name:literal, |$s:ident| $body:expr, $answer:ty => |$a:ident| $out:expr, $output:ty) => {
        impl Operation for $ty {
            type Output = $output;

            fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
                let $s = self;
                post_json(endpoint, $path, $body.to_string().into_bytes())
            }

            fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Self::Output, Error> {
                decoded::<$answer>(&response).map(|$a| $out)
            }

            fn idempotent(&self) -> bool {
                true
            }

            fn reads_only_cluster_headers(&self) -> bool {
                true
            }

            fn name(&self) -> &'static str {
                $name
            }
        }
    };
}

v3_question!(
    LeaseGrant,
    "/v3/lease/grant",
    "BridgeLease",
    |s| json!({ "TTL": s.ttl.to_string() }),
    Granted => |g| g.id,
    u64
);

/// A `POST` to the gateway other than a transaction, a lease or a watch (the
/// members and the status); the output is the answer's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    path: &'static str,
    body: Value,
    applies: bool,
}

impl Post {
    /// A question: it may be sent again anywhere.
    pub fn reading(path: &'static str, body: Value) -> Post {
        Post {
            path,
            body,
            applies: false,
        }
    }

    /// A change: never sent again once it may have been applied.
    pub fn applying(path: &'static str, body: Value) -> Post {
        Post {
            path,
            body,
            applies: true,
        }
    }

    /// The gateway path.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The JSON body.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// Whether it changes something (and so is never sent again once it may
    /// have been applied).
    pub fn applies(&self) -> bool {
        self.applies
    }
}

impl Operation for Post {
    type Output = Value;

    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        post_json(endpoint, self.path, self.body.to_string().into_bytes())
    }

    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Value, Error> {
        decoded(&response)
    }

    fn idempotent(&self) -> bool {
        !self.applies
    }

    fn reads_only_cluster_headers(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        if self.applies {
            "BridgeChange"
        } else {
            "BridgeQuestion"
        }
    }
}

/// `POST /v3/auth/authenticate`: a token for `user` (sent as the
/// `Authorization` header of later requests); the output is the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    /// The user.
    pub user: String,
    /// The password (never shown by `Debug`).
    pub password: crate::credentials::Secret,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

v3_question!(
    Authenticate,
    "/v3/auth/authenticate",
    "BridgeAuthenticate",
    |s| json!({ "name": s.user, "password": s.password.expose() }),
    Token => |t| t.token,
    String
);

/// Whether `error` is the gateway refusing a request for its token (missing,
/// expired or unknown): refused before anything was applied, so the request
/// may be sent again with a new token.
pub fn is_token_refusal(error: &Error) -> bool {
    matches!(error, Error::Api { message, .. } if is_token_message(message))
}

/// Whether a message (an error's, or a watch's cancel reason) is a token
/// refusal.
pub fn is_token_message(message: &str) -> bool {
    message.contains("invalid auth token") || message.contains("user name is empty")
}

/// Whether a message (an error's, or a watch's cancel reason) is etcd
/// refusing a request for want of credentials or permission.
pub fn is_access_refusal(message: &str) -> bool {
    message.contains("permission denied") || message.contains("user name is empty")
}

/// Whether `error` is the gateway saying auth is off (to a token request):
/// no token is needed, and one kept from before is refused.
pub fn auth_is_off(error: &Error) -> bool {
    matches!(error, Error::Api { message, .. } if message.contains("authentication is not enabled"))
}

/// Delete `key`.
pub fn delete(key: &[u8]) -> Value {
    json!({ "request_delete_range": { "key": base64::encode(key) } })
}

/// Delete every key in `[key, end)`.
pub fn delete_range(key: &[u8], end: &[u8]) -> Value {
    json!({ "request_delete_range": { "key": base64::encode(key), "range_end": base64::encode(end) } })
}

/// Compare `key`'s last-change revision with `revision` (0: the key does not
/// exist).
pub fn mod_revision_is(key: &[u8], revision: u64) -> Value {
    json!({
        "key": base64::encode(key),
        "result": "EQUAL",
        "target": "MOD",
        "mod_revision": revision.to_string(),
    })
}

/// `POST` of a JSON `body` to `path` of the gateway.
pub(crate) fn post_json(
    endpoint: &Endpoint,
    path: &str,
    body: Vec<u8>,
) -> Result<http::Request<Vec<u8>>, Error> {
    http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("{}{path}", endpoint.as_str()))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| Error::invalid_argument("request", e.to_string()))
}

/// A 200 answer's JSON as `T`, or the error the answer stands for.
fn decoded<T: serde::de::DeserializeOwned>(response: &http::Response<Vec<u8>>) -> Result<T, Error> {
    if response.status() != http::StatusCode::OK {
        return Err(error_of(response));
    }
    serde_json::from_slice(response.body()).map_err(|e| Error::Decode {
        endpoint: endpoint_of(response),
        status: 200,
        reason: e.to_string(),
        body: body_prefix(response.body()),
    })
}

/// One `POST /v3/kv/txn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    body: Vec<u8>,
    writes: bool,
}

impl Txn {
    /// A transaction of reads only: every range at one revision.
    pub fn read(ranges: Vec<Value>) -> Txn {
        Txn {
            body: json!({ "success": ranges }).to_string().into_bytes(),
            writes: false,
        }
    }

    /// A transaction that runs `ops` if every comparison in `compare` holds.
    pub fn write(compare: Vec<Value>, ops: Vec<Value>) -> Txn {
        Txn {
            body: json!({ "compare": compare, "success": ops })
                .to_string()
                .into_bytes(),
            writes: true,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// The error body of the gateway: `{"error","code","message"}` (etcd 3.4 and
/// 3.5) or a `google.rpc.Status` (`{"code","message","details"}`, etcd 3.6).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The error an answer other than 200 stands for.
pub fn error_of(response: &http::Response<Vec<u8>>) -> Error {
    let endpoint = endpoint_of(response);
    let status = response.status().as_u16();
    match serde_json::from_slice::<ErrorBody>(response.body()) {
        Ok(ErrorBody {
            message: Some(message),
            ..
        })
        | Ok(ErrorBody {
            message: None,
            error: Some(message),
        }) => Error::Api {
            endpoint,
            status,
            message,
        },
        _ => Error::Http {
            endpoint,
            status,
            location: None,
            body: body_prefix(response.body()),
        },
    }
}

impl Operation for Txn {
    type Output = TxnResponse;

    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        post_json(endpoint, "/v3/kv/txn", self.body.clone())
    }

    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<TxnResponse, Error> {
        let mut answer: TxnResponse = decoded(&response)?;
        answer.endpoint = endpoint_of(&response);
        Ok(answer)
    }

    /// A read may be sent again anywhere; a write may have been applied.
    fn idempotent(&self) -> bool {
        !self.writes
    }

    /// The gateway's answers are read from their status and JSON body only.
    fn reads_only_cluster_headers(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        if self.writes {
            "BridgeWrite"
        } else {
            "BridgeRead"
        }
    }
}
