//! Keeping a key alive: refresh its TTL about every third of the TTL, guarded by
//! its value, and report loss once the key is gone, no longer ours, or its TTL
//! has run out without a successful refresh.
//!
//! The key is counted as held until the TTL has passed since the last
//! successful refresh was *sent* ([`Renewer::valid_until`]): etcd restarts the
//! TTL when it applies the refresh, never before it was sent, so until then the
//! key is surely still there. Past that instant the key is lost, before any
//! request: a process that was paused (or starved) for longer than its TTL
//! learns it lost at once when it resumes.
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

use super::{is_transient, later, renew_interval, KeysRequest};
use crate::error::Error;
use crate::ops::{check_ttl, keys};
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
    in_flight: Option<Instant>,
    lost: Option<Error>,
    reported: bool,
}

impl Renewer {
    /// Keep `key` (holding `value`) alive with `ttl`-second refreshes;
    /// `written_at` is when the request that last wrote the key was sent. A TTL
    /// over [`crate::ops::MAX_TTL`] is reported as [`RenewStep::Lost`] with
    /// [`Error::InvalidArgument`] at the first poll.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        written_at: Instant,
    ) -> Renewer {
        let key = key.into();
        let lost = check_ttl(Some(ttl)).err();
        Renewer {
            key,
            value: value.into(),
            ttl,
            next_at: later(written_at, renew_interval(ttl)),
            expires_at: later(written_at, Duration::from_secs(ttl)),
            in_flight: None,
            lost,
            reported: false,
        }
    }

    /// Keep alive a key known to be held until `valid_until` (the TTL after its
    /// last write was sent).
    pub fn held_until(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        valid_until: Instant,
    ) -> Renewer {
        let written_at = valid_until
            .checked_sub(Duration::from_secs(ttl))
            .unwrap_or(valid_until);
        Renewer::new(key, value, ttl, written_at)
    }

    /// Keep alive a key whose last write is unknown (an existing leadership
    /// handed over by the caller): refresh at once, and count it as lost if no
    /// refresh succeeds within the TTL.
    pub fn starting_now(
        key: impl Into<String>,
        value: impl Into<String>,
        ttl: u64,
        now: Instant,
    ) -> Renewer {
        let mut renewer = Renewer::new(key, value, ttl, now);
        renewer.next_at = now;
        renewer
    }

    /// Until when the key is surely held: the TTL after the last successful
    /// refresh (or write) was sent.
    pub fn valid_until(&self) -> Instant {
        self.expires_at
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
        if self.in_flight.is_some() {
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
        self.in_flight = Some(now);
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
        let Some(sent_at) = self.in_flight.take() else {
            return Err(Error::Misuse(
                "a refresh outcome with no refresh in flight".into(),
            ));
        };
        match outcome {
            Ok(_) => {
                // etcd restarted the TTL when it applied the refresh: no earlier
                // than it was sent.
                self.expires_at = later(sent_at, Duration::from_secs(self.ttl));
                self.next_at = later(sent_at, renew_interval(self.ttl)).max(now);
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
