//! When a failed attempt is sent again, how long to wait first, and when to give up.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Sent};
use crate::setters::setters;

/// How failed attempts are retried.
///
/// The defaults: **3 attempts** including the first; before retry *n* a random wait between
/// 0 and `min(20 s, 100 ms × 2^(n-1))` ("full jitter": 0–100 ms before the 2nd attempt,
/// 0–200 ms before the 3rd); a `Retry-After` on 429 or 503 is waited for instead, up to
/// **60 s** — a longer one fails the call at once with the requested delay on the error.
///
/// What is retried depends on the operation, so that one intended effect never becomes two:
///
/// | operation | retried after |
/// |---|---|
/// | `list`, `get`, `count`, the invitee's list | connection failure, timeout, 408, 429, 500, 502, 503, 504 |
/// | `delete`, `accept`, `reject` | the same; a 404 after an attempt whose outcome is unknown counts as done |
/// | `create`, `resend` | only a request that surely was not delivered (connection refused, DNS) or a 429 |
/// | `create` with `.idempotent()` | as reads; a 409 "already exists" after an unknown outcome returns the invitation |
///
/// 400, 403, 404 and 409 are never retried. A 401 is re-sent once with a new token when the
/// client can get one (client credentials or a token provider); a second 401 is returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryConfig {
    /// One attempt, no retry (the 401 re-send with a new token still happens).
    pub fn disabled() -> Self {
        RetryConfig { max_attempts: 1, ..RetryConfig::default() }
    }

    setters! {
        /// Attempts in all, including the first (at least 1).
        fn max_attempts(attempts: u32) => max_attempts = attempts.max(1);

        /// The wait before the first retry; it doubles with each further one.
        fn initial_backoff(delay: Duration) => initial_backoff = delay;

        /// The longest wait between attempts computed by backoff.
        fn max_backoff(delay: Duration) => max_backoff = delay;

        /// The longest `Retry-After` waited for; a longer one fails the call at once.
        fn max_retry_after(delay: Duration) => max_retry_after = delay;

        /// Waits exactly the backoff, without randomness: for tests and reproducible runs.
        fn without_jitter() => jitter = false;
    }

    /// The wait before retry number `retry` (1 for the second attempt).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let ceiling = self.initial_backoff.saturating_mul(1 << exponent).min(self.max_backoff);
        if self.jitter { ceiling.mul_f64(fastrand::f64()) } else { ceiling }
    }
}

/// A shared allowance of retries per client, as a token bucket: each retry takes
/// [`RETRY_COST`] (a timeout [`TIMEOUT_RETRY_COST`]), each success gives one back. When a
/// server fails every request, concurrent callers stop retrying once the bucket is empty
/// instead of multiplying the load.
pub(crate) struct RetryBudget {
    capacity: u32,
    /// An atomic rather than a lock: every successful call refunds, and calls run in parallel.
    available: AtomicU32,
}

pub(crate) const DEFAULT_RETRY_BUDGET: u32 = 500;
pub(crate) const RETRY_COST: u32 = 5;
pub(crate) const TIMEOUT_RETRY_COST: u32 = 10;

impl RetryBudget {
    pub(crate) fn new(capacity: u32) -> Self {
        RetryBudget { capacity, available: AtomicU32::new(capacity) }
    }

    pub(crate) fn try_take(&self, cost: u32) -> bool {
        self.available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(cost))
            .is_ok()
    }

    pub(crate) fn refund(&self, amount: u32) {
        // Full, as it is while calls succeed: nothing to write.
        if self.available.load(Ordering::Acquire) >= self.capacity {
            return;
        }
        let _ = self.available.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
            Some(left.saturating_add(amount).min(self.capacity))
        });
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let available = self.available.load(Ordering::Acquire);
        write!(f, "RetryBudget({available}/{})", self.capacity)
    }
}

