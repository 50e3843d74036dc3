//! Any request under `/v2`: the seed's `Client.send(version, verb, path, value,
//! parameters, data, ..., return_raw, allow_reconnect)`.

use http::Method;

use super::{request, Operation, Params};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::key;

/// A hand-made request: a method, a path under `/v2` (or unversioned), query
/// parameters and form data. Its output is the raw response, whatever its
/// status; [`crate::Client::send`] parses it as a keys answer instead.
///
/// ```
/// use etcd_v2::{ops::raw::RawRequest, Endpoint, Operation};
/// use http::Method;
/// let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
/// let req = RawRequest::new(Method::PUT, "/keys/a b")
///     .value("x")
///     .parameter("prevExist", "false")
///     .data("ttl", "5")
///     .build(&e)
///     .unwrap();
/// assert_eq!(req.uri(), "http://127.0.0.1:2379/v2/keys/a%20b?prevExist=false");
/// assert_eq!(req.body(), b"ttl=5&value=x");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    method: Method,
    path: String,
    versioned: bool,
    parameters: Vec<(String, String)>,
    data: Vec<(String, String)>,
    value: Option<String>,
    allow_reconnect: bool,
    idempotent: Option<bool>,
}

impl RawRequest {
    /// A request for `path` under `/v2` (e.g. `/keys/a`, `/members`). The path
    /// is cleaned and percent-encoded like a key.
    pub fn new(method: Method, path: impl Into<String>) -> RawRequest {
        RawRequest {
            method,
            path: path.into(),
            versioned: true,
            parameters: Vec::new(),
            data: Vec::new(),
            value: None,
            allow_reconnect: true,
            idempotent: None,
        }
    }

    /// A request for a path outside `/v2` (e.g. `/version`, `/health`).
    pub fn unversioned(method: Method, path: impl Into<String>) -> RawRequest {
        RawRequest {
            versioned: false,
            ..RawRequest::new(method, path)
        }
    }

    setter!(
        /// Send `value` as the form field `value` (the seed's `value`).
        value(value: impl Into<String>) -> value = Some(value.into())
    );

    /// Add a query parameter (the seed's `parameters`).
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> RawRequest {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// Add a form field to the body (the seed's `data`).
    pub fn data(mut self, name: impl Into<String>, value: impl Into<String>) -> RawRequest {
        self.data.push((name.into(), value.into()));
        self
    }

    setter!(
        /// Whether another endpoint may be tried when this one cannot be reached (the
        /// seed's `allow_reconnect`; default true).
        allow_reconnect(allow: bool) -> allow_reconnect = allow;

        /// Declare whether resending after an ambiguous failure is harmless. By
        /// default only GET and HEAD are.
        safe_to_resend(idempotent: bool) -> idempotent = Some(idempotent)
    );

    /// Whether another endpoint may be tried.
    pub fn allows_reconnect(&self) -> bool {
        self.allow_reconnect
    }

    /// Whether the caller changed how the request is resent: no failover, or
    /// a `safe_to_resend` other than its method's default.
    #[cfg_attr(not(feature = "bridge"), allow(dead_code))]
    pub(crate) fn sets_resending(&self) -> bool {
        let default = matches!(self.method, Method::GET | Method::HEAD);
        !self.allow_reconnect || self.idempotent.is_some_and(|i| i != default)
    }
}

impl Operation for RawRequest {
    type Output = http::Response<Vec<u8>>;

    fn key(&self) -> Option<&str> {
        Some(&self.path)
    }

    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        let cleaned = key::clean(&self.path)?;
        let prefix = if self.versioned { "/v2" } else { "" };
        let path = format!("{prefix}{}", key::encode_path(&cleaned));
        let mut query = Params::new();
        for (k, v) in &self.parameters {
            query.push(k, v);
        }
        let mut form = Params::new();
        for (k, v) in &self.data {
            form.push(k, v);
        }
        if let Some(v) = &self.value {
            form.push("value", v);
        }
        let has_body = !self.data.is_empty() || self.value.is_some();
        request(
            endpoint,
            self.method.clone(),
            &path,
            &query,
            has_body.then_some(&form),
        )
    }

    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Error> {
        Ok(response)
    }

    fn idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or(matches!(self.method, Method::GET | Method::HEAD))
    }
}
