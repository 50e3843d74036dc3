//! Keeping a key alive: refresh its TTL about every third of the TTL, guarded by
//! its value, and report loss once the key is gone, no longer ours, or its TTL
//! has run out without a successful refresh.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use etcd_v2::recipes::renew::{Renewer, RenewStep};
//! let t = Instant::now();
//! let mut r = Renewer::new("/_locks/job/00000000000000000042", "me", 9, t);
//! // Nothing to do for the first third of the TTL.
//! assert!(matches!(r.poll(t), RenewStep::SleepUntil(at) if at == t + Duration::from_secs(3)));
//! assert!(matches!(r.poll(t + Duration::from_secs(3)), RenewStep::Send(_)));
//! ```

use std::time::{Duration, Instant};

use super::{is_transient, renew_interval, KeysRequest};
use crate::error::Error;
use crate::ops::keys;
use crate::response::KeysResponse;

/// What the keep-alive driver must do next.
#[derive(Debug)]
pub enum RenewStep {
    /// Run this refresh and hand its outcome to [`Renewer::handle`].
    Send(KeysRequest),
    /// Nothing to do before then.
    SleepUntil(Instant),
    /// The key is lost: gone, taken by someone else, or its TTL ran out before a
    /// refresh succeeded. The error says which.
    Lost(Error),
}

/// The renewal state machine.
#[derive(Debug)]
pub struct Renewer {
    key: String,
    value: String,
    ttl: u64,
    next_at: Instant,
    expires_at: Instant,
    in_flight: bool,
    lost: Option<Error>,
    reported: bool,
}

impl Renewer {
    /// Keep `key` (holding `value`) alive with `ttl`-second refreshes; `now` is
    /// when the key was last written.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        now: Instant,
    ) -> Renewer {
        Renewer {
            key: key.into(),
            value: value.into(),
            ttl,
            next_at: now + renew_interval(ttl),
            expires_at: now + Duration::from_secs(ttl),
            in_flight: false,
            lost: None,
            reported: false,
        }
    }

    /// The key kept alive.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> RenewStep {
        if let Some(e) = &self.lost {
            self.reported = true;
            return RenewStep::Lost(clone_loss(e, &self.key));
        }
        if self.in_flight {
            return RenewStep::Lost(Error::Misuse("polled while a refresh was in flight".into()));
        }
        if now >= self.expires_at {
            self.lost = Some(Error::LockLost {
                key: self.key.clone(),
                reason: "its TTL ran out before a refresh succeeded".into(),
            });
            return self.poll(now);
        }
        if now < self.next_at {
            return RenewStep::SleepUntil(self.next_at.min(self.expires_at));
        }
        self.in_flight = true;
        RenewStep::Send(KeysRequest::Refresh(
            keys::Refresh::new(self.key.as_str(), self.ttl).prev_value(self.value.as_str()),
        ))
    }

    /// Hand over the outcome of the refresh.
    pub fn handle(
        &mut self,
        outcome: Result<KeysResponse, Error>,
        now: Instant,
    ) -> Result<(), Error> {
        if !self.in_flight {
            return Err(Error::Misuse(
                "a refresh outcome with no refresh in flight".into(),
            ));
        }
        self.in_flight = false;
        match outcome {
            Ok(_) => {
                self.expires_at = now + Duration::from_secs(self.ttl);
                self.next_at = now + renew_interval(self.ttl);
            }
            Err(e) if is_transient(&e) => {
                // Try again soon, while the key may still be alive.
                self.next_at = now + Duration::from_millis(250).min(renew_interval(self.ttl));
            }
            Err(e) => {
                let reason = if e.is_key_not_found() {
                    "it no longer exists (expired or deleted)".to_owned()
                } else if e.is_precondition_failed() {
                    "another holder's value is in it".to_owned()
                } else {
                    e.to_string()
                };
                self.lost = Some(Error::LockLost {
                    key: self.key.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Whether loss has been reported.
    pub fn is_lost(&self) -> bool {
        self.reported
    }
}

fn clone_loss(e: &Error, key: &str) -> Error {
    match e {
        Error::LockLost { key, reason } => Error::LockLost {
            key: key.clone(),
            reason: reason.clone(),
        },
        other => Error::LockLost {
            key: key.to_owned(),
            reason: other.to_string(),
        },
    }
}
