//! The drivers: exactly one for the blocking client and one for the async
//! client, for any [`Machine`]. A driver only moves requests and time: it polls
//! the machine, runs the request it asks for through the client (with
//! failover), hands the outcome back, sleeps when told to, and stops when asked.
//! Every decision is the machine's.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::signal::{within, Queue};
use super::{AsyncClient, Client};
use crate::cluster::Timeout;
use crate::error::Error;
use crate::machine::{Machine, Step};
use crate::transport::{AsyncTransport, Transport};

/// How a drive ended, short of the machine's own end.
#[derive(Debug)]
pub(crate) enum Driven<E, O> {
    /// The machine reported an event (poll it again for more).
    Event(E),
    /// The machine finished.
    Done(O),
    /// The stop was set.
    Stopped,
    /// The deadline passed (a request may still be in flight: drive again to
    /// pick its outcome up).
    TimedOut,
}

/// A stop that can be waited on: a flag, and wake-ups for those waiting on it
/// (async waits, and a blocking watch's worker queue).
pub(crate) struct Stop {
    flag: AtomicBool,
    closed: Queue<()>,
    wakers: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

impl Stop {
    pub(crate) fn new() -> Arc<Stop> {
        Arc::new(Stop {
            flag: AtomicBool::new(false),
            closed: Queue::new(),
            wakers: Mutex::new(Vec::new()),
        })
    }

    /// Stop, waking whatever waits.
    pub(crate) fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.closed.close();
        let wakers = self
            .wakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for wake in wakers.iter() {
            wake();
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Call `wake` when stopped (at once if stopped already). It is listed
    /// before the flag is read: a `stop` at the same moment either finds it
    /// listed or has set the flag already.
    pub(crate) fn on_stop(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let mut wakers = self
            .wakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        wakers.push(wake);
        if self.is_stopped() {
            if let Some(wake) = wakers.last() {
                wake();
            }
        }
    }

    /// Resolves once stopped.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + '_ {
        let closed = self.closed.closed();
        async move {
            closed.await;
        }
    }
}

/// How a blocking driver gets a request run: in its own thread (inline) or on
/// a worker thread it can stop waiting for ([`super::watch_worker`]).
pub(crate) trait Exec<R, O> {
    /// Start running `request` (one at a time).
    fn start(&mut self, request: R);
    /// Whether a request was started and its outcome not taken yet.
    fn busy(&self) -> bool;
    /// The started request's outcome, waiting until `deadline` (on the
    /// transport's clock, `now` being its current time) or a stop: `None` then,
    /// and the request stays started.
    fn outcome(&mut self, now: Instant, deadline: Option<Instant>) -> Option<O>;
}

/// Runs each request at once, in the driver's thread.
pub(crate) struct Inline<'c, C, O> {
    client: &'c C,
    options: RunOptions,
    outcome: Option<O>,
}

impl<'c, C, O> Inline<'c, C, O> {
    pub(crate) fn new(client: &'c C, options: RunOptions) -> Inline<'c, C, O> {
        Inline {
            client,
            options,
            outcome: None,
        }
    }
}

impl<T: Transport, R: RunBlocking<T>> Exec<R, R::Outcome> for Inline<'_, Client<T>, R::Outcome> {
    fn start(&mut self, request: R) {
        self.outcome = Some(request.run(self.client, self.options));
    }
    fn busy(&self) -> bool {
        self.outcome.is_some()
    }
    fn outcome(&mut self, _now: Instant, _deadline: Option<Instant>) -> Option<R::Outcome> {
        self.outcome.take()
    }
}

/// What a request needs from its driver besides the client.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunOptions {
    /// The timeout of a watch's long poll.
    pub(crate) wait: Timeout,
    /// When the whole call must end (a bridge call's requests share it).
    #[cfg_attr(not(feature = "bridge"), allow(dead_code))]
    pub(crate) deadline: Option<Instant>,
}

/// A request the blocking client can run.
pub(crate) trait RunBlocking<T: Transport> {
    type Outcome;
    fn run(&self, client: &Client<T>, options: RunOptions) -> Self::Outcome;
}

/// A request the async client can run.
pub(crate) trait RunAsync<T: AsyncTransport>: Sync {
    type Outcome: Send;
    fn run<'a>(
        &'a self,
        client: &'a AsyncClient<T>,
        options: RunOptions,
    ) -> impl Future<Output = Self::Outcome> + Send + 'a;
}