/// What an operation does to the server, which decides what may be re-sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Reads nothing but state: any retry is harmless.
    Read,
    /// Removes something: a retry is harmless, and a 404 after an unknown outcome means done.
    Remove,
    /// Creates something or sends an email: re-sent only when surely not delivered.
    Create { idempotent: bool },
}

/// Why an attempt will be retried; `None` from [`retry_reason`] means it will not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryReason {
    NotDelivered,
    Throttled,
    Timeout,
    Broken,
    ServerError,
}

impl RetryReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RetryReason::NotDelivered => "not delivered",
            RetryReason::Throttled => "throttled",
            RetryReason::Timeout => "timed out",
            RetryReason::Broken => "connection broken",
            RetryReason::ServerError => "server error",
        }
    }

    pub(crate) fn cost(self) -> u32 {
        if self == RetryReason::Timeout { TIMEOUT_RETRY_COST } else { RETRY_COST }
    }
}

/// Where a call stands when an attempt has failed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress {
    /// Retries made so far (the 401 renewal is not one).
    pub(crate) retries: u32,
    /// Whether the one re-send with a new token after a 401 was made.
    pub(crate) renewed_token: bool,
    /// Whether an attempt before this one may have been carried out.
    pub(crate) earlier_outcome_unknown: bool,
}

/// What the call does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Returns the error, with this added to its detail if set.
    Fail(Option<&'static str>),
    /// Drops the token the server refused and sends again with a new one.
    RenewToken,
    /// Waits `delay`, then sends again.
    Retry { delay: Duration, reason: RetryReason },
    /// An earlier attempt did what the call asked: its answer was lost, and this attempt met
    /// the result (the invitation gone, or already there).
    DoneEarlier,
}

/// A failed attempt, as the retry decision sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failed<'a> {
    pub(crate) error: &'a Error,
    /// The server said that the invitation the call names does not exist, in its own words
    /// (not any 404: a wrong base path or a proxy's page says nothing about the invitation).
    pub(crate) invitation_missing: bool,
}

pub(crate) const NO_TIME_LEFT: &str =
    "the operation's time limit leaves no room for another attempt";

/// The retry decision, every rule of it, in one place. No I/O: the caller carries the answer
/// out. `time_left` is what remains of the operation's time limit; `budget` is taken from
/// only when the answer is [`Next::Retry`].
pub(crate) fn next_step(
    effect: Effect,
    failed: Failed<'_>,
    progress: Progress,
    policy: &RetryConfig,
    can_renew_token: bool,
    budget: &RetryBudget,
    time_left: Option<Duration>,
) -> Next {
    let error = failed.error;
    // A retry met the result of an earlier attempt whose answer was lost.
    if progress.earlier_outcome_unknown {
        match (effect, error.kind()) {
            (Effect::Remove, ErrorKind::NotFound) if failed.invitation_missing => {
                return Next::DoneEarlier;
            }
            (Effect::Create { idempotent: true }, ErrorKind::AlreadyInvited) => {
                return Next::DoneEarlier;
            }
            _ => {}
        }
    }
    let out_of_time = time_left.is_some_and(|left| left.is_zero());
    // The server answers 401 to an expired token and to a missing role alike: one re-send
    // with a new token tells them apart without looping.
    if error.kind() == ErrorKind::Unauthorized && !progress.renewed_token && can_renew_token {
        if out_of_time {
            return Next::Fail(Some(NO_TIME_LEFT));
        }
        return Next::RenewToken;
    }
    let Some(reason) = retry_reason(effect, error) else {
        return Next::Fail(None);
    };
    if progress.retries + 1 >= policy.max_attempts {
        return Next::Fail(None);
    }
    let asked = matches!(error.status().map(|s| s.as_u16()), Some(429 | 503))
        .then(|| error.retry_after())
        .flatten();
    let delay = match asked {
        // The caller sees the delay asked for on the error, and can decide.
        Some(asked) if asked > policy.max_retry_after => return Next::Fail(None),
        Some(asked) => asked,
        None => policy.backoff(progress.retries + 1),
    };
    if time_left.is_some_and(|left| delay >= left) {
        return Next::Fail(Some(NO_TIME_LEFT));
    }
    if !budget.try_take(reason.cost()) {
        return Next::Fail(Some("not retried: the client's retry budget is exhausted"));
    }
    Next::Retry { delay, reason }
}

