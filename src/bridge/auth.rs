//! Authentication over the bridge: etcd's v3 gateway takes a token from
//! `/v3/auth/authenticate` in the `Authorization` header, not v2's basic
//! auth. [`Authed`] wraps a bridge call: it asks for a token first when the
//! client has none, and when the gateway refuses a request for its token
//! (expired, or revoked) it asks for a new one and sends that request again —
//! safe even for a commit, since a refused request was not applied. The
//! driver keeps the token and puts it on every v3 request but the token
//! request itself (etcd refuses even that with a stale token); calls that
//! run at once each may get a token, and the last one kept serves them all
//! (etcd's tokens stay valid side by side).

use std::time::Instant;

use super::v3::{is_token_message, is_token_refusal, Authenticate};
use super::watch::Found;
use super::{Answer, Outcome, Request};
use crate::credentials::Credentials;
use crate::error::Error;
use crate::machine::{output_once, Machine, Step};

/// What a bridge call answers, as etcd v2 would, when etcd refuses the
/// client's user name or password (v2 checks them on every request; the
/// bridge learns it from the token request).
pub trait Refusal {
    /// etcd v2's answer to refused credentials: by default the 401 of its
    /// members and auth APIs.
    fn refused_credentials(&self) -> http::Response<Vec<u8>> {
        crate::server::reply::http_error(401, "Insufficient credentials", None)
    }
}

impl Refusal for super::admin::Admin {}

impl Refusal for super::access::Access {}

impl Refusal for super::call::Call {
    /// The keys API's errorCode 110.
    fn refused_credentials(&self) -> http::Response<Vec<u8>> {
        super::call::insufficient_credentials()
    }
}

impl Refusal for super::Bridged {
    fn refused_credentials(&self) -> http::Response<Vec<u8>> {
        match self {
            super::Bridged::Keys(call) => call.refused_credentials(),
            super::Bridged::Admin(admin) => admin.refused_credentials(),
            super::Bridged::Access(access) => access.refused_credentials(),
        }
    }
}

/// Where an [`Authed`] call is.
#[derive(Debug)]
enum State {
    /// Ask for a token, then send this request (`None`: poll the call).
    Authenticate(Option<Request>),
    /// The token request is in flight; then send this request.
    Authenticating(Option<Request>),
    /// Send this request again (with the new token).
    Resend(Request),
    /// Passing the call's requests through: the last one sent, and whether
    /// it is a resend after a new token (a second refusal ends the call).
    Calling(Option<Request>, bool),
    /// Over, with this answer until polled.
    Done(Option<Answer>),
}

/// A bridge call (`M`) with a token (see the [module docs](self)).
#[derive(Debug)]
pub struct Authed<M> {
    inner: M,
    credentials: Option<Credentials>,
    state: State,
}

impl<M> Authed<M> {
    /// Run `inner` with `credentials` (none: no token is ever asked for);
    /// `has_token`: whether the driver holds a token already.
    pub fn new(inner: M, credentials: Option<Credentials>, has_token: bool) -> Authed<M> {
        let state = if credentials.is_some() && !has_token {
            State::Authenticate(None)
        } else {
            State::Calling(None, false)
        };
        Authed {
            inner,
            credentials,
            state,
        }
    }
}

/// Whether an outcome is the gateway refusing the request for its token.
fn refused_for_token(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Txn(Err(e))
        | Outcome::Grant(Err(e))
        | Outcome::Watch(Err(e))
        | Outcome::Post(Err(e))
        | Outcome::Authenticated(Err(e)) => is_token_refusal(e),
        // A watch is refused in its stream: created, then canceled.
        Outcome::Watch(Ok(watched)) => {
            matches!(&watched.found, Some(Found::Ended(reason)) if is_token_message(reason))
        }
        _ => false,
    }
}

impl<M> Machine for Authed<M>
where
    M: Machine<Request = Request, Outcome = Outcome, Event = (), Output = Answer> + Refusal,
{
    type Request = Request;
    type Outcome = Outcome;
    type Event = ();
    /// etcd v2's answer.
    type Output = Answer;

    fn poll(&mut self, now: Instant) -> Step<Request, (), Answer> {
        match std::mem::replace(&mut self.state, State::Done(None)) {
            State::Authenticate(then) => match &self.credentials {
                Some(c) => {
                    self.state = State::Authenticating(then);
                    Step::Send(Request::Authenticate(Authenticate {
                        user: c.user().to_owned(),
                        password: c.password().clone(),
                    }))
                }
                None => {
                    self.state = State::Calling(None, false);
                    self.poll(now)
                }
            },
            State::Resend(request) => {
                self.state = State::Calling(Some(request.clone()), true);
                Step::Send(request)
            }
            State::Calling(last, resent) => match self.inner.poll(now) {
                Step::Send(request) => {
                    self.state = State::Calling(Some(request.clone()), false);
                    Step::Send(request)
                }
                other => {
                    self.state = State::Calling(last, resent);
                    other
                }
            },
            State::Done(mut output) => output_once(&mut output, "bridge call"),
            in_flight @ State::Authenticating(_) => {
                self.state = in_flight;
                Step::Done(Err(Error::Misuse(
                    "the bridge call was polled while a request was in flight".into(),
                )))
            }
        }
    }

    fn handle(&mut self, outcome: Outcome, now: Instant) -> Result<(), Error> {
        match std::mem::replace(&mut self.state, State::Done(None)) {
            State::Authenticating(then) => match outcome {
                Outcome::Authenticated(Ok(())) => {
                    self.state = match then {
                        Some(request) => State::Resend(request),
                        None => State::Calling(None, false),
                    };
                    Ok(())
                }
                // Auth is off: credentials are not needed (as with v2, where
                // they are ignored then). Go on without a token.
                Outcome::Authenticated(Err(e)) if super::v3::auth_is_off(&e) => {
                    self.state = match then {
                        Some(request) => State::Resend(request),
                        None => State::Calling(None, false),
                    };
                    Ok(())
                }
                // Wrong credentials: answered as etcd v2 answers them.
                Outcome::Authenticated(Err(Error::Api { message, .. }))
                    if message.contains("authentication failed") =>
                {
                    self.state = State::Done(Some(Ok(self.inner.refused_credentials())));
                    Ok(())
                }
                // No answer: the call ends with why.
                Outcome::Authenticated(Err(e)) => {
                    self.state = State::Done(Some(Err(e)));
                    Ok(())
                }
                _ => {
                    self.state = State::Authenticating(then);
                    Err(Error::Misuse(
                        "a bridge outcome that does not match the request in flight".into(),
                    ))
                }
            },
            State::Calling(Some(request), false)
                if self.credentials.is_some() && refused_for_token(&outcome) =>
            {
                self.state = State::Authenticate(Some(request));
                Ok(())
            }
            state => {
                self.state = state;
                self.inner.handle(outcome, now)
            }
        }
    }
}
