//! Decoding a v2 HTTP request into what it asks for, as etcd 3.4's HTTP layer
//! reads it: Go's mux (redirects for unclean paths, 404s, 405s), its form
//! parsing, and `parseKeyRequest`'s validation with its exact error codes and
//! causes.

use super::form::{self, Form};
use super::types::V2Error;

/// A keys request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeysMethod {
    /// GET: a read, or a wait with `wait=true`.
    #[default]
    Get,
    /// HEAD: a read without a body.
    Head,
    /// PUT: set, create, update, compare-and-swap or refresh.
    Put,
    /// POST: create an in-order key.
    Post,
    /// DELETE: delete or compare-and-delete.
    Delete,
}

/// A keys request, validated as etcd's `parseKeyRequest` validates it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeysRequest {
    /// The method.
    pub method: KeysMethod,
    /// The key: absolute and clean (`/` for the root).
    pub key: Vec<u8>,
    /// `value` (empty when absent).
    pub value: Vec<u8>,
    /// `dir`.
    pub dir: bool,
    /// `recursive`.
    pub recursive: bool,
    /// `sorted`.
    pub sorted: bool,
    /// `wait`.
    pub wait: bool,
    /// `quorum`.
    pub quorum: bool,
    /// `stream`.
    pub stream: bool,
    /// `prevValue` (never empty: an empty one is refused).
    pub prev_value: Option<Vec<u8>>,
    /// `prevIndex` (0 when absent).
    pub prev_index: u64,
    /// `waitIndex` (0 when absent).
    pub wait_index: u64,
    /// `prevExist`.
    pub prev_exist: Option<bool>,
    /// `refresh`.
    pub refresh: Option<bool>,
    /// `ttl` in seconds (`None` when absent or empty).
    pub ttl: Option<u64>,
    /// `noValueOnSuccess`.
    pub no_value_on_success: bool,
}

impl KeysRequest {
    /// The expiry etcd computes from the TTL at `now_unix_nanos`: `now + ttl`
    /// in Go's wrapping 64-bit nanoseconds (so TTLs whose expiry passes the
    /// year 2262 wrap), `None` without a TTL.
    pub fn expiration(&self, now_unix_nanos: i64) -> Option<i64> {
        let ttl = self.ttl?;
        let d = (ttl as i64).wrapping_mul(1_000_000_000);
        Some(now_unix_nanos.wrapping_add(d)).filter(|&e| e != 0)
    }

    /// Whether etcd sends this request through raft (writes and quorum reads,
    /// `wait=true` or not: etcd makes any quorum GET a `QGET` first), rather
    /// than answering it from the member's own store.
    pub fn through_raft(&self) -> bool {
        !matches!(self.method, KeysMethod::Get | KeysMethod::Head)
            || (self.method == KeysMethod::Get && self.quorum)
    }

    /// Whether it is a long poll: a GET with `wait=true`, not a quorum read.
    pub fn is_wait(&self) -> bool {
        self.wait && self.method == KeysMethod::Get && !self.quorum
    }

    /// Whether it changes nothing.
    pub fn is_read(&self) -> bool {
        matches!(self.method, KeysMethod::Get | KeysMethod::Head)
    }
}

/// A members request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembersRequest {
    /// GET /v2/members.
    List,
    /// GET /v2/members/leader.
    Leader,
    /// POST /v2/members with these peer URLs.
    Add(Vec<String>),
    /// DELETE /v2/members/ID.
    Remove(u64),
    /// PUT /v2/members/ID with these peer URLs.
    Update(u64, Vec<String>),
}

/// Which statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsKind {
    /// /v2/stats/self.
    SelfStats,
    /// /v2/stats/leader.
    Leader,
    /// /v2/stats/store.
    Store,
}

