//! Faults a test injects into [`super::MemoryEtcd`]: scripted ones that hit the
//! requests a rule matches, and seeded random ones.

use crate::server::request::KeysRequest;

/// What goes wrong with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection is refused: nothing was sent.
    Refuse,
    /// The request times out before etcd applies it (the client's own timeout
    /// passes; nothing changed).
    TimeoutBeforeApply,
    /// etcd applies the request, then the client's timeout passes before the
    /// answer arrives.
    TimeoutAfterApply,
    /// etcd applies the request, then the connection drops before the answer.
    DropResponseAfterApply,
    /// A proxy or load balancer answers with this 5xx page; nothing applied.
    ServerError(u16),
    /// etcd answers 500 with errorCode 300 ("etcdserver: request timed out");
    /// `applied` says whether the change was applied all the same (etcd cannot
    /// tell, and neither can the client).
    RaftTimeout {
        /// Whether the change went through.
        applied: bool,
    },
}

impl Fault {
    /// Whether the request is applied before the fault hits.
    pub fn applies(self) -> bool {
        matches!(
            self,
            Fault::TimeoutAfterApply
                | Fault::DropResponseAfterApply
                | Fault::RaftTimeout { applied: true }
        )
    }
}

/// Which requests a rule hits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matching {
    writes: Option<bool>,
    under: Option<String>,
    member: Option<usize>,
    keys_only: bool,
}

/// A scripted fault: `fault` for the requests the rule matches, a number of
/// times (or every time).
///
/// ```
/// use etcd_v2::memory::{Fault, FaultRule};
/// let rule = FaultRule::new(Fault::DropResponseAfterApply).writes().under("/jobs").times(1);
/// # let _ = rule;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    fault: Fault,
    matching: Matching,
    times: Option<u32>,
}

impl FaultRule {
    /// `fault` for every request (until narrowed).
    pub fn new(fault: Fault) -> FaultRule {
        FaultRule {
            fault,
            matching: Matching::default(),
            times: None,
        }
    }

    /// Only writes (PUT, POST, DELETE of keys).
    pub fn writes(mut self) -> FaultRule {
        self.matching.writes = Some(true);
        self.matching.keys_only = true;
        self
    }

    /// Only reads of keys (GET, HEAD, waits).
    pub fn reads(mut self) -> FaultRule {
        self.matching.writes = Some(false);
        self.matching.keys_only = true;
        self
    }

    /// Only keys requests for `prefix` or below it.
    pub fn under(mut self, prefix: &str) -> FaultRule {
        self.matching.under = Some(prefix.trim_end_matches('/').to_owned());
        self.matching.keys_only = true;
        self
    }

    /// Only requests to member `index` (0-based, in creation order).
    pub fn member(mut self, index: usize) -> FaultRule {
        self.matching.member = Some(index);
        self
    }

    /// Only the first `n` matching requests.
    pub fn times(mut self, n: u32) -> FaultRule {
        self.times = Some(n);
        self
    }

    fn matches(&self, keys: Option<&KeysRequest>, member: usize) -> bool {
        let m = &self.matching;
        if m.member.is_some_and(|i| i != member) {
            return false;
        }
        let Some(k) = keys else {
            return !m.keys_only;
        };
        if let Some(w) = m.writes {
            if w == k.is_read() {
                return false;
            }
        }
        if let Some(p) = &m.under {
            let p = p.as_bytes();
            let at_or_below = k.key.as_slice() == p
                || p.is_empty()
                || (k.key.starts_with(p) && k.key.get(p.len()) == Some(&b'/'));
            if !at_or_below {
                return false;
            }
        }
        true
    }
}

/// Seeded random faults: each keys request meets one of `faults` with
/// probability `per_mille`/1000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomFaults {
    /// The seed: the same seed and requests give the same faults.
    pub seed: u64,
    /// Chance per request, in thousandths.
    pub per_mille: u16,
    /// The faults to draw from.
    pub faults: Vec<Fault>,
}

/// The faults in force.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
    random: Option<(RandomFaults, u64)>,
}

impl Faults {
    /// Add a scripted rule (rules are tried in the order added).
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// Draw random faults from now on (replacing earlier random ones).
    pub fn random(&mut self, random: RandomFaults) {
        let state = random.seed;
        self.random = Some((random, state));
    }

    /// Remove every fault.
    pub fn clear(&mut self) {
        self.rules.clear();
        self.random = None;
    }

    /// The fault this request meets, if any (consuming a use of the rule).
    pub fn pick(&mut self, keys: Option<&KeysRequest>, member: usize) -> Option<Fault> {
        for rule in &mut self.rules {
            if rule.times == Some(0) || !rule.matches(keys, member) {
                continue;
            }
            if let Some(n) = &mut rule.times {
                *n -= 1;
            }
            return Some(rule.fault);
        }
        self.rules.retain(|r| r.times != Some(0));
        let (random, state) = self.random.as_mut()?;
        keys?;
        if random.faults.is_empty() {
            return None;
        }
        let roll = next(state);
        if roll % 1000 >= u64::from(random.per_mille) {
            return None;
        }
        let which = (next(state) % random.faults.len() as u64) as usize;
        random.faults.get(which).copied()
    }
}

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
