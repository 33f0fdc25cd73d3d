//! The ops tests run the real loop through the core tests' harness, with plugins that succeed
//! or fail on purpose.

use super::super::core::support::{Ledger, Recorder};

pub(crate) use super::super::core::support::{Daemon, options, sim, write_shots};

/// A native plugin named `name` that fails (with stopOnError) on event `fail_on`.
pub(crate) fn flaky(name: &str, fail_on: Option<i64>) -> Recorder {
    let mut recorder = Recorder::new(name, &Ledger::default());
    recorder.fail_on = fail_on;
    recorder
}