/// Whether `error` of an operation with `effect` may be retried, and why.
pub(crate) fn retry_reason(effect: Effect, error: &Error) -> Option<RetryReason> {
    let status = error.status().map(|s| s.as_u16());
    let reason = match (error.kind(), status) {
        (ErrorKind::RateLimited, _) => return Some(RetryReason::Throttled),
        (ErrorKind::Timeout, _) => RetryReason::Timeout,
        (ErrorKind::Transport, _) => RetryReason::Broken,
        (ErrorKind::Server, Some(500 | 502 | 503 | 504)) => RetryReason::ServerError,
        _ => return None,
    };
    // Nothing reached the server (a refused connection, or the token request failed):
    // sending is as safe as the first time.
    if error.sent() == Sent::No {
        return Some(RetryReason::NotDelivered);
    }
    // The request may have been carried out: only repeatable operations go again.
    match effect {
        Effect::Read | Effect::Remove | Effect::Create { idempotent: true } => Some(reason),
        Effect::Create { idempotent: false } => None,
    }
}

impl Error {
    /// Whether the same request may succeed if sent again later: throttling, timeouts,
    /// broken connections and the server errors that proxies and restarts cause. The table
    /// the client's own retries use, for an operation safe to repeat.
    pub fn is_retryable(&self) -> bool {
        retry_reason(Effect::Read, self).is_some()
    }
}

