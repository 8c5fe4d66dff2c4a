//! The circuit breaker: transport successes and retriable failures turned into allow/deny decisions (closed → open → half-open → closed).

use super::config::BreakerConfig;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The breaker's state, as reported by [`Breaker::state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Sends go through; consecutive failures are counted.
    Closed,
    /// Sends fail fast until the open period ends.
    Open,
    /// One probe send is allowed; its outcome closes or re-opens the circuit.
    HalfOpen,
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is let through; `probe_since` is when. A probe whose caller gave up (its
    /// future dropped: a timeout, a cancelled request) never reports back, so after `open_for`
    /// without an answer the next call is let through as a new probe.
    HalfOpen {
        probe_since: Instant,
    },
}

/// A circuit breaker shared by every send of one publisher.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
    /// Closed with no failure counted: every send takes this lock-free path while the
    /// transport is healthy. Written under the lock whenever `inner` changes.
    healthy: AtomicBool,
}

impl Breaker {
    /// A closed breaker with these thresholds.
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            healthy: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state (an open circuit whose period ended reads as half-open).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a send may go to the transport now. In half-open state only one caller (the
    /// probe) gets `true` until it reports back.
    pub fn allow(&self) -> bool {
        if self.healthy.load(Ordering::Acquire) {
            return true;
        }
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *inner = Inner::HalfOpen { probe_since: now };
                    true
                } else {
                    false
                }
            }
            Inner::HalfOpen { probe_since } => {
                let now = Instant::now();
                if now.duration_since(probe_since) >= self.config.open_for {
                    *inner = Inner::HalfOpen { probe_since: now };
                    true
                } else {
                    false
                }
            }
        }
    }

    /// A send succeeded: close the circuit.
    pub fn on_success(&self) {
        if self.healthy.load(Ordering::Acquire) {
            return;
        }
        let mut inner = self.lock();
        if !matches!(*inner, Inner::Closed { failures: 0 }) {
            if !matches!(*inner, Inner::Closed { .. }) {
                tracing::info!("circuit closed: transport reachable again");
            }
            *inner = Inner::Closed { failures: 0 };
        }
        self.healthy.store(true, Ordering::Release);
    }

    /// A send failed with a retriable error: count it; open the circuit at the threshold, or
    /// re-open it when the half-open probe failed.
    pub fn on_failure(&self) {
        let mut inner = self.lock();
        self.healthy.store(false, Ordering::Release);
        let open = match *inner {
            Inner::Closed { failures } => {
                let failures = failures + 1;
                if failures >= self.config.failure_threshold.max(1) {
                    true
                } else {
                    *inner = Inner::Closed { failures };
                    false
                }
            }
            Inner::HalfOpen { .. } => true,
            Inner::Open { .. } => false,
        };
        if open {
            tracing::warn!(
                open_ms = self.config.open_for.as_millis() as u64,
                "circuit opened: transport unreachable, failing fast"
            );
            metrics::counter!("carebus_circuit_opened_total").increment(1);
            *inner = Inner::Open {
                until: Instant::now() + self.config.open_for,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn opens_at_the_threshold_then_probes_once_then_closes() {
        let b = Breaker::new(BreakerConfig {
            failure_threshold: 2,
            open_for: Duration::from_millis(20),
        });
        assert!(b.allow());
        b.on_failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.allow(), "the probe");
        assert!(!b.allow(), "only one probe at a time");
        b.on_failure();
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.allow());
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow());
    }

    #[test]
    fn a_probe_that_never_reports_back_does_not_keep_the_circuit_half_open() {
        let b = Breaker::new(BreakerConfig {
            failure_threshold: 1,
            open_for: Duration::from_millis(20),
        });
        b.on_failure();
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            b.allow(),
            "the probe, whose caller then drops it unanswered"
        );
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.allow(), "a new probe after open_for without an answer");
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
