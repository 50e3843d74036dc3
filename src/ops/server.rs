//! Server information: `/version`, `/health`, `/v2/machines` (the seed's
//! `ServerOps`). None of them needs credentials.

use http::Method;
use serde::Deserialize;

use super::{request, Operation, Params};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::response::{decode_failure, error_from_response, parse_json};

/// The versions a member reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerVersion {
    /// The member's etcd version, e.g. `3.4.23`.
    #[serde(rename = "etcdserver")]
    pub server: String,
    /// The cluster's version, e.g. `3.4.0`.
    #[serde(rename = "etcdcluster")]
    pub cluster: String,
}

/// `GET /version`.
///
/// ```
/// use etcd_v2::{ops::server::Version, Operation};
/// let r = http::Response::builder().status(200)
///     .body(br#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#.to_vec()).unwrap();
/// assert_eq!(Version.parse(r).unwrap().server, "3.4.23");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Version;

impl Operation for Version {
    type Output = ServerVersion;
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        request(endpoint, Method::GET, "/version", &Params::new(), None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<ServerVersion, Error> {
        parse_json(&response, "a version")
    }
    fn idempotent(&self) -> bool {
        true
    }
}

/// `GET /health`: whether the member has a leader and can serve. etcd answers an
/// unhealthy member with `503 {"health":"false"}`, which parses as `false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health;

#[derive(Deserialize)]
struct RawHealth {
    health: String,
}

impl Operation for Health {
    type Output = bool;
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        request(endpoint, Method::GET, "/health", &Params::new(), None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<bool, Error> {
        match response.status().as_u16() {
            200 | 503 => {}
            _ => return Err(error_from_response(&response)),
        }
        let raw: RawHealth = crate::response::json_from_body(response.body())
            .map_err(|e| decode_failure(&response, format!("not a health report: {e}")))?;
        Ok(raw.health == "true")
    }
    fn idempotent(&self) -> bool {
        true
    }
}

/// `GET /v2/machines`: the client URLs of the cluster's started members (the
/// seed's `get_machines`).
///
/// ```
/// use etcd_v2::{ops::server::Machines, Operation};
/// let r = http::Response::builder().status(200)
///     .body(b"http://a:2379, http://b:2379".to_vec()).unwrap();
/// assert_eq!(Machines.parse(r).unwrap(), ["http://a:2379", "http://b:2379"]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Machines;

impl Operation for Machines {
    type Output = Vec<String>;
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        request(endpoint, Method::GET, "/v2/machines", &Params::new(), None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Vec<String>, Error> {
        if !response.status().is_success() {
            return Err(error_from_response(&response));
        }
        let text = std::str::from_utf8(response.body())
            .map_err(|e| decode_failure(&response, format!("machines are not text: {e}")))?;
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }
    fn idempotent(&self) -> bool {
        true
    }
}
