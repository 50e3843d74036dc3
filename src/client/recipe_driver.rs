//! Background work of the recipes, on each client: a keep-alive drives a
//! [`KeepAliveMachine`], a campaign a [`CampaignMachine`], through the client's
//! one driver, in a thread (blocking client) or a task (async client) started by
//! the transport's `spawn`. Every decision is the machines'; what is here moves
//! their requests, time, stop and events.

use std::sync::Arc;

use super::background::{Background, KeepAlive};
use super::driver::{Driven, RunOptions};
use super::leader::{Campaign, LeaderEvent};
use super::{AsyncClient, Client};
use crate::error::Error;
use crate::recipes::campaign::Campaign as CampaignMachine;
use crate::recipes::lease::{lost, Lease, LeaseChange};
use crate::recipes::release::Release;
use crate::recipes::renew::KeepAlive as KeepAliveMachine;
use crate::transport::{AsyncTransport, Transport};

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

/// Make a stop of blocking background work also interrupt the transport's
/// waits (see `Transport::interrupt`); async work is woken by the stop itself.
macro_rules! interrupt_on_stop {
    (blocking, $client:expr, $bg:expr) => {{
        let client = $client.clone();
        $bg.stop
            .on_stop(Box::new(move || client.transport().interrupt()));
    }};
    (awaiting, $client:expr, $bg:expr) => {};
}

/// Drive a background machine until it ends or the stop is set: a statement.
macro_rules! drive_until_stopped {
    (blocking, $client:expr, $machine:expr, $stop:expr) => {{
        let mut exec = super::driver::Inline::new(&$client, RunOptions::default());
        loop {
            match $client.drive(&mut $machine, &mut exec, Some($stop), None) {
                Ok(Driven::Event(_)) => continue,
                Ok(Driven::Done(_)) | Ok(Driven::Stopped) | Ok(Driven::TimedOut) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "a background machine refused an outcome");
                    break;
                }
            }
        }
    }};
    (awaiting, $client:expr, $machine:expr, $stop:expr) => {{
        loop {
            match $client.drive(&mut $machine, RunOptions::default(), Some($stop)).await {
                Ok(Driven::Event(_)) => continue,
                Ok(Driven::Done(_)) | Ok(Driven::Stopped) | Ok(Driven::TimedOut) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "a background machine refused an outcome");
                    break;
                }
            }
        }
    }};
}

/// The background work of the recipes, on each client.
macro_rules! background_api {
    (blocking) => { background_api!(@ blocking [] []); };
    (awaiting) => { background_api!(@ awaiting [async] [.await]); };
    (@ $mode:ident [$($kw:tt)*] [$($aw:tt)*]) => {
        /// Delete `key` if it still holds `value` (a [`Release`]); whether this
        /// call deleted it.
        pub(crate) $($kw)* fn delete_if_holding(&self, key: &str, value: &str) -> Result<bool, Error> {
            self.run_machine(&mut Release::key(key, value))$($aw)*?
        }

        /// Renew `lease`'s key (holding `value`) from the background while the
        /// lease holds, until lost or stopped.
        pub(crate) fn start_keep_alive(&self, lease: Arc<Lease>, value: String, ttl: u64) -> KeepAlive<Self>
        where
            T: 'static,
        {
            let background: Arc<Background<Error>> = Background::new();
            let (bg, key) = (Arc::clone(&background), lease.key().to_owned());
            lease.listen(Box::new(move |change| {
                if let LeaseChange::Lost(reason) = change {
                    bg.events.push(lost(&key, reason));
                }
            }));
            let mut machine =
                KeepAliveMachine::new(Arc::clone(&lease), value, ttl, self.transport().now());
            interrupt_on_stop!($mode, self, background);
            let (client, bg) = (self.clone(), Arc::clone(&background));
            spawn_task!($mode, self, {
                drive_until_stopped!($mode, client, machine, &bg.stop);
                bg.done.close();
            });
            KeepAlive::new(background, lease, is_blocking!($mode), self.clone())
        }

        /// Campaign from the background until stopped, then resign.
        pub(crate) fn start_campaign(&self, mut machine: CampaignMachine) -> Campaign<Self>
        where
            T: 'static,
        {
            let background: Arc<Background<LeaderEvent>> = Background::new();
            let lease = Arc::clone(machine.lease());
            let (bg, key) = (Arc::clone(&background), lease.key().to_owned());
            lease.listen(Box::new(move |change| {
                bg.events.push(match change {
                    LeaseChange::Gained => LeaderEvent::Elected,
                    LeaseChange::Lost(reason) => LeaderEvent::Lost(lost(&key, reason)),
                })
            }));
            interrupt_on_stop!($mode, self, background);
            let (client, bg) = (self.clone(), Arc::clone(&background));
            spawn_task!($mode, self, {
                drive_until_stopped!($mode, client, machine, &bg.stop);
                // Stopped: resign (the machine gives the key up), to the end.
                machine.resign();
                if let Err(e) = client.run_machine(&mut machine)$($aw)* {
                    tracing::info!(error = %e, "resigning failed");
                }
                bg.done.close();
            });
            Campaign::new(background, lease, is_blocking!($mode), self.clone())
        }
    };
}

impl<T: Transport> Client<T> {
    background_api!(blocking);
}

impl<T: AsyncTransport> AsyncClient<T> {
    background_api!(awaiting);
}

/// What an acquisition leaves behind if it fails, or is abandoned midway (an
/// async `acquire` whose future was dropped), undone with the lock machine's
/// undoing ([`crate::recipes::lock::LockMachine::abandoned`]): by the blocking
/// client before the acquisition returns its error, by the async client in
/// the background.
pub(crate) trait ReleaseLater {
    /// Run `release` (at once, or in the background).
    fn release_later(&self, release: Release);
}

impl<T: Transport> ReleaseLater for Client<T> {
    fn release_later(&self, mut release: Release) {
        match self.run_machine(&mut release) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) | Err(e) => {
                tracing::info!(error = %e, "removing a failed contender's key failed")
            }
        }
    }
}

impl<T: AsyncTransport + 'static> ReleaseLater for AsyncClient<T> {
    fn release_later(&self, mut release: Release) {
        let client = self.clone();
        self.transport().spawn(Box::pin(async move {
            match client.run_machine(&mut release).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) | Err(e) => {
                    tracing::info!(error = %e, "removing an abandoned contender's key failed")
                }
            }
        }));
    }
}
