//! The daemon's wall clock, a dependency so tests can set it: heartbeats, poll and error
//! times and "running since" on the status page read it. Deadlines run on tokio's clock, which
//! tests can pause.

use std::sync::Mutex;

use jiff::Timestamp;

use crate::watch::relock;

/// Tells the time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that says what it is told (for tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    /// Sets the time.
    pub fn set(&self, at: Timestamp) {
        *relock(&self.0) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *relock(&self.0)
    }
}
