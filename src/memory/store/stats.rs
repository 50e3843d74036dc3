//! The store's counters (`/v2/stats/store`).

use crate::server::json::Object;

pub use crate::ops::stats::StoreStats;

/// Which operation a counter counts: the action of the event it makes.
pub(super) type Op = crate::server::types::Action;

impl StoreStats {
    /// Count one operation (an expiry counts as such, whatever `ok` says).
    pub(super) fn count(&mut self, op: &Op, ok: bool) {
        let (good, bad) = match op {
            Op::Get => (&mut self.gets_success, &mut self.gets_fail),
            Op::Set => (&mut self.sets_success, &mut self.sets_fail),
            Op::Create => (&mut self.create_success, &mut self.create_fail),
            Op::Update => (&mut self.update_success, &mut self.update_fail),
            Op::Delete => (&mut self.delete_success, &mut self.delete_fail),
            Op::CompareAndSwap => (
                &mut self.compare_and_swap_success,
                &mut self.compare_and_swap_fail,
            ),
            Op::CompareAndDelete => (
                &mut self.compare_and_delete_success,
                &mut self.compare_and_delete_fail,
            ),
            Op::Expire => {
                self.expire_count += 1;
                return;
            }
            // The store makes no other action.
            Op::Other(_) => return,
        };
        *if ok { good } else { bad } += 1;
    }

    pub(super) fn expired(&mut self) {
        self.expire_count += 1;
    }

    /// The JSON etcd writes (no newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(320);
        Object::new(&mut out)
            .number("getsSuccess", self.gets_success)
            .number("getsFail", self.gets_fail)
            .number("setsSuccess", self.sets_success)
            .number("setsFail", self.sets_fail)
            .number("deleteSuccess", self.delete_success)
            .number("deleteFail", self.delete_fail)
            .number("updateSuccess", self.update_success)
            .number("updateFail", self.update_fail)
            .number("createSuccess", self.create_success)
            .number("createFail", self.create_fail)
            .number("compareAndSwapSuccess", self.compare_and_swap_success)
            .number("compareAndSwapFail", self.compare_and_swap_fail)
            .number("compareAndDeleteSuccess", self.compare_and_delete_success)
            .number("compareAndDeleteFail", self.compare_and_delete_fail)
            .number("expireCount", self.expire_count)
            .number("watchers", self.watchers)
            .end();
        out
    }
}
