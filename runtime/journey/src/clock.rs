//! Where the engine reads the time: the system clock, or a clock a test or demo moves forward by hand to make days-long timers and SLA deadlines come due at once.

use carebus_core::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The engine's time source.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The system clock plus an offset that only grows ([`ShiftedClock::advance`]).
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_us: AtomicI64,
}

impl ShiftedClock {
    /// The system clock, not shifted yet.
    pub fn new() -> Self {
        ShiftedClock::default()
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let us = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_us.fetch_add(us, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        Timestamp(
            Timestamp::now()
                .0
                .saturating_add(self.offset_us.load(Ordering::SeqCst)),
        )
    }
}