/// What a request asks for, or how etcd answers it before any backend is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A keys request.
    Keys(KeysRequest),
    /// A keys request `parseKeyRequest` refuses (answered with this error and
    /// index 0).
    KeysError(V2Error),
    /// GET /version.
    Version,
    /// GET /health.
    Health,
    /// GET /v2/machines.
    Machines,
    /// A members request.
    Members(MembersRequest),
    /// A members request etcd refuses: status, message, and whether the answer
    /// carries `X-Etcd-Cluster-Id`.
    MembersError(u16, String),
    /// Statistics.
    Stats(StatsKind),
    /// The v2 auth API (`/v2/auth/...`), with the path after `/v2/auth`.
    Auth(String),
    /// A CORS preflight (`OPTIONS`): 200 with no body.
    Preflight,
    /// 405, with the methods etcd lists in `Allow`, and whether the handler had
    /// set `X-Etcd-Cluster-Id` already.
    MethodNotAllowed(&'static str, bool),
    /// 404 `404 page not found`.
    NotFound,
    /// 301 to this location (an unclean path, as Go's mux answers it).
    Redirect(String),
    /// 400 from the HTTP server itself (a path with a bad escape).
    BadRequest,
}

const KEYS: &[u8] = b"/v2/keys";
const MEMBERS: &[u8] = b"/v2/members";

/// Decode a request.
pub fn decode(request: &http::Request<Vec<u8>>) -> Route {
    let method = request.method();
    if method == http::Method::OPTIONS {
        return Route::Preflight;
    }
    let Ok(path) = form::unescape(request.uri().path().as_bytes(), false) else {
        return Route::BadRequest;
    };
    let cleaned = form::mux_clean(&path);
    if cleaned != path && method != http::Method::CONNECT {
        let mut location = form::escape_path(&cleaned);
        if let Some(q) = request.uri().query().filter(|q| !q.is_empty()) {
            location.push('?');
            location.push_str(q);
        }
        return Route::Redirect(location);
    }
    let allow = |methods: &[&str]| methods.contains(&method.as_str());
    match path.as_slice() {
        p if p == KEYS || p.starts_with(b"/v2/keys/") => {
            if !allow(&["HEAD", "GET", "PUT", "POST", "DELETE"]) {
                return Route::MethodNotAllowed("HEAD,GET,PUT,POST,DELETE", false);
            }
            match keys_request(request, &p[KEYS.len()..]) {
                Ok(k) => Route::Keys(k),
                Err(e) => Route::KeysError(e),
            }
        }
        p if p == MEMBERS || p.starts_with(b"/v2/members/") => {
            if !allow(&["GET", "POST", "DELETE", "PUT"]) {
                return Route::MethodNotAllowed("GET,POST,DELETE,PUT", false);
            }
            members_request(request, &p[MEMBERS.len()..])
        }
        b"/v2/machines" if !allow(&["GET", "HEAD"]) => Route::MethodNotAllowed("GET,HEAD", false),
        b"/v2/machines" => Route::Machines,
        b"/v2/stats/store" | b"/v2/stats/self" | b"/v2/stats/leader" if !allow(&["GET"]) => {
            Route::MethodNotAllowed("GET", false)
        }
        b"/v2/stats/store" => Route::Stats(StatsKind::Store),
        b"/v2/stats/self" => Route::Stats(StatsKind::SelfStats),
        b"/v2/stats/leader" => Route::Stats(StatsKind::Leader),
        b"/version" if !allow(&["GET"]) => Route::MethodNotAllowed("GET", false),
        b"/version" => Route::Version,
        b"/health" if !allow(&["GET"]) => Route::MethodNotAllowed("GET", false),
        b"/health" => Route::Health,
        p if p == b"/v2/auth/enable"
            || p.starts_with(b"/v2/auth/users")
            || p.starts_with(b"/v2/auth/roles") =>
        {
            Route::Auth(String::from_utf8_lossy(&p[b"/v2/auth".len()..]).into_owned())
        }
        _ => Route::NotFound,
    }
}

fn invalid(code: u16, cause: &str) -> V2Error {
    V2Error::new(code, cause, 0)
}

fn uint(form: &Form, key: &str) -> Result<u64, ()> {
    match form.first(key) {
        None => Ok(0),
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(parse_go_uint)
            .ok_or(()),
    }
}

/// Go's `strconv.ParseUint(s, 10, 64)`: decimal digits only (underscores are
/// not allowed in base 10), no sign.
fn parse_go_uint(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &[u8]) -> Option<bool> {
    match v {
        b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Some(true),
        b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Some(false),
        _ => None,
    }
}