macro_rules! runs {
    ([$($kw:tt)*] [$($aw:tt)*] $client:ident, $($bounds:tt)*) => {
        /// A watcher's request through the pool, with `options.wait` for its
        /// long polls.
        pub(crate) $($kw)* fn run_watch_request(
            client: &$client<impl $($bounds)*>,
            request: &crate::watch::Request,
            options: RunOptions,
        ) -> crate::watch::Outcome {
            use crate::watch::{Outcome, Request};
            match request {
                Request::CurrentIndex(op) => Outcome::CurrentIndex(client.execute(op)$($aw)*),
                Request::Snapshot(op) => Outcome::Snapshot(client.execute(op)$($aw)*.map(Box::new)),
                Request::Wait(op) => {
                    client.auto_sync()$($aw)*;
                    let attempts = client.attempts(op).with_timeout(options.wait);
                    Outcome::Wait(client.execute_with(op, attempts)$($aw)*)
                }
            }
        }

        /// A recipe machine's request: keys requests through the pool, waits as
        /// long polls bounded by the machine's timeout.
        pub(crate) $($kw)* fn run_recipe_request(
            client: &$client<impl $($bounds)*>,
            request: &crate::recipes::Request,
            _options: RunOptions,
        ) -> crate::recipes::Outcome {
            use crate::recipes::{Outcome, Request};
            match request {
                Request::Keys(op) => Outcome::Keys(client.execute(op)$($aw)*.map(Box::new)),
                Request::Wait { wait, timeout } => {
                    let attempts = client.attempts(wait).with_timeout(*timeout);
                    Outcome::Wait(client.execute_with(wait, attempts)$($aw)*)
                }
            }
        }

        /// One v3 request of the bridge, through the pool.
        #[cfg(feature = "bridge")]
        pub(crate) $($kw)* fn run_bridge_request(
            client: &$client<impl $($bounds)*>,
            request: &crate::bridge::Request,
            options: RunOptions,
        ) -> crate::bridge::Outcome {
            use crate::bridge::{Outcome, Request};
            // Every request of a call shares the call's deadline.
            let bounded = |attempts: crate::cluster::Attempts| match options.deadline {
                Some(_) => attempts.with_deadline(options.deadline),
                None => attempts,
            };
            match request {
                Request::Txn(txn) => Outcome::Txn(client.execute_direct(txn, bounded(client.attempts(txn)))$($aw)*),
                Request::Grant(grant) => Outcome::Grant(client.execute_direct(grant, bounded(client.attempts(grant)))$($aw)*),
                Request::Watch(watch) => {
                    let attempts = bounded(client.attempts(watch).with_timeout(watch.timeout()));
                    Outcome::Watch(client.execute_direct(watch, attempts)$($aw)*)
                }
                Request::Post(post) => Outcome::Post(client.execute_direct(post, bounded(client.attempts(post)))$($aw)*),
                Request::Authenticate(auth) => {
                    let token = client.execute_direct(auth, bounded(client.attempts(auth)))$($aw)*;
                    let shared = &client.inner.shared;
                    // Auth is off: a token kept from when it was on is refused.
                    if token.as_ref().is_err_and(crate::bridge::v3::auth_is_off) {
                        shared.clear_bridge_token();
                    }
                    Outcome::Authenticated(token.and_then(|t| shared.set_bridge_token(&t)))
                }
            }
        }
    };
}

mod blocking_runs {
    use super::*;
    runs!([] [] Client, Transport);
}

mod async_runs {
    use super::*;
    runs!([async] [.await] AsyncClient, AsyncTransport);
}

pub(crate) use blocking_runs::run_watch_request;

/// A request type both drivers can run, with the function that runs it.
macro_rules! runnable {
    ($request:ty, $outcome:ty, $run:ident) => {
        impl<T: Transport> RunBlocking<T> for $request {
            type Outcome = $outcome;
            fn run(&self, client: &Client<T>, options: RunOptions) -> $outcome {
                blocking_runs::$run(client, self, options)
            }
        }

        impl<T: AsyncTransport> RunAsync<T> for $request {
            type Outcome = $outcome;
            fn run<'a>(
                &'a self,
                client: &'a AsyncClient<T>,
                options: RunOptions,
            ) -> impl Future<Output = $outcome> + Send + 'a {
                async_runs::$run(client, self, options)
            }
        }
    };
}

runnable!(
    crate::watch::Request,
    crate::watch::Outcome,
    run_watch_request
);
runnable!(
    crate::recipes::Request,
    crate::recipes::Outcome,
    run_recipe_request
);

#[cfg(feature = "bridge")]
runnable!(
    crate::bridge::Request,
    crate::bridge::Outcome,
    run_bridge_request
);

