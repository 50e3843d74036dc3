//! The drivers of the recipe machines ([`crate::recipes`]) on each client:
//! acquisition, election, renewal, and the background keep-alives and
//! campaigns. Background work runs through the transport's `spawn`: a thread
//! for the blocking client, a task for the async one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::background::{lost, Background, KeepAlive, Lease};
use super::leader::{Campaign, LeaderEvent};
use super::{AsyncClient, Client};
use crate::error::Error;
use crate::ops::keys;
use crate::recipes::leader::{LeaderMachine, LeaderStep};
use crate::recipes::lock::{LockMachine, LockStep};
use crate::recipes::renew::{RenewStep, Renewer};
use crate::transport::{AsyncTransport, Transport};

/// How an acquisition ended.
pub(crate) enum Acquisition {
    Acquired(crate::recipes::lock::Held),
    NotAcquired,
    TimedOut,
}

/// Whether a guarded delete's answer means the key is gone (deleted now or
/// already), retrying once after an unknown outcome.
fn gone(result: &Result<crate::KeysResponse, Error>) -> Option<bool> {
    match result {
        Ok(_) => Some(true),
        Err(e) if e.is_key_not_found() || e.is_precondition_failed() => Some(false),
        Err(Error::OutcomeUnknown { .. }) => None,
        Err(_) => Some(false),
    }
}

/// The reason a renewer's loss gives.
fn reason_of(e: &Error) -> String {
    match e {
        Error::LockLost { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Whether a mode blocks (so drops wait for background work to end).
macro_rules! is_blocking {
    (blocking) => {
        true
    };
    (awaiting) => {
        false
    };
}

/// Spawn background work on the client's transport: a closure for the blocking
/// transport, a future for the async one.
macro_rules! spawn_task {
    (blocking, $client:expr, $body:block) => {
        $client.transport().spawn(Box::new(move || $body))
    };
    (awaiting, $client:expr, $body:block) => {
        $client.transport().spawn(Box::pin(async move $body))
    };
}

/// The drivers of the recipe machines, on each client.
macro_rules! drivers_api {
    (blocking) => { drivers_api!(@ blocking [] []); };
    (awaiting) => { drivers_api!(@ awaiting [async] [.await]); };
    (@ $mode:ident [$($kw:tt)*] [$($aw:tt)*]) => {
        /// Drive a lock machine to its end.
        pub(crate) $($kw)* fn run_lock_machine(&self, machine: &mut LockMachine) -> Result<Acquisition, Error> {
            loop {
                match machine.poll(self.transport().now()) {
                    LockStep::Send(request) => {
                        let outcome = self.run_recipe_request(&request)$($aw)*;
                        machine.handle(outcome, self.transport().now())?;
                    }
                    LockStep::SleepUntil(at) => self.sleep_until(at, None)$($aw)*,
                    LockStep::Acquired(held) => return Ok(Acquisition::Acquired(held)),
                    LockStep::NotAcquired => return Ok(Acquisition::NotAcquired),
                    LockStep::TimedOut => return Ok(Acquisition::TimedOut),
                    LockStep::Failed(e) => return Err(e),
                }
            }
        }

        /// Drive a leader machine: until when leadership is held once elected,
        /// `None` on timeout or stop.
        pub(crate) $($kw)* fn run_leader_machine(
            &self,
            machine: &mut LeaderMachine,
            stop: Option<&AtomicBool>,
        ) -> Result<Option<Instant>, Error> {
            loop {
                if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                    return Ok(None);
                }
                match machine.poll(self.transport().now()) {
                    LeaderStep::Send(request) => {
                        let outcome = self.run_recipe_request(&request)$($aw)*;
                        machine.handle(outcome, self.transport().now())?;
                    }
                    LeaderStep::SleepUntil(at) => self.sleep_until(at, stop)$($aw)*,
                    LeaderStep::Elected { valid_until, .. } => return Ok(Some(valid_until)),
                    LeaderStep::TimedOut => return Ok(None),
                    LeaderStep::Failed(e) => return Err(e),
                }
            }
        }

        /// Drive a renewer while `lease` holds: until the key is lost (the loss
        /// recorded in the lease, which tells its listeners), the lease ends
        /// otherwise, or `stop` is set.
        pub(crate) $($kw)* fn renew_until_lost(
            &self,
            renewer: &mut Renewer,
            lease: &Lease,
            stop: &AtomicBool,
        ) {
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let now = self.transport().now();
                if !lease.holds(now) {
                    return;
                }
                match renewer.poll(now) {
                    RenewStep::SleepUntil(at) => self.sleep_until(at, Some(stop))$($aw)*,
                    RenewStep::Send(request) => {
                        let outcome = self.execute(&request)$($aw)*;
                        let now = self.transport().now();
                        if renewer.handle(outcome, now).is_err() {
                            lease.lose("the renewer refused an outcome");
                            return;
                        }
                        if !lease.renewed(renewer.valid_until(), now) {
                            return;
                        }
                    }
                    RenewStep::Lost(e) => {
                        lease.lose(&reason_of(&e));
                        return;
                    }
                }
            }
        }

        /// Delete `key` if it still holds `value` (retrying once after an
        /// unknown outcome); whether this call deleted it.
        pub(crate) $($kw)* fn delete_if_holding(&self, key: &str, value: &str) -> Result<bool, Error> {
            let op = keys::Delete::new(key).prev_value(value);
            let first = self.execute(&op)$($aw)*;
            match gone(&first) {
                Some(deleted) => Ok(deleted),
                None => {
                    let again = self.execute(&op)$($aw)*;
                    match (gone(&again), again) {
                        (Some(_), _) => Ok(true),
                        (None, Err(e)) => Err(e),
                        (None, Ok(_)) => Ok(true),
                    }
                }
            }
        }

        /// Renew `key` from the background while `lease` holds, until lost or
        /// stopped. With `written_at`, the key's last write was sent then;
        /// without, the first renewal goes out at once.
        pub(crate) fn start_keep_alive(
            &self,
            key: String,
            value: String,
            ttl: u64,
            lease: Arc<Lease>,
        ) -> KeepAlive<Self>
        where
            T: 'static,
        {
            let background: Arc<Background<Error>> = Background::new();
            let (bg, key2) = (Arc::clone(&background), key.clone());
            lease.on_loss(Box::new(move |reason| bg.events.push(lost(&key2, reason))));
            let (client, bg, lease2, key2) =
                (self.clone(), Arc::clone(&background), Arc::clone(&lease), key.clone());
            spawn_task!($mode, self, {
                let now = client.transport().now();
                let mut renewer = match lease2.valid_until() {
                    Some(until) => Renewer::held_until(key2.as_str(), value, ttl, until),
                    None => Renewer::starting_now(key2.as_str(), value, ttl, now),
                };
                client.renew_until_lost(&mut renewer, &lease2, &bg.stop)$($aw)*;
                bg.done.close();
            });
            KeepAlive {
                background,
                lease,
                key,
                blocking: is_blocking!($mode),
                client: self.clone(),
            }
        }

        /// Campaign from the background until stopped, then resign.
        pub(crate) fn start_campaign(&self, key: String, value: String, ttl: u64) -> Campaign<Self>
        where
            T: 'static,
        {
            let background: Arc<Background<LeaderEvent>> = Background::new();
            let lease = Lease::none(&key);
            let (bg, key2) = (Arc::clone(&background), key.clone());
            lease.on_loss(Box::new(move |reason| {
                bg.events.push(LeaderEvent::Lost(lost(&key2, reason)))
            }));
            let (client, bg, lease2, key2) =
                (self.clone(), Arc::clone(&background), Arc::clone(&lease), key.clone());
            spawn_task!($mode, self, {
                while !bg.stop.load(Ordering::SeqCst) {
                    let mut machine = LeaderMachine::new(key2.as_str(), value.as_str(), ttl);
                    let valid_until = match client.run_leader_machine(&mut machine, Some(&bg.stop))$($aw)* {
                        Ok(Some(until)) => until,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::info!(key = %key2, error = %e, "campaign failed; trying again in 1 s");
                            let later = client.transport().now() + Duration::from_secs(1);
                            client.sleep_until(later, Some(&bg.stop))$($aw)*;
                            continue;
                        }
                    };
                    tracing::info!(key = %key2, "elected leader");
                    lease2.gain(valid_until, || bg.events.push(LeaderEvent::Elected));
                    let mut renewer = Renewer::held_until(key2.as_str(), value.as_str(), ttl, valid_until);
                    client.renew_until_lost(&mut renewer, &lease2, &bg.stop)$($aw)*;
                }
                // Resign on the way out (guarded by our value: harmless if the key
                // is gone or another's).
                if lease2.end() {
                    tracing::info!(key = %key2, "resigned leadership");
                }
                let _ = client.delete_if_holding(&key2, &value)$($aw)*;
                bg.done.close();
            });
            Campaign {
                background,
                lease,
                key,
                blocking: is_blocking!($mode),
                client: self.clone(),
            }
        }
    };
}

