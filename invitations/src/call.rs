//! The one path every API call takes: token, request id, attempts, tracing, and carrying out
//! the retry decision of [`next_step`].

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;
use tracing::{Instrument, field};

use crate::auth::TokenSource;
use crate::error::{Error, ErrorKind, Sent};
use crate::response::{ResponseHead, from_raw};
use crate::retry::{
    Effect, Failed, NO_TIME_LEFT, Next, Progress, RetryBudget, RetryConfig, next_step,
    outcome_unknown,
};
use phasetwo_invitations_client as raw;
use phasetwo_invitations_client::types::ErrorRepresentation;

/// The header carrying the id of one logical operation, the same on every attempt.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Settings a builder can override for its call.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallOptions {
    pub(crate) retry: Option<RetryConfig>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) operation_timeout: Option<Duration>,
    /// The instant the whole operation must end by, fixed when an operation of several
    /// requests (a create and its lookups) starts, so that all of them share one deadline.
    pub(crate) deadline: Option<Instant>,
}

impl CallOptions {
    /// These options with the deadline fixed now (unless it already is), for an operation
    /// that makes several calls: each of them then gets what is left, not a limit of its own.
    pub(crate) fn anchored(&self, engine: &Engine) -> CallOptions {
        let mut options = self.clone();
        if options.deadline.is_none() {
            options.deadline = options
                .operation_timeout
                .or(engine.settings.operation_timeout)
                .and_then(|limit| Instant::now().checked_add(limit));
        }
        options
    }
}

/// What the retry loop needs to know about a call.
pub(crate) struct Call<'a> {
    pub(crate) operation: &'static str,
    pub(crate) effect: Effect,
    pub(crate) options: &'a CallOptions,
    pub(crate) realm: &'a str,
    pub(crate) org_id: Option<&'a str>,
    /// The invitation the call names, so that a 404 can be told to be about it.
    pub(crate) invitation_id: Option<&'a str>,
    /// Recorded in the trace only when the client was built with `log_emails(true)`.
    pub(crate) email: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// A call in `realm` that names nothing else yet.
    pub(crate) fn new(
        operation: &'static str,
        effect: Effect,
        options: &'a CallOptions,
        realm: &'a str,
    ) -> Self {
        Call { operation, effect, options, realm, org_id: None, invitation_id: None, email: None }
    }
}

tokio::task_local! {
    /// What the request hook needs from the attempt it runs in.
    static ATTEMPT: AttemptState;
}

struct AttemptState {
    /// `Authorization`, from the token the loop got.
    authorization: HeaderValue,
    request_id: HeaderValue,
    head: Mutex<Option<ResponseHead>>,
}

/// Sets the token and request id on every request of the generated client, and records each
/// answer's head (the generated client drops it when a body cannot be decoded).
pub(crate) struct AuthHook {
    pub(crate) tokens: TokenSource,
}

impl raw::RequestHook for AuthHook {
    fn before_send<'a>(
        &'a self,
        request: &'a mut reqwest::Request,
        _operation_id: &'static str,
    ) -> raw::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let from_attempt =
                ATTEMPT.try_with(|a| (a.authorization.clone(), a.request_id.clone()));
            let authorization = match from_attempt {
                Ok((authorization, request_id)) => {
                    request
                        .headers_mut()
                        .insert(HeaderName::from_static(REQUEST_ID_HEADER), request_id);
                    authorization
                }
                // A call made directly on `Client::raw()`.
                Err(_) => self.tokens.authorization().await.map_err(|e| e.to_string())?,
            };
            request.headers_mut().insert(AUTHORIZATION, authorization);
            Ok(())
        })
    }

    fn after_response(
        &self,
        response: &reqwest::Result<reqwest::Response>,
        _operation_id: &'static str,
    ) {
        if let Ok(response) = response {
            let head = ResponseHead {
                status: response.status(),
                // Headers are read only from failures (`Retry-After`, `Location` of a
                // redirect); a success's status is all an undecodable body needs.
                headers: if response.status().is_success() {
                    HeaderMap::new()
                } else {
                    response.headers().clone()
                },
            };
            let _ = ATTEMPT.try_with(|a| {
                *a.head.lock().unwrap_or_else(|p| p.into_inner()) = Some(head);
            });
        }
    }
}

