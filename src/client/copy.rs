//! Copying a v2 tree from another client's cluster (the way off a v2 store
//! onto the v3 bridge); the decisions are in [`crate::bridge::copy`].

use std::time::SystemTime;

use super::{AsyncClient, Client};
use crate::bridge::copy::{
    is_within, judge, plan, remaining_ttl, CopyProgress, CopyReport, CopySpec, Item, Verdict,
};
use crate::error::{Error, ErrorCode};
use crate::response::KeysResponse;
use crate::transport::{AsyncTransport, Transport};

/// How often a node whose create had an unknown outcome, and which is not
/// there afterwards, is created again before the copy gives up.
const MAX_AGAIN: u32 = 3;

/// The verdict on a create's result, or the error that ends the copy; `Ok(None)`
/// when the target must be read to judge.
fn first_verdict(result: Result<KeysResponse, Error>) -> Result<Option<Verdict>, Error> {
    match result {
        Ok(_) => Ok(Some(Verdict::Copied)),
        Err(e) if e.is_already_exists() || e.may_have_been_applied() => Ok(None),
        Err(Error::NotOnBridge(what)) => Ok(Some(Verdict::Refused(format!(
            "not kept over the bridge: {what}"
        )))),
        Err(e) if e.code() == Some(ErrorCode::NotDir) => Ok(Some(Verdict::Conflict(
            "the target has a file where one of its directories goes".into(),
        ))),
        Err(e) => Err(e),
    }
}

macro_rules! copy_api {
    ($client:ident, $bound:ident, [$($kw:tt)*] [$($aw:tt)*]) => {
        impl<T: $bound> $client<T> {
            /// Copy the v2 tree `spec` names from `source`'s cluster into this
            /// client's (typically: from a v2 etcd onto the v3 bridge, see
            /// [`crate::bridge`]): values, directories, the hidden subtrees
            /// `spec` names, in-order keys under their names, and what is left
            /// of each TTL. Each node is created only where this cluster has
            /// nothing, so a copy never overwrites and can be run again to
            /// finish one that was interrupted; a node held here with another
            /// value is reported as a conflict and left alone, and a node
            /// whose create had an unknown outcome is read back, never blindly
            /// written twice. `progress` is told after each node. The source
            /// is read with quorum reads.
            pub $($kw)* fn copy_tree_from<S: $bound>(
                &self,
                source: &$client<S>,
                spec: &CopySpec,
                mut progress: impl FnMut(CopyProgress<'_>),
            ) -> Result<CopyReport, Error> {
                let mut report = CopyReport::default();
                let mut items = Vec::new();
                for path in spec.sources()? {
                    match source.node().get_quorum(&path, true)$($aw)* {
                        Ok(listing) => plan(&listing.node, &mut items),
                        Err(e) if e.is_key_not_found() && path != spec.sources()?[0] => {
                            report.missing.push(path)
                        }
                        Err(e) => return Err(e),
                    }
                }
                let total = items.len();
                let mut skipped: Vec<String> = Vec::new();
                for (done, item) in items.iter().enumerate() {
                    let verdict = if let Some(under) = skipped.iter().find(|d| is_within(&item.key, d)) {
                        // Gone with its directory (expired), or not made
                        // without it (refused).
                        match report.refused.iter().any(|(k, _)| k == under) {
                            true => Verdict::Refused(format!("below {under}, which was refused")),
                            false => Verdict::Expired,
                        }
                    } else {
                        self.copy_item(item)$($aw)*?
                    };
                    if item.dir && matches!(verdict, Verdict::Refused(_) | Verdict::Expired) {
                        skipped.push(item.key.clone());
                    }
                    report.count(item, &verdict);
                    progress(CopyProgress { item, verdict: &verdict, done: done + 1, total });
                }
                Ok(report)
            }

            $($kw)* fn copy_item(&self, item: &Item) -> Result<Verdict, Error> {
                for _ in 0..MAX_AGAIN {
                    let now = SystemTime::UNIX_EPOCH
                        + std::time::Duration::from_nanos(u64::try_from(self.inner.transport.unix_nanos()).unwrap_or(0));
                    let (Ok(ttl), Ok(_)) = (remaining_ttl(item.expiration, now), remaining_ttl(item.ends, now)) else {
                        return Ok(Verdict::Expired);
                    };
                    let created = if item.dir {
                        self.directory().create(&item.key, ttl)$($aw)*
                    } else {
                        self.node().create_only(&item.key, &item.value, ttl)$($aw)*
                    };
                    if let Some(verdict) = first_verdict(created)? {
                        return Ok(verdict);
                    }
                    let existing = match self.node().get_quorum(&item.key, false)$($aw)* {
                        Ok(found) => Some(found.node),
                        Err(e) if e.is_key_not_found() => None,
                        Err(e) => return Err(e),
                    };
                    match judge(item, existing.as_ref()) {
                        Verdict::Again => continue,
                        verdict => return Ok(verdict),
                    }
                }
                Err(Error::DeadlineExceeded(format!(
                    "copying {}: created {MAX_AGAIN} times with unknown outcomes, and still absent",
                    item.key
                )))
            }
        }
    };
}

copy_api!(Client, Transport, [] []);
copy_api!(AsyncClient, AsyncTransport, [async] [.await]);