impl<T: Transport> Client<T> {
    drivers_api!(blocking);
}

impl<T: AsyncTransport> AsyncClient<T> {
    drivers_api!(awaiting);
}

/// What an acquisition leaves behind if it is abandoned midway (an async
/// `acquire` whose future was dropped): the blocking client cannot abandon one,
/// the async client removes the contender's key in the background.
pub(crate) trait Abandon {
    /// Remove the contender's `key` (guarded by `id`); without a known key but
    /// with a create of unknown outcome (`search`), find it in `dir` by `id`.
    fn abandon(&self, dir: String, id: String, key: Option<String>, search: bool);
}

impl<T: Transport> Abandon for Client<T> {
    fn abandon(&self, _dir: String, _id: String, _key: Option<String>, _search: bool) {}
}

impl<T: AsyncTransport + 'static> Abandon for AsyncClient<T> {
    fn abandon(&self, dir: String, id: String, key: Option<String>, search: bool) {
        if key.is_none() && !search {
            return;
        }
        let client = self.clone();
        self.transport().spawn(Box::pin(async move {
            let keys = match key {
                Some(key) => vec![key],
                None => match client.execute(&keys::Get::new(dir.as_str())).await {
                    Ok(listing) => listing
                        .children()
                        .iter()
                        .filter(|n| n.value.as_deref() == Some(id.as_str()))
                        .map(|n| n.key.clone())
                        .collect(),
                    Err(_) => Vec::new(),
                },
            };
            for key in keys {
                if let Err(e) = client.delete_if_holding(&key, &id).await {
                    tracing::info!(key = %key, error = %e, "removing an abandoned contender's key failed");
                }
            }
        }));
    }
}