impl<T: Transport> Client<T> {
    /// The blocking driver: drive `machine` to its next event, its end, a stop,
    /// or `deadline` (on the transport's clock), running its requests with
    /// `exec`.
    pub(crate) fn drive<M, X>(
        &self,
        machine: &mut M,
        exec: &mut X,
        stop: Option<&Stop>,
        deadline: Option<Instant>,
    ) -> Result<Driven<M::Event, M::Output>, Error>
    where
        M: Machine,
        X: Exec<M::Request, M::Outcome>,
    {
        let now = || self.transport().now();
        let stopped = || stop.is_some_and(Stop::is_stopped);
        loop {
            if stopped() {
                return Ok(Driven::Stopped);
            }
            if exec.busy() {
                match exec.outcome(now(), deadline) {
                    Some(outcome) => machine.handle(outcome, now())?,
                    None if stopped() => return Ok(Driven::Stopped),
                    None => return Ok(Driven::TimedOut),
                }
                continue;
            }
            match machine.poll(now()) {
                Step::Send(request) => exec.start(request),
                Step::SleepUntil(at) => {
                    let until = deadline.map_or(at, |d| at.min(d));
                    self.sleep_until(until, stop.map(Stop::flag));
                    if deadline.is_some_and(|d| now() >= d) && now() < at {
                        return Ok(Driven::TimedOut);
                    }
                }
                Step::Event(event) => return Ok(Driven::Event(event)),
                Step::Done(output) => return Ok(Driven::Done(output)),
            }
        }
    }

    /// Drive `machine`, running its requests here, to its end.
    pub(crate) fn run_machine<M>(&self, machine: &mut M) -> Result<M::Output, Error>
    where
        M: Machine<Event = ()>,
        M::Request: RunBlocking<T, Outcome = M::Outcome>,
    {
        self.run_machine_with(machine, RunOptions::default())
    }

    /// [`Client::run_machine`] with these options for its requests.
    pub(crate) fn run_machine_with<M>(
        &self,
        machine: &mut M,
        options: RunOptions,
    ) -> Result<M::Output, Error>
    where
        M: Machine<Event = ()>,
        M::Request: RunBlocking<T, Outcome = M::Outcome>,
    {
        let mut exec = Inline::new(self, options);
        loop {
            match self.drive(machine, &mut exec, None, None)? {
                Driven::Done(output) => return Ok(output),
                Driven::Event(()) => {}
                Driven::Stopped | Driven::TimedOut => {
                    return Err(Error::Misuse(
                        "a drive without stop or deadline ended".into(),
                    ))
                }
            }
        }
    }
}

impl<T: AsyncTransport> AsyncClient<T> {
    /// The async driver: drive `machine` to its next event, its end, or a stop
    /// (a request in flight then is dropped and the machine told to abandon
    /// it).
    pub(crate) async fn drive<M>(
        &self,
        machine: &mut M,
        options: RunOptions,
        stop: Option<&Stop>,
    ) -> Result<Driven<M::Event, M::Output>, Error>
    where
        M: Machine,
        M::Request: RunAsync<T, Outcome = M::Outcome>,
    {
        loop {
            if stop.is_some_and(Stop::is_stopped) {
                return Ok(Driven::Stopped);
            }
            match machine.poll(self.transport().now()) {
                Step::Send(request) => {
                    let outcome = match stop {
                        Some(stop) => within(request.run(self, options), stop.stopped()).await,
                        None => Some(request.run(self, options).await),
                    };
                    match outcome {
                        Some(outcome) => machine.handle(outcome, self.transport().now())?,
                        None => {
                            machine.abandon();
                            return Ok(Driven::Stopped);
                        }
                    }
                }
                Step::SleepUntil(at) => self.sleep_until(at, stop.map(Stop::flag)).await,
                Step::Event(event) => return Ok(Driven::Event(event)),
                Step::Done(output) => return Ok(Driven::Done(output)),
            }
        }
    }

    /// Drive `machine` to its end.
    pub(crate) async fn run_machine<M>(&self, machine: &mut M) -> Result<M::Output, Error>
    where
        M: Machine<Event = ()> + Send,
        M::Request: RunAsync<T, Outcome = M::Outcome>,
    {
        self.run_machine_with(machine, RunOptions::default()).await
    }

    /// [`AsyncClient::run_machine`] with these options for its requests.
    pub(crate) async fn run_machine_with<M>(
        &self,
        machine: &mut M,
        options: RunOptions,
    ) -> Result<M::Output, Error>
    where
        M: Machine<Event = ()> + Send,
        M::Request: RunAsync<T, Outcome = M::Outcome>,
    {
        loop {
            match self.drive(machine, options, None).await? {
                Driven::Done(output) => return Ok(output),
                Driven::Event(()) => {}
                Driven::Stopped | Driven::TimedOut => {
                    return Err(Error::Misuse(
                        "a drive without stop or deadline ended".into(),
                    ))
                }
            }
        }
    }
}
