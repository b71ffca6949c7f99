//! A concurrency limit that finds itself. Bulk runs measure how many requests complete per
//! second and climb while a higher limit pays: each step measures the current limit, then the
//! next one (double, while every step has paid, as TCP's slow start grows its window; half
//! again after that), then the current one again, and keeps the step when it brought at
//! least [`GAIN`] more than the mean of the two around it. Measuring before and after cancels
//! the server's own drift (Keycloak's creates slow down as an organization fills). A step
//! that does not pay is tried again after a while. A 429, a 503 or a timeout halves the
//! limit at once.
//!
//! Why throughput and not latency alone: on a server whose CPU is the limit (Keycloak on a
//! few cores), latency grows with every request in flight long before throughput stops
//! growing, so delay-based rules (TCP Vegas, gradients) settle where the server still has
//! room; measured against Keycloak 26.5.0 they reached 76 % of the best fixed concurrency.

use std::pin::pin;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Where a run starts: a load any Keycloak takes, and two doublings from where Keycloak on
/// two cores stops gaining (16).
const INITIAL_LIMIT: usize = 8;
/// The least throughput gain, as a fraction, for which a higher limit is kept.
const GAIN: f64 = 0.05;
/// A measuring window lasts at least [`WINDOW_MIN`] completions, [`WINDOW_PER_LIMIT`] per
/// request the limit allows, and [`WINDOW_TIME`]: long enough that a short pause of the server
/// (a JVM's garbage collection) does not decide a step, short enough to climb within the first
/// few hundred items.
const WINDOW_MIN: usize = 32;
const WINDOW_PER_LIMIT: usize = 4;
const WINDOW_TIME: std::time::Duration = std::time::Duration::from_millis(100);
/// Windows held at a limit before probing above it again.
const HOLD_WINDOWS: usize = 8;

/// Admits requests up to a limit that follows their throughput, never above its maximum.
pub(crate) struct AdaptiveLimit {
    state: Mutex<State>,
    released: Notify,
}

struct State {
    climb: Climb,
    in_flight: usize,
}

/// The limit and what it has measured; pure, so that tests can drive it with any clock.
#[derive(Debug)]
struct Climb {
    limit: usize,
    max: usize,
    phase: Phase,
    /// Doubling, until the first step that does not pay.
    slow_start: bool,
    window_started: Instant,
    window_done: usize,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Measuring the current limit before a step.
    Before,
    /// Measuring the step's limit; `before` is the current limit's rate.
    Step { current: usize, before: f64 },
    /// Measuring the current limit again after the step.
    After { step: usize, before: f64, stepped: f64 },
    /// Windows left at the current limit before the next step.
    Hold(usize),
}

impl Climb {
    fn new(max: usize, now: Instant) -> Self {
        Climb {
            limit: INITIAL_LIMIT.min(max),
            max,
            phase: Phase::Before,
            slow_start: true,
            window_started: now,
            window_done: 0,
        }
    }

    /// One request ended at `now`; `overloaded` when the server said so.
    fn completed(&mut self, now: Instant, overloaded: bool) {
        if overloaded {
            self.limit = (self.limit / 2).max(1);
            self.slow_start = false;
            self.phase = Phase::Hold(HOLD_WINDOWS);
            self.window_started = now;
            self.window_done = 0;
            return;
        }
        self.window_done += 1;
        let elapsed = now.duration_since(self.window_started);
        let enough = WINDOW_MIN.max(WINDOW_PER_LIMIT * self.limit);
        if self.window_done < enough || elapsed < WINDOW_TIME {
            return;
        }
        let rate = self.window_done as f64 / elapsed.as_secs_f64().max(1e-6);
        self.window_started = now;
        self.window_done = 0;
        self.phase = match self.phase {
            Phase::Before => {
                let step = if self.slow_start {
                    self.limit * 2
                } else {
                    self.limit + self.limit.div_ceil(2)
                }
                .min(self.max);
                if step == self.limit {
                    Phase::Hold(HOLD_WINDOWS)
                } else {
                    let current = std::mem::replace(&mut self.limit, step);
                    Phase::Step { current, before: rate }
                }
            }
            Phase::Step { current, before } => {
                let step = std::mem::replace(&mut self.limit, current);
                Phase::After { step, before, stepped: rate }
            }
            Phase::After { step, before, stepped } => {
                if stepped >= (before + rate) / 2.0 * (1.0 + GAIN) {
                    self.limit = step;
                    Phase::Before
                } else {
                    self.slow_start = false;
                    Phase::Hold(HOLD_WINDOWS)
                }
            }
            Phase::Hold(0) => Phase::Before,
            Phase::Hold(left) => Phase::Hold(left - 1),
        };
    }
}

