//! Encoding answers as etcd 3.4 writes them: status, headers (CORS, cluster ID,
//! indexes, raft index and term) and body, byte for byte except `Date`.

use super::types::{http_error_json, Event, V2Error};
use crate::headers::{X_ETCD_CLUSTER_ID, X_ETCD_INDEX, X_RAFT_INDEX, X_RAFT_TERM};

/// The cluster-side values etcd puts in a keys answer's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Indexes {
    /// `X-Etcd-Index`: the store's index.
    pub etcd_index: u64,
    /// `X-Raft-Index`: the member's committed raft index.
    pub raft_index: u64,
    /// `X-Raft-Term`: the member's raft term.
    pub raft_term: u64,
}

/// etcd's cluster ID as it writes it (hex, no leading zeros).
pub fn cluster_id_text(id: u64) -> String {
    format!("{id:x}")
}

fn base(status: u16) -> http::response::Builder {
    http::Response::builder()
        .status(status)
        .header(
            "Access-Control-Allow-Headers",
            "accept, content-type, authorization",
        )
        .header(
            "Access-Control-Allow-Methods",
            "POST, GET, OPTIONS, PUT, DELETE",
        )
        .header("Access-Control-Allow-Origin", "*")
}

fn finish(b: http::response::Builder, body: Vec<u8>) -> http::Response<Vec<u8>> {
    let len = body.len();
    // Every header value here is ASCII built from numbers and fixed text.
    b.header("Content-Length", len)
        .body(body)
        .unwrap_or_else(|_| http::Response::new(Vec::new()))
}

/// A keys event: 201 when it created the key, else 200; with `no_value`, writes
/// keep only their action.
pub fn event(e: &Event, no_value: bool, cluster_id: u64, at: Indexes) -> http::Response<Vec<u8>> {
    let status = if e.is_created() { 201 } else { 200 };
    let b = base(status)
        .header("Content-Type", "application/json")
        .header(X_ETCD_CLUSTER_ID, cluster_id_text(cluster_id))
        .header(X_ETCD_INDEX, e.etcd_index)
        .header(X_RAFT_INDEX, at.raft_index)
        .header(X_RAFT_TERM, at.raft_term);
    finish(b, e.to_json(no_value))
}

/// The answer to a wait: 200 with the headers fixed when the wait began, and
/// the event (or nothing, when the watch was closed without one).
pub fn watch(e: Option<&Event>, cluster_id: u64, at: Indexes) -> http::Response<Vec<u8>> {
    watch_json(
        e.map(|e| e.to_json(false)).unwrap_or_default(),
        cluster_id,
        at,
    )
}

/// [`watch`] with the event already written as JSON.
pub fn watch_json(json: Vec<u8>, cluster_id: u64, at: Indexes) -> http::Response<Vec<u8>> {
    let b = base(200)
        .header("Content-Type", "application/json")
        .header(X_ETCD_CLUSTER_ID, cluster_id_text(cluster_id))
        .header(X_ETCD_INDEX, at.etcd_index)
        .header(X_RAFT_INDEX, at.raft_index)
        .header(X_RAFT_TERM, at.raft_term);
    finish(b, json)
}

/// A numbered keys error.
pub fn key_error(e: &V2Error, cluster_id: Option<u64>) -> http::Response<Vec<u8>> {
    let mut b = base(e.status()).header("Content-Type", "application/json");
    if let Some(id) = cluster_id {
        b = b.header(X_ETCD_CLUSTER_ID, cluster_id_text(id));
    }
    finish(b.header(X_ETCD_INDEX, e.index), e.to_json())
}

/// `http.Error`: plain text with a newline.
pub fn plain_error(status: u16, text: &str, cluster_id: Option<u64>) -> http::Response<Vec<u8>> {
    let mut b = base(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff");
    if let Some(id) = cluster_id {
        b = b.header(X_ETCD_CLUSTER_ID, cluster_id_text(id));
    }
    finish(b, format!("{text}\n").into_bytes())
}

/// 405 with `Allow` (left out when empty, as etcd's member handler does).
pub fn method_not_allowed(allow: &str, cluster_id: Option<u64>) -> http::Response<Vec<u8>> {
    let mut r = plain_error(405, "Method Not Allowed", cluster_id);
    if !allow.is_empty() {
        if let Ok(v) = http::HeaderValue::from_str(allow) {
            r.headers_mut().insert(http::header::ALLOW, v);
        }
    }
    r
}

/// Go's mux 404.
pub fn not_found() -> http::Response<Vec<u8>> {
    plain_error(404, "404 page not found", None)
}

/// The HTTP server's own 400 for a request it cannot parse.
pub fn bad_request() -> http::Response<Vec<u8>> {
    let b = base(400)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Connection", "close");
    finish(b, b"400 Bad Request".to_vec())
}

/// Go's mux redirect for an unclean path: a body only for GET and HEAD.
pub fn redirect(location: &str, method: &http::Method) -> http::Response<Vec<u8>> {
    let mut b = base(301).header("Location", location);
    let mut body = Vec::new();
    if method == http::Method::GET || method == http::Method::HEAD {
        b = b.header("Content-Type", "text/html; charset=utf-8");
        body = format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            html_escape(location)
        )
        .into_bytes();
    }
    finish(b, body)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// A JSON answer (`status`, body as given), with `X-Etcd-Cluster-Id` when given.
pub fn json(status: u16, body: Vec<u8>, cluster_id: Option<u64>) -> http::Response<Vec<u8>> {
    let mut b = base(status).header("Content-Type", "application/json");
    if let Some(id) = cluster_id {
        b = b.header(X_ETCD_CLUSTER_ID, cluster_id_text(id));
    }
    finish(b, body)
}

/// etcd's `{"message": ...}` errors (members, stats).
pub fn http_error(status: u16, message: &str, cluster_id: Option<u64>) -> http::Response<Vec<u8>> {
    json(status, http_error_json(message), cluster_id)
}

/// A body Go sniffed as text (`/health`, `/v2/machines`).
pub fn text(status: u16, body: Vec<u8>) -> http::Response<Vec<u8>> {
    let b = base(status).header("Content-Type", "text/plain; charset=utf-8");
    finish(b, body)
}

/// 204 with the cluster ID (member removed or updated).
pub fn no_content(cluster_id: u64) -> http::Response<Vec<u8>> {
    let b = base(204).header(X_ETCD_CLUSTER_ID, cluster_id_text(cluster_id));
    b.body(Vec::new())
        .unwrap_or_else(|_| http::Response::new(Vec::new()))
}

/// The CORS preflight answer: 200, no body.
pub fn preflight() -> http::Response<Vec<u8>> {
    finish(base(200), Vec::new())
}
