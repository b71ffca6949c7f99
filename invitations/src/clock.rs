//! Time as the client sees it: the waits between attempts and the instants of deadlines and
//! token lifetimes.

use std::time::{Duration, Instant};

use phasetwo_invitations_client::BoxFuture;

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
        // tokio's instant, so that a runtime with paused time moves this clock too.
        tokio::time::Instant::now().into_std()
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}
