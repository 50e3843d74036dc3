//! Leader election (the seed's `module.leader`): one-shot elections, background
//! [`Campaign`]s and [`Observe`], driving [`crate::recipes::leader`].

use std::time::{Duration, Instant};

use super::background::KeepAlive;
use super::{AsyncClient, Client, Watch};
use crate::error::Error;
use crate::ops::{check_ttl, keys};
use crate::recipes::campaign::Campaign as CampaignMachine;
use crate::recipes::leader::LeaderMachine;
use crate::recipes::lease::Lease;
use crate::transport::{AsyncTransport, Transport};
use crate::watch::WatchEvent;

/// What a [`Campaign`] or an [`Observe`] reports.
#[derive(Debug)]
pub enum LeaderEvent {
    /// This campaign became the leader.
    Elected,
    /// This campaign lost leadership (its key expired or was taken); it
    /// campaigns again unless resigned.
    Lost(Error),
    /// The leader changed: its value, or `None` when there is none.
    Changed(Option<String>),
}

super::background::background_handle!(
    /// A background campaign (see `LeaderOps::campaign`). Dropping it resigns.
    ///
    /// Leading is a lease: `Campaign::is_leader` turns false as soon as the TTL
    /// has passed since the last successful election or renewal request was
    /// sent (on the transport's clock), even if the campaign's loop has not run
    /// since (a paused process). The events agree with it: `is_leader()` is
    /// true exactly between an [`LeaderEvent::Elected`] being queued and the
    /// [`LeaderEvent::Lost`] that follows it, whichever notices the loss first.
    Campaign<LeaderEvent>,
    "The key campaigned for.",
    wait: next_event(
        "The next event, waiting up to `timeout` on the transport's clock (an event is seen within 5 ms; on MemoryEtcd's virtual clock, waiting lets time move).",
        "Resolves with the next event, or `None` if none comes within `timeout`."
    ),
    stop: resign(
        "Stop campaigning and give up leadership if held (also done on drop).",
        "Stop campaigning and give up leadership if held; resolves once done \
         (dropping the campaign also resigns, in the background)."
    ),
    check: is_leader
);

impl<T: Transport> Campaign<Client<T>> {
    /// Whether this campaign leads right now: elected, and the TTL has not
    /// passed since the last successful election or renewal was sent.
    pub fn is_leader(&self) -> bool {
        self.lease.holds(self.client.transport().now())
    }
}

impl<T: AsyncTransport> Campaign<AsyncClient<T>> {
    /// Whether this campaign leads right now: elected, and the TTL has not
    /// passed since the last successful election or renewal was sent.
    pub fn is_leader(&self) -> bool {
        self.lease.holds(self.client.transport().now())
    }
}

/// A leader's TTL: at least 1 s, at most [`crate::ops::MAX_TTL`].
fn check_leader_ttl(ttl: u64) -> Result<(), Error> {
    if ttl == 0 {
        return Err(Error::invalid_argument(
            "ttl",
            "leadership needs a TTL of at least 1 second",
        ));
    }
    check_ttl(Some(ttl))
}

/// Leader election (the seed's `module.leader`): see
/// [`crate::recipes::leader`].
#[derive(Debug)]
pub struct LeaderOps<'a, C> {
    pub(super) client: &'a C,
}

/// Follows who leads a key (see `LeaderOps::observe`): [`LeaderEvent::Changed`]
/// with the current leader first, then at every change; a blocking `Iterator`
/// for a [`Client`], an `async fn next` for an [`AsyncClient`].
#[derive(Debug)]
pub struct Observe<C> {
    client: C,
    key: String,
    watch: Option<Watch<C>>,
    last: Option<Option<String>>,
}

impl<C> Observe<C> {
    /// The first event: the current leader, and the index to watch from.
    fn first(
        &mut self,
        read: Result<crate::KeysResponse, Error>,
    ) -> Result<(Option<String>, u64), Error> {
        let (current, index) = match read {
            Ok(r) => (
                r.node.value,
                r.cluster.etcd_index.unwrap_or(r.node.modified_index),
            ),
            Err(e) if e.is_key_not_found() => (None, e.etcd().map(|e| e.index).unwrap_or(0)),
            Err(e) => return Err(e),
        };
        self.last = Some(current.clone());
        Ok((current, index))
    }

    /// The leader a watch event shows, if it changed.
    fn change(&mut self, event: WatchEvent) -> Option<LeaderEvent> {
        let leader = match event {
            WatchEvent::Change(c) if c.is_deleted() => None,
            WatchEvent::Change(c) => c.node.value,
            WatchEvent::Resync { snapshot, .. } => snapshot.and_then(|s| s.node.value),
        };
        if self.last.as_ref() == Some(&leader) {
            return None;
        }
        self.last = Some(leader.clone());
        Some(LeaderEvent::Changed(leader))
    }
}