impl AdaptiveLimit {
    pub(crate) fn new(max: usize) -> Self {
        AdaptiveLimit {
            state: Mutex::new(State {
                climb: Climb::new(max.max(1), Instant::now()),
                in_flight: 0,
            }),
            released: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until one more request may be in flight.
    pub(crate) async fn admit(&self) -> Admitted<'_> {
        loop {
            // Registered before the check, so that a release between the two is not missed.
            let mut released = pin!(self.released.notified());
            released.as_mut().enable();
            {
                let mut state = self.state();
                if state.in_flight < state.climb.limit {
                    state.in_flight += 1;
                    return Admitted { limit: self, reported: false };
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
    reported: bool,
}

impl Admitted<'_> {
    /// The request ended; `overloaded` when the server said it was (429, 503, a timeout).
    pub(crate) fn done(mut self, overloaded: bool) {
        self.release(Some(overloaded));
    }

    fn release(&mut self, outcome: Option<bool>) {
        if self.reported {
            return;
        }
        self.reported = true;
        {
            let mut state = self.limit.state();
            if let Some(overloaded) = outcome {
                state.climb.completed(Instant::now(), overloaded);
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
    use std::time::Duration;

    use super::*;

    /// Runs `items` requests through a limit of at most `max` against a simulated server
    /// whose answer takes `latency(in_flight, answered so far)`; returns the limit the requests met on average,
    /// and the throughput.
    async fn run(max: usize, items: usize, latency: fn(usize, usize) -> Duration) -> (f64, f64) {
        use futures_util::StreamExt;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let limit = AdaptiveLimit::new(max);
        let (in_flight, limits_met) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let answered = AtomicUsize::new(0);
        let started = Instant::now();
        // As a bulk run drives it: at most `max` waiting on the limit at once.
        futures_util::stream::iter(0..items)
            .map(|_| async {
                let admitted = limit.admit().await;
                limits_met.fetch_add(limit.state().climb.limit, Ordering::SeqCst);
                let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(latency(n, answered.load(Ordering::SeqCst))).await;
                answered.fetch_add(1, Ordering::SeqCst);
                in_flight.fetch_sub(1, Ordering::SeqCst);
                admitted.done(false);
            })
            .buffer_unordered(max)
            .collect::<()>()
            .await;
        let rate = items as f64 / started.elapsed().as_secs_f64();
        (limits_met.into_inner() as f64 / items as f64, rate)
    }

    /// A server that serves 400 a second once 16 are in flight (40 ms each below that).
    fn saturating(n: usize, _: usize) -> Duration {
        Duration::from_secs_f64((n as f64 / 400.0).max(0.040))
    }

    /// The saturating server, slowing down as it fills: a third slower after each 1,000
    /// answers, as Keycloak's creates do in a filling organization.
    fn drifting(n: usize, answered: usize) -> Duration {
        saturating(n, answered).mul_f64(1.0 + answered as f64 / 3000.0)
    }

    /// The same server, slowing down by half again past 32 in flight.
    fn degrading(n: usize, _: usize) -> Duration {
        let slow = if n > 32 { 1.5 } else { 1.0 };
        Duration::from_secs_f64((slow * n as f64 / 400.0).max(0.040))
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_climbs_to_where_throughput_stops_growing() {
        let (limit, rate) = run(64, 3000, saturating).await;
        assert!((12.0..=40.0).contains(&limit), "{limit:.1}");
        assert!(rate > 0.9 * 400.0, "{rate:.0}/s");
        // Held at 64 it would serve 267 a second; its probes cost a little.
        let (limit, rate) = run(64, 3000, degrading).await;
        assert!(limit < 40.0, "{limit:.1}, where the server slows down past 32");
        assert!(rate > 0.85 * 400.0, "{rate:.0}/s");
        // The drift makes every step look worse than it is, unless measured around it.
        let (limit, _) = run(64, 3000, drifting).await;
        assert!((12.0..=40.0).contains(&limit), "{limit:.1} on a server slowing as it fills");
    }

    #[tokio::test(start_paused = true)]
    async fn the_maximum_holds() {
        let (limit, _) = run(6, 500, saturating).await;
        assert!(limit <= 6.0, "{limit}");
    }

    /// Admits no more than the limit; overload halves it, down to 1 and not below.
    #[tokio::test(start_paused = true)]
    async fn admits_up_to_the_limit_and_overload_halves_it() {
        let limit = AdaptiveLimit::new(64);
        let held: Vec<_> =
            futures_util::future::join_all((0..INITIAL_LIMIT).map(|_| limit.admit())).await;
        let one_more = tokio::time::timeout(Duration::from_secs(1), limit.admit()).await;
        assert!(one_more.is_err(), "admitted past the limit");
        drop(held);
        limit.admit().await.done(true);
        assert_eq!(limit.state().climb.limit, INITIAL_LIMIT / 2);
        for _ in 0..5 {
            limit.admit().await.done(true);
        }
        assert_eq!(limit.state().climb.limit, 1);
    }
}
