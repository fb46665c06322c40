//! A small circuit breaker in front of Redis.
//!
//! Redis is an optimisation, never a dependency: when it is down or slow,
//! every request would otherwise wait for its timeout before going to the
//! upstream. The breaker remembers recent failures and lets requests skip
//! Redis at once while it is known to be broken:
//!
//! ```text
//!            FAILURES_TO_OPEN consecutive failures
//!   Closed ───────────────────────────────────────▶ Open (every call skips Redis)
//!     ▲                                              │ after `open_for`
//!     │ the trial succeeds                           ▼
//!     └──────────────────────────────────────── HalfOpen (one trial call goes through;
//!                                                        if it fails: Open again)
//! ```
//!
//! The breaker counts how many times it has opened ([`Breaker::outages`]):
//! the cache layer starts a new epoch after an outage, because writes made
//! while Redis was unusable could not bump their versions.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where the breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Calls go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// Calls skip Redis until `until`.
    Open { until: Instant },
    /// One trial call went through at `since`; the others skip Redis until it ends.
    HalfOpen { since: Instant },
}

#[derive(Debug)]
struct Inner {
    state: State,
    outages: u64,
}

/// Closed, open or half-open, shared by every request of one instance.
#[derive(Debug)]
pub struct Breaker {
    failures_to_open: u32,
    open_for: Duration,
    // Why a std Mutex: it is held for a few instructions, never across an `.await`.
    inner: Mutex<Inner>,
}

impl Breaker {
    /// Opens after `failures_to_open` failures in a row, for `open_for`.
    pub fn new(failures_to_open: u32, open_for: Duration) -> Breaker {
        Breaker {
            failures_to_open: failures_to_open.max(1),
            open_for,
            inner: Mutex::new(Inner { state: State::Closed { failures: 0 }, outages: 0 }),
        }
    }

    /// Whether a call may go to Redis now.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    /// A call that was allowed succeeded.
    pub fn success(&self) {
        self.success_at(Instant::now());
    }

    /// A call that was allowed failed or timed out.
    pub fn failure(&self) {
        self.failure_at(Instant::now());
    }

    /// How many times the breaker has opened since the service started.
    pub fn outages(&self) -> u64 {
        self.lock().outages
    }

    /// Whether calls go to Redis (closed), for logs and tests.
    pub fn is_closed(&self) -> bool {
        matches!(self.lock().state, State::Closed { .. })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Why: a panic elsewhere must not turn every later request into a panic too.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        match inner.state {
            State::Closed { .. } => true,
            // Why: after the pause, one request tries Redis for everyone (the others keep skipping it).
            State::Open { until } if now >= until => {
                inner.state = State::HalfOpen { since: now };
                true
            }
            State::Open { .. } => false,
            // Why: a trial that never reported back (its request was cancelled) must not block Redis forever.
            State::HalfOpen { since } if now.duration_since(since) >= self.open_for => {
                inner.state = State::HalfOpen { since: now };
                true
            }
            State::HalfOpen { .. } => false,
        }
    }

    fn success_at(&self, _now: Instant) {
        let mut inner = self.lock();
        match inner.state {
            State::Closed { .. } => inner.state = State::Closed { failures: 0 },
            State::HalfOpen { .. } => {
                tracing::info!("redis answers again: circuit breaker closed");
                inner.state = State::Closed { failures: 0 };
            }
            // A call allowed before the breaker opened: the trial decides, not a straggler.
            State::Open { .. } => {}
        }
    }

    fn failure_at(&self, now: Instant) {
        let mut inner = self.lock();
        match inner.state {
            State::Closed { failures } if failures + 1 >= self.failures_to_open => {
                tracing::warn!(failures = failures + 1, open_for = ?self.open_for, "redis keeps failing: circuit breaker open");
                inner.state = State::Open { until: now + self.open_for };
                // Counted under the same lock that opens: no call can get through before the count shows it.
                inner.outages += 1;
            }
            State::Closed { failures } => inner.state = State::Closed { failures: failures + 1 },
            State::HalfOpen { .. } => inner.state = State::Open { until: now + self.open_for },
            State::Open { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: Duration = Duration::from_secs(1);

    #[test]
    fn opens_after_consecutive_failures_only() {
        let breaker = Breaker::new(3, PAUSE);
        let t = Instant::now();
        breaker.failure_at(t);
        breaker.failure_at(t);
        breaker.success_at(t);
        breaker.failure_at(t);
        breaker.failure_at(t);
        assert!(breaker.allow_at(t) && breaker.is_closed(), "a success in between resets the count");
        breaker.failure_at(t);
        assert!(!breaker.is_closed());
        assert!(!breaker.allow_at(t + PAUSE / 2), "open: calls skip Redis");
        assert_eq!(breaker.outages(), 1);
    }

    #[test]
    fn half_open_lets_one_trial_through_and_closes_on_success() {
        let breaker = Breaker::new(1, PAUSE);
        let t = Instant::now();
        breaker.failure_at(t);
        assert!(breaker.allow_at(t + PAUSE), "the trial");
        assert!(!breaker.allow_at(t + PAUSE), "only one trial at a time");
        breaker.success_at(t + PAUSE);
        assert!(breaker.is_closed() && breaker.allow_at(t + PAUSE));
        assert_eq!(breaker.outages(), 1);
    }

    #[test]
    fn a_failed_trial_opens_again_and_a_lost_trial_is_replaced() {
        let breaker = Breaker::new(1, PAUSE);
        let t = Instant::now();
        breaker.failure_at(t);
        assert!(breaker.allow_at(t + PAUSE));
        breaker.failure_at(t + PAUSE);
        assert!(!breaker.allow_at(t + PAUSE + PAUSE / 2), "open again after a failed trial");
        assert!(breaker.allow_at(t + PAUSE * 2), "the next trial");
        // That trial never reports back (its request was cancelled): another one goes after a pause.
        assert!(!breaker.allow_at(t + PAUSE * 2 + PAUSE / 2));
        assert!(breaker.allow_at(t + PAUSE * 3));
        assert_eq!(breaker.outages(), 1, "one outage, however many trials failed");
    }

    #[test]
    fn a_straggler_success_does_not_close_an_open_breaker() {
        let breaker = Breaker::new(1, PAUSE);
        let t = Instant::now();
        breaker.failure_at(t);
        breaker.success_at(t);
        assert!(!breaker.is_closed());
    }
}
