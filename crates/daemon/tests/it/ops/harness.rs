//! The ops tests run the real loop through the core tests' harness, with plugins that succeed
//! or fail on purpose.

use super::super::core::support::{Ledger, Recorder};

pub(crate) use super::super::core::support::{Daemon, options, sim, write_shots};

/// Native plugins that fail (with stopOnError) on one event id.
pub(crate) struct Flaky;

impl Flaky {
    /// A recorder named `name` failing on `fail_on`.
    pub(crate) fn new(name: &str, fail_on: Option<i64>) -> Recorder {
        let mut recorder = Recorder::new(name, &Ledger::default());
        recorder.fail_on = fail_on;
        recorder
    }
}
