//! A concurrency limit that finds itself: bulk runs admit requests while their latency holds
//! and back off when it climbs or the server says it is overloaded, as TCP Vegas does with
//! its window. The algorithm is `tower-acc`'s Vegas; this module only admits and reports.

use std::pin::pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tower_acc::{Algorithm, Vegas};

/// Where an adaptive run starts: the fixed default's value, a safe start on any server.
const INITIAL_LIMIT: usize = 4;

/// Admits requests up to a limit that follows their latency, never above `max`.
pub(crate) struct AdaptiveLimit {
    state: Mutex<State>,
    released: Notify,
}

struct State {
    algorithm: Vegas,
    in_flight: usize,
}

impl AdaptiveLimit {
    pub(crate) fn new(max: usize) -> Self {
        let max = max.max(1);
        AdaptiveLimit {
            state: Mutex::new(State {
                algorithm: Vegas::builder()
                    .initial_limit(INITIAL_LIMIT.min(max))
                    .max_limit(max)
                    .build(),
                in_flight: 0,
            }),
            released: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current limit.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.state().algorithm.max_concurrency()
    }

    /// Waits until one more request may be in flight.
    pub(crate) async fn admit(&self) -> Admitted<'_> {
        loop {
            // Registered before the check, so that a release between the two is not missed.
            let mut released = pin!(self.released.notified());
            released.as_mut().enable();
            {
                let mut state = self.state();
                if state.in_flight < state.algorithm.max_concurrency() {
                    state.in_flight += 1;
                    return Admitted {
                        limit: self,
                        started: tokio::time::Instant::now(),
                        reported: false,
                    };
                }
            }
            released.await;
        }
    }
}

/// One admitted request; report how it went with [`Admitted::done`]. Dropped unreported (a
/// run abandoned), it frees its place without teaching the limit anything.
pub(crate) struct Admitted<'a> {
    limit: &'a AdaptiveLimit,
    started: tokio::time::Instant,
    reported: bool,
}

impl Admitted<'_> {
    /// The request ended; `overloaded` when the server said it was (429, 503, a timeout).
    pub(crate) fn done(mut self, overloaded: bool) {
        self.release(Some((self.started.elapsed(), overloaded)));
    }

    fn release(&mut self, sample: Option<(Duration, bool)>) {
        if self.reported {
            return;
        }
        self.reported = true;
        {
            let mut state = self.limit.state();
            let in_flight = state.in_flight;
            if let Some((rtt, overloaded)) = sample {
                state.algorithm.update(rtt, in_flight, overloaded, false);
            }
            state.in_flight -= 1;
        }
        self.limit.released.notify_waiters();
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.release(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Latency that climbs with concurrency brings the limit down; latency that holds lets it
    /// grow; neither passes the maximum.
    #[tokio::test(start_paused = true)]
    async fn the_limit_follows_latency_within_its_maximum() {
        let limit = AdaptiveLimit::new(64);
        // A server that answers in 10 ms whatever the load: the limit grows.
        for _ in 0..200 {
            let admitted: Vec<_> =
                futures_util::future::join_all((0..limit.limit()).map(|_| limit.admit())).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            admitted.into_iter().for_each(|a| a.done(false));
        }
        let grown = limit.limit();
        assert!(grown > 2 * INITIAL_LIMIT, "{grown}");
        assert!(grown <= 64);
        // A server whose latency is 10 ms per request in flight: the limit comes down.
        for _ in 0..200 {
            let n = limit.limit();
            let admitted: Vec<_> =
                futures_util::future::join_all((0..n).map(|_| limit.admit())).await;
            tokio::time::sleep(Duration::from_millis(10 * n as u64)).await;
            admitted.into_iter().for_each(|a| a.done(false));
        }
        assert!(limit.limit() < grown / 2, "{} from {grown}", limit.limit());
    }

    /// Admits no more than the limit; overload at full load brings it down to 1, not below.
    #[tokio::test(start_paused = true)]
    async fn admits_up_to_the_limit_and_overload_brings_it_down() {
        let limit = AdaptiveLimit::new(3);
        assert_eq!(limit.limit(), 3);
        let held: Vec<_> = futures_util::future::join_all((0..3).map(|_| limit.admit())).await;
        let fourth = tokio::time::timeout(Duration::from_secs(1), limit.admit()).await;
        assert!(fourth.is_err(), "a fourth was admitted at limit 3");
        drop(held);
        for _ in 0..20 {
            let n = limit.limit();
            let admitted: Vec<_> =
                futures_util::future::join_all((0..n).map(|_| limit.admit())).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            admitted.into_iter().for_each(|a| a.done(true));
        }
        assert_eq!(limit.limit(), 1);
    }
}
