//! Writes of a key: [`Set`], [`Create`], [`Update`], [`CompareAndSwap`] and
//! [`Refresh`].

use super::{condition_setters, keys_write, put, ttl_setter};
use crate::error::Error;
use crate::ops::{check_prev_index, check_prev_value, check_ttl, Params};

/// A write of a value with an optional TTL and `prevExist` (or none): the
/// struct, its constructor, and its operation.
macro_rules! value_write {
    ($(#[$doc:meta])* $name:ident, $new_doc:literal, prev_exist: $prev:expr, resend: $resend:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            key: String,
            value: String,
            ttl: Option<u64>,
        }

        impl $name {
            #[doc = $new_doc]
            pub fn new(key: impl Into<String>, value: impl Into<String>) -> $name {
                $name {
                    key: key.into(),
                    value: value.into(),
                    ttl: None,
                }
            }
            ttl_setter!();
        }

        keys_write!($name, key, $resend, |s, endpoint| {
            check_ttl(s.ttl)?;
            let mut form = Params::new();
            form.push("value", &s.value)
                .push_opt("ttl", s.ttl)
                .push_opt("prevExist", $prev);
            put(endpoint, &s.key, &form)
        });
    };
}

value_write!(
    /// Set a key's value, creating it (and its parents) if needed. A plain set
    /// replaces the node: its TTL is dropped unless given again, and its
    /// `createdIndex` is reset.
    Set,
    "Set `key` to `value`.",
    prev_exist: None::<&str>,
    resend: opt_in
);

value_write!(
    /// Create a key only if it does not exist (`prevExist=false`); fails with
    /// errorCode 105 otherwise (the seed's `create_only`).
    Create,
    "Create `key` with `value`.",
    prev_exist: Some("false"),
    resend: never
);

value_write!(
    /// Change a key only if it exists (`prevExist=true`); fails with errorCode
    /// 100 otherwise (the seed's `update_only`). Without a TTL, an existing TTL
    /// is removed.
    Update,
    "Update `key` to `value`.",
    prev_exist: Some("true"),
    resend: opt_in
);

/// Atomic compare-and-swap: set the value only if the current node matches every
/// condition given (`prevValue`, `prevIndex`, `prevExist`). A failed condition is
/// errorCode 101 (the seed's `EtcdPreconditionException`).
///
/// At least one condition is required. `prev_index(0)` and `prev_value("")` are
/// refused (etcd would treat the first as no condition and refuses the second),
/// as is `prev_exist(false)` together with a value or index condition (a create
/// has nothing to compare; etcd would silently ignore them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareAndSwap {
    key: String,
    value: String,
    ttl: Option<u64>,
    prev_value: Option<String>,
    prev_index: Option<u64>,
    prev_exist: Option<bool>,
}

impl CompareAndSwap {
    /// Swap `key` to `value`, under the conditions set next.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> CompareAndSwap {
        CompareAndSwap {
            key: key.into(),
            value: value.into(),
            ttl: None,
            prev_value: None,
            prev_index: None,
            prev_exist: None,
        }
    }

    condition_setters!();

    setter!(
        /// Only if the node exists (`true`) or does not (`false`).
        prev_exist(exists: bool) -> prev_exist = Some(exists)
    );
    ttl_setter!();

    fn check(&self) -> Result<(), Error> {
        if self.prev_value.is_none() && self.prev_index.is_none() && self.prev_exist.is_none() {
            return Err(Error::invalid_argument(
                "conditions",
                "a compare-and-swap needs prev_value, prev_index or prev_exist (use Set for an unconditional write)",
            ));
        }
        if self.prev_exist == Some(false)
            && (self.prev_value.is_some() || self.prev_index.is_some())
        {
            return Err(Error::invalid_argument(
                "prev_exist",
                "prev_exist(false) is a create: there is no previous value or index to compare, and etcd would ignore them",
            ));
        }
        check_prev_index(self.prev_index)?;
        check_prev_value(self.prev_value.as_deref())
    }
}

keys_write!(CompareAndSwap, key, never, |s, endpoint| {
    check_ttl(s.ttl)?;
    s.check()?;
    let mut form = Params::new();
    form.push("value", &s.value)
        .push_opt("ttl", s.ttl)
        .push_opt("prevValue", s.prev_value.as_deref())
        .push_opt("prevIndex", s.prev_index)
        .push_opt("prevExist", s.prev_exist);
    put(endpoint, &s.key, &form)
});

/// Reset a key's TTL without touching its value (`refresh=true&prevExist=true`).
/// The answer's action is `update`. A refresh does not wake watchers and is not
/// replayed by a watch from an older index. Optionally guarded by the current
/// value or index (a failed guard is errorCode 101).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    key: String,
    ttl: u64,
    prev_value: Option<String>,
    prev_index: Option<u64>,
}

impl Refresh {
    /// Give `key` a fresh TTL of `ttl` seconds.
    pub fn new(key: impl Into<String>, ttl: u64) -> Refresh {
        Refresh {
            key: key.into(),
            ttl,
            prev_value: None,
            prev_index: None,
        }
    }

    condition_setters!();
}

keys_write!(Refresh, key, opt_in, |s, endpoint| {
    check_ttl(Some(s.ttl))?;
    check_prev_index(s.prev_index)?;
    check_prev_value(s.prev_value.as_deref())?;
    let mut form = Params::new();
    form.push("ttl", &s.ttl.to_string())
        .push("refresh", "true")
        .push("prevExist", "true")
        .push_opt("prevValue", s.prev_value.as_deref())
        .push_opt("prevIndex", s.prev_index);
    put(endpoint, &s.key, &form)
});
