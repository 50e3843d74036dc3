//! What the blocking and the async client share: the endpoint pool, the
//! configuration, and the steps of a request around the transport call (pick
//! an endpoint, build and sign the request, judge the outcome). The clients only
//! add the call itself, blocking or awaited.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cluster::{Attempts, EndpointPool, Verdict};
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::{Error, TransportError};
use crate::ops::members::Member;
use crate::ops::Operation;
use crate::response::RespondedBy;

use tracing::field::Empty;
use tracing::Span;

/// The span of one client call: the operation and its key, then the attempt
/// number, the endpoint and the outcome (`ok`, or an [`crate::ErrorKind`]'s
/// name) as they become known. Never a value or a credential.
///
/// When nothing would see it (no `tracing` subscriber, global or scoped, and
/// no `log` logger taking debug records through tracing's log compatibility)
/// the span is [`Span::none`]: building and recording a span costs about a
/// thousand instructions a call even then, a twentieth of the client's own
/// work. With any subscriber the span is built as always, and the
/// subscriber's filter decides.
pub(crate) fn call_span<O: Operation + ?Sized>(op: &O) -> Span {
    let unseen = log::max_level() < log::LevelFilter::Debug
        && tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>());
    if unseen {
        return Span::none();
    }
    tracing::debug_span!(
        "etcd",
        op = op.name(),
        key = op.key(),
        attempt = Empty,
        endpoint = Empty,
        outcome = Empty
    )
}

/// Close a call's span on an error that ended it before any answer (no
/// endpoint left, a request that could not be built).
pub(crate) fn failed_early(span: &Span, err: &Error) {
    span.record("outcome", err.kind().as_str());
    tracing::debug!(parent: span, outcome = err.kind().as_str(), error = %err, "done");
}

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) wait_timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) auto_sync: Option<Duration>,
    pub(crate) prefer_leader: bool,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) resend_sets: bool,
    /// The v3 bridge's prefix, when the client speaks v2 over v3.
    #[cfg(feature = "bridge")]
    pub(crate) bridge: Option<Vec<u8>>,
}

/// The state both clients keep: the pool (behind a lock, shared by every clone
/// and thread) and the configuration.
#[derive(Debug)]
pub(crate) struct Shared {
    pool: Mutex<EndpointPool>,
    pub(crate) config: Config,
    /// The v3 bridge's auth token, once had (see [`crate::bridge::auth`]).
    #[cfg(feature = "bridge")]
    bridge_token: Mutex<Option<http::HeaderValue>>,
}

/// One attempt, ready to send.
pub(crate) struct Prepared {
    pub(crate) endpoint: Endpoint,
    pub(crate) request: http::Request<Vec<u8>>,
    pub(crate) timeout: Option<Duration>,
}

/// What to do after an attempt.
pub(crate) enum After<T> {
    Done(Result<T, Error>),
    Retry,
}

impl Shared {
    pub(crate) fn new(pool: EndpointPool, config: Config) -> Shared {
        Shared {
            pool: Mutex::new(pool),
            config,
            #[cfg(feature = "bridge")]
            bridge_token: Mutex::new(None),
        }
    }