fn boolean(form: &Form, key: &str) -> Result<bool, ()> {
    match form.first(key) {
        None => Ok(false),
        Some(v) => parse_go_bool(v).ok_or(()),
    }
}

fn keys_request(request: &http::Request<Vec<u8>>, rest: &[u8]) -> Result<KeysRequest, V2Error> {
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes());
    let (form, error) = form::parse_form(
        request.method(),
        content_type,
        request.body(),
        request.uri().query().unwrap_or(""),
    );
    if let Some(e) = error {
        return Err(invalid(210, &e));
    }
    let key = form::absolute(rest);
    let prev_index =
        uint(&form, "prevIndex").map_err(|_| invalid(203, r#"invalid value for "prevIndex""#))?;
    let wait_index =
        uint(&form, "waitIndex").map_err(|_| invalid(203, r#"invalid value for "waitIndex""#))?;
    let flag = |name: &str| {
        boolean(&form, name).map_err(|_| invalid(209, &format!("invalid value for \"{name}\"")))
    };
    let recursive = flag("recursive")?;
    let sorted = flag("sorted")?;
    let wait = flag("wait")?;
    let dir = flag("dir")?;
    let quorum = flag("quorum")?;
    let stream = flag("stream")?;
    let method = match request.method().as_str() {
        "GET" => KeysMethod::Get,
        "HEAD" => KeysMethod::Head,
        "PUT" => KeysMethod::Put,
        "POST" => KeysMethod::Post,
        _ => KeysMethod::Delete,
    };
    if wait && method != KeysMethod::Get {
        return Err(invalid(209, r#""wait" can only be used with GET requests"#));
    }
    let prev_value = form.first("prevValue").map(<[u8]>::to_vec);
    if prev_value.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid(201, r#""prevValue" cannot be empty"#));
    }
    let no_value_on_success = flag("noValueOnSuccess")?;
    let ttl = if form.value("ttl").is_empty() {
        None
    } else {
        Some(uint(&form, "ttl").map_err(|_| invalid(202, r#"invalid value for "ttl""#))?)
    };
    let optional = |name: &str| -> Result<Option<bool>, V2Error> {
        match form.first(name) {
            None => Ok(None),
            Some(v) => parse_go_bool(v)
                .map(Some)
                .ok_or_else(|| invalid(209, &format!("invalid value for {name}"))),
        }
    };
    let prev_exist = optional("prevExist")?;
    let refresh = optional("refresh")?;
    if refresh == Some(true) {
        if !form.value("value").is_empty() {
            return Err(invalid(211, "A value was provided on a refresh"));
        }
        if ttl.is_none() {
            return Err(invalid(212, "No TTL value set"));
        }
    }
    Ok(KeysRequest {
        method,
        key,
        value: form.value("value").to_vec(),
        dir,
        recursive,
        sorted,
        wait,
        quorum,
        stream,
        prev_value,
        prev_index,
        wait_index,
        prev_exist,
        refresh,
        ttl,
        no_value_on_success,
    })
}

fn members_request(request: &http::Request<Vec<u8>>, rest: &[u8]) -> Route {
    let rest = String::from_utf8_lossy(rest.strip_prefix(b"/").unwrap_or(rest)).into_owned();
    let id = || -> Result<u64, Route> {
        if rest.is_empty() {
            return Err(Route::MethodNotAllowed("", true));
        }
        u64::from_str_radix(&rest, 16)
            .ok()
            .filter(|_| rest.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| Route::MembersError(404, format!("No such member: {rest}")))
    };
    match request.method().as_str() {
        "GET" => match rest.as_str() {
            "" => Route::Members(MembersRequest::List),
            "leader" => Route::Members(MembersRequest::Leader),
            _ => Route::MembersError(404, "Not found".into()),
        },
        "POST" => match peer_urls(request) {
            Ok(urls) => Route::Members(MembersRequest::Add(urls)),
            Err(e) => e,
        },
        "DELETE" => match id() {
            Ok(id) => Route::Members(MembersRequest::Remove(id)),
            Err(e) => e,
        },
        _ => match id() {
            Ok(id) => match peer_urls(request) {
                Ok(urls) => Route::Members(MembersRequest::Update(id, urls)),
                Err(e) => e,
            },
            Err(e) => e,
        },
    }
}

/// The peer URLs of a member add or update, checked as etcd checks them.
fn peer_urls(request: &http::Request<Vec<u8>>) -> Result<Vec<String>, Route> {
    let ct = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let ct = match ct.find(';') {
        Some(i) => ct[..i].trim().to_ascii_lowercase(),
        None => ct,
    };
    if ct != "application/json" {
        return Err(Route::MembersError(
            415,
            format!("Bad Content-Type {ct}, accept application/json"),
        ));
    }
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "peerURLs", default)]
        peer_urls: Vec<String>,
    }
    let body: Body = serde_json::from_slice(request.body()).map_err(|e| {
        let message = if e.is_eof() {
            "unexpected end of JSON input".to_owned()
        } else {
            format!("invalid JSON: {e}")
        };
        Route::MembersError(400, message)
    })?;
    if body.peer_urls.is_empty() {
        return Err(Route::MembersError(400, "no valid URLs given".into()));
    }
    let mut urls = Vec::with_capacity(body.peer_urls.len());
    for u in body.peer_urls {
        let (scheme, rest) = u.split_once("://").unwrap_or(("", ""));
        if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
            return Err(Route::MembersError(
                400,
                format!("URL scheme must be http, https, unix, or unixs: {u}"),
            ));
        }
        let has_port = rest
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !has_port {
            return Err(Route::MembersError(
                400,
                format!("URL address does not have the form \"host:port\": {u}"),
            ));
        }
        urls.push(u);
    }
    urls.sort();
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, body: &str) -> http::Request<Vec<u8>> {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    fn keys(method: &str, uri: &str, body: &str) -> Result<KeysRequest, V2Error> {
        match decode(&req(method, uri, body)) {
            Route::Keys(k) => Ok(k),
            Route::KeysError(e) => Err(e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parse_key_request_errors_carry_etcds_codes_and_causes() {
        let e = |m, u, b| keys(m, u, b).unwrap_err();
        assert_eq!(e("PUT", "/v2/keys/a?prevIndex=x", "").code, 203);
        assert_eq!(e("PUT", "/v2/keys/a?prevValue=", "").code, 201);
        assert_eq!(e("PUT", "/v2/keys/a", "ttl=-1").code, 202);
        assert_eq!(e("PUT", "/v2/keys/a?wait=true", "").code, 209);
        assert_eq!(
            e("GET", "/v2/keys/a?sorted=yes", "").cause,
            br#"invalid value for "sorted""#
        );
        assert_eq!(
            e("PUT", "/v2/keys/a?prevExist=maybe", "").cause,
            b"invalid value for prevExist"
        );
        assert_eq!(
            e("PUT", "/v2/keys/a", "refresh=true&ttl=5&value=x").code,
            211
        );
        assert_eq!(e("PUT", "/v2/keys/a", "refresh=true").code, 212);
        assert_eq!(e("PUT", "/v2/keys/a", "value=%zz").code, 210);
    }

    #[test]
    fn keys_are_joined_and_cleaned_and_unclean_paths_redirect() {
        assert_eq!(keys("GET", "/v2/keys", "").unwrap().key, b"/");
        assert_eq!(keys("GET", "/v2/keys/a/b/", "").unwrap().key, b"/a/b");
        assert_eq!(
            keys("GET", "/v2/keys/a%2Fb%20c", "").unwrap().key,
            b"/a/b c"
        );
        assert_eq!(
            decode(&req("GET", "/v2/keys/a//b?x=1", "")),
            Route::Redirect("/v2/keys/a/b?x=1".into())
        );
        assert_eq!(decode(&req("GET", "/v2/nope", "")), Route::NotFound);
        assert_eq!(
            decode(&req("PATCH", "/v2/keys/a", "")),
            Route::MethodNotAllowed("HEAD,GET,PUT,POST,DELETE", false)
        );
    }

    #[test]
    fn ttls_wrap_as_gos_nanoseconds_do() {
        let k = keys("PUT", "/v2/keys/a", "ttl=5").unwrap();
        assert_eq!(k.expiration(1_000), Some(5_000_001_000));
        let k = keys("PUT", "/v2/keys/a", "ttl=18446744073709551615").unwrap();
        assert_eq!(k.expiration(10_000_000_000), Some(9_000_000_000));
    }
}