macro_rules! leader_api {
    (blocking, $client:ty) => { leader_api!(@ $client, [] [] "blocks until"); };
    (awaiting, $client:ty) => { leader_api!(@ $client, [async] [.await] "resolves once"); };
    (@ $client:ty, [$($kw:tt)*] [$($aw:tt)*] $until:literal) => {
        $($kw)* fn elect(&self, key: &str, value: &str, ttl: u64, deadline: Option<Instant>) -> Result<bool, Error> {
            check_leader_ttl(ttl)?;
            let mut machine = LeaderMachine::new(key, value, ttl).deadline(deadline);
            let elected = self.client.run_machine(&mut machine)$($aw)*??;
            Ok(elected.is_some())
        }

        #[doc = concat!(
            "Become leader on `key` with `value` for `ttl` seconds, or renew if this value ",
            "already leads; otherwise ", $until, " the current leader's key is deleted or ",
            "expires and this value leads (the seed's `set_or_renew`)."
        )]
        pub $($kw)* fn set_or_renew(&self, key: &str, value: &str, ttl: u64) -> Result<(), Error> {
            self.elect(key, value, ttl, None)$($aw)*.map(|_| ())
        }

        /// Like `set_or_renew`, waiting at most `timeout`: `Ok(false)` if another
        /// leader still holds the key then.
        pub $($kw)* fn set_or_renew_timeout(&self, key: &str, value: &str, ttl: u64, timeout: Duration) -> Result<bool, Error> {
            // A timeout too large to add to the clock is no bound.
            let deadline = self.client.transport().now().checked_add(timeout);
            self.elect(key, value, ttl, deadline)$($aw)*
        }

        /// The current leader's value, or `None` (the seed's `get`).
        pub $($kw)* fn get(&self, key: &str) -> Result<Option<String>, Error> {
            match self.client.execute(&keys::Get::new(key))$($aw)* {
                Ok(r) => Ok(r.node.value),
                Err(e) if e.is_key_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }

        /// Resign: delete the key only if `value` leads (the seed's `delete`).
        /// `Ok(false)` if it does not.
        pub $($kw)* fn delete(&self, key: &str, value: &str) -> Result<bool, Error> {
            self.client.delete_if_holding(key, value)$($aw)*
        }

        /// Keep an existing leadership alive from the background (see
        /// [`KeepAlive`]): the first renewal goes out at once, and the key
        /// counts as lost if none succeeds within the TTL. A TTL of 0 or over
        /// [`crate::ops::MAX_TTL`] is refused before anything is sent.
        pub fn keep_alive(&self, key: &str, value: &str, ttl: u64) -> Result<KeepAlive<$client>, Error>
        where
            T: 'static,
        {
            check_leader_ttl(ttl)?;
            crate::key::clean(key)?;
            Ok(self.client.start_keep_alive(Lease::held(key, None), value.to_owned(), ttl))
        }

        /// Campaign from the background: become leader, renew every third of the
        /// TTL, report [`LeaderEvent::Elected`] and [`LeaderEvent::Lost`], and
        /// campaign again after a loss, until resigned or dropped. A TTL of 0 or
        /// over [`crate::ops::MAX_TTL`] is refused before anything is sent.
        pub fn campaign(&self, key: &str, value: &str, ttl: u64) -> Result<Campaign<$client>, Error>
        where
            T: 'static,
        {
            let machine = CampaignMachine::new(key, value, ttl, Lease::none(key))?;
            Ok(self.client.start_campaign(machine))
        }

        /// Follow who leads `key`: [`LeaderEvent::Changed`] with the current
        /// leader first, then at every change.
        pub fn observe(&self, key: &str) -> Observe<$client> {
            Observe {
                client: self.client.clone(),
                key: key.to_owned(),
                watch: None,
                last: None,
            }
        }
    };
}

/// The blocking calls: each returns once etcd has answered (or the call
/// failed for good).
impl<T: Transport> LeaderOps<'_, Client<T>> {
    leader_api!(blocking, Client<T>);
}

/// The async calls: each resolves once etcd has answered (or the call
/// failed for good); nothing blocks a thread.
impl<T: AsyncTransport> LeaderOps<'_, AsyncClient<T>> {
    leader_api!(awaiting, AsyncClient<T>);
}

macro_rules! observe_api {
    (blocking) => { observe_api!(@ [] []); };
    (awaiting) => { observe_api!(@ [async] [.await]); };
    (@ [$($kw:tt)*] [$($aw:tt)*]) => {
        /// The next leader change; `None` once the underlying watch ends.
        $($kw)* fn next_change(&mut self) -> Option<Result<LeaderEvent, Error>> {
            if self.last.is_none() {
                let read = self.client.execute(&keys::Get::new(self.key.as_str()))$($aw)*;
                let (current, index) = match self.first(read) {
                    Ok(v) => v,
                    Err(e) => return Some(Err(e)),
                };
                let watch = self.client.watch(&self.key).from_index(index.saturating_add(1)).start()$($aw)*;
                self.watch = match watch {
                    Ok(watch) => Some(watch),
                    Err(e) => return Some(Err(e)),
                };
                return Some(Ok(LeaderEvent::Changed(current)));
            }
            loop {
                let event = self.watch.as_mut()?.next()$($aw)*?;
                match event {
                    Ok(event) => {
                        if let Some(change) = self.change(event) {
                            return Some(Ok(change));
                        }
                    }
                    Err(e) => return Some(Err(e)),
                }
            }
        }
    };
}

impl<T: Transport + 'static> Observe<Client<T>> {
    observe_api!(blocking);
}

impl<T: Transport + 'static> Iterator for Observe<Client<T>> {
    type Item = Result<LeaderEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_change()
    }
}

impl<T: AsyncTransport + 'static> Observe<AsyncClient<T>> {
    observe_api!(awaiting);

    /// The next leader change; `None` once the underlying watch ends.
    pub async fn next(&mut self) -> Option<Result<LeaderEvent, Error>> {
        self.next_change().await
    }
}