    /// The bridge's token, if one is held.
    #[cfg(feature = "bridge")]
    pub(crate) fn bridge_token(&self) -> Option<http::HeaderValue> {
        self.bridge_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Drop the bridge's token (auth was turned off: etcd refuses it now).
    #[cfg(feature = "bridge")]
    pub(crate) fn clear_bridge_token(&self) {
        *self
            .bridge_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Keep `token` for the bridge's later requests (marked sensitive: never
    /// logged).
    #[cfg(feature = "bridge")]
    pub(crate) fn set_bridge_token(&self, token: &str) -> Result<(), Error> {
        let mut value = http::HeaderValue::from_str(token).map_err(|_| Error::Decode {
            endpoint: String::new(),
            status: 200,
            reason: "the auth token is not a valid header value".into(),
            body: String::new(),
        })?;
        value.set_sensitive(true);
        *self
            .bridge_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
        Ok(())
    }

    pub(crate) fn pool(&self) -> MutexGuard<'_, EndpointPool> {
        // A panic while holding the lock cannot leave the pool inconsistent (each
        // update is a single assignment), so a poisoned lock is still usable.
        self.pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The attempts of a new request at `now`, with the call's deadline.
    pub(crate) fn attempts<O: Operation + ?Sized>(&self, op: &O, now: Instant) -> Attempts {
        let deadline = match self.config.deadline {
            // A deadline too far to add to the clock is no deadline.
            Some(d) if !op.is_long_poll() => now.checked_add(d),
            _ => None,
        };
        Attempts::new(op.idempotent() || (self.config.resend_sets && op.repeatable()))
            .long_poll(op.is_long_poll())
            .may_be_stale(op.may_be_stale())
            .with_deadline(deadline)
    }

    /// Pick the next endpoint, build and sign the request, and choose its timeout.
    pub(crate) fn prepare<O: Operation + ?Sized>(
        &self,
        op: &O,
        attempts: &mut Attempts,
        now: Instant,
        span: &Span,
    ) -> Result<Prepared, Error> {
        let endpoint = self.pool().next_endpoint(attempts, now)?;
        span.record("attempt", attempts.count());
        span.record("endpoint", endpoint.as_str());
        let base = attempts.timeout().or(if op.is_long_poll() {
            self.config.wait_timeout
        } else {
            self.config.request_timeout
        });
        // Each attempt gets the per-request timeout, cut to what is left of the
        // call's deadline.
        let timeout = match (attempts.deadline(), base) {
            (Some(deadline), Some(t)) => Some(t.min(deadline.saturating_duration_since(now))),
            (Some(deadline), None) => Some(deadline.saturating_duration_since(now)),
            (None, t) => t,
        };
        let mut request = op.build(&endpoint)?;
        if let Some(credentials) = &self.config.credentials {
            // Over the bridge the gateway takes the token, never basic auth.
            #[cfg(feature = "bridge")]
            // The token request itself goes without one (etcd refuses even
            // it with a stale token).
            let header = match self.config.bridge {
                Some(_) if request.uri().path() == "/v3/auth/authenticate" => None,
                Some(_) => self.bridge_token(),
                None => Some(credentials.header().clone()),
            };
            #[cfg(not(feature = "bridge"))]
            let header = Some(credentials.header().clone());
            if let Some(header) = header {
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, header);
            }
        }
        // The path names the key; the query may hold a compared value: not logged.
        tracing::debug!(parent: span, method = %request.method(), path = request.uri().path(), "sending");
        Ok(Prepared {
            endpoint,
            request,
            timeout,
        })
    }

    /// Judge an attempt's outcome: the parsed result, or try again.
    pub(crate) fn conclude<O: Operation + ?Sized>(
        &self,
        op: &O,
        attempts: &mut Attempts,
        endpoint: &Endpoint,
        outcome: Result<http::Response<Vec<u8>>, TransportError>,
        now: Instant,
        span: &Span,
    ) -> After<O::Output> {
        let mut outcome = outcome;
        let mut unnamed = false;
        if let Ok(response) = &mut outcome {
            if response.status().is_success() && !op.reads_responder_on_success() {
                unnamed = true;
            } else {
                response
                    .extensions_mut()
                    .insert(RespondedBy(endpoint.as_str().to_owned()));
            }
        }
        let refused = match &outcome {
            Ok(r) if r.status().is_server_error() => op.refused_outright(r),
            _ => None,
        };
        let verdict = match refused {
            Some(err) => Verdict::Fail(err),
            None => self.pool().handle_described(
                attempts,
                endpoint,
                outcome,
                now,
                &crate::response::error_from_response,
            ),
        };
        let result = match verdict {
            Verdict::Deliver(response) if unnamed => op
                .parse(response)
                .map_err(|e| crate::response::naming(e, endpoint.as_str())),
            Verdict::Deliver(response) => op.parse(response),
            Verdict::Retry => {
                if let Some((_, failure)) = attempts.failures().last() {
                    tracing::info!(
                        parent: span,
                        endpoint = endpoint.as_str(),
                        reason = failure.kind().as_str(),
                        error = %failure,
                        "failover: this member failed; trying another"
                    );
                }
                return After::Retry;
            }
            Verdict::Fail(err) => Err(err),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind().as_str(),
        };
        span.record("outcome", outcome);
        tracing::debug!(parent: span, outcome, "done");
        After::Done(result)
    }

    /// Whether an automatic endpoint sync is due (and claim it).
    pub(crate) fn sync_due(&self, now: Instant) -> bool {
        match self.config.auto_sync {
            Some(interval) => self.pool().claim_sync(now, interval),
            None => false,
        }
    }

    /// Replace the endpoints with the members' client URLs, pinning the leader's
    /// when given. Returns the new list.
    pub(crate) fn apply_sync(
        &self,
        members: &[Member],
        leader: Option<&Member>,
    ) -> Result<Vec<Endpoint>, Error> {
        let mut endpoints = Vec::new();
        for url in members.iter().flat_map(|m| &m.client_urls) {
            match Endpoint::parse(url) {
                Ok(endpoint) if !endpoints.contains(&endpoint) => endpoints.push(endpoint),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "ignoring a member's client URL"),
            }
        }
        if endpoints.is_empty() {
            return Err(Error::invalid_argument(
                "members",
                "the cluster reported no client URLs; keeping the current endpoints",
            ));
        }
        let leader =
            leader.and_then(|m| m.client_urls.first().and_then(|u| Endpoint::parse(u).ok()));
        let mut pool = self.pool();
        pool.set_endpoints(endpoints, leader.as_ref())?;
        Ok(pool.endpoints())
    }
}