/// How calls behave, unless a builder overrides it.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) retry: RetryConfig,
    pub(crate) attempt_timeout: Duration,
    pub(crate) operation_timeout: Option<Duration>,
    pub(crate) budget: Arc<RetryBudget>,
    pub(crate) log_emails: bool,
}

/// What carries out calls: the generated client, where tokens come from, and the settings.
/// A [`Client`](crate::Client) owns one.
pub(crate) struct Engine {
    pub(crate) raw: raw::Client,
    pub(crate) tokens: TokenSource,
    pub(crate) settings: Settings,
}

/// How a call ended well.
pub(crate) enum Reply<T> {
    /// The server answered the last attempt with success.
    Answered(raw::ResponseValue<T>),
    /// An earlier attempt did the work and its answer was lost; the last attempt met the
    /// result, which this error (404, or 409 "already exists") describes.
    DoneEarlier(Error),
}

impl<T> Reply<T> {
    /// The answer, for operations that no earlier attempt can have completed unseen (reads,
    /// plain creates): for them `next_step` never answers `DoneEarlier`.
    pub(crate) fn answered(self) -> Result<raw::ResponseValue<T>, Error> {
        match self {
            Reply::Answered(value) => Ok(value),
            Reply::DoneEarlier(error) => Err(error),
        }
    }
}

impl Engine {
    /// Runs one logical operation: as many attempts as [`next_step`] allows, each built
    /// afresh by `attempt`.
    pub(crate) async fn call<'a, T, Fut>(
        &'a self,
        call: Call<'_>,
        attempt: impl Fn(&'a raw::Client) -> Fut,
    ) -> Result<Reply<T>, Error>
    where
        Fut: Future<Output = Result<raw::ResponseValue<T>, raw::Error<ErrorRepresentation>>>,
    {
        // A request id needs to be unique, not unpredictable: no system call for randomness.
        let request_id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
            .into_uuid()
            .to_string();
        let span = tracing::info_span!(
            "phasetwo_invitations.call",
            operation = call.operation,
            realm = call.realm,
            org_id = call.org_id,
            request_id = %request_id,
            email = field::Empty,
            attempts = field::Empty,
        );
        if self.settings.log_emails
            && let Some(email) = call.email
        {
            span.record("email", email);
        }
        let operation = call.operation;
        self.attempts(call, &request_id, attempt)
            .instrument(span)
            .await
            .map_err(|e| e.with_operation(operation))
    }

