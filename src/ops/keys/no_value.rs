//! [`NoValueOnSuccess`]: a write answered without its values.

use super::{CompareAndSwap, Create, CreateInOrder, Set, Update};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ops::Operation;
use crate::response::{parse_acknowledged, Acknowledged, KeysResponse};

/// The writes that accept `noValueOnSuccess`.
pub trait Write: Operation<Output = KeysResponse> {}
impl Write for Set {}
impl Write for Create {}
impl Write for Update {}
impl Write for CompareAndSwap {}
impl Write for CreateInOrder {}

/// A write sent with `noValueOnSuccess=true`: etcd answers only with the action
/// (and the index in `X-Etcd-Index`), saving the echo of large values. Errors
/// are unchanged.
///
/// ```
/// use etcd_v2::{ops::keys::{NoValueOnSuccess, Set}, Endpoint, Operation};
/// let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
/// let req = NoValueOnSuccess::new(Set::new("/k", "big")).build(&e).unwrap();
/// assert_eq!(req.uri().query(), Some("noValueOnSuccess=true"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoValueOnSuccess<W> {
    write: W,
}

impl<W: Write> NoValueOnSuccess<W> {
    /// Send `write` with `noValueOnSuccess=true`.
    pub fn new(write: W) -> NoValueOnSuccess<W> {
        NoValueOnSuccess { write }
    }
}

impl<W: Write> Operation for NoValueOnSuccess<W> {
    type Output = Acknowledged;
    fn name(&self) -> &'static str {
        self.write.name()
    }
    fn key(&self) -> Option<&str> {
        self.write.key()
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        let request = self.write.build(endpoint)?;
        let (mut parts, body) = request.into_parts();
        let uri = parts.uri.to_string();
        let sep = if parts.uri.query().is_some() {
            '&'
        } else {
            '?'
        };
        parts.uri = format!("{uri}{sep}noValueOnSuccess=true").parse().map_err(
            |e: http::uri::InvalidUri| Error::invalid_argument("request", e.to_string()),
        )?;
        Ok(http::Request::from_parts(parts, body))
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<Acknowledged, Error> {
        parse_acknowledged(&response)
    }
    fn idempotent(&self) -> bool {
        self.write.idempotent()
    }
    fn repeatable(&self) -> bool {
        self.write.repeatable()
    }
    fn reads_only_cluster_headers(&self) -> bool {
        true
    }
}
