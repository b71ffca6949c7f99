//! When a failed attempt is sent again, how long to wait first, and when to give up.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::BoxFuture;
use crate::error::{Error, ErrorKind, Sent};

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
        RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        }
    }

    /// Attempts in all, including the first (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry; it doubles with each further one.
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// The longest wait between attempts computed by backoff.
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// The longest `Retry-After` waited for; a longer one fails the call at once.
    pub fn max_retry_after(mut self, delay: Duration) -> Self {
        self.max_retry_after = delay;
        self
    }

    /// Waits exactly the backoff, without randomness: for tests and reproducible runs.
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The wait before retry number `retry` (1 for the second attempt).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        if self.jitter {
            ceiling.mul_f64(fastrand::f64())
        } else {
            ceiling
        }
    }
}

/// Time as the retry loop sees it. The default is the system clock with tokio's timers; a
/// test or another runtime can supply its own.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The system clock, waiting with tokio's timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A shared allowance of retries per client, as a token bucket: each retry takes
/// [`RETRY_COST`] (a timeout [`TIMEOUT_RETRY_COST`]), each success gives one back. When a
/// server fails every request, concurrent callers stop retrying once the bucket is empty
/// instead of multiplying the load.
pub(crate) struct RetryBudget {
    capacity: u32,
    available: Mutex<u32>,
}

pub(crate) const DEFAULT_RETRY_BUDGET: u32 = 500;
pub(crate) const RETRY_COST: u32 = 5;
pub(crate) const TIMEOUT_RETRY_COST: u32 = 10;

impl RetryBudget {
    pub(crate) fn new(capacity: u32) -> Self {
        RetryBudget {
            capacity,
            available: Mutex::new(capacity),
        }
    }

    pub(crate) fn try_take(&self, cost: u32) -> bool {
        let mut available = self.available.lock().unwrap_or_else(|p| p.into_inner());
        if *available >= cost {
            *available -= cost;
            true
        } else {
            false
        }
    }

    pub(crate) fn refund(&self, amount: u32) {
        let mut available = self.available.lock().unwrap_or_else(|p| p.into_inner());
        *available = (*available + amount).min(self.capacity);
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let available = *self.available.lock().unwrap_or_else(|p| p.into_inner());
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
        if self == RetryReason::Timeout {
            TIMEOUT_RETRY_COST
        } else {
            RETRY_COST
        }
    }
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

/// Whether the server may have carried out an attempt that failed this way.
pub(crate) fn outcome_unknown(error: &Error) -> bool {
    match error.kind() {
        ErrorKind::Timeout | ErrorKind::Transport | ErrorKind::Server => error.sent() != Sent::No,
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

        assert_eq!(
            retry_reason(create, &refused),
            Some(RetryReason::NotDelivered)
        );
        assert_eq!(
            retry_reason(create, &throttled),
            Some(RetryReason::Throttled)
        );
        for e in [&reset, &timeout, &unavailable, &bad] {
            assert_eq!(retry_reason(create, e), None, "{e:?}");
        }
        assert_eq!(
            retry_reason(idempotent, &timeout),
            Some(RetryReason::Timeout)
        );
        assert_eq!(
            retry_reason(Effect::Read, &unavailable),
            Some(RetryReason::ServerError)
        );
        assert_eq!(
            retry_reason(Effect::Remove, &reset),
            Some(RetryReason::Broken)
        );
        assert_eq!(retry_reason(Effect::Read, &bad), None);
        assert!(outcome_unknown(&timeout) && outcome_unknown(&unavailable));
        assert!(!outcome_unknown(&refused) && !outcome_unknown(&throttled));

        // The token endpoint's 503: the create itself was never sent.
        let token_unavailable = Error::new(ErrorKind::Server)
            .with_status(reqwest::StatusCode::SERVICE_UNAVAILABLE)
            .with_sent(Sent::No);
        assert_eq!(
            retry_reason(create, &token_unavailable),
            Some(RetryReason::NotDelivered)
        );
        assert!(!outcome_unknown(&token_unavailable));
        let refused_credentials = Error::new(ErrorKind::Auth)
            .with_status(reqwest::StatusCode::UNAUTHORIZED)
            .with_sent(Sent::No);
        assert_eq!(retry_reason(Effect::Read, &refused_credentials), None);
    }
}