    /// The attempts of one operation, carrying out what [`next_step`] decides after each
    /// failure.
    async fn attempts<'a, T, Fut>(
        &'a self,
        call: Call<'_>,
        request_id: &str,
        attempt: impl Fn(&'a raw::Client) -> Fut,
    ) -> Result<Reply<T>, Error>
    where
        Fut: Future<Output = Result<raw::ResponseValue<T>, raw::Error<ErrorRepresentation>>>,
    {
        let settings = &self.settings;
        let policy = call.options.retry.as_ref().unwrap_or(&settings.retry);
        // A limit past the representable future is no limit.
        let deadline = call.options.anchored(self).deadline;
        let request_id_header =
            HeaderValue::from_str(request_id).expect("a UUID is a valid header value");

        let mut attempts = 0u32;
        let mut progress = Progress::default();
        let mut last_error: Option<Error> = None;
        loop {
            let time_left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if time_left.is_some_and(|left| left.is_zero()) {
                // No attempt starts with nothing left: it could only time out at once.
                let error = match last_error.take() {
                    Some(error) => error.and_detail(NO_TIME_LEFT),
                    // Spent by the requests before this one, in an operation of several.
                    None => Error::new(ErrorKind::Timeout).with_detail(
                        "the operation's time limit ended before this request was sent",
                    ),
                };
                tracing::Span::current().record("attempts", attempts);
                return Err(error.with_attempts(
                    attempts,
                    request_id,
                    progress.earlier_outcome_unknown,
                ));
            }
            attempts += 1;
            let limit = AttemptLimit::new(
                call.options.attempt_timeout.unwrap_or(settings.attempt_timeout),
                time_left,
            );
            let attempt_span = tracing::debug_span!(
                "attempt",
                n = attempts,
                status = field::Empty,
                outcome = field::Empty
            );
            // The token is part of the attempt: its fetch counts against the time limits, and
            // its passing failures are retried like the request's own.
            let mut token = None;
            let result = run_attempt(limit, async {
                let authorization = self.tokens.authorization().await?;
                token = Some(authorization.clone());
                let state = AttemptState {
                    authorization,
                    request_id: request_id_header.clone(),
                    head: Mutex::new(None),
                };
                // Boxed once: the generated request future is several kilobytes, and each
                // layer above would otherwise copy it as it is moved in.
                ATTEMPT.scope(state, send_once(Box::pin(attempt(&self.raw)))).await
            })
            .instrument(attempt_span.clone())
            .await
            .map_err(|e| match &token {
                // The time limit ended while the token was still awaited: nothing was sent.
                None if e.sent() == Sent::Maybe => e
                    .with_sent(Sent::No)
                    .with_detail("no token in time: the token endpoint did not answer"),
                _ => e,
            });
            let error = match result {
                Ok(value) => {
                    attempt_span.record("status", value.status().as_u16());
                    attempt_span.record("outcome", "ok");
                    settings.budget.refund(1);
                    tracing::Span::current().record("attempts", attempts);
                    return Ok(Reply::Answered(value));
                }
                Err(e) if call.operation == crate::operation::CREATE => e.read_as_create(),
                Err(e) => e,
            };
            if let Some(status) = error.status() {
                attempt_span.record("status", status.as_u16());
            }
            attempt_span.record("outcome", field::debug(error.kind()));

            let failed = Failed {
                error: &error,
                invitation_missing: call
                    .invitation_id
                    .is_some_and(|id| error.names_missing_invitation(id)),
            };
            let next = next_step(
                call.effect,
                failed,
                progress,
                policy,
                self.tokens.can_refresh(),
                &settings.budget,
                deadline.map(|d| d.saturating_duration_since(Instant::now())),
            );
            let earlier_unknown = progress.earlier_outcome_unknown;
            progress.earlier_outcome_unknown |= outcome_unknown(&error);
            let finish = |e: Error| {
                tracing::Span::current().record("attempts", attempts);
                e.with_attempts(attempts, request_id, earlier_unknown)
            };
            match next {
                Next::Fail(why) => {
                    tracing::debug!(parent: &attempt_span, why, "not retried");
                    return Err(finish(match why {
                        Some(why) => error.and_detail(why),
                        None => error,
                    }));
                }
                Next::DoneEarlier => {
                    tracing::debug!(parent: &attempt_span, "an earlier attempt did it");
                    return Ok(Reply::DoneEarlier(finish(error)));
                }
                Next::RenewToken => {
                    tracing::debug!(parent: &attempt_span, "401: retrying once with a new token");
                    progress.renewed_token = true;
                    if let Some(token) = &token {
                        self.tokens.invalidate(token);
                    }
                    last_error = Some(error);
                }
                Next::Retry { delay, reason } => {
                    tracing::debug!(
                        parent: &attempt_span,
                        reason = reason.as_str(),
                        delay_ms = delay.as_millis() as u64,
                        "retrying"
                    );
                    tokio::time::sleep(delay).await;
                    progress.retries += 1;
                    last_error = Some(error);
                }
            }
        }
    }
}