/// Whether the server may have carried out an attempt that failed this way: no answer, one
/// cut short, or a 500, 502 or 504 (which a server or proxy sends after the work may have
/// started). A 503, 429 or 408 says the request was not carried out, so a later 404 or 409
/// cannot be blamed on it.
pub(crate) fn outcome_unknown(error: &Error) -> bool {
    if error.sent() == Sent::No {
        return false;
    }
    let status = error.status().map(|s| s.as_u16());
    match error.kind() {
        ErrorKind::Timeout | ErrorKind::Transport => !matches!(status, Some(408 | 429 | 503)),
        ErrorKind::Server => matches!(status, None | Some(500 | 502 | 504)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_without_jitter() {
        let config = RetryConfig::default().without_jitter();
        let waits: Vec<_> = (1..=10).map(|n| config.backoff(n)).collect();
        assert_eq!(waits[0], Duration::from_millis(100));
        assert_eq!(waits[1], Duration::from_millis(200));
        assert_eq!(waits[2], Duration::from_millis(400));
        assert_eq!(waits[9], Duration::from_secs(20));
        assert_eq!(config.backoff(u32::MAX), Duration::from_secs(20));
    }

    #[test]
    fn jitter_stays_below_the_backoff() {
        let config = RetryConfig::default();
        for n in 1..=8 {
            for _ in 0..50 {
                let ceiling = RetryConfig::default().without_jitter().backoff(n);
                assert!(config.backoff(n) <= ceiling);
            }
        }
    }

    #[test]
    fn budget_runs_dry_and_refills_with_successes() {
        let budget = RetryBudget::new(10);
        assert!(budget.try_take(RETRY_COST));
        assert!(budget.try_take(RETRY_COST));
        assert!(!budget.try_take(RETRY_COST));
        budget.refund(3);
        assert!(!budget.try_take(RETRY_COST));
        budget.refund(100);
        assert!(budget.try_take(TIMEOUT_RETRY_COST));
    }

    /// Every rule of the retry decision, without a server.
    #[test]
    fn next_step_table() {
        use reqwest::StatusCode as S;
        let status = |kind, code: u16| Error::new(kind).with_status(S::from_u16(code).unwrap());
        let unavailable = || status(ErrorKind::Server, 503);
        let throttled = |secs| {
            status(ErrorKind::RateLimited, 429).with_retry_after(Some(Duration::from_secs(secs)))
        };
        let token_unavailable = || unavailable().with_sent(Sent::No);
        let already = || status(ErrorKind::AlreadyInvited, 409);
        let gone = || {
            status(ErrorKind::NotFound, 404)
                .with_server_message(Some("No invitation with id x".into()))
        };
        let wrong_path = || {
            status(ErrorKind::NotFound, 404).with_server_message(Some("HTTP 404 Not Found".into()))
        };
        let refused = || status(ErrorKind::Unauthorized, 401);
        let create = Effect::Create { idempotent: false };
        let idempotent = Effect::Create { idempotent: true };
        let first = Progress::default();
        let after_unknown =
            Progress { retries: 1, earlier_outcome_unknown: true, ..Progress::default() };
        let last = Progress { retries: 2, ..Progress::default() };
        let renewed = Progress { renewed_token: true, ..Progress::default() };
        let retry = |ms, reason| Next::Retry { delay: Duration::from_millis(ms), reason };
        let deadline = Some(NO_TIME_LEFT);
        let budget = Some("not retried: the client's retry budget is exhausted");
        let ample = Some(Duration::from_secs(3600));

        // (what, effect, error, progress, can renew, budget left, time left, expected)
        type Case = (&'static str, Effect, Error, Progress, bool, u32, Option<Duration>, Next);
        #[rustfmt::skip]
        let table: Vec<Case> = vec![
            ("read 503", Effect::Read, unavailable(), first, true, 100, None, retry(100, RetryReason::ServerError)),
            ("read 503, second retry", Effect::Read, unavailable(), Progress { retries: 1, ..first }, true, 100, None, retry(200, RetryReason::ServerError)),
            ("read 503, attempts used up", Effect::Read, unavailable(), last, true, 100, None, Next::Fail(None)),
            ("429 waits as asked", Effect::Read, throttled(2), first, true, 100, None, retry(2000, RetryReason::Throttled)),
            ("429 beyond the cap", Effect::Read, throttled(120), first, true, 100, None, Next::Fail(None)),
            ("deadline too close", Effect::Read, unavailable(), first, true, 100, Some(Duration::from_millis(50)), Next::Fail(deadline)),
            ("deadline far", Effect::Read, unavailable(), first, true, 100, ample, retry(100, RetryReason::ServerError)),
            ("budget empty", Effect::Read, unavailable(), first, true, 0, None, Next::Fail(budget)),
            ("plain create 503", create, unavailable(), first, true, 100, None, Next::Fail(None)),
            ("plain create, token 503", create, token_unavailable(), first, true, 100, None, retry(100, RetryReason::NotDelivered)),
            ("plain create 429", create, throttled(1), first, true, 100, None, retry(1000, RetryReason::Throttled)),
            ("idempotent create 503", idempotent, unavailable(), first, true, 100, None, retry(100, RetryReason::ServerError)),
            ("idempotent create meets its own invitation", idempotent, already(), after_unknown, true, 100, None, Next::DoneEarlier),
            ("idempotent create, first 409", idempotent, already(), first, true, 100, None, Next::Fail(None)),
            ("plain create never reconciles", create, already(), after_unknown, true, 100, None, Next::Fail(None)),
            ("remove meets its own deletion", Effect::Remove, gone(), after_unknown, true, 100, None, Next::DoneEarlier),
            ("remove, first 404", Effect::Remove, gone(), first, true, 100, None, Next::Fail(None)),
            ("remove meets a 404 that names no invitation", Effect::Remove, wrong_path(), after_unknown, true, 100, None, Next::Fail(None)),
            ("read 404 after unknown", Effect::Read, gone(), after_unknown, true, 100, None, Next::Fail(None)),
            ("401 renews once", create, refused(), first, true, 100, None, Next::RenewToken),
            ("401 with no time left", Effect::Read, refused(), first, true, 100, Some(Duration::ZERO), Next::Fail(deadline)),
            ("second 401", Effect::Read, refused(), renewed, true, 100, None, Next::Fail(None)),
            ("401 with a fixed token", Effect::Read, refused(), first, false, 100, None, Next::Fail(None)),
            ("400", Effect::Read, status(ErrorKind::BadRequest, 400), first, true, 100, None, Next::Fail(None)),
        ];
        let policy = RetryConfig::default().without_jitter();
        for (what, effect, error, progress, can_renew, left, time_left, expected) in table {
            let budget = RetryBudget::new(left);
            let failed =
                Failed { error: &error, invitation_missing: error.names_missing_invitation("x") };
            let next = next_step(effect, failed, progress, &policy, can_renew, &budget, time_left);
            assert_eq!(next, expected, "{what}");
        }
    }

    #[test]
    fn creates_go_again_only_when_surely_not_applied() {
        let refused = Error::new(ErrorKind::Transport).with_sent(Sent::No);
        let reset = Error::new(ErrorKind::Transport).with_sent(Sent::Maybe);
        let timeout = Error::new(ErrorKind::Timeout).with_sent(Sent::Maybe);
        let throttled =
            Error::new(ErrorKind::RateLimited).with_status(reqwest::StatusCode::TOO_MANY_REQUESTS);
        let unavailable =
            Error::new(ErrorKind::Server).with_status(reqwest::StatusCode::SERVICE_UNAVAILABLE);
        let bad = Error::new(ErrorKind::BadRequest).with_status(reqwest::StatusCode::BAD_REQUEST);
        let create = Effect::Create { idempotent: false };
        let idempotent = Effect::Create { idempotent: true };

        assert_eq!(retry_reason(create, &refused), Some(RetryReason::NotDelivered));
        assert_eq!(retry_reason(create, &throttled), Some(RetryReason::Throttled));
        for e in [&reset, &timeout, &unavailable, &bad] {
            assert_eq!(retry_reason(create, e), None, "{e:?}");
        }
        assert_eq!(retry_reason(idempotent, &timeout), Some(RetryReason::Timeout));
        assert_eq!(retry_reason(Effect::Read, &unavailable), Some(RetryReason::ServerError));
        assert_eq!(retry_reason(Effect::Remove, &reset), Some(RetryReason::Broken));
        assert_eq!(retry_reason(Effect::Read, &bad), None);
        let status = |code| {
            Error::new(ErrorKind::Server).with_status(reqwest::StatusCode::from_u16(code).unwrap())
        };
        assert!(outcome_unknown(&timeout) && outcome_unknown(&reset));
        for code in [500, 502, 504] {
            assert!(outcome_unknown(&status(code)), "{code}");
        }
        // A 503, 429 or 408 says the request was not carried out.
        assert!(!outcome_unknown(&unavailable) && !outcome_unknown(&throttled));
        let request_timeout =
            Error::new(ErrorKind::Timeout).with_status(reqwest::StatusCode::REQUEST_TIMEOUT);
        assert!(!outcome_unknown(&refused) && !outcome_unknown(&request_timeout));

        // The token endpoint's 503: the create itself was never sent.
        let token_unavailable = Error::new(ErrorKind::Server)
            .with_status(reqwest::StatusCode::SERVICE_UNAVAILABLE)
            .with_sent(Sent::No);
        assert_eq!(retry_reason(create, &token_unavailable), Some(RetryReason::NotDelivered));
        assert!(!outcome_unknown(&token_unavailable));
        let refused_credentials = Error::new(ErrorKind::NoToken)
            .with_status(reqwest::StatusCode::UNAUTHORIZED)
            .with_sent(Sent::No);
        assert_eq!(retry_reason(Effect::Read, &refused_credentials), None);
    }
}
