//! The tree: [`Delete`], directories ([`CreateDir`], [`UpdateDir`]) and
//! in-order keys ([`CreateInOrder`]).

use http::Method;

use super::{condition_setters, keys_path, keys_write, put, ttl_setter};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorCode};
use crate::ops::{check_prev_index, check_prev_value, check_ttl, request, Operation, Params};
use crate::response::{parse_keys, KeysResponse};

/// Delete a key, a directory (`dir`, empty only) or a subtree (`recursive`),
/// optionally only if the node's value or index matches (compare-and-delete).
///
/// Conditions travel in the query string: etcd ignores a DELETE body, and a
/// condition sent there would be silently dropped, deleting unconditionally
/// (the seed's bug). etcd refuses compare-and-delete on a directory with
/// errorCode 102; the error then says so, and nothing is deleted.
///
/// ```
/// use etcd_v2::{ops::keys::Delete, Endpoint, Operation};
/// let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
/// let req = Delete::new("/k").prev_value("v 1").build(&e).unwrap();
/// assert_eq!(req.uri().query(), Some("prevValue=v+1"));
/// assert!(req.body().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    key: String,
    prev_value: Option<String>,
    prev_index: Option<u64>,
    dir: bool,
    recursive: bool,
}

impl Delete {
    /// Delete `key`.
    pub fn new(key: impl Into<String>) -> Delete {
        Delete {
            key: key.into(),
            prev_value: None,
            prev_index: None,
            dir: false,
            recursive: false,
        }
    }

    condition_setters!();

    setter!(
        /// Allow deleting an empty directory (`dir=true`; a file is deleted too).
        dir(on: bool) -> dir = on;

        /// Delete a directory and everything below it.
        recursive(on: bool) -> recursive = on
    );

    fn is_conditional(&self) -> bool {
        self.prev_value.is_some() || self.prev_index.is_some()
    }
}

impl Operation for Delete {
    type Output = KeysResponse;
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn build(&self, endpoint: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
        check_prev_index(self.prev_index)?;
        check_prev_value(self.prev_value.as_deref())?;
        let mut q = Params::new();
        q.push_opt("prevValue", self.prev_value.as_deref())
            .push_opt("prevIndex", self.prev_index)
            .flag("dir", self.dir || self.recursive)
            .flag("recursive", self.recursive);
        request(endpoint, Method::DELETE, &keys_path(&self.key)?, &q, None)
    }
    fn parse(&self, response: http::Response<Vec<u8>>) -> Result<KeysResponse, Error> {
        parse_keys(&response).map_err(|mut err| {
            if let Error::Etcd(e) = &mut err {
                if e.code == ErrorCode::NotFile {
                    e.note = Some(if self.is_conditional() {
                        "etcd refuses compare-and-delete on a directory; nothing was deleted"
                    } else {
                        "the key is a directory: delete it with dir (if empty) or recursive"
                    });
                }
            }
            err
        })
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn reads_only_cluster_headers(&self) -> bool {
        true
    }
}

/// A directory write with an optional TTL: the struct and its constructor.
macro_rules! dir_write {
    ($(#[$doc:meta])* $name:ident, $new_doc:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            key: String,
            ttl: Option<u64>,
        }

        impl $name {
            #[doc = $new_doc]
            pub fn new(key: impl Into<String>) -> $name {
                $name {
                    key: key.into(),
                    ttl: None,
                }
            }
            ttl_setter!();
        }
    };
}

dir_write!(
    /// Create a directory, failing with errorCode 105 if the key exists (the
    /// seed's `directory.create`). Optionally with a TTL: the whole directory
    /// expires.
    CreateDir,
    "Create the directory `key`."
);

keys_write!(CreateDir, key, never, |s, endpoint| {
    check_ttl(s.ttl)?;
    let mut form = Params::new();
    form.push("dir", "true")
        .push_opt("ttl", s.ttl)
        .push("prevExist", "false");
    put(endpoint, &s.key, &form)
});

dir_write!(
    /// Change an existing directory's TTL (`dir=true&prevExist=true`); without
    /// a TTL, the directory becomes permanent. etcd 3.5 refuses this (see
    /// [`crate::Operation::refused_outright`]).
    UpdateDir,
    "Update the directory `key`."
);

keys_write!(
    UpdateDir,
    key,
    opt_in,
    |s, endpoint| {
        check_ttl(s.ttl)?;
        let mut form = Params::new();
        form.push("dir", "true")
            .push("ttl", &s.ttl.map(|t| t.to_string()).unwrap_or_default())
            .push("prevExist", "true");
        put(endpoint, &s.key, &form)
    },
    fn refused_outright(&self, response: &http::Response<Vec<u8>>) -> Option<Error> {
        // etcd 3.5 cannot change a directory's TTL (etcd issue #13589): its v2
        // store refuses the update when applying it, and the answer is a 500
        // with errorCode 300 and the cause "nodePath <path> : Not a file ()".
        // Nothing was changed, so the outcome is known.
        match crate::response::error_from_response(response) {
            Error::Etcd(mut e)
                if e.code == ErrorCode::RaftInternal
                    && e.cause
                        .as_deref()
                        .is_some_and(|c| c.contains(": Not a file")) =>
            {
                e.code = ErrorCode::NotFile;
                e.note = Some(
                    "etcd 3.5 refuses to change a directory's TTL (etcd issue #13589, \
                     errorCode 300 \"Not a file\"); nothing was changed",
                );
                Some(Error::Etcd(e))
            }
            _ => None,
        }
    }
);

/// Append a value under a directory with a key etcd generates: a 20-digit,
/// zero-padded global index, so keys sort in creation order (POST). The
/// directory is created if needed. The new key is the answer's `node.key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateInOrder {
    dir: String,
    value: String,
    ttl: Option<u64>,
}

impl CreateInOrder {
    /// Append `value` under `dir`.
    pub fn new(dir: impl Into<String>, value: impl Into<String>) -> CreateInOrder {
        CreateInOrder {
            dir: dir.into(),
            value: value.into(),
            ttl: None,
        }
    }
    ttl_setter!();
}

keys_write!(CreateInOrder, dir, never, |s, endpoint| {
    check_ttl(s.ttl)?;
    let mut form = Params::new();
    form.push("value", &s.value).push_opt("ttl", s.ttl);
    request(
        endpoint,
        Method::POST,
        &keys_path(&s.dir)?,
        &Params::new(),
        Some(&form),
    )
});