/// The time limit of one attempt: its own, or what is left of the operation's, whichever
/// ends first.
#[derive(Clone, Copy)]
enum AttemptLimit {
    Attempt(Duration),
    OperationLeft(Duration),
}

impl AttemptLimit {
    fn new(attempt: Duration, operation_left: Option<Duration>) -> Self {
        match operation_left {
            Some(left) if left < attempt => AttemptLimit::OperationLeft(left),
            _ => AttemptLimit::Attempt(attempt),
        }
    }

    fn duration(self) -> Duration {
        match self {
            AttemptLimit::Attempt(d) | AttemptLimit::OperationLeft(d) => d,
        }
    }

    /// What ran out, in the error's words.
    fn why(self) -> String {
        match self {
            AttemptLimit::OperationLeft(d) => format!(
                "the operation's time limit ended ({} ms were left for this attempt)",
                d.as_millis()
            ),
            AttemptLimit::Attempt(d) => format!("no answer within {} ms", d.as_millis()),
        }
    }
}

/// One attempt under its time limit, which covers everything: the token, the request, and
/// reading the answer, error bodies included. Not an `async fn`: one would hold `attempt`
/// twice, as its argument and inside the timeout.
fn run_attempt<T>(
    limit: AttemptLimit,
    attempt: impl Future<Output = Result<T, Error>>,
) -> impl Future<Output = Result<T, Error>> {
    tokio::time::timeout(limit.duration(), attempt).map(move |result| {
        result.unwrap_or_else(|_| {
            Err(Error::new(ErrorKind::Timeout).with_sent(Sent::Maybe).with_detail(limit.why()))
        })
    })
}

/// Sends one request through the generated client, converting its failure with the answer's
/// head that the hook recorded.
async fn send_once<T>(
    request: impl Future<Output = Result<raw::ResponseValue<T>, raw::Error<ErrorRepresentation>>>,
) -> Result<raw::ResponseValue<T>, Error> {
    match request.await {
        Ok(value) => Ok(value),
        Err(e) => {
            let head = ATTEMPT.with(|a| a.head.lock().unwrap_or_else(|p| p.into_inner()).take());
            // Boxed: reading an error's body is rare, and inline it would enlarge every call.
            Err(Box::pin(from_raw(e, head)).await)
        }
    }
}

/// Adds the per-call settings to a builder with an `options: CallOptions` field, and lets
/// it be awaited directly (`org.count().await` is `org.count().send().await`).
macro_rules! call_builder {
    ($builder:ty => $output:ty) => {
        impl $builder {
            /// Retries this call with `config` instead of the client's policy.
            pub fn retry(mut self, config: crate::retry::RetryConfig) -> Self {
                self.options.retry = Some(config);
                self
            }

            /// Gives each attempt at most `limit` instead of the client's
            /// [`attempt_timeout`](crate::ClientBuilder::attempt_timeout).
            pub fn attempt_timeout(mut self, limit: std::time::Duration) -> Self {
                self.options.attempt_timeout = Some(limit);
                self
            }

            /// Gives the whole call, all attempts and waits together, at most `limit`, instead
            /// of the client's [`operation_timeout`](crate::ClientBuilder::operation_timeout).
            pub fn operation_timeout(mut self, limit: std::time::Duration) -> Self {
                self.options.operation_timeout = Some(limit);
                self
            }
        }

        crate::call::awaitable!($builder => Result<$output, crate::error::Error>);
    };
}
pub(crate) use call_builder;

/// Lets a builder with an `async fn send(self) -> $output` be awaited directly.
macro_rules! awaitable {
    ($builder:ty => $output:ty) => {
        impl std::future::IntoFuture for $builder {
            type Output = $output;
            type IntoFuture = crate::auth::BoxFuture<'static, Self::Output>;
            fn into_future(self) -> Self::IntoFuture {
                Box::pin(self.send())
            }
        }
    };
}
pub(crate) use awaitable;
